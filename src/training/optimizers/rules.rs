//! Keras' update rules, as Burn optimizers.
//!
//! Each rule implements `burn::optim::Optimizer` for one tensor at a time, so Burn's
//! `ModuleOptimizer` walks the model, matches gradients to parameters and keeps the state.
//! The formulas are Keras 3's (`keras/src/optimizers/{sgd,rmsprop,adam}.py`).

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

/// Keras SGD: `m = momentum m - lr g`; `w += m` (Nesterov: `w += momentum m - lr g`).
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
        if self.momentum == 0.0 {
            return (w - g.mul_scalar(lr), None);
        }
        let m = decayed(
            state.and_then(|s| s.a),
            self.momentum,
            g.clone().mul_scalar(-lr),
        );
        let w = if self.nesterov {
            w + m.clone().mul_scalar(self.momentum) - g.mul_scalar(lr)
        } else {
            w + m.clone()
        };
        let state = Slots {
            a: Some(m),
            b: None,
            c: None,
        };
        (w, Some(state))
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}

/// Keras RMSprop: `v = rho v + (1 - rho) g²`; `w -= lr g / sqrt(v + eps)`, with optional
/// centering (`v - a²`, `a` the mean gradient) and momentum.
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
        let (v, a, m) = match state {
            Some(s) => (s.a, s.b, s.c),
            None => (None, None, None),
        };
        let v = decayed(v, self.rho, g.clone().square().mul_scalar(1.0 - self.rho));
        let (denominator, a) = if self.centered {
            let a = decayed(a, self.rho, g.clone().mul_scalar(1.0 - self.rho));
            (v.clone() - a.clone().square(), Some(a))
        } else {
            (v.clone(), None)
        };
        let increment = g.mul_scalar(lr) / denominator.add_scalar(self.epsilon).sqrt();
        let (w, m) = if self.momentum > 0.0 {
            let m = decayed(m, self.momentum, increment);
            (w - m.clone(), Some(m))
        } else {
            (w - increment, None)
        };
        (
            w,
            Some(Slots {
                a: Some(v),
                b: a,
                c: m,
            }),
        )
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}

/// Keras Adam (and AdamW): `m += (g - m)(1 - b1)`, `v += (g² - v)(1 - b2)`,
/// `w -= lr sqrt(1 - b2^t) / (1 - b1^t) · m / (sqrt(v) + eps)`; AdamW first applies
/// `w -= w · wd · lr`.
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
        let w = if self.weight_decay > 0.0 {
            w.clone() - w.mul_scalar(self.weight_decay * lr)
        } else {
            w
        };
        let (m, v) = match state {
            Some(s) => (s.a, s.b),
            None => (None, None),
        };
        let m = match m {
            Some(m) => m.clone() + (g.clone() - m).mul_scalar(1.0 - self.beta_1),
            None => g.clone().mul_scalar(1.0 - self.beta_1),
        };
        let g2 = g.square();
        let v = match v {
            Some(v) => v.clone() + (g2 - v).mul_scalar(1.0 - self.beta_2),
            None => g2.mul_scalar(1.0 - self.beta_2),
        };
        let alpha = lr * (1.0 - self.beta_2.powi(t)).sqrt() / (1.0 - self.beta_1.powi(t));
        let w = w - m.clone().mul_scalar(alpha) / v.clone().sqrt().add_scalar(self.epsilon);
        (
            w,
            Some(Slots {
                a: Some(m),
                b: Some(v),
                c: None,
            }),
        )
    }

    fn to_device<const D: usize>(state: Slots<D>, device: &Device) -> Slots<D> {
        state.moved_to(device)
    }
}
