//! The backward pass of kiln's max pooling: on burn-flex with autodiff, it keeps the input and,
//! in the backward pass, asks flex's kernel for the input's gradient.

use super::max_pool2d::MaxPoolNhwc;
#[cfg(feature = "flex")]
use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// The pooling's step in the backward pass: the input (a checkpoint), kernel and stride.
#[derive(Debug)]
struct MaxPool2dNhwcBackward;

impl<B: Backend + MaxPoolNhwc> Backward<B, 1> for MaxPool2dNhwcBackward {
    type State = (NodeId, [usize; 2], [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [Some(parent)] = ops.parents else {
            return;
        };
        let grad = grads.consume::<B>(&ops.node);
        let (x, kernel, stride) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        grads.register::<B>(
            parent.id,
            B::max_pool2d_nhwc_backward(x, grad, kernel, stride),
        );
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> MaxPoolNhwc for Autodiff<Flex, C> {
    fn max_pool2d_nhwc(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        match MaxPool2dNhwcBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), kernel, stride);
                let out = Flex::max_pool2d_nhwc(x.into_primitive(), kernel, stride);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::max_pool2d_nhwc(x.into_primitive(), kernel, stride))
            }
        }
    }
}

/// On the other backends, Burn's autodiff differentiates the fallback (permutations around
/// Burn's own operation), as it does for every Burn model.
#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl<C: CheckpointStrategy> MaxPoolNhwc for Autodiff<burn::backend::NdArray, C> {}

#[cfg(feature = "wgpu")]
impl<C: CheckpointStrategy> MaxPoolNhwc for Autodiff<burn::backend::Cube, C> {}
