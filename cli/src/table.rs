//! A CSV file as the `kiln` command reads text and time series: a header, then rows.

use std::path::Path;

/// The rows of a `.csv` (or gzipped `.csv.gz`; RFC 4180 quoting, fields across lines) under
/// their header.
pub struct Table {
    source: String,
    header: Vec<String>,
    pub rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Reads `source`; an error names the file and the row.
    pub fn read(source: &str) -> Result<Table, String> {
        let path = Path::new(source);
        let bytes = std::fs::read(path).map_err(|e| format!("{source}: {e}"))?;
        let bytes = kiln::datasets::idx::decompress(&bytes, path).map_err(|e| e.to_string())?;
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let header = reader
            .headers()
            .map_err(|e| format!("{source}: {e}"))?
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .enumerate()
            .map(|(row, r)| r.map_err(|e| format!("{source}: row {}: {e}", row + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Err(format!("{source}: no rows"));
        }
        Ok(Table {
            source: source.to_string(),
            header,
            rows,
        })
    }

    /// The position of column `name`; the error lists the header and names the `flag` that
    /// chooses it.
    pub fn column(&self, name: &str, flag: &str) -> Result<usize, String> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{}: no column `{name}` in the header ({}); choose it with {flag}",
                self.source,
                self.header.join(", ")
            )
        })
    }

    /// The positions of comma-separated `names`.
    pub fn columns(&self, names: &str, flag: &str) -> Result<Vec<usize>, String> {
        names
            .split(',')
            .map(|c| self.column(c.trim(), flag))
            .collect()
    }

    /// The number in row `row`, column `column`; the error names both.
    pub fn number(&self, row: usize, column: usize) -> Result<f32, String> {
        let cell = self.rows[row].get(column).unwrap_or_default();
        cell.trim()
            .parse()
            .ok()
            .filter(|v: &f32| v.is_finite())
            .ok_or_else(|| {
                format!(
                    "{}: row {}: `{cell}` in column `{}` is not a number",
                    self.source,
                    row + 1,
                    self.header[column]
                )
            })
    }

    /// The text in row `row`, column `column`.
    pub fn text(&self, row: usize, column: usize) -> &str {
        self.rows[row].get(column).unwrap_or_default()
    }
}
