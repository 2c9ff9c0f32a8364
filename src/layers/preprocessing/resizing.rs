//! `Resizing`: images resampled to a fixed height and width.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::ops::image_warp::{FillMode, Interpolation, projective_taps, resize_transform, warp};
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// Resizes `[height, width, channels]` images to `height` × `width` as Keras' `Resizing`
/// (TensorFlow's resize without antialiasing: half-pixel centers, bilinear by default), in
/// training and inference alike.
///
/// ```
/// let layer = kiln::layers::Resizing::new(64, 64);
/// assert_eq!((layer.height, layer.width), (64, 64));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resizing {
    /// The output's height.
    pub height: usize,
    /// The output's width.
    pub width: usize,
    /// Bilinear (default) or nearest.
    #[serde(default = "bilinear")]
    pub interpolation: Interpolation,
    /// The layer's name; `resizing`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn bilinear() -> Interpolation {
    Interpolation::Bilinear
}

impl Resizing {
    /// Resizes to `height` × `width`, bilinearly.
    pub fn new(height: usize, width: usize) -> Self {
        Resizing {
            height,
            width,
            interpolation: Interpolation::Bilinear,
            name: None,
        }
    }

    /// Sets the interpolation.
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// Sets the layer's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl LayerConfig for Resizing {
    const CLASS_NAME: &'static str = "Resizing";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let input = &inputs[0];
        match input.dims() {
            [_, _, c] if self.height > 0 && self.width > 0 => {
                Ok(Shape::new([self.height, self.width, *c]))
            }
            _ => Err(Error::config(
                format!("layer `{name}` (Resizing)"),
                format!(
                    "takes [height, width, channels] images to a size of at least 1 × 1; got \
                     input {input} and size {} × {}",
                    self.height, self.width
                ),
            )),
        }
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0).into_tensor::<4>()?;
        let [b, h, w, _] = x.dims();
        let out = (self.height, self.width);
        if (h, w) == out {
            return Ok(Value::R4(x));
        }
        let t = vec![resize_transform((h, w), out); b];
        let taps = projective_taps(&t, (h, w), out, self.interpolation, FillMode::Nearest);
        Ok(Value::R4(warp(x, &taps, out, 0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::preprocessing::random_affine::tests::run;

    #[test]
    fn resizes_as_the_image_folder_does() {
        let pixels: Vec<u8> = (0..2 * 4 * 6 * 3).map(|v| (v * 7 % 256) as u8).collect();
        let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
        let y = run(Resizing::new(3, 5), values, [2, 4, 6, 3], false).unwrap();
        assert_eq!(y.len(), 2 * 3 * 5 * 3);
        for (k, image) in pixels.chunks(4 * 6 * 3).enumerate() {
            let host = crate::data::resize_bilinear(image, (4, 6), (3, 5), 3);
            for (a, b) in y[k * 45..(k + 1) * 45].iter().zip(&host) {
                assert!((a - b).abs() < 1e-4, "{a} {b}");
            }
        }
        assert!(run(Resizing::new(0, 5), vec![0.0; 4], [1, 2, 2, 1], false).is_err());
    }
}
