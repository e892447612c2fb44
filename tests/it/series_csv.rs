//! CSV series files in the shapes users download and export (issue 14): Excel's
//! "CSV UTF-8", `;`-separated files with decimal commas, the UCI household power
//! file, agency downloads with text above the header, gzip, quoted fields, bare
//! CR line ends, files without a header. Every input is written by the test.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use tchport::data::csv::{CsvFormat, DelimiterUsed};
use tchport::data::series::{load_csv, MissingPolicy, Series};

/// Writes `bytes` as `name` in a fresh scratch folder for `test`.
fn write(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let path = common::scratch(test).join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

fn load(path: &Path, column: &str, policy: MissingPolicy, format: &CsvFormat) -> Series {
    load_csv(path, column, policy, format).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The error of loading, as `{:#}` prints it.
fn error(path: &Path, column: &str, policy: MissingPolicy, format: &CsvFormat) -> String {
    match load_csv(path, column, policy, format) {
        Ok(s) => panic!(
            "{} must fail, read {} values",
            path.display(),
            s.values.len()
        ),
        Err(e) => format!("{e:#}"),
    }
}

/// [`load`] with the default format.
fn load_with(path: &Path, column: &str, policy: MissingPolicy) -> Series {
    load(path, column, policy, &CsvFormat::default())
}

/// [`error`] with the default format.
fn error_plain(path: &Path, column: &str, policy: MissingPolicy) -> String {
    error(path, column, policy, &CsvFormat::default())
}

fn plain(path: &Path, column: &str) -> Series {
    load_with(path, column, MissingPolicy::Error)
}

fn detected(c: char) -> Option<DelimiterUsed> {
    Some(DelimiterUsed {
        delimiter: c,
        detected: true,
    })
}

/// 144 monthly values with a fractional part, exactly representable.
fn passengers() -> Vec<(String, f64)> {
    (0..144)
        .map(|i| {
            let month = format!("{}-{:02}", 1949 + i / 12, i % 12 + 1);
            (month, 100.0 + f64::from(i % 37) * 2.25 - f64::from(i / 50))
        })
        .collect()
}

fn values(rows: &[(String, f64)]) -> Vec<f64> {
    rows.iter().map(|r| r.1).collect()
}

/// `Month,Passengers` with LF line ends and dot decimals.
fn plain_csv(rows: &[(String, f64)]) -> String {
    let body: String = rows.iter().map(|(m, v)| format!("{m},{v}\n")).collect();
    format!("Month,Passengers\n{body}")
}

#[test]
fn excel_csv_utf8_reads_like_the_plain_file() {
    let rows = passengers();
    let plain_path = write("excel-plain", "plain.csv", plain_csv(&rows).as_bytes());
    let want = plain(&plain_path, "Passengers");
    assert_eq!(want.values, values(&rows));
    assert_eq!(want.delimiter, detected(','));

    let body: String = rows.iter().map(|(m, v)| format!("{m},{v}\r\n")).collect();
    let excel = format!("\u{feff}\"Month\",\"Passengers\"\r\n{body}");
    let path = write("excel-utf8", "AirPassengers.csv", excel.as_bytes());
    let got = plain(&path, "Passengers");
    assert_eq!(got.values, want.values);
    assert!(
        got.name.ends_with("AirPassengers.csv:Passengers"),
        "{}",
        got.name
    );
}

#[test]
fn semicolons_and_decimal_commas_read_like_the_dot_file() {
    let rows = passengers();
    let want = values(&rows);
    let body: String = rows
        .iter()
        .map(|(m, v)| format!("{m};{}\n", v.to_string().replace('.', ",")))
        .collect();
    let path = write(
        "decimal-comma",
        "export.csv",
        format!("Monat;Passagiere\n{body}").as_bytes(),
    );
    let comma = CsvFormat {
        decimal_comma: true,
        ..CsvFormat::default()
    };
    let got = load(&path, "Passagiere", MissingPolicy::Error, &comma);
    assert_eq!(got.values, want);
    assert_eq!(got.delimiter, detected(';'));
    let forced = CsvFormat {
        delimiter: Some(';'),
        ..comma.clone()
    };
    let got = load(&path, "Passagiere", MissingPolicy::Error, &forced);
    assert_eq!(got.values, want);
    assert_eq!(
        got.delimiter.map(|d| (d.delimiter, d.detected)),
        Some((';', false))
    );

    // Without --decimal-comma the column is read with decimal commas when
    // no cell reads otherwise (issue 21), saying so.
    let got = plain(&path, "Passagiere");
    assert_eq!(got.values, want);
    assert!(
        got.reading_note().contains("decimal comma (detected"),
        "{}",
        got.reading_note()
    );
    // A cell with a decimal point among them is named with the fix, under every policy.
    let mixed = format!("Monat;Passagiere\n{}", body.replacen("102,25", "102.25", 1));
    let path = write("decimal-mixed", "export.csv", mixed.as_bytes());
    for policy in [MissingPolicy::Error, MissingPolicy::Drop] {
        let err = error_plain(&path, "Passagiere", policy);
        assert!(
            err.contains(&format!(
                "{} line 4: column \"Passagiere\" holds \"104,5\", a number with a decimal \
                 comma? add --decimal-comma",
                path.display()
            )),
            "{err}"
        );
    }

    // With --decimal-comma a dot is refused rather than misread.
    let dots = write("decimal-comma-dots", "dots.csv", b"a;b\n1;2.5\n");
    let err = error(&dots, "b", MissingPolicy::Drop, &comma);
    assert!(
        err.contains(
            "line 2: column \"b\" holds \"2.5\": with --decimal-comma a `.` is not a decimal point"
        ),
        "{err}"
    );
}

/// Rows shaped like the UCI "Individual household electric power consumption"
/// file: `;` between fields, `?` in every measurement of a missing minute.
fn household(power: &[Option<f64>]) -> String {
    let mut text = String::from(
        "Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;\
         Sub_metering_1;Sub_metering_2;Sub_metering_3\n",
    );
    for (i, p) in power.iter().enumerate() {
        let time = format!("17:{:02}:00", 24 + i);
        match p {
            Some(p) => {
                text +=
                    &format!("16/12/2006;{time};{p:.3};0.418;234.840;18.400;0.000;1.000;17.000\n")
            }
            None => text += &format!("16/12/2006;{time};?;?;?;?;?;?;\n"),
        }
    }
    text
}

#[test]
fn uci_household_power_with_question_marks() {
    let power = [
        Some(4.216),
        Some(5.36),
        None,
        None,
        Some(5.374),
        Some(5.388),
        None,
    ];
    let path = write(
        "uci-power",
        "household_power_consumption.txt",
        household(&power).as_bytes(),
    );
    let column = "Global_active_power";

    let s = load_with(&path, column, MissingPolicy::Interpolate);
    let (a, b) = (5.36, 5.374);
    let want = vec![
        4.216,
        5.36,
        a + (b - a) / 3.0,
        a + (b - a) * 2.0 / 3.0,
        5.374,
        5.388,
    ];
    assert_eq!(s.values, want);
    assert_eq!(s.delimiter, detected(';'));
    // The trailing gap has no right neighbour: dropped, on line 8.
    assert_eq!(
        (s.missing, s.interpolated, s.dropped, s.first_dropped_line),
        (3, 2, 1, Some(8))
    );

    let s = load_with(&path, column, MissingPolicy::Drop);
    assert_eq!(s.values, vec![4.216, 5.36, 5.374, 5.388]);
    assert_eq!(
        (s.missing, s.dropped, s.first_dropped_line),
        (3, 3, Some(4))
    );

    let err = error_plain(&path, column, MissingPolicy::Error);
    assert!(
        err.contains(&format!(
            "{} line 4: column \"{column}\" holds \"?\", a missing-value marker",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("--missing drop or --missing interpolate"),
        "{err}"
    );
}

#[test]
fn agency_preamble_needs_skip_rows() {
    let rows = passengers();
    let text = format!(
        "Monthly airline passengers, thousands\nSource: National Agency; retrieved 2024-05-01\n\n{}",
        plain_csv(&rows)
    );
    let path = write("preamble", "agency.csv", text.as_bytes());
    let err = error_plain(&path, "Passengers", MissingPolicy::Error);
    assert!(
        err.contains(&format!(
            "{} has no column \"Passengers\" in its header (line 1), but line 4 names it",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("try --skip-rows 3"), "{err}");

    let skip = CsvFormat {
        skip_rows: 3,
        ..CsvFormat::default()
    };
    let s = load(&path, "Passengers", MissingPolicy::Error, &skip);
    assert_eq!(s.values, values(&rows));
    // Line numbers stay the file's: the first data row is line 5.
    let bad = text.replacen("1949-01,100", "1949-01,oops", 1);
    let path = write("preamble-bad", "agency.csv", bad.as_bytes());
    let err = error(&path, "Passengers", MissingPolicy::Error, &skip);
    assert!(
        err.contains("line 5: column \"Passengers\" holds \"oops\""),
        "{err}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

#[test]
fn gzip_is_found_by_its_magic_bytes() {
    let rows = passengers();
    let text = plain_csv(&rows);
    let want = plain(
        &write("gz-plain", "prices.csv", text.as_bytes()),
        "Passengers",
    );
    assert_eq!(want.values, values(&rows));
    for name in ["prices.csv.gz", "prices.csv"] {
        let path = write("gz", name, &gzip(text.as_bytes()));
        assert_eq!(plain(&path, "Passengers").values, want.values, "{name}");
    }
    // Excel's file, gzipped: the byte-order mark is inside the compressed data.
    let excel = format!("\u{feff}{}", text.replace('\n', "\r\n"));
    let path = write("gz-excel", "excel.csv.gz", &gzip(excel.as_bytes()));
    assert_eq!(plain(&path, "Passengers").values, want.values);

    let z = gzip(text.as_bytes());
    let path = write("gz-truncated", "cut.csv.gz", &z[..z.len() / 2]);
    let err = error_plain(&path, "Passengers", MissingPolicy::Error);
    assert!(
        err.contains(&format!(
            "{} starts like gzip data (1f 8b) but does not decompress",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn quoted_fields_hold_commas_quotes_and_line_breaks() {
    let text = "station,\"note, free text\",value\n\
                A,\"calm, clear\",1.5\n\
                B,\"said \"\"hi\"\"\nthen left\",2.5\n\
                C,plain,3.5\n\
                D,\"two\n\nbreaks\",x\n";
    let path = write("quoted", "quoted.csv", text.as_bytes());
    let s = load_with(&path, "value", MissingPolicy::Drop);
    assert_eq!(s.values, vec![1.5, 2.5, 3.5]);
    // Record D starts on physical line 6 (record B spans lines 3-4).
    assert_eq!((s.dropped, s.first_dropped_line), (1, Some(6)));
    let err = error_plain(&path, "value", MissingPolicy::Error);
    assert!(
        err.contains("line 6: column \"value\" holds \"x\""),
        "{err}"
    );
    let err = error_plain(&path, "note, free text", MissingPolicy::Drop);
    assert!(
        err.contains("column \"note, free text\" holds no numbers (4 data rows, 4 missing"),
        "{err}"
    );
}

#[test]
fn a_row_with_too_few_fields_is_named_by_its_line() {
    let path = write("short-row", "short.csv", b"t,a,b\n1,2,3\n\n2,5\n3,4,5\n");
    for policy in [
        MissingPolicy::Error,
        MissingPolicy::Drop,
        MissingPolicy::Interpolate,
    ] {
        let err = error_plain(&path, "b", policy);
        assert!(
            err.contains(&format!(
                "{} line 4: 2 fields, but the header (line 1) has 3",
                path.display()
            )),
            "{err}"
        );
    }
    // A cell with an unquoted delimiter makes a row too long.
    let path = write("long-row", "long.csv", b"t,v\n1,2\n2,2,5\n");
    let err = error_plain(&path, "v", MissingPolicy::Error);
    assert!(
        err.contains(
            "line 3: 3 fields, but the header (line 1) has 2, with delimiter `,` (detected)"
        ),
        "{err}"
    );
    assert!(err.contains("--decimal-comma"), "{err}");
    // Trailing empty fields, as spreadsheets pad rows, are accepted.
    let path = write("padded-row", "padded.csv", b"t;v\n1;2;;\n2;3\n");
    assert_eq!(plain(&path, "v").values, vec![2.0, 3.0]);
}

#[test]
fn columns_by_index_with_and_without_header() {
    let path = write("no-header", "raw.csv", b"1,10.5\n2,11.5\n3,12.5\n");
    let no_header = CsvFormat {
        no_header: true,
        ..CsvFormat::default()
    };
    let s = load(&path, "2", MissingPolicy::Error, &no_header);
    assert_eq!(s.values, vec![10.5, 11.5, 12.5]);
    assert!(s.name.ends_with("raw.csv:column 2"), "{}", s.name);
    let err = error(&path, "value", MissingPolicy::Error, &no_header);
    assert!(
        err.contains("with --no-header the column must be a 1-based index"),
        "{err}"
    );
    let err = error(&path, "3", MissingPolicy::Error, &no_header);
    assert!(
        err.contains("there is no column 3: line 1 has 2 fields"),
        "{err}"
    );

    let path = write("index", "indexed.csv", b"t,value\n1,10.5\n2,11.5\n");
    assert_eq!(plain(&path, "2").values, vec![10.5, 11.5]);
    assert_eq!(plain(&path, "1").values, vec![1.0, 2.0]);
    let err = error_plain(&path, "3", MissingPolicy::Error);
    assert!(
        err.contains("column 3 is out of range: the header has 2 fields"),
        "{err}"
    );
    // A column literally named "2" wins over index 2.
    let path = write("index-name", "named.csv", b"t,x,2\n1,10.5,7\n2,11.5,8\n");
    assert_eq!(plain(&path, "2").values, vec![7.0, 8.0]);
}

#[test]
fn bare_cr_line_ends() {
    let rows = passengers();
    let text = plain_csv(&rows).replace('\n', "\r");
    let path = write("bare-cr", "mac.csv", text.as_bytes());
    assert_eq!(plain(&path, "Passengers").values, values(&rows));
    let bad = text.replacen("1949-03,104.5", "1949-03,bad", 1);
    assert_ne!(bad, text);
    let path = write("bare-cr-bad", "mac.csv", bad.as_bytes());
    let err = error_plain(&path, "Passengers", MissingPolicy::Error);
    assert!(
        err.contains("line 4: column \"Passengers\" holds \"bad\""),
        "{err}"
    );
}

#[test]
fn wrong_delimiter_hints() {
    let path = write(
        "semicolon-forced",
        "semi.csv",
        b"date;value\n2020;1\n2021;2\n",
    );
    let comma = CsvFormat {
        delimiter: Some(','),
        ..CsvFormat::default()
    };
    let err = error(&path, "value", MissingPolicy::Error, &comma);
    assert!(
        err.contains("the header is one field that contains `;` — is the file `;`-separated? try `--delimiter ';'`"),
        "{err}"
    );
    let path = write("comma-decimal-comma", "dots.csv", b"date,value\n2020,1.5\n");
    let decimal_comma = CsvFormat {
        decimal_comma: true,
        ..CsvFormat::default()
    };
    let err = error(&path, "value", MissingPolicy::Error, &decimal_comma);
    assert!(
        err.contains("try `--delimiter ','` (--decimal-comma keeps detection from choosing `,`"),
        "{err}"
    );
    let path = write("tab-forced", "tab.tsv", b"date\tvalue\n2020\t1\n");
    let err = error(&path, "value", MissingPolicy::Error, &comma);
    assert!(
        err.contains("contains a tab — is the file tab-separated? try `--delimiter tab`"),
        "{err}"
    );
    assert_eq!(plain(&path, "value").values, vec![1.0]);
    let err = error(
        &path,
        "value",
        MissingPolicy::Error,
        &CsvFormat {
            delimiter: Some('"'),
            ..CsvFormat::default()
        },
    );
    assert!(
        err.contains("--delimiter '\"' cannot separate fields"),
        "{err}"
    );
}

#[test]
fn other_errors_name_file_line_and_column() {
    let path = write("utf8", "latin1.csv", b"t,v\n1,2\n2,\xe92\n");
    let utf8 = CsvFormat {
        encoding: Some("utf-8".into()),
        ..CsvFormat::default()
    };
    let err = error(&path, "v", MissingPolicy::Drop, &utf8);
    assert!(
        err.contains(&format!(
            "{} line 3: column \"v\" is not valid UTF-8",
            path.display()
        )),
        "{err}"
    );

    let path = write("junk-interp", "junk.csv", b"t,v\n1,2\n2,n.a.\n3,4\n");
    let err = error_plain(&path, "v", MissingPolicy::Interpolate);
    assert!(
        err.contains(
            "line 3: column \"v\" holds \"n.a.\", not a finite number nor a missing-value marker"
        ),
        "{err}"
    );
    let s = load_with(&path, "v", MissingPolicy::Drop);
    assert_eq!(
        (s.values, s.dropped, s.first_dropped_line),
        (vec![2.0, 4.0], 1, Some(3))
    );

    let markers =
        "t,v\n0,0\n1,\n2,?\n3,na\n4,N/A\n5,NaN\n6,nan\n7,NULL\n8,None\n9, - \n10,inf\n11,11\n";
    let path = write("markers", "markers.csv", markers.as_bytes());
    let s = load_with(&path, "v", MissingPolicy::Interpolate);
    assert_eq!(s.values.len(), 12);
    for (i, v) in s.values.iter().enumerate() {
        assert!((v - i as f64).abs() < 1e-12, "row {i}: {v}");
    }
    assert_eq!((s.missing, s.interpolated), (10, 10));
    let err = error_plain(&path, "v", MissingPolicy::Error);
    assert!(err.contains("line 3: column \"v\" is empty"), "{err}");

    let path = write("header-only", "header.csv", b"t,v\n\n");
    let err = error_plain(&path, "v", MissingPolicy::Error);
    assert!(
        err.contains("column \"v\" holds no numbers (0 data rows"),
        "{err}"
    );
}

/// The second field of every data line of a bundled file, parsed the
/// simplest way (these files have no quotes in their data lines).
fn naive_second_column(path: &str) -> Vec<Option<f64>> {
    std::fs::read_to_string(path)
        .expect("bundled file")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').nth(1).and_then(|c| c.trim().parse().ok()))
        .collect()
}

#[test]
fn bundled_files_read_as_the_simplest_split() {
    let sunspots = load_with(
        "data/series/sunspots.csv".as_ref(),
        "SUNACTIVITY",
        MissingPolicy::Error,
    );
    let want: Vec<f64> = naive_second_column("data/series/sunspots.csv")
        .into_iter()
        .map(|v| v.expect("sunspots has no gaps"))
        .collect();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&sunspots.values), bits(&want));
    assert_eq!(sunspots.values.len(), 309);

    let co2 = load_with("data/series/co2.csv".as_ref(), "co2", MissingPolicy::Drop);
    let naive = naive_second_column("data/series/co2.csv");
    let want: Vec<f64> = naive.iter().flatten().copied().collect();
    assert_eq!(bits(&co2.values), bits(&want));
    assert_eq!(co2.dropped, naive.len() - want.len());
    assert_eq!((co2.dropped, co2.first_dropped_line), (59, Some(8)));
}
