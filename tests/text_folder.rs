//! `TextFolder`: Keras' `text_dataset_from_directory`, checked against Keras (files, split,
//! texts, labels), and trained from.

mod python;

use kiln::data::{LabelMode, Subset, TextFolder};
use kiln::prelude::*;
use std::path::{Path, PathBuf};

/// Two classes of short reviews, 30 each, with a nested folder, a non-text file and a text
/// longer than the cut.
fn reviews(root: &Path) -> PathBuf {
    let dir = root.join("reviews");
    let _ = std::fs::remove_dir_all(&dir);
    let words = [
        ("neg", ["awful", "boring", "dull"]),
        ("pos", ["great", "lovely", "superb"]),
    ];
    for (class, adjectives) in words {
        for k in 0..30 {
            let sub = if k % 10 == 9 {
                dir.join(class).join("more")
            } else {
                dir.join(class)
            };
            std::fs::create_dir_all(&sub).unwrap();
            let text = format!(
                "review {k}: a {} film, truly {}. Ünïcode ✓",
                adjectives[k % 3],
                adjectives[(k + 1) % 3]
            );
            std::fs::write(sub.join(format!("r{k:02}.txt")), text).unwrap();
        }
        std::fs::write(dir.join(class).join("notes.md"), "not a sample").unwrap();
    }
    dir
}

fn root(test: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("kiln-texts-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn relative(paths: &[PathBuf], dir: &Path) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_same_files_split_and_texts_as_keras() {
    let Some(python) = python::interpreter(
        "KILN_KERAS_PYTHON",
        "keras, tensorflow",
        "KILN_REQUIRE_KERAS",
    ) else {
        return;
    };
    let root = root("keras");
    let dir = reviews(&root);
    let (seed, split, max_length) = (7u32, 0.25, 24);
    let subset = |s| {
        TextFolder::new(&dir)
            .validation_split(split, s)
            .seed(seed)
            .load()
            .unwrap()
    };
    let (training, validation) = (subset(Subset::Training), subset(Subset::Validation));
    let plain = TextFolder::new(&dir)
        .shuffle(false)
        .max_length(max_length)
        .load()
        .unwrap();
    let texts: Vec<String> = plain
        .read_all()
        .unwrap()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let full: serde_json::Map<String, serde_json::Value> = TextFolder::new(&dir)
        .shuffle(false)
        .load()
        .unwrap()
        .read_all()
        .unwrap()
        .into_iter()
        .zip(relative(&plain.file_paths, &dir))
        .map(|((text, _), path)| (path, text.into()))
        .collect();
    let kiln = serde_json::json!({
        "seed": seed, "split": split, "max_length": max_length,
        "class_names": training.class_names,
        "training": relative(&training.file_paths, &dir),
        "validation": relative(&validation.file_paths, &dir),
        "full_texts": full,
        "texts": texts, "labels": plain.labels,
    });
    std::fs::write(root.join("kiln.json"), kiln.to_string()).unwrap();
    python::run(
        &python,
        "tests/interop/keras_text_folder.py",
        &[dir.to_str().unwrap()],
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_text_folder_trains_a_classifier() {
    let root = root("train");
    let dir = reviews(&root);
    let train = TextFolder::new(&dir)
        .label_mode(LabelMode::Binary)
        .seed(1)
        .load()
        .unwrap();
    assert_eq!(train.class_names, ["neg", "pos"]);
    assert_eq!(train.file_paths.len(), 60);
    let mut vectorizer = TextVectorization::new()
        .max_tokens(50)
        .output_sequence_length(8);
    let all = train.read_all().unwrap();
    vectorizer.adapt(all.iter().map(|(t, _)| t));
    let batches = train.vectorized(&vectorizer, 8);
    assert_eq!(batches.len(), Some(8));
    kiln::set_random_seed(3);
    let mut model = Sequential::new()
        .input([8])
        .add(Embedding::new(50, 8))
        .add(GlobalAveragePooling1D::new())
        .add(Dense::new(1).activation(Sigmoid))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::adam(0.05),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model
        .fit_dataset(&batches, FitOptions::default().epochs(20).verbose(0))
        .unwrap();
    let scores = model
        .evaluate_dataset(&batches, EvalOptions::default().verbose(0))
        .unwrap();
    assert_eq!(scores.get("accuracy"), Some(1.0), "{scores}");

    // a binary folder needs two classes; an unreadable file is an error naming it
    let three = dir.join("neg").join("more");
    let e = TextFolder::new(&dir)
        .class_names(vec!["neg".into(), "pos".into(), "neg/more".into()])
        .label_mode(LabelMode::Binary)
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly 2 classes"), "{e}");
    std::fs::write(three.join("huge.txt"), vec![b'a'; (64 << 20) + 1]).unwrap();
    let e = TextFolder::new(&dir)
        .shuffle(false)
        .load()
        .unwrap()
        .read_all()
        .unwrap_err()
        .to_string();
    assert!(e.contains("huge.txt") && e.contains("64 MiB"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}
