//! Keras' `text_dataset_from_directory`: a folder of class sub-folders of `.txt` files, read
//! file by file and turned into token ids by a `TextVectorization`.

use crate::data::class_folders::{LabelMode, Listing, Subset};
use crate::data::{Batch, Dataset, Sample};
use crate::error::{Error, Result};
use crate::layers::TextVectorization;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest text file read, in bytes.
const MAX_FILE: u64 = 64 << 20;

/// Reads a folder as Keras' `text_dataset_from_directory` does: each sub-folder is a class
/// (sorted names), its `.txt` files (in any sub-folder) the samples, listed, shuffled and split
/// exactly as Keras lists, shuffles and splits them for the same seed. Files are read when the
/// dataset is, on its prefetch thread once it is [`vectorized`](TextDataset::vectorized).
///
/// ```no_run
/// use kiln::data::{Subset, TextFolder};
/// use kiln::layers::TextVectorization;
/// let train = TextFolder::new("aclImdb/train").validation_split(0.2, Subset::Training).seed(42).load()?;
/// let mut vectorizer = TextVectorization::new().max_tokens(20_000).output_sequence_length(200);
/// vectorizer.adapt(train.read_all()?.iter().map(|(text, _)| text));
/// let batches = train.vectorized(&vectorizer, 32);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TextFolder {
    dir: PathBuf,
    label_mode: LabelMode,
    class_names: Option<Vec<String>>,
    shuffle: bool,
    seed: Option<u32>,
    split: Option<(f64, Subset)>,
    max_length: Option<usize>,
}

/// A folder read by [`TextFolder::load`]: its texts and labels, read lazily.
#[derive(Clone, Debug)]
pub struct TextDataset {
    /// Each file's text and class, in `file_paths`' order, reshuffled each pass when the
    /// folder shuffles.
    pub texts: Dataset<(String, usize)>,
    /// The classes, in label order.
    pub class_names: Vec<String>,
    /// The files read, in the order of a pass before its shuffle.
    pub file_paths: Vec<PathBuf>,
    /// The class of each file in `file_paths`.
    pub labels: Vec<usize>,
    label_mode: LabelMode,
    shuffle: Option<u32>,
}

impl TextFolder {
    /// Keras' defaults: integer labels, shuffled.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TextFolder {
            dir: dir.into(),
            label_mode: LabelMode::Int,
            class_names: None,
            shuffle: true,
            seed: None,
            split: None,
            max_length: None,
        }
    }

    /// How classes become targets (default integers).
    pub fn label_mode(mut self, mode: LabelMode) -> Self {
        self.label_mode = mode;
        self
    }

    /// The classes to read, in label order (default: every sub-folder, sorted).
    pub fn class_names(mut self, names: Vec<String>) -> Self {
        self.class_names = Some(names);
        self
    }

    /// Whether to shuffle the files once and each pass (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of the shuffles (required with a validation split).
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Keeps `subset` of a split holding out the last `fraction` of the (shuffled) files.
    pub fn validation_split(mut self, fraction: f64, subset: Subset) -> Self {
        self.split = Some((fraction, subset));
        self
    }

    /// Keeps the first `bytes` of each text, as Keras' `max_length` (a character the cut
    /// would split is dropped).
    pub fn max_length(mut self, bytes: usize) -> Self {
        self.max_length = Some(bytes);
        self
    }

    /// Lists the folder; files are read only when the dataset is.
    pub fn load(self) -> Result<TextDataset> {
        let listing = Listing::read(
            &self.dir,
            self.class_names.clone(),
            &[".txt"],
            self.label_mode,
            self.shuffle,
            self.seed,
            self.split,
            "TextFolder",
        )?;
        let items: Vec<(PathBuf, usize)> = listing
            .files
            .iter()
            .cloned()
            .zip(listing.labels.iter().copied())
            .collect();
        let max_length = self.max_length;
        let texts = Dataset::from_items(items)
            .map(move |(path, label)| Ok((read(&path, max_length)?, label)));
        Ok(TextDataset {
            texts,
            class_names: listing.class_names,
            file_paths: listing.files,
            labels: listing.labels,
            label_mode: self.label_mode,
            shuffle: self.shuffle.then_some(listing.seed),
        })
    }
}

impl TextDataset {
    /// Every text and label of one pass, read now (to `adapt` a `TextVectorization`).
    pub fn read_all(&self) -> Result<Vec<(String, usize)>> {
        self.texts.pass(0).collect()
    }

    /// Batches of `batch_size` for a model that starts with `vectorizer`'s token ids: each
    /// text vectorized (`[output_sequence_length]` ids) with its target, shuffled each pass
    /// through Keras' buffer of 8 batches when the folder shuffles, and made ahead on a
    /// prefetch thread.
    pub fn vectorized(&self, vectorizer: &TextVectorization, batch_size: usize) -> Dataset<Batch> {
        let vectorizer = Arc::new(vectorizer.clone());
        let (mode, classes, size) = (self.label_mode, self.class_names.len(), batch_size.max(1));
        let mut texts = self.texts.clone();
        if let Some(seed) = self.shuffle {
            texts = texts.shuffle(size * 8, u64::from(seed));
        }
        let len = texts.len().map(|n| n.div_ceil(size));
        Dataset::from_fn(len, move |pass| {
            let mut items = texts.pass(pass);
            let vectorizer = vectorizer.clone();
            Box::new(std::iter::from_fn(move || {
                let mut chunk = Vec::with_capacity(size);
                for item in items.by_ref() {
                    match item {
                        Ok(text) => chunk.push(text),
                        Err(e) => return Some(Err(e)),
                    }
                    if chunk.len() == size {
                        break;
                    }
                }
                (!chunk.is_empty()).then(|| batch_of(&vectorizer, chunk, mode, classes))
            }))
        })
        .prefetch(4)
    }
}

/// `texts` vectorized together (one vocabulary lookup table per batch) with their targets.
fn batch_of(
    vectorizer: &TextVectorization,
    texts: Vec<(String, usize)>,
    mode: LabelMode,
    classes: usize,
) -> Result<Batch> {
    let ids = vectorizer.vectorize(texts.iter().map(|(t, _)| t))?;
    let samples: Vec<Sample> = ids
        .outer_iter()
        .zip(&texts)
        .map(|(row, (_, label))| Sample {
            x: vec![row.to_owned().into_dyn()],
            y: mode.target(*label, classes),
        })
        .collect();
    Batch::stack(&samples)
}

/// The text of `path` (UTF-8, invalid bytes replaced), its first `max_length` characters.
fn read(path: &Path, max_length: Option<usize>) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::format(
            path,
            "larger than 64 MiB; refused as a text sample",
        ));
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if let Some(n) = max_length.filter(|&n| n < text.len()) {
        // Keras cuts bytes (tf.strings.substr); a character cut in two is dropped whole
        let end = (0..=n)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(end);
    }
    Ok(text)
}
