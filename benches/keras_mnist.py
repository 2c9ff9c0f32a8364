"""Keras' side of `cargo bench --bench mnist`: the same models, data and settings, on TF's CPU.

    pip install tensorflow-cpu==2.21.* keras==3.15.*
    KILN_DATA_DIR=../shared/data/mnist python benches/keras_mnist.py [dense|cnn] [EPOCHS] [RUNS] [FIRST_SEED]
    KERAS_BACKEND=jax ...   # pip install "jax[cpu]": Keras on JAX instead of TensorFlow

Each run builds a fresh model (seeds FIRST_SEED, FIRST_SEED + 1, ...; the first is 1 unless
given), trains it for EPOCHS epochs (batch 128, shuffled) and prints the seconds of each epoch
(the first includes TF's graph tracing) and the test accuracy and loss. The last line gives the
median over every epoch of every run, the median test accuracy, the time from the script's
start (before `import keras`) to the end of the first run's first training step, and the
process' peak resident memory; with two epochs or more, a line before it gives the median of
the steady epochs (every epoch but each run's first, which compiles the step).
"""

import time

START = time.perf_counter()

import gzip  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402


def idx(path):
    """Reads one gzipped IDX file (the format of the MNIST files) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory):
    read = lambda name: idx(os.path.join(directory, name))  # noqa: E731
    x_train = read("train-images-idx3-ubyte.gz").astype("float32") / 255.0
    y_train = read("train-labels-idx1-ubyte.gz")
    x_test = read("t10k-images-idx3-ubyte.gz").astype("float32") / 255.0
    y_test = read("t10k-labels-idx1-ubyte.gz")
    return x_train, y_train, x_test, y_test


def model(cnn):
    """kiln's examples/mnist_dense and examples/mnist_cnn, written in Keras."""
    if cnn:
        layers = [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
        optimizer = keras.optimizers.Adam(1e-3)
    else:
        layers = [
            keras.Input((784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
        optimizer = keras.optimizers.RMSprop(1e-3)
    m = keras.Sequential(layers)
    m.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return m


class Clock(keras.callbacks.Callback):
    """Epoch times, and when the first training step ended."""

    def __init__(self):
        super().__init__()
        self.epochs, self.first_step = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.begin = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self.begin)

    def on_train_batch_end(self, batch, logs=None):
        if self.first_step is None:
            self.first_step = time.perf_counter() - START


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    cnn = bool(args) and args[0] == "cnn"
    epochs = int(args[1]) if len(args) > 1 else 1
    runs = int(args[2]) if len(args) > 2 else 3
    first_seed = int(args[3]) if len(args) > 3 else 1
    directory = os.environ.get("KILN_DATA_DIR", "../shared/data/mnist")
    x_train, y_train, x_test, y_test = load(directory)
    shape = (-1, 28, 28, 1) if cnn else (-1, 784)
    x_train, x_test = x_train.reshape(shape), x_test.reshape(shape)
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    print(
        f"model={'cnn' if cnn else 'dense'} epochs={epochs} runs={runs} "
        f"keras={keras.__version__} backend={keras.backend.backend()} "
        f"train={len(x_train)} test={len(x_test)}"
    )
    epoch_times, accuracies, first_steps = [], [], []
    for run in range(first_seed, first_seed + runs):
        keras.utils.set_random_seed(run)
        m, clock = model(cnn), Clock()
        m.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0, callbacks=[clock])
        loss, accuracy = m.evaluate(x_test, y_test, verbose=0)
        epoch_times += clock.epochs
        accuracies.append(accuracy)
        first_steps.append(clock.first_step)
        epoch_list = " ".join(f"{t:.2f}" for t in clock.epochs)
        print(f"run {run}: keras epochs {epoch_list} s, accuracy {accuracy:.4f}, loss {loss:.4f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if epochs > 1:
        steady = [t for i, t in enumerate(epoch_times) if i % epochs != 0]
        print(
            f"steady epochs ({len(steady)}): keras {statistics.median(steady):.3f} s/epoch "
            f"on {keras.backend.backend()}"
        )
    print(
        f"median: keras {statistics.median(epoch_times):.2f} s/epoch "
        f"(min {min(epoch_times):.2f}, max {max(epoch_times):.2f}) "
        f"(accuracy {statistics.median(accuracies):.4f}), "
        f"start to first step {first_steps[0]:.2f} s, peak memory {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
