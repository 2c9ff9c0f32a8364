//! The bad-file matrix: every reader of the library given a valid file cut at each sixteenth
//! of its length, and the files of hostile intent — a size beyond counting, a gzip bomb, a
//! zip bomb, a 100 MB string, JSON nested 100,000 deep, flipped bytes. Each is an `Err` that
//! names the file (or the architecture) and the problem; a cut text file may also be a valid,
//! shorter one.

use kiln::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kiln-bad-{}-{name}", std::process::id()))
}

fn cpu() -> Device {
    Device::cpu().unwrap()
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
}

/// A reader: the file's path to its outcome.
type Read = fn(&Path) -> kiln::Result<()>;

fn model_file(p: &Path) -> kiln::Result<()> {
    kiln::io::load_model_on(p, cpu()).map(|_| ())
}
fn weights(p: &Path) -> kiln::Result<()> {
    small().load_weights(p)
}
fn idx(p: &Path) -> kiln::Result<()> {
    kiln::datasets::idx::read(p).map(|_| ())
}
fn keras(p: &Path) -> kiln::Result<()> {
    kiln::io::load_keras_on(p, cpu()).map(|_| ())
}
fn keras_weights(p: &Path) -> kiln::Result<()> {
    let mut tiny = Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
        .build()
        .unwrap();
    tiny.load_keras_weights(p)
}
fn architecture(p: &Path) -> kiln::Result<()> {
    kiln::io::ModelConfig::read(p).map(|_| ())
}
fn weather(p: &Path) -> kiln::Result<()> {
    kiln::datasets::seattle_weather::load_data_from(p).map(|_| ())
}
fn spam(p: &Path) -> kiln::Result<()> {
    kiln::datasets::spam_assassin::load_data_from(p).map(|_| ())
}

fn npy_file(p: &Path) -> kiln::Result<()> {
    let data = kiln::data::Dataset::from_npy(&[p], &[] as &[&Path])?;
    data.pass(0).try_for_each(|s| s.map(|_| ()))
}
fn csv_file(p: &Path) -> kiln::Result<()> {
    let rows = kiln::data::CsvFile::new(p).label("temp").load()?;
    rows.pass(0).try_for_each(|s| s.map(|_| ()))
}

fn small() -> Model {
    Sequential::new()
        .input([4])
        .add(Dense::new(3).activation(Relu))
        .add(Dense::new(2).activation(Softmax))
        .device(cpu())
        .build()
        .unwrap()
}

/// Reads `bytes` as `name` with `read`: an error naming the file, or (when `may_pass`) a
/// success. Returns the error's text.
fn outcome(name: &str, bytes: &[u8], read: Read, may_pass: bool) -> Option<String> {
    let path = temp(name);
    std::fs::write(&path, bytes).unwrap();
    let result = read(&path);
    std::fs::remove_file(&path).unwrap();
    match result {
        Ok(()) => {
            assert!(may_pass, "{name}: a damaged file loaded");
            None
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(&*path.to_string_lossy()), "{name}: {text}");
            Some(text)
        }
    }
}

fn valid_files() -> Vec<(&'static str, Vec<u8>, Read, bool)> {
    let here = |p: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    let saved = temp("valid.safetensors");
    small().save(&saved).unwrap();
    let model = std::fs::read(&saved).unwrap();
    small().save_weights(&saved).unwrap();
    let weights_only = std::fs::read(&saved).unwrap();
    std::fs::remove_file(&saved).unwrap();
    let labels =
        std::fs::read(here("src/datasets/mnist_subset/t10k-labels-idx1-ubyte.gz")).unwrap();
    let raw_labels = kiln::datasets::idx::decompress(&labels, Path::new("l")).unwrap();
    let tiny = std::fs::read(here("tests/fixtures/keras/tiny.keras")).unwrap();
    let preprocessing = std::fs::read(here("tests/fixtures/keras/preprocessing.keras")).unwrap();
    let h5 = {
        use std::io::Read;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&tiny)).unwrap();
        let mut out = Vec::new();
        archive
            .by_name("model.weights.h5")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    let json = std::fs::read(here("models/mnist_cnn.json")).unwrap();
    let weather_csv = b"date,precipitation,temp_max,temp_min,wind,weather\n\
        2012/01/01,0.0,12.8,5.0,4.7,drizzle\n2012/01/02,10.9,10.6,2.8,4.5,rain\n"
        .to_vec();
    let spam_csv = b"label,group,id,subject,body\n0,easy-ham-1,00001,Re: hello,\"a body,\nover \
        lines\"\n1,spam-1,00002,FREE,click\n"
        .to_vec();
    let mut npy = kiln::io::npy::header("<f4", &[4, 3]);
    npy.extend((0..12).flat_map(|v| (v as f32).to_le_bytes()));
    let rows_csv = b"rain,weather,temp\n0.5,2,12\n1.5,3,7.5\n0,1,-2\n".to_vec();
    vec![
        ("model.safetensors", model, model_file as Read, false),
        ("weights.safetensors", weights_only, weights, false),
        ("labels.idx.gz", labels, idx, false),
        ("labels.idx", raw_labels, idx, false),
        ("tiny.keras", tiny, keras, false),
        ("preprocessing.keras", preprocessing, keras, false),
        ("model.weights.h5", h5, keras_weights, false),
        ("mnist_cnn.json", json, architecture, false),
        ("weather.csv", weather_csv, weather as Read, true),
        ("spam.csv.gz", gzip(&spam_csv), spam, false),
        ("x.npy", npy, npy_file, false),
        ("rows.csv", rows_csv.clone(), csv_file, true),
        ("rows.csv.gz", gzip(&rows_csv), csv_file, true),
    ]
}

#[test]
fn every_format_cut_at_each_sixteenth_is_an_error_naming_the_file() {
    for (name, bytes, read, text) in valid_files() {
        read_ok(name, &bytes, read);
        for k in 0..16 {
            let cut = &bytes[..bytes.len() * k / 16];
            outcome(&format!("{k}-{name}"), cut, read, text);
        }
    }
}

fn read_ok(name: &str, bytes: &[u8], read: Read) {
    let path = temp(name);
    std::fs::write(&path, bytes).unwrap();
    read(&path).unwrap_or_else(|e| panic!("{name}: the valid file fails: {e}"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn hostile_files_are_refused_with_the_reason() {
    // an IDX header whose dimensions multiply past usize
    let mut lying = vec![0, 0, 8, 4];
    for _ in 0..4 {
        lying.extend(u32::MAX.to_be_bytes());
    }
    let e = outcome("overflow.idx", &lying, idx, false).unwrap();
    assert!(e.contains("need more bytes"), "{e}");

    // a model file whose header claims 10^12 elements, or a shape whose product overflows
    let saved = temp("claims.safetensors");
    small().save(&saved).unwrap();
    let bytes = std::fs::read(&saved).unwrap();
    std::fs::remove_file(&saved).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for shape in [
        serde_json::json!([1_000_000, 1_000_000]),
        serde_json::json!([4_611_686_018_427_387_904u64, 4]),
    ] {
        let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        header["dense/kernel"]["shape"] = shape;
        let header = serde_json::to_vec(&header).unwrap();
        let mut lying = (header.len() as u64).to_le_bytes().to_vec();
        lying.extend(&header);
        lying.extend(&bytes[8 + n..]);
        let e = outcome("claims.safetensors", &lying, model_file, false).unwrap();
        assert!(e.contains("not a readable safetensors file"), "{e}");
    }

    // a gzip bomb: 256 MiB of zeros in 250 kB
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    let e = outcome("bomb.idx.gz", &bomb, idx, false).unwrap();
    assert!(e.contains("gzip bomb"), "{e}");
    let e = outcome("bomb.csv.gz", &bomb, spam, false).unwrap();
    assert!(e.contains("gzip bomb"), "{e}");

    // a .keras archive whose weights expand a thousand times
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/tiny.keras");
    let config = {
        use std::io::Read;
        let mut archive = zip::ZipArchive::new(std::fs::File::open(tiny).unwrap()).unwrap();
        let mut out = Vec::new();
        archive
            .by_name("config.json")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    zip.start_file("config.json", options).unwrap();
    zip.write_all(&config).unwrap();
    zip.start_file("model.weights.h5", options).unwrap();
    for _ in 0..256 {
        zip.write_all(&zeros).unwrap();
    }
    let archive = zip.finish().unwrap().into_inner();
    let e = outcome("bomb.keras", &archive, keras, false).unwrap();
    assert!(e.contains("zip bomb"), "{e}");

    // an architecture of 100 MB: one long name
    let json = String::from_utf8(
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mnist_dense.json"))
            .unwrap(),
    )
    .unwrap();
    let long = json.replacen(
        "\"mnist_dense\"",
        &format!("\"{}\"", "x".repeat(100 << 20)),
        1,
    );
    let e = outcome("long.json", long.as_bytes(), architecture, false).unwrap();
    assert!(e.contains("up to 64 MB"), "{e}");
    let e = Model::from_json(&long).unwrap_err().to_string();
    assert!(e.contains("up to 64 MB"), "{e}");

    // JSON nested 100,000 deep
    let deep = json.replacen(
        "\"mnist_dense\"",
        &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        1,
    );
    let e = outcome("deep.json", deep.as_bytes(), architecture, false).unwrap();
    assert!(e.contains("recursion limit"), "{e}");
}
