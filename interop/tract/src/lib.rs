//! Runs an ONNX file in [tract](https://github.com/sonos/tract), the check of kiln's exported
//! files by a second, independent ONNX runtime written in Rust (the first is onnxruntime, from
//! Python, in kiln's `tests/onnx.rs`).
//!
//! The cases come from kiln's ONNX test, which leaves each model's `NAME.onnx`, its inputs
//! (`NAME.inputs.safetensors`, by input name) and what kiln's `predict` computed
//! (`NAME.kiln.safetensors`, by output name) in `target/tmp/onnx-cases`.

use std::path::Path;
use tract_onnx::prelude::*;

/// A named float tensor: name, shape, values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Reads every f32 tensor of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<Vec<Named>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(format!(
                    "{}: `{name}` is {:?}, not F32",
                    path.display(),
                    view.dtype()
                ));
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(Named {
                name,
                shape: view.shape().to_vec(),
                values,
            })
        })
        .collect()
}

/// Loads `onnx` in tract with each input's shape fixed to the given tensor's (kiln writes a
/// dynamic batch dimension), optimizes it, runs it once and returns its outputs by name.
pub fn run(onnx: &Path, inputs: &[Named]) -> TractResult<Vec<Named>> {
    let mut model = tract_onnx::onnx().model_for_path(onnx)?;
    let order: Vec<String> = model
        .input_outlets()?
        .iter()
        .map(|outlet| model.node(outlet.node).name.clone())
        .collect();
    let mut values = TVec::new();
    for (slot, name) in order.iter().enumerate() {
        let input = inputs.iter().find(|i| &i.name == name).ok_or_else(|| {
            TractError::msg(format!("{}: no tensor for input `{name}`", onnx.display()))
        })?;
        model = model.with_input_fact(slot, f32::fact(&input.shape).into())?;
        values.push(Tensor::from_shape(&input.shape, &input.values)?.into_tvalue());
    }
    let output_names: Vec<String> = model
        .output_outlets()?
        .iter()
        .map(|&outlet| {
            let label = model.outlet_label(outlet);
            label.map_or_else(|| model.node(outlet.node).name.clone(), str::to_owned)
        })
        .collect();
    let plan = model.into_optimized()?.into_runnable()?;
    let outputs = plan.run(values)?;
    output_names
        .into_iter()
        .zip(outputs)
        .map(|(name, value)| {
            let view = value.to_plain_array_view::<f32>()?;
            Ok(Named {
                name,
                shape: view.shape().to_vec(),
                values: view.iter().copied().collect(),
            })
        })
        .collect()
}
