//! Where a series comes from and how it is cut: the CSV file, its column, the
//! missing-value policy and the chronological split fractions — the options
//! that `rnn_series` and `transformer_seq` share (one clap group, one serde
//! struct).

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::csv::CsvFormat;
use super::series::{self, MissingPolicy, Series, SplitFractions};

/// A CSV series and its train/validation/test split (written as `source`
/// in `config.json`, and as the flags `--csv`, `--column`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SeriesSource {
    /// CSV file with a header line (also `.gz`, `.xlsx`, `.xls`, `.ods`).
    #[arg(long, value_name = "PATH")]
    pub csv: PathBuf,
    /// Column of the CSV holding the series: its name (exact, else ignoring
    /// case) or its 1-based index.
    #[arg(long, value_name = "NAME")]
    pub column: String,
    /// Empty or non-numeric cells: stop with an error, drop the row, or
    /// interpolate linearly.
    #[arg(long, value_enum)]
    pub missing: MissingPolicy,
    /// Chronological train/validation fractions (the test part is the rest).
    #[command(flatten)]
    pub split: SplitFractions,
    /// How the file is read: delimiter, decimal comma, lines before the
    /// header, no header, thousands, encoding, sheet, the time axis.
    #[command(flatten)]
    pub format: CsvFormat,
}

impl Default for SeriesSource {
    /// The bundled yearly sunspot numbers (1700–2008), split 70/15/15.
    fn default() -> Self {
        Self {
            csv: PathBuf::from("data/series/sunspots.csv"),
            column: "SUNACTIVITY".into(),
            missing: MissingPolicy::Error,
            split: SplitFractions::default(),
            format: CsvFormat::default(),
        }
    }
}

impl SeriesSource {
    /// Reads the series (errors name the file, line and cell).
    pub fn load(&self) -> Result<Series> {
        series::load_csv(&self.csv, &self.column, self.missing, &self.format)
    }
}

/// Moves the series-source keys of a `config.json` written with them at the
/// top level (rnn_series before one shape: `csv`, `column`, `missing`,
/// `split`, `format`) or under `series` (transformer_seq before) into
/// `source`, the one shape both examples write now.
pub(crate) fn upgrade_flattened_source(json: &mut serde_json::Value) {
    let Some(map) = json.as_object_mut() else {
        return;
    };
    if map.contains_key("source") {
        return;
    }
    if let Some(series) = map.remove("series") {
        map.insert("source".into(), series);
        return;
    }
    let mut source = serde_json::Map::new();
    for key in ["csv", "column", "missing", "split", "format"] {
        if let Some(v) = map.remove(key) {
            source.insert(key.into(), v);
        }
    }
    if !source.is_empty() {
        map.insert("source".into(), serde_json::Value::Object(source));
    }
}
