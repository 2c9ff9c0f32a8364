//! Texts into models: the ids a model's `TextVectorization` makes from raw strings.

use crate::error::{Error, Result};
use crate::graph::Source;
use crate::layers::TextVectorization;
use crate::models::Model;
use ndarray::ArrayD;

impl Model {
    /// The `TextVectorization` that reads the model's first input, if one does.
    pub fn text_vectorization(&self) -> Option<&TextVectorization> {
        let graph = self.graph();
        graph
            .nodes()
            .iter()
            .find(|n| n.inputs == [Source::Input(0)])
            .and_then(|n| graph.layers()[n.layer].downcast_ref::<TextVectorization>())
    }

    /// The ids the model's `TextVectorization` makes from `texts`: what `fit`, `evaluate` and
    /// `predict` take for a model of text (`[texts, output_sequence_length]`).
    ///
    /// ```
    /// use kiln::prelude::*;
    /// use kiln::layers::{Embedding, TextVectorization};
    ///
    /// let mut tv = TextVectorization::new().output_sequence_length(6);
    /// tv.adapt(["free money now", "meeting at noon"]);
    /// let mut model = Sequential::new()
    ///     .input([6])
    ///     .add(tv)
    ///     .add(Embedding::new(8, 4))
    ///     .add(GlobalAveragePooling1D::new())
    ///     .add(Dense::new(1).activation(Sigmoid))
    ///     .compile(Optimizer::adam(1e-3), Loss::BinaryCrossentropy, &[])?;
    /// let x = model.vectorize_text(&["free money", "see you at noon"])?;
    /// let y = ndarray::array![[1.0f32], [0.0]];
    /// model.train_on_batch(&x, &y)?;
    /// assert_eq!(model.predict_text(&["money!"])?.shape(), [1, 1]);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn vectorize_text<S: AsRef<str>>(&self, texts: &[S]) -> Result<ArrayD<f32>> {
        let tv = self.text_vectorization().ok_or_else(|| {
            Error::config(
                format!("model `{}`", self.name()),
                "it takes no text: its first input is not read by a TextVectorization layer",
            )
        })?;
        Ok(tv.vectorize(texts)?.into_dyn())
    }

    /// The model's output for raw `texts`, through its `TextVectorization`.
    pub fn predict_text<S: AsRef<str>>(&self, texts: &[S]) -> Result<ArrayD<f32>> {
        self.predict(&self.vectorize_text(texts)?)
    }
}
