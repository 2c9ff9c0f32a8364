//! Keras' `image_dataset_from_directory`: a folder of class sub-folders of images, read,
//! decoded and resized batch by batch.

use crate::data::class_folders::{LabelMode, Listing, Subset};
use crate::data::{Batch, Dataset, Sample};
use crate::error::{Error, Result};
use image::DynamicImage;
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The channels images are read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// 1 channel.
    Grayscale,
    /// 3 channels (the default).
    Rgb,
    /// 4 channels.
    Rgba,
}

impl ColorMode {
    fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// The extensions Keras reads, and kiln decodes (GIF files are refused by name).
const FORMATS: [&str; 5] = [".bmp", ".gif", ".jpeg", ".jpg", ".png"];

/// The largest image file read, in bytes, and the decoded size allowed.
const MAX_FILE: u64 = 256 << 20;

/// Reads a folder as Keras' `image_dataset_from_directory` does: each sub-folder is a class
/// (sorted names; hidden ones skipped), its images (`.png`, `.jpg`, `.jpeg`, `.bmp`, in any
/// sub-folder) the samples. Files are listed in Keras' order and, when shuffling, shuffled with
/// NumPy's `RandomState(seed)` before `validation_split` takes the last part, so one seed picks
/// the same training and validation files as Keras. Images are decoded on the dataset's
/// prefetch thread, resized bilinearly (TensorFlow's half-pixel centers) to `image_size`, and
/// given as `f32` values in 0–255, batch by batch.
///
/// ```no_run
/// use kiln::data::{ColorMode, ImageFolder, Subset};
/// let train = ImageFolder::new("digits")
///     .image_size(28, 28)
///     .color_mode(ColorMode::Grayscale)
///     .validation_split(0.1, Subset::Training)
///     .seed(1337)
///     .load()?;
/// println!("classes {:?}, {} files", train.class_names, train.file_paths.len());
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ImageFolder {
    dir: PathBuf,
    image_size: (usize, usize),
    color_mode: ColorMode,
    label_mode: LabelMode,
    class_names: Option<Vec<String>>,
    batch_size: usize,
    shuffle: bool,
    seed: Option<u32>,
    split: Option<(f64, Subset)>,
    prefetch: usize,
}

/// A folder read by [`ImageFolder::load`].
#[derive(Clone, Debug)]
pub struct ImageDataset {
    /// The batches: images `[batch, h, w, channels]` and, unless `LabelMode::None`, targets.
    pub dataset: Dataset<Batch>,
    /// The classes, in label order.
    pub class_names: Vec<String>,
    /// The files read, in the order the dataset gives them before its per-epoch shuffle.
    pub file_paths: Vec<PathBuf>,
    /// The class of each file in `file_paths`.
    pub labels: Vec<usize>,
}

impl ImageFolder {
    /// Keras' defaults: 256 × 256 RGB images, integer labels, batches of 32, shuffled.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ImageFolder {
            dir: dir.into(),
            image_size: (256, 256),
            color_mode: ColorMode::Rgb,
            label_mode: LabelMode::Int,
            class_names: None,
            batch_size: 32,
            shuffle: true,
            seed: None,
            split: None,
            prefetch: 4,
        }
    }

    /// The size images are resized to, `height` × `width` (default 256 × 256).
    pub fn image_size(mut self, height: usize, width: usize) -> Self {
        self.image_size = (height, width);
        self
    }

    /// The channels read (default RGB).
    pub fn color_mode(mut self, mode: ColorMode) -> Self {
        self.color_mode = mode;
        self
    }

    /// How classes become targets (default integers).
    pub fn label_mode(mut self, mode: LabelMode) -> Self {
        self.label_mode = mode;
        self
    }

    /// The classes to read, in label order: sub-folder names (default: all, sorted).
    pub fn class_names(mut self, names: Vec<String>) -> Self {
        self.class_names = Some(names);
        self
    }

    /// Images per batch (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Whether to shuffle the files once and the batches each epoch (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of the shuffles (default random; required with a validation split).
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Keeps `subset` of a split holding out the last `fraction` of the (shuffled) files.
    pub fn validation_split(mut self, fraction: f64, subset: Subset) -> Self {
        self.split = Some((fraction, subset));
        self
    }

    /// Batches decoded ahead of training (default 4).
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches;
        self
    }

    /// Lists the folder and builds the dataset; errors name the folder or the setting. Files
    /// are read only when the dataset is.
    pub fn load(self) -> Result<ImageDataset> {
        let dir = &self.dir;
        let (h, w) = self.image_size;
        if h == 0 || w == 0 || h > 8192 || w > 8192 {
            return Err(Error::config(
                "ImageFolder: image_size",
                format!("{h} × {w}; give sides from 1 to 8192"),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::config("ImageFolder: batch_size", "give at least 1"));
        }
        let listing = Listing::read(
            dir,
            self.class_names.clone(),
            &FORMATS,
            self.label_mode,
            self.shuffle,
            self.seed,
            self.split,
            "ImageFolder",
        )?;
        let Listing {
            files,
            labels,
            class_names,
            seed,
        } = listing;
        let reader = Arc::new(Reader {
            size: self.image_size,
            color: self.color_mode,
            labels: self.label_mode,
            classes: class_names.len(),
        });
        let items: Vec<(PathBuf, usize)> =
            files.iter().cloned().zip(labels.iter().copied()).collect();
        let mut dataset = Dataset::from_items(items);
        if self.shuffle {
            // Keras' buffer: 8 batches
            dataset = dataset.shuffle(self.batch_size * 8, u64::from(seed));
        }
        let dataset = dataset
            .map(move |(path, label)| reader.sample(&path, label))
            .batch(self.batch_size)
            .prefetch(self.prefetch);
        Ok(ImageDataset {
            dataset,
            class_names,
            file_paths: files,
            labels,
        })
    }
}

/// Turns one file into a sample.
struct Reader {
    size: (usize, usize),
    color: ColorMode,
    labels: LabelMode,
    classes: usize,
}

impl Reader {
    fn sample(&self, path: &Path, label: usize) -> Result<Sample> {
        let image = decode(path)?;
        let (h, w) = self.size;
        let c = self.color.channels();
        let (pixels, iw, ih) = match self.color {
            ColorMode::Grayscale => {
                let i = image.to_luma8();
                (i.as_raw().clone(), i.width(), i.height())
            }
            ColorMode::Rgb => {
                let i = image.to_rgb8();
                (i.as_raw().clone(), i.width(), i.height())
            }
            ColorMode::Rgba => {
                let i = image.to_rgba8();
                (i.as_raw().clone(), i.width(), i.height())
            }
        };
        let values = resize_bilinear(&pixels, (ih as usize, iw as usize), (h, w), c);
        let x = ArrayD::from_shape_vec(IxDyn(&[h, w, c]), values)
            .map_err(|e| Error::format(path, e.to_string()))?;
        let y = self.labels.target(label, self.classes);
        Ok(Sample { x: vec![x], y })
    }
}

/// Decodes the image file at `path`, refusing files over 256 MiB and images whose header
/// claims more than 8192 pixels a side or 256 MiB decoded, before decoding.
fn decode(path: &Path) -> Result<DynamicImage> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::format(
            path,
            "larger than 256 MiB; refused as an image",
        ));
    }
    let mut reader = image::io::Reader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(MAX_FILE);
    reader.limits(limits);
    reader.decode().map_err(|e| {
        Error::format(
            path,
            format!("not an image kiln decodes (PNG, JPEG, BMP): {e}"),
        )
    })
}

/// `pixels` (`[ih, iw, c]` bytes) resized to `[h, w, c]` as TensorFlow's bilinear resize
/// without antialiasing (half-pixel centers), as `f32` in 0–255. The same size copies.
pub(crate) fn resize_bilinear(
    pixels: &[u8],
    (ih, iw): (usize, usize),
    (h, w): (usize, usize),
    c: usize,
) -> Vec<f32> {
    if (ih, iw) == (h, w) {
        return pixels.iter().map(|&p| f32::from(p)).collect();
    }
    // source coordinate of output index i: (i + 0.5) * in / out - 0.5, clamped below at 0
    let axis = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|i| {
                let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
                let lo = (src.floor() as usize).min(inp - 1);
                let hi = (lo + 1).min(inp - 1);
                (lo, hi, src - lo as f32)
            })
            .collect()
    };
    let (rows, cols) = (axis(h, ih), axis(w, iw));
    let at = |y: usize, x: usize, k: usize| f32::from(pixels[(y * iw + x) * c + k]);
    let mut out = Vec::with_capacity(h * w * c);
    for &(y0, y1, fy) in &rows {
        for &(x0, x1, fx) in &cols {
            for k in 0..c {
                let top = at(y0, x0, k) + (at(y0, x1, k) - at(y0, x0, k)) * fx;
                let bottom = at(y1, x0, k) + (at(y1, x1, k) - at(y1, x0, k)) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_follows_half_pixel_centers() {
        // a 1 × 2 row [0, 100] to 1 × 4: sources -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
        let out = resize_bilinear(&[0, 100], (1, 2), (1, 4), 1);
        assert_eq!(out, [0.0, 25.0, 75.0, 100.0]);
        // halving averages neighbours: source 0.5 and 2.5
        let out = resize_bilinear(&[0, 10, 20, 30], (1, 4), (1, 2), 1);
        assert_eq!(out, [5.0, 25.0]);
        assert_eq!(
            resize_bilinear(&[7, 8, 9], (1, 1), (1, 1), 3),
            [7.0, 8.0, 9.0]
        );
    }
}
