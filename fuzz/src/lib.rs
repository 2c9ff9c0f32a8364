//! Mutation fuzzing of kiln's readers on stable Rust: a structure-aware mutation loop seeded
//! from valid files, with the three checks every reader owes its users — no panic, no case
//! over a second, no allocation over 1 GiB — and a regression corpus.
//!
//! A campaign ([`campaign`]) takes seed inputs, derives each case from one of them by a few
//! stacked mutations ([`mutate`]: bit flips, interesting integers, cut, spliced and repeated
//! ranges; inside JSON text, numbers turned huge, negative or zero, strings emptied or made
//! long, keys dropped, values nested deep), writes it to a file (so that a reader of paths can
//! read it, and so that a case that aborts the process is left behind) and hands it to the
//! reader. The reader's `Err` is the expected outcome; a panic, a slow case or a large
//! allocation is a failure, kept with its input.
//!
//! Allocations are seen by [`Tracking`], which the test binary installs as its global
//! allocator. The number of cases is `KILN_FUZZ_CASES` when set ([`cases`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Derives a case from an input, given the other inputs to splice from.
pub type Mutator = dyn Fn(&[u8], &[Vec<u8>], &mut Rng) -> Vec<u8>;
/// Reads a case, given the path it was written to and its bytes; its error as text.
pub type Reader = dyn Fn(&Path, &[u8]) -> Result<(), String>;

/// The largest allocation a case may make.
pub const MAX_ALLOCATION: usize = 1 << 30;
/// The longest a case may take.
pub const MAX_CASE_TIME: Duration = Duration::from_secs(1);

static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, remembering the largest single allocation since [`reset_largest`].
/// Install it in a test binary: `#[global_allocator] static A: kiln_fuzz::Tracking =
/// kiln_fuzz::Tracking;`.
pub struct Tracking;

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as above
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as above
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Forgets the largest allocation seen so far.
pub fn reset_largest() {
    LARGEST.store(0, Ordering::Relaxed);
}

/// The largest single allocation since [`reset_largest`] (0 without [`Tracking`] installed).
pub fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

/// SplitMix64: a small, seeded generator, the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Little-endian and big-endian encodings of sizes that break careless readers.
const INTERESTING_U64: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff_ffff,
    0xffff_ffff,
    0x8000_0000,
    1 << 40,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// JSON numbers that break careless readers.
const INTERESTING_NUMBERS: [&str; 12] = [
    "0",
    "-1",
    "1",
    "2",
    "1000000000000",
    "-1000000000000",
    "4294967296",
    "4611686018427387904",
    "18446744073709551615",
    "1e300",
    "0.5",
    "-0.0",
];

/// One byte-level mutation of `input`; `others` are inputs to splice from.
pub fn mutate_bytes(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    let len = out.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff]);
        }
        2 if len >= 8 => {
            let value = *rng.pick(&INTERESTING_U64);
            let width = *rng.pick(&[2usize, 4, 8]);
            let i = rng.below(len - width + 1);
            let bytes = if rng.chance(50) {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            let bytes = if rng.chance(50) {
                &bytes[..width]
            } else {
                &bytes[8 - width..]
            };
            out[i..i + width].copy_from_slice(bytes);
        }
        3 if len > 0 => {
            // cut the end
            out.truncate(rng.below(len));
        }
        4 if len > 1 => {
            // delete a range
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64.min(len - start))).min(len);
            out.drain(start..end);
        }
        5 if len > 0 => {
            // repeat a range
            let start = rng.below(len);
            let end = (start + 1 + rng.below(256.min(len - start))).min(len);
            let piece = out[start..end].to_vec();
            let at = rng.below(len + 1);
            for _ in 0..1 + rng.below(4) {
                out.splice(at..at, piece.iter().copied());
            }
        }
        6 if !others.is_empty() => {
            // splice in a piece of another input
            let other = rng.pick(others);
            if !other.is_empty() {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(512)).min(other.len());
                let at = rng.below(len + 1);
                let cut = (at + rng.below(512)).min(len);
                out.splice(at..cut, other[start..end].iter().copied());
            }
        }
        7 => {
            // random bytes
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            out.splice(at..at, bytes);
        }
        _ if len > 0 => {
            let i = rng.below(len);
            out[i] = rng.next_u64() as u8;
        }
        _ => out.push(rng.next_u64() as u8),
    }
    out
}

/// The byte ranges of the JSON values in `text` (numbers, strings, arrays and objects), found
/// by a scan that tolerates invalid JSON.
fn json_values(text: &[u8]) -> Vec<(usize, usize, u8)> {
    let mut values = Vec::new();
    let mut open: Vec<(usize, u8)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(text.len());
                // a key is followed by a colon: not a value to replace
                let mut j = end;
                while j < text.len() && text[j].is_ascii_whitespace() {
                    j += 1;
                }
                if text.get(j) != Some(&b':') {
                    values.push((start, end, b'"'));
                }
                i = end;
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                values.push((start, i, b'0'));
                continue;
            }
            c @ (b'[' | b'{') => open.push((i, c)),
            b']' | b'}' => {
                if let Some((start, c)) = open.pop() {
                    values.push((start, i + 1, c));
                }
            }
            _ => {}
        }
        i += 1;
    }
    values
}

/// One JSON-aware mutation of `text`, or `None` when it holds no JSON value.
pub fn mutate_json(text: &[u8], rng: &mut Rng) -> Option<Vec<u8>> {
    let values = json_values(text);
    if values.is_empty() {
        return None;
    }
    let &(start, end, kind) = rng.pick(&values);
    let value = &text[start..end];
    let replacement: Vec<u8> = match (kind, rng.below(6)) {
        (b'0', _) | (_, 0) => rng.pick(&INTERESTING_NUMBERS).as_bytes().to_vec(),
        (b'"', 1) => b"\"\"".to_vec(),
        (b'"', 2) => {
            let mut long = vec![b'"'];
            long.extend(std::iter::repeat_n(b'x', 1 << (10 + rng.below(12))));
            long.push(b'"');
            long
        }
        (_, 3) => {
            // nested deep
            let depth = 1 << rng.below(17);
            let mut deep = vec![b'['; depth];
            deep.extend(value);
            deep.extend(std::iter::repeat_n(b']', depth));
            deep
        }
        (b'[' | b'{', 4) => {
            // emptied, or its first element or member dropped
            let inner = &value[1..value.len() - 1];
            match inner.iter().position(|&c| c == b',') {
                Some(comma) if rng.chance(70) => {
                    let mut v = vec![value[0]];
                    v.extend(&inner[comma + 1..]);
                    v.push(value[value.len() - 1]);
                    v
                }
                _ => vec![value[0], value[value.len() - 1]],
            }
        }
        (_, 5) => {
            // another value of the document
            let &(s, e, _) = rng.pick(&values);
            text[s..e].to_vec()
        }
        _ => rng
            .pick(&[b"null".as_slice(), b"true", b"[]", b"{}", b"-1"])
            .to_vec(),
    };
    let mut out = text[..start].to_vec();
    out.extend(replacement);
    out.extend(&text[end..]);
    Some(out)
}

/// A case derived from `input` by one to four mutations, JSON-aware where the input has JSON.
pub fn mutate(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        out = match rng.chance(60).then(|| mutate_json(&out, rng)).flatten() {
            Some(json) => json,
            None => mutate_bytes(&out, others, rng),
        };
    }
    out
}

/// The entries of a zip archive (each read up to 1 MiB), or `None` when it is not one.
pub fn zip_entries(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).ok()?;
            let mut out = Vec::new();
            (&mut file).take(1 << 20).read_to_end(&mut out).ok()?;
            Some((file.name().to_string(), out))
        })
        .collect()
}

/// A zip archive (deflated) of `entries`.
pub fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(name.as_str(), options)
            .expect("writing to memory");
        zip.write_all(bytes).expect("writing to memory");
    }
    zip.finish().expect("writing to memory").into_inner()
}

/// Mutates one entry of an archive (a JSON one JSON-aware, any other byte by byte) and zips
/// it again, or the archive's bytes (one time in five, or when it is not an archive).
pub fn mutate_zip(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let Some(mut entries) = zip_entries(input).filter(|e| !e.is_empty() && rng.chance(80)) else {
        return mutate_bytes(input, others, rng);
    };
    let i = rng.below(entries.len());
    let (name, entry) = &entries[i];
    let mutated = if name.ends_with(".json") {
        mutate(entry, others, rng)
    } else {
        mutate_bytes(entry, &[], rng)
    };
    entries[i].1 = mutated;
    zip_of(&entries)
}

/// The number of cases per reader: `KILN_FUZZ_CASES` when set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("KILN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What went wrong with one case.
#[derive(Debug)]
pub struct Failure {
    /// `panic`, `slow` or `allocation`.
    pub kind: &'static str,
    /// The panic's message, the time taken or the allocation's size.
    pub message: String,
    /// The input.
    pub input: Vec<u8>,
}

/// What a campaign saw.
#[derive(Debug, Default)]
pub struct Report {
    /// The reader's name.
    pub reader: String,
    /// Cases run.
    pub cases: usize,
    /// Cases the reader refused with an error.
    pub errors: usize,
    /// The slowest case.
    pub slowest: Duration,
    /// The largest single allocation of a case.
    pub largest_allocation: usize,
    /// The failures, with their inputs (at most 20 kept).
    pub failures: Vec<Failure>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} cases, {} refused with an error, {} failures, slowest {:.1} ms, largest \
             allocation {:.1} MB",
            self.reader,
            self.cases,
            self.errors,
            self.failures.len(),
            self.slowest.as_secs_f64() * 1e3,
            self.largest_allocation as f64 / 1e6
        )
    }
}

/// Where a campaign writes each case: `dir/<reader>.case`.
pub fn case_path(dir: &Path, reader: &str) -> PathBuf {
    dir.join(format!("{reader}.case"))
}

/// Runs `input` through `read` with the three checks; `path` is where the input was written.
fn check(input: &[u8], path: &Path, read: &Reader) -> Result<bool, Failure> {
    std::fs::write(path, input).map_err(|e| Failure {
        kind: "io",
        message: e.to_string(),
        input: input.to_vec(),
    })?;
    reset_largest();
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| read(path, input)));
    let took = start.elapsed();
    let allocated = largest();
    let failure = |kind, message| Failure {
        kind,
        message,
        input: input.to_vec(),
    };
    match outcome {
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(failure("panic", message))
        }
        Ok(_) if took > MAX_CASE_TIME => Err(failure("slow", format!("{took:?}"))),
        Ok(_) if allocated > MAX_ALLOCATION => {
            Err(failure("allocation", format!("{allocated} bytes")))
        }
        Ok(result) => Ok(result.is_err()),
    }
}

/// Runs `cases` mutated cases (seeded by `seed`) and then every seed through `read`, which
/// gets the path the case was written to (in `dir`) and its bytes, and returns the reader's
/// outcome (its error as text). Failing inputs are also written to `dir/failures/<reader>/`.
pub fn campaign(
    reader: &str,
    seeds: &[Vec<u8>],
    cases: usize,
    seed: u64,
    dir: &Path,
    mutator: &Mutator,
    read: &Reader,
) -> Report {
    std::fs::create_dir_all(dir).expect("the fuzz directory can be made");
    let path = case_path(dir, reader);
    let mut report = Report {
        reader: reader.into(),
        ..Report::default()
    };
    let mut rng = Rng::new(seed);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..seeds.len() + cases {
        let input = match seeds.get(i) {
            Some(seed) => seed.clone(),
            None => {
                let base = &seeds[rng.below(seeds.len())];
                mutator(base, seeds, &mut rng)
            }
        };
        report.cases += 1;
        let start = Instant::now();
        match check(&input, &path, read) {
            Ok(refused) => report.errors += usize::from(refused),
            Err(failure) => {
                if report.failures.len() < 20 {
                    let kept = dir.join("failures").join(reader);
                    let _ = std::fs::create_dir_all(&kept);
                    let _ = std::fs::write(
                        kept.join(format!("{}-{}", failure.kind, report.cases)),
                        &failure.input,
                    );
                    report.failures.push(failure);
                }
            }
        }
        report.slowest = report.slowest.max(start.elapsed());
        report.largest_allocation = report.largest_allocation.max(largest());
    }
    std::panic::set_hook(previous);
    let _ = std::fs::remove_file(&path);
    report
}

/// One reader's campaign: its name, its seed inputs, how cases are derived and how they are
/// read.
pub struct Target<'a> {
    pub name: &'a str,
    pub seeds: Vec<Vec<u8>>,
    pub mutator: &'a Mutator,
    pub reader: &'a Reader,
}

impl<'a> Target<'a> {
    /// A campaign of `reader` over cases `mutator` derives from `seeds`.
    pub fn new(
        name: &'a str,
        seeds: Vec<Vec<u8>>,
        mutator: &'a Mutator,
        reader: &'a Reader,
    ) -> Self {
        Target {
            name,
            seeds,
            mutator,
            reader,
        }
    }
}

/// The files of `dir`, in name order (none when it does not exist).
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file reads"))
        .collect()
}

/// Runs the campaign of each target (only `KILN_FUZZ_READER`'s when it is set), with
/// [`cases`] cases (`default_cases` without `KILN_FUZZ_CASES`) drawn from `KILN_FUZZ_SEED`
/// (1 by default), the seeds joined by the regression corpus `corpus/<name>/`; prints each
/// report and its failures, and returns the names of the targets that failed.
pub fn run_targets(
    targets: Vec<Target>,
    corpus_dir: &Path,
    dir: &Path,
    default_cases: usize,
) -> Vec<String> {
    let only = std::env::var("KILN_FUZZ_READER").ok();
    let seed = std::env::var("KILN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut failed = Vec::new();
    for mut target in targets {
        if only.as_deref().is_some_and(|o| o != target.name) {
            continue;
        }
        target.seeds.extend(corpus(&corpus_dir.join(target.name)));
        let report = campaign(
            target.name,
            &target.seeds,
            cases(default_cases),
            seed,
            dir,
            target.mutator,
            target.reader,
        );
        println!("{report}");
        for failure in &report.failures {
            println!("  {}: {}", failure.kind, failure.message);
        }
        if !report.failures.is_empty() {
            failed.push(target.name.to_string());
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_the_same_everywhere() {
        let mut rng = Rng::new(1);
        assert_eq!(rng.next_u64(), 0x910a_2dec_8902_5cc1);
    }

    #[test]
    fn json_values_are_found_in_broken_text() {
        let text = br#"{"a": [1, -2.5e3], "b": "x\"y", "c": {"d": null}"#;
        let kinds: Vec<u8> = json_values(text).iter().map(|v| v.2).collect();
        assert_eq!(kinds, [b'0', b'0', b'[', b'"', b'{']);
    }

    #[test]
    fn mutations_change_inputs_and_stay_bounded() {
        let mut rng = Rng::new(7);
        let seed = br#"{"units": 3, "name": "dense", "shape": [4, 5]}"#.to_vec();
        let mut changed = 0;
        for _ in 0..2000 {
            let out = mutate(&seed, std::slice::from_ref(&seed), &mut rng);
            changed += usize::from(out != seed);
            assert!(out.len() < 64 << 20);
        }
        assert!(changed > 1900, "{changed}");
    }

    #[test]
    fn archives_are_mutated_entry_by_entry() {
        let entries = vec![
            ("config.json".to_string(), br#"{"units": 3}"#.to_vec()),
            ("data.bin".to_string(), vec![1u8; 64]),
        ];
        let archive = zip_of(&entries);
        assert_eq!(zip_entries(&archive).unwrap(), entries);
        let mut rng = Rng::new(5);
        let mut changed = 0;
        for _ in 0..200 {
            let out = mutate_zip(&archive, &[], &mut rng);
            if let Some(e) = zip_entries(&out) {
                assert_eq!(e.len(), 2);
                changed += usize::from(e != entries);
            }
        }
        // four in five mutate an entry; the others, the archive's bytes
        assert!((140..=175).contains(&changed), "{changed}");
    }

    #[test]
    fn a_panicking_reader_is_a_failure_with_its_input() {
        let dir = std::env::temp_dir().join(format!("kiln-fuzz-self-{}", std::process::id()));
        let report = campaign(
            "self",
            &[b"ok".to_vec()],
            200,
            3,
            &dir,
            &|input, others, rng| mutate_bytes(input, others, rng),
            &|_, bytes| {
                if bytes.contains(&0xff) {
                    panic!("0xff");
                }
                Err("refused".into())
            },
        );
        assert_eq!(report.cases, 201);
        assert!(!report.failures.is_empty(), "{report}");
        assert!(
            report
                .failures
                .iter()
                .all(|f| f.kind == "panic" && f.input.contains(&0xff))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
