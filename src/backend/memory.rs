//! The machine's memory: what a model's weights may take at most.

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`), or `None` where it
/// cannot be read (then no limit applies but `usize`'s).
pub(crate) fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn linux_reports_its_memory() {
        let bytes = super::physical_memory().unwrap();
        assert!(bytes > 64 << 20, "{bytes}");
    }
}
