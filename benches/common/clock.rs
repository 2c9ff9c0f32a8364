//! The seconds of each epoch of a `fit`, for the benches that set kiln beside Keras: timed
//! from the epoch's start to its end by a callback, as `keras_mnist.py` and
//! `keras_sequence.py` time Keras' epochs.

use std::time::Instant;

/// The seconds of each epoch of a `fit`.
#[derive(Default)]
pub struct Clock {
    begin: Option<Instant>,
    /// Each epoch's seconds, in order.
    pub epochs: Vec<f64>,
}

impl kiln::callbacks::Callback for Clock {
    fn on_epoch_begin(&mut self, _: usize, _: &mut kiln::Model) -> kiln::Result<()> {
        self.begin = Some(Instant::now());
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, _: &kiln::Logs, _: &mut kiln::Model) -> kiln::Result<()> {
        if let Some(begin) = self.begin.take() {
            self.epochs.push(begin.elapsed().as_secs_f64());
        }
        Ok(())
    }
}
