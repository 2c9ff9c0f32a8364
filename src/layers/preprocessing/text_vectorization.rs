//! `TextVectorization`: raw text to token ids, with Keras' standardization, split and
//! vocabulary.

use crate::error::{Error, Result};
use crate::graph::Value;
use crate::layers::config::{Call, name_field};
use crate::layers::{LayerConfig, Weights};
use crate::shape::Shape;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How text is cleaned before it is split (Keras' `standardize`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standardize {
    /// ASCII letters lower-cased, then ASCII punctuation removed (Keras' default).
    #[default]
    LowerAndStripPunctuation,
    /// ASCII letters lower-cased.
    Lower,
    /// ASCII punctuation removed.
    StripPunctuation,
    /// The text as it is.
    #[serde(rename = "none")]
    Nothing,
}

/// Turns text into a fixed-length sequence of token ids, as Keras' `TextVectorization` with
/// `output_mode="int"`: standardize (by default ASCII lower case and no ASCII punctuation, what
/// TensorFlow's `lower` and Keras' strip pattern do), split on whitespace, look each token up in
/// the vocabulary, and pad with 0 or cut at the end to `output_sequence_length`.
///
/// Id 0 is padding (the mask), 1 is `[UNK]` for tokens outside the vocabulary, and learned
/// tokens follow from 2, most frequent first; [`adapt`](Self::adapt) learns them from a corpus
/// (ties in count ordered as Keras orders them: by the token's bytes, descending), keeping
/// `max_tokens - 2` of them. The vocabulary is part of the configuration, so a saved model
/// keeps it.
///
/// In a model, the layer stands first on an input of shape `[output_sequence_length]`: the
/// model feeds it the ids it makes from texts
/// ([`Model::predict_text`](crate::Model::predict_text),
/// [`Model::vectorize_text`](crate::Model::vectorize_text)), and the graph passes them on.
///
/// ```
/// use kiln::layers::TextVectorization;
///
/// let mut tv = TextVectorization::new().max_tokens(5).output_sequence_length(4);
/// tv.adapt(["The cat sat.", "the CAT ran!", "a dog"]);
/// assert_eq!(tv.vocabulary, ["", "[UNK]", "the", "cat", "sat"]);
/// let ids = tv.vectorize(["the dog sat on the mat", "Cat"])?;
/// assert_eq!(ids.row(0).to_vec(), [2.0, 1.0, 4.0, 1.0]);
/// assert_eq!(ids.row(1).to_vec(), [3.0, 0.0, 0.0, 0.0]);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextVectorization {
    /// The most ids the layer gives, padding and `[UNK]` included; no limit when unset.
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// How text is cleaned (default: lower case, no punctuation).
    #[serde(default)]
    pub standardize: Standardize,
    /// How text is split: `whitespace` (the only one kiln has).
    #[serde(default = "whitespace")]
    pub split: String,
    /// What the layer outputs: `int` ids (the only mode kiln has).
    #[serde(default = "int")]
    pub output_mode: String,
    /// The length of every output sequence: shorter ones are padded with 0 at the end, longer
    /// ones cut there.
    pub output_sequence_length: usize,
    /// The vocabulary, by id: `""`, `[UNK]`, then the learned tokens. Empty until adapted.
    #[serde(default)]
    pub vocabulary: Vec<String>,
    /// The layer's name; `text_vectorization`… when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn whitespace() -> String {
    "whitespace".into()
}

fn int() -> String {
    "int".into()
}

/// The out-of-vocabulary token, id 1.
pub const OOV_TOKEN: &str = "[UNK]";

impl Default for TextVectorization {
    fn default() -> Self {
        TextVectorization {
            max_tokens: None,
            standardize: Standardize::default(),
            split: whitespace(),
            output_mode: int(),
            output_sequence_length: 0,
            vocabulary: Vec::new(),
            name: None,
        }
    }
}

impl TextVectorization {
    /// A layer with Keras' defaults; set its `output_sequence_length` before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most ids, padding and `[UNK]` included (default: no limit).
    pub fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the length of the output sequences.
    pub fn output_sequence_length(mut self, length: usize) -> Self {
        self.output_sequence_length = length;
        self
    }

    /// Sets how text is cleaned.
    pub fn standardize(mut self, standardize: Standardize) -> Self {
        self.standardize = standardize;
        self
    }

    /// Sets the vocabulary (`""` and `[UNK]` first, as [`adapt`](Self::adapt) makes it).
    pub fn vocabulary(mut self, vocabulary: Vec<String>) -> Self {
        self.vocabulary = vocabulary;
        self
    }

    /// Sets the layer's name (default: auto-numbered `text_vectorization`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `text` standardized as configured.
    pub fn standardized(&self, text: &str) -> String {
        let lower = matches!(
            self.standardize,
            Standardize::LowerAndStripPunctuation | Standardize::Lower
        );
        let strip = matches!(
            self.standardize,
            Standardize::LowerAndStripPunctuation | Standardize::StripPunctuation
        );
        text.chars()
            .filter(|c| !(strip && c.is_ascii_punctuation()))
            .map(|c| if lower { c.to_ascii_lowercase() } else { c })
            .collect()
    }

    /// The tokens of `text`: standardized, then split on ASCII whitespace (TensorFlow's
    /// `strings.split`, vertical tab included).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.standardized(text)
            .split([' ', '\t', '\n', '\x0B', '\x0C', '\r'])
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Learns the vocabulary from `texts`, replacing any: tokens by descending count, ties by
    /// descending bytes (Keras' order), at most `max_tokens - 2` of them after `""` and
    /// `[UNK]`.
    pub fn adapt<S: AsRef<str>>(&mut self, texts: impl IntoIterator<Item = S>) {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for text in texts {
            for token in self.tokens(text.as_ref()) {
                *counts.entry(token).or_default() += 1;
            }
        }
        let mut tokens: Vec<(String, u64)> = counts.into_iter().collect();
        tokens.sort_unstable_by(|(ta, ca), (tb, cb)| {
            cb.cmp(ca).then_with(|| tb.as_bytes().cmp(ta.as_bytes()))
        });
        let learned = self.max_tokens.map_or(usize::MAX, |m| m.saturating_sub(2));
        self.vocabulary = ["", OOV_TOKEN]
            .into_iter()
            .map(str::to_string)
            .chain(tokens.into_iter().take(learned).map(|(t, _)| t))
            .collect();
    }

    /// The ids of `texts`, `[texts, output_sequence_length]`; an error when the layer has no
    /// vocabulary or no length.
    pub fn vectorize<S: AsRef<str>>(
        &self,
        texts: impl IntoIterator<Item = S>,
    ) -> Result<Array2<f32>> {
        let name = self.name.as_deref().unwrap_or("text_vectorization");
        self.check(name)?;
        let index: HashMap<&str, usize> = self
            .vocabulary
            .iter()
            .enumerate()
            .skip(2)
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let length = self.output_sequence_length;
        let rows: Vec<Vec<f32>> = texts
            .into_iter()
            .map(|text| {
                let mut row: Vec<f32> = self
                    .tokens(text.as_ref())
                    .iter()
                    .take(length)
                    .map(|t| index.get(t.as_str()).copied().unwrap_or(1) as f32)
                    .collect();
                row.resize(length, 0.0);
                row
            })
            .collect();
        let n = rows.len();
        Array2::from_shape_vec((n, length), rows.concat())
            .map_err(|e| Error::data(format!("TextVectorization: {e}")))
    }

    /// Checks the settings a model needs (the vocabulary may come later, from `adapt`).
    fn check_settings(&self, name: &str) -> Result<()> {
        let what = format!("layer `{name}` (TextVectorization)");
        if self.output_sequence_length == 0 {
            return Err(Error::config(
                what,
                "set output_sequence_length: kiln's models take sequences of one length",
            ));
        }
        if self.split != "whitespace" || self.output_mode != "int" {
            return Err(Error::config(
                what,
                format!(
                    "split `{}` and output_mode `{}`: kiln has split `whitespace` and \
                     output_mode `int`",
                    self.split, self.output_mode
                ),
            ));
        }
        Ok(())
    }

    /// Checks everything vectorizing needs: the settings and a vocabulary.
    fn check(&self, name: &str) -> Result<()> {
        self.check_settings(name)?;
        let what = format!("layer `{name}` (TextVectorization)");
        if self.vocabulary.len() < 2
            || !self.vocabulary[0].is_empty()
            || self.vocabulary[1] != OOV_TOKEN
        {
            return Err(Error::config(
                what,
                "it has no vocabulary (`\"\"` and `[UNK]` first): call adapt on a corpus, or \
                 give one",
            ));
        }
        Ok(())
    }
}

impl LayerConfig for TextVectorization {
    const CLASS_NAME: &'static str = "TextVectorization";
    type Module = Weights;
    name_field!(name);

    /// Keras keeps an adapted layer's vocabulary in the archive's assets
    /// (`vocabulary.txt`, one token a line, `""` and `[UNK]` first), not in its configuration.
    #[cfg(feature = "keras")]
    fn keras_state(&mut self, state: &mut crate::io::keras::KerasState<'_>) -> Result<()> {
        if !self.vocabulary.is_empty() {
            return Ok(());
        }
        let Some(bytes) = state.asset("vocabulary.txt") else {
            return Err(state.error(
                "no vocabulary: the archive has no vocabulary.txt for this layer (was it \
                 adapted before saving?)",
            ));
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| state.error(format!("vocabulary.txt is not UTF-8: {e}")))?;
        // Keras reads it with splitlines() and drops empty lines at the end
        let mut vocabulary: Vec<String> = text.lines().map(str::to_owned).collect();
        while vocabulary.last().is_some_and(String::is_empty) {
            vocabulary.pop();
        }
        // the padding token `""` is the first line, which `lines` keeps
        if vocabulary.first().is_some_and(|t| t == OOV_TOKEN) {
            vocabulary.insert(0, String::new());
        }
        self.vocabulary = vocabulary;
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| "text_vectorization".into());
        self.check(&name).map_err(|e| state.error(e))
    }

    /// The ids the model made from texts: `[output_sequence_length]` in and out.
    fn output_shape(&self, name: &str, inputs: &[Shape]) -> Result<Shape> {
        self.check_settings(name)?;
        let ids = Shape::new([self.output_sequence_length]);
        if inputs[0] != ids {
            return Err(Error::Shape {
                layer: name.into(),
                expected: format!(
                    "an input of {ids}: the ids of output_sequence_length tokens, which the \
                     model makes from texts"
                ),
                received: inputs[0].to_string(),
            });
        }
        Ok(ids)
    }

    fn call(&self, _: &Weights, mut inputs: Vec<Value>, _: &Call) -> Result<Value> {
        Ok(inputs.swap_remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizes_as_keras() {
        let tv = TextVectorization::new();
        assert_eq!(
            tv.standardized("Hello, World! É-mail's"),
            "hello world Émails"
        );
        assert_eq!(
            tv.tokens("a\tb\x0Bc\u{a0}d  \n e"),
            ["a", "b", "c\u{a0}d", "e"]
        );
    }

    #[test]
    fn ties_go_by_descending_bytes() {
        let mut tv = TextVectorization::new().output_sequence_length(3);
        tv.adapt(["b a c", "c"]);
        assert_eq!(tv.vocabulary, ["", "[UNK]", "c", "b", "a"]);
    }

    #[test]
    fn unadapted_or_lengthless_layers_are_refused() {
        let err = TextVectorization::new()
            .output_sequence_length(3)
            .vectorize(["x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("adapt"), "{err}");
        let mut tv = TextVectorization::new();
        tv.adapt(["x"]);
        let err = tv.vectorize(["x"]).unwrap_err().to_string();
        assert!(err.contains("output_sequence_length"), "{err}");
    }
}
