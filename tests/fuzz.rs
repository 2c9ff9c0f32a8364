//! Hostile inputs to every reader of the library: mutated model files, architecture JSON, IDX
//! (raw and gzip), `.keras` archives and `.weights.h5` files, the two CSV data sets, and the
//! dataset sources (memory-mapped `.npy`, CSV files row by row, images of an image folder). Each
//! campaign ([`kiln_fuzz::campaign`]) starts from valid files and the regression corpus
//! (`tests/fuzz/corpus/<reader>/`), derives cases by structure-aware mutation, and fails on a
//! panic, a case over one second or an allocation over 1 GiB. An `Err` is the expected answer.
//!
//! `cargo test` runs a short campaign per reader (`KILN_FUZZ_CASES`, default 300). The long run
//! of BENCHMARKS.md: `KILN_FUZZ_CASES=1000000 cargo test --release --test fuzz -- --nocapture`
//! (`KILN_FUZZ_READER=idx` for one reader, `KILN_FUZZ_SEED` for another sequence). Failing
//! inputs are left in `target/tmp/fuzz/failures/<reader>/`: add them to the corpus once fixed.

use kiln::prelude::*;
use kiln_fuzz::{Rng, Target, mutate, mutate_bytes, mutate_json, mutate_zip, zip_entries};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOCATOR: kiln_fuzz::Tracking = kiln_fuzz::Tracking;

/// Cases per reader in `cargo test`.
const CASES: usize = 300;

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

// ---- the model file: safetensors with the architecture in its metadata ----

/// A safetensors file's header JSON and tensor bytes.
fn split_safetensors(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    Some((header, &bytes[8 + n..]))
}

fn join_safetensors(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

/// Mutates the architecture inside the metadata (the digest kept or dropped), the header's
/// shapes and offsets, or the raw bytes.
fn mutate_model_file(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let parts = split_safetensors(input)
        .and_then(|(h, d)| Some((serde_json::from_slice::<serde_json::Value>(h).ok()?, d)));
    let Some((mut header, data)) = parts.filter(|_| rng.chance(75)) else {
        return mutate(input, others, rng);
    };
    if rng.chance(60) {
        let meta = &mut header["__metadata__"];
        if let Some(model) = meta.get("kiln.model").and_then(|m| m.as_str()) {
            let mut text = model.as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                text = mutate_json(&text, rng).unwrap_or(text);
            }
            meta["kiln.model"] = String::from_utf8_lossy(&text).into_owned().into();
        }
        if rng.chance(50)
            && let Some(m) = meta.as_object_mut()
        {
            m.remove("kiln.sha256");
        }
        join_safetensors(&serde_json::to_vec(&header).unwrap(), data)
    } else {
        let text = serde_json::to_vec(&header).unwrap();
        let text = mutate_json(&text, rng).unwrap_or(text);
        join_safetensors(&text, data)
    }
}

fn model_seeds() -> Vec<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("kiln-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dense = Sequential::new()
        .input([6])
        .add(Dense::new(4).activation(Relu))
        .add(Dropout::new(0.2))
        .add(Dense::new(3).activation(Softmax))
        .device(cpu())
        .build()
        .unwrap();
    let image = Input::new([8, 8, 1]);
    let x = Conv2D::new(2, 3)
        .padding(Padding::Same)
        .apply(&image)
        .unwrap();
    let x = BatchNormalization::new().apply(&x).unwrap();
    let x = MaxPooling2D::new(2).apply(&x).unwrap();
    let y = Conv2D::new(2, 1).apply(&x).unwrap();
    let x = Add::new().apply([&x, &y]).unwrap();
    let x = Flatten::new().apply(&x).unwrap();
    let out = Dense::new(2).apply(&x).unwrap();
    let cnn = Functional::new([&image], [&out]).unwrap().build().unwrap();
    let sequence = Sequential::new()
        .input([5])
        .add(Embedding::new(7, 3))
        .add(LSTM::new(2).return_sequences(true))
        .add(Bidirectional::new(GRU::new(2)))
        .add(Dense::new(1))
        .build()
        .unwrap();
    let seeds = [dense, cnn, sequence]
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let path = dir.join(format!("{i}.safetensors"));
            model.save(&path).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    seeds
}

fn read_model(path: &Path, _: &[u8]) -> Result<(), String> {
    let model = kiln::io::load_model_on(path, cpu()).map_err(err)?;
    // a model that loads also runs
    let shapes: Vec<Vec<usize>> = model
        .graph()
        .inputs()
        .iter()
        .map(|input| {
            std::iter::once(2)
                .chain(input.shape.dims().iter().copied())
                .collect()
        })
        .collect();
    if shapes.iter().all(|s| s.iter().product::<usize>() < 1 << 16) {
        let inputs: Vec<ndarray::ArrayD<f32>> = shapes
            .iter()
            .map(|s| ndarray::ArrayD::zeros(ndarray::IxDyn(s)))
            .collect();
        model.predict_outputs(&inputs).map_err(err)?;
    }
    Ok(())
}

// ---- the architecture JSON ----

fn architecture_seeds() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(here("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn read_architecture(_: &Path, bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(err)?;
    let config: kiln::io::ModelConfig = serde_json::from_str(text).map_err(err)?;
    // building allocates the weights: only for architectures of reasonable size, since a
    // valid model of a billion weights takes its time (a claimed size beyond the machine's
    // memory is refused before allocating; tests/saving.rs)
    if config.graph.total_params().total() <= 1 << 20 {
        Model::from_json(text).map_err(err)?;
    }
    Ok(())
}

// ---- IDX ----

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(16 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn idx_seeds() -> Vec<Vec<u8>> {
    let labels = here("src/datasets/mnist_subset/t10k-labels-idx1-ubyte.gz");
    let labels = gunzip(&std::fs::read(labels).unwrap()).unwrap();
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    images.extend((0..48).map(|i| (i * 5) as u8));
    let short_labels = [&[0, 0, 8, 1, 0, 0, 0, 5], &labels[8..13]].concat();
    vec![gzip(&images), images, gzip(&short_labels), short_labels]
}

/// Mutates the decompressed content of a gzip file and compresses it again, or the raw bytes.
fn mutate_idx(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    match gunzip(input).filter(|_| rng.chance(60)) {
        Some(raw) => gzip(&mutate_bytes(&raw, others, rng)),
        None => mutate_bytes(input, others, rng),
    }
}

fn read_idx(path: &Path, _: &[u8]) -> Result<(), String> {
    kiln::datasets::idx::read(path).map(|_| ()).map_err(err)
}

// ---- .keras archives and .weights.h5 ----

fn keras_seeds() -> Vec<Vec<u8>> {
    ["tiny.keras", "preprocessing.keras"]
        .iter()
        .map(|f| std::fs::read(here(&format!("tests/fixtures/keras/{f}"))).unwrap())
        .collect()
}

fn read_keras(path: &Path, _: &[u8]) -> Result<(), String> {
    kiln::io::load_keras_on(path, cpu())
        .map(|_| ())
        .map_err(err)
}

fn weights_seeds() -> Vec<Vec<u8>> {
    let entries = zip_entries(&keras_seeds()[0]).unwrap();
    let (_, h5) = entries
        .into_iter()
        .find(|(n, _)| n == "model.weights.h5")
        .unwrap();
    vec![h5]
}

fn read_weights(path: &Path, _: &[u8]) -> Result<(), String> {
    let mut tiny = Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
        .build()
        .unwrap();
    tiny.load_keras_weights(path).map_err(err)
}

// ---- CSV data sets ----

fn weather_seeds() -> Vec<Vec<u8>> {
    vec![
        b"date,precipitation,temp_max,temp_min,wind,weather\n\
          2012/01/01,0.0,12.8,5.0,4.7,drizzle\n\
          2012/01/02,10.9,10.6,2.8,4.5,rain\n\
          2012/01/03,0.8,11.7,7.2,2.3,rain\n"
            .to_vec(),
    ]
}

fn read_weather(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let weather = kiln::datasets::seattle_weather::parse(bytes, path).map_err(err)?;
    // a few rows are too few for the agreed split: an error, but not a failure of the reader
    let _ = weather.forecast(2);
    Ok(())
}

fn spam_seeds() -> Vec<Vec<u8>> {
    vec![
        b"label,group,id,subject,body\n\
          0,easy-ham-1,00001,Re: New Sequences Window,\"Date: Wed, 21 Aug 2002\n\nI can't \
          reproduce this \"\"error\"\".\"\n\
          1,spam-1,00002,FREE money,\"Click here, now!\"\n\
          0,hard-ham-1,00003,meeting,see you at noon\n"
            .to_vec(),
    ]
}

fn read_spam(path: &Path, bytes: &[u8]) -> Result<(), String> {
    kiln::datasets::spam_assassin::parse(bytes, path)
        .map(|_| ())
        .map_err(err)
}

// ---- dataset sources ----

fn npy_seeds() -> Vec<Vec<u8>> {
    let with = |descr: &str, shape: &[usize], data: Vec<u8>| {
        let mut out = kiln::io::npy::header(descr, shape);
        out.extend(data);
        out
    };
    let floats: Vec<u8> = (0..6)
        .flat_map(|v| (v as f32 * 0.5).to_le_bytes())
        .collect();
    vec![
        with("<f4", &[3, 2], floats),
        with("|u1", &[4, 2, 2], (0..16).collect()),
        with(
            "<i8",
            &[2],
            [7i64, -3].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ]
}

/// Maps the file and reads every sample through the dataset, as training would.
fn read_npy_file(path: &Path, _: &[u8]) -> Result<(), String> {
    let file = kiln::data::NpyFile::open(path).map_err(err)?;
    let n = file.len();
    let data = kiln::data::Dataset::from_npy(&[path], &[path]).map_err(err)?;
    for sample in data.batch(64).pass(0) {
        sample.map_err(err)?;
    }
    assert!(n == 0 || file.sample(n - 1).is_ok());
    Ok(())
}

fn csv_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"rain,weather,temp
0.5,sun,12
,"fog",7.5
1e3,hail,-2
"#
        .to_vec(),
        b"a,b,c\n1,2,3\n4,5,6\n".to_vec(),
    ]
}

/// Reads the rows once as features, once with a label and a string column.
fn read_csv_file(path: &Path, _: &[u8]) -> Result<(), String> {
    let plain = kiln::data::CsvFile::new(path).load().map_err(err)?;
    let _ = plain.pass(0).collect::<kiln::Result<Vec<_>>>();
    let labelled = kiln::data::CsvFile::new(path)
        .label("temp")
        .string_column("weather", &["fog", "sun"])
        .load()
        .map_err(err)?;
    for batch in labelled.batch(2).pass(0) {
        batch.map_err(err)?;
    }
    Ok(())
}

fn image_seeds() -> Vec<Vec<u8>> {
    let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(5, 3, |x, y| {
        image::Rgb([(x * 50) as u8, (y * 80) as u8, 7])
    }));
    [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Bmp,
    ]
    .into_iter()
    .map(|format| {
        let mut bytes = Vec::new();
        picture
            .write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    })
    .collect()
}

/// The bytes as the one image of a one-class folder, decoded and resized as training reads it.
fn read_image(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.with_extension("folder");
    let class = dir.join("class");
    std::fs::create_dir_all(&class).map_err(err)?;
    std::fs::write(class.join("image.png"), bytes).map_err(err)?;
    let read = kiln::data::ImageFolder::new(&dir)
        .image_size(4, 6)
        .shuffle(false)
        .load()
        .map_err(err)?;
    for batch in read.dataset.pass(0) {
        batch.map_err(err)?;
    }
    Ok(())
}

#[test]
fn every_reader_survives_mutated_inputs() {
    let targets = vec![
        Target::new("model_file", model_seeds(), &mutate_model_file, &read_model),
        Target::new(
            "architecture",
            architecture_seeds(),
            &mutate,
            &read_architecture,
        ),
        Target::new("idx", idx_seeds(), &mutate_idx, &read_idx),
        Target::new("keras", keras_seeds(), &mutate_zip, &read_keras),
        Target::new("keras_weights", weights_seeds(), &mutate, &read_weights),
        Target::new("seattle_weather", weather_seeds(), &mutate, &read_weather),
        Target::new("spam_assassin", spam_seeds(), &mutate, &read_spam),
        Target::new("npy_file", npy_seeds(), &mutate, &read_npy_file),
        Target::new("csv_file", csv_seeds(), &mutate, &read_csv_file),
        Target::new("image_folder", image_seeds(), &mutate_bytes, &read_image),
    ];
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    let failed = kiln_fuzz::run_targets(targets, &here("tests/fuzz/corpus"), &dir, CASES);
    assert!(
        failed.is_empty(),
        "readers with failures: {failed:?}; their inputs are in {}",
        dir.join("failures").display()
    );
}
