//! The optimizer while a model trains: Keras' rule, Burn's state keeping, the step count.

use crate::graph::Network;
use crate::training::optimizers::rules::{AdamRule, RmsPropRule, SgdRule};
use crate::training::optimizers::{LearningRate, Optimizer};
use burn::optim::{GradientsParams, ModuleOptimizer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A compiled optimizer: updates a network from its gradients, one step at a time.
pub(crate) struct OptimizerState {
    config: Optimizer,
    inner: ModuleOptimizer,
    iterations: Arc<AtomicU64>,
    learning_rate: LearningRate,
}

impl OptimizerState {
    pub(crate) fn new(config: Optimizer) -> Self {
        let iterations = Arc::new(AtomicU64::new(0));
        let inner = match &config {
            Optimizer::Sgd(o) => ModuleOptimizer::from(SgdRule {
                momentum: o.momentum,
                nesterov: o.nesterov,
            }),
            Optimizer::Rmsprop(o) => ModuleOptimizer::from(RmsPropRule {
                rho: o.rho,
                momentum: o.momentum,
                epsilon: o.epsilon,
                centered: o.centered,
            }),
            Optimizer::Adam(o) | Optimizer::Adamw(o) => ModuleOptimizer::from(AdamRule {
                beta_1: o.beta_1,
                beta_2: o.beta_2,
                epsilon: o.epsilon,
                weight_decay: o.weight_decay.unwrap_or(0.0),
                iterations: iterations.clone(),
            }),
        };
        OptimizerState {
            learning_rate: config.learning_rate_schedule().clone(),
            config,
            inner,
            iterations,
        }
    }

    /// One update of every parameter that has a gradient.
    pub(crate) fn step(&mut self, network: Network, grads: GradientsParams) -> Network {
        // the rate of step t is read before counting it, as Keras' schedules see step 0 first
        let lr = self.learning_rate();
        self.iterations.fetch_add(1, Ordering::Relaxed);
        self.inner.step(lr, network, grads)
    }

    /// The per-weight state (moments, averages) in Burn's optimizer record format, keyed by
    /// parameter id.
    pub(crate) fn state_bytes(&self) -> Result<Vec<u8>, String> {
        self.inner
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| format!("{e:?}"))
    }

    /// Restores state written by [`Self::state_bytes`] and the step count.
    pub(crate) fn restore(&mut self, bytes: Vec<u8>, iterations: u64) -> Result<(), String> {
        let bytes = burn::tensor::Bytes::from_bytes_vec(bytes);
        self.inner = self
            .inner
            .clone()
            .from_bytes(bytes)
            .map_err(|e| format!("{e:?}"))?;
        self.iterations.store(iterations, Ordering::Relaxed);
        Ok(())
    }

    /// How many steps have been taken.
    pub(crate) fn iterations(&self) -> u64 {
        self.iterations.load(Ordering::Relaxed)
    }

    /// The current learning rate.
    pub(crate) fn learning_rate(&self) -> f64 {
        self.learning_rate.at(self.iterations())
    }

    /// Sets the learning rate of the next steps; refused when it follows a schedule.
    pub(crate) fn set_learning_rate(&mut self, learning_rate: f64) -> Result<(), String> {
        if let LearningRate::Schedule(_) = self.learning_rate {
            return Err(
                "the optimizer follows a learning-rate schedule; compile with a constant rate \
                 to set it"
                    .into(),
            );
        }
        self.learning_rate = LearningRate::Constant(learning_rate);
        Ok(())
    }

    /// The configuration compiled.
    pub(crate) fn config(&self) -> &Optimizer {
        &self.config
    }
}
