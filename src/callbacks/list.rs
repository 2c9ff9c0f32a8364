//! The callbacks of one `fit`, `evaluate` or `predict` call, called in order.

use crate::callbacks::Callback;
use crate::error::Result;

/// The progress bar first, then the user's callbacks in the order given, then (in `fit`) the
/// `History`, as Keras orders them.
pub(crate) struct CallbackList<'a> {
    callbacks: Vec<&'a mut dyn Callback>,
}

impl<'a> CallbackList<'a> {
    /// `first` (the progress bar), the user's callbacks, then `last` (the History) if any.
    pub(crate) fn around<'u: 'a>(
        first: &'a mut dyn Callback,
        user: Vec<&'u mut dyn Callback>,
        last: Option<&'a mut dyn Callback>,
    ) -> Self {
        let mut callbacks: Vec<&'a mut dyn Callback> = vec![first];
        for c in user {
            callbacks.push(c); // shortens the callback's lifetime to the call's
        }
        callbacks.extend(last);
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
