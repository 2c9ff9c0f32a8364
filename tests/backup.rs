//! BackupAndRestore: a training run killed with SIGKILL after 3 of 5 epochs, then started
//! again, ends with the weights of an uninterrupted 5-epoch run.
//!
//! The runs are child processes (this test binary again, in `train_child`), so the kill is
//! real: nothing of the first run survives but its backup file.

use kiln::callbacks::{BackupAndRestore, LambdaCallback};
use kiln::prelude::*;
use ndarray::Array2;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// In a child (`KILN_BACKUP_DIR` set): trains 5 epochs with a backup, writes the final weights
/// to `KILN_BACKUP_OUT`; with `KILN_BACKUP_HANG`, announces the end of epoch 3 and hangs there.
#[test]
fn train_child() {
    let Ok(dir) = std::env::var("KILN_BACKUP_DIR") else {
        return;
    };
    kiln::set_random_seed(7);
    let mut model = Sequential::new()
        .input([6])
        .add(Dense::new(16).activation(Tanh))
        .add(BatchNormalization::new())
        .add(Dense::new(3).activation(Softmax))
        .device(Device::cpu().unwrap())
        .compile(
            Optimizer::adam(1e-2),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let x = Array2::from_shape_fn((96, 6), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0);
    let labels: Vec<u8> = (0..96).map(|i| ((i * 5) % 3) as u8).collect();
    let y = kiln::to_categorical(&labels, 3).unwrap();
    let hang = std::env::var("KILN_BACKUP_HANG").is_ok();
    let mut backup = BackupAndRestore::new(&dir);
    let mut announce = LambdaCallback::new().on_epoch_end(|epoch, _, _| {
        println!("EPOCH_DONE {epoch}");
        if hang && epoch == 2 {
            std::thread::sleep(std::time::Duration::from_secs(120));
        }
    });
    model
        .fit(
            &x,
            &y,
            FitOptions::default()
                .epochs(5)
                .batch_size(16)
                .seed(3)
                .verbose(0)
                .callback(&mut backup)
                .callback(&mut announce),
        )
        .unwrap();
    drop(announce);
    if let Some(epoch) = backup.restored_epoch() {
        println!("RESUMED_AFTER {epoch}");
    }
    model
        .save_weights(std::env::var("KILN_BACKUP_OUT").unwrap())
        .unwrap();
}

fn child(dir: &Path, out: &Path, hang: bool) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "train_child",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("KILN_BACKUP_DIR", dir)
    .env("KILN_BACKUP_OUT", out)
    .stdout(Stdio::piped());
    if hang {
        c.env("KILN_BACKUP_HANG", "1");
    }
    c
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut model = Sequential::new()
        .input([6])
        .add(Dense::new(16).activation(Tanh))
        .add(BatchNormalization::new())
        .add(Dense::new(3).activation(Softmax))
        .device(Device::cpu().unwrap())
        .build()
        .unwrap();
    model.load_weights(path).unwrap();
    model
        .get_weights()
        .into_iter()
        .map(|(n, w)| (n, w.iter().copied().collect()))
        .collect()
}

#[test]
fn a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    let root: PathBuf = std::env::temp_dir().join(format!("kiln-backup-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();

    let straight = root.join("straight.safetensors");
    let out = child(&root.join("straight-backup"), &straight, false)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // killed with SIGKILL once epoch 3 (index 2) has ended and been backed up
    let backup_dir = root.join("backup");
    let resumed = root.join("resumed.safetensors");
    let mut killed = child(&backup_dir, &resumed, true).spawn().unwrap();
    let mut lines = BufReader::new(killed.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the child ends epoch 3").unwrap();
        if line.contains("EPOCH_DONE 2") {
            break;
        }
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(backup_dir.join("backup.safetensors").exists());
    assert!(!resumed.exists());

    let out = child(&backup_dir, &resumed, false).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("RESUMED_AFTER 2"), "{text}");
    assert!(
        !text.contains("EPOCH_DONE 2") && text.contains("EPOCH_DONE 3"),
        "{text}"
    );
    assert!(
        !backup_dir.join("backup.safetensors").exists(),
        "deleted at the end"
    );

    for ((name, a), (_, b)) in weights(&straight).iter().zip(weights(&resumed)) {
        let d = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-5, "{name} differs by {d} after resuming");
    }
    std::fs::remove_dir_all(&root).unwrap();
}
