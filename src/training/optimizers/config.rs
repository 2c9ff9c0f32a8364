//! Optimizer configurations with Keras' names and defaults.

use crate::error::{Error, Result};
use crate::training::optimizers::LearningRate;
use serde::{Deserialize, Serialize};

/// Stochastic gradient descent, optionally with (Nesterov) momentum.
/// Keras' defaults: learning rate 0.01, momentum 0, no Nesterov.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Step size, or a schedule of it (default 0.01).
    pub learning_rate: LearningRate,
    /// Velocity decay in `[0, 1)` (default 0).
    pub momentum: f64,
    /// Whether to use Nesterov momentum (default false).
    pub nesterov: bool,
}

/// RMSprop with Keras' defaults: learning rate 0.001, rho 0.9, momentum 0, epsilon 1e-7,
/// not centered. (Burn's own RMSprop defaults differ; kiln follows Keras.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsProp {
    /// Step size, or a schedule of it (default 0.001).
    pub learning_rate: LearningRate,
    /// Decay of the moving average of squared gradients (default 0.9).
    pub rho: f64,
    /// Momentum (default 0).
    pub momentum: f64,
    /// Added to the average before the square root (default 1e-7).
    pub epsilon: f64,
    /// Whether to normalize by the gradient's estimated variance (default false).
    pub centered: bool,
}

/// Adam with Keras' defaults: learning rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7.
/// With a weight decay it is AdamW (decoupled, Keras' default 0.004).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Step size, or a schedule of it (default 0.001).
    pub learning_rate: LearningRate,
    /// Decay of the first moment (default 0.9).
    pub beta_1: f64,
    /// Decay of the second moment (default 0.999).
    pub beta_2: f64,
    /// Added to the second moment's root (default 1e-7).
    pub epsilon: f64,
    /// Decoupled weight decay: AdamW when set (default none for Adam, 0.004 for AdamW).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

/// An optimizer and its settings, as `compile` takes it.
///
/// ```
/// use kiln::Optimizer;
/// let opt: Optimizer = Optimizer::rmsprop(1e-3).into();
/// assert_eq!(opt.name(), "rmsprop");
/// assert_eq!(opt.learning_rate(), 1e-3);
/// let sgd: Optimizer = Optimizer::sgd(0.1).momentum(0.9).nesterov(true).into();
/// assert_eq!(sgd.name(), "sgd");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Optimizer {
    /// See [`Sgd`].
    Sgd(Sgd),
    /// See [`RmsProp`].
    Rmsprop(RmsProp),
    /// See [`Adam`].
    Adam(Adam),
    /// See [`Adam`] with a weight decay.
    Adamw(Adam),
}

impl Optimizer {
    /// SGD at `learning_rate`, Keras' defaults otherwise.
    pub fn sgd(learning_rate: impl Into<LearningRate>) -> Sgd {
        Sgd {
            learning_rate: learning_rate.into(),
            momentum: 0.0,
            nesterov: false,
        }
    }

    /// RMSprop at `learning_rate`, Keras' defaults otherwise.
    pub fn rmsprop(learning_rate: impl Into<LearningRate>) -> RmsProp {
        RmsProp {
            learning_rate: learning_rate.into(),
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }

    /// Adam at `learning_rate`, Keras' defaults otherwise.
    pub fn adam(learning_rate: impl Into<LearningRate>) -> Adam {
        Adam {
            learning_rate: learning_rate.into(),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: None,
        }
    }

    /// AdamW at `learning_rate` with Keras' weight decay of 0.004.
    pub fn adamw(learning_rate: impl Into<LearningRate>) -> Adam {
        Adam {
            weight_decay: Some(0.004),
            ..Self::adam(learning_rate)
        }
    }

    /// An optimizer by its Keras name (`sgd`, `rmsprop`, `adam`, `adamw`) with Keras' defaults.
    pub fn from_name(name: &str) -> Result<Optimizer> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "sgd" => Self::sgd(0.01).into(),
            "rmsprop" => Self::rmsprop(1e-3).into(),
            "adam" => Self::adam(1e-3).into(),
            "adamw" => Self::adamw(1e-3).into(),
            other => {
                return Err(Error::config(
                    "optimizer",
                    format!("`{other}` is not an optimizer; use sgd, rmsprop, adam or adamw"),
                ));
            }
        })
    }

    /// The Keras name.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd(_) => "sgd",
            Optimizer::Rmsprop(_) => "rmsprop",
            Optimizer::Adam(_) => "adam",
            Optimizer::Adamw(_) => "adamw",
        }
    }

    /// The same optimizer at another learning rate (a constant or a schedule).
    pub fn with_learning_rate(mut self, learning_rate: impl Into<LearningRate>) -> Self {
        let lr = learning_rate.into();
        match &mut self {
            Optimizer::Sgd(o) => o.learning_rate = lr,
            Optimizer::Rmsprop(o) => o.learning_rate = lr,
            Optimizer::Adam(o) | Optimizer::Adamw(o) => o.learning_rate = lr,
        }
        self
    }

    /// The configured learning rate at the first step (a schedule's initial rate).
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate_schedule().at(0)
    }

    /// The configured learning rate: a constant or a schedule.
    pub fn learning_rate_schedule(&self) -> &LearningRate {
        match self {
            Optimizer::Sgd(o) => &o.learning_rate,
            Optimizer::Rmsprop(o) => &o.learning_rate,
            Optimizer::Adam(o) | Optimizer::Adamw(o) => &o.learning_rate,
        }
    }

    /// Refuses settings no step can use.
    pub(crate) fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str, value: f64, range: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::config(
                    format!("{} optimizer: {what}", self.name()),
                    format!("{value} is outside {range}"),
                ))
            }
        };
        if let LearningRate::Schedule(s) = self.learning_rate_schedule() {
            s.validate()?;
        }
        let lr = self.learning_rate();
        check(lr.is_finite() && lr >= 0.0, "learning_rate", lr, "[0, inf)")?;
        if matches!(self.learning_rate_schedule(), LearningRate::Constant(_)) {
            check(lr > 0.0, "learning_rate", lr, "(0, inf)")?;
        }
        match self {
            Optimizer::Sgd(o) => check(
                (0.0..1.0).contains(&o.momentum),
                "momentum",
                o.momentum,
                "[0, 1)",
            ),
            Optimizer::Rmsprop(o) => {
                check((0.0..1.0).contains(&o.rho), "rho", o.rho, "[0, 1)")?;
                check(
                    (0.0..1.0).contains(&o.momentum),
                    "momentum",
                    o.momentum,
                    "[0, 1)",
                )?;
                check(o.epsilon >= 0.0, "epsilon", o.epsilon, "[0, inf)")
            }
            Optimizer::Adam(o) | Optimizer::Adamw(o) => {
                check((0.0..1.0).contains(&o.beta_1), "beta_1", o.beta_1, "[0, 1)")?;
                check((0.0..1.0).contains(&o.beta_2), "beta_2", o.beta_2, "[0, 1)")?;
                check(o.epsilon >= 0.0, "epsilon", o.epsilon, "[0, inf)")?;
                let wd = o.weight_decay.unwrap_or(0.0);
                check(wd >= 0.0, "weight_decay", wd, "[0, inf)")
            }
        }
    }
}

impl Sgd {
    /// Sets the momentum (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Uses Nesterov momentum (default false).
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

impl RmsProp {
    /// Sets rho (default 0.9).
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }

    /// Sets the momentum (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets epsilon (default 1e-7).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Centers the update (default false).
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

impl Adam {
    /// Sets beta_1 (default 0.9).
    pub fn beta_1(mut self, beta_1: f64) -> Self {
        self.beta_1 = beta_1;
        self
    }

    /// Sets beta_2 (default 0.999).
    pub fn beta_2(mut self, beta_2: f64) -> Self {
        self.beta_2 = beta_2;
        self
    }

    /// Sets epsilon (default 1e-7).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the decoupled weight decay (default none for Adam, 0.004 for AdamW).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }
}

impl From<Sgd> for Optimizer {
    fn from(o: Sgd) -> Self {
        Optimizer::Sgd(o)
    }
}

impl From<RmsProp> for Optimizer {
    fn from(o: RmsProp) -> Self {
        Optimizer::Rmsprop(o)
    }
}

impl From<Adam> for Optimizer {
    fn from(o: Adam) -> Self {
        if o.weight_decay.is_some() {
            Optimizer::Adamw(o)
        } else {
            Optimizer::Adam(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_keras_defaults() {
        let r = Optimizer::rmsprop(1e-3);
        assert_eq!(
            (r.rho, r.momentum, r.epsilon, r.centered),
            (0.9, 0.0, 1e-7, false)
        );
        let a = Optimizer::adam(1e-3);
        assert_eq!((a.beta_1, a.beta_2, a.epsilon), (0.9, 0.999, 1e-7));
        assert_eq!(Optimizer::adamw(1e-3).weight_decay, Some(0.004));
        assert_eq!(Optimizer::from_name("sgd").unwrap().learning_rate(), 0.01);
    }

    #[test]
    fn bad_settings_are_refused() {
        let o: Optimizer = Optimizer::sgd(0.1).momentum(1.5).into();
        assert!(o.validate().unwrap_err().to_string().contains("momentum"));
        let o: Optimizer = Optimizer::adam(-1.0).into();
        assert!(o.validate().is_err());
        assert!(Optimizer::from_name("adagrad9").is_err());
    }

    #[test]
    fn serializes_with_its_class_name() {
        let o: Optimizer = Optimizer::adamw(1e-3).into();
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["class_name"], "adamw");
        let back: Optimizer = serde_json::from_value(json).unwrap();
        assert_eq!(back, o);
    }
}
