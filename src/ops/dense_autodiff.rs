//! The backward pass of kiln's Dense product: on burn-flex with autodiff, the product records
//! itself and, in the backward pass, computes every gradient it was asked for.

use super::dense::DenseOps;
#[cfg(feature = "flex")]
use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// What the backward pass keeps: the input and the weight (as checkpoints), and the output
/// when ReLU was fused in (its mask).
type State<B> = (NodeId, NodeId, Option<FloatTensor<B>>);

/// The product's step in the backward pass; its parents are the input, kernel and bias.
#[derive(Debug)]
struct DenseBackward;

impl<B: Backend + DenseOps> Backward<B, 3> for DenseBackward {
    type State = State<B>;

    fn backward(
        self,
        ops: Ops<State<B>, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, relu_output) = ops.state;
        let grad = match relu_output {
            Some(out) => B::relu_backward(out, grad),
            None => grad,
        };
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let (dx, dw, db) = B::dense_backward(x, weight, grad, wanted);
        for (parent, grad) in ops.parents.iter().zip([dx, dw, db]) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> DenseOps for Autodiff<Flex, C> {
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let multiply =
            |x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>| {
                // in training the weight changes every step: not packed
                super::dense_flex::forward(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    relu,
                    false,
                )
            };
        match DenseBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let kept = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let out = multiply(x, weight, bias);
                let mask = relu.then(|| out.clone());
                prep.finish((kept.0, kept.1, mask), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(multiply(x, weight, bias)),
        }
    }
}

/// On the other backends, Burn's autodiff differentiates the fallback (Burn's own `matmul`),
/// as it does for every Burn model.
#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl<C: CheckpointStrategy> DenseOps for Autodiff<burn::backend::NdArray, C> {}

#[cfg(feature = "wgpu")]
impl<C: CheckpointStrategy> DenseOps for Autodiff<burn::backend::Cube, C> {}
