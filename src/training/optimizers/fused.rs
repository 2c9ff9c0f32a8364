//! Keras' update rules on burn-flex in one pass over each weight.
//!
//! The rules of [`rules`](super::rules) written with Burn's tensor operations take one pass per
//! operation (RMSprop: nine over a 784 × 512 kernel each step, on one thread). Here each rule
//! reads the weight, its gradient and its state once, on every core, and writes the weight and
//! the state in place when nothing else holds them, else into new buffers filled in the same
//! pass. The arithmetic is the composed rules' own,
//! operation by operation in f32 with the same scalars, so both give the same bits; the tests
//! below check that. One difference: subnormal values count as zero here, as in TensorFlow's
//! and XLA's kernels ([`FlushSubnormals`](crate::backend::FlushSubnormals)).

use super::rules::{Slots, Update};
use crate::backend::{FlushSubnormals, map_items};
use crate::ops::{Isa, Kernel, widest};
use burn::backend::Flex;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Device, Tensor};
use std::mem::MaybeUninit;

/// How many values one task updates.
const CHUNK: usize = 1 << 15;

/// Whether `w` and `g` are f32 tensors on burn-flex, which [`step`] updates.
pub(super) fn applies<const D: usize>(w: &Tensor<D>, g: &Tensor<D>) -> bool {
    let flex = Device::flex();
    w.device() == flex
        && g.device() == flex
        && w.dtype() == DType::F32
        && g.dtype() == DType::F32
        && w.shape() == g.shape()
}

/// The updated weight and state, for tensors [`applies`] accepts. A slot the rule keeps but
/// `state` lacks starts at zero, which gives the composed rules' first step exactly.
pub(super) fn step<const D: usize>(
    update: Update,
    w: Tensor<D>,
    g: Tensor<D>,
    state: Option<Slots<D>>,
) -> (Tensor<D>, Slots<D>) {
    let shape = w.shape();
    let n = shape.num_elements();
    let dims: Vec<usize> = shape.iter().copied().collect();
    let flex = |t: Tensor<D>| owned(t.try_into_primitive::<Flex>().expect("a flex tensor"));
    let w = flex(w);
    let g = g.try_into_primitive::<Flex>().expect("a flex tensor");
    let g = g.to_contiguous();
    let (mut old, keeps) = (state.map(Slots::into_array), update.slots());
    let slots: [Option<FlexTensor>; 3] = [0, 1, 2].map(|i| {
        keeps[i].then(|| match old.as_mut().and_then(|s| s[i].take()) {
            // a state restored from a file may still sit on the staging device
            Some(t) if t.shape() == shape => flex(t.to_device(&Device::flex())),
            _ => zeros(&dims, n),
        })
    });
    let [a, b, c] = slots;
    let mut targets = [Some(w), a, b, c].map(|t| t.map(Target::new));
    {
        let g: &[f32] = g.as_slice().expect("contiguous");
        let mut parts = targets.each_mut().map(|t| t.as_mut().map(|t| t.parts()));
        let chunks: Vec<Chunk<'_>> = g
            .chunks(CHUNK)
            .map(|g| {
                let mut next = |i: usize| parts[i].as_mut().and_then(Iterator::next);
                Chunk {
                    w: next(0).expect("the weight has a chunk for each of the gradient's"),
                    g,
                    slots: [next(1), next(2), next(3)],
                }
            })
            .collect();
        map_items(chunks, |chunk| {
            let _flush = FlushSubnormals::on_this_thread();
            widest(Apply(update, chunk))
        });
    }
    let [w, a, b, c] =
        targets.map(|t| t.map(|t| Tensor::<D>::from_primitive::<Flex>(t.finish(&dims))));
    (w.expect("the weight"), Slots::from_array([a, b, c]))
}

/// `t` contiguous from offset 0, exactly as long as its shape (copied only when it is not).
fn owned(t: FlexTensor) -> FlexTensor {
    let n = t.layout().shape().num_elements();
    match t.layout().contiguous_offsets() {
        Some((0, end)) if end == n && t.bytes().len() == n * 4 => t,
        _ => t.to_contiguous(),
    }
}

fn zeros(dims: &[usize], n: usize) -> FlexTensor {
    contiguous(vec![0.0f32; n], dims)
}

fn contiguous(values: Vec<f32>, dims: &[usize]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(dims.to_vec().into()),
        DType::F32,
    )
}

/// Where a tensor's new values go: its own buffer when nothing else holds it (Burn's
/// optimizer can still share a weight with the step's graph), else a new one, filled from the
/// old values chunk by chunk in the same pass.
struct Target {
    tensor: FlexTensor,
    len: usize,
    fresh: Option<Vec<f32>>,
}

/// One chunk of a [`Target`]: updated in place, or copied from the old values first.
enum Part<'a> {
    InPlace(&'a mut [f32]),
    Copy(&'a [f32], &'a mut [MaybeUninit<f32>]),
}

impl Target {
    fn new(mut tensor: FlexTensor) -> Self {
        let n = tensor.layout().shape().num_elements();
        let fresh = tensor
            .try_storage_mut::<f32>()
            .is_none()
            .then(|| Vec::with_capacity(n));
        Target {
            tensor,
            len: n,
            fresh,
        }
    }

    fn parts(&mut self) -> Box<dyn Iterator<Item = Part<'_>> + '_> {
        match &mut self.fresh {
            None => Box::new(
                self.tensor
                    .try_storage_mut::<f32>()
                    .expect("checked unique")
                    .chunks_mut(CHUNK)
                    .map(Part::InPlace),
            ),
            Some(fresh) => {
                let n = self.len;
                Box::new(
                    self.tensor.storage::<f32>()[..n]
                        .chunks(CHUNK)
                        .zip(fresh.spare_capacity_mut()[..n].chunks_mut(CHUNK))
                        .map(|(old, new)| Part::Copy(old, new)),
                )
            }
        }
    }

    /// The tensor holding the new values, once every part has been through [`Part::ready`].
    fn finish(self, dims: &[usize]) -> FlexTensor {
        match self.fresh {
            None => self.tensor,
            Some(mut fresh) => {
                // SAFETY: `parts` cut the first `len` values into chunks, and `ready` wrote each
                unsafe { fresh.set_len(self.len) };
                contiguous(fresh, dims)
            }
        }
    }
}

impl<'a> Part<'a> {
    /// The chunk's values, ready to update in place.
    fn ready(self) -> &'a mut [f32] {
        match self {
            Part::InPlace(values) => values,
            Part::Copy(old, new) => {
                for (new, old) in new.iter_mut().zip(old) {
                    new.write(*old);
                }
                // SAFETY: every value was just written, and `MaybeUninit<f32>` has the layout
                // of `f32`.
                unsafe { &mut *(new as *mut [MaybeUninit<f32>] as *mut [f32]) }
            }
        }
    }
}

/// A run of values of the weight, its gradient and the rule's slots.
struct Chunk<'a> {
    w: Part<'a>,
    g: &'a [f32],
    slots: [Option<Part<'a>>; 3],
}

/// One chunk's update compiled for the widest vectors the processor has: the baseline's
/// 4-wide square roots and divisions made RMSprop's pass a sixth of a dense MNIST step on an
/// AVX-512 machine. Each operation stays a separate IEEE one (no fused multiply-add), so every
/// instruction set gives the same bits.
struct Apply<'a>(Update, Chunk<'a>);

impl Kernel for Apply<'_> {
    type Output = ();

    #[inline(always)]
    fn run<I: Isa>(self) {
        apply(self.0, self.1)
    }
}

/// One chunk's update, in the composed rules' order of operations.
#[inline(always)]
fn apply(update: Update, chunk: Chunk<'_>) {
    let Chunk { w, g, slots } = chunk;
    let w = w.ready();
    let slots = slots.map(|s| s.map(Part::ready));
    match (update, slots) {
        (Update::Sgd { lr, .. }, [None, _, _]) => {
            let lr = lr as f32;
            for (w, &g) in w.iter_mut().zip(g) {
                *w -= g * lr;
            }
        }
        (
            Update::Sgd {
                lr,
                momentum,
                nesterov,
            },
            [Some(m), _, _],
        ) => {
            let (neg_lr, lr, momentum) = (-lr as f32, lr as f32, momentum as f32);
            for ((w, m), &g) in w.iter_mut().zip(m.iter_mut()).zip(g) {
                *m = *m * momentum + g * neg_lr;
                *w = if nesterov {
                    *w + *m * momentum - g * lr
                } else {
                    *w + *m
                };
            }
        }
        (
            Update::RmsProp {
                lr,
                rho,
                epsilon,
                momentum,
                ..
            },
            [Some(v), a, m],
        ) => {
            let (lr, rho, one_rho) = (lr as f32, rho as f32, (1.0 - rho) as f32);
            let (epsilon, momentum) = (epsilon as f32, momentum as f32);
            if let (None, None) = (&a, &m) {
                // Keras' default: neither centered nor with momentum
                for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                    *v = *v * rho + g * g * one_rho;
                    *w -= g * lr / (*v + epsilon).sqrt();
                }
                return;
            }
            let (mut a, mut m) = (a, m);
            for (i, ((w, v), &g)) in w.iter_mut().zip(v.iter_mut()).zip(g).enumerate() {
                *v = *v * rho + g * g * one_rho;
                let denominator = match a.as_deref_mut() {
                    Some(a) => {
                        a[i] = a[i] * rho + g * one_rho;
                        *v - a[i] * a[i]
                    }
                    None => *v,
                };
                let increment = g * lr / (denominator + epsilon).sqrt();
                match m.as_deref_mut() {
                    Some(m) => {
                        m[i] = m[i] * momentum + increment;
                        *w -= m[i];
                    }
                    None => *w -= increment,
                }
            }
        }
        (
            Update::Adam {
                alpha,
                beta_1,
                beta_2,
                epsilon,
                decay,
            },
            [Some(m), Some(v), _],
        ) => {
            let (alpha, epsilon, decay) = (alpha as f32, epsilon as f32, decay as f32);
            let (one_b1, one_b2) = ((1.0 - beta_1) as f32, (1.0 - beta_2) as f32);
            for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                if decay > 0.0 {
                    *w -= *w * decay;
                }
                *m += (g - *m) * one_b1;
                *v += (g * g - *v) * one_b2;
                *w -= *m * alpha / (v.sqrt() + epsilon);
            }
        }
        (update, _) => unreachable!("{update:?} without its slots"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
        t.to_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    fn slot_bits<const D: usize>(s: &Option<Slots<D>>) -> Vec<Option<Vec<u32>>> {
        s.clone()
            .map(|s| s.into_array().map(|t| t.as_ref().map(bits)).to_vec())
            .unwrap_or_default()
    }

    fn updates() -> Vec<Update> {
        let rms = |momentum, centered| Update::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            momentum,
            epsilon: 1e-7,
            centered,
        };
        let adam = |decay| Update::Adam {
            alpha: 1e-3 * (1.0f64 - 0.999).sqrt() / (1.0 - 0.9),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            decay,
        };
        vec![
            Update::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
            },
            Update::Sgd {
                lr: 0.01,
                momentum: 0.9,
                nesterov: false,
            },
            Update::Sgd {
                lr: 0.01,
                momentum: 0.9,
                nesterov: true,
            },
            rms(0.0, false),
            rms(0.0, true),
            rms(0.5, false),
            rms(0.5, true),
            adam(0.0),
            adam(0.004 * 1e-3),
        ]
    }

    /// Three steps of each rule, fused and composed, on a weight of `dims` (several chunks for
    /// the large one): the same bits for the weight and every slot, at every step.
    #[test]
    fn one_pass_gives_the_composed_bits() {
        let device = Device::flex();
        for dims in [[7, 5], [300, 233]] {
            for update in updates() {
                let mut w = Tensor::<2>::random(dims, Distribution::Normal(0.0, 1.0), &device);
                let (mut fused_w, mut fused_s) = (w.clone(), None);
                let mut composed_s = None;
                for _ in 0..3 {
                    let g = Tensor::<2>::random(dims, Distribution::Normal(0.0, 0.1), &device);
                    let (cw, cs) = update.composed(w, g.clone(), composed_s);
                    let (fw, fs) = step(update, fused_w, g, fused_s);
                    let fs = update.slots().contains(&true).then_some(fs);
                    assert_eq!(bits(&fw), bits(&cw), "{update:?} {dims:?}: weights");
                    assert_eq!(slot_bits(&fs), slot_bits(&cs), "{update:?} {dims:?}: state");
                    (w, composed_s, fused_w, fused_s) = (cw, cs, fw, fs);
                }
            }
        }
    }

    /// A weight another tensor still holds is copied, not written; a strided one is read in
    /// its logical order.
    #[test]
    fn shared_and_strided_weights_are_left_alone() {
        let device = Device::flex();
        let update = updates()[3];
        let values: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let base = Tensor::<2>::from_data(TensorData::new(values.clone(), [3, 4]), &device);
        let held = base.clone();
        let g = Tensor::<2>::ones([3, 4], &device);
        let (fused, _) = step(update, base.clone(), g.clone(), None);
        let (composed, _) = update.composed(base, g, None);
        assert_eq!(bits(&fused), bits(&composed));
        assert_eq!(held.to_data().try_to_vec::<f32>().unwrap(), values);
        let strided = held.clone().transpose();
        let g = Tensor::<2>::ones([4, 3], &device).mul_scalar(0.5);
        let (fused, _) = step(update, strided.clone(), g.clone(), None);
        let (composed, _) = update.composed(strided, g, None);
        assert_eq!(bits(&fused), bits(&composed));
        assert_eq!(held.to_data().try_to_vec::<f32>().unwrap(), values);
    }

    /// A state decayed into the subnormal range reads as zero, as in TensorFlow.
    #[test]
    fn subnormal_state_is_flushed_to_zero() {
        let device = Device::flex();
        let update = updates()[3];
        let tiny = f32::MIN_POSITIVE / 4.0;
        let w = Tensor::<2>::ones([2, 2], &device);
        let g = Tensor::<2>::zeros([2, 2], &device);
        let v = Tensor::<2>::from_data(TensorData::new(vec![tiny; 4], [2, 2]), &device);
        let (w, slots) = step(update, w, g, Some(Slots::from_array([Some(v), None, None])));
        assert_eq!(w.to_data().try_to_vec::<f32>().unwrap(), [1.0; 4]);
        let [v, _, _] = slots.into_array();
        assert_eq!(v.unwrap().to_data().try_to_vec::<f32>().unwrap(), [0.0; 4]);
    }
}
