"""Keras' side of the sequence examples: the same data, split, models and settings on TF's CPU.

    pip install tensorflow-cpu==2.21.* keras==3.15.*
    python benches/keras_sequence.py [bilstm|bigru|conv|weather|weather_gru] [SEEDS] [SHARED_DATA_DIR] [FIRST_SEED]

For each of SEEDS seeds from FIRST_SEED (default 1) it builds a fresh model, trains it as `examples/spam_classifier.rs`
(`--model conv`) or `examples/weather_forecast.rs` do (batch 32, shuffled; 3 epochs for the
spam models, 20 for the weather ones; the `gru` kinds put `GRU(32)` where the others have
`LSTM(32)`) and prints the seconds of each epoch (the first includes
TF's graph tracing) and the test score: accuracy for spam, the mean absolute error in °C for the
weather. The last line gives the medians over the seeds and over every epoch after the first.
The data and split are those of `../shared/data/*/README.md`, read as kiln's loaders read them.
"""

import csv
import gzip
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

L = keras.layers


def spam(directory):
    """(train texts, train labels, test texts, test labels): test = ids that are multiples of 5."""
    csv.field_size_limit(1 << 30)
    parts = {True: ([], []), False: ([], [])}
    with gzip.open(os.path.join(directory, "spam_assassin.csv.gz"), "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            texts, labels = parts[int(row["id"]) % 5 == 0]
            texts.append(row["subject"] + "\n" + row["body"])
            labels.append(float(row["label"]))
    (tr_x, tr_y), (te_x, te_y) = parts[False], parts[True]
    return tr_x, np.array(tr_y, "float32"), te_x, np.array(te_y, "float32")


def weather(directory):
    """The forecasting task: 14-day windows of 4 normalized columns, train 2012-2014, test 2015."""
    with open(os.path.join(directory, "seattle-weather.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    cols = ["precipitation", "temp_max", "temp_min", "wind"]
    values = np.array([[float(r[c]) for c in cols] for r in rows], "float32")
    train_days, lookback = 1096, 14
    mean, std = values[:train_days].mean(0), values[:train_days].std(0)
    norm = (values - mean) / std

    def windows(targets):
        x = np.stack([norm[t - lookback : t] for t in targets])
        return x, norm[list(targets), 1:2]

    x_train, y_train = windows(range(lookback, train_days))
    x_test, y_test = windows(range(train_days, len(values)))
    return x_train, y_train, x_test, y_test, float(std[1])


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "bilstm"
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    shared = sys.argv[3] if len(sys.argv) > 3 else "../shared/data"
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {kind}")
    weather_task = kind.startswith("weather")
    recurrent = L.GRU if kind.endswith("gru") else L.LSTM
    if weather_task:
        x_train, y_train, x_test, y_test, scale = weather(os.path.join(shared, "seattle_weather"))
        persistence = float(np.mean(np.abs(x_test[:, -1, 1:2] - y_test))) * scale
        print(f"persistence_mae_c={persistence:.4f}")
    else:
        tr_x, y_train, te_x, y_test = spam(os.path.join(shared, "spam_assassin"))
    scores, epochs = [], []
    for seed in range(first, first + seeds):
        keras.utils.set_random_seed(seed)
        if weather_task:
            model = keras.Sequential([keras.Input((14, 4)), recurrent(32), L.Dense(1)])
            model.compile(keras.optimizers.Adam(1e-3), "mse", metrics=["mae"])
            n_epochs = 20
        else:
            tv = L.TextVectorization(max_tokens=20000, output_sequence_length=200)
            tv.adapt(tr_x)
            x_train, x_test = np.asarray(tv(np.array(tr_x))), np.asarray(tv(np.array(te_x)))
            if kind != "conv":
                body = [L.Embedding(20000, 64), L.Bidirectional(recurrent(32))]
            else:
                body = [
                    L.Embedding(20000, 128),
                    L.Dropout(0.5),
                    L.Conv1D(128, 7, strides=3, activation="relu"),
                    L.Conv1D(128, 7, strides=3, activation="relu"),
                    L.GlobalMaxPooling1D(),
                    L.Dense(128, activation="relu"),
                    L.Dropout(0.5),
                ]
            model = keras.Sequential([keras.Input((200,))] + body + [L.Dense(1, activation="sigmoid")])
            model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
            n_epochs = 3
        timer = EpochTimes()
        model.fit(x_train, y_train, batch_size=32, epochs=n_epochs, verbose=0, callbacks=[timer])
        result = model.evaluate(x_test, y_test, verbose=0)
        score = result[1] * (scale if weather_task else 1.0)
        scores.append(score)
        epochs.extend(timer.times[1:])
        name = "test_mae_c" if weather_task else "test_accuracy"
        print(f"seed {seed}: epochs {[round(t, 4) for t in timer.times]} s, {name}={score:.4f}")
    print(
        f"median: score {statistics.median(scores):.4f}, "
        f"epoch {statistics.median(epochs):.4f} s (after the first)"
    )


if __name__ == "__main__":
    main()
