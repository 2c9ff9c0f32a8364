"""Reads kiln's TensorBoard logs with TensorBoard's own EventAccumulator (and TensorFlow's
TFRecord reader, which checks every CRC) and compares them with what kiln's History says.

Usage: tensorboard_read.py LOG_DIR EXPECTED.json
EXPECTED: {"scalars": {"train": {tag: [[step, value], ...]}, "validation": {...}},
           "histograms": {tag: count}, "summary": "text the summary holds"}
"""
import glob
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402


def records(path):
    """Every record of an event file, read by TensorFlow, which checks both CRCs."""
    return list(tf.compat.v1.io.tf_record_iterator(path))


def check_graph(acc, expected, problems):
    """The `keras` tag's model JSON, turned into a GraphDef by TensorBoard's graph plugin: its
    nodes (without the model's name scope) and their inputs are the graph's."""
    from tensorboard.plugins.graph import keras_util

    event = acc.Tensors("keras")[0]
    config = json.loads(tf.make_ndarray(event.tensor_proto).item().decode())
    graph = keras_util.keras_model_to_graph_def(config)
    scope = config["config"]["name"] + "/"
    got = {n.name.removeprefix(scope): [i.removeprefix(scope) for i in n.input] for n in graph.node}
    if got != expected:
        problems.append(f"graph {got}, expected {expected}")
    else:
        print(f"graph ok: {len(got)} nodes, {sum(len(v) for v in got.values())} edges")
    # the op graph (the run's GraphDef), a node per layer, the same edges
    ops = acc.Graph()
    got = {n.name: list(n.input) for n in ops.node}
    if got != expected:
        problems.append(f"op graph {got}, expected {expected}")
    else:
        print(f"op graph ok: {len(got)} nodes")


def main():
    log_dir, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    problems = []
    files = sorted(glob.glob(os.path.join(log_dir, "*", "events.out.tfevents.*")))
    count = sum(len(records(path)) for path in files)
    print(f"{len(files)} event files, {count} records, every CRC checked")
    # the check can fail: one flipped byte is a CRC error
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, os.path.basename(files[0]))
        shutil.copy(files[0], bad)
        with open(bad, "r+b") as f:
            f.seek(20)
            byte = f.read(1)
            f.seek(20)
            f.write(bytes([byte[0] ^ 0xFF]))
        try:
            records(bad)
            problems.append("a corrupted file read without a CRC error")
        except tf.errors.DataLossError:
            pass
    guidance = {event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0,
                event_accumulator.TENSORS: 0}
    for run, tags in expected["scalars"].items():
        acc = event_accumulator.EventAccumulator(os.path.join(log_dir, run), size_guidance=guidance)
        acc.Reload()
        have = acc.Tags()["scalars"]
        for tag, points in tags.items():
            if tag not in have:
                problems.append(f"{run}: no scalar {tag} (has {sorted(have)})")
                continue
            got = [(e.step, e.value) for e in acc.Scalars(tag)]
            if [s for s, _ in got] != [s for s, _ in points]:
                problems.append(f"{run}/{tag}: steps {[s for s, _ in got]}, expected {[s for s, _ in points]}")
                continue
            worst = max(abs(v - w) / max(abs(w), 1e-6) for (_, v), (_, w) in zip(got, points))
            if worst > 1e-6:
                problems.append(f"{run}/{tag}: values {got}, expected {points}")
        print(f"{run}: {len(tags)} scalar tags as expected ({sorted(tags)[:4]}...)")
        if run == "train":
            histograms = acc.Tags()["histograms"]
            for tag, n in expected["histograms"].items():
                if tag not in histograms:
                    problems.append(f"no histogram {tag} (has {histograms})")
                    continue
                for event in acc.Histograms(tag):
                    if event.histogram_value.num != n:
                        problems.append(f"{tag}: {event.histogram_value.num} values, expected {n}")
            print(f"histograms: {sorted(expected['histograms'])}")
            texts = acc.Tensors("model_summary")
            text = tf.make_ndarray(texts[0].tensor_proto).item().decode()
            if expected["summary"] not in text:
                problems.append(f"the summary text lacks {expected['summary']!r}: {text}")
            print(f"model_summary: {len(text.splitlines())} lines")
            if "graph" in expected:
                check_graph(acc, expected["graph"], problems)
    steps = expected.get("steps", {})
    train = event_accumulator.EventAccumulator(os.path.join(log_dir, "train"), size_guidance=guidance)
    train.Reload()

    def check_steps(acc, key, tag, label):
        """The steps of scalar `tag` against the expected `steps[key]`, when given."""
        if key not in steps:
            return
        got = [e.step for e in acc.Scalars(tag)]
        if got != steps[key]:
            problems.append(f"{tag} steps {got} (all files), expected {steps[key]}")
        else:
            print(f"{label} steps ok: {len(got)}, {got[0]} to {got[-1]}")

    check_steps(train, "batch", "batch_loss", "batch_loss")
    check_steps(train, "epoch", "epoch_loss", "epoch")
    for tag, points in steps.get("last_epochs", {}).items():
        got = {e.step: e.value for e in train.Scalars(tag)}
        for step, value in points:
            if abs(got.get(step, float("nan")) - value) > 1e-6 * max(abs(value), 1e-6):
                problems.append(f"{tag} at {step}: {got.get(step)}, expected {value}")
    if "evaluation" in steps:
        val = event_accumulator.EventAccumulator(
            os.path.join(log_dir, "validation"), size_guidance=guidance)
        val.Reload()
        check_steps(val, "evaluation", "evaluation_loss_vs_iterations", "evaluation")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("tensorboard ok")


if __name__ == "__main__":
    main()
