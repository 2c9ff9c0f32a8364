"""Writes `.keras` files with Keras 3 for kiln to import, and what Keras predicts with them.

  keras_files.py DIR

DIR/data.safetensors holds MNIST samples kiln wrote: `x_train` ([n, 28, 28, 1] in [0, 1]),
`y_train` (one-hot), `x_test`, `y_test`. For each case NAME the script builds a model in Keras
(not from a kiln file), trains it briefly so that every weight and moving statistic has moved
from its start, saves DIR/NAME.keras with `model.save`, and writes DIR/NAME.io.safetensors:
the inputs it predicts on (`x0`, `x1`, ...) and Keras' predictions (`p0`, `p1`, ... one per
output). For `mnist_cnn` it also writes `accuracy` (Keras' test accuracy on `x_test`) and its
weights alone, DIR/mnist_cnn.weights.h5 (`model.save_weights`).

Two cases carry state Keras keeps outside the layers' weights: `preprocessing` a Normalization
adapted in place (its mean, variance and count are variables in the weights file), and
`vectorized` a TextVectorization adapted on sentences (its vocabulary is an asset of the
archive) reading an input of strings; that case's test sentences go to DIR/vectorized.json
(its `x0` is empty).

The cases cover the three MNIST reference models and one model per layer family kiln has.
It prints `NAME saved` for each.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
L = layers


def mnist_dense():
    return keras.Sequential(
        [
            keras.Input((784,)),
            L.Dense(512, activation="relu"),
            L.Dropout(0.2),
            L.Dense(10, activation="softmax"),
        ],
        name="mnist_dense",
    )


def mnist_cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ],
        name="mnist_cnn",
    )


def mnist_resnet():
    image = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(32, 3, activation="relu")(image)
    x = L.MaxPooling2D()(x)
    y = L.Conv2D(32, 3, padding="same", use_bias=False)(x)
    y = L.BatchNormalization()(y)
    y = L.Activation("relu")(y)
    y = L.Conv2D(32, 3, padding="same", use_bias=False)(y)
    y = L.BatchNormalization()(y)
    x = L.Activation("relu")(L.Add()([x, y]))
    x = L.MaxPooling2D()(x)
    x = L.Dropout(0.5)(L.Flatten()(x))
    return keras.Model(image, L.Dense(10, activation="softmax")(x), name="mnist_resnet")


def convolutions():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(8, 5, strides=2, padding="same", activation="tanh"),
            L.AveragePooling2D(pool_size=3, strides=1, padding="same"),
            L.Conv2D(8, (3, 2), dilation_rate=(1, 2), activation="relu", use_bias=False),
            L.MaxPooling2D(pool_size=(2, 3), strides=(1, 2)),
            L.BatchNormalization(momentum=0.9, epsilon=1e-4),
            L.GlobalMaxPooling2D(),
            L.Reshape((4, 2)),
            L.LayerNormalization(),
            L.Flatten(),
            L.Activation("gelu"),
            L.Dense(10, activation="softmax"),
        ],
        name="convolutions",
    )


def merges():
    a = keras.Input((28, 28, 1), name="left")
    b = keras.Input((28, 28, 1), name="right")
    shared = L.Dense(16, activation="relu", name="shared")
    fa = shared(L.Flatten()(a))
    fb = shared(L.Flatten()(b))
    pooled = L.GlobalAveragePooling2D()(L.Conv2D(16, 3)(b))
    joined = L.Concatenate()([fa, fb, pooled])
    mixed = [
        L.Add()([fa, fb, pooled]),
        L.Subtract()([fa, fb]),
        L.Multiply()([fa, pooled]),
        L.Average()([fa, fb]),
        L.Maximum()([fa, pooled]),
        L.Minimum()([fb, pooled]),
    ]
    both = L.Concatenate(axis=1)([joined] + mixed)
    digit = L.Dense(10, activation="softmax", name="digit")(both)
    score = L.Dense(1, activation="sigmoid", name="score")(L.LayerNormalization()(both))
    return keras.Model([a, b], [digit, score], name="merges")


def nested():
    encoder = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten()],
        name="encoder",
    )
    inner_in = keras.Input((2704,))
    head = keras.Model(inner_in, L.Dense(10, activation="softmax")(L.Dense(16)(inner_in)), name="head")
    image = keras.Input((28, 28, 1))
    return keras.Model(image, head(encoder(image)), name="nested")


def sequences():
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            L.Conv1D(8, 3, padding="same", activation="relu"),
            L.MaxPooling1D(2),
            L.LSTM(12, return_sequences=True),
            L.GRU(8, return_sequences=True),
            L.SimpleRNN(6, return_sequences=True),
            L.TimeDistributed(L.Dense(4)),
            L.AveragePooling1D(2),
            L.GlobalAveragePooling1D(),
            L.Dense(10, activation="softmax"),
        ],
        name="sequences",
    )


def text():
    return keras.Sequential(
        [
            keras.Input((20,)),
            L.Embedding(10, 8, mask_zero=True),
            L.Bidirectional(L.LSTM(6, return_sequences=True)),
            L.Bidirectional(L.GRU(5, reset_after=False), merge_mode="sum"),
            L.Dense(10, activation="softmax"),
        ],
        name="text",
    )


def preprocessing(columns):
    norm = L.Normalization()
    norm.adapt(columns)
    return keras.Sequential(
        [
            keras.Input((columns.shape[1],)),
            norm,
            L.Dense(32, activation="relu"),
            L.Dense(10, activation="softmax"),
        ],
        name="preprocessing",
    )


def vectorized(texts):
    vectorize = L.TextVectorization(max_tokens=14, output_sequence_length=8)
    vectorize.adapt(texts)
    return keras.Sequential(
        [
            keras.Input((1,), dtype="string"),
            vectorize,
            L.Embedding(14, 8),
            L.GlobalAveragePooling1D(),
            L.Dense(10, activation="softmax"),
        ],
        name="vectorized",
    )


WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def sentences(labels, seed):
    """A sentence per label, in mixed case with punctuation, naming the digit among others."""
    r = np.random.default_rng(seed)
    out = []
    for label in labels:
        other = WORDS[r.integers(10)]
        filler = ["Surely", "maybe", "NOT", "it's", "the", "Digit"][r.integers(6)]
        out.append(f"{filler}: the digit is {WORDS[label].upper()}! Or {other}, {filler}?")
    return out


def save(name, model, inputs, predictions, extra=None):
    model.save(os.path.join(out, f"{name}.keras"))
    tensors = {f"x{i}": np.ascontiguousarray(x, np.float32) for i, x in enumerate(inputs)}
    if not isinstance(predictions, list):
        predictions = [predictions]
    for i, p in enumerate(predictions):
        tensors[f"p{i}"] = np.ascontiguousarray(p, np.float32)
    tensors.update(extra or {})
    save_file(tensors, os.path.join(out, f"{name}.io.safetensors"))
    print(f"{name} saved")


out = sys.argv[1]
data = load_file(os.path.join(out, "data.safetensors"))
x, y = data["x_train"], data["y_train"]
x_test, y_test = data["x_test"], data["y_test"]
flat, flat_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)
seq, seq_test = x[..., 0], x_test[..., 0]
ids = np.floor(x[:, 14, 4:24, 0] * 9.99).astype(np.float32)
ids_test = np.floor(x_test[:, 14, 4:24, 0] * 9.99).astype(np.float32)
score = (y.argmax(1) % 2).astype(np.float32)[:, None]
columns, columns_test = x[:, :, 4:24, 0].mean(1), x_test[:, :, 4:24, 0].mean(1)
texts = tf.constant(sentences(y.argmax(1), 1))[:, None]  # Keras takes no numpy strings
texts_test = sentences(y_test.argmax(1), 2)
with open(os.path.join(out, "vectorized.json"), "w") as f:
    json.dump(texts_test, f)

cases = [
    ("mnist_dense", mnist_dense, [flat], y, [flat_test]),
    ("mnist_cnn", mnist_cnn, [x], y, [x_test]),
    ("mnist_resnet", mnist_resnet, [x], y, [x_test]),
    ("convolutions", convolutions, [x], y, [x_test]),
    ("merges", merges, [x, x[::-1]], [y, score], [x_test, x_test[::-1]]),
    ("nested", nested, [x], y, [x_test]),
    ("sequences", sequences, [seq], y, [seq_test]),
    ("text", text, [ids], y, [ids_test]),
    ("preprocessing", lambda: preprocessing(columns), [columns], y, [columns_test]),
    ("vectorized", lambda: vectorized(texts[:, 0]), [texts], y, [tf.constant(texts_test)[:, None]]),
]
for name, build, inputs, targets, test_inputs in cases:
    model = build()
    losses = "categorical_crossentropy"
    if name == "merges":
        losses = ["categorical_crossentropy", "binary_crossentropy"]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=losses, metrics=None)
    x_fit = inputs if len(inputs) > 1 else inputs[0]
    model.fit(x_fit, targets, epochs=2, batch_size=64, verbose=0)
    x_pred = test_inputs if len(test_inputs) > 1 else test_inputs[0]
    predictions = model.predict(x_pred, verbose=0)
    extra = None
    if name == "mnist_cnn":
        accuracy = float((predictions.argmax(1) == y_test.argmax(1)).mean())
        extra = {"accuracy": np.array([accuracy], np.float32)}
        model.save_weights(os.path.join(out, f"{name}.weights.h5"))
    if name == "vectorized":
        test_inputs = [np.zeros((0,), np.float32)]
    save(name, model, test_inputs, predictions, extra)
