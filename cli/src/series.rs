//! Time series for the `kiln` command: windows of a CSV's rows and the value that follows each,
//! and a model file's `Normalization` layers adapted to the training rows.

use crate::data::{Dataset, Split};
use crate::table::Table;
use kiln::layers::Normalization;
use kiln::{Device, Model};
use ndarray::{Array2, ArrayD, s};
use std::path::Path;

/// What the command's flags say about a time series.
pub struct SeriesArgs<'a> {
    /// Rows per window.
    pub window: usize,
    /// The columns a window holds (comma-separated).
    pub columns: &'a str,
    /// The column forecast.
    pub target: &'a str,
    /// The value of `date_column` on the first test row, if the file has a test period.
    pub test_from: Option<&'a str>,
    /// The column `test_from` is looked up in.
    pub date_column: &'a str,
}

/// A CSV's series: the window columns and the target column of every row, and where the test
/// rows start (the number of rows when there are none).
pub struct Series {
    pub values: Array2<f32>,
    pub target: Array2<f32>,
    pub test_start: usize,
    pub window: usize,
}

/// Reads the series of `source` as `args` say.
pub fn load(source: &str, args: &SeriesArgs) -> Result<Series, String> {
    let table = Table::read(source)?;
    let columns = table.columns(args.columns, "--columns")?;
    let target = table.column(args.target, "--target")?;
    let rows = table.rows.len();
    let mut values = Array2::<f32>::zeros((rows, columns.len()));
    let mut targets = Array2::<f32>::zeros((rows, 1));
    for row in 0..rows {
        for (j, &c) in columns.iter().enumerate() {
            values[[row, j]] = table.number(row, c)?;
        }
        targets[[row, 0]] = table.number(row, target)?;
    }
    let test_start = match args.test_from {
        None => rows,
        Some(first) => {
            let dates = table.column(args.date_column, "--date-column")?;
            (0..rows)
                .find(|&r| table.text(r, dates) == first)
                .ok_or_else(|| {
                    format!(
                        "{source}: no row has `{first}` in column `{}` (--test-from)",
                        args.date_column
                    )
                })?
        }
    };
    if args.window == 0 || test_start <= args.window {
        return Err(format!(
            "{source}: {test_start} rows before the test rows cannot give windows of {} rows; \
             give --window at least 1 and fewer than the training rows",
            args.window
        ));
    }
    Ok(Series {
        values,
        target: targets,
        test_start,
        window: args.window,
    })
}

impl Series {
    /// How many training windows there are.
    pub fn train_windows(&self) -> usize {
        self.test_start - self.window
    }

    /// The training and test windows (`[n, window, columns]`) and their targets (`[n, 1]`):
    /// the training targets are the rows after the first window up to the test rows, the test
    /// targets every test row (its window may start before the test rows).
    pub fn dataset(&self) -> Result<Dataset, String> {
        let windows = |targets| {
            kiln::data::timeseries_windows(
                self.values.view(),
                self.target.view(),
                self.window,
                targets,
            )
            .map(|(x, y)| Split {
                x: x.into_dyn(),
                y: y.into_dyn(),
            })
            .map_err(|e| e.to_string())
        };
        let rows = self.values.nrows();
        Ok(Dataset {
            train: windows(self.window..self.test_start)?,
            test: (self.test_start < rows)
                .then(|| windows(self.test_start..rows))
                .transpose()?,
            bytes: false,
        })
    }

    /// The model of architecture file `path`, its `Normalization` layers without statistics
    /// adapted to the first `rows` rows: the window columns', or with `invert` (a forecast
    /// brought back to the target's units) the target column's.
    pub fn open_adapted(&self, path: &Path, device: Device, rows: usize) -> Result<Model, String> {
        crate::adapt::open_adapted(path, device, |class, config| {
            if class != "Normalization" {
                return Ok(());
            }
            let mut norm: Normalization = serde_json::from_value(config.clone())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if norm.mean.is_some() {
                return Ok(());
            }
            let (data, what) = if norm.invert {
                (&self.target, "target")
            } else {
                (&self.values, "window columns")
            };
            let rows_of: ArrayD<f32> = data.slice(s![..rows, ..]).to_owned().into_dyn();
            norm.adapt(&rows_of).map_err(|e| e.to_string())?;
            println!(
                "adapted `{}` to the {what} of {rows} rows",
                norm.name.as_deref().unwrap_or("normalization")
            );
            *config = serde_json::to_value(&norm).map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}
