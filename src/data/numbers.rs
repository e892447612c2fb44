//! Numbers as people write them in series files: thousands separators
//! (`1,234.5`, `1.234,5`, `1 234,5` with a space, a no-break space or a
//! narrow no-break space, `1'234.5`), a percent sign (dropped: the value
//! stays in percent), currency signs (`$` `€` `£` `¥` `₹`, dropped), a
//! leading `+`, `-` or `−`, and Rust's `f64` syntax (`1e-3`) for numbers
//! without separators.
//!
//! A grouped number has a first group of 1 to 3 digits that does not start
//! with 0 and further groups of exactly 3. Which separator is the decimal
//! point is decided for the whole column ([`decide`]): with no flag, the
//! column is read with `.` as the decimal point (`,` grouping) or with `,`
//! (`.` grouping), whichever reads every number of the column; when both do
//! and give different values (`1.092` with no other decimals) the column is
//! refused with both readings and the flag for each (`--thousands ,` or
//! `--thousands .`). `--decimal-comma` fixes the decimal comma,
//! `--thousands C` the separator, `--thousands none` forbids grouping.

use std::fmt;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `--thousands`: how digits are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Thousands {
    /// Decided from the column (see the module documentation).
    #[default]
    Auto,
    /// No grouping: `1,234` is not a number (`--thousands none`).
    None,
    /// This separator (`,` `.` a space `'` `_`); the decimal point is then
    /// the other of `.` and `,` (`.` for a space, `'` or `_` unless `--decimal-comma`).
    Sep(char),
}

/// Parses a `--thousands` value: `,` `.` `'` `_`, `space`, `none` or `auto`.
pub(crate) fn parse_thousands(text: &str) -> Result<Thousands> {
    match text {
        "auto" => Ok(Thousands::Auto),
        "none" => Ok(Thousands::None),
        "space" | " " => Ok(Thousands::Sep(' ')),
        "," | "." | "'" | "_" => Ok(Thousands::Sep(text.chars().next().unwrap_or(','))),
        _ => bail!("--thousands takes `,` `.` `'` `_` `space`, `none` or `auto`, got {text:?}"),
    }
}

/// Spaces accepted between groups of digits (with any grouping but `none`).
const SPACES: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

/// Currency signs dropped around a number.
const CURRENCY: [char; 6] = ['$', '€', '£', '¥', '₹', '¤'];

/// One way of reading numbers: the decimal mark and the thousands separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// `.` or `,`.
    pub decimal: char,
    /// The separator between groups of three digits; `None`: no grouping.
    pub group: Option<char>,
}

impl fmt::Display for Reading {
    /// `` `.` decimal point, `,` thousands ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` decimal point", self.decimal)?;
        match self.group {
            Some(' ') => write!(f, ", spaces between thousands"),
            Some(g) => write!(f, ", `{g}` between thousands"),
            None => Ok(()),
        }
    }
}

impl Reading {
    /// The value of `text` under this reading; `None` when it is not a
    /// finite number written this way.
    pub fn value(&self, text: &str) -> Option<f64> {
        let (negative, body) = strip_signs(text)?;
        if body.contains(['e', 'E']) {
            return self.exponent(body, negative);
        }
        let (int, frac) = match body.split_once(self.decimal) {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let plain = match (self.group, frac) {
            _ if !int.contains(|c: char| !c.is_ascii_digit()) => int.to_string(),
            (Some(g), _) => ungroup(int, g)?,
            (None, _) => return self.exponent(body, negative),
        };
        let frac = frac.unwrap_or("");
        if frac.contains(|c: char| !c.is_ascii_digit()) {
            return self.exponent(body, negative);
        }
        if plain.is_empty() && frac.is_empty() {
            return None;
        }
        let v: f64 = format!("{plain}.{frac}0").parse().ok()?;
        let v = if negative { -v } else { v };
        v.is_finite().then_some(v)
    }

    /// `1e-3`, `2.5E4`: Rust's syntax, with this reading's decimal mark.
    fn exponent(&self, body: &str, negative: bool) -> Option<f64> {
        let t = body.replacen(self.decimal, ".", 1);
        let ok = t.contains(['e', 'E'])
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
        let v: f64 = t.parse().ok().filter(|_| ok)?;
        let v = if negative { -v } else { v };
        v.is_finite().then_some(v)
    }

    /// True when a cell read this way uses the thousands separator.
    fn groups(&self, text: &str) -> bool {
        let Some((_, body)) = strip_signs(text) else {
            return false;
        };
        let int = body.split(self.decimal).next().unwrap_or("");
        int.contains(|c: char| !c.is_ascii_digit())
    }
}

/// The sign and the digits of `text` without currency signs and a percent
/// sign; `None` for an empty body.
fn strip_signs(text: &str) -> Option<(bool, &str)> {
    let t = text.trim().trim_end_matches('%').trim();
    let t = t.trim_matches(|c| CURRENCY.contains(&c)).trim();
    let (negative, t) = match t.chars().next()? {
        '-' | '−' => (true, &t[t.chars().next()?.len_utf8()..]),
        '+' => (false, &t[1..]),
        _ => (false, t),
    };
    let t = t.trim_start_matches(|c| CURRENCY.contains(&c)).trim();
    (!t.is_empty()).then_some((negative, t))
}

/// `1,234,567` → `1234567` when grouped by `g` (or spaces) correctly.
fn ungroup(int: &str, g: char) -> Option<String> {
    let is_sep = |c: char| c == g || SPACES.contains(&c);
    let groups: Vec<&str> = int.split(is_sep).collect();
    let head = groups[0];
    let ok_head = (1..=3).contains(&head.len()) && !head.starts_with('0');
    let ok_rest = groups[1..]
        .iter()
        .all(|x| x.len() == 3 && x.bytes().all(|b| b.is_ascii_digit()));
    let one_kind = int.contains(g) != int.contains(SPACES);
    (ok_head && ok_rest && head.bytes().all(|b| b.is_ascii_digit()) && one_kind)
        .then(|| groups.concat())
}

/// How the numbers of one column are read, and what to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnReading {
    /// The reading of every cell.
    pub reading: Reading,
    /// The other candidate readings (a cell only they read is "the other decimal separator").
    pub others: Vec<Reading>,
    /// What was decided, for the report (empty when nothing special was seen).
    pub notes: Vec<String>,
}

impl ColumnReading {
    /// True when another candidate reads `text` (and this reading does not).
    pub(crate) fn other_reads(&self, text: &str) -> bool {
        self.others.iter().any(|r| r.value(text).is_some())
    }
}

/// The candidate readings for the flags (see the module documentation).
fn candidates(decimal_comma: bool, thousands: Thousands) -> Vec<Reading> {
    let r = |decimal, group| Reading { decimal, group };
    match (decimal_comma, thousands) {
        (true, Thousands::Auto) => vec![r(',', Some('.'))],
        (true, Thousands::None) => vec![r(',', None)],
        (true, Thousands::Sep(g)) => vec![r(',', Some(g))],
        (false, Thousands::Auto) => vec![r('.', Some(',')), r(',', Some('.'))],
        (false, Thousands::None) => vec![r('.', None)],
        (false, Thousands::Sep('.')) => vec![r(',', Some('.'))],
        (false, Thousands::Sep(g)) => vec![r('.', Some(g))],
    }
}

/// The flag that chooses `reading` among the automatic candidates.
fn flag_for(reading: &Reading) -> &'static str {
    if reading.decimal == '.' {
        "--thousands ,"
    } else {
        "--thousands ."
    }
}

/// Decides how the column's cells (`(line, text)`) are read under the flags
/// `(--decimal-comma, --thousands)`; `what` names the column in messages.
/// When two readings read the column differently, the other columns' cells
/// `others` (`(name, text)`, the first rows) decide if one of them is read
/// by one reading only (a file has one locale: `0.418` beside `4.216`);
/// otherwise the column is refused with both readings. In a `,`-separated file
/// whose column has no `,` at all, the decimal-comma reading is not a
/// candidate (a locale that groups with `.` writes `,` decimals and so
/// separates fields with `;`).
pub fn decide(
    cells: &[(u64, &str)],
    (decimal_comma, thousands): (bool, Thousands),
    delimiter: char,
    what: &str,
    others: &[(String, String)],
) -> Result<ColumnReading> {
    let mut all = candidates(decimal_comma, thousands);
    if delimiter == ','
        && !decimal_comma
        && thousands == Thousands::Auto
        && !cells.iter().any(|(_, t)| t.contains(','))
    {
        all.retain(|r| r.decimal == '.');
    }
    let read: Vec<&(u64, &str)> = cells
        .iter()
        .filter(|(_, t)| all.iter().any(|r| r.value(t).is_some()))
        .collect();
    let fits: Vec<Reading> = all
        .iter()
        .copied()
        .filter(|r| read.iter().all(|(_, t)| r.value(t).is_some()))
        .collect();
    let mut notes = Vec::new();
    if let [a, b] = fits[..] {
        if let Some((line, text)) = read.iter().find(|(_, t)| a.value(t) != b.value(t)) {
            match file_evidence(a, b, others) {
                Some((r, note)) => {
                    notes.push(note);
                    return Ok(finish(r, &all, decimal_comma, thousands, &read, notes));
                }
                None => bail!(
                    "{what}: {text:?} (line {line}) reads as {} with {} ({a}) or as {} with {} \
                     ({b}), and no cell of the file decides: add the flag of the reading you mean",
                    a.value(text).unwrap_or(f64::NAN),
                    flag_for(&a),
                    b.value(text).unwrap_or(f64::NAN),
                    flag_for(&b),
                ),
            }
        }
    }
    let plain = Reading {
        decimal: '.',
        group: None,
    };
    let reading = fits.first().or(all.first()).copied().unwrap_or(plain);
    Ok(finish(
        reading,
        &all,
        decimal_comma,
        thousands,
        &read,
        notes,
    ))
}

/// The one of readings `a` and `b` that the other columns' cells (`(column
/// name, text)`) choose: some cell only it reads, and none only the other
/// reads; with the note naming such a cell.
fn file_evidence(a: Reading, b: Reading, others: &[(String, String)]) -> Option<(Reading, String)> {
    let only = |r: Reading, o: Reading| {
        others
            .iter()
            .find(|(_, t)| r.value(t).is_some() && o.value(t).is_none())
    };
    let (r, (name, text)) = match (only(a, b), only(b, a)) {
        (Some(cell), None) => (a, cell),
        (None, Some(cell)) => (b, cell),
        _ => return None,
    };
    let note = format!(
        "numbers read with {r}, as column {name:?} shows ({text:?}): the column alone could be \
         read either way ({} for the other)",
        flag_for(if r == a { &b } else { &a })
    );
    Some((r, note))
}

/// The [`ColumnReading`] of `reading` with the notes on separators and signs.
fn finish(
    reading: Reading,
    all: &[Reading],
    decimal_comma: bool,
    thousands: Thousands,
    read: &[&(u64, &str)],
    mut notes: Vec<String>,
) -> ColumnReading {
    let mut others = candidates(!decimal_comma, Thousands::None);
    others.extend(all.iter().copied().filter(|r| *r != reading));
    let grouped = read.iter().any(|(_, t)| reading.groups(t));
    if let Some(g) = reading.group.filter(|_| grouped) {
        let how = if thousands == Thousands::Auto {
            "detected"
        } else {
            "--thousands"
        };
        let sep = if read.iter().any(|(_, t)| t.contains(SPACES)) {
            "a space".to_string()
        } else {
            format!("`{g}`")
        };
        notes.push(format!(
            "numbers with {sep} between thousands and `{}` decimal point ({how})",
            reading.decimal
        ));
    } else if reading.decimal == ',' && !decimal_comma && read.iter().any(|(_, t)| t.contains(','))
    {
        notes.push("numbers with a decimal comma (detected: no cell reads otherwise)".to_string());
    }
    if read.iter().any(|(_, t)| t.trim_end().ends_with('%')) {
        notes.push("percent signs dropped: values in percent".to_string());
    }
    if let Some(c) = read
        .iter()
        .find_map(|(_, t)| t.chars().find(|c| CURRENCY.contains(c)))
    {
        notes.push(format!("currency sign {c} dropped"));
    }
    ColumnReading {
        reading,
        others,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: Reading = Reading {
        decimal: '.',
        group: Some(','),
    };
    const COMMA: Reading = Reading {
        decimal: ',',
        group: Some('.'),
    };

    #[test]
    fn grouped_numbers() {
        assert_eq!(DOT.value("1,234.5"), Some(1234.5));
        assert_eq!(DOT.value("-1,234,567"), Some(-1_234_567.0));
        assert_eq!(COMMA.value("1.234,5"), Some(1234.5));
        assert_eq!(COMMA.value("1 234,5"), Some(1234.5));
        assert_eq!(COMMA.value("1\u{a0}234,5 €"), Some(1234.5));
        assert_eq!(DOT.value("$1,234.50"), Some(1234.5));
        assert_eq!(DOT.value("12.5%"), Some(12.5));
        assert_eq!(DOT.value("1e-3"), Some(0.001));
        assert_eq!(DOT.value("12,5"), None);
        assert_eq!(DOT.value("1,2345"), None);
        assert_eq!(DOT.value("0,123"), None);
        assert_eq!(DOT.value("1,234 567"), None);
        assert_eq!(DOT.value("inf"), None);
        assert_eq!(DOT.value("-"), None);
    }

    #[test]
    fn columns_decide_or_refuse() {
        let d = |cells: &[&str]| {
            let cells: Vec<(u64, &str)> = cells
                .iter()
                .enumerate()
                .map(|(i, t)| (i as u64 + 2, *t))
                .collect();
            decide(&cells, (false, Thousands::Auto), ';', "c", &[])
        };
        assert_eq!(d(&["1.5", "2"]).unwrap().reading, DOT);
        assert_eq!(d(&["1,234.5", "1,092"]).unwrap().reading, DOT);
        assert_eq!(d(&["1.234,5", "1.092"]).unwrap().reading, COMMA);
        assert_eq!(d(&["12,5", "3"]).unwrap().reading, COMMA);
        let err = d(&["1.092", "2.345", "17"]).unwrap_err().to_string();
        assert!(err.contains("reads as 1.092 with --thousands ,"), "{err}");
        assert!(err.contains("or as 1092 with --thousands ."), "{err}");
        // Another column of the file decides.
        let cells = [(2, "4.216"), (3, "5.360")];
        let others = [("Reactive".to_string(), "0.418".to_string())];
        let r = decide(&cells, (false, Thousands::Auto), ';', "c", &others).unwrap();
        assert_eq!(r.reading, DOT);
        assert!(
            r.notes[0].contains("as column \"Reactive\" shows (\"0.418\")"),
            "{:?}",
            r.notes
        );
        let cells = [(2, "1.092")];
        let r = decide(&cells, (false, Thousands::Sep('.')), ';', "c", &[]).unwrap();
        assert_eq!(r.reading.value("1.092"), Some(1092.0));
        // A `,`-separated file without commas in the column: decimal points.
        let r = decide(&cells, (false, Thousands::Auto), ',', "c", &[]).unwrap();
        assert_eq!(r.reading.value("1.092"), Some(1.092));
        let r = decide(&cells, (false, Thousands::Sep('.')), ',', "c", &[]).unwrap();
        assert_eq!(r.reading.value("1.092"), Some(1092.0));
        assert_eq!(parse_thousands("space").unwrap(), Thousands::Sep(' '));
        assert!(parse_thousands(";").is_err());
    }
}
