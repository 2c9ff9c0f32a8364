//! CSV files read row by row into samples (Keras' `make_csv_dataset`): training sets too large
//! to read whole.

use crate::data::{Dataset, Sample};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CSV file with a header, read a row at a time while training (Keras' `make_csv_dataset`):
/// each row a sample whose features are the selected columns, in order, and whose target is
/// the label column. Numeric columns are parsed as `f32` (an empty cell is `na_value`); a
/// string column is given its vocabulary and becomes the index of its value (0 for one not in
/// the vocabulary, as `StringLookup`'s out-of-vocabulary index). `.csv.gz` files are
/// decompressed as they are read.
///
/// ```no_run
/// use kiln::data::CsvFile;
/// let rows = CsvFile::new("weather.csv.gz")
///     .label("temp_max")
///     .select(&["precipitation", "temp_min", "wind", "weather"])
///     .string_column("weather", &["drizzle", "fog", "rain", "snow", "sun"])
///     .load()?;
/// let batches = rows.shuffle(10_000, 1).batch(64).prefetch(4);
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CsvFile {
    path: PathBuf,
    label: Option<String>,
    select: Option<Vec<String>>,
    vocabularies: HashMap<String, Vec<String>>,
    na_value: f32,
}

impl CsvFile {
    /// The file at `path`; every column but the label is a feature unless [`select`]ed.
    ///
    /// [`select`]: CsvFile::select
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvFile {
            path: path.into(),
            label: None,
            select: None,
            vocabularies: HashMap::new(),
            na_value: 0.0,
        }
    }

    /// The target column (none: samples without targets, for `predict`).
    pub fn label(mut self, column: &str) -> Self {
        self.label = Some(column.into());
        self
    }

    /// The feature columns, in this order (default: all but the label, in the file's order).
    pub fn select(mut self, columns: &[&str]) -> Self {
        self.select = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Reads `column` as strings: value `vocabulary[i]` becomes `i + 1`, any other 0.
    pub fn string_column(mut self, column: &str, vocabulary: &[&str]) -> Self {
        let words = vocabulary.iter().map(|w| w.to_string()).collect();
        self.vocabularies.insert(column.into(), words);
        self
    }

    /// The value of an empty numeric cell (default 0).
    pub fn na_value(mut self, value: f32) -> Self {
        self.na_value = value;
        self
    }

    /// Reads the header, checks the columns, counts the rows (reading the file once, a row at
    /// a time), and gives the dataset of its rows.
    pub fn load(self) -> Result<Dataset<Sample>> {
        let path = self.path.clone();
        let mut reader = open(&path)?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| Error::format(&path, format!("no CSV header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let find = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                Error::format(
                    &path,
                    format!("no column `{name}`; the header has {}", header.join(", ")),
                )
            })
        };
        let label = self.label.as_deref().map(find).transpose()?;
        let features: Vec<usize> = match &self.select {
            Some(names) => names.iter().map(|n| find(n)).collect::<Result<_>>()?,
            None => (0..header.len()).filter(|&i| Some(i) != label).collect(),
        };
        if let Some(unknown) = self.vocabularies.keys().find(|c| !header.contains(c)) {
            return Err(Error::format(
                &path,
                format!("no column `{unknown}` for its vocabulary"),
            ));
        }
        let columns: Vec<Column> = features
            .iter()
            .chain(&label)
            .map(|&i| Column::new(&header[i], self.vocabularies.get(&header[i]), self.na_value))
            .collect();
        let mut rows = 0;
        for record in reader.records() {
            record.map_err(|e| Error::format(&path, format!("row {}: {e}", rows + 1)))?;
            rows += 1;
        }
        let spec = Arc::new(Spec {
            path,
            indices: features.iter().chain(&label).copied().collect(),
            columns,
            features: features.len(),
        });
        Ok(Dataset::from_fn(Some(rows), move |_| {
            let spec = spec.clone();
            match open(&spec.path) {
                Ok(reader) => Box::new(
                    reader
                        .into_records()
                        .enumerate()
                        .map(move |(row, record)| spec.sample(row, record)),
                ),
                Err(e) => Box::new(std::iter::once(Err(e))),
            }
        }))
    }
}

/// How one column's cells become numbers.
#[derive(Debug)]
struct Column {
    name: String,
    vocabulary: Option<HashMap<String, f32>>,
    na_value: f32,
}

impl Column {
    fn new(name: &str, vocabulary: Option<&Vec<String>>, na_value: f32) -> Self {
        Column {
            name: name.to_string(),
            vocabulary: vocabulary.map(|words| {
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.clone(), (i + 1) as f32))
                    .collect()
            }),
            na_value,
        }
    }

    fn value(&self, cell: &str) -> std::result::Result<f32, String> {
        let cell = cell.trim();
        match &self.vocabulary {
            Some(index) => Ok(index.get(cell).copied().unwrap_or(0.0)),
            None if cell.is_empty() => Ok(self.na_value),
            None => cell
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    format!(
                        "`{cell}` in column `{}` is not a finite number; give the column its \
                         vocabulary with string_column",
                        self.name
                    )
                }),
        }
    }
}

/// What every row is read with.
#[derive(Debug)]
struct Spec {
    path: PathBuf,
    /// The feature columns' places, then the label's.
    indices: Vec<usize>,
    columns: Vec<Column>,
    features: usize,
}

impl Spec {
    fn sample(&self, row: usize, record: csv::Result<csv::StringRecord>) -> Result<Sample> {
        let at = |m: String| Error::format(&self.path, format!("row {}: {m}", row + 1));
        let record = record.map_err(|e| at(e.to_string()))?;
        let mut values = Vec::with_capacity(self.indices.len());
        for (&i, column) in self.indices.iter().zip(&self.columns) {
            let cell = record
                .get(i)
                .ok_or_else(|| at(format!("no cell for column `{}`", column.name)))?;
            values.push(column.value(cell).map_err(at)?);
        }
        let y = values.split_off(self.features);
        Ok(Sample {
            x: vec![
                ArrayD::from_shape_vec(IxDyn(&[self.features]), values)
                    .map_err(|e| at(e.to_string()))?,
            ],
            y: if y.is_empty() {
                Vec::new()
            } else {
                vec![ArrayD::from_shape_vec(IxDyn(&[1]), y).map_err(|e| at(e.to_string()))?]
            },
        })
    }
}

/// A CSV reader over `path`, decompressing a `.gz`.
fn open(path: &Path) -> Result<csv::Reader<Box<dyn Read + Send>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let input: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-csv-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn rows(d: &Dataset<Sample>) -> Vec<Sample> {
        d.pass(0).collect::<Result<_>>().unwrap()
    }

    #[test]
    fn rows_become_samples_of_the_selected_columns() {
        let path = write(
            "w.csv",
            "date,rain,weather,temp\n2012-01-01,0.5,sun,12\n2012-01-02,,\"fog\",7.5\n2012-01-03,1,hail,-2\n",
        );
        let d = CsvFile::new(&path)
            .label("temp")
            .select(&["weather", "rain"])
            .string_column("weather", &["fog", "sun"])
            .na_value(-1.0)
            .load()
            .unwrap();
        assert_eq!(d.len(), Some(3));
        let all = rows(&d);
        let x: Vec<Vec<f32>> = all
            .iter()
            .map(|s| s.x[0].iter().copied().collect())
            .collect();
        assert_eq!(x, [vec![2.0, 0.5], vec![1.0, -1.0], vec![0.0, 1.0]]);
        let y: Vec<f32> = all.iter().map(|s| s.y[0][[0]]).collect();
        assert_eq!(y, [12.0, 7.5, -2.0]);
        // batches, and a second pass reads the file again
        let batches: Vec<_> = d.clone().batch(2).pass(1).collect::<Result<_>>().unwrap();
        assert_eq!(batches[0].x[0].shape(), &[2, 2]);
        assert_eq!(batches[1].y[0].shape(), &[1, 1]);
    }

    #[test]
    fn bad_cells_and_columns_name_the_file_row_and_column() {
        let path = write("bad.csv", "a,b\n1,2\n3,x\n");
        let d = CsvFile::new(&path).label("b").load().unwrap();
        let e = d.pass(0).nth(1).unwrap().unwrap_err().to_string();
        assert!(
            e.contains("bad.csv") && e.contains("row 2") && e.contains("`b`"),
            "{e}"
        );
        let e = CsvFile::new(&path)
            .label("c")
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `c`") && e.contains("a, b"), "{e}");
        let short = write("short.csv", "a,b\n1,2\n3\n");
        let e = CsvFile::new(&short).load().unwrap_err().to_string();
        assert!(e.contains("row 2"), "{e}");
    }

    #[test]
    fn gzip_files_are_read_as_they_stream() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("kiln-csv-{}.csv.gz", std::process::id()));
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"x,y\n1,0\n2,1\n").unwrap();
        gz.finish().unwrap();
        let d = CsvFile::new(&path).label("y").load().unwrap();
        assert_eq!(rows(&d).len(), 2);
        std::fs::remove_file(&path).unwrap();
    }
}
