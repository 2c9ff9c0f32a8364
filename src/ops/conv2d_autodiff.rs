//! The backward pass of kiln's Conv2D: on burn-flex with autodiff, the convolution records
//! itself and, in the backward pass, asks flex's kernels for every gradient at once.

use super::conv2d::ConvNhwc;
#[cfg(feature = "flex")]
use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// What the backward pass keeps: the input and the weight (as checkpoints), the options, and
/// the output when ReLU was fused in (its mask).
type State<B> = (NodeId, NodeId, ConvOptions<2>, Option<FloatTensor<B>>);

/// The convolution's step in the backward pass; its parents are the input, kernel and bias.
#[derive(Debug)]
struct Conv2dNhwcBackward;

impl<B: Backend + ConvNhwc> Backward<B, 3> for Conv2dNhwcBackward {
    type State = State<B>;

    fn backward(
        self,
        ops: Ops<State<B>, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, options, relu_output) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let (dx, dw, db) = match relu_output {
            Some(out) => B::conv2d_nhwc_relu_backward(x, weight, grad, out, options, wanted),
            None => B::conv2d_nhwc_backward(x, weight, grad, options, wanted),
        };
        for (parent, grad) in ops.parents.iter().zip([dx, dw, db]) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> ConvNhwc for Autodiff<Flex, C> {
    fn conv2d_nhwc(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let convolve =
            |x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>| {
                // in training the weight changes every step: not packed
                super::conv2d_flex::convolve(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options.clone(),
                    relu,
                    false,
                )
            };
        match Conv2dNhwcBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let kept = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let out = convolve(x, weight, bias);
                let mask = relu.then(|| out.clone());
                prep.finish((kept.0, kept.1, options.clone(), mask), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(convolve(x, weight, bias)),
        }
    }
}

/// On the other backends, Burn's autodiff differentiates the fallback (permutations around
/// Burn's own operation), as it does for every Burn model.
#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl<C: CheckpointStrategy> ConvNhwc for Autodiff<burn::backend::NdArray, C> {}

#[cfg(feature = "wgpu")]
impl<C: CheckpointStrategy> ConvNhwc for Autodiff<burn::backend::Cube, C> {}
