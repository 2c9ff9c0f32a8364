"""Recomputes kiln models' predictions in numpy, from the saved files alone.

For each case NAME in DIR, kiln wrote:
  NAME.model.safetensors  the whole model (kiln.save): weights in Keras' layouts, and the
                          architecture JSON in the `kiln.model` metadata entry;
  NAME.torch.safetensors  the same weights in PyTorch's layout (optional);
  NAME.data.safetensors   `x`, the input images, and `predictions`, kiln's `predict` on them.

The script runs the forward pass twice, channels last with the Keras-layout weights and
channels first with the PyTorch-layout weights (the way torch.nn computes), and checks both
against kiln's predictions within a tolerance. It uses only numpy and the `safetensors`
package; no kiln code.

usage: python3 numpy_forward.py DIR [TOLERANCE]
"""

import glob
import json
import math
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def activation(x, name, axis=-1):
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    if name == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if name == "leaky_relu":
        return np.where(x > 0, x, 0.2 * x)
    raise ValueError(f"unknown activation {name}")


def pads(size, k, stride, dilation, padding):
    """Output size and (before, after) padding of one spatial axis, as Keras computes them."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return (size - span) // stride + 1, (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, (total // 2, total - total // 2)


def pair(v):
    return list(v) if isinstance(v, list) else [v, v]


# ---- channels last, Keras' layouts ------------------------------------------------------------


def conv_last(x, kernel, bias, cfg):
    """x [n, *spatial, c]; kernel [*k, c, out]."""
    nd = x.ndim - 2
    ks = kernel.shape[:nd]
    strides = cfg["strides"] if nd == 2 else [cfg["strides"]]
    dil = cfg["dilation_rate"] if nd == 2 else [cfg["dilation_rate"]]
    sizes, widths = [], [(0, 0)]
    for a in range(nd):
        o, p = pads(x.shape[1 + a], ks[a], strides[a], dil[a], cfg["padding"])
        sizes.append(o)
        widths.append(p)
    xp = np.pad(x, widths + [(0, 0)])
    out = np.zeros((x.shape[0], *sizes, kernel.shape[-1]), dtype=np.float64)
    for tap in np.ndindex(*ks):
        sl = tuple(
            slice(tap[a] * dil[a], tap[a] * dil[a] + strides[a] * (sizes[a] - 1) + 1, strides[a])
            for a in range(nd)
        )
        out += xp[(slice(None), *sl, slice(None))] @ kernel[tap]
    if bias is not None:
        out += bias
    return activation(out, cfg["activation"])


def pool(x, cfg, reduce, spatial_axes):
    """Max or average pooling over `spatial_axes` of x, Keras' padding rules (average over the
    window's real elements only)."""
    nd = len(spatial_axes)
    size = pair(cfg["pool_size"]) if nd == 2 else [cfg["pool_size"]]
    strides = cfg.get("strides") or size
    strides = pair(strides) if nd == 2 else [strides if not isinstance(strides, list) else strides[0]]
    sizes, widths = [], [(0, 0)] * x.ndim
    for a, axis in enumerate(spatial_axes):
        o, p = pads(x.shape[axis], size[a], strides[a], 1, cfg["padding"])
        sizes.append(o)
        widths[axis] = p
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.pad(x, widths, constant_values=fill)
    ones = np.pad(np.ones_like(x), widths)
    windows, counts = [], []
    for tap in np.ndindex(*size):
        sl = [slice(None)] * x.ndim
        for a, axis in enumerate(spatial_axes):
            sl[axis] = slice(tap[a], tap[a] + strides[a] * (sizes[a] - 1) + 1, strides[a])
        windows.append(xp[tuple(sl)])
        counts.append(ones[tuple(sl)])
    if reduce == "max":
        return np.max(windows, axis=0)
    return np.sum(windows, axis=0) / np.sum(counts, axis=0)


def forward_keras(config, w, x):
    for layer in config["graph"]["layers"]:
        kind, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        get = lambda k: w.get(f"{name}/{k}")
        if kind == "Dense":
            x = activation(x @ get("kernel") + (get("bias") if cfg["use_bias"] else 0), cfg["activation"])
        elif kind in ("Conv2D", "Conv1D"):
            x = conv_last(x, get("kernel"), get("bias"), cfg)
        elif kind in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D"):
            axes = [1, 2] if kind.endswith("2D") else [1]
            x = pool(x, cfg, "max" if kind.startswith("Max") else "avg", axes)
        elif kind == "GlobalAveragePooling2D":
            x = x.mean(axis=(1, 2))
        elif kind == "GlobalMaxPooling2D":
            x = x.max(axis=(1, 2))
        elif kind == "BatchNormalization":
            x = (x - get("moving_mean")) / np.sqrt(get("moving_variance") + cfg["epsilon"])
            x = x * get("gamma") + get("beta")
        elif kind == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "Reshape":
            x = x.reshape(x.shape[0], *cfg["target_shape"])
        elif kind == "Activation":
            x = activation(x, cfg["activation"])
        elif kind == "Dropout":
            pass
        else:
            raise ValueError(f"layer type {kind} not handled")
    return x


# ---- channels first, PyTorch's layouts ------------------------------------------------------------


def conv_first(x, weight, bias, cfg):
    """x [n, c, *spatial]; weight [out, c, *k], as torch.nn.Conv1d/Conv2d."""
    nd = x.ndim - 2
    ks = weight.shape[2:]
    strides = cfg["strides"] if nd == 2 else [cfg["strides"]]
    dil = cfg["dilation_rate"] if nd == 2 else [cfg["dilation_rate"]]
    sizes, widths = [], [(0, 0), (0, 0)]
    for a in range(nd):
        o, p = pads(x.shape[2 + a], ks[a], strides[a], dil[a], cfg["padding"])
        sizes.append(o)
        widths.append(p)
    xp = np.pad(x, widths)
    out = np.zeros((x.shape[0], weight.shape[0], *sizes), dtype=np.float64)
    for tap in np.ndindex(*ks):
        sl = tuple(
            slice(tap[a] * dil[a], tap[a] * dil[a] + strides[a] * (sizes[a] - 1) + 1, strides[a])
            for a in range(nd)
        )
        patch = xp[(slice(None), slice(None), *sl)]
        out += np.einsum("nc...,oc->no...", patch, weight[(slice(None), slice(None), *tap)])
    if bias is not None:
        out += bias.reshape(1, -1, *([1] * nd))
    return out


def forward_torch(config, w, x):
    # torch takes images and sequences channels first
    if x.ndim > 2:
        x = np.moveaxis(x, -1, 1)
    index = 0
    for layer in config["graph"]["layers"]:
        kind, cfg = layer["class_name"], layer["config"]
        get = lambda k: w.get(f"{index}.{k}")
        act = "linear"
        if kind == "Dense":
            x = x @ get("weight").T + (get("bias") if cfg["use_bias"] else 0)
            act = cfg["activation"]
        elif kind in ("Conv2D", "Conv1D"):
            x = conv_first(x, get("weight"), get("bias"), cfg)
            act = cfg["activation"]
        elif kind in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D"):
            axes = [2, 3] if kind.endswith("2D") else [2]
            x = pool(x, cfg, "max" if kind.startswith("Max") else "avg", axes)
        elif kind == "GlobalAveragePooling2D":
            x = x.mean(axis=(2, 3))
        elif kind == "GlobalMaxPooling2D":
            x = x.max(axis=(2, 3))
        elif kind == "BatchNormalization":
            shape = (1, -1) + (1,) * (x.ndim - 2)
            scale = get("weight") / np.sqrt(get("running_var") + cfg["epsilon"])
            x = (x - get("running_mean").reshape(shape)) * scale.reshape(shape) + get("bias").reshape(shape)
            assert int(get("num_batches_tracked")) >= 0
        elif kind == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "Activation":
            x = activation(x, cfg["activation"], axis=1)
        elif kind == "Dropout":
            pass
        else:
            raise ValueError(f"layer type {kind} not handled")
        index += 1
        if act != "linear":
            x = activation(x, act, axis=1)
            index += 1
    return x


def main():
    directory = sys.argv[1]
    tolerance = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4
    cases = sorted(glob.glob(os.path.join(directory, "*.model.safetensors")))
    if not cases:
        sys.exit(f"no *.model.safetensors in {directory}")
    failed = False
    for path in cases:
        name = os.path.basename(path)[: -len(".model.safetensors")]
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
        config = json.loads(meta["kiln.model"])
        weights = {k: v.astype(np.float64) for k, v in load_file(path).items()}
        data = load_file(os.path.join(directory, f"{name}.data.safetensors"))
        x, expected = data["x"].astype(np.float64), data["predictions"]
        results = [("keras layout", forward_keras(config, weights, x))]
        torch_path = os.path.join(directory, f"{name}.torch.safetensors")
        if os.path.exists(torch_path):
            torch_weights = load_file(torch_path)
            for k, v in torch_weights.items():
                if k.endswith("num_batches_tracked"):
                    assert v.dtype == np.int64 and v.shape == (), (k, v.dtype, v.shape)
            tw = {k: v.astype(np.float64) for k, v in torch_weights.items()}
            results.append(("torch layout", forward_torch(config, tw, x)))
        for layout, got in results:
            diff = float(np.max(np.abs(got - expected)))
            ok = got.shape == expected.shape and diff <= tolerance
            failed |= not ok
            print(f"{name} ({layout}): {len(x)} samples, output {got.shape}, max |numpy - kiln| = {diff:.2e} "
                  f"{'ok' if ok else 'FAILED'} (tolerance {tolerance:g})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
