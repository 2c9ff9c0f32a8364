//! NumPy's `.npy` format: the header (magic, version, a Python dict) and the element types
//! kiln reads as `f32`.

use crate::error::{Error, Result};

/// An element type of a `.npy` file that kiln reads, each converted to `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// `uint8` (`|u1`): images, scaled by the reader if it wishes.
    U8,
    /// `int8` (`|i1`).
    I8,
    /// `uint16` (`<u2`).
    U16,
    /// `int32` (`<i4`).
    I32,
    /// `int64` (`<i8`).
    I64,
    /// `float32` (`<f4`).
    F32,
    /// `float64` (`<f8`).
    F64,
}

impl NpyDtype {
    fn from_descr(descr: &str) -> Result<NpyDtype, String> {
        Ok(match descr {
            "|u1" | "<u1" | "u1" => NpyDtype::U8,
            "|i1" | "<i1" | "i1" => NpyDtype::I8,
            "<u2" => NpyDtype::U16,
            "<i4" => NpyDtype::I32,
            "<i8" => NpyDtype::I64,
            "<f4" => NpyDtype::F32,
            "<f8" => NpyDtype::F64,
            other => {
                return Err(format!(
                    "dtype {other} is not supported (use little-endian float32, float64, int8, \
                     int32, int64, uint8 or uint16)"
                ));
            }
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::U8 | NpyDtype::I8 => 1,
            NpyDtype::U16 => 2,
            NpyDtype::I32 | NpyDtype::F32 => 4,
            NpyDtype::I64 | NpyDtype::F64 => 8,
        }
    }

    /// `data` (whole elements of this type) appended to `out` as `f32`.
    pub fn extend_f32(self, data: &[u8], out: &mut Vec<f32>) {
        fn le<const N: usize>(data: &[u8], out: &mut Vec<f32>, f: impl Fn([u8; N]) -> f32) {
            out.extend(data.chunks_exact(N).map(|c| {
                let mut bytes = [0; N];
                bytes.copy_from_slice(c);
                f(bytes)
            }));
        }
        match self {
            NpyDtype::U8 => out.extend(data.iter().map(|v| f32::from(*v))),
            NpyDtype::I8 => out.extend(data.iter().map(|v| f32::from(*v as i8))),
            NpyDtype::U16 => le(data, out, |b| f32::from(u16::from_le_bytes(b))),
            NpyDtype::I32 => le(data, out, |b| i32::from_le_bytes(b) as f32),
            NpyDtype::I64 => le(data, out, |b| i64::from_le_bytes(b) as f32),
            NpyDtype::F32 => le(data, out, f32::from_le_bytes),
            NpyDtype::F64 => le(data, out, |b| f64::from_le_bytes(b) as f32),
        }
    }
}

/// What a `.npy` header says: the element type, the shape, and where the data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The element type.
    pub dtype: NpyDtype,
    /// The array's shape (C order).
    pub shape: Vec<usize>,
    /// The offset of the first data byte in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Parses the header at the start of `raw` (the file's first bytes; the header of a
    /// version 1 file ends within 65,545 bytes). Errors say what is wrong, without a path.
    ///
    /// ```
    /// use kiln::io::npy::{NpyDtype, NpyHeader};
    /// let mut file = b"\x93NUMPY\x01\x00".to_vec();
    /// let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }\n";
    /// file.extend((header.len() as u16).to_le_bytes());
    /// file.extend(header.as_bytes());
    /// let h = NpyHeader::parse(&file).unwrap();
    /// assert_eq!((h.dtype, h.shape.as_slice(), h.data_offset), (NpyDtype::F32, &[3, 2][..], file.len()));
    /// assert_eq!(h.data_len(), Some(24));
    /// assert!(NpyHeader::parse(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
    /// ```
    pub fn parse(raw: &[u8]) -> Result<NpyHeader, String> {
        if !raw.starts_with(b"\x93NUMPY") || raw.len() < 10 {
            return Err("not a .npy file (no \\x93NUMPY magic)".into());
        }
        let (len, start): (usize, usize) = match raw[6] {
            1 => (usize::from(u16::from_le_bytes([raw[8], raw[9]])), 10),
            2 | 3 if raw.len() >= 12 => (
                // a u32 always fits a usize on the 64-bit targets kiln builds for
                u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize,
                12,
            ),
            v => return Err(format!("unsupported .npy version {v}")),
        };
        let header = start
            .checked_add(len)
            .and_then(|end| raw.get(start..end))
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("the .npy header is cut short")?;
        let field = |key: &str| -> Result<&str, String> {
            let at = header
                .find(&format!("'{key}'"))
                .ok_or(format!("the header has no '{key}'"))?;
            let rest = &header[at + key.len() + 2..];
            Ok(rest.trim_start().trim_start_matches(':').trim_start())
        };
        let descr = field("descr")?;
        let descr = descr
            .strip_prefix('\'')
            .and_then(|d| d.split('\'').next())
            .ok_or("the header's descr is not a string")?;
        if field("fortran_order")?.starts_with("True") {
            return Err(
                "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
            );
        }
        let shape = field("shape")?;
        let shape = shape
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("the header's shape is not a tuple")?;
        let shape: Vec<usize> = shape
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| format!("bad dimension `{s}` in the shape"))
            })
            .collect::<Result<_, _>>()?;
        Ok(NpyHeader {
            dtype: NpyDtype::from_descr(descr)?,
            shape,
            data_offset: start + len,
        })
    }

    /// The bytes of data the header promises, or `None` when that overflows.
    pub fn data_len(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(self.dtype.size(), |n, &d| n.checked_mul(d))
    }

    /// Checks that `file_len` bytes hold exactly the promised data after the header.
    pub fn check_len(&self, file_len: u64) -> Result<(), String> {
        let expected = self
            .data_len()
            .and_then(|n| n.checked_add(self.data_offset))
            .ok_or_else(|| format!("the shape {:?} is too large to exist", self.shape))?;
        if file_len != expected as u64 {
            return Err(format!(
                "the shape {:?} of {:?} needs {expected} bytes with the header, but the file \
                 holds {file_len}",
                self.shape, self.dtype
            ));
        }
        Ok(())
    }
}

/// The header of a version 1 `.npy` file holding a C-ordered array of `descr` (NumPy's
/// dtype string: `<f4`, `|u1`…) and `shape`, padded as NumPy pads it; the data follows it.
///
/// ```
/// use kiln::io::npy::{NpyDtype, NpyHeader, header};
/// let mut file = header("<f4", &[2, 3]);
/// file.extend([0u8; 24]);
/// let h = NpyHeader::parse(&file).unwrap();
/// assert_eq!((h.dtype, h.shape), (NpyDtype::F32, vec![2, 3]));
/// assert_eq!(h.data_offset % 64, 0);
/// ```
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    // a header of dims printed in decimal stays far below u16::MAX for any rank NumPy allows
    out.extend((text.len() as u16).to_le_bytes());
    out.extend(text.as_bytes());
    out
}

/// Reads a whole `.npy` file from `raw` as `f32`: its header and values.
pub fn parse(raw: &[u8]) -> Result<(NpyHeader, Vec<f32>), String> {
    let header = NpyHeader::parse(raw)?;
    header.check_len(raw.len() as u64)?;
    let mut values = Vec::new();
    header
        .dtype
        .extend_f32(&raw[header.data_offset..], &mut values);
    Ok((header, values))
}

/// Reads a whole `.npy` file as `f32`; errors name the file.
pub fn read(path: impl AsRef<std::path::Path>) -> Result<(NpyHeader, Vec<f32>)> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&raw).map_err(|e| Error::format(path, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.npy` file of `data` as `descr` and `shape`.
    pub(crate) fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let mut out = header(descr, shape);
        out.extend(data);
        out
    }

    #[test]
    fn reads_every_dtype_and_checks_the_length() {
        let (h, v) = parse(&npy("|u1", &[2, 2], &[0, 1, 2, 255])).unwrap();
        assert_eq!((h.dtype, h.shape), (NpyDtype::U8, vec![2, 2]));
        assert_eq!(v, [0.0, 1.0, 2.0, 255.0]);
        let f: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(parse(&npy("<f4", &[2], &f)).unwrap().1, [1.5, -2.0]);
        let d: Vec<u8> = [0.25f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&npy("<f8", &[1], &d)).unwrap().1, [0.25]);
        let i: Vec<u8> = (-3i64).to_le_bytes().to_vec();
        assert_eq!(parse(&npy("<i8", &[], &i)).unwrap().1, [-3.0]);
        assert_eq!(parse(&npy("|i1", &[1], &[0xff])).unwrap().1, [-1.0]);
        assert!(parse(&npy("<f4", &[3], &f)).unwrap_err().contains("holds"));
        assert!(
            parse(&npy(">f4", &[2], &f))
                .unwrap_err()
                .contains("not supported")
        );
        let huge = npy("<f8", &[4294967296, 4294967296, 4294967296], &[]);
        assert!(parse(&huge).unwrap_err().contains("too large"));
        assert!(parse(b"garbage").is_err());
    }
}
