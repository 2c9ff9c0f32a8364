//! `ImageFolder`: Keras' `image_dataset_from_directory`, checked against Keras itself (files,
//! split, order, pixels) and on hostile folders.

mod python;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use kiln::data::{Batch, ColorMode, ImageFolder, LabelMode, Subset};
use std::path::{Path, PathBuf};

fn temp(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-images-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `w` × `h` RGB image whose pixels follow from `seed`.
fn picture(w: u32, h: u32, seed: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        let v = |k: u32| ((x * 37 + y * 101 + seed * 53 + k * 71) % 256) as u8;
        Rgb([v(0), v(1), v(2)])
    }))
}

fn save(image: &DynamicImage, path: &Path, format: ImageFormat) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save_with_format(path, format).unwrap();
}

/// Three classes of images of several sizes and formats, with the things a folder also holds:
/// a hidden folder, a nested one, an upper-case extension, a text file.
fn zoo(dir: &Path) -> Vec<PathBuf> {
    let mut written = Vec::new();
    let mut put = |rel: &str, w: u32, h: u32, format: ImageFormat| {
        let path = dir.join(rel);
        save(&picture(w, h, written.len() as u32), &path, format);
        written.push(path);
    };
    for k in 0..7 {
        put(&format!("cat/c{k}.png"), 9 + k, 6, ImageFormat::Png);
    }
    put("cat/nested/deep.png", 4, 4, ImageFormat::Png);
    put("cat/UPPER.PNG", 8, 8, ImageFormat::Png);
    for k in 0..5 {
        put(&format!("dog/d{k}.bmp"), 5, 7 + k, ImageFormat::Bmp);
    }
    for k in 0..4 {
        put(&format!("eel/e{k}.jpg"), 16, 16, ImageFormat::Jpeg);
    }
    put(".hidden/h.png", 3, 3, ImageFormat::Png);
    std::fs::write(dir.join("dog/notes.txt"), "not an image").unwrap();
    written
}

fn relative(paths: &[PathBuf], dir: &Path) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn batches(d: &kiln::data::Dataset<Batch>) -> Vec<Batch> {
    d.pass(0).collect::<kiln::Result<_>>().unwrap()
}

#[test]
fn classes_files_labels_and_shapes() {
    let dir = temp("zoo");
    zoo(&dir);
    let read = ImageFolder::new(&dir)
        .image_size(6, 5)
        .shuffle(false)
        .batch_size(4)
        .load()
        .unwrap();
    assert_eq!(read.class_names, ["cat", "dog", "eel"]);
    let files = relative(&read.file_paths, &dir);
    // folders by path, files by name: `UPPER.PNG` sorts before `c0.png`, `nested/` after
    assert_eq!(files[0], "cat/UPPER.PNG");
    assert_eq!(files[8], "cat/nested/deep.png");
    assert_eq!(files.len(), 9 + 5 + 4);
    assert!(
        !files
            .iter()
            .any(|f| f.contains("hidden") || f.ends_with(".txt"))
    );
    assert_eq!(read.labels[..10], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let all = batches(&read.dataset);
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].x[0].shape(), &[4, 6, 5, 3]);
    assert_eq!(all[4].x[0].shape(), &[2, 6, 5, 3]);
    assert_eq!(all[4].y[0].shape(), &[2]);
    assert_eq!(all[4].y[0].values(), &[2.0, 2.0]);

    let categorical = ImageFolder::new(&dir)
        .image_size(4, 4)
        .color_mode(ColorMode::Grayscale)
        .label_mode(LabelMode::Categorical)
        .shuffle(false)
        .load()
        .unwrap();
    let b = &batches(&categorical.dataset)[0];
    assert_eq!(b.x[0].shape(), &[18, 4, 4, 1]);
    assert_eq!(b.y[0].shape(), &[18, 3]);
    assert_eq!(&b.y[0].values()[27..30], &[0.0, 1.0, 0.0]);
    let unlabelled = ImageFolder::new(&dir)
        .class_names(vec!["eel".into(), "dog".into()])
        .image_size(2, 2)
        .label_mode(LabelMode::None)
        .color_mode(ColorMode::Rgba)
        .load()
        .unwrap();
    let b = &batches(&unlabelled.dataset)[0];
    assert_eq!((b.x[0].shape(), b.y.len()), (&[9, 2, 2, 4][..], 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_and_files_that_cannot_work_are_errors_naming_them() {
    let dir = temp("bad");
    zoo(&dir);
    let e = |f: ImageFolder| f.load().unwrap_err().to_string();
    let msg = e(ImageFolder::new(&dir).validation_split(0.2, Subset::Training));
    assert!(msg.contains("seed"), "{msg}");
    let msg = e(ImageFolder::new(&dir).label_mode(LabelMode::Binary));
    assert!(msg.contains("exactly 2 classes"), "{msg}");
    let msg = e(ImageFolder::new(&dir)
        .seed(1)
        .validation_split(1.5, Subset::Training));
    assert!(msg.contains("1.5"), "{msg}");
    let msg = e(ImageFolder::new(&dir).image_size(0, 4));
    assert!(msg.contains("image_size"), "{msg}");
    let msg = e(ImageFolder::new(&dir).class_names(vec!["cow".into()]));
    assert!(msg.contains("cow"), "{msg}");
    let msg = e(ImageFolder::new(dir.join("cat/nested")));
    assert!(msg.contains("no class sub-folders"), "{msg}");
    let msg = e(ImageFolder::new(dir.join("missing")));
    assert!(msg.contains("missing"), "{msg}");

    // a damaged image is an error naming its file when the dataset reaches it
    std::fs::write(dir.join("dog/d2.bmp"), b"BM not really").unwrap();
    let read = ImageFolder::new(&dir)
        .shuffle(false)
        .batch_size(4)
        .load()
        .unwrap();
    let failure = read
        .dataset
        .pass(0)
        .find_map(|b| b.err())
        .unwrap()
        .to_string();
    assert!(failure.contains("d2.bmp"), "{failure}");
    // a PNG whose header claims 100,000 × 100,000 pixels is refused before decoding
    let mut png = Vec::new();
    picture(2, 2, 0)
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    std::fs::write(dir.join("eel/e0.jpg"), &png).unwrap();
    std::fs::remove_file(dir.join("dog/d2.bmp")).unwrap();
    let read = ImageFolder::new(&dir).shuffle(false).load().unwrap();
    let failure = read
        .dataset
        .pass(0)
        .find_map(|b| b.err())
        .unwrap()
        .to_string();
    assert!(failure.contains("e0.jpg"), "{failure}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_files_split_and_pixels_as_keras() {
    let Some(python) = python::interpreter(
        "KILN_KERAS_PYTHON",
        "keras, tensorflow, safetensors",
        "KILN_REQUIRE_KERAS",
    ) else {
        return;
    };
    let root = temp("keras");
    let dir = root.join("zoo");
    zoo(&dir);
    // more files, so that the shuffle and split have something to do
    for k in 0..40 {
        save(
            &picture(12, 10, 100 + k),
            &dir.join(format!("dog/many_{k:02}.png")),
            ImageFormat::Png,
        );
    }
    let (seed, split, size) = (1337u32, 0.3, (7usize, 9usize));
    let load = |subset| {
        ImageFolder::new(&dir)
            .image_size(size.0, size.1)
            .validation_split(split, subset)
            .seed(seed)
            .load()
            .unwrap()
    };
    let (training, validation) = (load(Subset::Training), load(Subset::Validation));
    let unshuffled = ImageFolder::new(&dir)
        .image_size(size.0, size.1)
        .shuffle(false)
        .batch_size(100)
        .load()
        .unwrap();
    let kiln = serde_json::json!({
        "seed": seed,
        "split": split,
        "size": [size.0, size.1],
        "class_names": training.class_names,
        "training": relative(&training.file_paths, &dir),
        "validation": relative(&validation.file_paths, &dir),
        "unshuffled": relative(&unshuffled.file_paths, &dir),
        "labels": unshuffled.labels,
    });
    std::fs::write(root.join("kiln.json"), kiln.to_string()).unwrap();
    let out = root.join("keras.safetensors");
    python::run(
        &python,
        "tests/interop/keras_image_folder.py",
        &[dir.to_str().unwrap(), out.to_str().unwrap()],
    );
    let keras = python::read_tensors(&out);
    let ours = &batches(&unshuffled.dataset)[0].x[0];
    let per_image = size.0 * size.1 * 3;
    let mut worst = (0.0f32, 0.0f32);
    for (k, file) in unshuffled.file_paths.iter().enumerate() {
        let theirs = &keras
            .iter()
            .find(|(n, _)| n == &format!("image_{k}"))
            .unwrap()
            .1;
        assert_eq!(theirs.shape(), &[size.0, size.1, 3]);
        let mine = &ours.values()[k * per_image..(k + 1) * per_image];
        let diff = theirs
            .iter()
            .zip(mine)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // JPEG decoders may round their inverse DCT differently (TensorFlow uses libjpeg-turbo)
        let jpeg = file.extension().is_some_and(|e| e == "jpg");
        let slot = if jpeg { &mut worst.1 } else { &mut worst.0 };
        *slot = slot.max(diff);
    }
    println!(
        "largest difference from Keras: {} (PNG, BMP), {} (JPEG)",
        worst.0, worst.1
    );
    assert!(worst.0 < 1e-3, "{worst:?}");
    assert!(worst.1 <= 8.0, "{worst:?}");
    std::fs::remove_dir_all(&root).unwrap();
}
