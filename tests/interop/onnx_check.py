"""Checks ONNX files kiln wrote with onnx's checker and runs them in onnxruntime.

  onnx_check.py DIR NAME...

For each NAME, DIR/NAME.onnx is checked with `onnx.checker.check_model(full_check=True)` (which
also infers every shape) and run by onnxruntime's CPU provider on the inputs kiln wrote in
DIR/NAME.inputs.safetensors (one entry per model input, by name), whole and one sample at a
time (the batch dimension is dynamic). The outputs go to DIR/NAME.outputs.safetensors, by
output name. It prints `NAME ok: opset ..., inputs ..., outputs ...` for each.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file, save_file

out = sys.argv[1]
for name in sys.argv[2:]:
    path = os.path.join(out, f"{name}.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = load_file(os.path.join(out, f"{name}.inputs.safetensors"))
    inputs = [i.name for i in session.get_inputs()]
    assert sorted(inputs) == sorted(feeds), (inputs, list(feeds))
    for i in session.get_inputs():
        assert isinstance(i.shape[0], str), f"{i.name}: batch {i.shape[0]} is not dynamic"
    outputs = session.run(None, feeds)
    first = session.run(None, {k: v[:1] for k, v in feeds.items()})
    for whole, one in zip(outputs, first):
        assert np.abs(whole[:1] - one).max() < 1e-5, "a batch of one differs"
    names = [o.name for o in session.get_outputs()]
    save_file(
        {n: np.ascontiguousarray(o) for n, o in zip(names, outputs)},
        os.path.join(out, f"{name}.outputs.safetensors"),
    )
    opset = model.opset_import[0].version
    print(f"{name} ok: opset {opset}, inputs {inputs}, outputs {names}")
