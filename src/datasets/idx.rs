//! The IDX format of MNIST: a magic number, big-endian dimensions, then unsigned bytes.
//! [`read`] loads any such file.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (gzipped or not), such as MNIST's
/// `t10k-images-idx3-ubyte.gz`, as an array of its dimensions.
pub fn read(path: impl AsRef<Path>) -> Result<ndarray::ArrayD<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let idx = parse(&decompress(&bytes, path)?, path)?;
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&idx.dims), idx.data)
        .map_err(|e| Error::format(path, format!("its dimensions {:?}: {e}", idx.dims)))
}

/// The most a gzip file may expand: MNIST's images expand 4.8 times, its labels 2 times; a
/// gzip bomb, up to deflate's limit of about 1,000.
const MAX_EXPANSION: usize = 64;

/// The raw content of `bytes`, decompressed when it is gzip (by its magic number, whatever the
/// file's name); `path` names the file in the error. Decompressing stops, with an error, past
/// 64 times the compressed size (at least 1 MiB): a gzip bomb is refused, not inflated.
pub fn decompress(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let limit = bytes.len().saturating_mul(MAX_EXPANSION).max(1 << 20);
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("not a valid gzip file: {e}")))?;
        if out.len() > limit {
            return Err(Error::format(
                path,
                format!(
                    "it expands past {limit} bytes from {} compressed (more than {MAX_EXPANSION} \
                     times): refused as damaged or a gzip bomb",
                    bytes.len()
                ),
            ));
        }
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses uncompressed IDX bytes holding unsigned bytes (type 0x08).
pub(crate) fn parse(raw: &[u8], path: &Path) -> Result<Idx> {
    let bad = |why: String| Error::format(path, format!("not an IDX file of bytes: {why}"));
    if raw.len() < 4 || raw[0] != 0 || raw[1] != 0 {
        return Err(bad("it does not start with the IDX magic number".into()));
    }
    if raw[2] != 0x08 {
        return Err(bad(format!(
            "its element type is 0x{:02x}, not 0x08",
            raw[2]
        )));
    }
    let rank = raw[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || raw.len() < header {
        return Err(bad(format!("its header is cut short (rank {rank})")));
    }
    let dims: Vec<usize> = raw[4..header]
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    // an array may not span more than isize::MAX elements, even when one dimension is 0
    let spans = dims
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| n <= isize::MAX as usize);
    if expected != Some(raw.len() - header) || !spans {
        return Err(bad(format!(
            "its dimensions {dims:?} need {} bytes but it holds {}",
            expected.map_or("more".into(), |e| e.to_string()),
            raw.len() - header
        )));
    }
    Ok(Idx {
        dims,
        data: raw[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_a_hand_made_file() {
        let raw = idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let got = parse(&raw, Path::new("x")).unwrap();
        assert_eq!(got.dims, vec![2, 3]);
        assert_eq!(got.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn refuses_broken_files_with_the_path() {
        let p = Path::new("/data/broken.idx");
        let e = parse(&idx(&[2, 3], &[1, 2]), p).unwrap_err();
        assert!(e.to_string().contains("/data/broken.idx"), "{e}");
        assert!(parse(b"PK\x03\x04", p).is_err());
        let mut float = idx(&[1], &[0, 0, 0, 0]);
        float[2] = 0x0d;
        assert!(parse(&float, p).is_err());
    }

    #[test]
    fn gzip_is_detected() {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        use std::io::Write;
        let raw = idx(&[1], &[9]);
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decompress(&gz, Path::new("a")).unwrap(), raw);
        assert_eq!(decompress(&raw, Path::new("a")).unwrap(), raw);
        assert!(decompress(&gz[..10], Path::new("a")).is_err());
    }

    #[test]
    fn dimensions_whose_product_overflows_are_refused() {
        // 2^32-1 to the fourth wraps around usize to a small number
        let raw = idx(&[u32::MAX; 4], &[]);
        let e = parse(&raw, Path::new("big.idx")).unwrap_err().to_string();
        assert!(e.contains("need more bytes"), "{e}");
    }

    #[test]
    fn a_zero_dimension_beside_huge_ones_is_refused() {
        // 0 elements, but ndarray refuses a shape that spans more than isize::MAX
        let raw = idx(&[0, u32::MAX, u32::MAX, u32::MAX], &[]);
        let e = parse(&raw, Path::new("zero.idx")).unwrap_err().to_string();
        assert!(
            e.contains("zero.idx") && e.contains("[0, 4294967295"),
            "{e}"
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_before_it_is_inflated() {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 100_000, "{}", bomb.len());
        let e = decompress(&bomb, Path::new("bomb.gz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bomb.gz") && e.contains("gzip bomb"), "{e}");
    }
}
