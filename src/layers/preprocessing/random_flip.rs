//! `RandomFlip`: images mirrored at random while training.

use crate::error::Result;
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::preprocessing::random_affine::{batch_rng, images};
use crate::layers::{LayerConfig, Weights};
use crate::ops::image_warp::{FillMode, Interpolation, projective_taps, warp};
use crate::shape::Shape;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which way [`RandomFlip`] mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlipMode {
    /// Left to right.
    Horizontal,
    /// Top to bottom.
    Vertical,
    /// Each independently (the default).
    HorizontalAndVertical,
}

/// Mirrors each image with probability ½ (per direction of `mode`) while training;
/// `evaluate` and `predict` pass images unchanged.
///
/// ```
/// use kiln::layers::{FlipMode, RandomFlip};
/// assert_eq!(RandomFlip::new().mode, FlipMode::HorizontalAndVertical);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomFlip {
    /// Which way to mirror.
    #[serde(default = "both")]
    pub mode: FlipMode,
    /// The layer's name; `random_flip`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn both() -> FlipMode {
    FlipMode::HorizontalAndVertical
}

impl Default for RandomFlip {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomFlip {
    /// Flips both ways.
    pub fn new() -> Self {
        RandomFlip {
            mode: FlipMode::HorizontalAndVertical,
            name: None,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: FlipMode) -> Self {
        self.mode = mode;
        self
    }

    /// The transform mirroring an `h` × `w` image left to right and/or top to bottom.
    pub(crate) fn transform(horizontal: bool, vertical: bool, h: usize, w: usize) -> [f32; 8] {
        let (a0, a2) = if horizontal {
            (-1.0, (w - 1) as f32)
        } else {
            (1.0, 0.0)
        };
        let (b1, b2) = if vertical {
            (-1.0, (h - 1) as f32)
        } else {
            (1.0, 0.0)
        };
        [a0, 0.0, a2, 0.0, b1, b2, 0.0, 0.0]
    }
}

impl LayerConfig for RandomFlip {
    const CLASS_NAME: &'static str = "RandomFlip";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        images(name, Self::CLASS_NAME, &inputs[0])
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        if !call.training {
            return Ok(x);
        }
        let x = x.into_tensor::<4>()?;
        let [b, h, w, _] = x.dims();
        let mut rng = batch_rng();
        let (hz, vt) = match self.mode {
            FlipMode::Horizontal => (true, false),
            FlipMode::Vertical => (false, true),
            FlipMode::HorizontalAndVertical => (true, true),
        };
        let transforms: Vec<[f32; 8]> = (0..b)
            .map(|_| {
                let flip_h = hz && rng.random_bool(0.5);
                let flip_v = vt && rng.random_bool(0.5);
                Self::transform(flip_h, flip_v, h, w)
            })
            .collect();
        let taps = projective_taps(
            &transforms,
            (h, w),
            (h, w),
            Interpolation::Nearest,
            FillMode::Nearest,
        );
        Ok(Value::R4(warp(x, &taps, (h, w), 0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::preprocessing::random_affine::tests::run;

    #[test]
    fn each_image_is_itself_or_its_mirror() {
        // 64 copies of a 2 × 3 image of 1 channel
        let image = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mirrored = [3.0f32, 2.0, 1.0, 6.0, 5.0, 4.0];
        let upside_down = [4.0f32, 5.0, 6.0, 1.0, 2.0, 3.0];
        let batch: Vec<f32> = image.iter().copied().cycle().take(64 * 6).collect();
        let layer = RandomFlip::new().mode(FlipMode::Horizontal);
        let y = run(layer, batch.clone(), [64, 2, 3, 1], true).unwrap();
        let flipped = y.chunks(6).filter(|c| *c == mirrored).count();
        assert_eq!(y.chunks(6).filter(|c| *c == image).count() + flipped, 64);
        assert!((16..=48).contains(&flipped), "{flipped} of 64 flipped");
        let y = run(
            RandomFlip::new().mode(FlipMode::Vertical),
            batch.clone(),
            [64, 2, 3, 1],
            true,
        )
        .unwrap();
        assert!(y.chunks(6).all(|c| c == image || c == upside_down));
        assert!(y.chunks(6).any(|c| c == upside_down));
        assert_eq!(
            run(RandomFlip::new(), batch.clone(), [64, 2, 3, 1], false).unwrap(),
            batch
        );
    }
}
