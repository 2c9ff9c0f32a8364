//! The SpamAssassin public mail corpus: 6,046 real e-mails labelled spam or ham, for text
//! classification.
//!
//! The data set is one gzipped CSV (`label,group,id,subject,body`), as kiln's shared data keeps
//! it; its agreed split puts the messages whose `id` is a multiple of 5 in the test set, and a
//! message's text is its subject, a newline, then its body.

use crate::error::{Error, Result};
use std::path::Path;

/// The file's name inside its directory.
pub const FILE: &str = "spam_assassin.csv.gz";

/// Messages and their labels (1 spam, 0 ham).
#[derive(Clone, Debug, Default)]
pub struct Messages {
    /// Each message's subject, a newline, and its body.
    pub texts: Vec<String>,
    /// 1.0 for spam, 0.0 for ham.
    pub labels: Vec<f32>,
}

/// The corpus, split as agreed: 4,836 training and 1,210 test messages.
#[derive(Clone, Debug)]
pub struct SpamAssassin {
    /// The messages whose `id` is not a multiple of 5.
    pub train: Messages,
    /// The messages whose `id` is a multiple of 5.
    pub test: Messages,
}

/// Reads the corpus from `path`: the `.csv.gz` (or `.csv`) file, or a directory holding
/// [`FILE`]. Every row is checked; an error names the file and the row.
///
/// ```no_run
/// let spam = kiln::datasets::spam_assassin::load_data_from("../shared/data/spam_assassin")?;
/// assert_eq!(spam.train.texts.len() + spam.test.texts.len(), 6046);
/// # Ok::<(), kiln::Error>(())
/// ```
pub fn load_data_from(path: impl AsRef<Path>) -> Result<SpamAssassin> {
    let mut path = path.as_ref().to_path_buf();
    if path.is_dir() {
        path = path.join(FILE);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let text = super::idx::decompress(&bytes, &path)?;
    parse(&text, &path)
}

/// The corpus from the CSV text `csv` (read from `path`, for errors).
pub fn parse(csv: &[u8], path: &Path) -> Result<SpamAssassin> {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .clone();
    let expected = ["label", "group", "id", "subject", "body"];
    if header.iter().ne(expected) {
        return Err(Error::format(
            path,
            format!("the header is {header:?}; expected {}", expected.join(",")),
        ));
    }
    let (mut train, mut test) = (Messages::default(), Messages::default());
    for (row, record) in reader.records().enumerate() {
        let at = |m: String| Error::format(path, format!("row {}: {m}", row + 1));
        let record = record.map_err(|e| at(e.to_string()))?;
        let label = match &record[0] {
            "0" => 0.0,
            "1" => 1.0,
            other => return Err(at(format!("label `{other}` is not 0 or 1"))),
        };
        let id: u64 = record[2]
            .parse()
            .map_err(|_| at(format!("id `{}` is not a number", &record[2])))?;
        let part = if id.is_multiple_of(5) {
            &mut test
        } else {
            &mut train
        };
        part.texts.push(format!("{}\n{}", &record[3], &record[4]));
        part.labels.push(label);
    }
    Ok(SpamAssassin { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_ids_and_joins_subject_and_body() {
        let csv = "label,group,id,subject,body\n1,spam-1,00005,Win,\"big\nmoney\"\n0,easy-ham-1,00001,Hi,there\n";
        let data = parse(csv.as_bytes(), Path::new("x.csv")).unwrap();
        assert_eq!(data.test.texts, ["Win\nbig\nmoney"]);
        assert_eq!(data.test.labels, [1.0]);
        assert_eq!(data.train.texts, ["Hi\nthere"]);
    }

    #[test]
    fn bad_rows_name_the_row() {
        let csv = "label,group,id,subject,body\n2,spam-1,00005,Win,big\n";
        let err = parse(csv.as_bytes(), Path::new("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1") && err.contains("label"), "{err}");
        let err = parse(b"a,b\n1,2\n", Path::new("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("header"), "{err}");
    }
}
