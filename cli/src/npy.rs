//! NumPy's `.npy` arrays and `.npz` archives of them, as `f32`.

use std::io::Read;
use std::path::Path;

/// An array read from a `.npy`, as `f32`, and whether it held bytes (`uint8`, images to scale).
pub struct Npy {
    pub array: ndarray::ArrayD<f32>,
    pub bytes: bool,
}

/// Reads one `.npy` file.
pub fn read_npy(path: &Path) -> Result<Npy, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&raw).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads every array of a `.npz` archive, by name (without `.npy`).
pub fn read_npz(path: &Path) -> Result<Vec<(String, Npy)>, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| at(e.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| at(format!("not a .npz archive ({e})")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| at(e.to_string()))?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        // an entry may expand 100 times (a zip bomb goes to 1,000): refused past that
        let limit = entry.compressed_size().saturating_mul(100).max(1 << 20);
        let mut raw = Vec::new();
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut raw)
            .map_err(|e| at(e.to_string()))?;
        if raw.len() as u64 > limit {
            return Err(at(format!(
                "{name} expands past {limit} bytes from {} compressed: refused as damaged or a \
                 zip bomb",
                entry.compressed_size()
            )));
        }
        out.push((
            name.clone(),
            parse(&raw).map_err(|e| at(format!("{name}: {e}")))?,
        ));
    }
    Ok(out)
}

/// Parses `.npy` bytes: magic, version, header length, a Python dict header, then the data.
pub(crate) fn parse(raw: &[u8]) -> Result<Npy, String> {
    if !raw.starts_with(b"\x93NUMPY") || raw.len() < 10 {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, start) = match raw[6] {
        1 => (u16::from_le_bytes([raw[8], raw[9]]) as usize, 10),
        2 | 3 if raw.len() >= 12 => (
            u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = raw
        .get(start..start + len)
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
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("bad dimension `{s}` in the shape"))
        })
        .collect::<Result<_, _>>()?;
    let data = &raw[start + len..];
    let n: usize = dims.iter().product();
    let (values, bytes): (Vec<f32>, bool) = match descr {
        "|u1" | "<u1" | "u1" => (data.iter().map(|v| *v as f32).collect(), true),
        "|i1" | "<i1" => (data.iter().map(|v| *v as i8 as f32).collect(), false),
        "<f4" => (le(data, f32::from_le_bytes), false),
        "<f8" => (le(data, |b: [u8; 8]| f64::from_le_bytes(b) as f32), false),
        "<i4" => (le(data, |b: [u8; 4]| i32::from_le_bytes(b) as f32), false),
        "<i8" => (le(data, |b: [u8; 8]| i64::from_le_bytes(b) as f32), false),
        "<u2" => (le(data, |b: [u8; 2]| u16::from_le_bytes(b) as f32), false),
        other => {
            return Err(format!(
                "dtype {other} is not supported (use float32, float64, int or uint8)"
            ));
        }
    };
    if values.len() != n {
        return Err(format!(
            "the shape {dims:?} needs {n} values but the file holds {}",
            values.len()
        ));
    }
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), values)
        .map_err(|e| e.to_string())?;
    Ok(Npy { array, bytes })
}

fn le<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    data.chunks_exact(N)
        .map(|c| {
            let mut bytes = [0; N];
            bytes.copy_from_slice(c);
            f(bytes)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.npy` file of `data` as `descr` and `shape` (a Python tuple).
    pub(crate) fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_bytes_and_floats() {
        let a = parse(&npy("|u1", "(2, 2)", &[0, 1, 2, 255])).unwrap();
        assert!(a.bytes);
        assert_eq!(a.array.shape(), &[2, 2]);
        assert_eq!(a.array[[1, 1]], 255.0);
        let data: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = parse(&npy("<f4", "(2,)", &data)).unwrap();
        assert_eq!(b.array.iter().copied().collect::<Vec<_>>(), [1.5, -2.0]);
        assert!(parse(&npy("<f4", "(3,)", &data)).is_err());
        assert!(parse(b"garbage").is_err());
    }
}
