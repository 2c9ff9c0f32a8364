//! `fit`, `evaluate` and `predict` on datasets: the same numbers as on arrays, passes and steps,
//! and errors that name the batch or the item.

use kiln::HostArray;
use kiln::data::{Batch, Dataset, Sample};
use kiln::layers::Dense;
use kiln::prelude::*;
use ndarray::{ArrayD, Axis, IxDyn};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shipped MNIST subset, flattened and scaled: 512 training and 200 test images.
fn mnist() -> (ArrayD<f32>, ArrayD<f32>, ArrayD<f32>, ArrayD<f32>) {
    let m = kiln::datasets::mnist::subset().unwrap();
    let flat = |x: &ndarray::Array3<u8>| {
        x.mapv(|v| f32::from(v) / 255.0)
            .into_shape_with_order((x.len_of(Axis(0)), 784))
            .unwrap()
            .into_dyn()
    };
    let onehot = |y: &ndarray::Array1<u8>| {
        kiln::to_categorical(y.as_slice().unwrap(), 10)
            .unwrap()
            .into_dyn()
    };
    (
        flat(&m.x_train),
        onehot(&m.y_train),
        flat(&m.x_test),
        onehot(&m.y_test),
    )
}

fn dense() -> Model {
    Sequential::new()
        .input([784])
        .add(Dense::new(32).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::rmsprop(0.001),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap()
}

fn quiet() -> EvalOptions<'static> {
    EvalOptions::default().verbose(0)
}

#[test]
fn a_dataset_of_arrays_trains_scores_and_predicts_as_the_arrays_do() {
    let (x, y, xt, yt) = mnist();
    let samples = x.len_of(Axis(0));
    let mut from_arrays = dense();
    let mut from_data = dense();
    from_data.set_weights(&from_arrays.get_weights()).unwrap();
    let h1 = from_arrays
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(2)
                .batch_size(32)
                .shuffle(false)
                .validation_data(&xt, &yt)
                .verbose(0),
        )
        .unwrap();
    let data = Dataset::from_arrays(vec![x], vec![y])
        .unwrap()
        .batch(32)
        .prefetch(2);
    let test = Dataset::from_arrays(vec![xt.clone()], vec![yt.clone()])
        .unwrap()
        .batch(50);
    let h2 = from_data
        .fit_dataset(
            &data,
            FitOptions::default()
                .epochs(2)
                .validation_dataset(&test)
                .verbose(0),
        )
        .unwrap();
    // the same batches in the same order: the same steps, bit for bit
    for ((n1, w1), (n2, w2)) in from_arrays
        .get_weights()
        .iter()
        .zip(from_data.get_weights())
    {
        assert_eq!(n1, &n2);
        assert_eq!(w1, &w2, "{n1}");
    }
    assert_eq!(h1.get("loss"), h2.get("loss"));
    let (v1, v2) = (h1.get("val_loss").unwrap(), h2.get("val_loss").unwrap());
    assert!((v1[1] - v2[1]).abs() < 1e-6, "{v1:?} {v2:?}");
    assert_eq!(from_data.iterations(), 2 * samples.div_ceil(32) as u64);

    let scores = from_data.evaluate_dataset(&test, quiet()).unwrap();
    let expected = from_data.evaluate_with(&xt, &yt, quiet()).unwrap();
    for name in ["loss", "accuracy"] {
        let (a, b) = (scores.get(name).unwrap(), expected.get(name).unwrap());
        assert!((a - b).abs() < 1e-6, "{name}: {a} {b}");
    }
    let predicted = from_data.predict_dataset(&test, quiet()).unwrap();
    assert_eq!(predicted.len(), 1);
    assert_eq!(predicted[0], from_data.predict(&xt).unwrap());
}

/// A dataset of `batches` batches of 4 one-feature samples that counts the items it reads.
fn counted(batches: usize, read: Arc<AtomicUsize>) -> Dataset<Batch> {
    Dataset::from_indexed(batches * 4, move |i| {
        read.fetch_add(1, Ordering::SeqCst);
        let v = i as f32 / 100.0;
        Ok(Sample::new(
            ArrayD::from_elem(IxDyn(&[1]), v),
            ArrayD::from_elem(IxDyn(&[1]), 2.0 * v),
        ))
    })
    .batch(4)
}

fn line() -> Model {
    Sequential::new()
        .input([1])
        .add(Dense::new(1))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::sgd(0.01), Loss::MeanSquaredError, &[])
        .unwrap()
}

#[test]
fn steps_per_epoch_reads_on_across_passes() {
    let read = Arc::new(AtomicUsize::new(0));
    let data = counted(10, read.clone());
    let mut model = line();
    let history = model
        .fit_dataset(
            &data,
            FitOptions::default()
                .epochs(5)
                .steps_per_epoch(4)
                .verbose(0),
        )
        .unwrap();
    assert_eq!(history.get("loss").unwrap().len(), 5);
    assert_eq!(model.iterations(), 20);
    // 20 batches of 4 from passes of 10 batches: two whole passes
    assert_eq!(read.load(Ordering::SeqCst), 80);

    // without it, each epoch is one whole pass
    let read = Arc::new(AtomicUsize::new(0));
    let mut model = line();
    model
        .fit_dataset(
            &counted(3, read.clone()),
            FitOptions::default().epochs(2).verbose(0),
        )
        .unwrap();
    assert_eq!(model.iterations(), 6);
    assert_eq!(read.load(Ordering::SeqCst), 24);
}

#[test]
fn a_dataset_of_unknown_length_needs_steps_per_epoch() {
    let data = Dataset::from_fn(None, |_| {
        Box::new((0..8).map(|i| {
            Ok(Sample::new(
                ArrayD::from_elem(IxDyn(&[1]), i as f32),
                ArrayD::from_elem(IxDyn(&[1]), 0.0),
            ))
        }))
    })
    .batch(2);
    assert_eq!(data.len(), None);
    let mut model = line();
    let e = model
        .fit_dataset(&data, FitOptions::default().verbose(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("steps_per_epoch") && e.contains("unknown"),
        "{e}"
    );
    assert_eq!(model.iterations(), 0);
    model
        .fit_dataset(
            &data,
            FitOptions::default()
                .steps_per_epoch(3)
                .epochs(3)
                .verbose(0),
        )
        .unwrap();
    assert_eq!(model.iterations(), 9);
    // evaluate and predict read one whole pass, whatever its length
    assert_eq!(
        model.predict_dataset(&data, quiet()).unwrap()[0].shape(),
        &[8, 1]
    );
    assert!(
        model
            .evaluate_dataset(&data, quiet())
            .unwrap()
            .get("loss")
            .is_some()
    );
}

#[test]
fn a_bad_batch_or_item_is_an_error_naming_it() {
    let shapes = Dataset::from_fn(Some(3), |_| {
        Box::new((0..3).map(|b| {
            let width = if b == 2 { 3 } else { 1 };
            Ok(Batch {
                x: vec![HostArray::from_vec(vec![0.5; 4 * width], [4, width]).unwrap()],
                y: vec![HostArray::from_vec(vec![1.0; 4], [4, 1]).unwrap()],
            })
        }))
    });
    let mut model = line();
    let e = model
        .fit_dataset(&shapes, FitOptions::default().verbose(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch 2") && e.contains("[3]"), "{e}");
    // the two good steps were taken, as with a callback's error
    assert_eq!(model.iterations(), 2);

    let nan = Dataset::from_arrays(
        vec![ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![0.0, 1.0, f32::NAN, 3.0]).unwrap()],
        vec![ArrayD::zeros(IxDyn(&[4, 1]))],
    )
    .unwrap()
    .batch(2);
    let e = line()
        .fit_dataset(&nan, FitOptions::default().verbose(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch 1") && e.contains("NaN"), "{e}");

    let failing = counted(3, Arc::new(AtomicUsize::new(0))).prefetch(2);
    let broken = Dataset::from_indexed(8, |i| {
        if i == 5 {
            Err(kiln::Error::Data {
                message: "cannot read the file".into(),
            })
        } else {
            Ok(Sample::new(
                ArrayD::zeros(IxDyn(&[1])),
                ArrayD::zeros(IxDyn(&[1])),
            ))
        }
    })
    .batch(4)
    .prefetch(2);
    let e = line()
        .fit_dataset(&broken, FitOptions::default().verbose(0))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("item 5") && e.contains("cannot read the file"),
        "{e}"
    );
    assert!(
        line()
            .fit_dataset(&failing, FitOptions::default().verbose(0))
            .is_ok()
    );
    let e = line()
        .fit_dataset(
            &failing,
            FitOptions::default().validation_split(0.2).verbose(0),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("take and skip"), "{e}");
}

/// Peak resident memory of this process, from Linux' `/proc/self/status`, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// Writes a `.npy` of `rows` float32 rows of `width` values, row `i` holding `f(i, j)`, chunk
/// by chunk (the file is never whole in memory).
fn write_npy(path: &std::path::Path, rows: usize, width: usize, f: impl Fn(usize, usize) -> f32) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&kiln::io::npy::header("<f4", &[rows, width]))
        .unwrap();
    let mut row = Vec::with_capacity(width * 4);
    for i in 0..rows {
        row.clear();
        for j in 0..width {
            row.extend(f(i, j).to_le_bytes());
        }
        out.write_all(&row).unwrap();
    }
    out.flush().unwrap();
}

/// Runs in a child process (its own peak memory): trains one epoch on a memory-mapped `.npy`
/// of `KILN_NPY_MB` megabytes (1,024 rows of 1,024 float32 features per 4 MB) and prints the
/// peak memory.
#[test]
fn npy_child_trains_on_a_mapped_file() {
    let Ok(mb) = std::env::var("KILN_NPY_CHILD_MB") else {
        return; // only as the child of the test below
    };
    let mb: usize = mb.parse().unwrap();
    let dir = std::env::temp_dir().join(format!("kiln-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (width, rows) = (1024, mb * 256);
    let (xp, yp) = (dir.join("x.npy"), dir.join("y.npy"));
    // y = mean of the row's features, each in [0, 1)
    let value = |i: usize, j: usize| ((i * 31 + j * 17) % 101) as f32 / 101.0;
    write_npy(&xp, rows, width, value);
    write_npy(&yp, rows, 1, |i, _| {
        (0..width).map(|j| value(i, j)).sum::<f32>() / width as f32
    });
    let before = peak_rss_mib();
    let data = Dataset::from_npy(&[&xp], &[&yp])
        .unwrap()
        .shuffle(4096, 1)
        .batch(256)
        .prefetch(4);
    let mut model = Sequential::new()
        .input([width])
        .add(Dense::new(1))
        .device(Device::cpu().unwrap())
        .compile(Optimizer::adam(0.001), Loss::MeanSquaredError, &[])
        .unwrap();
    let start = std::time::Instant::now();
    let history = model
        .fit_dataset(&data, FitOptions::default().verbose(0))
        .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "npy-child file_mb={mb} rows={rows} steps={} loss={:.5} epoch_s={seconds:.1} \
         peak_before_mib={before:.0} peak_mib={:.0}",
        model.iterations(),
        history.get("loss").unwrap()[0],
        peak_rss_mib()
    );
}

/// A `.npy` far larger than the memory the process may use trains through its memory map:
/// 1 GB here (`KILN_NPY_MB=4096` for the 4 GB), peak memory under 1 GiB.
#[test]
fn a_mapped_npy_trains_in_bounded_memory() {
    if std::env::var("KILN_NPY_CHILD_MB").is_ok() {
        return;
    }
    let mb = std::env::var("KILN_NPY_MB").unwrap_or_else(|_| "1024".into());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "npy_child_trains_on_a_mapped_file",
            "--nocapture",
        ])
        .env("KILN_NPY_CHILD_MB", &mb)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().find(|l| l.starts_with("npy-child")).unwrap();
    println!("{line}");
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{k}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(field("peak_mib") < 1024.0, "{line}");
    // predicting 0 would score about 0.25
    assert!(field("loss") < 0.25, "{line}");
}

/// Seattle's weather CSV read row by row: temp_max from the same day's other columns, the
/// `weather` column a string with its vocabulary. Runs where `../shared` is beside the crate.
#[test]
fn a_csv_file_trains_row_by_row() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/seattle_weather/seattle-weather.csv");
    if !path.exists() {
        eprintln!("SKIPPED: no {}", path.display());
        return;
    }
    let rows = kiln::data::CsvFile::new(&path)
        .label("temp_max")
        .select(&["precipitation", "temp_min", "wind", "weather"])
        .string_column("weather", &["drizzle", "fog", "rain", "snow", "sun"])
        .load()
        .unwrap();
    assert_eq!(rows.len(), Some(1461));
    let batches = rows.shuffle(2000, 1).batch(32).prefetch(2);
    let mut model = Sequential::new()
        .input([4])
        .add(Dense::new(16).activation(Relu))
        .add(Dense::new(1))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::adam(0.01),
            Loss::MeanSquaredError,
            &[Metric::Mae],
        )
        .unwrap();
    let history = model
        .fit_dataset(&batches, FitOptions::default().epochs(30).verbose(0))
        .unwrap();
    let mae = history.get("mae").unwrap();
    // temp_min alone predicts temp_max within about 3.5 °C; a constant is 6 °C off
    assert!(mae[29] < 3.5, "{mae:?}");
}
