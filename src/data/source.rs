//! Where a series comes from and how it is cut: the CSV file, its column, the
//! missing-value policy and the chronological split fractions — the options
//! that `rnn_series` and `transformer_seq` share (one clap group, one serde
//! struct).

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::csv::CsvFormat;
use super::series::{self, MissingPolicy, Series, SplitFractions};

/// A CSV series and its train/validation/test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesSource {
    /// CSV file with a header line.
    pub csv: PathBuf,
    /// Column of the CSV holding the series.
    pub column: String,
    /// What to do with empty or non-numeric cells.
    pub missing: MissingPolicy,
    /// Chronological train/validation fractions (the test part is the rest).
    pub split: SplitFractions,
    /// How the file is read: delimiter, decimal comma, lines before the
    /// header, no header (`--delimiter`, `--decimal-comma`, `--skip-rows`, `--no-header`).
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
