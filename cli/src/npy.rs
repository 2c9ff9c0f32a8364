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

/// Parses `.npy` bytes (kiln's reader: header, dtype, length checked before converting).
pub(crate) fn parse(raw: &[u8]) -> Result<Npy, String> {
    let (header, values) = kiln::io::npy::parse(raw)?;
    let bytes = header.dtype == kiln::io::npy::NpyDtype::U8;
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&header.shape), values)
        .map_err(|e| e.to_string())?;
    Ok(Npy { array, bytes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.npy` file of `data` as `descr` and `shape`.
    pub(crate) fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let mut out = kiln::io::npy::header(descr, shape);
        out.extend(data);
        out
    }

    #[test]
    fn reads_bytes_and_floats() {
        let a = parse(&npy("|u1", &[2, 2], &[0, 1, 2, 255])).unwrap();
        assert!(a.bytes);
        assert_eq!(a.array.shape(), &[2, 2]);
        assert_eq!(a.array[[1, 1]], 255.0);
        let data: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = parse(&npy("<f4", &[2], &data)).unwrap();
        assert_eq!(b.array.iter().copied().collect::<Vec<_>>(), [1.5, -2.0]);
        assert!(parse(&npy("<f4", &[3], &data)).is_err());
        assert!(parse(b"garbage").is_err());
    }
}
