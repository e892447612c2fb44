//! The time axis of a series file: a column of dates or times, found by
//! looking at the cells (or named with `--time-column`), parsed, and used to
//! put the rows in time order, to refuse disorder, duplicated times and rows
//! whose time does not parse (a "Total" footer), and to name the frequency.
//!
//! Layouts read (one per column, decided on the first rows):
//!
//! | layout        | examples                                   | unit    |
//! |---------------|--------------------------------------------|---------|
//! | `YYYY`        | `1700` (only in a column named like a year) | year    |
//! | `YYYY-MM`     | `1949-01`, `1949/01`, `1949M01`             | month   |
//! | `YYYY-Qn`     | `2020-Q1`, `2020Q1`, `2020 Q1`, `Q1 2020`   | quarter |
//! | `YYYY-MM-DD`  | `2020-01-31`, `2020/1/31`, `2020.01.31`     | second  |
//! | `YYYYMMDD`    | `19580329` (only in a column named like a date) | second |
//! | `DD/MM/YYYY`  | `31/01/2020`, `31.01.2020`, `31-01-2020`    | second  |
//! | `MM/DD/YYYY`  | `01/31/2020`                                | second  |
//! | `Mon YYYY`    | `Jan 2020`, `January-2020`, `2020 Jan`      | month   |
//! | `DD Mon YYYY` | `31 Jan 2020`, `31-Jan-2020`, `Jan 31, 2020` | second |
//!
//! Any layout with days may carry a time of day (`T` or a space, then
//! `HH:MM[:SS[.fff]]`, optionally `Z` or `±HH:MM`, converted to UTC), and a
//! date column directly followed by a column of times of day (the UCI
//! household power file's `Date;Time`) is read as one timestamp.
//! Day-first against month-first is decided by a day above 12 in the column;
//! when none is, the column is refused with `--date-order dmy|mdy`.
//!
//! Dates are counted in days since 1970-01-01 in the proleptic Gregorian
//! calendar (H. Hinnant's `days_from_civil` / `civil_from_days`).

use std::fmt;

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// Rows looked at to decide whether a column holds times, and how.
pub(crate) const SNIFF_ROWS: usize = 50;

/// Header names (lower case, whole words) that let a column of bare numbers
/// (`1700`, `19580329`) count as years or compact dates.
const TIME_WORDS: &[&str] = &[
    "date",
    "time",
    "year",
    "yr",
    "jahr",
    "datum",
    "period",
    "month",
    "day",
    "week",
    "quarter",
    "timestamp",
    "ds",
    "fecha",
    "annee",
    "année",
    "año",
    "anno",
    "zeit",
    "monat",
    "mois",
];

/// `--date-order`: how `01/02/2020` is read when no day above 12 decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day first: `01/02/2020` is 1 February (most of the world).
    Dmy,
    /// Month first: `01/02/2020` is 2 January (the United States).
    Mdy,
}

/// `--duplicates`: what rows that share a time become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Duplicates {
    /// Stop with an error naming the lines.
    #[default]
    Error,
    /// Keep the row that comes first in the file.
    First,
    /// Keep the row that comes last in the file.
    Last,
    /// The mean of the rows' values (those that are numbers).
    Mean,
}

/// How the time axis is found and used (`--time-column`, `--date-order`,
/// `--sort-time`, `--duplicates`).
///
/// `config.json` keys `time_column`, `date_order`, `sort_time`, `duplicates`
/// (`column` and `sort` before; both read).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct TimeOptions {
    /// The column of dates or times (name or 1-based index); `none` reads
    /// the rows in file order (default: detected among the columns).
    #[serde(rename = "time_column", alias = "column")]
    #[arg(long = "time-column", id = "time_column", value_name = "NAME|N")]
    pub column: Option<String>,
    /// How `01/02/2020` is read when no day above 12 decides: day first
    /// (dmy) or month first (mdy).
    #[arg(long, value_enum)]
    pub date_order: Option<DateOrder>,
    /// Sort rows that are out of time order (default: refuse them, naming
    /// the lines; newest-first files are always reversed).
    #[serde(rename = "sort_time", alias = "sort")]
    #[arg(long = "sort-time", id = "sort_time")]
    pub sort: bool,
    /// Rows that share a time: refuse them, keep the first or the last in
    /// the file, or take the mean of their values.
    #[arg(long, value_enum)]
    pub duplicates: Duplicates,
}

impl TimeOptions {
    /// True when `--time-column none` turned the time axis off.
    pub(crate) fn disabled(&self) -> bool {
        self.column
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("none"))
    }
}

/// How the cells of a time column are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `YYYY`.
    Year,
    /// `YYYY-MM`.
    YearMonth,
    /// `YYYY-Qn`.
    YearQuarter,
    /// `YYYY-MM-DD`, optionally with a time of day.
    Ymd,
    /// `YYYYMMDD`.
    Compact,
    /// `DD/MM/YYYY`, optionally with a time of day.
    Dmy,
    /// `MM/DD/YYYY`, optionally with a time of day.
    Mdy,
    /// A month name and a year: `Jan 2020`, `January-2020`, `2020 Jan`.
    MonthName,
    /// A day, a month name and a year: `31 Jan 2020`, `31-Jan-2020`, `Jan 31, 2020`.
    DayMonthName,
}

impl Layout {
    /// The layout as users write it: `YYYY-MM-DD`, `DD/MM/YYYY`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Year => "YYYY",
            Layout::YearMonth => "YYYY-MM",
            Layout::YearQuarter => "YYYY-Qn",
            Layout::Ymd => "YYYY-MM-DD",
            Layout::Compact => "YYYYMMDD",
            Layout::Dmy => "DD/MM/YYYY",
            Layout::Mdy => "MM/DD/YYYY",
            Layout::MonthName => "Mon YYYY",
            Layout::DayMonthName => "DD Mon YYYY",
        }
    }

    /// True for the layouts counted in seconds (those with days).
    fn has_days(self) -> bool {
        !matches!(
            self,
            Layout::Year | Layout::YearMonth | Layout::YearQuarter | Layout::MonthName
        )
    }
}

/// The spacing of a regular series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frequency {
    /// Every `n` years.
    Years(i64),
    /// Every `n` quarters.
    Quarters(i64),
    /// Every `n` months (dates on one day of the month, or month ends).
    Months(i64),
    /// Monday to Friday, weekends skipped.
    BusinessDays,
    /// Every `n` seconds (days, weeks, hours…).
    Seconds(i64),
}

impl fmt::Display for Frequency {
    /// `yearly`, `monthly`, `every 2 months`, `daily`, `weekly`, `hourly`, `every 900 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let every = |f: &mut fmt::Formatter<'_>, n: i64, one: &str, many: &str| {
            if n == 1 {
                write!(f, "{one}")
            } else {
                write!(f, "every {n} {many}")
            }
        };
        match *self {
            Frequency::Years(n) => every(f, n, "yearly", "years"),
            Frequency::Quarters(n) => every(f, n, "quarterly", "quarters"),
            Frequency::Months(12) => write!(f, "yearly"),
            Frequency::Months(3) => write!(f, "quarterly"),
            Frequency::Months(n) => every(f, n, "monthly", "months"),
            Frequency::BusinessDays => write!(f, "business days (Monday to Friday)"),
            Frequency::Seconds(s) if s % 604_800 == 0 => every(f, s / 604_800, "weekly", "weeks"),
            Frequency::Seconds(s) if s % 86_400 == 0 => every(f, s / 86_400, "daily", "days"),
            Frequency::Seconds(s) if s % 3600 == 0 => every(f, s / 3600, "hourly", "hours"),
            Frequency::Seconds(s) if s % 60 == 0 => every(f, s / 60, "every minute", "minutes"),
            Frequency::Seconds(s) => every(f, s, "every second", "seconds"),
        }
    }
}

/// A time column as found: which column(s) and how they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// 1-based index of the column.
    pub number: usize,
    /// Its layout.
    pub layout: Layout,
    /// 1-based index of a following column of times of day, if one was joined.
    pub time_of_day: Option<usize>,
    /// How the day/month order was decided, for the report (`None` when
    /// the layout has no such choice).
    pub order_note: Option<String>,
}

/// One parsed time: a count of the layout's unit (years, quarters, months,
/// or seconds since 1970-01-01 00:00 UTC).
pub(crate) type Stamp = i64;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(y, m, d)` of a day count (Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days in month `m` of year `y`.
fn days_in_month(y: i64, m: i64) -> i64 {
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(next.0, next.1, 1) - days_from_civil(y, m, 1)
}

/// Seconds since the epoch of a valid date and time of day; `None` if invalid.
fn stamp_of(y: i64, m: i64, d: i64, tod: i64) -> Option<Stamp> {
    let ok = (1000..=2999).contains(&y) && (1..=12).contains(&m) && d >= 1;
    (ok && d <= days_in_month(y, m)).then(|| days_from_civil(y, m, d) * 86_400 + tod)
}

/// Digits only, as a number (no sign, no spaces); `None` otherwise or when too long.
fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A four-digit year 1000–2999.
fn year(s: &str) -> Option<i64> {
    digits(s).filter(|y| s.len() == 4 && (1000..=2999).contains(y))
}

/// Seconds of a time of day `HH:MM[:SS[.fff]]` with an optional `Z` or
/// `±HH:MM` offset (subtracted, so that the stamp is UTC).
pub(crate) fn time_of_day(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches(['Z', 'z']);
    let (clock, offset) = match s.rfind(['+', '-']) {
        Some(i) if i > 0 => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        _ => (s, None),
    };
    let mut parts = clock.split(':');
    let h = digits(parts.next()?)?;
    let m = digits(parts.next()?)?;
    let sec = match parts.next() {
        Some(p) => digits(p.split('.').next()?)?,
        None => 0,
    };
    if parts.next().is_some() || h > 24 || m > 59 || sec > 60 {
        return None;
    }
    let shift = match offset {
        Some((sign, off)) => {
            let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
            let secs = digits(oh)? * 3600 + digits(om)? * 60;
            if sign == "+" {
                -secs
            } else {
                secs
            }
        }
        None => 0,
    };
    Some(h * 3600 + m * 60 + sec + shift)
}

/// Splits `2020-01-31T12:00` / `2020-01-31 12:00` into the date and the
/// seconds of its time of day (0 without one).
fn date_and_clock(text: &str) -> Option<(&str, i64)> {
    match text.find(['T', ' ']) {
        Some(i) => Some((&text[..i], time_of_day(&text[i + 1..])?)),
        None => Some((text, 0)),
    }
}

/// Three numeric fields separated by one of `-` `/` `.` (the same twice).
fn three(date: &str) -> Option<(&str, &str, &str)> {
    let sep = date.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let mut it = date.split(sep);
    let parts = (it.next()?, it.next()?, it.next()?);
    it.next().is_none().then_some(parts)
}

/// `(first, second, year, seconds of day)` of `NN/NN/YYYY[ time]`.
fn day_month_parts(text: &str) -> Option<(i64, i64, i64, i64)> {
    let (date, tod) = date_and_clock(text)?;
    let (a, b, y) = three(date)?;
    let (a, b) = (digits(a)?, digits(b)?);
    let ok = (1..=31).contains(&a) && (1..=31).contains(&b) && a.max(b) <= 31;
    ok.then_some((a, b, year(y)?, tod))
}

/// The quarter index `year·4 + q − 1` of `2020-Q1`, `2020Q1`, `2020 Q1`, `Q1 2020`, `Q1-2020`.
fn quarter(text: &str) -> Option<Stamp> {
    let t = text.to_ascii_uppercase();
    let t = t.replace([' ', '-', '/'], "");
    let (y, q) = match t.find('Q')? {
        4 => (t.get(..4)?, t.get(5..)?),
        0 => (t.get(2..)?, t.get(1..2)?),
        _ => return None,
    };
    let q = digits(q).filter(|q| (1..=4).contains(q))?;
    Some(year(y)? * 4 + q - 1)
}

/// English month names (a cell may abbreviate them to 3 letters or more: `Sep`, `Sept`).
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month (1–12) a word names, if it does.
fn month_word(word: &str) -> Option<i64> {
    let w = word.to_lowercase();
    let w = w.trim_end_matches('.');
    if w.chars().count() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(w))
        .map(|i| i as i64 + 1)
}

/// `Jan 2020` (months since year 0) or `31 Jan 2020` (seconds), in any
/// order of the words, separated by spaces, `-`, `/`, `,` or `.`.
fn named_month(text: &str, layout: Layout) -> Option<Stamp> {
    let words: Vec<&str> = text
        .split([' ', '-', '/', ',', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    let month = words
        .iter()
        .filter_map(|w| month_word(w))
        .collect::<Vec<_>>();
    let years: Vec<i64> = words.iter().filter_map(|w| year(w)).collect();
    let days: Vec<i64> = words
        .iter()
        .filter(|w| w.len() <= 2)
        .filter_map(|w| digits(w))
        .collect();
    let ([m], [y]) = (&month[..], &years[..]) else {
        return None;
    };
    match (layout, &days[..], words.len()) {
        (Layout::MonthName, [], 2) => Some(y * 12 + m - 1),
        (Layout::DayMonthName, [d], 3) => stamp_of(*y, *m, *d, 0),
        _ => None,
    }
}

/// Parses one cell written in `layout`; `None` when it is not.
pub fn parse(text: &str, layout: Layout) -> Option<Stamp> {
    let text = text.trim();
    match layout {
        Layout::Year => year(text),
        Layout::YearMonth => {
            let sep = text.get(4..5)?;
            let (y, m) = (year(text.get(..4)?)?, digits(text.get(5..)?)?);
            let ok = matches!(sep, "-" | "/" | "M" | "m") && (1..=12).contains(&m);
            ok.then_some(y * 12 + m - 1)
        }
        Layout::YearQuarter => quarter(text),
        Layout::MonthName | Layout::DayMonthName => named_month(text, layout),
        Layout::Ymd => {
            let (date, tod) = date_and_clock(text)?;
            let (y, m, d) = three(date)?;
            stamp_of(year(y)?, digits(m)?, digits(d)?, tod)
        }
        Layout::Compact => {
            let n = digits(text).filter(|_| text.len() == 8)?;
            stamp_of(n / 10_000, n / 100 % 100, n % 100, 0)
        }
        Layout::Dmy | Layout::Mdy => {
            let (a, b, y, tod) = day_month_parts(text)?;
            let (d, m) = if layout == Layout::Dmy {
                (a, b)
            } else {
                (b, a)
            };
            stamp_of(y, m, d, tod)
        }
    }
}

/// True when `name` holds one of [`TIME_WORDS`] as a word.
fn time_like_name(name: &str) -> bool {
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| TIME_WORDS.contains(&w))
}

/// The layout every cell of `cells` (non-empty) is written in, if one is.
/// Bare numbers count only when `named` (a time-like header, or
/// `--time-column`). Day/month order comes from a day above 12, else from
/// `order`; when neither decides, an error names `--date-order`.
pub fn layout_of(
    cells: &[&str],
    named: bool,
    order: Option<DateOrder>,
    what: &str,
) -> Result<Option<(Layout, Option<String>)>> {
    if cells.is_empty() {
        return Ok(None);
    }
    // Most cells suffice: the others (a "Total" row) are named when every row is parsed.
    let most = |n: usize| n >= 2.min(cells.len()) && n * 5 >= cells.len() * 4;
    let all = |l: Layout| most(cells.iter().filter(|c| parse(c, l).is_some()).count());
    for layout in [
        Layout::YearMonth,
        Layout::YearQuarter,
        Layout::Ymd,
        Layout::MonthName,
        Layout::DayMonthName,
    ] {
        if all(layout) {
            return Ok(Some((layout, None)));
        }
    }
    if named {
        for layout in [Layout::Year, Layout::Compact] {
            if all(layout) {
                return Ok(Some((layout, None)));
            }
        }
    }
    let (slashed, parts): (Vec<&str>, Vec<_>) = cells
        .iter()
        .filter_map(|c| day_month_parts(c).map(|p| (*c, p)))
        .unzip();
    if !most(parts.len()) {
        return Ok(None);
    }
    slash_order(&parts, &slashed, order, what)
}

/// Day-first or month-first for `NN/NN/YYYY` cells (see [`layout_of`]).
fn slash_order(
    parts: &[(i64, i64, i64, i64)],
    cells: &[&str],
    order: Option<DateOrder>,
    what: &str,
) -> Result<Option<(Layout, Option<String>)>> {
    let first_big = parts.iter().position(|p| p.0 > 12);
    let second_big = parts.iter().position(|p| p.1 > 12);
    let decided = match (first_big, second_big, order) {
        (Some(_), Some(_), _) => return Ok(None),
        (_, _, Some(DateOrder::Dmy)) => (Layout::Dmy, "--date-order dmy".to_string()),
        (_, _, Some(DateOrder::Mdy)) => (Layout::Mdy, "--date-order mdy".to_string()),
        (Some(i), None, None) => (
            Layout::Dmy,
            format!("day first: {:?} has a day above 12", cells[i]),
        ),
        (None, Some(i), None) => (
            Layout::Mdy,
            format!("month first: {:?} has a day above 12", cells[i]),
        ),
        (None, None, None) => bail!(
            "{what}: dates like {:?} could be day first (DD/MM/YYYY) or month first \
             (MM/DD/YYYY), and no day above 12 in the first rows decides: add --date-order dmy \
             or --date-order mdy",
            cells[0]
        ),
    };
    let layout = decided.0;
    if cells.iter().any(|c| parse(c, layout).is_none()) {
        return Ok(None);
    }
    Ok(Some((layout, Some(decided.1))))
}

/// Finds the time column among the header `names` (data rows `sample`,
/// `value` the 1-based index of the value column, never chosen): the first
/// column whose first rows are all times in one layout ([`layout_of`]); a
/// following column of times of day is joined to a date column.
pub(crate) fn detect(
    names: &[String],
    sample: &[Vec<String>],
    value: usize,
    order: Option<DateOrder>,
    source: &str,
) -> Result<Option<Found>> {
    for number in (1..=names.len()).filter(|&n| n != value) {
        let what = format!("{source}: column {:?}", names[number - 1]);
        let named = time_like_name(&names[number - 1]);
        if let Some(found) = found_at(names, sample, number, named, order, &what)? {
            if found.time_of_day != Some(value) && !coarse(sample, &found) {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// True when at least half of the sampled rows repeat the time of the row
/// before: a coarse column (the `Year` beside a `Period` of monthly data),
/// not the time axis.
fn coarse(sample: &[Vec<String>], found: &Found) -> bool {
    let at = |row: &Vec<String>, n: usize| row.get(n - 1).map_or("", |c| c.trim()).to_string();
    let keys: Vec<(String, String)> = sample
        .iter()
        .map(|r| {
            (
                at(r, found.number),
                found.time_of_day.map_or(String::new(), |n| at(r, n)),
            )
        })
        .collect();
    let pairs = keys.len().saturating_sub(1);
    let repeats = keys.windows(2).filter(|w| w[0] == w[1]).count();
    pairs > 0 && 2 * repeats >= pairs
}

/// The time column at `number` (1-based) if its sampled cells are times.
pub(crate) fn found_at(
    names: &[String],
    sample: &[Vec<String>],
    number: usize,
    named: bool,
    order: Option<DateOrder>,
    what: &str,
) -> Result<Option<Found>> {
    let cells = column_cells(sample, number);
    let Some((layout, order_note)) = layout_of(&cells, named, order, what)? else {
        return Ok(None);
    };
    let next = column_cells(sample, number + 1);
    let joins = layout.has_days()
        && number < names.len()
        && !next.is_empty()
        && next
            .iter()
            .all(|c| !c.contains(['T', ' ']) && time_of_day(c).is_some())
        && cells.iter().all(|c| !c.contains(['T', ' ', ':']));
    Ok(Some(Found {
        number,
        layout,
        time_of_day: joins.then_some(number + 1),
        order_note,
    }))
}

/// The non-empty cells of column `number` (1-based) of `sample`.
fn column_cells(sample: &[Vec<String>], number: usize) -> Vec<&str> {
    sample
        .iter()
        .filter_map(|row| row.get(number - 1))
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Shows a stamp of `layout` as the layout writes it (dates as ISO
/// `YYYY-MM-DD`, with ` HH:MM[:SS]` when `clock`).
pub fn show(stamp: Stamp, layout: Layout, clock: bool) -> String {
    match layout {
        Layout::Year => stamp.to_string(),
        Layout::YearMonth | Layout::MonthName => {
            format!("{}-{:02}", stamp.div_euclid(12), stamp.rem_euclid(12) + 1)
        }
        Layout::YearQuarter => format!("{}-Q{}", stamp.div_euclid(4), stamp.rem_euclid(4) + 1),
        _ => {
            let (y, m, d) = civil_from_days(stamp.div_euclid(86_400));
            let s = stamp.rem_euclid(86_400);
            match (clock, s % 60) {
                (false, _) => format!("{y:04}-{m:02}-{d:02}"),
                (true, 0) => format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s / 60 % 60),
                (true, _) => format!(
                    "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                    s / 3600,
                    s / 60 % 60,
                    s % 60
                ),
            }
        }
    }
}

/// The day-of-month pattern of date stamps: `Some(Some(d))` when all fall on
/// day `d` ≤ 28, `Some(None)` when all are month ends, else `None`.
fn month_anchor(stamps: &[Stamp]) -> Option<Option<i64>> {
    let dates: Vec<(i64, i64, i64)> = stamps
        .iter()
        .map(|s| civil_from_days(s.div_euclid(86_400)))
        .collect();
    let same_clock = stamps
        .iter()
        .all(|s| s.rem_euclid(86_400) == stamps[0].rem_euclid(86_400));
    if !same_clock || dates.len() < 2 {
        return None;
    }
    let d0 = dates[0].2;
    if d0 <= 28 && dates.iter().all(|d| d.2 == d0) {
        return Some(Some(d0));
    }
    dates
        .iter()
        .all(|&(y, m, d)| d == days_in_month(y, m))
        .then_some(None)
}

/// Months since year 0 of a date stamp.
fn month_index(stamp: Stamp) -> i64 {
    let (y, m, _) = civil_from_days(stamp.div_euclid(86_400));
    y * 12 + m - 1
}

/// Day of the week of a date stamp, 0 = Sunday.
fn weekday(stamp: Stamp) -> i64 {
    (stamp.div_euclid(86_400) + 4).rem_euclid(7)
}

/// The steps between consecutive stamps (increasing) in the frequency's
/// unit, for `layout`; the frequency when the series is regular (every step
/// a multiple of the smallest, which is also the commonest).
pub fn frequency(stamps: &[Stamp], layout: Layout) -> Option<(Frequency, Vec<i64>)> {
    if stamps.len() < 3 {
        return None;
    }
    let (steps, make): (Vec<i64>, fn(i64) -> Frequency) = match layout {
        Layout::Year => (diffs(stamps), Frequency::Years),
        Layout::YearMonth | Layout::MonthName => (diffs(stamps), Frequency::Months),
        Layout::YearQuarter => (diffs(stamps), Frequency::Quarters),
        _ if month_anchor(stamps).is_some() => {
            let months: Vec<i64> = stamps.iter().map(|&s| month_index(s)).collect();
            (diffs(&months), Frequency::Months)
        }
        _ if business_days(stamps) => {
            let days = stamps
                .iter()
                .map(|&s| business_index(s))
                .collect::<Vec<_>>();
            (diffs(&days), |_| Frequency::BusinessDays)
        }
        _ => (diffs(stamps), Frequency::Seconds),
    };
    let unit = *steps.iter().min()?;
    let modal = steps.iter().filter(|&&s| s == unit).count();
    let regular = unit > 0 && steps.iter().all(|s| s % unit == 0) && 2 * modal >= steps.len();
    regular.then(|| (make(unit), steps.iter().map(|s| s / unit).collect()))
}

fn diffs(v: &[i64]) -> Vec<i64> {
    v.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Daily dates on weekdays only, with at least one weekend skipped.
fn business_days(stamps: &[Stamp]) -> bool {
    let days: Vec<i64> = stamps.iter().map(|s| s.div_euclid(86_400)).collect();
    let aligned = stamps.iter().all(|s| s.rem_euclid(86_400) == 0);
    aligned
        && stamps.iter().all(|&s| (1..=5).contains(&weekday(s)))
        && diffs(&days).contains(&3)
        && diffs(&days)
            .iter()
            .all(|&d| d == 1 || d == 3 || d % 7 == 0 || d < 7)
}

/// Weekdays since a Monday, for a weekday date stamp.
fn business_index(stamp: Stamp) -> i64 {
    // 1970-01-05 was a Monday.
    let days = stamp.div_euclid(86_400) - 4;
    days.div_euclid(7) * 5 + days.rem_euclid(7).min(4)
}

/// The `steps` stamps after `last` at `freq` (in `layout`'s unit).
pub fn after(last: Stamp, layout: Layout, freq: Frequency, steps: usize) -> Vec<Stamp> {
    let k = 1..=steps as i64;
    match (freq, layout.has_days()) {
        (Frequency::Months(n), true) => {
            let (_, _, d) = civil_from_days(last.div_euclid(86_400));
            let month_end = month_anchor(&[last, last]).is_some_and(|a| a.is_none()) && d > 28;
            let clock = last.rem_euclid(86_400);
            k.map(|i| {
                let m = month_index(last) + n * i;
                let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) + 1);
                let day = if month_end {
                    days_in_month(y, mo)
                } else {
                    d.min(days_in_month(y, mo))
                };
                days_from_civil(y, mo, day) * 86_400 + clock
            })
            .collect()
        }
        (Frequency::BusinessDays, _) => {
            let mut t = last;
            k.map(|_| {
                t += 86_400;
                while !(1..=5).contains(&weekday(t)) {
                    t += 86_400;
                }
                t
            })
            .collect()
        }
        (
            Frequency::Years(n)
            | Frequency::Quarters(n)
            | Frequency::Months(n)
            | Frequency::Seconds(n),
            _,
        ) => k.map(|i| last + n * i).collect(),
    }
}

/// Rows put in time order: groups of row indices (file order `0..n`) that
/// share a time, oldest first, and what was done, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arranged {
    /// Row indices, one group per distinct time, in time order.
    pub groups: Vec<Vec<usize>>,
    /// Notices (reversed, sorted, duplicates merged).
    pub notes: Vec<String>,
}

/// Puts the rows (times `stamps`, physical `lines`) in time order:
/// newest-first rows are reversed (a notice); other disorder is an error
/// naming the lines unless `opts.sort`; rows sharing a time are an error
/// naming the lines unless `opts.duplicates` says how to merge them.
/// `show` writes a stamp for messages, `what` names the file and column.
pub(crate) fn arrange(
    stamps: &[Stamp],
    lines: &[u64],
    show: &dyn Fn(Stamp) -> String,
    opts: &TimeOptions,
    what: &str,
) -> Result<Arranged> {
    let n = stamps.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut notes = Vec::new();
    let back: Vec<usize> = (1..n).filter(|&i| stamps[i] < stamps[i - 1]).collect();
    let forward = (1..n).any(|i| stamps[i] > stamps[i - 1]);
    let at = |i: usize| format!("line {} ({})", lines[i], show(stamps[i]));
    if !back.is_empty() && !forward {
        order.reverse();
        notes.push(format!(
            "rows are newest first ({} … {}): read in time order",
            at(0),
            at(n - 1)
        ));
    } else if let Some(&i) = back.first() {
        if !opts.sort {
            let more = match back.len() - 1 {
                0 => String::new(),
                1 => ", and time goes back at 1 more line".to_string(),
                k => format!(", and time goes back at {k} more lines"),
            };
            bail!(
                "{what}: the rows are not in time order: {} comes after {}{more}. Two exports \
                 pasted together, or a sorted column? Sort the file by time, or add --sort-time \
                 to sort the rows (rows sharing a time then need --duplicates)",
                at(i),
                at(i - 1)
            );
        }
        order.sort_by_key(|&i| stamps[i]);
        let lines_word = if back.len() == 1 { "line" } else { "lines" };
        notes.push(format!(
            "rows sorted by time (--sort-time): time went back at {} {lines_word}, the first {}",
            back.len(),
            at(i)
        ));
    }
    let groups = group_equal(&order, stamps);
    merge_note(&groups, lines, stamps, show, opts, what)?
        .into_iter()
        .for_each(|note| notes.push(note));
    Ok(Arranged { groups, notes })
}

/// Consecutive indices of `order` with equal stamps, as groups.
fn group_equal(order: &[usize], stamps: &[Stamp]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in order {
        match groups.last_mut() {
            Some(g) if stamps[g[0]] == stamps[i] => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// The error for rows sharing a time under `--duplicates error`, or the
/// notice of how they were merged.
fn merge_note(
    groups: &[Vec<usize>],
    lines: &[u64],
    stamps: &[Stamp],
    show: &dyn Fn(Stamp) -> String,
    opts: &TimeOptions,
    what: &str,
) -> Result<Option<String>> {
    let repeated: Vec<&Vec<usize>> = groups.iter().filter(|g| g.len() > 1).collect();
    let Some(first) = repeated.first() else {
        return Ok(None);
    };
    let mut at: Vec<u64> = first.iter().map(|&i| lines[i]).collect();
    at.sort_unstable();
    let listed = at
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" and ");
    let time = show(stamps[first[0]]);
    let how = match opts.duplicates {
        Duplicates::Error => {
            let more = match repeated.len() - 1 {
                0 => String::new(),
                k => format!(" (and {k} more repeated times)"),
            };
            bail!(
                "{what}: lines {listed} have the same time {time}{more}. Two exports pasted \
                 together? Delete the repeated rows, or keep one value per time with \
                 --duplicates first, --duplicates last or --duplicates mean"
            );
        }
        Duplicates::First => "kept the first in the file",
        Duplicates::Last => "kept the last in the file",
        Duplicates::Mean => "took the mean of their values",
    };
    let rows: usize = repeated.iter().map(|g| g.len()).sum();
    Ok(Some(format!(
        "{} times appear on more than one row ({rows} rows; the first {time}, lines {listed}): \
         {how} (--duplicates)",
        repeated.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 59, 11_016, 19_000, 400_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
    }

    #[test]
    fn layouts_parse_and_refuse() {
        assert_eq!(parse("1949-03", Layout::YearMonth), Some(1949 * 12 + 2));
        assert_eq!(parse("1949M03", Layout::YearMonth), Some(1949 * 12 + 2));
        assert_eq!(parse("1949-13", Layout::YearMonth), None);
        assert_eq!(parse("Q2 2020", Layout::YearQuarter), Some(2020 * 4 + 1));
        assert_eq!(parse("2020-Q2", Layout::YearQuarter), Some(2020 * 4 + 1));
        let day = days_from_civil(2020, 2, 29) * 86_400;
        assert_eq!(parse("2020-02-29", Layout::Ymd), Some(day));
        assert_eq!(parse("2021-02-29", Layout::Ymd), None);
        assert_eq!(parse("29/02/2020", Layout::Dmy), Some(day));
        assert_eq!(parse("02/29/2020", Layout::Mdy), Some(day));
        assert_eq!(parse("20200229", Layout::Compact), Some(day));
        assert_eq!(parse("2020-02-29T01:30:00Z", Layout::Ymd), Some(day + 5400));
        assert_eq!(
            parse("2020-02-29 02:30+01:00", Layout::Ymd),
            Some(day + 5400)
        );
        assert_eq!(parse("Total", Layout::Ymd), None);
        assert_eq!(parse("Feb 2020", Layout::MonthName), Some(2020 * 12 + 1));
        assert_eq!(
            parse("2020-September", Layout::MonthName),
            Some(2020 * 12 + 8)
        );
        assert_eq!(parse("29-Feb-2020", Layout::DayMonthName), Some(day));
        assert_eq!(parse("Feb 29, 2020", Layout::DayMonthName), Some(day));
        assert_eq!(parse("Ma 2020", Layout::MonthName), None);
        assert_eq!(parse("Feb 2020", Layout::DayMonthName), None);
    }

    #[test]
    fn day_month_order_is_decided_or_refused() {
        let l = layout_of(&["01/02/2020", "13/02/2020"], false, None, "f").unwrap();
        assert_eq!(l.map(|l| l.0), Some(Layout::Dmy));
        let l = layout_of(&["01/02/2020", "02/13/2020"], false, None, "f").unwrap();
        assert_eq!(l.map(|l| l.0), Some(Layout::Mdy));
        let err = layout_of(&["01/02/2020", "02/03/2020"], false, None, "f").unwrap_err();
        assert!(err.to_string().contains("--date-order dmy"), "{err}");
        let l = layout_of(&["01/02/2020"], false, Some(DateOrder::Mdy), "f").unwrap();
        assert_eq!(l.map(|l| l.0), Some(Layout::Mdy));
        // Bare years only in a column named like a year.
        assert_eq!(
            layout_of(&["1700", "1701"], false, None, "f").unwrap(),
            None
        );
        let l = layout_of(&["1700", "1701"], true, None, "f").unwrap();
        assert_eq!(l.map(|l| l.0), Some(Layout::Year));
    }

    #[test]
    fn frequencies_and_following_times() {
        let days = |v: &[(i64, i64, i64)]| -> Vec<Stamp> {
            v.iter()
                .map(|&(y, m, d)| days_from_civil(y, m, d) * 86_400)
                .collect()
        };
        let monthly = days(&[(2020, 1, 31), (2020, 2, 29), (2020, 3, 31)]);
        let (f, _) = frequency(&monthly, Layout::Ymd).unwrap();
        assert_eq!(f, Frequency::Months(1));
        let next = after(monthly[2], Layout::Ymd, f, 2);
        assert_eq!(show(next[0], Layout::Ymd, false), "2020-04-30");
        assert_eq!(show(next[1], Layout::Ymd, false), "2020-05-31");
        // Friday, Monday, Tuesday: business days.
        let b = days(&[(2024, 5, 3), (2024, 5, 6), (2024, 5, 7), (2024, 5, 8)]);
        let (f, _) = frequency(&b, Layout::Ymd).unwrap();
        assert_eq!(f, Frequency::BusinessDays);
        let weekly = days(&[(2024, 5, 3), (2024, 5, 10), (2024, 5, 24)]);
        let (f, steps) = frequency(&weekly, Layout::Ymd).unwrap();
        assert_eq!((f.to_string(), steps), ("weekly".to_string(), vec![1, 2]));
        assert_eq!(frequency(&[1, 2, 4, 7], Layout::Year), None);
        assert_eq!(show(2020 * 4 + 3, Layout::YearQuarter, false), "2020-Q4");
    }

    #[test]
    fn arranging_rows() {
        let show = |s: Stamp| s.to_string();
        let opts = TimeOptions::default();
        let lines = [2, 3, 4, 5];
        let a = arrange(&[4, 3, 2, 1], &lines, &show, &opts, "f").unwrap();
        assert_eq!(a.groups, vec![vec![3], vec![2], vec![1], vec![0]]);
        assert!(a.notes[0].starts_with("rows are newest first (line 2 (4)"));
        let err = arrange(&[1, 2, 1, 3], &lines, &show, &opts, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 4 (1) comes after line 3 (2)"), "{err}");
        let sort = TimeOptions {
            sort: true,
            duplicates: Duplicates::Last,
            ..opts.clone()
        };
        let a = arrange(&[1, 2, 1, 3], &lines, &show, &sort, "f").unwrap();
        assert_eq!(a.groups, vec![vec![0, 2], vec![1], vec![3]]);
        let err = arrange(&[1, 2, 2, 3], &lines, &show, &opts, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lines 3 and 4 have the same time 2"), "{err}");
    }
}
