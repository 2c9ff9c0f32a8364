//! `to_categorical`: integer labels to one-hot rows.

use crate::error::{Error, Result};
use ndarray::Array2;

/// One-hot encodes integer class labels, like Keras' `to_categorical`.
///
/// Each label must be a whole number in `0..num_classes`.
///
/// ```
/// let y = kiln::to_categorical(&[2u8, 0], 3).unwrap();
/// assert_eq!(y, ndarray::array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
/// assert!(kiln::to_categorical(&[3u8], 3).is_err());
/// ```
pub fn to_categorical<T: Copy + Into<f64>>(
    labels: &[T],
    num_classes: usize,
) -> Result<Array2<f32>> {
    let mut out = Array2::zeros((labels.len(), num_classes));
    for (i, label) in labels.iter().enumerate() {
        let v: f64 = (*label).into();
        if v.fract() != 0.0 || v < 0.0 || v >= num_classes as f64 {
            return Err(Error::data(format!(
                "label {v} at index {i} is not a class in 0..{num_classes}"
            )));
        }
        out[[i, v as usize]] = 1.0;
    }
    Ok(out)
}
