//! MNIST downloads from a mirror: verified by SHA-256, written atomically.
//!
//! A loopback HTTP server stands in for the mirror. Alone in its test binary: it sets
//! process-wide environment variables.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// Serves `files` (name → bytes) on 127.0.0.1 for at most `requests` requests.
fn serve(files: HashMap<String, Vec<u8>>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let name = path.rsplit('/').next().unwrap_or("");
            match files.get(name) {
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    format!("http://{addr}/mnist/")
}

fn fresh_home(tag: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("kiln-home-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    home
}

fn set_env(home: &Path, mirror: &str) {
    // SAFETY: this test binary runs a single test, so no other thread reads the environment.
    unsafe {
        std::env::remove_var("KILN_DATA_DIR");
        std::env::set_var("KILN_HOME", home);
        std::env::set_var("KILN_MNIST_MIRROR", mirror);
    }
}

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

#[test]
fn downloads_are_verified_and_atomic() {
    // 1. A mirror serving the wrong content: refused by hash, nothing left at the target.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/datasets/mnist_subset");
    let wrong: HashMap<String, Vec<u8>> = NAMES
        .iter()
        .map(|n| (n.to_string(), std::fs::read(shipped.join(n)).unwrap()))
        .collect();
    let home = fresh_home("bad");
    set_env(&home, &serve(wrong, 4));
    let e = kiln::datasets::mnist::load_data().unwrap_err().to_string();
    assert!(e.contains("SHA-256"), "{e}");
    assert!(e.contains("KILN_DATA_DIR"), "{e}");
    let dir = home.join("datasets/mnist");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(
        left.iter().all(|n| *n == 0),
        "files left behind in {}",
        dir.display()
    );

    // 2. A mirror serving the real files (when this checkout has ../shared beside it).
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if !real.join(NAMES[0]).is_file() {
        eprintln!("../shared/data/mnist is absent: the real-download half of this test is skipped");
        return;
    }
    let files: HashMap<String, Vec<u8>> = NAMES
        .iter()
        .map(|n| (n.to_string(), std::fs::read(real.join(n)).unwrap()))
        .collect();
    let home = fresh_home("good");
    set_env(&home, &serve(files, 4));
    let m = kiln::datasets::mnist::load_data().unwrap();
    assert_eq!(m.x_train.shape(), &[60_000, 28, 28]);
    assert_eq!(m.y_test.len(), 10_000);
    for n in NAMES {
        assert!(
            home.join("datasets/mnist").join(n).is_file(),
            "{n} not cached"
        );
    }
    // a second load reads the cache (the server is gone after four requests)
    assert_eq!(kiln::datasets::mnist::load_data().unwrap(), m);
    std::fs::remove_dir_all(home).unwrap();
}
