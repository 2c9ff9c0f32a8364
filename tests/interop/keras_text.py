"""Keras' TextVectorization on the texts kiln wrote, against kiln's vocabulary and ids.

    python tests/interop/keras_text.py DIR

DIR holds `texts.json` ({"train": [...], "test": [...], "max_tokens": N, "length": L}), the
texts kiln adapted its TextVectorization to and vectorized, and `kiln.json`
({"vocabulary": [...], "ids": [[...], ...]}), what kiln made of them. Keras adapts a
TextVectorization with the same settings to the same training texts; its vocabulary must be
kiln's, token for token, and its ids of the test texts kiln's, id for id. Prints `text ok: ...`
and exits with 1 otherwise.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "texts.json"), encoding="utf-8") as f:
        texts = json.load(f)
    with open(os.path.join(directory, "kiln.json"), encoding="utf-8") as f:
        kiln = json.load(f)
    tv = keras.layers.TextVectorization(
        max_tokens=texts["max_tokens"], output_sequence_length=texts["length"]
    )
    tv.adapt(texts["train"])
    vocabulary = tv.get_vocabulary()
    ids = tv(np.array(texts["test"])).numpy()
    problems = []
    if vocabulary != kiln["vocabulary"]:
        first = next(
            (i for i, (a, b) in enumerate(zip(vocabulary, kiln["vocabulary"])) if a != b),
            min(len(vocabulary), len(kiln["vocabulary"])),
        )
        problems.append(
            f"vocabularies differ from id {first}: Keras {vocabulary[first:first + 5]}, "
            f"kiln {kiln['vocabulary'][first:first + 5]} (sizes {len(vocabulary)}, "
            f"{len(kiln['vocabulary'])})"
        )
    differ = int(np.sum(ids != np.array(kiln["ids"])))
    if differ:
        problems.append(f"{differ} ids of the test texts differ")
    if problems:
        print("text differs: " + "; ".join(problems))
        sys.exit(1)
    print(
        f"text ok: the same {len(vocabulary)} tokens, in the same order, and the same "
        f"{ids.size} ids of {len(ids)} test texts"
    )


if __name__ == "__main__":
    main()
