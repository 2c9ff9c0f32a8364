//! Learning-rate schedules: a rate that changes with the optimizer's step, as Keras'
//! `keras.optimizers.schedules`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// An optimizer's learning rate: a constant, or a schedule of the step count.
///
/// Plain numbers convert into it, so `Optimizer::adam(1e-3)` and
/// `Optimizer::adam(ExponentialDecay::new(1e-3, 1000, 0.9))` both work. In JSON a constant is a
/// number and a schedule is `{"class_name": "ExponentialDecay", "config": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LearningRate {
    /// The same rate at every step.
    Constant(f64),
    /// A rate that depends on the step.
    Schedule(Schedule),
}

/// Keras' learning-rate schedules, evaluated at the optimizer's step (0 for the first update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
#[non_exhaustive]
pub enum Schedule {
    /// See [`ExponentialDecay`].
    ExponentialDecay(ExponentialDecay),
    /// See [`PiecewiseConstantDecay`].
    PiecewiseConstantDecay(PiecewiseConstantDecay),
    /// See [`CosineDecay`].
    CosineDecay(CosineDecay),
}

/// `initial_learning_rate · decay_rate^(step / decay_steps)`, the exponent floored when
/// `staircase` (default false).
///
/// ```
/// use kiln::training::optimizers::ExponentialDecay;
/// let s = ExponentialDecay::new(0.1, 100, 0.5);
/// assert!((s.at(200) - 0.025).abs() < 1e-12);
/// assert!((s.staircase(true).at(150) - 0.05).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExponentialDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f64,
    /// Steps per multiplication by `decay_rate`.
    pub decay_steps: u64,
    /// The factor per `decay_steps`.
    pub decay_rate: f64,
    /// Decay in whole steps of `decay_steps` (default false).
    #[serde(default)]
    pub staircase: bool,
}

impl ExponentialDecay {
    /// The schedule, not staircased.
    pub fn new(initial_learning_rate: f64, decay_steps: u64, decay_rate: f64) -> Self {
        ExponentialDecay {
            initial_learning_rate,
            decay_steps,
            decay_rate,
            staircase: false,
        }
    }

    /// Decay in whole steps (default false).
    pub fn staircase(mut self, staircase: bool) -> Self {
        self.staircase = staircase;
        self
    }

    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        let mut p = step as f64 / self.decay_steps as f64;
        if self.staircase {
            p = p.floor();
        }
        self.initial_learning_rate * self.decay_rate.powf(p)
    }
}

/// `values[0]` up to step `boundaries[0]`, `values[1]` up to `boundaries[1]`, …, and the last
/// value after the last boundary (one more value than boundaries).
///
/// ```
/// use kiln::training::optimizers::PiecewiseConstantDecay;
/// let s = PiecewiseConstantDecay::new(vec![100, 200], vec![1.0, 0.5, 0.1]);
/// assert_eq!((s.at(100), s.at(101), s.at(500)), (1.0, 0.5, 0.1));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiecewiseConstantDecay {
    /// Increasing steps where the rate changes.
    pub boundaries: Vec<u64>,
    /// The rates, one more than the boundaries.
    pub values: Vec<f64>,
}

impl PiecewiseConstantDecay {
    /// The schedule.
    pub fn new(boundaries: Vec<u64>, values: Vec<f64>) -> Self {
        PiecewiseConstantDecay { boundaries, values }
    }

    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        let i = self.boundaries.iter().take_while(|b| step > **b).count();
        self.values[i.min(self.values.len() - 1)]
    }
}

/// Cosine decay from `initial_learning_rate` to `alpha · initial_learning_rate` over
/// `decay_steps`, after an optional linear warm-up to `warmup_target` over `warmup_steps`
/// (Keras' `CosineDecay`; defaults alpha 0, no warm-up).
///
/// ```
/// use kiln::training::optimizers::CosineDecay;
/// let s = CosineDecay::new(1.0, 100);
/// assert!((s.at(50) - 0.5).abs() < 1e-12);
/// assert!(s.at(100).abs() < 1e-12);
/// let w = CosineDecay::new(0.0, 100).warmup(10, 1.0);
/// assert!((w.at(5) - 0.5).abs() < 1e-12 && (w.at(10) - 1.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineDecay {
    /// The rate at step 0 (the start of the warm-up, if any).
    pub initial_learning_rate: f64,
    /// Steps of the decay (after the warm-up).
    pub decay_steps: u64,
    /// The floor, as a fraction of the starting rate (default 0).
    #[serde(default)]
    pub alpha: f64,
    /// The rate reached at the end of the warm-up (default none: no warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_target: Option<f64>,
    /// Steps of the warm-up (default 0).
    #[serde(default)]
    pub warmup_steps: u64,
}

impl CosineDecay {
    /// The schedule, without warm-up and with alpha 0.
    pub fn new(initial_learning_rate: f64, decay_steps: u64) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0,
        }
    }

    /// Sets the floor fraction (default 0).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Warms up linearly over `steps` to `target` before decaying from it.
    pub fn warmup(mut self, steps: u64, target: f64) -> Self {
        self.warmup_steps = steps;
        self.warmup_target = Some(target);
        self
    }

    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        let (start, step) = match self.warmup_target {
            Some(target) if step < self.warmup_steps => {
                let f = step as f64 / self.warmup_steps as f64;
                return self.initial_learning_rate + (target - self.initial_learning_rate) * f;
            }
            Some(target) => (target, step - self.warmup_steps),
            None => (self.initial_learning_rate, step),
        };
        let done = step.min(self.decay_steps) as f64 / self.decay_steps as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * done).cos());
        start * ((1.0 - self.alpha) * cosine + self.alpha)
    }
}

impl Schedule {
    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        match self {
            Schedule::ExponentialDecay(s) => s.at(step),
            Schedule::PiecewiseConstantDecay(s) => s.at(step),
            Schedule::CosineDecay(s) => s.at(step),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str, m: String| {
            Err(Error::config(format!("learning rate schedule: {what}"), m))
        };
        match self {
            Schedule::ExponentialDecay(s) if s.decay_steps == 0 => {
                bad("decay_steps", "0 divides by zero; use 1 or more".into())
            }
            Schedule::CosineDecay(s) if s.decay_steps == 0 => {
                bad("decay_steps", "0 divides by zero; use 1 or more".into())
            }
            Schedule::PiecewiseConstantDecay(s) if s.values.len() != s.boundaries.len() + 1 => bad(
                "values",
                format!(
                    "{} values for {} boundaries; give one more value than boundaries",
                    s.values.len(),
                    s.boundaries.len()
                ),
            ),
            Schedule::PiecewiseConstantDecay(s)
                if s.boundaries.windows(2).any(|w| w[0] >= w[1]) =>
            {
                bad(
                    "boundaries",
                    format!("{:?} are not increasing", s.boundaries),
                )
            }
            _ => Ok(()),
        }
    }
}

impl LearningRate {
    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(lr) => *lr,
            LearningRate::Schedule(s) => s.at(step),
        }
    }
}

impl From<f64> for LearningRate {
    fn from(lr: f64) -> Self {
        LearningRate::Constant(lr)
    }
}

macro_rules! schedule_into {
    ($($t:ident),*) => {$(
        impl From<$t> for LearningRate {
            fn from(s: $t) -> Self {
                LearningRate::Schedule(Schedule::$t(s))
            }
        }
    )*};
}
schedule_into!(ExponentialDecay, PiecewiseConstantDecay, CosineDecay);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_constants_as_numbers_and_names_schedules() {
        let c: LearningRate = 0.001.into();
        assert_eq!(serde_json::to_string(&c).unwrap(), "0.001");
        let s: LearningRate = ExponentialDecay::new(0.1, 10, 0.9).into();
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains("\"class_name\":\"ExponentialDecay\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<LearningRate>(&json).unwrap(), s);
        assert_eq!(
            serde_json::from_str::<LearningRate>("0.5").unwrap(),
            0.5.into()
        );
    }

    #[test]
    fn cosine_decay_ends_at_alpha_and_stays() {
        let s = CosineDecay::new(2.0, 10).alpha(0.1);
        assert!((s.at(10) - 0.2).abs() < 1e-12);
        assert!((s.at(1000) - 0.2).abs() < 1e-12);
        assert!((s.at(0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn bad_schedules_are_refused() {
        let p = Schedule::PiecewiseConstantDecay(PiecewiseConstantDecay::new(vec![5], vec![1.0]));
        assert!(p.validate().is_err());
        let p = Schedule::ExponentialDecay(ExponentialDecay::new(1.0, 0, 0.5));
        assert!(p.validate().is_err());
    }
}
