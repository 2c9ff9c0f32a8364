//! Forms of a layer's weight made once and kept while the weight is unchanged: Conv2D's
//! permuted kernel as a contiguous copy, a Dense kernel packed in panels for `predict`.
//!
//! A weight is read by every call and changes only in training. Each kept form is held with
//! the weight view it was made from. Holding the view keeps its storage from being freed or
//! changed in place (burn-flex copies shared storage before writing it), so storage at the same
//! address with the same layout holds the same values. The optimizer's update of a kept weight
//! therefore writes a new buffer; the stale form goes when newer ones push it out.

use burn::backend::flex::FlexTensor;
use std::sync::{Arc, Mutex, PoisonError};

/// Forms of type `T` made from weights, the last used first, within a budget of bytes and of
/// forms.
pub(super) struct Kept<T> {
    entries: Mutex<Vec<Entry<T>>>,
    most_bytes: usize,
    most_forms: usize,
}

struct Entry<T> {
    source: FlexTensor,
    form: Arc<T>,
    bytes: usize,
}

impl<T> Kept<T> {
    /// An empty store that keeps at most `most_bytes` bytes of forms and `most_forms` of them.
    pub(super) const fn new(most_bytes: usize, most_forms: usize) -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            most_bytes,
            most_forms,
        }
    }

    /// The form kept for `weight` (the same f32 storage and layout), else the one `make`
    /// returns with its size in bytes, now kept. `make` may decline (`None`); a form larger
    /// than the whole budget is returned but not kept.
    pub(super) fn get_or_make(
        &self,
        weight: &FlexTensor,
        make: impl FnOnce() -> Option<(T, usize)>,
    ) -> Option<Arc<T>> {
        let same = |e: &Entry<T>| {
            let (a, b) = (e.source.storage::<f32>(), weight.storage::<f32>());
            std::ptr::eq(a, b) && e.source.layout() == weight.layout()
        };
        let lock = || self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut entries = lock();
            if let Some(i) = entries.iter().position(same) {
                let hit = entries.remove(i);
                let form = hit.form.clone();
                entries.insert(0, hit);
                return Some(form);
            }
        }
        let (form, bytes) = make()?;
        let form = Arc::new(form);
        if bytes > self.most_bytes {
            return Some(form);
        }
        let mut entries = lock();
        entries.insert(
            0,
            Entry {
                source: weight.clone(),
                form: form.clone(),
                bytes,
            },
        );
        let (mut total, mut count) = (0, 0);
        entries.retain(|e| {
            total += e.bytes;
            count += 1;
            total <= self.most_bytes && count <= self.most_forms
        });
        Some(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::flex_buffers::tensor;

    fn weight(n: usize) -> FlexTensor {
        tensor((0..n).map(|v| v as f32).collect(), vec![n])
    }

    #[test]
    fn a_form_is_made_once_per_storage_and_old_ones_leave_within_the_budget() {
        let kept = Kept::<usize>::new(100, 2);
        let (a, b, c) = (weight(4), weight(4), weight(4));
        let mut made = 0;
        let mut get = |w: &FlexTensor, value: usize, bytes: usize| {
            *kept
                .get_or_make(w, || {
                    made += 1;
                    Some((value, bytes))
                })
                .unwrap()
        };
        assert_eq!(get(&a, 1, 10), 1);
        // a clone shares the storage: the kept form
        assert_eq!(get(&a.clone(), 99, 10), 1);
        assert_eq!(get(&b, 2, 10), 2);
        // a third form pushes out the least recently used (a)
        assert_eq!(get(&c, 3, 10), 3);
        assert_eq!(get(&b, 99, 10), 2);
        assert_eq!(get(&a, 4, 10), 4);
        // larger than the budget: returned, not kept, and pushes nothing out
        assert_eq!(get(&weight(4), 5, 101), 5);
        assert_eq!(get(&a, 99, 10), 4);
        assert_eq!(made, 5);
        // a declined form is not kept
        assert!(kept.get_or_make(&c, || None).is_none());
    }
}
