//! Property-based fuzzing of the file parsers (IDX reader, CSV series loader with
//! every option, gzipped or not): whatever the bytes, they return
//! a value or an error — never a panic, a hang or an unbounded allocation.
//! `PROPTEST_CASES=N` sets the number of inputs (256 by default, as in CI).

use std::io::Write;

use proptest::prelude::*;
use tchport::data::csv::CsvFormat;
use tchport::data::idx::{parse_idx, read_idx_file, MAX_PAYLOAD_BYTES};
use tchport::data::series::{parse_csv, MissingPolicy};

fn header(rank: u8, dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, rank];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

proptest! {
    #[test]
    fn idx_parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_idx(&bytes[..]);
    }

    #[test]
    fn idx_parser_survives_plausible_headers(
        dims in proptest::collection::vec(any::<u32>(), 0..5),
        extra_rank in 0u8..3,
        payload in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = header(dims.len() as u8 + extra_rank, &dims);
        bytes.extend_from_slice(&payload);
        let claimed = dims.iter().fold(1u128, |acc, &d| acc * d as u128);
        match parse_idx(&bytes[..]) {
            Ok(a) => {
                // Only an exact, bounded payload is accepted.
                prop_assert_eq!(extra_rank, 0);
                prop_assert!(!dims.is_empty());
                prop_assert_eq!(a.data.len() as u128, claimed);
                prop_assert!(claimed <= MAX_PAYLOAD_BYTES as u128);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }
    }

    #[test]
    fn gzipped_idx_files_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), gzip in any::<bool>()) {
        let dir = std::env::temp_dir().join(format!("tchport-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let path = dir.join("input");
        let content = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&bytes).expect("gzip in memory");
            let mut z = e.finish().expect("gzip in memory");
            let cut = bytes.first().map_or(z.len(), |&b| z.len() * (b as usize % 4 + 1) / 4);
            z.truncate(cut.max(2));
            z
        } else {
            let mut z = vec![0x1f, 0x8b];
            z.extend_from_slice(&bytes);
            z
        };
        std::fs::write(&path, content).expect("write");
        if let Err(e) = read_idx_file(&path) {
            let msg = format!("{e:#}");
            prop_assert!(msg.contains("input"), "the error names the file: {}", msg);
        }
    }
}

fn policy() -> impl Strategy<Value = MissingPolicy> {
    prop_oneof![
        Just(MissingPolicy::Error),
        Just(MissingPolicy::Drop),
        Just(MissingPolicy::Interpolate)
    ]
}

/// Every option of the CSV reader, including delimiters that cannot be one.
fn format() -> impl Strategy<Value = CsvFormat> {
    let delimiter = prop_oneof![
        Just(None),
        Just(Some(',')),
        Just(Some(';')),
        Just(Some('\t')),
        Just(Some('|')),
        any::<char>().prop_map(Some),
    ];
    (delimiter, any::<bool>(), 0usize..4, any::<bool>()).prop_map(
        |(delimiter, decimal_comma, skip_rows, no_header)| CsvFormat {
            delimiter,
            decimal_comma,
            skip_rows,
            no_header,
            ..CsvFormat::default()
        },
    )
}

/// A requested column: a name, an index, or junk.
fn column() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,4}",
        (0usize..5).prop_map(|i| i.to_string()),
        "\\PC{0,3}"
    ]
}

/// Cells that exercise the parser: numbers, blanks, junk, non-finite values,
/// missing markers, decimal commas, quotes, line breaks.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        (-1000i32..1000).prop_map(|v| v.to_string()),
        Just(String::new()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("1e999".to_string()),
        Just("?".to_string()),
        Just("N/A".to_string()),
        Just("12,5".to_string()),
        Just("\"1,5\"".to_string()),
        Just("\"a\nb\"".to_string()),
        Just("\"".to_string()),
        "[a-z ,;|\t\"\r\n]{0,6}",
    ]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

/// Never a panic; a series that loads holds only finite values, and an error names the source.
fn check(
    bytes: &[u8],
    column: &str,
    policy: MissingPolicy,
    format: &CsvFormat,
) -> Result<(), TestCaseError> {
    match parse_csv(bytes, "fuzz.csv", column, policy, format) {
        Ok(series) => {
            prop_assert!(
                series.values.iter().all(|v| v.is_finite()),
                "never a silent NaN"
            );
            prop_assert_eq!(series.missing, series.interpolated + series.dropped);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            prop_assert!(
                msg.contains("fuzz.csv") || msg.contains("--delimiter"),
                "{}",
                msg
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn csv_loader_survives_arbitrary_text(text in "\\PC{0,300}", column in column(), policy in policy(), format in format()) {
        check(text.as_bytes(), &column, policy, &format)?;
    }

    #[test]
    fn csv_loader_survives_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        column in column(),
        policy in policy(),
        format in format(),
    ) {
        check(&bytes, &column, policy, &format)?;
    }

    #[test]
    fn csv_loader_survives_gzip_of_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cut in 0usize..5,
        column in column(),
        policy in policy(),
        format in format(),
    ) {
        let mut z = gzip(&bytes);
        // Whole, or cut short (a truncated download); always the magic bytes first.
        let keep = (z.len() * cut / 4).max(2);
        z.truncate(keep);
        check(&z, &column, policy, &format)?;
        let mut raw = vec![0x1f, 0x8b];
        raw.extend_from_slice(&bytes);
        check(&raw, &column, policy, &format)?;
    }

    #[test]
    fn csv_loader_survives_csv_like_text(
        header in proptest::collection::vec("[a-z\"]{0,3}", 0..4),
        rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..4), 0..40),
        delimiter in prop_oneof![Just(","), Just(";"), Just("\t"), Just("|")],
        line_end in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        bom in any::<bool>(),
        preamble in proptest::collection::vec("[A-Za-z ,;:]{0,20}", 0..3),
        policy in policy(),
        format in format(),
        gzipped in any::<bool>(),
    ) {
        let mut text = if bom { "\u{feff}".to_string() } else { String::new() };
        for line in &preamble {
            text += line;
            text += line_end;
        }
        text += &header.join(delimiter);
        for row in &rows {
            text += line_end;
            text += &row.join(delimiter);
        }
        let column = header.first().cloned().unwrap_or_default();
        let bytes = if gzipped { gzip(text.as_bytes()) } else { text.into_bytes() };
        check(&bytes, &column, policy, &format)?;
        check(&bytes, "2", policy, &format)?;
    }
}
