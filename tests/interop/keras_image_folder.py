"""Keras' image_dataset_from_directory on the folder kiln listed, against kiln's files and pixels.

    python tests/interop/keras_image_folder.py DIR OUT

DIR is a folder of class sub-folders. `DIR/../kiln.json` holds what kiln made of it:
{"seed": S, "split": F, "size": [H, W], "training": [...], "validation": [...],
 "class_names": [...], "unshuffled": [...], "labels": [...]} (paths relative to DIR). Keras reads
the folder with the same settings; its training and validation files must be kiln's, in order,
and its class names kiln's. Then, unshuffled and resized to H x W as RGB, every image's pixels
are written to OUT (a safetensors file, `image_<k>` in kiln's unshuffled order) with `labels`,
for the test to compare with kiln's. Prints `image folder ok: ...` and exits with 1 otherwise.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402


def relative(paths, directory):
    return [os.path.relpath(p, directory) for p in paths]


def main():
    directory, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(directory, "..", "kiln.json"), encoding="utf-8") as f:
        kiln = json.load(f)
    size = tuple(kiln["size"])
    failures = []
    for subset in ["training", "validation"]:
        ds = keras.utils.image_dataset_from_directory(
            directory,
            image_size=size,
            validation_split=kiln["split"],
            subset=subset,
            seed=kiln["seed"],
            batch_size=None,
            verbose=False,
        )
        if ds.class_names != kiln["class_names"]:
            failures.append(f"class names: keras {ds.class_names}, kiln {kiln['class_names']}")
        files = relative(ds.file_paths, directory)
        if files != kiln[subset]:
            failures.append(f"{subset}: keras {files}, kiln {kiln[subset]}")
    ds = keras.utils.image_dataset_from_directory(
        directory, image_size=size, shuffle=False, batch_size=None, verbose=False
    )
    files = relative(ds.file_paths, directory)
    if files != kiln["unshuffled"]:
        failures.append(f"unshuffled: keras {files}, kiln {kiln['unshuffled']}")
    tensors = {}
    labels = []
    for k, (image, label) in enumerate(ds):
        tensors[f"image_{k}"] = np.asarray(image, dtype=np.float32)
        labels.append(int(label))
    if labels != kiln["labels"]:
        failures.append(f"labels: keras {labels}, kiln {kiln['labels']}")
    save_file(tensors, out)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"image folder ok: {len(files)} files, classes {ds.class_names}")


if __name__ == "__main__":
    main()
