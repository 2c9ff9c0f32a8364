//! TensorBoard event files: `Event` protobufs in TFRecord framing (each record its length, a
//! masked CRC-32C of the length, the data, a masked CRC-32C of the data), as TensorFlow's
//! summary writers write them.

use super::proto::Message;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many buckets a histogram has (TensorFlow 2's default).
const BUCKETS: usize = 30;

/// An event file being written in a directory; every record is flushed when written, so a
/// run can be watched as it goes.
pub(crate) struct EventFile {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventFile {
    /// A new file in `dir` (created if needed), named as TensorFlow names them
    /// (`events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`), opened with its version record.
    pub fn create(dir: &Path) -> Result<Self> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .unwrap_or_else(|| "localhost".into());
        // the count zero-padded: files of one second sort in the order they were made, which
        // TensorBoard's directory loader relies on
        let name = format!(
            "events.out.tfevents.{}.{host}.{}.{:06}.v2",
            now() as u64,
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut events = EventFile {
            path,
            file: BufWriter::new(file),
        };
        let version = Message::new().double(1, now()).bytes(3, b"brain.Event:2");
        events.write(version)?;
        Ok(events)
    }

    /// A scalar (`simple_value`) at `step`.
    pub fn scalar(&mut self, tag: &str, value: f32, step: i64) -> Result<()> {
        let value = Message::new().bytes(1, tag.as_bytes()).float(2, value);
        self.summary(value, step)
    }

    /// A histogram of `values` (30 buckets of equal width between their least and greatest) at
    /// `step`.
    pub fn histogram(&mut self, tag: &str, values: &[f32], step: i64) -> Result<()> {
        let histo = histogram(values);
        let value = Message::new().bytes(1, tag.as_bytes()).message(5, histo);
        self.summary(value, step)
    }

    /// A text (the text plugin's string tensor, shown as markdown) at `step`.
    pub fn text(&mut self, tag: &str, text: &str, step: i64) -> Result<()> {
        self.string(tag, text, "text", b"", step)
    }

    /// A model's JSON for the graph dashboard's conceptual graph (the `graph_keras_model`
    /// plugin, version 1), at `step`.
    pub fn keras_model(&mut self, tag: &str, json: &str, step: i64) -> Result<()> {
        self.string(tag, json, "graph_keras_model", b"1", step)
    }

    /// A graph for the graph dashboard's op graph: one `NodeDef` per `(name, op, inputs)`, in
    /// a `GraphDef`.
    pub fn graph(&mut self, nodes: &[(String, String, Vec<String>)]) -> Result<()> {
        let mut graph = Message::new();
        for (name, op, inputs) in nodes {
            let mut node = Message::new()
                .bytes(1, name.as_bytes())
                .bytes(2, op.as_bytes());
            for input in inputs {
                node = node.bytes(3, input.as_bytes());
            }
            graph = graph.message(1, node);
        }
        // versions { producer: 22 }, as TensorFlow 2 writes it
        graph = graph.message(4, Message::new().int(1, 22));
        let event = Message::new()
            .double(1, now())
            .bytes(4, &graph.into_bytes());
        self.write(event)
    }

    /// A string tensor for `plugin` (with its `content`) at `step`.
    fn string(
        &mut self,
        tag: &str,
        text: &str,
        plugin: &str,
        content: &[u8],
        step: i64,
    ) -> Result<()> {
        // TensorProto: dtype DT_STRING (7), a scalar shape, one string
        let tensor = Message::new()
            .int(1, 7)
            .message(2, Message::new())
            .bytes(8, text.as_bytes());
        let plugin = Message::new().bytes(1, plugin.as_bytes()).bytes(2, content);
        let value = Message::new()
            .bytes(1, tag.as_bytes())
            .message(8, tensor)
            .message(9, Message::new().message(1, plugin));
        self.summary(value, step)
    }

    fn summary(&mut self, value: Message, step: i64) -> Result<()> {
        let event = Message::new()
            .double(1, now())
            .int(2, step)
            .message(5, Message::new().message(1, value));
        self.write(event)
    }

    fn write(&mut self, event: Message) -> Result<()> {
        let record = record(&event.into_bytes());
        self.file
            .write_all(&record)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Seconds since the epoch.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A `HistogramProto` of `values`: min, max, count, sum, sum of squares, and the buckets'
/// right edges and counts.
fn histogram(values: &[f32]) -> Message {
    let finite: Vec<f64> = values
        .iter()
        .map(|&v| f64::from(v))
        .filter(|v| v.is_finite())
        .collect();
    let (min, max) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (mut limits, mut counts) = (Vec::new(), Vec::new());
    if !finite.is_empty() {
        let buckets = if max > min { BUCKETS } else { 1 };
        let width = (max - min) / buckets as f64;
        limits = (1..=buckets)
            .map(|k| {
                if k == buckets {
                    max
                } else {
                    min + k as f64 * width
                }
            })
            .collect();
        counts = vec![0.0; buckets];
        for v in &finite {
            let k = if width > 0.0 {
                (((v - min) / width) as usize).min(buckets - 1)
            } else {
                0
            };
            counts[k] += 1.0;
        }
    }
    let (min, max) = if finite.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    };
    Message::new()
        .double(1, min)
        .double(2, max)
        .double(3, finite.len() as f64)
        .double(4, finite.iter().sum())
        .double(5, finite.iter().map(|v| v * v).sum())
        .doubles(6, &limits)
        .doubles(7, &counts)
}

/// `data` framed as a TFRecord.
fn record(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// TFRecord's masked CRC: the CRC-32C rotated right by 15 bits plus a constant.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time from a table.
fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    !data.iter().fold(!0u32, |crc, &b| {
        table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_is_castagnoli() {
        // RFC 3720's check value, and iSCSI's 32 zero bytes
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn records_frame_the_data_with_both_checksums() {
        let r = record(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(r[..8], 3u64.to_le_bytes());
        assert_eq!(r[8..12], masked_crc(&3u64.to_le_bytes()).to_le_bytes());
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(r[15..], masked_crc(b"abc").to_le_bytes());
    }

    #[test]
    fn histograms_count_every_finite_value_once() {
        let values: Vec<f32> = (0..100).map(|i| i as f32 / 10.0).collect();
        let bytes = histogram(&values).into_bytes();
        // min 0, max 9.9, 100 values
        assert_eq!(bytes[1..9], 0.0f64.to_le_bytes());
        assert_eq!(bytes[10..18], f64::from(9.9f32).to_le_bytes());
        assert_eq!(bytes[19..27], 100.0f64.to_le_bytes());
        let one = histogram(&[2.0, 2.0, f32::NAN]).into_bytes();
        assert_eq!(one[19..27], 2.0f64.to_le_bytes());
    }
}
