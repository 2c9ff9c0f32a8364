//! `RandomRotation`, `RandomZoom` and `RandomTranslation`: images moved by a random affine
//! transform per image while training, as Keras' layers of those names.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::ops::image_warp::{FillMode, Interpolation, projective_taps, warp};
use crate::shape::Shape;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A random range as Keras takes it: one number `f` for `[-f, f]`, or `[lower, upper]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Factor {
    /// `[-f, f]`.
    Symmetric(f64),
    /// `[lower, upper]`.
    Range(f64, f64),
}

impl Factor {
    /// The range's bounds; an error naming `what` when they are not finite or out of order.
    pub(crate) fn bounds(self, what: &str) -> Result<(f64, f64)> {
        let (lo, hi) = match self {
            Factor::Symmetric(f) => (-f.abs(), f.abs()),
            Factor::Range(lo, hi) => (lo, hi),
        };
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(Error::config(
                what,
                format!("the factor's range [{lo}, {hi}] must be finite and ordered"),
            ));
        }
        Ok((lo, hi))
    }
}

impl From<f64> for Factor {
    fn from(f: f64) -> Self {
        Factor::Symmetric(f)
    }
}

impl From<(f64, f64)> for Factor {
    fn from((lo, hi): (f64, f64)) -> Self {
        Factor::Range(lo, hi)
    }
}

/// A value drawn uniformly from `[lo, hi]` (`lo` itself when the range is empty).
pub(crate) fn uniform(rng: &mut SmallRng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// A generator for one training batch, from kiln's seeded stream ([`crate::set_random_seed`]),
/// as `Dropout` draws its masks.
pub(crate) fn batch_rng() -> SmallRng {
    SmallRng::seed_from_u64(crate::random::next_seed())
}

/// How the three layers read their images: fill, interpolation, fill value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// How points outside the image are read (default `reflect`, as Keras).
    #[serde(default = "reflect")]
    pub fill_mode: FillMode,
    /// How points between pixels are read (default `bilinear`).
    #[serde(default = "bilinear")]
    pub interpolation: Interpolation,
    /// The value of `constant` fill (default 0).
    #[serde(default)]
    pub fill_value: f64,
}

fn reflect() -> FillMode {
    FillMode::Reflect
}

fn bilinear() -> Interpolation {
    Interpolation::Bilinear
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            fill_mode: FillMode::Reflect,
            interpolation: Interpolation::Bilinear,
            fill_value: 0.0,
        }
    }
}

/// The images `x` (`[batch, h, w, c]`) each read through its transform of `transform(h, w)`.
fn transformed(
    x: Value,
    sampling: Sampling,
    mut transform: impl FnMut(usize, usize) -> [f32; 8],
) -> Result<Value> {
    let x = x.into_tensor::<4>()?;
    let [b, h, w, _] = x.dims();
    let transforms: Vec<[f32; 8]> = (0..b).map(|_| transform(h, w)).collect();
    let taps = projective_taps(
        &transforms,
        (h, w),
        (h, w),
        sampling.interpolation,
        sampling.fill_mode,
    );
    Ok(Value::R4(warp(
        x,
        &taps,
        (h, w),
        sampling.fill_value as f32,
    )))
}

/// The shape check of the augmentation layers: images `[h, w, c]`.
pub(crate) fn images(name: &str, class: &str, input: &Shape) -> Result<Shape> {
    if input.rank() != 3 {
        return Err(Error::config(
            format!("layer `{name}` ({class})"),
            format!("takes [height, width, channels] images, not {input}"),
        ));
    }
    Ok(input.clone())
}

/// Rotates each image by a random angle while training: `factor` is a fraction of a full turn
/// (`0.1` draws from ±36°); `evaluate` and `predict` pass images unchanged.
///
/// ```
/// let layer = kiln::layers::RandomRotation::new(0.1);
/// assert_eq!(layer.factor, kiln::layers::Factor::Symmetric(0.1));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomRotation {
    /// The angle's range, in turns.
    pub factor: Factor,
    /// How the rotated images are read.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// The layer's name; `random_rotation`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl RandomRotation {
    /// Rotations drawn from `factor` turns (`f` for ±f, or `(lower, upper)`).
    pub fn new(factor: impl Into<Factor>) -> Self {
        RandomRotation {
            factor: factor.into(),
            sampling: Sampling::default(),
            name: None,
        }
    }

    /// Sets how the images are read.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Keras' rotation about the image's center by `angle` radians.
    pub(crate) fn transform(angle: f64, h: usize, w: usize) -> [f32; 8] {
        let (sin, cos) = angle.sin_cos();
        let (wf, hf) = ((w - 1) as f64, (h - 1) as f64);
        let x_offset = (wf - (cos * wf - sin * hf)) / 2.0;
        let y_offset = (hf - (sin * wf + cos * hf)) / 2.0;
        [cos, -sin, x_offset, sin, cos, y_offset, 0.0, 0.0].map(|v| v as f32)
    }
}

impl LayerConfig for RandomRotation {
    const CLASS_NAME: &'static str = "RandomRotation";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.factor
            .bounds(&format!("layer `{name}` (RandomRotation)"))?;
        images(name, Self::CLASS_NAME, &inputs[0])
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        if !call.training {
            return Ok(x);
        }
        let range = self.factor.bounds(call.name)?;
        let mut rng = batch_rng();
        transformed(x, self.sampling, |h, w| {
            let turns = uniform(&mut rng, range);
            Self::transform(turns * 2.0 * std::f64::consts::PI, h, w)
        })
    }
}

/// Zooms each image by a random factor while training, about its center: `height_factor`
/// `0.2` draws from ±20% (positive zooms out, as Keras); `width_factor` defaults to the
/// height's draw, which keeps the aspect ratio.
///
/// ```
/// let layer = kiln::layers::RandomZoom::new(0.2);
/// assert!(layer.width_factor.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomZoom {
    /// The vertical zoom's range.
    pub height_factor: Factor,
    /// The horizontal zoom's range; `None` zooms both alike.
    #[serde(default)]
    pub width_factor: Option<Factor>,
    /// How the zoomed images are read.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// The layer's name; `random_zoom`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl RandomZoom {
    /// Zooms drawn from `height_factor`, both axes alike.
    pub fn new(height_factor: impl Into<Factor>) -> Self {
        RandomZoom {
            height_factor: height_factor.into(),
            width_factor: None,
            sampling: Sampling::default(),
            name: None,
        }
    }

    /// Draws the horizontal zoom from its own range.
    pub fn width_factor(mut self, factor: impl Into<Factor>) -> Self {
        self.width_factor = Some(factor.into());
        self
    }

    /// Sets how the images are read.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Keras' zoom about the center: the source is `zoom` times the output's distance from it.
    pub(crate) fn transform(zx: f64, zy: f64, h: usize, w: usize) -> [f32; 8] {
        let x_offset = (w - 1) as f64 / 2.0 * (1.0 - zx);
        let y_offset = (h - 1) as f64 / 2.0 * (1.0 - zy);
        [zx, 0.0, x_offset, 0.0, zy, y_offset, 0.0, 0.0].map(|v| v as f32)
    }
}

impl LayerConfig for RandomZoom {
    const CLASS_NAME: &'static str = "RandomZoom";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let what = format!("layer `{name}` (RandomZoom)");
        let (lo, _) = self.height_factor.bounds(&what)?;
        let wlo = match self.width_factor {
            Some(f) => f.bounds(&what)?.0,
            None => lo,
        };
        if lo <= -1.0 || wlo <= -1.0 {
            return Err(Error::config(
                what,
                "a zoom factor of -1 or less would flip or vanish the image; give factors above -1",
            ));
        }
        images(name, Self::CLASS_NAME, &inputs[0])
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        if !call.training {
            return Ok(x);
        }
        let height = self.height_factor.bounds(call.name)?;
        let width = self.width_factor.map(|f| f.bounds(call.name)).transpose()?;
        let mut rng = batch_rng();
        transformed(x, self.sampling, |h, w| {
            let zy = 1.0 + uniform(&mut rng, height);
            let zx = width.map_or(zy, |range| 1.0 + uniform(&mut rng, range));
            Self::transform(zx, zy, h, w)
        })
    }
}

/// Shifts each image by a random fraction of its height and width while training
/// (`RandomTranslation::new(0.1, 0.1)` moves it up to 10% either way on each axis).
///
/// ```
/// let layer = kiln::layers::RandomTranslation::new(0.1, (0.0, 0.2));
/// assert_eq!(layer.width_factor, kiln::layers::Factor::Range(0.0, 0.2));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomTranslation {
    /// The vertical shift's range, a fraction of the height (positive moves down).
    pub height_factor: Factor,
    /// The horizontal shift's range, a fraction of the width (positive moves right).
    pub width_factor: Factor,
    /// How the shifted images are read.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// The layer's name; `random_translation`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl RandomTranslation {
    /// Shifts drawn from `height_factor` and `width_factor`.
    pub fn new(height_factor: impl Into<Factor>, width_factor: impl Into<Factor>) -> Self {
        RandomTranslation {
            height_factor: height_factor.into(),
            width_factor: width_factor.into(),
            sampling: Sampling::default(),
            name: None,
        }
    }

    /// Sets how the images are read.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// A shift by `dy` rows and `dx` columns.
    pub(crate) fn transform(dy: f64, dx: f64) -> [f32; 8] {
        [1.0, 0.0, -dx as f32, 0.0, 1.0, -dy as f32, 0.0, 0.0]
    }
}

impl LayerConfig for RandomTranslation {
    const CLASS_NAME: &'static str = "RandomTranslation";
    type Module = Weights;
    name_field!(name);

    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        let what = format!("layer `{name}` (RandomTranslation)");
        self.height_factor.bounds(&what)?;
        self.width_factor.bounds(&what)?;
        images(name, Self::CLASS_NAME, &inputs[0])
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, call: &Call) -> Result<Value> {
        let x = inputs.swap_remove(0);
        if !call.training {
            return Ok(x);
        }
        let height = self.height_factor.bounds(call.name)?;
        let width = self.width_factor.bounds(call.name)?;
        let mut rng = batch_rng();
        transformed(x, self.sampling, |h, w| {
            let dy = uniform(&mut rng, height) * h as f64;
            let dx = uniform(&mut rng, width) * w as f64;
            Self::transform(dy, dx)
        })
    }
}

/// Runs augmentation layers on small images, in training (an autodiff device) or inference.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Layer;
    use crate::graph::Layout;
    use burn::tensor::{Tensor, TensorData};

    /// `layer`'s output for `images` (`[batch, h, w, c]`, flattened), training or not.
    pub(crate) fn run(
        layer: impl LayerConfig,
        images: Vec<f32>,
        dims: [usize; 4],
        training: bool,
    ) -> Result<Vec<f32>> {
        let cpu = crate::Device::cpu()?;
        let device = if training {
            cpu.autodiff()
        } else {
            cpu.burn().clone()
        };
        let layer = Layer::new(layer);
        let shape = Shape::new(dims[1..].to_vec());
        layer.output_shape(&shape)?;
        let module = layer.build(std::slice::from_ref(&shape), &device)?;
        let x = Value::R4(Tensor::<4>::from_data(
            TensorData::new(images, dims),
            &device,
        ));
        let (y, _) = layer.call(&module, vec![x], Layout::ChannelsLast)?;
        Ok(y.into_tensor::<4>()?.into_data().try_to_vec().unwrap())
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn a_quarter_turn_rotates_counter_clockwise() {
        let image: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = run(
            RandomRotation::new((0.25, 0.25)),
            image.clone(),
            [1, 3, 3, 1],
            true,
        )
        .unwrap();
        assert!(close(&y, &[3., 6., 9., 2., 5., 8., 1., 4., 7.]), "{y:?}");
        // inference passes images through
        let y = run(RandomRotation::new(0.5), image.clone(), [1, 3, 3, 1], false).unwrap();
        assert_eq!(y, image);
    }

    #[test]
    fn shifts_and_zooms_read_where_keras_says() {
        // down by half the height (1 row): reflect repeats the first row, constant fills 0
        let image = vec![1.0, 2.0, 3.0, 4.0];
        let shift = RandomTranslation::new((0.5, 0.5), 0.0);
        let y = run(shift.clone(), image.clone(), [1, 2, 2, 1], true).unwrap();
        assert!(close(&y, &[1., 2., 1., 2.]), "{y:?}");
        let constant = Sampling {
            fill_mode: FillMode::Constant,
            ..Sampling::default()
        };
        let y = run(shift.sampling(constant), image, [1, 2, 2, 1], true).unwrap();
        assert!(close(&y, &[0., 0., 1., 2.]), "{y:?}");
        // zoomed out 2× about the middle of a 1 × 3 row: x reads 2x - 1
        let zoom = RandomZoom::new((1.0, 1.0)).sampling(constant);
        let y = run(zoom, vec![10.0, 20.0, 30.0], [1, 1, 3, 1], true).unwrap();
        assert!(close(&y, &[0., 20., 0.]), "{y:?}");
        assert!(run(RandomZoom::new(1.5), vec![0.0; 4], [1, 2, 2, 1], true).is_err());
        let e = run(
            RandomRotation::new((0.3, 0.1)),
            vec![0.0; 4],
            [1, 2, 2, 1],
            true,
        );
        assert!(e.unwrap_err().to_string().contains("ordered"));
    }

    #[test]
    fn every_image_gets_its_own_draw() {
        // 16 copies of one image rotated by up to half a turn: not all alike
        let image: Vec<f32> = (0..16 * 9).map(|i| (i % 9) as f32).collect();
        let y = run(RandomRotation::new(0.5), image, [16, 3, 3, 1], true).unwrap();
        let first = &y[..9];
        assert!(y.chunks(9).any(|c| !close(c, first)));
    }
}
