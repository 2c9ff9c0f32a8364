//! Keras' update rules, as Burn optimizers.
//!
//! Each rule implements `burn::optim::Optimizer` for one tensor at a time, so Burn's
//! `ModuleOptimizer` walks the model, matches gradients to parameters and keeps the state.
//! The formulas are Keras 3's (`keras/src/optimizers/{sgd,rmsprop,adam}.py`), written once
//! with Burn's tensor operations ([`Update::composed`]) and once as a single pass over each
//! weight on burn-flex ([`fused`](super::fused)).

use burn::optim::{LearningRate, Optimizer as BurnOptimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Moves every tensor of a state to a device.
fn moved<const D: usize>(t: Option<Tensor<D>>, device: &Device) -> Option<Tensor<D>> {
    t.map(|t| t.to_device(device))
}

fn push<const D: usize>(out: &mut StateSink, prefix: &str, leaf: &str, t: &Option<Tensor<D>>) {
    if let Some(t) = t {
        out.push_tensor(prefix, leaf, t.to_data());
    }
}

/// A state tensor read back from a record. Burn's record loading passes its default device,
/// which may be a GPU the machine lacks; the state is staged on the CPU instead and moves to
/// its parameter's device at the next step (`to_device`), as Burn does for any loaded state.
fn take<const D: usize>(
    src: &mut StateSource,
    prefix: &str,
    leaf: &str,
    device: &Device,
) -> Option<Tensor<D>> {
    let staging = crate::backend::staging_device();
    src.take_tensor(prefix, leaf)
        .map(|data| Tensor::from_data(data, staging.as_ref().unwrap_or(device)))
}

/// `rate · old + new`, or `new` when there is no old value yet (a zero-initialized average).
fn decayed<const D: usize>(old: Option<Tensor<D>>, rate: f64, new: Tensor<D>) -> Tensor<D> {
    match old {
        Some(old) => old.mul_scalar(rate) + new,
        None => new,
    }
}

/// Per-parameter state: up to three named tensors, absent when a rule does not use them.
#[derive(Clone)]
pub(crate) struct Slots<const D: usize> {
    a: Option<Tensor<D>>,
    b: Option<Tensor<D>>,
    c: Option<Tensor<D>>,
}

impl<const D: usize> Slots<D> {
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    pub(super) fn into_array(self) -> [Option<Tensor<D>>; 3] {
        [self.a, self.b, self.c]
    }

    pub(super) fn from_array([a, b, c]: [Option<Tensor<D>>; 3]) -> Self {
        Slots { a, b, c }
    }
}

impl<const D: usize> RecordState for Slots<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        push(out, prefix, "a", &self.a);
        push(out, prefix, "b", &self.b);
        push(out, prefix, "c", &self.c);
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        Some(Slots {
            a: take(src, prefix, "a", device),
            b: take(src, prefix, "b", device),
            c: take(src, prefix, "c", device),
        })
    }
}

impl<const D: usize> Slots<D> {
    fn moved_to(self, device: &Device) -> Self {
        Slots {
            a: moved(self.a, device),
            b: moved(self.b, device),
            c: moved(self.c, device),
        }
    }
}

/// One step of a rule, with its scalars: what both implementations compute.
#[derive(Clone, Copy, Debug)]
pub(super) enum Update {
    /// `w -= lr g` without momentum; with it `m = momentum m - lr g`, then `w += m` (Nesterov:
    /// `w += momentum m - lr g`). Slot a: `m`.
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
    },
    /// `v = rho v + (1 - rho) g²`; `w -= lr g / sqrt(v + eps)`, with optional centering
    /// (`v - a²`, `a` the mean gradient) and momentum. Slots a: `v`, b: `a` (centered), c: the
    /// momentum.
    RmsProp {
        lr: f64,
        rho: f64,
        momentum: f64,
        epsilon: f64,
        centered: bool,
    },
    /// `m += (g - m)(1 - b1)`, `v += (g² - v)(1 - b2)`, `w -= alpha m / (sqrt(v) + eps)`, after
    /// `w -= w · decay`. Slots a: `m`, b: `v`. `alpha` is the step's bias-corrected rate and
    /// `decay` AdamW's `weight_decay · lr` (0 for Adam).
    Adam {
        alpha: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        decay: f64,
    },
}

impl Update {
    /// Which of the slots a, b and c the rule keeps.
    pub(super) fn slots(&self) -> [bool; 3] {
        match *self {
            Update::Sgd { momentum, .. } => [momentum != 0.0, false, false],
            Update::RmsProp {
                momentum, centered, ..
            } => [true, centered, momentum > 0.0],
            Update::Adam { .. } => [true, true, false],
        }
    }

    /// The updated weight and state: in one pass on burn-flex ([`fused`](super::fused)),
    /// else with Burn's tensor operations ([`Update::composed`]).
    fn apply<const D: usize>(
        self,
        w: Tensor<D>,
        g: Tensor<D>,
        state: Option<Slots<D>>,
    ) -> (Tensor<D>, Option<Slots<D>>) {
        #[cfg(feature = "flex")]
        if super::fused::applies(&w, &g) {
            let (w, state) = super::fused::step(self, w, g, state);
            return (w, self.slots().contains(&true).then_some(state));
        }
        self.composed(w, g, state)
    }

    /// The update with Burn's tensor operations, on any backend.
    pub(super) fn composed<const D: usize>(
        self,
        w: Tensor<D>,
        g: Tensor<D>,
        state: Option<Slots<D>>,
    ) -> (Tensor<D>, Option<Slots<D>>) {
        let [a, b, c] = match state {
            Some(s) => [s.a, s.b, s.c],
            None => [None, None, None],
        };
        match self {
            Update::Sgd { lr, .. } if self.slots() == [false; 3] => (w - g.mul_scalar(lr), None),
            Update::Sgd {
                lr,
                momentum,
                nesterov,
            } => {
                let m = decayed(a, momentum, g.clone().mul_scalar(-lr));
                let w = if nesterov {
                    w + m.clone().mul_scalar(momentum) - g.mul_scalar(lr)
                } else {
                    w + m.clone()
                };
                (w, Some(Slots::from_array([Some(m), None, None])))
            }
            Update::RmsProp {
                lr,
                rho,
                momentum,
                epsilon,
                centered,
            } => {
                let v = decayed(a, rho, g.clone().square().mul_scalar(1.0 - rho));
                let (denominator, a) = if centered {
                    let a = decayed(b, rho, g.clone().mul_scalar(1.0 - rho));
                    (v.clone() - a.clone().square(), Some(a))
                } else {
                    (v.clone(), None)
                };
                let increment = g.mul_scalar(lr) / denominator.add_scalar(epsilon).sqrt();
                let (w, m) = if momentum > 0.0 {
                    let m = decayed(c, momentum, increment);
                    (w - m.clone(), Some(m))
                } else {
                    (w - increment, None)
                };
                (w, Some(Slots::from_array([Some(v), a, m])))
            }
            Update::Adam {
                alpha,
                beta_1,
                beta_2,
                epsilon,
                decay,
            } => {
                let w = if decay > 0.0 {
                    w.clone() - w.mul_scalar(decay)
                } else {
                    w
                };
                let m = match a {
                    Some(m) => m.clone() + (g.clone() - m).mul_scalar(1.0 - beta_1),
                    None => g.clone().mul_scalar(1.0 - beta_1),
                };
                let g2 = g.square();
                let v = match b {
                    Some(v) => v.clone() + (g2 - v).mul_scalar(1.0 - beta_2),
                    None => g2.mul_scalar(1.0 - beta_2),
                };
                let w = w - m.clone().mul_scalar(alpha) / v.clone().sqrt().add_scalar(epsilon);
                (w, Some(Slots::from_array([Some(m), Some(v), None])))
            }
        }
    }
}

/// Keras SGD, with momentum and Nesterov's variant.
#[derive(Clone)]
pub(crate) struct SgdRule {
    pub momentum: f64,
    pub nesterov: bool,
}

impl BurnOptimizer for SgdRule {
    type State<const D: usize> = Slots<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        w: Tensor<D>,
        g: Tensor<D>,
        state: Option<Slots<D>>,
    ) -> (Tensor<D>, Option<Slots<D>>) {
        let update = Update::Sgd {
            lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
        };
        update.apply(w, g, state)
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}

/// Keras RMSprop, optionally centered and with momentum.
#[derive(Clone)]
pub(crate) struct RmsPropRule {
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    pub centered: bool,
}

impl BurnOptimizer for RmsPropRule {
    type State<const D: usize> = Slots<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        w: Tensor<D>,
        g: Tensor<D>,
        state: Option<Slots<D>>,
    ) -> (Tensor<D>, Option<Slots<D>>) {
        let update = Update::RmsProp {
            lr,
            rho: self.rho,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
        };
        update.apply(w, g, state)
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}

/// Keras Adam (and AdamW): the step's rate is `lr sqrt(1 - b2^t) / (1 - b1^t)`; AdamW first
/// applies `w -= w · wd · lr`.
///
/// `t` is the optimizer's step count, shared with the training loop that advances it.
#[derive(Clone)]
pub(crate) struct AdamRule {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
    pub iterations: Arc<AtomicU64>,
}

impl BurnOptimizer for AdamRule {
    type State<const D: usize> = Slots<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        w: Tensor<D>,
        g: Tensor<D>,
        state: Option<Slots<D>>,
    ) -> (Tensor<D>, Option<Slots<D>>) {
        let t = self.iterations.load(Ordering::Relaxed).max(1) as i32;
        let update = Update::Adam {
            alpha: lr * (1.0 - self.beta_2.powi(t)).sqrt() / (1.0 - self.beta_1.powi(t)),
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            decay: if self.weight_decay > 0.0 {
                self.weight_decay * lr
            } else {
                0.0
            },
        };
        update.apply(w, g, state)
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}
