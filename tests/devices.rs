//! Device choice at run time, in the same binary: `auto` falls back to the CPU when no Vulkan
//! driver is there, `gpu` then fails with a clear error, and `KILN_DEVICE` is read.
//!
//! Each check runs this test binary again as a child with `VK_ICD_FILENAMES` pointing at no
//! driver, so that the Vulkan loader finds none, whatever the machine has.

use kiln::{Device, DeviceChoice};
use std::process::Command;

/// In a child (`KILN_DEVICE_PROBE` set): prints what `Device::from_env` gives.
#[test]
fn probe_child() {
    if std::env::var("KILN_DEVICE_PROBE").is_err() {
        return;
    }
    if std::env::var("KILN_DEVICE").as_deref() == Ok("gpus") {
        match Device::gpus() {
            Ok(d) => println!("\nDEVICE={} GPUs", d.len()),
            Err(e) => println!("\nERROR={e}"),
        }
        return;
    }
    match Device::from_env() {
        Ok(d) => println!("\nDEVICE={d}"),
        Err(e) => println!("\nERROR={e}"),
    }
}

fn probe(choice: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("KILN_DEVICE_PROBE", "1")
        .env("KILN_DEVICE", choice)
        .env("VK_ICD_FILENAMES", "/nonexistent/kiln-no-driver.json")
        .env("VK_DRIVER_FILES", "/nonexistent/kiln-no-driver.json")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("DEVICE=") || l.starts_with("ERROR="))
        .unwrap_or_else(|| panic!("the child printed no device:\n{text}"))
        .to_string()
}

#[test]
fn auto_without_a_vulkan_driver_trains_on_the_cpu() {
    let threads = std::thread::available_parallelism().unwrap();
    assert_eq!(
        probe("auto"),
        format!("DEVICE=cpu (flex, {threads} threads)")
    );
}

#[test]
fn gpu_without_a_driver_is_an_error_not_a_fallback() {
    let line = probe("gpu");
    assert!(
        line.starts_with("ERROR=device `gpu` is not usable"),
        "{line}"
    );
    assert!(line.contains("no Vulkan, Metal or DX12 adapter"), "{line}");
}

#[test]
fn every_gpu_without_a_driver_is_an_error() {
    // `KILN_DEVICE=gpus` makes the child ask `Device::gpus`
    let line = probe("gpus");
    assert!(
        line.starts_with("ERROR=device `gpu` is not usable"),
        "{line}"
    );
}

#[test]
fn the_environment_picks_the_cpu_backends() {
    assert!(probe("cpu-ndarray").starts_with("DEVICE=cpu (ndarray"));
    assert!(probe("cpu").starts_with("DEVICE=cpu (flex"));
    assert!(probe("tpu").contains("`tpu` is not a device"));
}

#[test]
fn choices_name_themselves() {
    for c in ["auto", "cpu", "cpu-ndarray", "gpu"] {
        assert_eq!(c.parse::<DeviceChoice>().unwrap().to_string(), c);
    }
}
