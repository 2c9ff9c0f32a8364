"""Keras' text_dataset_from_directory on the folder kiln listed, against kiln's files and texts.

    python tests/interop/keras_text_folder.py DIR

`DIR/../kiln.json` holds what kiln made of DIR: {"seed": S, "split": F, "max_length": M,
"class_names": [...], "training": [...], "validation": [...], "full_texts": {path: text},
"texts": [...], "labels": [...]} (paths relative to DIR; texts and labels unshuffled). Keras reads the folder with the same
settings; its files, classes, texts (cut to M characters) and labels must be kiln's. Prints
`text folder ok: ...` and exits with 1 otherwise.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "..", "kiln.json"), encoding="utf-8") as f:
        kiln = json.load(f)
    failures = []
    # text datasets carry no file_paths: the listing and split come from the functions
    # text_dataset_from_directory calls, and the texts of each subset are compared as sets
    from keras.src.utils import dataset_utils

    paths, labels, class_names = dataset_utils.index_directory(
        directory, "inferred", formats=(".txt",), shuffle=True, seed=kiln["seed"], verbose=False
    )
    if class_names != kiln["class_names"]:
        failures.append(f"classes: keras {class_names}, kiln {kiln['class_names']}")
    for subset in ["training", "validation"]:
        files, _ = dataset_utils.get_training_or_validation_split(
            paths, labels, kiln["split"], subset
        )
        files = [os.path.relpath(p, directory) for p in files]
        if files != kiln[subset]:
            failures.append(f"{subset}: keras {files}, kiln {kiln[subset]}")
        ds = keras.utils.text_dataset_from_directory(
            directory,
            validation_split=kiln["split"],
            subset=subset,
            seed=kiln["seed"],
            batch_size=None,
            verbose=False,
        )
        theirs = sorted(t.numpy().decode("utf-8") for t, _ in ds)
        ours = sorted(kiln["full_texts"][f] for f in kiln[subset])
        if theirs != ours:
            failures.append(f"{subset} texts: keras {theirs}, kiln {ours}")
    ds = keras.utils.text_dataset_from_directory(
        directory, shuffle=False, batch_size=None, max_length=kiln["max_length"], verbose=False
    )
    texts, labels = [], []
    for text, label in ds:
        texts.append(text.numpy().decode("utf-8"))
        labels.append(int(label))
    if texts != kiln["texts"]:
        failures.append(f"texts: keras {texts}, kiln {kiln['texts']}")
    if labels != kiln["labels"]:
        failures.append(f"labels: keras {labels}, kiln {kiln['labels']}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"text folder ok: {len(texts)} files, classes {class_names}")


if __name__ == "__main__":
    main()
