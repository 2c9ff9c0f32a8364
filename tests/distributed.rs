//! Training across processes over MPI (the `mpi` feature), launched with Open MPI's `mpirun`
//! on this machine: synchronous workers against one process, batch normalization's moving
//! statistics, the parameter server, a worker killed mid-epoch and the backup that resumes.
//!
//! Each check runs `mpirun -np N` on this test binary, asking for one of the `#[ignore]`d
//! `worker_*` functions below (the programs every rank runs), which write their weights as
//! files; the test then reads and compares them. `KILN_REQUIRE_MPI=1` (CI) fails the tests
//! when `mpirun` is missing; otherwise they are skipped with a note.

use kiln::callbacks::{BackupAndRestore, LambdaCallback};
use kiln::distribute::{MultiWorkerMirroredStrategy, ParameterServerStrategy, Strategy};
use kiln::layers::{BatchNormalization, Dense};
use kiln::prelude::*;
use ndarray::{Array2, ArrayD, s};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The directory a launch writes into, passed to its ranks.
const OUT: &str = "KILN_DISTRIBUTED_OUT";

fn mpirun_available() -> bool {
    let found = Command::new("mpirun").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("KILN_REQUIRE_MPI").is_none(),
            "KILN_REQUIRE_MPI is set but mpirun was not found (apt install openmpi-bin libopenmpi-dev)"
        );
        eprintln!("skipped: mpirun not found");
    }
    found
}

/// Runs worker test `name` on `np` processes, each writing into `out`.
fn launch(np: usize, name: &str, out: &Path, extra: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new("mpirun");
    command
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
        ])
        .args(["-np", &np.to_string()])
        .arg(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(OUT, out)
        .env("OMP_NUM_THREADS", "1");
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().expect("mpirun starts")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("distributed")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn show(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The first `n` images of kiln's MNIST subset, flat, and their one-hot labels.
fn mnist(n: usize) -> (Array2<f32>, Array2<f32>) {
    let data = kiln::datasets::mnist::subset().expect("the subset");
    let x = data
        .x_train
        .slice(s![..n, .., ..])
        .mapv(|v| v as f32 / 255.0)
        .into_shape_with_order((n, 784))
        .expect("784 pixels");
    let labels: Vec<u8> = data.y_train.iter().take(n).copied().collect();
    (x, kiln::to_categorical(&labels, 10).expect("labels"))
}

fn dense_model(batch_norm: bool) -> Model {
    let mut model = Sequential::new()
        .input([784])
        .add(Dense::new(64).activation(Relu));
    if batch_norm {
        model = model.add(BatchNormalization::new());
    }
    model
        .add(Dense::new(10).activation(Softmax))
        .device(Device::cpu().expect("cpu"))
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .expect("compiles")
}

fn weights_of(path: &Path, batch_norm: bool) -> Vec<(String, ArrayD<f32>)> {
    let mut model = dense_model(batch_norm);
    model.load_weights(path).expect("weights a rank wrote");
    model.get_weights()
}

/// 1,567 samples in global batches of 64: 24 full batches and one of 31 (16 and 15 samples
/// on two workers) per epoch, 50 steps in 2 epochs.
const SAMPLES: usize = 1_567;

fn out() -> PathBuf {
    PathBuf::from(std::env::var_os(OUT).expect("launched by a test"))
}

#[test]
#[ignore = "run by sync_workers_match_one_process under mpirun"]
fn worker_sync() {
    let mut strategy = MultiWorkerMirroredStrategy::new().expect("MPI starts");
    let rank = strategy.rank();
    let (x, y) = mnist(SAMPLES);
    kiln::set_random_seed(40 + rank as u64);
    for batch_norm in [false, true] {
        // different weights on each rank: the broadcast must make them rank 0's
        let mut model = dense_model(batch_norm);
        let tag = if batch_norm { "bn" } else { "dense" };
        if rank == 0 {
            model
                .save_weights(out().join(format!("{tag}-initial.safetensors")))
                .expect("saves");
        }
        let options = FitOptions::default()
            .epochs(2)
            .batch_size(64)
            .seed(3)
            .verbose(0)
            .strategy(&mut strategy);
        let history = model.fit(&x, &y, options).expect("trains");
        model
            .save_weights(out().join(format!("{tag}-rank{rank}.safetensors")))
            .expect("saves");
        if rank == 0 {
            println!("{tag} loss {:?}", history.get("loss"));
            std::fs::write(
                out().join(format!("{tag}-loss")),
                format!("{:?}", history.get("loss").expect("a loss")),
            )
            .expect("writes");
        }
    }
    let stats = strategy.comm_stats().expect("MPI statistics");
    println!(
        "rank {rank}: {} all-reduces, {} bytes, {:.3} s",
        stats.calls, stats.bytes, stats.seconds
    );
}

#[test]
fn sync_workers_match_one_process() {
    if !mpirun_available() {
        return;
    }
    let dir = out_dir("sync");
    let output = launch(2, "worker_sync", &dir, &[]);
    assert!(output.status.success(), "{}", show(&output));
    let (x, y) = mnist(SAMPLES);
    for batch_norm in [false, true] {
        let tag = if batch_norm { "bn" } else { "dense" };
        let rank0 = weights_of(&dir.join(format!("{tag}-rank0.safetensors")), batch_norm);
        let rank1 = weights_of(&dir.join(format!("{tag}-rank1.safetensors")), batch_norm);
        for ((name, a), (_, b)) in rank0.iter().zip(&rank1) {
            let same = a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{tag}: weight {name} differs between the ranks");
        }
        // one process on the same global batches, from rank 0's initial weights
        let mut single = dense_model(batch_norm);
        single
            .load_weights(dir.join(format!("{tag}-initial.safetensors")))
            .expect("initial weights");
        let initial = single.get_weights();
        let options = FitOptions::default()
            .epochs(2)
            .batch_size(64)
            .seed(3)
            .verbose(0);
        let history = single.fit(&x, &y, options).expect("trains");
        assert_eq!(single.iterations(), 50);
        if batch_norm {
            // per-worker batch statistics differ from the whole batch's: the replicas agree
            // with each other, and train as well as one process
            let distributed: Vec<f64> = std::fs::read_to_string(dir.join("bn-loss"))
                .expect("rank 0's losses")
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .map(|v| v.parse().expect("a loss"))
                .collect();
            let one = history.get("loss").expect("a loss");
            assert!(
                (distributed[1] - one[1]).abs() < 0.05,
                "bn: the distributed loss {distributed:?} strays from one process' {one:?}"
            );
            continue;
        }
        for (((name, want), (_, got)), (_, start)) in
            single.get_weights().iter().zip(&rank0).zip(&initial)
        {
            let change = want
                .iter()
                .zip(start)
                .map(|(w, s)| (w - s).abs())
                .fold(0.0f32, f32::max);
            let off = want
                .iter()
                .zip(got)
                .map(|(w, g)| (w - g).abs())
                .fold(0.0f32, f32::max);
            eprintln!("{tag} {name}: largest change {change:.3e}, largest difference {off:.3e}");
            assert!(
                off <= 1e-5 * change,
                "{name}: off by {off:e} after a largest change of {change:e}"
            );
        }
    }
}

#[test]
#[ignore = "run by parameter_server_trains under mpirun"]
fn worker_parameter_server() {
    let mut strategy = ParameterServerStrategy::new().expect("MPI starts");
    let rank = strategy.rank();
    let (x, y) = mnist(2_000);
    let (x_train, y_train) = (x.slice(s![..1_600, ..]), y.slice(s![..1_600, ..]));
    let (x_test, y_test) = (x.slice(s![1_600.., ..]), y.slice(s![1_600.., ..]));
    kiln::set_random_seed(1);
    let mut model = dense_model(false);
    let options = FitOptions::default()
        .epochs(4)
        .batch_size(64)
        .seed(2)
        .verbose(0)
        .validation_data(&x_test, &y_test)
        .strategy(&mut strategy);
    let history = model
        .fit(&x_train.to_owned(), &y_train.to_owned(), options)
        .expect("trains");
    if rank == 0 {
        let val = history.get("val_accuracy").expect("validated");
        std::fs::write(
            out().join("val_accuracy"),
            format!("{}", val[val.len() - 1]),
        )
        .expect("writes");
        std::fs::write(out().join("updates"), model.iterations().to_string()).expect("writes");
    }
    model
        .save_weights(out().join(format!("rank{rank}.safetensors")))
        .expect("saves");
}

#[test]
fn parameter_server_trains() {
    if !mpirun_available() {
        return;
    }
    let dir = out_dir("parameter_server");
    let output = launch(3, "worker_parameter_server", &dir, &[]);
    assert!(output.status.success(), "{}", show(&output));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("the server's file");
    // 2 workers × 25 steps (their halves of the 25 global batches) × 4 epochs
    assert_eq!(read("updates"), "200");
    let accuracy: f64 = read("val_accuracy").parse().expect("a number");
    eprintln!("parameter server: validation accuracy {accuracy}");
    assert!(accuracy >= 0.85, "validation accuracy {accuracy}");
    // every worker ends with the server's weights
    let server = weights_of(&dir.join("rank0.safetensors"), false);
    for worker in [1, 2] {
        let got = weights_of(&dir.join(format!("rank{worker}.safetensors")), false);
        assert_eq!(
            server, got,
            "worker {worker} does not hold the server's weights"
        );
    }
}

#[test]
#[ignore = "run by a_killed_worker_ends_the_job_and_backup_resumes under mpirun"]
fn worker_backup() {
    let mut strategy = MultiWorkerMirroredStrategy::new().expect("MPI starts");
    let rank = strategy.rank();
    let kill_at = std::env::var("KILN_DISTRIBUTED_KILL").ok();
    let (x, y) = mnist(SAMPLES);
    kiln::set_random_seed(5);
    let mut model = dense_model(false);
    let mut backup = BackupAndRestore::new(out().join("backup"));
    // rank 1 kills itself (SIGKILL) in epoch 3, after the chief backed epochs 1 and 2 up
    let mut killer = LambdaCallback::new().on_train_batch_begin(|step, model: &mut Model| {
        if rank == 1 && kill_at.is_some() && model.iterations() >= 60 && step == 10 {
            let pid = std::process::id().to_string();
            let _ = Command::new("kill").args(["-9", &pid]).status();
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    let options = FitOptions::default()
        .epochs(4)
        .batch_size(64)
        .seed(3)
        .verbose(0)
        .callback(&mut backup)
        .callback(&mut killer)
        .strategy(&mut strategy);
    model.fit(&x, &y, options).expect("trains");
    if let Some(epoch) = backup.restored_epoch() {
        println!("rank {rank} resumed after epoch {}", epoch + 1);
    }
    model
        .save_weights(out().join(format!("rank{rank}.safetensors")))
        .expect("saves");
}

#[test]
fn a_killed_worker_ends_the_job_and_backup_resumes() {
    if !mpirun_available() {
        return;
    }
    // the run nothing interrupts
    let whole = out_dir("backup_whole");
    let output = launch(2, "worker_backup", &whole, &[]);
    assert!(output.status.success(), "{}", show(&output));

    let dir = out_dir("backup_killed");
    let start = Instant::now();
    let output = launch(2, "worker_backup", &dir, &[("KILN_DISTRIBUTED_KILL", "1")]);
    let took = start.elapsed();
    let text = show(&output);
    eprintln!("the killed run ended in {took:?}:\n{text}");
    assert!(!output.status.success(), "{text}");
    assert!(took < Duration::from_secs(30), "it took {took:?}");
    assert!(text.contains("rank 1"), "the message names no rank: {text}");
    assert!(dir.join("backup/backup.safetensors").exists());

    let output = launch(2, "worker_backup", &dir, &[]);
    let text = show(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("resumed after epoch 2"), "{text}");
    let want = weights_of(&whole.join("rank0.safetensors"), false);
    for rank in [0, 1] {
        let got = weights_of(&dir.join(format!("rank{rank}.safetensors")), false);
        assert_eq!(
            want, got,
            "rank {rank} after resuming differs from the whole run"
        );
    }
}
