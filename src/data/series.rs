//! Univariate time series: a CSV column loader with an explicit missing-value policy, a
//! seeded synthetic noisy sine, a chronological train/validation/test split,
//! sliding windows (those of a validation or test part reach back into the
//! earlier parts for their inputs: a window belongs to the part of its
//! target), and a standard scaler fitted on the training part only.
//!
//! The pieces are independent so that other tasks can combine them:
//!
//! ```no_run
//! use tchport::data::csv::CsvFormat;
//! use tchport::data::series::{self, MissingPolicy, SplitFractions};
//! # fn main() -> anyhow::Result<()> {
//! let path = "data/series/sunspots.csv".as_ref();
//! let s = series::load_csv(path, "SUNACTIVITY", MissingPolicy::Error, &CsvFormat::default())?;
//! let parts = series::split(&s.values, SplitFractions::default(), 20 + 1)?; // window + horizon
//! let scaler = series::Scaler::fit(parts.train)?;
//! let train = series::windows(&scaler.transform(parts.train), 20, 1)?;
//! let (xs, ys) = train.to_tensors(); // [n, 20, 1], [n, 1] float32
//! # Ok(()) }
//! ```
//!
//! `parity/rnn_series.py` mirrors every function here line for line.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::csv::{self, CsvFormat, DelimiterUsed};
use super::numbers;
use super::shuffle::SplitMix64;
use super::time::{self, Duplicates, Frequency, Layout};

/// What the CSV loader does with an empty, non-numeric or non-finite cell (`--missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Stop with an error naming the file, the line and the cell.
    #[default]
    Error,
    /// Leave the row out (the series gets shorter; neighbours become adjacent).
    Drop,
    /// Fill the gap linearly from its neighbours by row position; gaps at the
    /// very start or end, which have a neighbour on one side only, are dropped.
    Interpolate,
}

/// A univariate series and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// A name for reports: `file:column` or `sine`.
    pub name: String,
    /// The values, in time order, all finite.
    pub values: Vec<f64>,
    /// How many cells were missing, non-finite or (under [`MissingPolicy::Drop`])
    /// not numbers; 0 under [`MissingPolicy::Error`]. `missing = interpolated + dropped`.
    pub missing: usize,
    /// How many of those were filled by interpolation.
    pub interpolated: usize,
    /// How many rows were left out: every gap under [`MissingPolicy::Drop`],
    /// the gaps at either end under [`MissingPolicy::Interpolate`].
    pub dropped: usize,
    /// Physical line (1-based) of the first row left out, if any.
    pub first_dropped_line: Option<u64>,
    /// The CSV delimiter used and whether it was detected; `None` for a
    /// synthetic series or a workbook's sheet.
    pub delimiter: Option<DelimiterUsed>,
    /// What the reader decided about the file (encoding, header, numbers), one line each.
    pub notes: Vec<String>,
    /// The time axis, when the file has a time column (`None` for a synthetic series).
    pub time: Option<TimeAxis>,
}

/// The time axis of a series read from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeAxis {
    /// The time column(s) and layout, e.g. `"Month" (YYYY-MM)`.
    pub column: String,
    /// How its cells are written.
    pub layout: Layout,
    /// The spacing, when regular.
    pub frequency: Option<Frequency>,
    /// Time of the first value.
    pub first: String,
    /// Time of the last value.
    pub last: String,
    /// The last value's time in the layout's unit.
    pub last_stamp: time::Stamp,
    /// Times are shown with a time of day.
    pub clock: bool,
    /// What was done to the order of the rows, duplicates, gaps: one line each.
    pub notes: Vec<String>,
}

impl TimeAxis {
    /// One line for the report: `time "Month" (YYYY-MM), monthly, 1949-01 to 1960-12`.
    pub fn describe(&self) -> String {
        let freq = self
            .frequency
            .map_or("no regular frequency".to_string(), |f| f.to_string());
        format!(
            "time {}, {freq}, {} to {}",
            self.column, self.first, self.last
        )
    }

    /// The times of the `steps` values after the last, when the frequency is known.
    pub fn following(&self, steps: usize) -> Option<Vec<String>> {
        let freq = self.frequency?;
        let stamps = time::after(self.last_stamp, self.layout, freq, steps);
        Some(
            stamps
                .into_iter()
                .map(|s| time::show(s, self.layout, self.clock))
                .collect(),
        )
    }
}

/// The missing-value markers (compared ignoring ASCII case, after trimming):
/// what R, pandas, SQL, Python and the UCI repository write for "no value".
pub const MISSING_MARKERS: [&str; 9] = ["", "?", "NA", "N/A", "NaN", "nan", "null", "None", "-"];

/// What one cell holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CellValue {
    /// A finite number.
    Number(f64),
    /// One of [`MISSING_MARKERS`].
    Marker,
    /// A number that is infinite or NaN (`inf`, `1e999`).
    NonFinite,
    /// A number only with the other decimal separator (`12,5` without
    /// `--decimal-comma`, `12.5` with it): refused under every policy.
    OtherDecimal,
    /// Anything else.
    NotNumber,
}

/// Reads a cell as the column's numbers are read (see [`numbers::decide`]):
/// a marker, a finite number, a non-finite one (`inf`, `1e999`), a number
/// only another candidate reading reads (the other decimal separator), or
/// something else.
fn cell_value(text: &str, reading: &numbers::ColumnReading) -> CellValue {
    if MISSING_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(text)) {
        return CellValue::Marker;
    }
    if let Some(v) = reading.reading.value(text) {
        return CellValue::Number(v);
    }
    if text.parse::<f64>().is_ok_and(|v| !v.is_finite()) {
        return CellValue::NonFinite;
    }
    if reading.other_reads(text) {
        return CellValue::OtherDecimal;
    }
    CellValue::NotNumber
}

impl Series {
    /// How the file was read, for the report: the delimiter used (and
    /// whether it was detected) and, under `--missing drop`, how many rows
    /// were dropped and the first one's line. Empty for a synthetic series.
    pub fn reading_note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.delimiter {
            parts.push(format!("delimiter {d}"));
        }
        if let (n @ 1.., Some(line)) = (self.dropped, self.first_dropped_line) {
            parts.push(format!("dropped {n} rows, the first on line {line}"));
        }
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }

    /// The time axis for the report: which column, its frequency, the first
    /// and last time, and what was done to the rows' order; empty without one.
    pub fn time_note(&self) -> String {
        let Some(t) = &self.time else {
            return String::new();
        };
        let mut parts = vec![t.describe()];
        parts.extend(t.notes.iter().cloned());
        parts.join("; ")
    }

    /// [`Self::reading_note`] and [`Self::time_note`], joined.
    pub(crate) fn full_note(&self) -> String {
        let parts = [self.reading_note(), self.time_note()];
        let parts: Vec<&str> = parts
            .iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .collect();
        parts.join("; ")
    }
}

/// Reads column `column` of the CSV file `path`, which may be gzip-compressed
/// (see [`crate::data::csv`] for the formats, delimiters, header and line
/// rules; `column` is a header name, matched exactly then ignoring case, or a
/// 1-based index — a header field literally named `"2"` wins over index 2).
///
/// Every cell of the column must be a finite number. A missing-value marker
/// ([`MISSING_MARKERS`], e.g. empty or `NA`) or a non-finite number (`inf`)
/// follows `policy`; any other text is an error naming its line under
/// [`MissingPolicy::Error`] and [`MissingPolicy::Interpolate`], and is left
/// out (counted in [`Series::dropped`]) under [`MissingPolicy::Drop`]. A
/// number written with the other decimal separator (`12,5` without
/// `decimal_comma`) is an error under every policy. Errors name the file, the
/// line (1-based physical lines), the column and the likely fix.
pub fn load_csv(
    path: &Path,
    column: &str,
    policy: MissingPolicy,
    format: &CsvFormat,
) -> Result<Series> {
    let bytes = csv::read_file(path)?;
    parse_csv(&bytes, &path.display().to_string(), column, policy, format)
}

/// [`load_csv`] on the bytes of a file already in memory; `source` names it in errors.
pub fn parse_csv(
    bytes: &[u8],
    source: &str,
    column: &str,
    policy: MissingPolicy,
    format: &CsvFormat,
) -> Result<Series> {
    let sheet = csv::Sheet::open(bytes, source, format)?;
    let col = sheet
        .columns(&[column])?
        .pop()
        .context("one column requested")?;
    let timed = read_times(&sheet, &col, format, source)?;
    let what = format!("{source}: column {}", col.label);
    let arranged = match &timed {
        Some(t) => Some(time::arrange(
            &t.stamps,
            &line_numbers(&col),
            &|s| time::show(s, t.layout, t.clock),
            &format.time,
            &format!("{source}: time column {:?}", t.name),
        )?),
        None => None,
    };
    let groups = match &arranged {
        Some(a) => a.groups.clone(),
        None => (0..col.cells.len()).map(|i| vec![i]).collect(),
    };
    let numbered: Vec<(u64, &str)> = col
        .cells
        .iter()
        .map(|c| (c.line, c.text.as_str()))
        .collect();
    let reading = numbers::decide(
        &numbered,
        (format.decimal_comma, format.thousands),
        col.delimiter.delimiter,
        &what,
        &other_cells(&sheet, col.number),
    )?;
    // Some(value) for a good group, None for a gap; one per distinct time.
    let mut cells: Vec<Option<f64>> = Vec::with_capacity(groups.len());
    for group in &groups {
        cells.push(group_value(group, &col, &reading, policy, source, format)?);
    }
    let missing = cells.iter().filter(|c| c.is_none()).count();
    let (values, interpolated) = match policy {
        MissingPolicy::Error | MissingPolicy::Drop => {
            (cells.iter().flatten().copied().collect(), 0)
        }
        MissingPolicy::Interpolate => interpolate(&cells),
    };
    if values.is_empty() {
        bail!(
            "{source}: column {} holds no numbers ({} data rows, {missing} missing or not numbers)",
            col.label,
            cells.len()
        );
    }
    let dropped_rows = dropped(&cells, policy);
    let line_of = |i: usize| groups[i].iter().map(|&r| col.cells[r].line).min();
    let mut notes = col.notes.clone();
    notes.extend(reading.notes.iter().cloned());
    let time = match (timed, arranged) {
        (Some(t), Some(a)) => Some(t.axis(&groups, &cells, policy, a.notes, &col)),
        _ => None,
    };
    Ok(Series {
        name: format!("{source}:{}", col.name),
        values,
        missing,
        interpolated,
        dropped: dropped_rows.len(),
        first_dropped_line: dropped_rows.first().and_then(|&i| line_of(i)),
        delimiter: (!sheet.workbook).then_some(col.delimiter),
        notes,
        time,
    })
}

/// The cells of the first rows outside column `number` (1-based), with
/// their column's name: evidence of the file's decimal separator.
fn other_cells(sheet: &csv::Sheet<'_>, number: usize) -> Vec<(String, String)> {
    let names = sheet.header().map(|h| h.names).unwrap_or_default();
    sheet
        .sample(time::SNIFF_ROWS)
        .into_iter()
        .flat_map(|row| row.into_iter().enumerate())
        .filter(|(i, _)| i + 1 != number)
        .map(|(i, text)| {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("column {}", i + 1));
            (name, text)
        })
        .collect()
}

/// Physical lines of a column's cells.
fn line_numbers(col: &csv::Column) -> Vec<u64> {
    col.cells.iter().map(|c| c.line).collect()
}

/// The value of one group of rows sharing a time (one row without
/// duplicates): the first or last row's, or the mean of those that are
/// numbers (`--duplicates`); `None` for a gap the policy accepts.
fn group_value(
    group: &[usize],
    col: &csv::Column,
    reading: &numbers::ColumnReading,
    policy: MissingPolicy,
    source: &str,
    format: &CsvFormat,
) -> Result<Option<f64>> {
    let by_line = |pick: fn(u64, u64) -> bool| {
        group
            .iter()
            .copied()
            .reduce(|a, b| {
                if pick(col.cells[b].line, col.cells[a].line) {
                    b
                } else {
                    a
                }
            })
            .unwrap_or(0)
    };
    let chosen: Vec<usize> = match format.time.duplicates {
        _ if group.len() == 1 => group.to_vec(),
        Duplicates::Last => vec![by_line(|b, a| b > a)],
        Duplicates::Mean => group.to_vec(),
        Duplicates::First | Duplicates::Error => vec![by_line(|b, a| b < a)],
    };
    let (mut sum, mut count, mut gap) = (0.0, 0usize, None);
    for &i in &chosen {
        let cell = &col.cells[i];
        match cell_value(&cell.text, reading) {
            CellValue::Number(v) => (sum, count) = (sum + v, count + 1),
            value => gap = gap.or(Some((value, cell))),
        }
    }
    if count == 0 {
        if let Some((value, cell)) = gap {
            check_gap(value, cell, col, policy, source, format)?;
        }
        return Ok(None);
    }
    Ok(Some(sum / count as f64))
}

/// The time column of a file as read: its stamps, one per data row.
struct Timed {
    name: String,
    layout: Layout,
    /// True when some time has a time of day (shown in messages and forecasts).
    clock: bool,
    stamps: Vec<time::Stamp>,
    /// How it was found and read, for the report.
    how: String,
}

/// Finds (or takes `--time-column`) and parses the time column of `sheet`;
/// `None` with `--time-column none` or when no column holds times.
fn read_times(
    sheet: &csv::Sheet<'_>,
    value: &csv::Column,
    format: &CsvFormat,
    source: &str,
) -> Result<Option<Timed>> {
    let opts = &format.time;
    if opts.disabled() {
        return Ok(None);
    }
    let header = sheet.header()?;
    let sample = sheet.sample(time::SNIFF_ROWS);
    let found = match &opts.column {
        Some(spec) => {
            let col = sheet
                .columns(&[spec.as_str()])?
                .pop()
                .context("one column")?;
            let what = format!("{source}: --time-column {spec}");
            let found = time::found_at(
                &header.names,
                &sample,
                col.number,
                true,
                opts.date_order,
                &what,
            )?;
            let Some(found) = found else {
                bail!(
                    "{what}: column {} does not hold times this reader knows in its first rows \
                     (like {:?}): it reads YYYY, YYYY-MM, YYYY-Qn, YYYY-MM-DD[ HH:MM[:SS]], \
                     DD/MM/YYYY, MM/DD/YYYY and YYYYMMDD",
                    col.label,
                    col.cells.first().map_or("", |c| c.text.as_str())
                );
            };
            found
        }
        None => match time::detect(
            &header.names,
            &sample,
            value.number,
            opts.date_order,
            source,
        )? {
            Some(found) => found,
            None => return Ok(None),
        },
    };
    parse_times(sheet, &header, &found, source).map(Some)
}

/// The spec that names column `number` of `header`: its name when no other
/// column shares it (ignoring case), else its index.
fn spec_of(header: &csv::Header, number: usize) -> String {
    let name = &header.names[number - 1];
    let unique = header
        .names
        .iter()
        .filter(|n| n.eq_ignore_ascii_case(name))
        .count()
        == 1;
    let is_index = name.trim().parse::<usize>().is_ok();
    if header.line.is_some() && unique && !is_index {
        name.clone()
    } else {
        number.to_string()
    }
}

/// Parses every row's time (joined with a time-of-day column when found);
/// a row that does not parse is an error naming its line.
fn parse_times(
    sheet: &csv::Sheet<'_>,
    header: &csv::Header,
    found: &time::Found,
    source: &str,
) -> Result<Timed> {
    let mut specs = vec![spec_of(header, found.number)];
    specs.extend(found.time_of_day.map(|n| spec_of(header, n)));
    let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let cols = sheet.columns(&refs)?;
    let (dates, clocks) = (&cols[0], cols.get(1));
    let layout = found.layout;
    let mut stamps = Vec::with_capacity(dates.cells.len());
    let mut clock = clocks.is_some();
    for (i, cell) in dates.cells.iter().enumerate() {
        let tod = clocks.map(|c| time::time_of_day(&c.cells[i].text));
        let stamp = time::parse(&cell.text, layout).zip(tod.unwrap_or(Some(0)));
        let Some((day, tod)) = stamp else {
            let example = dates.cells.first().map_or("", |c| c.text.as_str());
            let held = match clocks {
                Some(c) => format!("{:?} {:?}", cell.text, c.cells[i].text),
                None => format!("{:?}", cell.text),
            };
            bail!(
                "{source} line {}: time column {} holds {held}, not a time written like the \
                 other rows ({}, e.g. {example:?}): a totals or footer row, or a note? Delete that \
                 line (the time column orders the rows; --time-column none reads them in file \
                 order without one)",
                cell.line,
                dates.label,
                layout.name()
            );
        };
        clock |= day.rem_euclid(86_400) != 0 && layout_has_clock(layout);
        stamps.push(day + tod);
    }
    let joined = clocks.map_or(String::new(), |c| format!(" + {}", c.label));
    let how = match &found.order_note {
        Some(order) => format!("{}{joined} ({}, {order})", dates.label, layout.name()),
        None => format!("{}{joined} ({})", dates.label, layout.name()),
    };
    Ok(Timed {
        name: dates.name.clone(),
        layout,
        clock,
        stamps,
        how,
    })
}

/// True for layouts whose stamps are seconds (a time of day is possible).
fn layout_has_clock(layout: Layout) -> bool {
    !matches!(
        layout,
        Layout::Year | Layout::YearMonth | Layout::YearQuarter | Layout::MonthName
    )
}

impl Timed {
    /// The time axis of the values kept (one per group, after `policy`),
    /// with the frequency and the gaps of the rows read.
    fn axis(
        &self,
        groups: &[Vec<usize>],
        cells: &[Option<f64>],
        policy: MissingPolicy,
        mut notes: Vec<String>,
        col: &csv::Column,
    ) -> TimeAxis {
        let stamps: Vec<time::Stamp> = groups.iter().map(|g| self.stamps[g[0]]).collect();
        let show = |s| time::show(s, self.layout, self.clock);
        let freq = time::frequency(&stamps, self.layout);
        match &freq {
            Some((f, steps)) => {
                if let Some(note) = gap_note(steps, &stamps, groups, col, &show, f) {
                    notes.push(note);
                }
            }
            None if stamps.len() >= 3 => {
                notes.push("times irregularly spaced: no frequency".to_string());
            }
            None => {}
        }
        let kept = match policy {
            MissingPolicy::Interpolate => {
                let first = cells.iter().position(Option::is_some).unwrap_or(0);
                let last = cells.iter().rposition(Option::is_some).unwrap_or(0);
                stamps.get(first..=last).unwrap_or(&[]).to_vec()
            }
            _ => (0..stamps.len())
                .filter(|&i| cells[i].is_some())
                .map(|i| stamps[i])
                .collect(),
        };
        let (first, last) = (
            kept.first().copied().unwrap_or(0),
            kept.last().copied().unwrap_or(0),
        );
        TimeAxis {
            column: self.how.clone(),
            layout: self.layout,
            frequency: freq.map(|f| f.0),
            first: show(first),
            last: show(last),
            last_stamp: last,
            clock: self.clock,
            notes,
        }
    }
}

/// One line on the gaps of a regular series (`steps` in its unit), if any.
fn gap_note(
    steps: &[i64],
    stamps: &[time::Stamp],
    groups: &[Vec<usize>],
    col: &csv::Column,
    show: &dyn Fn(time::Stamp) -> String,
    freq: &time::Frequency,
) -> Option<String> {
    let first = steps.iter().position(|&s| s > 1)?;
    let gaps = steps.iter().filter(|&&s| s > 1).count();
    let missing: i64 = steps.iter().map(|s| s - 1).sum();
    let line = groups[first]
        .iter()
        .map(|&r| col.cells[r].line)
        .max()
        .unwrap_or(0);
    let (plural, missing_plural) = (
        if gaps == 1 { "" } else { "s" },
        if missing == 1 { "" } else { "s" },
    );
    Some(format!(
        "{gaps} gap{plural} in the {freq} times ({missing} time{missing_plural} missing), the \
         first after {} (line {line})",
        show(stamps[first])
    ))
}

/// Indices of the gaps of `cells` that `policy` leaves out.
fn dropped(cells: &[Option<f64>], policy: MissingPolicy) -> Vec<usize> {
    let first = cells
        .iter()
        .position(Option::is_some)
        .unwrap_or(cells.len());
    let last = cells.iter().rposition(Option::is_some).unwrap_or(0);
    (0..cells.len())
        .filter(|&i| cells[i].is_none())
        .filter(|&i| policy != MissingPolicy::Interpolate || i < first || i > last)
        .collect()
}

/// Accepts a gap (`value` is not a number) as `policy` says, or names the
/// file, line, column and cell with the fix.
fn check_gap(
    value: CellValue,
    cell: &csv::Cell,
    col: &csv::Column,
    policy: MissingPolicy,
    source: &str,
    format: &CsvFormat,
) -> Result<()> {
    let at = format!("{source} line {}: column {}", cell.line, col.label);
    let text = &cell.text;
    let accept = "(use --missing drop or --missing interpolate to accept gaps)";
    match (value, policy) {
        (CellValue::OtherDecimal, _) if format.decimal_comma => bail!(
            "{at} holds {text:?}: with --decimal-comma a `.` is not a decimal point (a thousands \
             separator?); leave out --decimal-comma if `.` is the decimal point"
        ),
        (CellValue::OtherDecimal, _) => bail!(
            "{at} holds {text:?}, a number with a decimal comma? add --decimal-comma (or, if \
             `,` separates thousands here, remove it)"
        ),
        (_, MissingPolicy::Drop) => Ok(()),
        (CellValue::NotNumber, _) => {
            let spans = if text.contains('\n') {
                " It spans several lines: a quote that is never closed?"
            } else {
                ""
            };
            bail!(
                "{at} holds {text:?}, not a finite number nor a missing-value marker (empty, ?, \
                 NA, N/A, NaN, null, None, -): fix the cell, or write a marker there and use \
                 --missing drop or --missing interpolate (--missing drop also leaves out rows \
                 like this one).{spans}"
            )
        }
        (_, MissingPolicy::Interpolate) => Ok(()),
        (CellValue::Marker, _) if text.is_empty() => bail!("{at} is empty {accept}"),
        (CellValue::Marker, _) => bail!("{at} holds {text:?}, a missing-value marker {accept}"),
        _ => bail!("{at} holds {text:?}, not a finite number {accept}"),
    }
}

/// Fills every inner gap of `cells` linearly by position between its two
/// neighbours; gaps at the ends are dropped. Returns the values and how many
/// were filled.
pub fn interpolate(cells: &[Option<f64>]) -> (Vec<f64>, usize) {
    let known: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].is_some()).collect();
    let (Some(&first), Some(&last)) = (known.first(), known.last()) else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::with_capacity(last - first + 1);
    let mut filled = 0;
    let mut prev = first;
    for i in first..=last {
        match cells[i] {
            Some(v) => {
                out.push(v);
                prev = i;
            }
            None => {
                let next = i + cells[i..].iter().position(Option::is_some).unwrap_or(0);
                let (a, b) = (cells[prev].unwrap_or(0.0), cells[next].unwrap_or(0.0));
                let t = (i - prev) as f64 / (next - prev) as f64;
                out.push(a + (b - a) * t);
                filled += 1;
            }
        }
    }
    (out, filled)
}

/// Settings of the synthetic series (`--synthetic sine`); `config.json` keys
/// `sine_len`, `sine_period`, `sine_noise` (`len`, `period`, `noise` before; both read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SineConfig {
    /// Points of the synthetic sine.
    #[serde(rename = "sine_len", alias = "len")]
    #[arg(long = "sine-len", id = "sine_len", value_name = "N")]
    pub len: usize,
    /// Period of the synthetic sine, in steps.
    #[serde(rename = "sine_period", alias = "period")]
    #[arg(long = "sine-period", id = "sine_period", value_name = "STEPS")]
    pub period: f64,
    /// Standard deviation of the Gaussian noise on the sine (amplitude 1).
    #[serde(rename = "sine_noise", alias = "noise")]
    #[arg(long = "sine-noise", id = "sine_noise", value_name = "STD")]
    pub noise: f64,
}

impl Default for SineConfig {
    fn default() -> Self {
        Self {
            len: 1000,
            period: 50.0,
            noise: 0.1,
        }
    }
}

/// `sin(2π t / period) + noise · N(0, 1)` for `t = 0..len`, the normal draws
/// by Box–Muller from [`SplitMix64`] seeded with `seed` (two uniforms per
/// point, the cosine branch only), so `parity/rnn_series.py` rebuilds the very
/// same numbers.
pub(crate) fn noisy_sine(cfg: &SineConfig, seed: u64) -> Series {
    let mut rng = SplitMix64::new(seed);
    // 53 random bits, shifted into (0, 1] so that ln never sees 0.
    let mut unit = move || ((rng.next_u64() >> 11) as f64 + 1.0) / 9_007_199_254_740_992.0;
    let values = (0..cfg.len)
        .map(|t| {
            let (u1, u2) = (unit(), unit());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (2.0 * std::f64::consts::PI * t as f64 / cfg.period).sin() + cfg.noise * normal
        })
        .collect();
    Series {
        name: format!(
            "sine(len {}, period {}, noise {}, seed {seed})",
            cfg.len, cfg.period, cfg.noise
        ),
        values,
        missing: 0,
        interpolated: 0,
        dropped: 0,
        first_dropped_line: None,
        delimiter: None,
        notes: Vec::new(),
        time: None,
    }
}

/// Fractions of the series for training and validation; the test part is
/// the rest. `config.json` keys `train_fraction`, `val_fraction` (written
/// `train`, `val` before; both read).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SplitFractions {
    /// Leading fraction of the series used for training.
    #[serde(rename = "train_fraction", alias = "train")]
    #[arg(long = "train-fraction", id = "train_fraction", value_name = "F", alias = "train-frac",
          default_value_t = SplitFractions::default().train)]
    pub train: f64,
    /// Following fraction used for validation (the test part is the rest).
    #[serde(rename = "val_fraction", alias = "val")]
    #[arg(long = "val-fraction", id = "val_fraction", value_name = "F", alias = "val-frac",
          default_value_t = SplitFractions::default().val)]
    pub val: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.70,
            val: 0.15,
        }
    }
}

/// The three consecutive parts of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split<'a> {
    /// `values[..n_train]`.
    pub train: &'a [f64],
    /// `values[n_train..n_train + n_val]`.
    pub val: &'a [f64],
    /// The rest.
    pub test: &'a [f64],
}

impl Split<'_> {
    /// Index in the whole series where the validation part starts.
    pub(crate) fn val_start(&self) -> usize {
        self.train.len()
    }

    /// Index in the whole series where the test part starts.
    pub(crate) fn test_start(&self) -> usize {
        self.train.len() + self.val.len()
    }
}

/// Cuts `values` chronologically: `floor(n·train)` points for training,
/// `floor(n·val)` for validation, the rest for testing. The training part must
/// hold at least `min_train` points (one window plus its horizon, so that it
/// yields at least one window); the validation and test parts at least one
/// value each, since their windows may reach back into the earlier parts for
/// their inputs (split by target time, see [`target_span`]). The error
/// says which part is too short.
pub fn split(values: &[f64], fractions: SplitFractions, min_train: usize) -> Result<Split<'_>> {
    let SplitFractions { train, val } = fractions;
    ensure!(
        train > 0.0 && val >= 0.0 && train + val < 1.0,
        "the split fractions must satisfy train > 0, val ≥ 0 and train + val < 1 \
         (got train {train}, val {val})"
    );
    let n = values.len();
    let n_train = (n as f64 * train).floor() as usize;
    let n_val = (n as f64 * val).floor() as usize;
    if n_train < min_train {
        bail!(
            "too few values for one window: the series has {n} values, so its training part \
             has {n_train}, but one window plus its horizon needs {min_train}; use a shorter \
             --window or --horizon, a larger --train-fraction, or a longer series"
        );
    }
    for (name, len, fix) in [
        ("validation", n_val, "a larger --val-fraction"),
        (
            "test",
            n - n_train - n_val,
            "a smaller --train-fraction or --val-fraction",
        ),
    ] {
        if len == 0 {
            bail!(
                "the series has {n} values, so its {name} part is empty; use {fix}, or a \
                 longer series"
            );
        }
    }
    Ok(Split {
        train: &values[..n_train],
        val: &values[n_train..n_train + n_val],
        test: &values[n_train + n_val..],
    })
}

/// Standardisation `(x − mean) / std` with the mean and the population
/// standard deviation of the data it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean of the fitted data.
    pub mean: f64,
    /// Population standard deviation (ddof 0) of the fitted data.
    pub std: f64,
}

impl Scaler {
    /// Fits on `values` (the training part only). A constant or empty part is
    /// an error: it cannot be scaled by a zero standard deviation.
    pub fn fit(values: &[f64]) -> Result<Self> {
        ensure!(!values.is_empty(), "cannot fit a scaler on no values");
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let std = var.sqrt();
        if std.is_nan() || std <= 1e-12 * mean.abs().max(1.0) {
            bail!(
                "the training part of the series is constant (all {} values equal {mean}): \
                 it cannot be scaled by a zero standard deviation, and there is nothing to learn",
                values.len()
            );
        }
        Ok(Self { mean, std })
    }

    /// Scales values.
    pub fn transform(&self, values: &[f64]) -> Vec<f64> {
        values.iter().map(|v| (v - self.mean) / self.std).collect()
    }

    /// Back to the series' own units.
    pub fn inverse(&self, values: &[f64]) -> Vec<f64> {
        values.iter().map(|v| v * self.std + self.mean).collect()
    }
}

/// Sliding windows over one part of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Input length.
    pub window: usize,
    /// Steps from a window's last value to its target.
    pub horizon: usize,
    /// `inputs[i]` = `values[i..i + window]`.
    pub inputs: Vec<Vec<f64>>,
    /// `targets[i]` = `values[i + window + horizon − 1]`: `horizon` steps after the window's last value.
    pub targets: Vec<f64>,
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The last value of each window (the persistence forecast).
    pub(crate) fn last_inputs(&self) -> Vec<f64> {
        self.inputs.iter().map(|w| w[w.len() - 1]).collect()
    }

    /// Inputs `[n, window, 1]` (batch-first, one feature per step) and targets
    /// `[n, 1]`, float32 on the CPU.
    pub fn to_tensors(&self) -> (Tensor, Tensor) {
        let n = self.len() as i64;
        let flat: Vec<f32> = self.inputs.iter().flatten().map(|&v| v as f32).collect();
        let ys: Vec<f32> = self.targets.iter().map(|&v| v as f32).collect();
        (
            Tensor::from_slice(&flat).view([n, self.window as i64, 1]),
            Tensor::from_slice(&ys).view([n, 1]),
        )
    }
}

/// Every window of `window` consecutive values of `values` with the value
/// `horizon` steps after its end as target: `values.len() − window − horizon + 1`
/// windows, none reaching outside `values`.
pub fn windows(values: &[f64], window: usize, horizon: usize) -> Result<Windows> {
    ensure!(window >= 1, "--window must be at least 1");
    ensure!(horizon >= 1, "--horizon must be at least 1");
    let span = window + horizon;
    if values.len() < span {
        bail!(
            "too few values for one window: {} values, but a window of {window} plus a \
             horizon of {horizon} needs {span}",
            values.len()
        );
    }
    let count = values.len() - span + 1;
    Ok(Windows {
        window,
        horizon,
        inputs: (0..count).map(|i| values[i..i + window].to_vec()).collect(),
        targets: (0..count).map(|i| values[i + span - 1]).collect(),
    })
}

/// The values that windows of `window` inputs and `horizon` steps need so
/// that every value of `targets` (indices in the whole series) is the target
/// of one window: `targets` preceded by `window + horizon − 1` earlier values,
/// which may lie in earlier parts of the split (they are past observations,
/// not leakage). Returns that range of the whole series; [`windows`] over it
/// gives exactly one window per target, in order. An error when the inputs
/// would reach before the series' first value.
pub fn target_span(
    targets: std::ops::Range<usize>,
    window: usize,
    horizon: usize,
) -> Result<std::ops::Range<usize>> {
    let reach = (window + horizon).saturating_sub(1);
    let Some(start) = targets.start.checked_sub(reach) else {
        bail!(
            "the target at index {0} has only {0} earlier values, but a window of {window} \
             plus a horizon of {horizon} needs {reach}",
            targets.start
        );
    };
    Ok(start..targets.end)
}

/// Values of a float tensor as `f64`s (any shape, flattened).
pub(crate) fn tensor_values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("a double tensor converts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_column_by_name_and_reports_gaps() {
        let text = "t,v\n1,1\n2,\n\n3,x\n4,4\n";
        let parse = |text: &str, column, policy| {
            parse_csv(
                text.as_bytes(),
                "f.csv",
                column,
                policy,
                &CsvFormat::default(),
            )
        };
        let err = parse(text, "v", MissingPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.csv line 3") && err.contains("empty"),
            "{err}"
        );
        let s = parse(text, "V", MissingPolicy::Drop).unwrap();
        assert_eq!(s.values, vec![1.0, 4.0]);
        assert_eq!((s.missing, s.interpolated), (2, 0));
        assert_eq!((s.dropped, s.first_dropped_line), (2, Some(3)));
        // Text that is neither a number nor a missing marker is not interpolated.
        let err = parse(text, "v", MissingPolicy::Interpolate)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.csv line 5: column \"v\" holds \"x\""),
            "{err}"
        );
        let s = parse(&text.replace(",x", ",NA"), "v", MissingPolicy::Interpolate).unwrap();
        assert_eq!(s.values, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.missing, s.interpolated), (2, 2));
        assert_eq!((s.dropped, s.first_dropped_line), (0, None));
    }

    #[test]
    fn interpolation_drops_the_ends() {
        let (v, n) = interpolate(&[None, Some(1.0), None, Some(3.0), None]);
        assert_eq!((v, n), (vec![1.0, 2.0, 3.0], 1));
        assert_eq!(interpolate(&[None, None]), (vec![], 0));
    }

    #[test]
    fn windows_and_targets_by_hand() {
        let v: Vec<f64> = (0..6).map(f64::from).collect();
        let w = windows(&v, 3, 1).unwrap();
        assert_eq!(
            w.inputs,
            vec![
                vec![0.0, 1.0, 2.0],
                vec![1.0, 2.0, 3.0],
                vec![2.0, 3.0, 4.0]
            ]
        );
        assert_eq!(w.targets, vec![3.0, 4.0, 5.0]);
        assert_eq!(w.last_inputs(), vec![2.0, 3.0, 4.0]);
        let w = windows(&v, 3, 2).unwrap();
        assert_eq!(w.targets, vec![4.0, 5.0]);
        let (xs, ys) = w.to_tensors();
        assert_eq!((xs.size(), ys.size()), (vec![2, 3, 1], vec![2, 1]));
        assert_eq!(tensor_values(&xs.get(1)), vec![1.0, 2.0, 3.0]);
        let err = windows(&v, 5, 2).unwrap_err().to_string();
        assert!(err.contains("too few values for one window"), "{err}");
    }

    #[test]
    fn split_is_chronological_and_checks_each_part() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let s = split(&v, SplitFractions::default(), 5).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 15, 15));
        assert_eq!((s.train[69], s.val[0], s.test[0]), (69.0, 70.0, 85.0));
        assert_eq!((s.val_start(), s.test_start()), (70, 85));
        let err = split(&v, SplitFractions::default(), 71)
            .unwrap_err()
            .to_string();
        assert!(err.contains("training part has 70"), "{err}");
        assert!(err.contains("needs 71"), "{err}");
        // Validation and test parts need one value each, not one window.
        let s = split(&v[..25], SplitFractions::default(), 17).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (17, 3, 5));
        let tiny_val = SplitFractions {
            train: 0.7,
            val: 0.005,
        };
        let err = split(&v, tiny_val, 1).unwrap_err().to_string();
        assert!(err.contains("validation part is empty"), "{err}");
        assert!(err.contains("--val-fraction"), "{err}");
        assert!(split(
            &v,
            SplitFractions {
                train: 0.9,
                val: 0.1
            },
            1
        )
        .is_err());
    }

    #[test]
    fn target_spans_reach_back_one_window_and_horizon() {
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        // Targets 21..25 with windows of 3, horizon 2: inputs from 21 − 4 = 17 on.
        let span = target_span(21..25, 3, 2).unwrap();
        assert_eq!(span, 17..25);
        let w = windows(&v[span], 3, 2).unwrap();
        assert_eq!(w.targets, vec![21.0, 22.0, 23.0, 24.0]);
        assert_eq!(w.inputs[0], vec![17.0, 18.0, 19.0]);
        assert_eq!(target_span(4..9, 3, 2).unwrap(), 0..9);
        let err = target_span(3..9, 3, 2).unwrap_err().to_string();
        assert!(err.contains("index 3 has only 3 earlier values"), "{err}");
        assert!(err.contains("needs 4"), "{err}");
    }

    #[test]
    fn scaler_uses_population_std_and_refuses_constants() {
        let s = Scaler::fit(&[1.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.std), (2.0, 1.0));
        assert_eq!(s.transform(&[3.0, 0.0]), vec![1.0, -2.0]);
        assert_eq!(s.inverse(&[1.0, -2.0]), vec![3.0, 0.0]);
        let err = Scaler::fit(&[5.0; 10]).unwrap_err().to_string();
        assert!(err.contains("constant"), "{err}");
    }

    #[test]
    fn sine_is_seeded() {
        let cfg = SineConfig::default();
        let a = noisy_sine(&cfg, 1);
        assert_eq!(a.values.len(), 1000);
        assert_eq!(a.values, noisy_sine(&cfg, 1).values);
        assert_ne!(a.values, noisy_sine(&cfg, 2).values);
        let clean = noisy_sine(&SineConfig { noise: 0.0, ..cfg }, 1);
        assert!(
            (clean.values[12] - (2.0 * std::f64::consts::PI * 12.0 / 50.0).sin()).abs() < 1e-15
        );
    }
}
