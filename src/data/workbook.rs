//! Spreadsheet workbooks as series files: `.xlsx`/`.xlsm`, `.xlsb`, `.xls`
//! and `.ods`, read with the `calamine` crate. One sheet (`--sheet NAME`,
//! default the first) becomes CSV text that the CSV reader then reads like
//! any file, so every rule of [`crate::data::csv`] and
//! [`crate::data::series`] applies unchanged:
//!
//! - fields are separated by `,` and quoted per RFC 4180 when needed;
//! - numbers are written as Rust's shortest round-trip `f64` text (`257.971`,
//!   `1700`), so no separator can be misread;
//! - date cells become ISO `YYYY-MM-DD` (with ` HH:MM:SS` when they have a
//!   time), so the time axis finds them; an error cell is written as Excel
//!   shows it (`#N/A`);
//! - empty rows and columns before the used range are kept as empty lines and
//!   fields, so that "line N" in messages is the sheet's row N and column
//!   indices are the sheet's (A = 1).

use std::io::Cursor;

use anyhow::{anyhow, bail, Result};
use calamine::{open_workbook_auto_from_rs, Data, Reader};

const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";
const OLE_MAGIC: [u8; 8] = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// True for the bytes of a workbook calamine reads: a zip holding `xl/`
/// (Office Open XML) or an OpenDocument spreadsheet, or an OLE compound file
/// (Excel 97-2003).
pub(crate) fn is_workbook(bytes: &[u8]) -> bool {
    let has = |name: &[u8]| bytes.windows(name.len()).any(|w| w == name);
    (bytes.starts_with(&ZIP_MAGIC) && (has(b"xl/") || has(b"opendocument.spreadsheet")))
        || bytes.starts_with(&OLE_MAGIC)
}

/// The sheet `sheet` (default: the first) of the workbook `bytes` as CSV
/// text, and one line saying which sheet of which kind was read. Errors name
/// `source`, and list the sheets when `sheet` is not one of them.
pub(crate) fn sheet_as_csv(
    bytes: &[u8],
    source: &str,
    sheet: Option<&str>,
) -> Result<(Vec<u8>, String)> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| {
        anyhow!("{source} looks like a spreadsheet workbook but cannot be read ({e}): a damaged or password-protected file? save the sheet as CSV")
    })?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(want) => names
            .iter()
            .find(|n| n.as_str() == want)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(want)))
            .cloned()
            .ok_or_else(|| {
                anyhow!("{source} has no sheet {want:?}; its sheets are {names:?} (--sheet NAME)")
            })?,
        None => match names.first() {
            Some(n) => n.clone(),
            None => bail!("{source} is a workbook without sheets"),
        },
    };
    let range = book
        .worksheet_range(&name)
        .map_err(|e| anyhow!("{source}: sheet {name:?} cannot be read: {e}"))?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut text = "\n".repeat(row0 as usize);
    let lead = ",".repeat(col0 as usize);
    for row in range.rows() {
        text.push_str(&lead);
        let fields: Vec<String> = row.iter().map(cell_text).map(|t| quote(&t)).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let how = if sheet.is_some() {
        "--sheet"
    } else {
        "the first"
    };
    let others = names.len() - 1;
    let note = format!(
        "sheet {name:?} of a workbook ({how}; {others} other sheet{}); line numbers are its rows",
        if others == 1 { "" } else { "s" }
    );
    Ok((text.into_bytes(), note))
}

/// A cell as text (see the module documentation).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) if d.is_datetime() => {
            let (y, m, day, h, min, s, _) = d.to_ymd_hms_milli();
            if (h, min, s) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{s:02}")
            }
        }
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::Error(e) => e.to_string(),
    }
}

/// `text` as one CSV field: quoted when it holds `,` `"` or a line break.
fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
