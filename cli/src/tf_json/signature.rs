//! What a model takes and gives, as the server describes it and reads requests for it.

use kiln::Model;
use kiln::layers::TextVectorization;

/// One input or output of a model: its name and the shape of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

/// What a model takes and gives.
#[derive(Clone, Debug)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// The model's `TextVectorization`, when its first input is raw text.
    pub text: Option<TextVectorization>,
}

impl Signature {
    pub fn of(model: &Model) -> Self {
        let graph = model.graph();
        let inputs = graph
            .inputs()
            .iter()
            .map(|i| TensorSpec {
                name: i.name.clone(),
                shape: i.shape.dims().to_vec(),
            })
            .collect();
        let outputs = model
            .output_names()
            .into_iter()
            .zip(graph.output_shapes())
            .map(|(name, shape)| TensorSpec {
                name,
                shape: shape.dims().to_vec(),
            })
            .collect();
        Signature {
            inputs,
            outputs,
            text: model.text_vectorization().cloned(),
        }
    }

    /// Whether input `k` takes strings.
    pub fn is_text(&self, k: usize) -> bool {
        k == 0 && self.text.is_some()
    }

    /// The inputs' names, comma-separated.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        names.join(", ")
    }
}
