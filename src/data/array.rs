//! `HostArray`: data on the host, as kiln takes it in and gives it back.

use crate::backend::each_chunk;
use crate::error::{Error, Result};
use ndarray::{ArrayBase, ArrayD, Dimension, IxDyn};
use std::borrow::Cow;

/// Batches of at least this many bytes are gathered on every thread.
const PARALLEL_GATHER_BYTES: usize = 256 << 10;

/// A number type kiln accepts in host arrays: stored as `f32` on the device.
pub trait Element: Copy + 'static {
    /// The values as `f32`, borrowed when they already are.
    fn to_f32s(values: &[Self]) -> Cow<'_, [f32]>;
}

impl Element for f32 {
    fn to_f32s(values: &[f32]) -> Cow<'_, [f32]> {
        Cow::Borrowed(values)
    }
}

macro_rules! element_by_cast {
    ($($t:ty),*) => {
        $(impl Element for $t {
            fn to_f32s(values: &[$t]) -> Cow<'_, [f32]> {
                Cow::Owned(values.iter().map(|v| *v as f32).collect())
            }
        })*
    };
}
element_by_cast!(f64, u8, u16, u32, u64, usize, i8, i16, i32, i64);

/// A batch of samples on the host: `f32` values in row-major order and a shape whose first
/// dimension counts the samples.
///
/// Built from a slice and a shape, or from any [`ndarray`] array through [`ToHostArray`]; it
/// borrows `f32` data and converts other number types.
///
/// ```
/// let x = kiln::HostArray::new(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap();
/// assert_eq!(x.len(), 3);
/// assert_eq!(x.sample_shape(), &[2]);
/// assert!(kiln::HostArray::new(&[1.0f32, 2.0], [3, 2]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HostArray<'a> {
    values: Cow<'a, [f32]>,
    shape: Vec<usize>,
}

impl<'a> HostArray<'a> {
    /// An array over `values` with `shape` (samples first); errors when the sizes differ.
    pub fn new<T: Element>(values: &'a [T], shape: impl Into<Vec<usize>>) -> Result<Self> {
        Self::from_cow(T::to_f32s(values), shape.into())
    }

    /// An array owning `values`.
    pub fn from_vec(values: Vec<f32>, shape: impl Into<Vec<usize>>) -> Result<HostArray<'static>> {
        HostArray::from_cow(Cow::Owned(values), shape.into())
    }

    fn from_cow(values: Cow<'a, [f32]>, shape: Vec<usize>) -> Result<Self> {
        if shape.is_empty() {
            return Err(Error::data(
                "an array needs at least one dimension, the samples",
            ));
        }
        let expected: usize = shape.iter().product();
        if expected != values.len() {
            return Err(Error::data(format!(
                "shape {shape:?} holds {expected} values but {} were given",
                values.len()
            )));
        }
        Ok(HostArray { values, shape })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The full shape, samples first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The shape of one sample.
    pub fn sample_shape(&self) -> &[usize] {
        &self.shape[1..]
    }

    /// How many values one sample holds.
    pub fn sample_size(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The values of samples `start..end`, without copying.
    pub(crate) fn rows(&self, start: usize, end: usize) -> HostArray<'_> {
        let n = self.sample_size();
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        HostArray {
            values: Cow::Borrowed(&self.values[start * n..end * n]),
            shape,
        }
    }

    /// The values of the samples at `indices`, in that order, in `out` (cleared first). A
    /// batch of at least [`PARALLEL_GATHER_BYTES`] is copied on every thread
    /// ([`each_chunk`]): its samples lie scattered over the array, and one thread copying a
    /// shuffled 128-sample MNIST batch waited on memory for a twelfth of a training step.
    ///
    /// # Panics
    /// When an index is past the last sample.
    pub(crate) fn gather_into(&self, indices: &[usize], out: &mut Vec<f32>) {
        let n = self.sample_size();
        let len = indices.len() * n;
        out.clear();
        out.reserve(len);
        if len == 0 {
            return;
        }
        let per_chunk = if len * 4 < PARALLEL_GATHER_BYTES {
            indices.len()
        } else {
            indices.len().div_ceil(rayon::current_num_threads())
        };
        each_chunk(
            &mut out.spare_capacity_mut()[..len],
            per_chunk * n,
            |c, chunk| {
                let indices = &indices[c * per_chunk..];
                for (dst, &i) in chunk.chunks_exact_mut(n).zip(indices) {
                    dst.write_copy_of_slice(&self.values[i * n..(i + 1) * n]);
                }
            },
        );
        // SAFETY: the chunks cover the first `len` values, `per_chunk` samples each (the last
        // fewer), and each sample of each chunk was written above; an index past the end
        // panicked before this.
        unsafe { out.set_len(len) };
    }

    /// The first NaN or infinite value, described for an error: `sample 17 holds NaN (value
    /// 3 of the sample)`.
    pub(crate) fn first_non_finite(&self) -> Option<String> {
        // whole blocks first, without an early exit, so that the test vectorizes
        const BLOCK: usize = 64;
        let clean = self
            .values
            .chunks(BLOCK)
            .take_while(|block| block.iter().fold(true, |ok, v| ok & v.is_finite()))
            .count();
        // (the last block may be short: past the end when every block is clean)
        let first = (clean * BLOCK).min(self.values.len());
        let i = first + self.values[first..].iter().position(|v| !v.is_finite())?;
        let n = self.sample_size().max(1);
        Some(format!(
            "sample {} holds {} (value {} of the sample)",
            i / n,
            self.values[i],
            i % n
        ))
    }

    /// A copy as an `ndarray` array.
    pub fn to_ndarray(&self) -> ArrayD<f32> {
        // every constructor checks that the shape's product is the number of values
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.values.to_vec())
            .expect("shape checked at construction")
    }
}

/// Anything kiln can read samples from: `ndarray` arrays of any number type and dimension,
/// and [`HostArray`].
pub trait ToHostArray {
    /// A view of the data, borrowed where possible.
    fn to_host_array(&self) -> Result<HostArray<'_>>;
}

impl<S, D, A> ToHostArray for ArrayBase<S, D>
where
    S: ndarray::Data<Elem = A>,
    D: Dimension,
    A: Element,
{
    fn to_host_array(&self) -> Result<HostArray<'_>> {
        let shape = self.shape().to_vec();
        match self.as_slice() {
            Some(values) => HostArray::new(values, shape),
            None => {
                let values: Vec<A> = self.iter().copied().collect();
                HostArray::from_cow(Cow::Owned(A::to_f32s(&values).into_owned()), shape)
            }
        }
    }
}

impl ToHostArray for HostArray<'_> {
    fn to_host_array(&self) -> Result<HostArray<'_>> {
        Ok(HostArray {
            values: Cow::Borrowed(&self.values),
            shape: self.shape.clone(),
        })
    }
}

impl<T: ToHostArray + ?Sized> ToHostArray for &T {
    fn to_host_array(&self) -> Result<HostArray<'_>> {
        (**self).to_host_array()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn the_first_non_finite_value_is_found_in_and_past_whole_blocks() {
        // samples of 10 values; blocks of 64 values are tested whole, the rest one by one
        for (at, bad) in [
            (0, f32::NAN),
            (63, f32::INFINITY),
            (64, f32::NAN),
            (700, f32::NEG_INFINITY),
            (1003, f32::NAN),
        ] {
            let mut values = vec![1.0f32; 1010];
            values[at] = bad;
            // a later one is not reported
            values[1009] = f32::NAN;
            let h = HostArray::from_vec(values, [101, 10]).unwrap();
            let want = format!(
                "sample {} holds {bad} (value {} of the sample)",
                at / 10,
                at % 10
            );
            assert_eq!(h.first_non_finite().as_deref(), Some(want.as_str()));
        }
        let h = HostArray::from_vec(vec![0.5f32; 130], [13, 10]).unwrap();
        assert_eq!(h.first_non_finite(), None);
    }

    #[test]
    fn ndarray_f32_is_borrowed() {
        let a = Array2::<f32>::ones((4, 3));
        let h = a.to_host_array().unwrap();
        assert!(matches!(h.values, Cow::Borrowed(_)));
        assert_eq!(h.shape(), &[4, 3]);
    }

    #[test]
    fn other_numbers_and_layouts_are_converted() {
        let a = array![[1u8, 2], [3, 4]];
        let h = a.to_host_array().unwrap();
        assert_eq!(h.values(), &[1.0, 2.0, 3.0, 4.0]);
        let t = a.t();
        assert_eq!(t.to_host_array().unwrap().values(), &[1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn a_large_batch_is_gathered_in_order_on_every_thread() {
        // 300 samples of 1,000 values: 1.2 MB, past PARALLEL_GATHER_BYTES
        let (samples, n) = (300usize, 1000usize);
        let values: Vec<f32> = (0..samples * n).map(|v| v as f32).collect();
        let h = HostArray::new(&values, [samples, n]).unwrap();
        let indices: Vec<usize> = (0..samples).map(|i| (i * 7 + 3) % samples).rev().collect();
        let mut out = vec![-1.0; 5];
        h.gather_into(&indices, &mut out);
        assert!(out.len() * 4 >= PARALLEL_GATHER_BYTES);
        let want: Vec<f32> = indices
            .iter()
            .flat_map(|&i| values[i * n..(i + 1) * n].to_vec())
            .collect();
        assert_eq!(out, want);
        // an index past the end panics, leaving no unwritten values behind
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            h.gather_into(&[samples; 300], &mut out)
        }));
        assert!(refused.is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn gather_and_rows_pick_samples() {
        let h = HostArray::new(&[0.0f32, 1.0, 10.0, 11.0, 20.0, 21.0], [3, 2]).unwrap();
        let mut out = Vec::new();
        h.gather_into(&[2, 0], &mut out);
        assert_eq!(out, vec![20.0, 21.0, 0.0, 1.0]);
        assert_eq!(h.rows(1, 3).values(), &[10.0, 11.0, 20.0, 21.0]);
        assert_eq!(h.to_ndarray().shape(), &[3, 2]);
    }

    #[test]
    fn scalar_shapes_are_refused() {
        assert!(HostArray::new(&[1.0f32], Vec::<usize>::new()).is_err());
    }
}
