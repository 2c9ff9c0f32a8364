//! Batch prediction over a JSON-lines file, as Cloud AI Platform's batch prediction jobs:
//! one instance per line (TensorFlow Serving's row format for one sample), or
//! `{"key": ..., "instance": ...}`. The file is read as a stream, `batch_size` lines at a
//! time, so memory does not grow with it. `DIR/prediction.results-00000-of-00001` gets one
//! line per instance predicted (its key, or the instance, and `prediction`);
//! `DIR/prediction.errors_stats-00000-of-00001` gets each error message with the number of
//! lines it stopped (`{"error": ..., "count": ...}`). A bad line is counted and skipped.

use crate::tf_json::{self, Batch, Doc, Node, Signature};
use indicatif::{ProgressBar, ProgressStyle};
use kiln::{EvalOptions, Model};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The longest line read; a longer one is an error, skipped without being held in memory.
const MAX_LINE: usize = 64 << 20;

pub const RESULTS: &str = "prediction.results-00000-of-00001";
pub const ERRORS: &str = "prediction.errors_stats-00000-of-00001";

/// What a job did.
#[derive(Debug, Default)]
pub struct Report {
    pub predicted: usize,
    pub errors: usize,
}

struct Pending {
    /// Each line's start in the results: `{"key":...` or `{"instance":...`.
    ids: Vec<Vec<u8>>,
    batches: Vec<Batch>,
}

pub fn predict_file(
    model: &Model,
    input: &Path,
    out_dir: &Path,
    batch_size: usize,
) -> Result<Report, String> {
    let at = |e: std::io::Error, path: &Path| format!("{}: {e}", path.display());
    let file = File::open(input).map_err(|e| at(e, input))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    std::fs::create_dir_all(out_dir).map_err(|e| at(e, out_dir))?;
    let results_path = out_dir.join(RESULTS);
    let partial = temp_name(&results_path);
    let mut results = BufWriter::new(File::create(&partial).map_err(|e| at(e, &partial))?);

    // a constant template, parsed on every run of the batch tests
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {per_sec} eta {eta}")
            .expect("a valid template"),
    );
    let sig = Signature::of(model);
    let batch_size = batch_size.max(1);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut report = Report::default();
    let mut pending = Pending {
        ids: Vec::with_capacity(batch_size),
        batches: Vec::with_capacity(batch_size),
    };
    loop {
        let read = read_line(&mut reader, &mut line).map_err(|e| at(e, input))?;
        let done = read.is_none();
        if let Some((bytes, complete)) = read {
            progress.inc(bytes as u64);
            if !complete {
                *errors
                    .entry(format!("a line is longer than {} MiB", MAX_LINE >> 20))
                    .or_default() += 1;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(&line, &sig) {
                Ok((id, batch)) => {
                    pending.ids.push(id);
                    pending.batches.push(batch);
                }
                Err(message) => *errors.entry(message).or_default() += 1,
            }
        }
        // a full batch, or what is left at the end of the file
        if done || pending.ids.len() == batch_size {
            flush(
                model,
                &sig,
                &mut pending,
                &mut results,
                &mut report,
                &mut errors,
            )
            .map_err(|e| at(e, &partial))?;
        }
        if done {
            break;
        }
    }
    progress.finish_and_clear();
    results
        .into_inner()
        .map_err(|e| at(e.into_error(), &partial))?
        .sync_all()
        .map_err(|e| at(e, &partial))?;
    std::fs::rename(&partial, &results_path).map_err(|e| at(e, &results_path))?;

    let errors_path = out_dir.join(ERRORS);
    let mut text = String::new();
    for (message, count) in &errors {
        report.errors += count;
        text.push_str(&serde_json::json!({"error": message, "count": count}).to_string());
        text.push('\n');
    }
    let partial = temp_name(&errors_path);
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &errors_path))
        .map_err(|e| at(e, &errors_path))?;
    Ok(report)
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// The next line into `line` (without its newline): the bytes it took and whether it was
/// whole; `None` at the end of the file. A line over `MAX_LINE` is skipped to its end.
fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<(usize, bool)>> {
    line.clear();
    let mut taken = 0;
    let mut complete = true;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok((taken > 0).then_some((taken, complete)));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], Some(end + 1)),
            None => (available, None),
        };
        if complete && line.len() + chunk.len() <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else {
            complete = false;
            line.clear();
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        taken += used;
        if done.is_some() {
            return Ok(Some((taken, complete)));
        }
    }
}

/// A line: the start of its result line (its key, or the instance itself) and its sample.
pub(crate) fn parse_line(line: &[u8], sig: &Signature) -> Result<(Vec<u8>, Batch), String> {
    let doc = Doc::parse(line).map_err(|e| {
        // without " at line 1 column 17", so that like errors count together
        let text = e.to_string();
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(t, _)| t);
        format!("not valid JSON: {text}")
    })?;
    let keyed = match &doc.root {
        Node::Map(entries) => {
            entries.iter().any(|(k, _)| k == "instance")
                && entries.iter().all(|(k, _)| k == "key" || k == "instance")
        }
        _ => false,
    };
    let (instance, key) = match doc.root.get("instance") {
        Some(instance) if keyed => (instance, doc.root.get("key")),
        _ => (&doc.root, None),
    };
    let batch = tf_json::parse_instance(&doc, instance, sig)?;
    let mut id = Vec::new();
    match key {
        Some(key) => {
            id.extend_from_slice(b"{\"key\":");
            tf_json::write_node(&mut id, key, &doc);
        }
        None => {
            id.extend_from_slice(b"{\"instance\":");
            tf_json::write_node(&mut id, instance, &doc);
        }
    }
    Ok((id, batch))
}

fn flush(
    model: &Model,
    sig: &Signature,
    pending: &mut Pending,
    results: &mut impl Write,
    report: &mut Report,
    errors: &mut BTreeMap<String, usize>,
) -> std::io::Result<()> {
    if pending.ids.is_empty() {
        return Ok(());
    }
    let parts: Vec<&Batch> = pending.batches.iter().collect();
    let merged = Batch::concat(&parts);
    let options = EvalOptions::default().batch_size(merged.rows).verbose(0);
    match model.predict_outputs_with(&merged.arrays, options) {
        Ok(outputs) => {
            let mut text = Vec::new();
            for (row, id) in pending.ids.iter().enumerate() {
                text.clear();
                text.extend_from_slice(id);
                text.extend_from_slice(b",\"prediction\":");
                tf_json::write_row(&mut text, &outputs, sig, row);
                text.extend_from_slice(b"}\n");
                results.write_all(&text)?;
            }
            report.predicted += pending.ids.len();
        }
        Err(e) => *errors.entry(e.to_string()).or_default() += pending.ids.len(),
    }
    pending.ids.clear();
    pending.batches.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_whole_or_skipped_when_too_long() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("ab\n{long}\ncd");
        let mut reader = BufReader::with_capacity(1024, text.as_bytes());
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), Some((3, true)));
        assert_eq!(line, b"ab");
        assert_eq!(
            read_line(&mut reader, &mut line).unwrap(),
            Some((MAX_LINE + 11, false))
        );
        assert!(line.is_empty());
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), Some((2, true)));
        assert_eq!(line, b"cd");
        assert_eq!(read_line(&mut reader, &mut line).unwrap(), None);
    }

    #[test]
    fn json_errors_count_together_whatever_their_column() {
        let sig = Signature {
            inputs: vec![tf_json::TensorSpec {
                name: "x".into(),
                shape: vec![2],
            }],
            outputs: vec![tf_json::TensorSpec {
                name: "y".into(),
                shape: vec![1],
            }],
            text: None,
        };
        let a = parse_line(b"[1, 2", &sig).err().unwrap();
        let b = parse_line(b"[1, 2, 3, 4", &sig).err().unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("not valid JSON"), "{a}");
        let (id, batch) = parse_line(br#"{"key": "k7", "instance": [1, 2]}"#, &sig).unwrap();
        assert_eq!(id, br#"{"key":"k7""#);
        assert_eq!(batch.arrays[0].as_slice().unwrap(), &[1.0, 2.0]);
        let (id, _) = parse_line(br#"{"instance": [1, 2.5]}"#, &sig).unwrap();
        assert_eq!(id, br#"{"instance":[1.0,2.5]"#);
        let (id, _) = parse_line(br#"[0.1, 2]"#, &sig).unwrap();
        assert_eq!(id, br#"{"instance":[0.1,2.0]"#);
        let e = parse_line(b"[1, 2, 3]", &sig).err().unwrap();
        assert!(e.contains("has shape [3]"), "{e}");
    }
}
