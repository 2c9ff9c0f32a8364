//! The recurrent scan as one differentiable operation: a SimpleRNN, LSTM or GRU cell run over a
//! whole sequence, with its own backward pass through time.

#![cfg_attr(feature = "ndarray", allow(deprecated))]

pub(crate) use super::recurrent_host::{Act, Scan, ScanCell};
use super::recurrent_host::{Dims, Grads, Tape, backward, forward};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};
use std::sync::Arc;

/// The scan as a backend operation. Every backend runs it on the host (a sequence's steps are
/// small and serial); autodiff records it as one step whose backward pass runs through time.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    Cube: cfg(feature = "wgpu"),
    Autodiff
)]
pub(crate) trait RecurrentScan: Backend {
    /// The outputs (in the order of the steps) and final states `[batch, time + states,
    /// units]` of `scan` over `xw` `[batch, time, gates·units]`, with recurrent kernel `u`,
    /// recurrent bias `bias`, `mask` `[batch, time]` and initial states `init`
    /// `[batch, states, units]`.
    fn recurrent_scan(
        xw: FloatTensor<Self>,
        u: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        init: FloatTensor<Self>,
        scan: Scan,
    ) -> FloatTensor<Self> {
        let device = xw.device();
        let (out, _) = run::<Self>(xw, u, bias, mask, init, &scan);
        Self::float_from_data(out, &device)
    }
}

#[cfg(feature = "flex")]
impl RecurrentScan for burn::backend::Flex {}

#[cfg(feature = "ndarray")]
impl RecurrentScan for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl RecurrentScan for burn::backend::Cube {}

/// The values of a tensor, on the host.
fn host<B: Backend>(t: FloatTensor<B>) -> Vec<f32> {
    // flex, ndarray and wgpu (kiln's backends) read synchronously; after convert::<f32> the
    // data is f32, so into_vec::<f32> cannot fail
    let data = burn::tensor::try_read_sync(B::float_into_data(t))
        .expect("the backend reads synchronously")
        .expect("the tensor reads");
    data.convert::<f32>().into_vec().expect("float values")
}

/// The forward pass on the host: the outputs and final states as data, the tape, and `u`'s
/// values.
fn run<B: Backend>(
    xw: FloatTensor<B>,
    u: FloatTensor<B>,
    bias: FloatTensor<B>,
    mask: FloatTensor<B>,
    init: FloatTensor<B>,
    scan: &Scan,
) -> (TensorData, (Tape, Vec<f32>)) {
    let dims = xw.shape().dims::<3>();
    let d = Dims {
        batch: dims[0],
        time: dims[1],
    };
    let u = host::<B>(u);
    let (out, tape) = forward(
        scan,
        d,
        &host::<B>(xw),
        &u,
        &host::<B>(bias),
        &host::<B>(mask),
        &host::<B>(init),
    );
    let data = TensorData::new(out, [d.batch, d.time + scan.states(), scan.units]);
    (data, (tape, u))
}

/// The scan's step in the backward pass; its parents are `xw`, `u`, `bias` and `init`.
#[derive(Debug)]
struct ScanBackward;

/// What the backward pass keeps: the scan, the tape and `u`'s values, and the shapes.
type State = (Scan, Arc<(Tape, Vec<f32>)>, [usize; 3]);

impl<B: Backend> Backward<B, 4> for ScanBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let device = grad.device();
        let (scan, kept, [batch, time, width]) = ops.state;
        let (tape, u) = &*kept;
        let g: Grads = backward(&scan, tape, u, &host::<B>(grad));
        let units = scan.units;
        let grads_of = [
            TensorData::new(g.xw, [batch, time, width]),
            TensorData::new(g.u, [units, width]),
            TensorData::new(g.bias, [width]),
            TensorData::new(g.init, [batch, scan.states(), units]),
        ];
        for (parent, data) in ops.parents.iter().zip(grads_of) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, B::float_from_data(data, &device));
            }
        }
    }
}

impl<B: Backend + RecurrentScan, C: CheckpointStrategy> RecurrentScan for Autodiff<B, C> {
    fn recurrent_scan(
        xw: FloatTensor<Self>,
        u: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        init: FloatTensor<Self>,
        scan: Scan,
    ) -> FloatTensor<Self> {
        let dims = xw.shape().dims::<3>();
        match ScanBackward
            .prepare::<C>([xw.node(), u.node(), bias.node(), init.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let device = xw.device();
                let (out, kept) = run::<B>(
                    xw.into_primitive(),
                    u.into_primitive(),
                    bias.into_primitive(),
                    mask.into_primitive(),
                    init.into_primitive(),
                    &scan,
                );
                let out = B::float_from_data(out, &device);
                prep.finish((scan, Arc::new(kept), dims), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::recurrent_scan(
                xw.into_primitive(),
                u.into_primitive(),
                bias.into_primitive(),
                mask.into_primitive(),
                init.into_primitive(),
                scan,
            )),
        }
    }
}

/// Runs `scan` over `xw` `[batch, time, gates·units]` (the inputs' projections, input bias
/// included) with recurrent kernel `u` `[units, gates·units]`, recurrent bias `bias`
/// `[gates·units]` (a GRU with `reset_after`; zeros otherwise), `mask` `[batch, time]` (ones
/// for none) and initial states `init` `[batch, states, units]` (`h`, then an LSTM's `c`):
/// the outputs in the order the steps read the sequence, then the final states,
/// `[batch, time + states, units]`. Differentiable in `xw`, `u`, `bias` and `init` on an
/// autodiff device.
pub(crate) fn recurrent_scan(
    xw: Tensor<3>,
    u: Tensor<2>,
    bias: Tensor<1>,
    mask: Tensor<2>,
    init: Tensor<3>,
    scan: Scan,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as RecurrentScan>::recurrent_scan(
        xw.into_dispatch(),
        u.into_dispatch(),
        bias.into_dispatch(),
        mask.into_dispatch(),
        init.into_dispatch(),
        scan,
    ))
}
