//! The callbacks of one `fit`, `evaluate` or `predict` call, called in order.

use crate::callbacks::Callback;
use crate::error::Result;

/// The progress bar first, then the user's callbacks in the order given, then (in `fit`) the
/// `History`, as Keras orders them.
pub(crate) struct CallbackList<'a> {
    callbacks: Vec<&'a mut dyn Callback>,
}

impl<'a> CallbackList<'a> {
    pub(crate) fn new(callbacks: Vec<&'a mut dyn Callback>) -> Self {
        CallbackList { callbacks }
    }

    /// Calls `hook` on every callback in order; the first error stops the call.
    pub(crate) fn each(
        &mut self,
        mut hook: impl FnMut(&mut dyn Callback) -> Result<()>,
    ) -> Result<()> {
        for c in self.callbacks.iter_mut() {
            hook(&mut **c)?;
        }
        Ok(())
    }
}
