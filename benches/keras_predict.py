"""The other side of `cargo bench --bench predict`: the same dense and CNN MNIST models, one
batch of 1, 32 and 500 samples at a time, in Keras (the backend `KERAS_BACKEND` names) or in
onnxruntime on the ONNX files kiln exported.

    pip install tensorflow-cpu==2.21.* keras==3.15.* "jax[cpu]" onnxruntime
    KERAS_BACKEND=tensorflow python benches/keras_predict.py [SECONDS]
    KERAS_BACKEND=jax python benches/keras_predict.py [SECONDS]
    python benches/keras_predict.py [SECONDS] --onnx target/bench-onnx

The ONNX files are the ones `cargo bench --bench predict` writes (`dense.onnx`, `cnn.onnx`).
Each figure is samples per second, the median of 5 timed slices of SECONDS / 5 (default 5 s
per batch size), after 3 calls to warm up (Keras on JAX compiles each batch size once):
Keras' `predict_on_batch`, onnxruntime's `InferenceSession.run`. The lines have the format of
the Rust bench: `model batch samples_per_s`.
"""

import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLE = {"dense": (784,), "cnn": (28, 28, 1)}


def keras_model(name):
    """models/mnist_dense.json and models/mnist_cnn.json: `benches/keras_mnist.py`'s models."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from keras_mnist import model

    return model(name == "cnn").predict_on_batch


def onnx_model(directory, name):
    import onnxruntime as ort

    session = ort.InferenceSession(os.path.join(directory, f"{name}.onnx"))
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x})


def rate(run, x, seconds):
    """Samples per second: the median of 5 slices of `seconds / 5`."""
    for _ in range(3):
        run(x)
    rates = []
    for _ in range(5):
        start, samples = time.perf_counter(), 0
        while time.perf_counter() - start < seconds / 5:
            run(x)
            samples += len(x)
        rates.append(samples / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    args = sys.argv[1:]
    onnx_dir = None
    if "--onnx" in args:
        i = args.index("--onnx")
        onnx_dir = args[i + 1]
        del args[i : i + 2]
    seconds = float(args[0]) if args else 5.0
    if onnx_dir:
        import onnxruntime

        print(f"onnxruntime {onnxruntime.__version__}, files from {onnx_dir}")
    else:
        import keras

        print(f"keras {keras.__version__} on {keras.backend.backend()}")
    print("model batch samples_per_s")
    for name in ["dense", "cnn"]:
        run = onnx_model(onnx_dir, name) if onnx_dir else keras_model(name)
        for batch in [1, 32, 500]:
            n = batch * int(np.prod(SAMPLE[name]))
            x = ((np.arange(n) % 255) / 255.0).astype(np.float32).reshape((batch,) + SAMPLE[name])
            print(f"{name} {batch} {rate(run, x, seconds):.0f}", flush=True)


if __name__ == "__main__":
    main()
