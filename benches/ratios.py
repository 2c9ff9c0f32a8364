"""kiln's figures over each other's, from the logs `benches/versus_keras.sh` writes as it
alternates kiln with Keras (and onnxruntime) in rounds.

    python benches/ratios.py predict LOG_DIR OTHER [OTHER ...]
    python benches/ratios.py epochs LOG_DIR OTHER [OTHER ...]

reads LOG_DIR/kiln and LOG_DIR/OTHER for each OTHER (tensorflow, jax, onnxruntime).

`predict`: each file holds lines `model batch samples_per_s`, one per round; the figures
compared are each side's median over the rounds.

`epochs`: LOG_DIR/kiln holds `cargo bench --bench mnist`'s lines (`run 1: kiln 1.2 s/epoch
(...; epochs 1.3 1.2 1.1), ...`, and the same for `burn`), the others `benches/keras_mnist.py`'s
(`run 1: keras epochs 1.3 1.2 1.1 s, ...`); the figure compared is the median of every run's
epochs but its first (the steady epochs).
"""

import re
import statistics
import sys


def predict_rates(path):
    """The median samples per second of each (model, batch) in `path`."""
    found = {}
    with open(path) as lines:
        for line in lines:
            fields = line.split()
            if len(fields) == 3 and fields[2].isdigit():
                found.setdefault((fields[0], fields[1]), []).append(float(fields[2]))
    return {key: statistics.median(values) for key, values in found.items()}


def predict(log, others):
    kiln = predict_rates(f"{log}/kiln")
    for other in others:
        for (model, batch), theirs in predict_rates(f"{log}/{other}").items():
            ours = kiln[(model, batch)]
            print(
                f"{model} {other} batch {batch}: kiln {ours:.0f}, {other} {theirs:.0f}, "
                f"ratio {ours / theirs:.2f}"
            )


RUN = re.compile(r"^run \d+: (\w+) .*?epochs ((?:[0-9.]+ ?)+)")


def steady_epochs(path):
    """The median steady epoch of each trainer (kiln, burn, keras) in `path`, with their count."""
    found = {}
    with open(path) as lines:
        for line in lines:
            match = RUN.match(line)
            if match:
                epochs = [float(t) for t in match.group(2).split()]
                found.setdefault(match.group(1), []).extend(epochs[1:])
    return {name: (statistics.median(t), len(t)) for name, t in found.items() if t}


def epochs(log, others):
    kiln = steady_epochs(f"{log}/kiln")
    ours, count = kiln["kiln"]
    line = f"steady epochs (median of {count}): kiln {ours:.3f} s"
    if "burn" in kiln:
        line += f", raw Burn {kiln['burn'][0]:.3f} s (kiln / Burn {ours / kiln['burn'][0]:.2f})"
    print(line)
    for other in others:
        theirs, count = steady_epochs(f"{log}/{other}")["keras"]
        print(f"  Keras on {other} {theirs:.3f} s (median of {count}): kiln / Keras {ours / theirs:.2f}")


def main():
    mode, log, others = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"predict": predict, "epochs": epochs}[mode](log, others)


if __name__ == "__main__":
    main()
