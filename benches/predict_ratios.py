"""kiln's `predict` samples per second over each other's, from `benches/versus_keras.sh predict`'s
logs: each file holds lines `model batch samples_per_s`, one per round; the figures compared are
the medians over the rounds.

    python benches/predict_ratios.py LOG_DIR OTHER [OTHER ...]

reads LOG_DIR/kiln and LOG_DIR/OTHER for each OTHER (tensorflow, jax, onnxruntime).
"""

import statistics
import sys


def rates(path):
    """The median samples per second of each (model, batch) in `path`."""
    found = {}
    with open(path) as lines:
        for line in lines:
            fields = line.split()
            if len(fields) == 3 and fields[2].isdigit():
                found.setdefault((fields[0], fields[1]), []).append(float(fields[2]))
    return {key: statistics.median(values) for key, values in found.items()}


def main():
    log, others = sys.argv[1], sys.argv[2:]
    kiln = rates(f"{log}/kiln")
    for other in others:
        for (model, batch), theirs in rates(f"{log}/{other}").items():
            ours = kiln[(model, batch)]
            print(
                f"{model} {other} batch {batch}: kiln {ours:.0f}, {other} {theirs:.0f}, "
                f"ratio {ours / theirs:.2f}"
            )


if __name__ == "__main__":
    main()
