//! Windows of a time series: the samples a sequence model forecasts from.

use crate::error::{Error, Result};
use ndarray::{Array2, Array3, ArrayView2, s};

/// The windows of `data` (`[steps, features]`) ending just before each step of `targets`
/// (a range of step indices): `x [n, length, features]` where window `i` holds steps
/// `t - length .. t` for the `i`-th target step `t`, and `y [n, target columns]` those steps'
/// rows of `target` (`[steps, k]`). This is Keras' `timeseries_dataset_from_array(data[:-1],
/// targets[length:], length)` for a one-step-ahead forecast, restricted to `targets`.
///
/// ```
/// use kiln::data::timeseries_windows;
/// let series = ndarray::array![[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]];
/// let temperature = series.slice(ndarray::s![.., 1..2]);
/// let (x, y) = timeseries_windows(series.view(), temperature, 2, 2..4)?;
/// assert_eq!(x.dim(), (2, 2, 2));
/// assert_eq!(x[[1, 0, 0]], 2.0); // the second window: steps 1 and 2
/// assert_eq!(y.column(0).to_vec(), vec![30.0, 40.0]);
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn timeseries_windows(
    data: ArrayView2<f32>,
    target: ArrayView2<f32>,
    length: usize,
    targets: std::ops::Range<usize>,
) -> Result<(Array3<f32>, Array2<f32>)> {
    let steps = data.nrows();
    if length == 0 || targets.start < length || targets.end > steps || target.nrows() != steps {
        return Err(Error::data(format!(
            "windows of {length} steps before the steps {}..{} of a series of {steps} steps \
             (targets: {} rows): each target needs {length} steps before it, inside the series",
            targets.start,
            targets.end,
            target.nrows()
        )));
    }
    let n = targets.len();
    let mut x = Array3::<f32>::zeros((n, length, data.ncols()));
    let mut y = Array2::<f32>::zeros((n, target.ncols()));
    for (i, t) in targets.enumerate() {
        x.slice_mut(s![i, .., ..])
            .assign(&data.slice(s![t - length..t, ..]));
        y.row_mut(i).assign(&target.row(t));
    }
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_before_their_targets_and_bad_ranges_are_errors() {
        let series = Array2::from_shape_fn((6, 2), |(t, f)| (10 * t + f) as f32);
        let (x, y) = timeseries_windows(series.view(), series.slice(s![.., ..1]), 3, 3..6).unwrap();
        assert_eq!(x.dim(), (3, 3, 2));
        // window 0: steps 0, 1, 2; its target: step 3's first column
        assert_eq!(x[[0, 2, 1]], 21.0);
        assert_eq!(y.column(0).to_vec(), vec![30.0, 40.0, 50.0]);
        for (length, range) in [(0, 3..6), (4, 3..6), (3, 3..7)] {
            let err = timeseries_windows(series.view(), series.view(), length, range)
                .unwrap_err()
                .to_string();
            assert!(err.contains("windows of"), "{err}");
        }
    }
}
