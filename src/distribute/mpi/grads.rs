//! A network's gradients as one flat `f32` buffer (with a presence flag per parameter) and
//! back: what the MPI strategies sum or send, in one message per step rather than one per
//! tensor.

use crate::graph::Network;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// One trainable parameter's place in a gradient buffer.
#[derive(Clone, Debug)]
struct Slot {
    id: ParamId,
    shape: Vec<usize>,
    offset: usize,
}

/// Where each trainable parameter's gradient sits in a flat buffer: the parameters in the
/// network's visiting order (the same in every process running the same graph).
#[derive(Clone, Debug)]
pub(crate) struct GradLayout {
    slots: Vec<Slot>,
    len: usize,
}

struct Collect<'a> {
    slots: &'a mut Vec<Slot>,
    len: usize,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.val().dims().to_vec();
        let size = shape.iter().product::<usize>();
        self.slots.push(Slot {
            id: param.id,
            shape,
            offset: self.len,
        });
        self.len += size;
    }
}

/// Moves gradients out of `grads` into `out` (zeros where a parameter has none), recording
/// which parameters had one.
struct Flatten<'a> {
    grads: &'a mut GradientsParams,
    out: &'a mut [f32],
    present: &'a mut [f32],
    slots: std::slice::Iter<'a, Slot>,
    device: &'a mut Option<Device>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(slot) = self.slots.next() else {
            return;
        };
        let index = slot.offset;
        let size: usize = slot.shape.iter().product();
        let target = &mut self.out[index..index + size];
        let position = self.present.len() - self.slots.len() - 1;
        match self.grads.remove::<D>(param.id) {
            Some(g) => {
                if self.device.is_none() {
                    *self.device = Some(g.device());
                }
                let data = g.into_data();
                // kiln computes in f32 on every backend it offers
                let values = data.as_slice::<f32>().expect("gradients are f32");
                target.copy_from_slice(values);
                self.present[position] = 1.0;
            }
            None => {
                target.fill(0.0);
                self.present[position] = 0.0;
            }
        }
    }
}

/// Registers the gradients of a flat buffer under the parameters' ids.
struct Unflatten<'a> {
    values: &'a [f32],
    present: &'a [f32],
    slots: std::slice::Iter<'a, Slot>,
    position: usize,
    device: &'a Device,
    grads: GradientsParams,
}

impl ModuleVisitor for Unflatten<'_> {
    fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<D>>) {
        let Some(slot) = self.slots.next() else {
            return;
        };
        let position = self.position;
        self.position += 1;
        if self.present[position] == 0.0 {
            return;
        }
        let size: usize = slot.shape.iter().product();
        let values = self.values[slot.offset..slot.offset + size].to_vec();
        let tensor =
            Tensor::<D>::from_data(TensorData::new(values, slot.shape.clone()), self.device);
        self.grads.register::<D>(slot.id, tensor);
    }
}

impl GradLayout {
    /// The layout of `network`'s float parameters.
    pub(crate) fn of(network: &Network) -> Self {
        let mut slots = Vec::new();
        let mut collect = Collect {
            slots: &mut slots,
            len: 0,
        };
        network.visit(&mut collect);
        let len = collect.len;
        GradLayout { slots, len }
    }

    /// Values in a buffer: the gradients, then one presence flag per parameter.
    pub(crate) fn len(&self) -> usize {
        self.len + self.slots.len()
    }

    /// Writes `grads` of `network` into `out` (of [`Self::len`] values), scaled by nothing:
    /// the gradients, then a 1 for each parameter that had one. Returns the device the
    /// gradients were on, if any was.
    pub(crate) fn flatten(
        &self,
        network: &Network,
        mut grads: GradientsParams,
        out: &mut [f32],
    ) -> Option<Device> {
        let (values, present) = out.split_at_mut(self.len);
        let mut device = None;
        let mut visitor = Flatten {
            grads: &mut grads,
            out: values,
            present,
            slots: self.slots.iter(),
            device: &mut device,
        };
        network.visit(&mut visitor);
        device
    }

    /// Gradients of the parameters flagged in `buffer` (as [`Self::flatten`] wrote it, or a
    /// sum of such buffers), on `device`.
    pub(crate) fn unflatten(
        &self,
        network: &Network,
        buffer: &[f32],
        device: &Device,
    ) -> GradientsParams {
        let (values, present) = buffer.split_at(self.len);
        let mut visitor = Unflatten {
            values,
            present,
            slots: self.slots.iter(),
            position: 0,
            device,
            grads: GradientsParams::new(),
        };
        network.visit(&mut visitor);
        visitor.grads
    }
}
