"""Redoes kiln's training in Keras and checks that Keras ends where kiln did.

For each case NAME in DIR, kiln wrote:
  NAME.init.safetensors     the model before training (kiln.save: weights in Keras' layouts, the
                            architecture and compile settings as JSON in metadata `kiln.model`);
  NAME.trained.safetensors  the same model after kiln's fit, batches in order (no shuffling);
  NAME.data.safetensors     `x` and `y`, the training data; `x_test`, test images; `predictions`,
                            kiln's predictions on them after training; `loss`, kiln's loss per
                            epoch.

Each model is built in Keras from the saved architecture, given kiln's initial weights by name
(`conv2d/kernel`, `batch_normalization/moving_mean`, ...), compiled with the saved optimizer
and loss, and fitted without shuffling. Two modes:

  step DIR RATE        kiln took one step of plain SGD at learning rate RATE on one batch.
                       Keras takes it in float64; each weight's change (RATE times its gradient,
                       or the moving statistics' update) must be kiln's within 5e-6 of the
                       largest change of that weight, plus two float32 roundings of its new
                       value, and the losses within a relative 1e-5.
                       Keras' own float32 error is printed beside kiln's.
  fit DIR EPOCHS BATCH kiln fitted EPOCHS epochs of BATCH samples. Keras does the same in
                       float32; each epoch's loss must agree within a relative 1e-4, each weight
                       within 2% of how far Keras moved it, predictions within 5e-3. (They
                       usually agree within 1e-6; roundings that tip a ReLU or a step on a
                       gradient near 0 can grow over many steps.)

  trained DIR          Keras trains each case itself (its own initial weights, Adam, 3 epochs)
                       and writes NAME.keras.safetensors: its weights under kiln's names and its
                       predictions on `x_test` (`predictions`), for kiln to load and compare.

It prints `NAME ok: ...` for each case that agrees and exits with 1 when one does not.
"""

import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
}
LOSSES = {
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
}


def saved_model(path):
    """The architecture (with compile settings) and the weights of a model file kiln saved."""
    with safe_open(path, "np") as f:
        architecture = json.loads(f.metadata()["kiln.model"])
    return architecture, load_file(path)


def make_layer(spec):
    """A Keras layer from kiln's `{"class_name", "config"}`; a wrapper's layer made first."""
    config = dict(spec["config"])
    if "layer" in config:
        config["layer"] = make_layer(config["layer"])
    return getattr(keras.layers, spec["class_name"])(**config)


def kiln_path(path):
    """A Keras weight path in kiln's naming: recurrent cells are not a level of their own
    (`lstm/lstm_cell/kernel` is kiln's `lstm/kernel`)."""
    return "/".join(p for p in path.split("/") if not p.endswith("_cell"))


def build(architecture):
    """The Keras model of a kiln architecture: its layers by class name and config, connected
    as its nodes say (in order, for a Sequential model, which lists none)."""
    graph = architecture["graph"]
    inputs = [keras.Input(tuple(i["shape"]), name=i["name"]) for i in graph["inputs"]]
    layers = [make_layer(l) for l in graph["layers"]]
    nodes = graph.get("nodes") or [
        {"layer": i, "inputs": ["input:0" if i == 0 else f"node:{i - 1}"]}
        for i in range(len(layers))
    ]
    values = []

    def value(ref):
        kind, index, *output = ref.split(":")
        if kind == "input":
            return inputs[int(index)]
        return values[int(index)][int(output[0]) if output else 0]

    for node in nodes:
        args = [value(r) for r in node["inputs"]]
        layer = layers[node["layer"]]
        if len(args) > 1 and isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            # a recurrent layer's inputs after its sequence are its initial states. Keras 3.15
            # hands a layer its input's mask only when that input is its one tensor argument,
            # so with initial states the mask is dropped unless given: kiln keeps it (masked
            # steps skipped, as documented), and the mask is given here to compare the same
            out = layer(
                args[0],
                initial_state=args[1:],
                mask=getattr(args[0], "_keras_mask", None),
            )
        else:
            out = layer(args if len(args) > 1 else args[0])
        # a layer with several outputs (return_state) gives a list
        values.append(list(out) if isinstance(out, (list, tuple)) else [out])
    outputs = [value(r) for r in graph.get("outputs") or [f"node:{len(nodes) - 1}"]]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs)


def keras_fit(name, directory, epochs, batch, dtype):
    """Keras' run of a case in `dtype`: (initial weights, trained weights, kiln's trained
    weights, per-epoch losses, the model, kiln's data)."""
    architecture, initial = saved_model(os.path.join(directory, f"{name}.init.safetensors"))
    _, trained = saved_model(os.path.join(directory, f"{name}.trained.safetensors"))
    data = load_file(os.path.join(directory, f"{name}.data.safetensors"))
    keras.config.set_floatx(dtype)
    # automatic names (a wrapped layer's, `forward_lstm`) count from zero for each model
    keras.utils.clear_session()
    try:
        model = build(architecture)
        optimizer, loss = architecture["compile"]["optimizer"], architecture["compile"]["loss"]
        model.compile(
            OPTIMIZERS[optimizer["class_name"]](**optimizer["config"]),
            LOSSES[loss["loss"]](from_logits=loss.get("from_logits", False)),
        )
        names = sorted(kiln_path(v.path) for v in model.weights)
        assert names == sorted(initial), f"{name}: Keras has {names}, kiln {sorted(initial)}"
        for v in model.weights:
            v.assign(initial[kiln_path(v.path)].astype(dtype))
        history = model.fit(
            data["x"].astype(dtype),
            data["y"].astype(dtype),
            batch_size=batch,
            epochs=epochs,
            shuffle=False,
            verbose=0,
        )
    finally:
        keras.config.set_floatx("float32")
    ends = {kiln_path(v.path): np.asarray(v.numpy(), np.float64) for v in model.weights}
    return initial, ends, trained, np.array(history.history["loss"]), model, data


def relative(a, b, scale):
    return float(np.max(np.abs(a - b)) / max(scale, 1e-30))


def step(name, directory):
    """One SGD step: kiln's and Keras-float32's weight changes against Keras-float64's."""
    batch = len(load_file(os.path.join(directory, f"{name}.data.safetensors"))["x"])
    initial, exact, trained, exact_loss, _, data = keras_fit(name, directory, 1, batch, "float64")
    _, single, _, _, _, _ = keras_fit(name, directory, 1, batch, "float32")
    problems, worst, keras_worst = [], (0.0, ""), 0.0
    for path, start in initial.items():
        start = start.astype(np.float64)
        change = exact[path] - start
        scale = np.max(np.abs(change))
        gap = np.max(np.abs(trained[path].astype(np.float64) - start - change))
        ours = relative(trained[path].astype(np.float64) - start, change, scale)
        keras_worst = max(keras_worst, relative(single[path] - start, change, scale))
        worst = max(worst, (ours, path))
        # the new value is stored in float32: its rounding counts as well
        if gap > 5e-6 * scale + 2.4e-7 * np.max(np.abs(exact[path])):
            problems.append(f"{path} changed by up to {scale:.3e}, kiln is {gap:.1e} away")
    loss_gap = abs(float(data["loss"][0]) - exact_loss[0]) / exact_loss[0]
    if loss_gap > 1e-5:
        problems.append(f"loss: Keras {exact_loss[0]:.7f}, kiln {data['loss'][0]:.7f}")
    return problems, (
        f"loss {exact_loss[0]:.6f} (kiln {loss_gap:.1e} away); weight changes within "
        f"{worst[0]:.1e} of the largest ({worst[1]}), Keras float32 within {keras_worst:.1e}"
    )


def fit(name, directory, epochs, batch):
    """A whole fit in float32: losses, weights and predictions against kiln's."""
    initial, ends, trained, losses, model, data = keras_fit(
        name, directory, epochs, batch, "float32"
    )
    problems, worst = [], (0.0, "")
    loss_gap = float(np.max(np.abs(losses - data["loss"]) / losses))
    if loss_gap > 1e-4:
        problems.append(f"losses: Keras {losses}, kiln {data['loss']}")
    for path, start in initial.items():
        moved = np.linalg.norm(ends[path] - start)
        gap = np.linalg.norm(ends[path] - trained[path]) / max(moved, 2e-3)
        worst = max(worst, (gap, path))
        if gap > 2e-2:
            problems.append(f"{path}: Keras moved it by {moved:.3e}, kiln is {gap:.1e} of that away")
    predicted = float(np.max(np.abs(model.predict(data["x_test"], verbose=0) - data["predictions"])))
    if predicted > 5e-3:
        problems.append(f"predictions differ by up to {predicted:.1e}")
    return problems, (
        f"losses {np.round(losses, 6).tolist()} (kiln within {loss_gap:.1e}); weights within "
        f"{worst[0]:.1e} of their update ({worst[1]}); predictions within {predicted:.1e}"
    )


def trained(name, directory):
    """Keras' own training of a case; its weights (by kiln's names) and predictions, saved."""
    from safetensors.numpy import save_file

    architecture, _ = saved_model(os.path.join(directory, f"{name}.init.safetensors"))
    data = load_file(os.path.join(directory, f"{name}.data.safetensors"))
    keras.utils.clear_session()
    keras.utils.set_random_seed(7)
    model = build(architecture)
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    model.fit(data["x"], data["y"], batch_size=16, epochs=3, verbose=0)
    tensors = {kiln_path(v.path): np.asarray(v.numpy(), np.float32) for v in model.weights}
    predictions = model.predict(data["x_test"], verbose=0).astype(np.float32)
    save_file(
        {**tensors, "predictions": predictions},
        os.path.join(directory, f"{name}.keras.safetensors"),
    )
    return [], f"{len(tensors)} weights trained by Keras, predictions on {len(predictions)} samples"


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    cases = sorted(
        os.path.basename(p)[: -len(".init.safetensors")]
        for p in glob.glob(os.path.join(directory, "*.init.safetensors"))
    )
    agree = True
    for name in cases:
        if mode == "step":
            problems, summary = step(name, directory)
        elif mode == "trained":
            problems, summary = trained(name, directory)
        else:
            problems, summary = fit(name, directory, int(sys.argv[3]), int(sys.argv[4]))
        if problems:
            agree = False
            print(f"{name} differs: " + "; ".join(problems))
        else:
            print(f"{name} ok: {summary}")
    sys.exit(0 if cases and agree else 1)


if __name__ == "__main__":
    main()
