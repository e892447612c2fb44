//! Series files as users have them (issue 21): the time axis (newest first,
//! a totals row, duplicated and disordered times, day/month order, gaps,
//! quarters, timestamps), numbers with thousands separators, percent and
//! currency signs, a header with one empty trailing field, a headerless
//! one-column file, UTF-16 and Windows-1252 text, and workbooks named.
//! Every input is written by the test; every flag is passed as the command
//! line passes it (`cli::try_parse_from` on the `SeriesSource` flags) and its
//! effect checked.

use crate::common;

use std::path::{Path, PathBuf};

use tchport::cli::{self, FromFlags};
use tchport::data::series::Series;
use tchport::data::source::SeriesSource;

/// A configuration of the series-source flags alone.
#[derive(clap::Args, serde::Serialize, Default, Debug)]
struct SourceOnly {
    #[command(flatten)]
    #[serde(flatten)]
    source: SeriesSource,
}

impl FromFlags for SourceOnly {}

/// An example without flags of its own.
#[derive(clap::Parser, Debug)]
struct NoFlags {}

/// Writes `bytes` as `name` in a fresh scratch folder for `test`.
fn write(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let path = common::scratch(test).join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// Loads `path` with the command-line flags `args` (`--csv` is added).
fn load(path: &Path, args: &[&str]) -> anyhow::Result<Series> {
    let csv = path.display().to_string();
    let mut all = vec!["test", "--csv", csv.as_str()];
    all.extend_from_slice(args);
    let parsed = cli::try_parse_from::<NoFlags, SourceOnly, _, _>(all)?;
    parsed.config.source.load()
}

fn ok(path: &Path, args: &[&str]) -> Series {
    load(path, args).unwrap_or_else(|e| panic!("{e:#}"))
}

fn err(path: &Path, args: &[&str]) -> String {
    match load(path, args) {
        Ok(s) => panic!("{} must fail, read {:?}", path.display(), s.values),
        Err(e) => format!("{e:#}"),
    }
}

/// 40 daily values from 2021-12-25 (across a year end), not symmetric.
fn daily() -> Vec<(String, f64)> {
    (0..40)
        .map(|i| {
            let day = tchport::data::time::days_from_civil(2021, 12, 25) + i;
            let (y, m, d) = tchport::data::time::civil_from_days(day);
            (
                format!("{y}-{m:02}-{d:02}"),
                10.0 + (i * i % 17) as f64 * 0.5,
            )
        })
        .collect()
}

fn csv(rows: &[(String, f64)]) -> String {
    let body: String = rows.iter().map(|(t, v)| format!("{t},{v}\n")).collect();
    format!("Date,Close\n{body}")
}

#[test]
fn newest_first_is_put_in_time_order() {
    let rows = daily();
    let path = write("time-order", "asc.csv", csv(&rows).as_bytes());
    let asc = ok(&path, &["--column", "Close"]);
    let want: Vec<f64> = rows.iter().map(|r| r.1).collect();
    assert_eq!(asc.values, want);
    let t = asc.time.as_ref().expect("a time axis");
    assert_eq!(
        t.describe(),
        "time \"Date\" (YYYY-MM-DD), daily, 2021-12-25 to 2022-02-02"
    );
    let rev: Vec<_> = rows.iter().rev().cloned().collect();
    let path = write("newest-first", "desc.csv", csv(&rev).as_bytes());
    let desc = ok(&path, &["--column", "Close"]);
    assert_eq!(desc.values, want);
    assert!(
        desc.time_note()
            .contains("rows are newest first (line 2 (2022-02-02)"),
        "{}",
        desc.time_note()
    );
    assert_eq!(
        desc.time.unwrap().following(2),
        Some(vec!["2022-02-03".into(), "2022-02-04".into()])
    );
    // --time-column none: the rows as the file has them.
    let raw = ok(&path, &["--column", "Close", "--time-column", "none"]);
    assert_eq!(raw.values, rev.iter().map(|r| r.1).collect::<Vec<_>>());
    assert!(raw.time.is_none());
}

#[test]
fn a_totals_row_is_named_by_its_line() {
    let mut text = String::from("Month,Passengers\n");
    for m in 1..=12 {
        text += &format!("2020-{m:02},{}\n", 100 + m);
    }
    text += "Total,1278\n";
    let path = write("totals", "totals.csv", text.as_bytes());
    let e = err(&path, &["--column", "Passengers"]);
    assert!(
        e.contains("line 14: time column \"Month\" holds \"Total\""),
        "{e}"
    );
    assert!(e.contains("a totals or footer row"), "{e}");
}

#[test]
fn duplicated_and_disordered_times() {
    let rows = daily();
    // Two exports pasted together: days 0..30, then days 20..40 again.
    let mut pasted: Vec<_> = rows[..30].to_vec();
    pasted.extend(rows[20..].iter().map(|(t, v)| (t.clone(), v + 1.0)));
    let path = write("pasted", "pasted.csv", csv(&pasted).as_bytes());
    let e = err(&path, &["--column", "Close"]);
    assert!(
        e.contains("not in time order: line 32 (2022-01-14) comes after line 31 (2022-01-23)"),
        "{e}"
    );
    assert!(e.contains("--sort-time"), "{e}");
    let e = err(&path, &["--column", "Close", "--sort-time"]);
    assert!(
        e.contains("lines 22 and 32 have the same time 2022-01-14 (and 9 more repeated times)"),
        "{e}"
    );
    let first = ok(
        &path,
        &["--column", "Close", "--sort-time", "--duplicates", "first"],
    );
    let last = ok(
        &path,
        &["--column", "Close", "--sort-time", "--duplicates", "last"],
    );
    let mean = ok(
        &path,
        &["--column", "Close", "--sort-time", "--duplicates", "mean"],
    );
    // Days 30..40 are only in the second export.
    let only = |i: usize, from: usize| rows[i].1 + if i >= from { 1.0 } else { 0.0 };
    assert_eq!(
        first.values,
        (0..40).map(|i| only(i, 30)).collect::<Vec<_>>()
    );
    assert_eq!(
        last.values,
        (0..40).map(|i| only(i, 20)).collect::<Vec<_>>()
    );
    assert_eq!(mean.values[25], rows[25].1 + 0.5);
    assert_eq!(mean.values.len(), 40);
    assert!(
        first
            .time_note()
            .contains("10 times appear on more than one row"),
        "{}",
        first.time_note()
    );
}

#[test]
fn day_month_order_is_decided_by_a_day_above_12_or_asked_for() {
    let text = "Datum;Wert\n01/02/2020;1\n05/02/2020;2\n13/02/2020;3\n";
    let path = write("dmy", "dmy.csv", text.as_bytes());
    let s = ok(&path, &["--column", "Wert"]);
    assert_eq!(s.values, vec![1.0, 2.0, 3.0]);
    assert!(
        s.time_note()
            .contains("DD/MM/YYYY, day first: \"13/02/2020\" has a day above 12"),
        "{}",
        s.time_note()
    );
    let text = "Date,Value\n01/02/2020,1\n01/03/2020,2\n01/04/2020,3\n";
    let path = write("ambiguous", "ambiguous.csv", text.as_bytes());
    let e = err(&path, &["--column", "Value"]);
    assert!(
        e.contains("add --date-order dmy or --date-order mdy"),
        "{e}"
    );
    let mdy = ok(&path, &["--column", "Value", "--date-order", "mdy"]);
    let t = mdy.time.expect("time");
    assert_eq!(
        (t.first.as_str(), t.last.as_str()),
        ("2020-01-02", "2020-01-04")
    );
    let dmy = ok(&path, &["--column", "Value", "--date-order", "dmy"]);
    let t = dmy.time.expect("time");
    assert_eq!(
        (t.first.as_str(), t.frequency.map(|f| f.to_string())),
        ("2020-02-01", Some("monthly".into()))
    );
    assert_eq!(t.following(1), Some(vec!["2020-05-01".to_string()]));
}

#[test]
fn gaps_quarters_years_and_timestamps() {
    let text = "Month,v\n2020-01,1\n2020-02,2\n2020-05,3\n2020-06,4\n2020-07,5\n";
    let path = write("gaps", "gaps.csv", text.as_bytes());
    let note = ok(&path, &["--column", "v"]).time_note();
    assert!(
        note.contains(
            "1 gap in the monthly times (2 times missing), the first after 2020-02 (line 3)"
        ),
        "{note}"
    );
    let text = "Quarter,GDP\n2019 Q3,1\n2019 Q4,2\n2020 Q1,3\n";
    let s = ok(
        &write("quarters", "q.csv", text.as_bytes()),
        &["--column", "GDP"],
    );
    assert_eq!(
        s.time.unwrap().following(2),
        Some(vec!["2020-Q2".into(), "2020-Q3".into()])
    );
    // A column named otherwise holds years only when --time-column says so.
    let text = "when,v\n2001,1\n2002,2\n2003,3\n";
    let path = write("years", "y.csv", text.as_bytes());
    assert!(ok(&path, &["--column", "v"]).time.is_none());
    let s = ok(&path, &["--column", "v", "--time-column", "when"]);
    assert_eq!(s.time.unwrap().following(1), Some(vec!["2004".to_string()]));
    let s = ok(&path, &["--column", "v", "--time-column", "1"]);
    assert_eq!(s.time.unwrap().following(1), Some(vec!["2004".to_string()]));
    // Month names, newest first.
    let text = "Period,v\nMar 2020,3\nFeb 2020,2\nJan 2020,1\n";
    let s = ok(
        &write("month-names", "m.csv", text.as_bytes()),
        &["--column", "v"],
    );
    assert_eq!(s.values, vec![1.0, 2.0, 3.0]);
    assert_eq!(
        s.time.unwrap().following(1),
        Some(vec!["2020-04".to_string()])
    );
    let text = "Date,v\n30-Jan-2020,1\n31-Jan-2020,2\n01-Feb-2020,3\n";
    let s = ok(
        &write("day-month-names", "d.csv", text.as_bytes()),
        &["--column", "v"],
    );
    assert_eq!(
        s.time.unwrap().following(1),
        Some(vec!["2020-02-02".to_string()])
    );
    let e = err(&path, &["--column", "when", "--time-column", "v"]);
    assert!(
        e.contains("--time-column v: column \"v\" does not hold times"),
        "{e}"
    );
    let text = "ts,load\n2024-03-10T23:00:00Z,1\n2024-03-11T00:00:00Z,2\n2024-03-11T01:00:00Z,3\n";
    let s = ok(
        &write("stamps", "ts.csv", text.as_bytes()),
        &["--column", "load"],
    );
    let t = s.time.unwrap();
    assert_eq!(t.frequency.map(|f| f.to_string()), Some("hourly".into()));
    assert_eq!(t.following(1), Some(vec!["2024-03-11 02:00".to_string()]));
    // The UCI household file: Date;Time joined, day first.
    let text = "Date;Time;Global_active_power\n16/12/2006;23:58:00;1\n16/12/2006;23:59:00;2\n17/12/2006;00:00:00;3\n";
    let s = ok(
        &write("uci", "household.txt", text.as_bytes()),
        &["--column", "Global_active_power"],
    );
    let t = s.time.unwrap();
    assert!(t.column.contains("\"Date\" + \"Time\""), "{}", t.column);
    assert_eq!(
        t.frequency.map(|f| f.to_string()),
        Some("every minute".into())
    );
}

#[test]
fn thousands_separators_read_or_refuse() {
    let cases: [(&str, &[&str], Vec<f64>); 6] = [
        (
            "d,v\n1,\"1,234.5\"\n2,\"12,000\"\n3,17.25\n",
            &[],
            vec![1234.5, 12000.0, 17.25],
        ),
        (
            "d;v\n1;1.234,5\n2;12.000\n3;17,25\n",
            &[],
            vec![1234.5, 12000.0, 17.25],
        ),
        (
            "d;v\n1;1 234,5\n2;12\u{a0}000\n3;17,25\n",
            &[],
            vec![1234.5, 12000.0, 17.25],
        ),
        (
            "d;v\n1;1.092\n2;2.345\n",
            &["--thousands", "."],
            vec![1092.0, 2345.0],
        ),
        (
            "d;v\n1;1.092\n2;2.345\n",
            &["--thousands", ","],
            vec![1.092, 2.345],
        ),
        (
            "d,v\n1,$1.50\n2,12.5%\n3,€ -3\n",
            &[],
            vec![1.5, 12.5, -3.0],
        ),
    ];
    for (i, (text, flags, want)) in cases.iter().enumerate() {
        let path = write(&format!("thousands-{i}"), "t.csv", text.as_bytes());
        let mut args = vec!["--column", "v"];
        args.extend_from_slice(flags);
        let s = ok(&path, &args);
        assert_eq!(&s.values, want, "{text}");
        if i < 3 {
            assert!(
                s.reading_note().contains("between thousands"),
                "{}",
                s.reading_note()
            );
        }
    }
    // German Excel's integer counts: never guessed.
    let path = write(
        "thousands-ambiguous",
        "counts.csv",
        b"Jahr;Anzahl\n2019;1.092\n2020;2.345\n2021;987\n",
    );
    let e = err(&path, &["--column", "Anzahl"]);
    assert!(
        e.contains("\"1.092\" (line 2) reads as 1.092 with --thousands ,"),
        "{e}"
    );
    assert!(e.contains("or as 1092 with --thousands ."), "{e}");
    let path = write(
        "thousands-quoted",
        "counts.csv",
        b"year,count\n2019,\"1,092\"\n2020,\"2,345\"\n",
    );
    let e = err(&path, &["--column", "count"]);
    assert!(
        e.contains("reads as 1092 with --thousands ,")
            && e.contains("or as 1.092 with --thousands ."),
        "{e}"
    );
    let s = ok(&path, &["--column", "count", "--thousands", ","]);
    assert_eq!(s.values, vec![1092.0, 2345.0]);
    // --thousands none: a grouped number is not a number.
    let e = err(&path, &["--column", "count", "--thousands", "none"]);
    assert!(
        e.contains("line 2: column \"count\" holds \"1,092\""),
        "{e}"
    );
}

#[test]
fn header_with_a_trailing_field_and_a_headerless_column() {
    let text = "Series id,Year,Period,Value,\nCUUR0000SA0,2020,M01,257.971\nCUUR0000SA0,2020,M02,258.678\n";
    let path = write("trailing", "bls.csv", text.as_bytes());
    assert_eq!(
        ok(&path, &["--column", "Value"]).values,
        vec![257.971, 258.678]
    );
    let path = write("one-column", "values.txt", b"5\n7\n9\n");
    let s = ok(&path, &["--column", "1"]);
    assert_eq!(s.values, vec![5.0, 7.0, 9.0]);
    assert!(
        s.reading_note()
            .contains("line 1 (\"5\") is a number: read as data, not as a header"),
        "{}",
        s.reading_note()
    );
    let e = err(&path, &["--column", "value"]);
    assert!(
        e.contains(
            "its first line \"5\" is a number, not a header naming \"value\": use --column 1"
        ),
        "{e}"
    );
}

#[test]
fn utf16_windows_1252_and_workbooks() {
    let rows = daily();
    let plain = ok(
        &write("enc-plain", "p.csv", csv(&rows).as_bytes()),
        &["--column", "Close"],
    );
    // Excel's "Unicode Text": UTF-16LE with a byte-order mark, tabs, CRLF.
    let text = csv(&rows).replace(',', "\t").replace('\n', "\r\n");
    let mut le = vec![0xff, 0xfe];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let s = ok(
        &write("enc-utf16", "unicode.txt", &le),
        &["--column", "Close"],
    );
    assert_eq!(s.values, plain.values);
    assert!(
        s.reading_note()
            .contains("UTF-16LE text (byte-order mark): decoded"),
        "{}",
        s.reading_note()
    );
    let mut be = vec![0xfe, 0xff];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    assert_eq!(
        ok(&write("enc-utf16be", "be.txt", &be), &["--column", "2"]).values,
        plain.values
    );
    // Windows-1252: recognised, or chosen.
    let latin = b"Ann\xe9e;Temp\xe9rature\n2019;1,5\n2020;2,5\n";
    let path = write("enc-1252", "latin.csv", latin);
    let s = ok(&path, &["--column", "Température"]);
    assert_eq!(s.values, vec![1.5, 2.5]);
    assert!(
        s.reading_note().contains("read as Windows-1252"),
        "{}",
        s.reading_note()
    );
    let s = ok(&path, &["--column", "Température", "--encoding", "latin1"]);
    assert!(
        s.reading_note()
            .contains("decoded from windows-1252 (--encoding)"),
        "{}",
        s.reading_note()
    );
    let e = err(&path, &["--column", "Température", "--encoding", "utf-8"]);
    assert!(e.contains("line 1 is not valid UTF-8"), "{e}");
    let path = write(
        "xlsx-damaged",
        "book.xlsx",
        b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml xl/workbook.xml",
    );
    let e = err(&path, &["--column", "1"]);
    assert!(
        e.contains("looks like a spreadsheet workbook but cannot be read"),
        "{e}"
    );
    let path = write("zip", "data.zip", b"PK\x03\x04\x14\x00\x06\x00prices.csv");
    let e = err(&path, &["--column", "1"]);
    assert!(
        e.contains("is a zip archive, not CSV text: unzip it"),
        "{e}"
    );
}

/// An `.xlsx` written at test time: date cells and numbers in a second sheet
/// that starts at B3, and a first sheet of notes.
fn workbook(rows: &[(String, f64)]) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "Daily closing prices").unwrap();
    let data = book.add_worksheet();
    data.set_name("Data").unwrap();
    data.write_string(2, 1, "Date").unwrap();
    data.write_string(2, 2, "Close").unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (i, (day, v)) in rows.iter().enumerate() {
        let y: u16 = day[..4].parse().unwrap();
        let (m, d): (u8, u8) = (day[5..7].parse().unwrap(), day[8..].parse().unwrap());
        let when = ExcelDateTime::from_ymd(y, m, d).unwrap();
        data.write_datetime_with_format(3 + i as u32, 1, &when, &date)
            .unwrap();
        data.write_number(3 + i as u32, 2, *v).unwrap();
    }
    book.save_to_buffer().unwrap()
}

#[test]
fn xlsx_sheets_read_like_the_csv() {
    let rows = daily();
    let plain = ok(
        &write("xlsx-csv", "p.csv", csv(&rows).as_bytes()),
        &["--column", "Close"],
    );
    let path = write("xlsx", "prices.xlsx", &workbook(&rows));
    let s = ok(&path, &["--column", "Close", "--sheet", "Data"]);
    assert_eq!(s.values, plain.values);
    assert_eq!(s.delimiter, None, "a sheet has no delimiter to report");
    let (got, want) = (s.time.expect("date cells"), plain.time.expect("dates"));
    assert_eq!(
        (got.first, got.last, got.frequency),
        (want.first, want.last, want.frequency)
    );
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("sheet \"Data\" of a workbook (--sheet; 1 other sheet)")),
        "{:?}",
        s.notes
    );
    // Column C is index 3 (columns and rows are the sheet's).
    let s = ok(&path, &["--column", "3", "--sheet", "data"]);
    assert_eq!(s.values, plain.values);
    let e = err(&path, &["--column", "Close"]);
    assert!(
        e.contains("has no column \"Close\""),
        "the first sheet is read by default: {e}"
    );
    let e = err(&path, &["--column", "Close", "--sheet", "Prices"]);
    assert!(
        e.contains("has no sheet \"Prices\"; its sheets are [\"Notes\", \"Data\"]"),
        "{e}"
    );
}
