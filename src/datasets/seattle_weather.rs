//! Seattle's daily weather, 2012 to 2015, and the agreed forecasting task: tomorrow's maximum
//! temperature from the last 14 days.

use crate::error::{Error, Result};
use ndarray::{Array2, Array3, Axis, s};
use std::path::Path;

/// The file's name inside its directory.
pub const FILE: &str = "seattle-weather.csv";

/// The numeric columns, in the order the task uses them.
pub const COLUMNS: [&str; 4] = ["precipitation", "temp_max", "temp_min", "wind"];

/// The days of 2012 to 2014 (the training years).
pub const TRAIN_DAYS: usize = 1096;

/// The daily observations.
#[derive(Clone, Debug)]
pub struct SeattleWeather {
    /// `2012/01/01`, …, one per day.
    pub dates: Vec<String>,
    /// `[days, 4]`: precipitation (mm), temp_max, temp_min (°C), wind (m/s).
    pub values: Array2<f32>,
}

/// The forecasting task's arrays, columns normalized by the training days' mean and
/// (population) standard deviation.
#[derive(Clone, Debug)]
pub struct Forecast {
    /// `[1082, lookback, 4]`: every window of 2012–2014 whose next day is in those years.
    pub x_train: Array3<f32>,
    /// `[1082, 1]`: the next day's normalized temp_max.
    pub y_train: Array2<f32>,
    /// `[365, lookback, 4]`: the windows before each day of 2015.
    pub x_test: Array3<f32>,
    /// `[365, 1]`: each day of 2015's normalized temp_max.
    pub y_test: Array2<f32>,
    /// temp_max's training standard deviation: a normalized error times it is in °C.
    pub temp_max_std: f32,
    /// The persistence forecast ("tomorrow as today") of each test day, normalized.
    pub persistence: Array2<f32>,
}

/// Reads the observations from `path`: the CSV, or a directory holding [`FILE`].
pub fn load_data_from(path: impl AsRef<Path>) -> Result<SeattleWeather> {
    let mut path = path.as_ref().to_path_buf();
    if path.is_dir() {
        path = path.join(FILE);
    }
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    parse(&text, &path)
}

/// The observations of the CSV text `csv` (read from `path`, for errors).
pub fn parse(csv: &[u8], path: &Path) -> Result<SeattleWeather> {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .clone();
    let position = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(path, format!("no column `{name}` in the header {header:?}"))
        })
    };
    let date = position("date")?;
    let columns = COLUMNS.map(position);
    let columns: Vec<usize> = columns.into_iter().collect::<Result<_>>()?;
    let (mut dates, mut values) = (Vec::new(), Vec::new());
    for (row, record) in reader.records().enumerate() {
        let at = |m: String| Error::format(path, format!("row {}: {m}", row + 1));
        let record = record.map_err(|e| at(e.to_string()))?;
        dates.push(record.get(date).unwrap_or_default().to_string());
        for (&c, name) in columns.iter().zip(COLUMNS) {
            let cell = record.get(c).unwrap_or_default();
            let v: f32 = cell
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| at(format!("{name} `{cell}` is not a number")))?;
            values.push(v);
        }
    }
    let days = dates.len();
    Ok(SeattleWeather {
        dates,
        values: Array2::from_shape_vec((days, COLUMNS.len()), values)
            .map_err(|e| Error::data(format!("seattle_weather: {e}")))?,
    })
}

impl SeattleWeather {
    /// The agreed task with windows of `lookback` days: train on 2012–2014 (the first
    /// [`TRAIN_DAYS`] days), test on every later day, each column normalized with the training
    /// days' statistics.
    pub fn forecast(&self, lookback: usize) -> Result<Forecast> {
        let days = self.values.nrows();
        if lookback == 0 || days <= TRAIN_DAYS || TRAIN_DAYS <= lookback {
            return Err(Error::data(format!(
                "seattle_weather: {days} days cannot give windows of {lookback} days with \
                 {TRAIN_DAYS} training days and later test days"
            )));
        }
        let train = self.values.slice(s![..TRAIN_DAYS, ..]);
        // None only for 0 rows, and TRAIN_DAYS > lookback >= 1 was checked above
        let mean = train.mean_axis(Axis(0)).expect("days exist");
        let std = train.std_axis(Axis(0), 0.0);
        let normalized = (&self.values - &mean) / &std;
        let temp_max = normalized.slice(s![.., 1..2]);
        let windows = |targets: std::ops::Range<usize>| {
            crate::data::timeseries_windows(normalized.view(), temp_max, lookback, targets)
        };
        let (x_train, y_train) = windows(lookback..TRAIN_DAYS)?;
        let (x_test, y_test) = windows(TRAIN_DAYS..days)?;
        let persistence = temp_max.slice(s![TRAIN_DAYS - 1..days - 1, ..]).to_owned();
        Ok(Forecast {
            x_train,
            y_train,
            x_test,
            y_test,
            temp_max_std: std[1],
            persistence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_data_gives_the_agreed_task_and_baseline() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/seattle_weather");
        if !dir.exists() {
            eprintln!("skipped: no {}", dir.display());
            return;
        }
        let task = load_data_from(&dir).unwrap().forecast(14).unwrap();
        assert_eq!(task.x_train.dim(), (1082, 14, 4));
        assert_eq!(task.x_test.dim(), (365, 14, 4));
        let mae = (&task.persistence - &task.y_test)
            .mapv(f32::abs)
            .mean()
            .unwrap()
            * task.temp_max_std;
        // the README's baseline: 2.240 °C
        assert!((mae - 2.240).abs() < 5e-4, "persistence MAE {mae}");
    }

    #[test]
    fn bad_cells_name_the_row_and_column() {
        let csv = "date,precipitation,temp_max,temp_min,wind\n2012/01/01,0,x,1,2\n";
        let err = parse(csv.as_bytes(), Path::new("w.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1") && err.contains("temp_max"), "{err}");
    }
}
