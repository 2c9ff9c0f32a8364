//! `.npy` files read through memory maps, sample by sample: training sets larger than memory.

use crate::data::{Dataset, Sample};
use crate::error::{Error, Result};
use crate::io::npy::NpyHeader;
use memmap2::{Mmap, UncheckedAdvice};
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A `.npy` file mapped into memory, read one sample (row of its first axis) at a time.
///
/// Nothing is read when it opens but the header: the operating system pages rows in as they
/// are read, and each read hands its pages back, so a file many times larger than memory trains
/// with the memory of a few batches.
#[derive(Debug)]
pub struct NpyFile {
    path: PathBuf,
    map: Mmap,
    header: NpyHeader,
    row_bytes: usize,
    /// Samples read so far, for [`NpyFile::release`].
    reads: AtomicUsize,
}

impl NpyFile {
    /// Maps `path` and checks its header: a C-ordered array of a dtype kiln reads (see
    /// [`NpyDtype`](crate::io::npy::NpyDtype)) with at least one axis, whose size matches the
    /// file's.
    pub fn open(path: impl AsRef<Path>) -> Result<NpyFile> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // SAFETY: the map is read-only; a file truncated by another process while mapped
        // would fault on access, as for any mapped file (NumPy's mmap_mode has the same
        // caveat). kiln never writes through it.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let header = NpyHeader::parse(&map).map_err(|e| Error::format(path, e))?;
        header.check_len(len).map_err(|e| Error::format(path, e))?;
        if header.shape.is_empty() {
            return Err(Error::format(
                path,
                "a scalar has no samples; save an array whose first axis counts them",
            ));
        }
        // the whole data fits the file (checked), so a row does too
        let row_bytes = header.shape[1..].iter().product::<usize>() * header.dtype.size();
        Ok(NpyFile {
            path: path.to_path_buf(),
            map,
            header,
            row_bytes,
            reads: AtomicUsize::new(0),
        })
    }

    /// The number of samples (the first axis).
    pub fn len(&self) -> usize {
        self.header.shape[0]
    }

    /// Whether the file holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample.
    pub fn sample_shape(&self) -> &[usize] {
        &self.header.shape[1..]
    }

    /// The header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Sample `i` as `f32`; an error naming the file past the last sample.
    pub fn sample(&self, i: usize) -> Result<ArrayD<f32>> {
        if i >= self.len() {
            return Err(Error::format(
                &self.path,
                format!("sample {i} is past the last of {}", self.len()),
            ));
        }
        let start = self.header.data_offset + i * self.row_bytes;
        let mut values = Vec::with_capacity(self.row_bytes / self.header.dtype.size());
        self.header
            .dtype
            .extend_f32(&self.map[start..start + self.row_bytes], &mut values);
        self.release();
        ArrayD::from_shape_vec(IxDyn(self.sample_shape()), values)
            .map_err(|e| Error::format(&self.path, e.to_string()))
    }

    /// Every [`RELEASE_EVERY`] samples read, hands the map's pages back to the operating
    /// system: they stay in its page cache, but stop counting in this process' memory until
    /// read again (then a minor fault maps them back).
    ///
    /// Per sample would not do: Linux maps up to 64 KiB of cached pages around each faulting
    /// one ("fault-around"), so a shuffled read maps far more than it reads. Whole-map releases
    /// bound what is mapped to what the last [`RELEASE_EVERY`] samples faulted in.
    fn release(&self) {
        if self.reads.fetch_add(1, Ordering::Relaxed) % RELEASE_EVERY != RELEASE_EVERY - 1 {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only shared file map only drops this process'
        // page-table entries; the file's pages stay in the page cache, and any read, even one
        // under way on another thread, faults them back in unchanged.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, 0, self.map.len())
        };
    }
}

/// Samples read between two releases of a map's pages: each faults in at most a 64 KiB
/// window or two, so at most 128 MiB stay mapped.
const RELEASE_EVERY: usize = 1024;

impl Dataset<Sample> {
    /// The samples of `.npy` files read through memory maps ([`NpyFile`]): sample `i` is row
    /// `i` of each input file `x` and each target file `y`, as `f32` (bytes keep their 0–255
    /// values: scale them in a `map`). The files must hold the same number of samples.
    ///
    /// ```no_run
    /// use kiln::data::Dataset;
    /// let train = Dataset::from_npy(&["x_train.npy"], &["y_train.npy"])?
    ///     .shuffle(60_000, 1)
    ///     .batch(128)
    ///     .prefetch(4);
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn from_npy(x: &[impl AsRef<Path>], y: &[impl AsRef<Path>]) -> Result<Self> {
        let x: Vec<NpyFile> = x.iter().map(NpyFile::open).collect::<Result<_>>()?;
        let y: Vec<NpyFile> = y.iter().map(NpyFile::open).collect::<Result<_>>()?;
        let (x, y) = (Arc::new(x), Arc::new(y));
        let n = x.first().map_or(0, NpyFile::len);
        if let Some(f) = x.iter().chain(y.iter()).find(|f| f.len() != n) {
            return Err(Error::format(
                &f.path,
                format!(
                    "{} samples, but the first input file holds {n}; give files of one length",
                    f.len()
                ),
            ));
        }
        let rows = |files: &[NpyFile], i: usize| -> Result<Vec<ArrayD<f32>>> {
            files.iter().map(|f| f.sample(i)).collect()
        };
        Ok(Dataset::from_indexed(n, move |i| {
            Ok(Sample {
                x: rows(&x, i)?,
                y: rows(&y, i)?,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::tests::npy;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-npy-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn samples_are_rows_of_the_first_axis() {
        let data: Vec<u8> = (0..24u8).collect();
        let x = temp("x.npy", &npy("|u1", &[4, 2, 3], &data));
        let y = temp("y.npy", &npy("<f4", &[4], &[0u8; 16]));
        let f = NpyFile::open(&x).unwrap();
        assert_eq!((f.len(), f.sample_shape()), (4, &[2, 3][..]));
        let s = f.sample(2).unwrap();
        assert_eq!(s.shape(), &[2, 3]);
        assert_eq!(
            s.iter().copied().collect::<Vec<_>>(),
            [12., 13., 14., 15., 16., 17.]
        );
        assert!(
            f.sample(4)
                .unwrap_err()
                .to_string()
                .contains("past the last")
        );
        let d = Dataset::from_npy(&[&x], &[&y]).unwrap().batch(3);
        let batches: Vec<_> = d.pass(0).collect::<Result<_>>().unwrap();
        assert_eq!(batches[1].x[0].shape(), &[1, 2, 3]);
        assert_eq!(batches[1].x[0].values()[0], 18.0);
        assert_eq!(batches[0].y[0].shape(), &[3]);
    }

    #[test]
    fn damaged_or_mismatched_files_are_refused_by_name() {
        let short = temp("short.npy", &npy("<f4", &[4, 2], &[0u8; 20]));
        let e = NpyFile::open(&short).unwrap_err().to_string();
        assert!(e.contains("short.npy") && e.contains("holds"), "{e}");
        let scalar = temp("scalar.npy", &npy("<f4", &[], &[0u8; 4]));
        assert!(
            NpyFile::open(&scalar)
                .unwrap_err()
                .to_string()
                .contains("scalar")
        );
        let three = temp("three.npy", &npy("|u1", &[3], &[1, 2, 3]));
        let two = temp("two.npy", &npy("|u1", &[2], &[1, 2]));
        let e = Dataset::from_npy(&[&three], &[&two])
            .unwrap_err()
            .to_string();
        assert!(e.contains("two.npy") && e.contains("2 samples"), "{e}");
    }
}
