//! The backward pass of kiln's channels-last batch normalization: on burn-flex with autodiff,
//! the operation records itself, keeping the batch statistics it computed, and asks flex's
//! kernels for the three gradients at once.

use super::batch_norm::BatchNormRows;
#[cfg(feature = "flex")]
use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend};

/// What the backward pass keeps: the input and gamma (as checkpoints), the batch's mean and
/// variance, and epsilon.
type State<B> = (NodeId, NodeId, FloatTensor<B>, FloatTensor<B>, f64);

/// The normalization's step in the backward pass; its parents are the input, gamma and beta.
#[derive(Debug)]
struct BatchNormRowsBackward;

impl<B: Backend + BatchNormRows> Backward<B, 3> for BatchNormRowsBackward {
    type State = State<B>;

    fn backward(
        self,
        ops: Ops<State<B>, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, variance, epsilon) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        let gamma = checkpointer.retrieve_node_output::<FloatTensor<B>>(gamma);
        let (dx, dgamma, dbeta) =
            B::batch_norm_rows_backward(x, gamma, mean, variance, epsilon, grad);
        for (parent, grad) in ops.parents.iter().zip([dx, dgamma, dbeta]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> BatchNormRows for Autodiff<Flex, C> {
    fn batch_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prepared = BatchNormRowsBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let kept = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                let (out, mean, variance) = Flex::batch_norm_rows(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                let state = (kept.0, kept.1, mean.clone(), variance.clone(), epsilon);
                (
                    prep.finish(state, out),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (out, mean, variance) = Flex::batch_norm_rows(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (
                    prep.finish(out),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
        }
    }
}

/// On the other backends, Burn's autodiff differentiates the fallback (Burn's own
/// `batch_norm_train`), as it does for every Burn model.
#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl<C: CheckpointStrategy> BatchNormRows for Autodiff<burn::backend::NdArray, C> {}

#[cfg(feature = "wgpu")]
impl<C: CheckpointStrategy> BatchNormRows for Autodiff<burn::backend::Cube, C> {}
