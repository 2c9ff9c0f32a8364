//! Images resampled through a projective transform, as TensorFlow's
//! `ImageProjectiveTransformV3` (Keras' `affine_transform`, behind its random rotations, zooms
//! and translations) and its bilinear `resize`.
//!
//! Where each output pixel reads from is computed on the host, in `f32` as TensorFlow does:
//! up to four source pixels and their weights. The device then gathers and weights them with
//! Burn's `select`, so the result is the same on every backend and gradients flow back to the
//! input.

use burn::tensor::{Int, Tensor, TensorData};

/// How source coordinates outside the image are read (Keras' `fill_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillMode {
    /// Reflected about the edge of the last pixel: `d c b a | a b c d | d c b a`.
    Reflect,
    /// Wrapped around: `a b c d | a b c d | a b c d`.
    Wrap,
    /// A constant, `fill_value`.
    Constant,
    /// The nearest edge pixel: `a a a a | a b c d | d d d d`.
    Nearest,
}

/// How a source point between pixels is read (Keras' `interpolation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Weighted from the four pixels around it.
    Bilinear,
    /// The nearest pixel.
    Nearest,
}

/// Where each output pixel of a batch reads from: for pixel `p` (batch, row, column, in
/// order), `taps[k].0[p]` is a flat source pixel (batch, row, column) and `taps[k].1[p]` its
/// weight; `fill[p]` is the weight of the constant fill value.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Taps {
    pub(crate) taps: Vec<(Vec<i64>, Vec<f32>)>,
    pub(crate) fill: Vec<f32>,
}

/// TensorFlow's `MapCoordinate`: a source coordinate mapped into `[0, len - 1]` by `mode`
/// (`Constant` leaves it, for the read to fill).
fn map_coordinate(coord: f32, len: usize, mode: FillMode) -> f32 {
    let lenf = len as f32;
    let mut c = coord;
    match mode {
        FillMode::Constant => return coord,
        FillMode::Nearest => {}
        FillMode::Reflect => {
            if c < 0.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz2 = 2.0 * lenf;
                    if c < sz2 {
                        c += sz2 * (-c / sz2).trunc();
                    }
                    c = if c < -lenf { c + sz2 } else { -c - 1.0 };
                }
            } else if c > lenf - 1.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz2 = 2.0 * lenf;
                    c -= sz2 * (c / sz2).trunc();
                    if c >= lenf {
                        c = sz2 - c - 1.0;
                    }
                }
            }
        }
        FillMode::Wrap => {
            if c < 0.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz = lenf - 1.0;
                    c += lenf * ((-c / sz).trunc() + 1.0);
                }
            } else if c > lenf - 1.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz = lenf - 1.0;
                    c -= lenf * (c / sz).trunc();
                }
            }
        }
    }
    c.clamp(0.0, lenf - 1.0)
}

/// The taps of a batch of `transforms.len()` images of `h` × `w` resampled to `oh` × `ow`:
/// output pixel `(x, y)` of image `b` reads the point `((a0 x + a1 y + a2) / k, (b0 x + b1 y +
/// b2) / k)`, `k = c0 x + c1 y + 1`, of source image `b`, for `transforms[b] = [a0, a1, a2, b0,
/// b1, b2, c0, c1]` (TensorFlow's and Keras' order).
pub(crate) fn projective_taps(
    transforms: &[[f32; 8]],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    interpolation: Interpolation,
    fill: FillMode,
) -> Taps {
    let n = transforms.len() * oh * ow;
    let k = match interpolation {
        Interpolation::Bilinear => 4,
        Interpolation::Nearest => 1,
    };
    let mut out = Taps {
        taps: vec![(Vec::with_capacity(n), Vec::with_capacity(n)); k],
        fill: Vec::with_capacity(n),
    };
    for (b, t) in transforms.iter().enumerate() {
        let base = (b * h * w) as i64;
        for y in 0..oh {
            for x in 0..ow {
                let (xf, yf) = (x as f32, y as f32);
                let projection = t[6] * xf + t[7] * yf + 1.0;
                let mut reads: Vec<(Option<i64>, f32)> = Vec::with_capacity(4);
                if projection == 0.0 {
                    reads.push((None, 1.0));
                } else {
                    let sx = (t[0] * xf + t[1] * yf + t[2]) / projection;
                    let sy = (t[3] * xf + t[4] * yf + t[5]) / projection;
                    let (sx, sy) = (map_coordinate(sx, w, fill), map_coordinate(sy, h, fill));
                    let at = |py: f32, px: f32| -> Option<i64> {
                        let inside = py >= 0.0 && px >= 0.0 && py < h as f32 && px < w as f32;
                        inside.then(|| base + (py as i64) * w as i64 + px as i64)
                    };
                    match interpolation {
                        Interpolation::Nearest => reads.push((at(sy.round(), sx.round()), 1.0)),
                        Interpolation::Bilinear => {
                            let (y0, x0) = (sy.floor(), sx.floor());
                            let (y1, x1) = (y0 + 1.0, x0 + 1.0);
                            reads.push((at(y0, x0), (y1 - sy) * (x1 - sx)));
                            reads.push((at(y0, x1), (y1 - sy) * (sx - x0)));
                            reads.push((at(y1, x0), (sy - y0) * (x1 - sx)));
                            reads.push((at(y1, x1), (sy - y0) * (sx - x0)));
                        }
                    }
                }
                let mut filled = 0.0;
                for (slot, (source, weight)) in out.taps.iter_mut().zip(
                    reads
                        .into_iter()
                        .chain(std::iter::repeat((None, 0.0)))
                        .take(k),
                ) {
                    match source {
                        Some(i) => {
                            slot.0.push(i);
                            slot.1.push(weight);
                        }
                        None => {
                            filled += weight;
                            slot.0.push(base);
                            slot.1.push(0.0);
                        }
                    }
                }
                out.fill.push(filled);
            }
        }
    }
    out
}

/// The batch `x` (`[batch, h, w, c]`, channels last) read through `taps` into
/// `[batch, oh, ow, c]`, points outside filled with `fill_value`.
pub(crate) fn warp(
    x: Tensor<4>,
    taps: &Taps,
    (oh, ow): (usize, usize),
    fill_value: f32,
) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let device = x.device();
    let rows = x.reshape([b * h * w, c]);
    let n = taps.fill.len();
    let column = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, 1]), &device);
    let mut out: Option<Tensor<2>> = None;
    for (indices, weights) in &taps.taps {
        let index = Tensor::<1, Int>::from_data(TensorData::new(indices.clone(), [n]), &device);
        let term = rows.clone().select(0, index) * column(weights);
        out = Some(match out {
            Some(sum) => sum + term,
            None => term,
        });
    }
    let mut out = out.unwrap_or_else(|| Tensor::zeros([n, c], &device));
    if fill_value != 0.0 && taps.fill.iter().any(|f| *f != 0.0) {
        out = out + column(&taps.fill) * fill_value;
    }
    out.reshape([b, oh, ow, c])
}

/// The transform of TensorFlow's bilinear resize without antialiasing (half-pixel centers),
/// from `h` × `w` to `oh` × `ow`: a scale and an offset per axis, read with `Nearest` fill
/// (the source point never leaves the image by more than half a pixel).
pub(crate) fn resize_transform((h, w): (usize, usize), (oh, ow): (usize, usize)) -> [f32; 8] {
    let (sy, sx) = (h as f32 / oh as f32, w as f32 / ow as f32);
    [sx, 0.0, 0.5 * sx - 0.5, 0.0, sy, 0.5 * sy - 0.5, 0.0, 0.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_map_as_tensorflows() {
        // reflect: d c b a | a b c d | d c b a, for a length of 4
        let r = |c| map_coordinate(c, 4, FillMode::Reflect);
        assert_eq!(
            [r(-1.0), r(-4.0), r(4.0), r(7.0), r(1.5)],
            [0.0, 3.0, 3.0, 0.0, 1.5]
        );
        let wr = |c| map_coordinate(c, 4, FillMode::Wrap);
        assert_eq!([wr(-1.0), wr(4.0)], [3.0, 0.0]);
        assert_eq!(map_coordinate(-2.5, 4, FillMode::Nearest), 0.0);
        assert_eq!(map_coordinate(-2.5, 4, FillMode::Constant), -2.5);
        assert_eq!(map_coordinate(-2.5, 1, FillMode::Reflect), 0.0);
    }

    #[test]
    fn a_shift_reads_its_neighbours_and_fills_outside() {
        let device = crate::backend::test_device();
        // one 1 × 4 grey image [1, 2, 3, 4], shifted right by half a pixel
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 4, 1]),
            &device,
        );
        let t = [[1.0, 0.0, -0.5, 0.0, 1.0, 0.0, 0.0, 0.0]];
        let constant = projective_taps(
            &t,
            (1, 4),
            (1, 4),
            Interpolation::Bilinear,
            FillMode::Constant,
        );
        let y: Vec<f32> = warp(x.clone(), &constant, (1, 4), 10.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // x = -0.5 reads half of the fill and half of pixel 0
        assert_eq!(y, [5.5, 1.5, 2.5, 3.5]);
        let reflect = projective_taps(
            &t,
            (1, 4),
            (1, 4),
            Interpolation::Bilinear,
            FillMode::Reflect,
        );
        let y: Vec<f32> = warp(x.clone(), &reflect, (1, 4), 10.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(y, [1.0, 1.5, 2.5, 3.5]);
        let nearest = projective_taps(
            &t,
            (1, 4),
            (1, 4),
            Interpolation::Nearest,
            FillMode::Constant,
        );
        let y: Vec<f32> = warp(x, &nearest, (1, 4), 10.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // rounding half away from zero: -0.5 → -1 (outside), 0.5 → 1, as TensorFlow's round
        assert_eq!(y, [10.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn resizing_matches_the_host_resize() {
        let device = crate::backend::test_device();
        let pixels: Vec<u8> = (0..24).map(|v| (v * 10) as u8).collect();
        let host = crate::data::resize_bilinear(&pixels, (4, 6), (3, 5), 1);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                pixels.iter().map(|&p| f32::from(p)).collect::<Vec<_>>(),
                [1, 4, 6, 1],
            ),
            &device,
        );
        let t = [resize_transform((4, 6), (3, 5))];
        let taps = projective_taps(
            &t,
            (4, 6),
            (3, 5),
            Interpolation::Bilinear,
            FillMode::Nearest,
        );
        let y: Vec<f32> = warp(x, &taps, (3, 5), 0.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in y.iter().zip(&host) {
            assert!((a - b).abs() < 1e-4, "{y:?} {host:?}");
        }
    }

    /// TensorFlow's own kernel (`ImageProjectiveTransformV3`, what Keras' random rotations,
    /// zooms and translations run on its TensorFlow backend), when `KILN_KERAS_PYTHON` names
    /// an interpreter with TensorFlow: every fill mode and interpolation, on rotations, zooms,
    /// shifts and a projective transform of two 5 × 7 images of 2 channels.
    #[test]
    fn warps_match_tensorflows_kernel() {
        let Ok(python) = std::env::var("KILN_KERAS_PYTHON") else {
            eprintln!("SKIPPED: KILN_KERAS_PYTHON is not set");
            return;
        };
        let device = crate::backend::test_device();
        let (b, h, w, c) = (2, 5, 7, 2);
        let pixels: Vec<f32> = (0..b * h * w * c)
            .map(|i| ((i * 37) % 101) as f32)
            .collect();
        let transforms = [
            crate::layers::RandomRotation::transform(0.7, h, w),
            crate::layers::RandomZoom::transform(0.6, 1.3, h, w),
            crate::layers::RandomTranslation::transform(-2.4, 3.3),
            [0.9, 0.2, -1.1, -0.1, 1.1, 0.4, 0.01, -0.02],
        ];
        let script = r#"
import json, sys, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tensorflow as tf
case = json.load(sys.stdin)
images = tf.constant(np.array(case["pixels"], np.float32).reshape(case["shape"]))
out = {}
for t in case["transforms"]:
    for interp in ["BILINEAR", "NEAREST"]:
        for fill in ["REFLECT", "WRAP", "CONSTANT", "NEAREST"]:
            y = tf.raw_ops.ImageProjectiveTransformV3(
                images=images, transforms=tf.constant([t] * case["shape"][0], tf.float32),
                output_shape=tf.constant(case["shape"][1:3], tf.int32),
                fill_value=tf.constant(case["fill"], tf.float32),
                interpolation=interp, fill_mode=fill)
            out.setdefault(interp, {}).setdefault(fill, []).append(y.numpy().ravel().tolist())
print(json.dumps(out))
"#;
        let case = serde_json::json!({
            "pixels": pixels, "shape": [b, h, w, c], "transforms": transforms, "fill": 9.5,
        });
        let mut child = std::process::Command::new(&python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(case.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tf: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [b, h, w, c]), &device);
        let mut worst = 0.0f32;
        for (interp, i) in [
            ("BILINEAR", Interpolation::Bilinear),
            ("NEAREST", Interpolation::Nearest),
        ] {
            for (fill, f) in [
                ("REFLECT", FillMode::Reflect),
                ("WRAP", FillMode::Wrap),
                ("CONSTANT", FillMode::Constant),
                ("NEAREST", FillMode::Nearest),
            ] {
                for (k, t) in transforms.iter().enumerate() {
                    let taps = projective_taps(&[*t; 2], (h, w), (h, w), i, f);
                    let ours: Vec<f32> = warp(x.clone(), &taps, (h, w), 9.5)
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap();
                    let theirs: Vec<f32> =
                        serde_json::from_value(tf[interp][fill][k].clone()).unwrap();
                    for (a, b) in ours.iter().zip(&theirs) {
                        worst = worst.max((a - b).abs());
                        assert!(
                            (a - b).abs() < 1e-3,
                            "{interp} {fill} transform {k}: {a} vs {b}"
                        );
                    }
                }
            }
        }
        eprintln!("largest difference from TensorFlow's kernel: {worst}");
    }
}
