//! Reading one column of a CSV file as text cells, with the line each came from.
//!
//! Parsing is the `csv` crate's (RFC 4180: `"` quotes a field, `""` inside
//! quotes is a quote, delimiters and line breaks inside quotes belong to the
//! field). Around it this module does what files in the wild need:
//!
//! - gzip data (found by its magic bytes `1f 8b`, whatever the file's name) is
//!   decompressed, at most [`MAX_CSV_BYTES`];
//! - a UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped, other
//!   encodings are decoded ([`super::encoding`]), and a workbook's sheet is
//!   read as CSV text ([`super::workbook`]);
//! - LF, CRLF and bare-CR line endings all end a line; line numbers are the
//!   file's physical lines, 1-based, also when a quoted field spans lines (a
//!   record is numbered by its first line); blank lines are skipped;
//! - the delimiter is one of `,` `;` tab `|`, detected (see [`detect_delimiter`])
//!   unless [`CsvFormat::delimiter`] forces one;
//! - [`CsvFormat::skip_rows`] physical lines before the header are skipped; a
//!   column found on a later line than the header is reported with the
//!   `--skip-rows` that would read it;
//! - the column is found by name (exactly, then ignoring ASCII case) or by a
//!   1-based index, and every row must have as many fields as the header.
//!
//! What a cell means (a number, a missing-value marker) is decided by the
//! caller: [`crate::data::series`] for time series.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

/// Largest file accepted, and largest size gzip data may decompress to (1 GiB).
pub const MAX_CSV_BYTES: u64 = 1 << 30;

/// The delimiters [`detect_delimiter`] chooses from, in order of preference.
pub const DELIMITER_CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Records (after skipped and blank lines, header included) that detection looks at.
const SNIFF_RECORDS: usize = 20;

/// Records after the header searched for a requested column the header lacks.
const HEADER_SEARCH_RECORDS: usize = 1000;

/// How a CSV series file is read (`--delimiter`, `--decimal-comma`, `--skip-rows`, `--no-header`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct CsvFormat {
    /// Field delimiter of the CSV: one character, or `tab` (default: detected
    /// among `,` `;` tab `|` from the header and the first rows). Any ASCII
    /// character but `"`, CR and LF may be forced.
    #[arg(long, value_name = "C", value_parser = parse_delimiter)]
    pub delimiter: Option<char>,
    /// Numbers are written with a decimal comma (`12,5` is 12.5). Detection
    /// then never picks `,`; a forced `,` still works for files whose
    /// decimal-comma cells are quoted.
    #[arg(long)]
    pub decimal_comma: bool,
    /// Skip N lines before the header (text that agencies put above the table),
    /// blank lines included.
    #[arg(long, value_name = "N")]
    pub skip_rows: usize,
    /// The first line is data, not a header; --column is then a 1-based index.
    #[arg(long)]
    pub no_header: bool,
    /// Text encoding of the file (`windows-1252`, `latin1`, `utf-16le`,
    /// `utf-8`…; default: UTF-8, UTF-16 by its byte-order mark, else
    /// Windows-1252, as [`super::encoding`] describes).
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Thousands separator in numbers: `,` `.` `'` `_` `space`, or `none`
    /// (default: read from the column when unambiguous, else refused; see
    /// [`crate::data::numbers`]).
    #[arg(long, value_name = "C", default_value = "auto",
          value_parser = crate::data::numbers::parse_thousands, hide_default_value = true)]
    pub thousands: crate::data::numbers::Thousands,
    /// The time axis: `--time-column`, `--date-order`, `--sort-time`, `--duplicates`.
    #[command(flatten)]
    pub time: crate::data::time::TimeOptions,
    /// The sheet of an `.xlsx`, `.xls` or `.ods` workbook to read (default: the first).
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

/// The delimiter a file was read with, and whether it was detected or forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelimiterUsed {
    /// The delimiter.
    pub delimiter: char,
    /// True when [`detect_delimiter`] chose it, false when `--delimiter` forced it.
    pub detected: bool,
}

impl fmt::Display for DelimiterUsed {
    /// `` `;` (detected) ``, `tab (--delimiter)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.detected {
            "detected"
        } else {
            "--delimiter"
        };
        write!(f, "{} ({how})", show_delimiter(self.delimiter))
    }
}

/// One cell of the requested column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Physical line (1-based) where the cell's record starts.
    pub line: u64,
    /// The cell's text, quotes removed, surrounding whitespace trimmed.
    pub text: String,
}

/// The requested column of a CSV file, one cell per data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The header's name for the column, or `column N` without a header.
    pub name: String,
    /// How messages name the column: `"Passengers"` (quoted) or `2` (an index).
    pub label: String,
    /// 1-based index of the column among the fields.
    pub number: usize,
    /// Physical line of the header; `None` with [`CsvFormat::no_header`].
    pub header_line: Option<u64>,
    /// The delimiter used.
    pub delimiter: DelimiterUsed,
    /// The data rows' cells, in file order (blank lines skipped).
    pub cells: Vec<Cell>,
    /// What the reader decided (an encoding, a first line read as data), one line each.
    pub notes: Vec<String>,
}

/// Parses a `--delimiter` value: one character, or `\t` / `tab` for a tab.
/// Errors say what is accepted.
pub(crate) fn parse_delimiter(text: &str) -> Result<char> {
    if text == "\\t" || text.eq_ignore_ascii_case("tab") {
        return Ok('\t');
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => delimiter_byte(c).map(char::from),
        _ => bail!("--delimiter takes one character (`,` `;` `|` …) or `tab`, got {text:?}"),
    }
}

/// Reads a whole file (at most [`MAX_CSV_BYTES`]); errors name the file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let what = || format!("cannot read series file {}", path.display());
    let file = File::open(path).with_context(what)?;
    let mut bytes = Vec::new();
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(what)?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        bail!(
            "{} is larger than {} bytes (1 GiB), the limit for a series file",
            path.display(),
            MAX_CSV_BYTES
        );
    }
    Ok(bytes)
}

/// Decompresses gzip data (any number of members), refusing more than `limit`
/// bytes of output; `source` names the data in errors.
pub(crate) fn gunzip(bytes: &[u8], source: &str, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .with_context(|| {
            format!("{source} starts like gzip data (1f 8b) but does not decompress: truncated or corrupt file?")
        })?;
    if out.len() as u64 > limit {
        bail!(
            "{source} is gzip data that decompresses to more than {limit} bytes, the limit for a \
             series file; refusing to read it"
        );
    }
    Ok(out)
}

/// The text a CSV parser should see: `bytes` gunzipped when they start with
/// the gzip magic bytes, turned into UTF-8 without a byte-order mark
/// ([`super::encoding::to_utf8`], no `--encoding`), every CRLF and bare CR
/// turned into LF (so that counting LFs counts physical lines).
pub fn decode<'a>(bytes: &'a [u8], source: &str) -> Result<Cow<'a, [u8]>> {
    Ok(decode_with(bytes, source, None)?.0)
}

/// [`decode`] with `--encoding`'s label, also returning what was decided
/// about the encoding (one line) when the text was not plain UTF-8.
pub(crate) fn decode_with<'a>(
    bytes: &'a [u8],
    source: &str,
    encoding: Option<&str>,
) -> Result<super::encoding::Decoded<'a>> {
    let mut data = Cow::Borrowed(bytes);
    if bytes.starts_with(&super::idx::GZIP_MAGIC) {
        data = Cow::Owned(gunzip(bytes, source, MAX_CSV_BYTES)?);
    }
    let (mut data, note) = super::encoding::to_utf8(data, source, encoding)?;
    if data.contains(&b'\r') {
        data = Cow::Owned(unify_line_ends(&data));
    }
    Ok((data, note))
}

/// Turns CRLF and bare CR into LF.
fn unify_line_ends(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' {
            if bytes.peek() == Some(&&b'\n') {
                bytes.next();
            }
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}

/// Chooses the delimiter of `body` (text after the skipped lines, line ends
/// unified) among [`DELIMITER_CANDIDATES`] (without `,` when `decimal_comma`):
/// each candidate parses the first 20 non-blank records (header included,
/// quotes respected); the field count most of them share is its count, and
/// the candidate whose count is above 1 and shared by the most records wins
/// (ties: the larger count, then the order `,` `;` tab `|`). When no candidate
/// splits anything (a one-column file) the first allowed candidate is used.
pub fn detect_delimiter(body: &[u8], decimal_comma: bool) -> u8 {
    let allowed = DELIMITER_CANDIDATES
        .iter()
        .copied()
        .filter(|&d| !(decimal_comma && d == b','));
    let mut best: Option<(usize, usize, u8)> = None;
    for delimiter in allowed.clone() {
        let counts: Vec<usize> = records(body, delimiter, 0)
            .take(SNIFF_RECORDS)
            .map_while(|r| r.ok())
            .map(|(_, rec)| rec.len())
            .collect();
        let Some((count, shared)) = modal_count(&counts) else {
            continue;
        };
        let better = best.is_none_or(|(s, c, _)| (shared, count) > (s, c));
        if count > 1 && better {
            best = Some((shared, count, delimiter));
        }
    }
    match best {
        Some((_, _, d)) => d,
        None => allowed.clone().next().unwrap_or(b';'),
    }
}

/// The most frequent value of `counts` (ties: the larger) and how often it occurs.
fn modal_count(counts: &[usize]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for &c in counts {
        let shared = counts.iter().filter(|&&x| x == c).count();
        if best.is_none_or(|(bc, bs)| (shared, c) > (bs, bc)) {
            best = Some((c, shared));
        }
    }
    best
}

/// A CSV text ready to be read: decoded, lines before the header skipped,
/// the delimiter chosen.
pub(crate) struct Sheet<'a> {
    data: Cow<'a, [u8]>,
    /// Byte offset of the text after the skipped lines.
    start: usize,
    /// Lines skipped before `start`.
    base: u64,
    source: &'a str,
    format: &'a CsvFormat,
    /// The delimiter used.
    pub delimiter: DelimiterUsed,
    /// What was decided while decoding (an encoding), one line each.
    pub notes: Vec<String>,
    /// True when the bytes were a workbook's sheet, not CSV text.
    pub workbook: bool,
}

/// The header of a sheet, or its absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Physical line of the header; `None` without one.
    pub line: Option<u64>,
    /// The column names (`column N` without a header).
    pub names: Vec<String>,
}

impl<'a> Sheet<'a> {
    /// Decodes `bytes` (see [`decode`]), skips [`CsvFormat::skip_rows`] lines
    /// and chooses the delimiter; `source` names the data in errors.
    pub fn open(bytes: &'a [u8], source: &'a str, format: &'a CsvFormat) -> Result<Self> {
        let workbook = super::workbook::is_workbook(bytes);
        let (data, note) = if workbook {
            let (text, note) =
                super::workbook::sheet_as_csv(bytes, source, format.sheet.as_deref())?;
            (Cow::Owned(text), Some(note))
        } else {
            decode_with(bytes, source, format.encoding.as_deref())?
        };
        let (body, base) = skip_lines(&data, format.skip_rows, source)?;
        let start = data.len() - body.len();
        let delimiter = match format.delimiter {
            // A sheet is written with `,` between fields.
            _ if workbook => DelimiterUsed {
                delimiter: ',',
                detected: true,
            },
            Some(c) => DelimiterUsed {
                delimiter: char::from(delimiter_byte(c)?),
                detected: false,
            },
            None => DelimiterUsed {
                delimiter: char::from(detect_delimiter(body, format.decimal_comma)),
                detected: true,
            },
        };
        Ok(Self {
            data,
            start,
            base,
            source,
            format,
            delimiter,
            notes: note.into_iter().collect(),
            workbook,
        })
    }

    fn body(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn rows(&self) -> impl Iterator<Item = ::csv::Result<(u64, ::csv::ByteRecord)>> + '_ {
        records(self.body(), self.delimiter.delimiter as u8, self.base)
    }

    fn ctx<'s>(&'s self, column: &'s str) -> Ctx<'s> {
        Ctx {
            source: self.source,
            column,
            delimiter: self.delimiter,
            decimal_comma: self.format.decimal_comma,
        }
    }

    /// True when the first record is the header: not with `--no-header`,
    /// nor in a one-column file whose first line is a number.
    fn has_header(&self, first: &::csv::ByteRecord) -> bool {
        !self.format.no_header && !numeric_single(first)
    }

    /// The header's names and line (numbered names without a header).
    pub fn header(&self) -> Result<Header> {
        let first = self
            .rows()
            .next()
            .transpose()
            .with_context(|| self.ctx("").broken())?;
        let Some((line, rec)) = first else {
            return Ok(Header {
                line: None,
                names: Vec::new(),
            });
        };
        if !self.has_header(&rec) {
            let names = (1..=rec.len()).map(|n| format!("column {n}")).collect();
            return Ok(Header { line: None, names });
        }
        Ok(Header {
            line: Some(line),
            names: rec
                .iter()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .collect(),
        })
    }

    /// The first `n` data rows, each field as (lossy) trimmed text.
    pub fn sample(&self, n: usize) -> Vec<Vec<String>> {
        let mut rows = self.rows().map_while(|r| r.ok()).peekable();
        if rows.peek().is_some_and(|(_, rec)| self.has_header(rec)) {
            rows.next();
        }
        rows.take(n)
            .map(|(_, rec)| {
                rec.iter()
                    .map(|b| String::from_utf8_lossy(b).trim().to_string())
                    .collect()
            })
            .collect()
    }

    /// Reads the columns `specs` (names or 1-based indices, see
    /// [`read_column`]) in one pass; every row is checked against the header.
    pub fn columns(&self, specs: &[&str]) -> Result<Vec<Column>> {
        let ctx = self.ctx(specs.first().copied().unwrap_or(""));
        let mut rows = self.rows();
        let Some(first) = rows.next().transpose().with_context(|| ctx.broken())? else {
            bail!("{}", ctx.empty(self.format));
        };
        let header = self.has_header(&first.1);
        let mut cols = Vec::with_capacity(specs.len());
        for &spec in specs {
            let c = self.ctx(spec);
            cols.push(match header {
                true => c.in_header(&first, self.body(), self.base)?,
                false if self.format.no_header => c.by_index(&first.1, first.0)?,
                false => c.numeric_first_line(&first.1, first.0)?,
            });
        }
        let trailing =
            header && first.1.len() > 1 && first.1[first.1.len() - 1].trim_ascii().is_empty();
        let expected = (first.0, first.1.len(), trailing);
        let first_row = (!header).then_some(first);
        for row in first_row.into_iter().map(Ok).chain(rows) {
            let (line, rec) = row.with_context(|| ctx.broken())?;
            ctx.check_width(&rec, line, expected, !header)?;
            for col in &mut cols {
                let cell = self.ctx(specs[0]).cell(&rec, line, col)?;
                col.cells.push(cell);
            }
        }
        for col in &mut cols {
            col.notes.extend(self.notes.iter().cloned());
        }
        Ok(cols)
    }
}

/// A one-field record that reads as a number: the first line of a headerless
/// one-column file.
fn numeric_single(rec: &::csv::ByteRecord) -> bool {
    rec.len() == 1
        && std::str::from_utf8(&rec[0])
            .ok()
            .map(|t| t.trim().replace(',', "."))
            .is_some_and(|t| !t.is_empty() && t.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Reads the column `column` of the CSV data `bytes` (as read from a file;
/// see the module documentation for what is accepted); `source` names the
/// data in errors.
///
/// `column` is a header name (matched exactly, then ignoring ASCII case) or a
/// 1-based index; a header field literally named like the index (`"2"`) wins
/// over the index. With [`CsvFormat::no_header`] it must be an index.
///
/// Errors name `source`, the line and the column, and the likely fix: a
/// header that is one field holding another delimiter (`--delimiter`), a
/// column first found on a later line (`--skip-rows`), a row with another
/// number of fields than the header, a cell that is not UTF-8.
pub fn read_column(bytes: &[u8], source: &str, column: &str, format: &CsvFormat) -> Result<Column> {
    let sheet = Sheet::open(bytes, source, format)?;
    let mut cols = sheet.columns(&[column])?;
    cols.pop().context("one column requested")
}

/// Skips `n` physical lines of `data`; returns the rest and `n`.
fn skip_lines<'a>(data: &'a [u8], n: usize, source: &str) -> Result<(&'a [u8], u64)> {
    let mut start = 0;
    for skipped in 0..n {
        match data[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => bail!(
                "{source} has {} lines, and --skip-rows {n} skips them all",
                skipped + usize::from(start < data.len())
            ),
        }
    }
    Ok((&data[start..], n as u64))
}

/// The non-blank records of `body` (text from [`decode`]) with their
/// physical line numbers (`base` lines were skipped before `body`).
pub fn records(
    body: &[u8],
    delimiter: u8,
    base: u64,
) -> impl Iterator<Item = ::csv::Result<(u64, ::csv::ByteRecord)>> + '_ {
    ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body)
        .into_byte_records()
        .filter_map(move |r| match r {
            Ok(rec) if is_blank(&rec) => None,
            Ok(rec) => Some(Ok((base + record_line(body, &rec), rec))),
            Err(e) => Some(Err(e)),
        })
}

/// A record that is a blank line (nothing but whitespace, no delimiter).
fn is_blank(rec: &::csv::ByteRecord) -> bool {
    rec.is_empty() || (rec.len() == 1 && rec[0].trim_ascii().is_empty())
}

/// The physical line (1-based, within the parsed text) where `rec` starts:
/// the reader's position is where the previous record ended, so the empty
/// lines it skipped since are counted on top.
fn record_line(body: &[u8], rec: &::csv::ByteRecord) -> u64 {
    let (byte, line) = rec.position().map_or((0, 1), |p| (p.byte(), p.line()));
    let start = usize::try_from(byte).map_or(body.len(), |b| b.min(body.len()));
    let empty = body[start..].iter().take_while(|&&b| b == b'\n').count();
    line + empty as u64
}

/// A forced delimiter as a byte, or why it cannot be one.
fn delimiter_byte(c: char) -> Result<u8> {
    match u8::try_from(c) {
        Ok(b) if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(b),
        _ => bail!(
            "--delimiter {c:?} cannot separate fields: use one ASCII character other than a \
             quote or a line break (`,` `;` `|` or a tab)"
        ),
    }
}

/// How messages show a delimiter: `` `;` `` or `tab`.
fn show_delimiter(c: char) -> String {
    match c {
        '\t' => "tab".to_string(),
        c => format!("`{c}`"),
    }
}

/// How to force a delimiter on the command line.
fn delimiter_flag(c: char) -> String {
    match c {
        '\t' => "--delimiter tab".to_string(),
        c => format!("--delimiter '{c}'"),
    }
}

/// A field as trimmed text; invalid UTF-8 gives `None`.
fn field(rec: &::csv::ByteRecord, i: usize) -> Option<Option<&str>> {
    rec.get(i)
        .map(|b| std::str::from_utf8(b).ok().map(str::trim))
}

/// The 1-based index `column` names, if it is a number.
fn index_in(column: &str) -> Option<usize> {
    column.trim().parse::<usize>().ok()
}

/// What every message of one read needs.
struct Ctx<'a> {
    source: &'a str,
    column: &'a str,
    delimiter: DelimiterUsed,
    decimal_comma: bool,
}

impl Ctx<'_> {
    fn broken(&self) -> String {
        format!("cannot parse {} as CSV", self.source)
    }

    fn empty(&self, format: &CsvFormat) -> String {
        let what = if format.no_header {
            "a data row"
        } else {
            "a header line naming the columns"
        };
        if format.skip_rows > 0 {
            format!(
                "{} has nothing after the {} lines skipped by --skip-rows: {what} is required",
                self.source, format.skip_rows
            )
        } else {
            format!("{} is empty: {what} is required", self.source)
        }
    }

    /// The column `self.column`, which must be a 1-based index, of the first
    /// data row `rec` (no header).
    fn by_index(&self, rec: &::csv::ByteRecord, line: u64) -> Result<Column> {
        let Some(number) = index_in(self.column) else {
            bail!(
                "{}: with --no-header the column must be a 1-based index (1, 2, …), got {:?}",
                self.source,
                self.column
            );
        };
        if number == 0 || number > rec.len() {
            bail!(
                "{}: there is no column {number}: line {line} has {} fields, numbered from 1",
                self.source,
                rec.len()
            );
        }
        Ok(self.column_at(number, None))
    }

    /// The column `self.column` of a one-column file whose first line `rec`
    /// is a number: read as data (said in the column's notes).
    fn numeric_first_line(&self, rec: &::csv::ByteRecord, line: u64) -> Result<Column> {
        let text = String::from_utf8_lossy(&rec[0]).trim().to_string();
        if index_in(self.column) != Some(1) {
            bail!(
                "{} has one column, and its first line {text:?} is a number, not a header \
                 naming {:?}: use --column 1",
                self.source,
                self.column
            );
        }
        let mut col = self.column_at(1, None);
        col.notes.push(format!(
            "line {line} ({text:?}) is a number: read as data, not as a header"
        ));
        Ok(col)
    }

    /// Column `number` (1-based), named `name` by the header on `header_line`.
    fn column_at(&self, number: usize, header: Option<(&str, u64)>) -> Column {
        let (name, label) = match header {
            Some((h, _)) => (h.to_string(), format!("{h:?}")),
            None => (format!("column {number}"), number.to_string()),
        };
        Column {
            name,
            label,
            number,
            header_line: header.map(|(_, line)| line),
            delimiter: self.delimiter,
            cells: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Finds the column in the header record `first`; `body` is searched for
    /// a later line that holds it when the header does not.
    fn in_header(
        &self,
        first: &(u64, ::csv::ByteRecord),
        body: &[u8],
        base: u64,
    ) -> Result<Column> {
        let (line, rec) = first;
        let names: Vec<String> = rec
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .collect();
        let by_name = names.iter().position(|n| n == self.column).or_else(|| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(self.column))
        });
        let number = by_name
            .map(|i| i + 1)
            .or_else(|| index_in(self.column).filter(|&n| n >= 1 && n <= names.len()));
        match number {
            Some(n) => Ok(self.column_at(n, Some((&names[n - 1], *line)))),
            None => Err(self.not_in_header(&names, rec, *line, body, base)),
        }
    }

    /// The error for a column the header lacks, with the likeliest cause.
    fn not_in_header(
        &self,
        names: &[String],
        rec: &::csv::ByteRecord,
        line: u64,
        body: &[u8],
        base: u64,
    ) -> anyhow::Error {
        let (source, column) = (self.source, self.column);
        if let Some(later) = self.later_header_line(body, base, line) {
            return anyhow::anyhow!(
                "{source} has no column {column:?} in its header (line {line}), but line {later} \
                 names it: is the text above line {later} a preamble? try --skip-rows {}",
                later - 1
            );
        }
        let listed = names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut msg =
            format!("{source} has no column {column:?}; its header (line {line}) names {listed}");
        let other = DELIMITER_CANDIDATES
            .iter()
            .map(|&d| char::from(d))
            .find(|&d| d != self.delimiter.delimiter && names.len() == 1 && names[0].contains(d));
        if let Some(d) = other {
            let shown = if d == '\t' {
                "a tab".to_string()
            } else {
                format!("`{d}`")
            };
            let sep = if d == '\t' {
                "tab".to_string()
            } else {
                format!("`{d}`")
            };
            msg += &format!(
                "; the header is one field that contains {shown} — is the file {sep}-separated? \
                 try `{}`",
                delimiter_flag(d)
            );
            if d == ',' && self.decimal_comma {
                msg += " (--decimal-comma keeps detection from choosing `,`: leave it out for a \
                        `,`-separated file with decimal points)";
            }
        } else if let Some(n) = index_in(column) {
            msg += &format!(
                "; column {n} is out of range: the header has {} fields",
                names.len()
            );
        } else {
            msg += &format!(" (a 1-based column index, 1 to {}, works too)", names.len());
        }
        if rec.iter().any(|b| std::str::from_utf8(b).is_err()) {
            msg += &format!(
                "; line {line} is not valid UTF-8: save the file as UTF-8 (Excel: \"CSV UTF-8\")"
            );
        }
        anyhow::anyhow!(msg)
    }

    /// The first line after the header (within the first records) that has a
    /// field named `self.column`.
    fn later_header_line(&self, body: &[u8], base: u64, header_line: u64) -> Option<u64> {
        records(body, self.delimiter.delimiter as u8, base)
            .take(HEADER_SEARCH_RECORDS)
            .map_while(|r| r.ok())
            .filter(|(line, _)| *line > header_line)
            .find(|(_, rec)| {
                rec.iter().any(|b| {
                    String::from_utf8_lossy(b)
                        .trim()
                        .eq_ignore_ascii_case(self.column)
                })
            })
            .map(|(line, _)| line)
    }

    /// Refuses a row with another number of fields than the header (extra
    /// trailing empty fields, as spreadsheets write, are accepted).
    fn check_width(
        &self,
        rec: &::csv::ByteRecord,
        line: u64,
        (first_line, width, trailing): (u64, usize, bool),
        no_header: bool,
    ) -> Result<()> {
        let n = rec.len();
        let padded = n > width && rec.iter().skip(width).all(|b| b.trim_ascii().is_empty());
        // A header ending in one empty field (`Series id,Year,Period,Value,`).
        if n == width || padded || (trailing && n + 1 == width) {
            return Ok(());
        }
        let reference = if no_header {
            "the first row"
        } else {
            "the header"
        };
        let cause = if n < width {
            "a truncated row, or a missing delimiter?".to_string()
        } else if self.delimiter.delimiter == ',' {
            "a `,` inside a cell that is not quoted? quote the cell (\"12,5\"), or for decimal \
             commas use `;` between fields and --decimal-comma"
                .to_string()
        } else {
            format!(
                "a {} inside a cell that is not quoted? quote the cell",
                show_delimiter(self.delimiter.delimiter)
            )
        };
        bail!(
            "{} line {line}: {n} fields, but {reference} (line {first_line}) has {width}, \
             with delimiter {}: {cause}",
            self.source,
            self.delimiter
        )
    }

    /// The column's cell of `rec`.
    fn cell(&self, rec: &::csv::ByteRecord, line: u64, col: &Column) -> Result<Cell> {
        match field(rec, col.number - 1) {
            Some(Some(text)) => Ok(Cell {
                line,
                text: text.to_string(),
            }),
            Some(None) => bail!(
                "{} line {line}: column {} is not valid UTF-8: save the file as UTF-8 \
                 (Excel: \"CSV UTF-8\")",
                self.source,
                col.label
            ),
            None => bail!(
                "{} line {line}: no field for column {}",
                self.source,
                col.label
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, column: &str, format: &CsvFormat) -> Result<Column> {
        read_column(text.as_bytes(), "f.csv", column, format)
    }

    fn texts(col: &Column) -> Vec<(u64, &str)> {
        col.cells
            .iter()
            .map(|c| (c.line, c.text.as_str()))
            .collect()
    }

    #[test]
    fn quotes_follow_rfc_4180() {
        let col = read(
            "\"YEAR\",\"SUN\"\"S\",3\n1,\" 2 \",x\n",
            "SUN\"S",
            &CsvFormat::default(),
        )
        .unwrap();
        assert_eq!((col.number, col.name.as_str()), (2, "SUN\"S"));
        assert_eq!(texts(&col), vec![(2, "2")]);
        let col = read("a,b\n\"1,5\",2\n", "a", &CsvFormat::default()).unwrap();
        assert_eq!(texts(&col), vec![(2, "1,5")]);
    }

    #[test]
    fn line_numbers_are_physical_lines() {
        let text = "a,b\r\n\r\n\"x\ny\",1\r\r2,\"3\n\n\"\n\n \n4,5";
        let col = read(text, "b", &CsvFormat::default()).unwrap();
        assert_eq!(texts(&col), vec![(3, "1"), (6, "3"), (11, "5")]);
    }

    #[test]
    fn detection_picks_the_consistent_delimiter() {
        assert_eq!(detect_delimiter(b"a;b\n1,5;2\n3,5;4\n", false), b';');
        assert_eq!(detect_delimiter(b"a,b\n1.5,2\n", false), b',');
        assert_eq!(detect_delimiter(b"a\tb|c\n1\t2|3\n", false), b'\t');
        assert_eq!(detect_delimiter(b"value\n1\n2\n", false), b',');
        assert_eq!(detect_delimiter(b"value\n1,5\n2\n", true), b';');
        assert_eq!(detect_delimiter(b"a|b|c\n1|2|3\n", false), b'|');
    }

    #[test]
    fn gzip_is_bounded() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&[b'1'; 100]).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(gunzip(&z, "z", 100).unwrap().len(), 100);
        let err = gunzip(&z, "z", 99).unwrap_err().to_string();
        assert!(err.contains("decompresses to more than 99 bytes"), "{err}");
        let err = format!("{:#}", gunzip(&z[..10], "z", 100).unwrap_err());
        assert!(err.contains("does not decompress"), "{err}");
    }

    #[test]
    fn delimiters_parse_from_flags() {
        assert_eq!(parse_delimiter("tab").unwrap(), '\t');
        assert_eq!(parse_delimiter("\\t").unwrap(), '\t');
        assert_eq!(parse_delimiter(";").unwrap(), ';');
        assert!(parse_delimiter(";;").is_err());
        assert!(parse_delimiter("\"").is_err());
        assert!(parse_delimiter("é").is_err());
        assert_eq!(
            DelimiterUsed {
                delimiter: ';',
                detected: true
            }
            .to_string(),
            "`;` (detected)"
        );
    }

    #[test]
    fn skip_rows_past_the_end_is_an_error() {
        let f = CsvFormat {
            skip_rows: 5,
            ..CsvFormat::default()
        };
        let err = read("a\n1\n", "a", &f).unwrap_err().to_string();
        assert!(
            err.contains("has 2 lines, and --skip-rows 5 skips them all"),
            "{err}"
        );
        let f = CsvFormat {
            skip_rows: 2,
            ..CsvFormat::default()
        };
        let err = read("a\n1\n", "a", &f).unwrap_err().to_string();
        assert!(err.contains("nothing after the 2 lines skipped"), "{err}");
    }
}
