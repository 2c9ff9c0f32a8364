//! `Sample` and `Batch`: what a dataset gives a model, one example or many stacked.

use crate::data::{Dataset, HostArray};
use crate::error::{Error, Result};
use ndarray::ArrayD;
use std::sync::Arc;

/// One example: an array per model input and, for training and scoring, an array per output
/// (its targets). Shapes are the sample's own, without a batch axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// One array per model input, in the model's order.
    pub x: Vec<ArrayD<f32>>,
    /// One array per model output, in order; empty for `predict`.
    pub y: Vec<ArrayD<f32>>,
}

impl Sample {
    /// A sample of one input and one target.
    pub fn new(x: ArrayD<f32>, y: ArrayD<f32>) -> Self {
        Sample {
            x: vec![x],
            y: vec![y],
        }
    }
}

/// Samples stacked along a new first axis: what one step of `fit` trains on.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// One array per model input, samples first.
    pub x: Vec<HostArray<'static>>,
    /// One array per model output, samples first; empty for `predict`.
    pub y: Vec<HostArray<'static>>,
}

impl Batch {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.x.first().map_or(0, HostArray::len)
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `samples` stacked; an error naming the first sample whose arrays differ in number or
    /// shape from the first one's.
    pub fn stack(samples: &[Sample]) -> Result<Batch> {
        let Some(first) = samples.first() else {
            return Err(Error::data("a batch needs at least one sample"));
        };
        let stack = |part: fn(&Sample) -> &Vec<ArrayD<f32>>, what: &str| {
            (0..part(first).len())
                .map(|k| {
                    let shape = part(first)[k].shape().to_vec();
                    let mut values = Vec::with_capacity(samples.len() * part(first)[k].len());
                    for (i, s) in samples.iter().enumerate() {
                        match part(s).get(k) {
                            Some(a) if a.shape() == shape.as_slice() && part(s).len() == part(first).len() => {
                                values.extend(a.iter().copied())
                            }
                            other => {
                                return Err(Error::data(format!(
                                    "sample {i} of a batch has {} {what} arrays ({what} {k} of shape \
                                     {:?}) but sample 0 has {} ({what} {k} of shape {shape:?}); \
                                     give every sample the same shapes, or batch them by shape",
                                    part(s).len(),
                                    other.map(|a| a.shape().to_vec()),
                                    part(first).len(),
                                )));
                            }
                        }
                    }
                    let mut dims = vec![samples.len()];
                    dims.extend(&shape);
                    HostArray::from_vec(values, dims)
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(Batch {
            x: stack(|s| &s.x, "x")?,
            y: stack(|s| &s.y, "y")?,
        })
    }
}

impl Dataset<Sample> {
    /// A dataset of the samples of in-memory arrays: sample `i` is row `i` of each input
    /// array `x` and each target array `y` (empty `y` for `predict`).
    ///
    /// ```
    /// use kiln::data::{Dataset, Sample};
    /// use ndarray::{ArrayD, IxDyn};
    /// let x = ArrayD::from_shape_fn(IxDyn(&[6, 2]), |i| (i[0] * 10 + i[1]) as f32);
    /// let y = ArrayD::from_shape_fn(IxDyn(&[6, 1]), |i| i[0] as f32);
    /// let batches = Dataset::from_arrays(vec![x], vec![y])?.batch(4);
    /// assert_eq!(batches.len(), Some(2));
    /// let sizes: Vec<usize> = batches.pass(0).map(|b| b.map(|b| b.len())).collect::<kiln::Result<_>>()?;
    /// assert_eq!(sizes, [4, 2]);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn from_arrays(x: Vec<ArrayD<f32>>, y: Vec<ArrayD<f32>>) -> Result<Self> {
        let n = x
            .first()
            .map_or(0, |a| a.shape().first().copied().unwrap_or(0));
        if let Some(bad) = x
            .iter()
            .chain(&y)
            .find(|a| a.ndim() == 0 || a.shape()[0] != n)
        {
            return Err(Error::data(format!(
                "Dataset::from_arrays: an array of shape {:?} beside a first one of {n} samples; \
                 give every array the same number of samples, first",
                bad.shape()
            )));
        }
        let (x, y) = (Arc::new(x), Arc::new(y));
        let row = |arrays: &[ArrayD<f32>], i: usize| -> Vec<ArrayD<f32>> {
            arrays
                .iter()
                .map(|a| a.index_axis(ndarray::Axis(0), i).to_owned())
                .collect()
        };
        Ok(Dataset::from_indexed(n, move |i| {
            Ok(Sample {
                x: row(&x, i),
                y: row(&y, i),
            })
        }))
    }

    /// Consecutive samples stacked into batches of `size` (the last may be smaller).
    pub fn batch(self, size: usize) -> Dataset<Batch> {
        let size = size.max(1);
        let len = self.len().map(|n| n.div_ceil(size));
        let samples = self;
        Dataset::from_fn(len, move |pass| {
            let mut items = samples.pass(pass);
            Box::new(std::iter::from_fn(move || {
                let mut chunk = Vec::with_capacity(size);
                for item in items.by_ref() {
                    match item {
                        Ok(sample) => chunk.push(sample),
                        Err(e) => return Some(Err(e)),
                    }
                    if chunk.len() == size {
                        break;
                    }
                }
                (!chunk.is_empty()).then(|| Batch::stack(&chunk))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn batches_stack_samples_in_order() {
        let x = ArrayD::from_shape_fn(IxDyn(&[5, 2, 3]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as f32
        });
        let y = ArrayD::from_shape_fn(IxDyn(&[5]), |i| i[0] as f32);
        let d = Dataset::from_arrays(vec![x.clone()], vec![y])
            .unwrap()
            .batch(2);
        let batches: Vec<Batch> = d.pass(0).collect::<Result<_>>().unwrap();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[1].x[0].shape(), &[2, 2, 3]);
        assert_eq!(batches[1].x[0].values()[..3], [200.0, 201.0, 202.0]);
        assert_eq!(batches[2].y[0].values(), &[4.0]);
        assert_eq!(batches[2].y[0].shape(), &[1]);
        assert!(Dataset::from_arrays(vec![x], vec![ArrayD::zeros(IxDyn(&[4]))]).is_err());
    }

    #[test]
    fn samples_of_other_shapes_are_named() {
        let a = Sample::new(ArrayD::zeros(IxDyn(&[2])), ArrayD::zeros(IxDyn(&[1])));
        let b = Sample::new(ArrayD::zeros(IxDyn(&[3])), ArrayD::zeros(IxDyn(&[1])));
        let e = Batch::stack(&[a.clone(), a.clone(), b])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sample 2") && e.contains("[3]") && e.contains("[2]"),
            "{e}"
        );
        let missing = Sample {
            x: vec![],
            y: a.y.clone(),
        };
        assert!(Batch::stack(&[a, missing]).is_err());
        assert!(Batch::stack(&[]).is_err());
    }
}
