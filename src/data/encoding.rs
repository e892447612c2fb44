//! The text encoding of a series file, turned into UTF-8 before parsing:
//!
//! - a UTF-8 byte-order mark is dropped; UTF-16 LE or BE with a byte-order
//!   mark (Excel's "Unicode Text", which also uses tabs) is decoded;
//! - UTF-16 without a mark is recognised by its zero bytes (every other byte
//!   of ASCII text) and decoded, saying so;
//! - text that is not UTF-8 is read as Windows-1252 (what Excel's plain "CSV"
//!   writes on Western Windows), saying so and naming the first line that is
//!   not UTF-8; `--encoding NAME` (any WHATWG label: `windows-1252`,
//!   `latin1`, `iso-8859-15`, `utf-16le`, `shift_jis`…) chooses instead, and
//!   `--encoding utf-8` refuses what is not;
//! - a spreadsheet workbook (`.xlsx`, `.ods`: zip archives; `.xls`: an OLE
//!   compound file) that reaches this decoder is named instead of being parsed
//!   as text (the series reader opens workbooks first: [`super::workbook`]),
//!   and another zip archive is refused with "unzip it".
//!
//! Decoding is the `encoding_rs` crate's (the WHATWG Encoding Standard).

use std::borrow::Cow;

use anyhow::{bail, Result};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";
const OLE_MAGIC: [u8; 8] = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Text as UTF-8 and, when it was not plain UTF-8, one line saying what was decided.
pub(crate) type Decoded<'a> = (Cow<'a, [u8]>, Option<String>);

/// Turns `data` (already gunzipped) into UTF-8 without a byte-order mark;
/// `forced` is `--encoding`'s label. Errors: a workbook, an unknown label,
/// text that is not in the forced encoding.
pub fn to_utf8<'a>(data: Cow<'a, [u8]>, source: &str, forced: Option<&str>) -> Result<Decoded<'a>> {
    refuse_workbook(&data, source)?;
    if let Some(label) = forced {
        return forced_decode(data, source, label);
    }
    if let Some((enc, bom)) = Encoding::for_bom(&data) {
        if enc == UTF_8 {
            return Ok((strip(data, bom), None));
        }
        let note = format!("{} text (byte-order mark): decoded", enc.name());
        return Ok((decode_all(enc, &data[bom..]), Some(note)));
    }
    if let Some(enc) = utf16_without_bom(&data) {
        let note = format!(
            "{} text without a byte-order mark (every other byte is 0): decoded \
             (--encoding to choose another)",
            enc.name()
        );
        return Ok((decode_all(enc, &data), Some(note)));
    }
    match std::str::from_utf8(&data) {
        Ok(_) => Ok((data, None)),
        Err(e) => {
            let line = 1 + data[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            let note = format!(
                "not UTF-8 (line {line} is the first that is not): read as Windows-1252, as \
                 Excel's \"CSV\" writes on Western Windows (--encoding NAME to choose another)"
            );
            Ok((decode_all(WINDOWS_1252, &data), Some(note)))
        }
    }
}

/// `data` without its first `n` bytes.
fn strip(data: Cow<'_, [u8]>, n: usize) -> Cow<'_, [u8]> {
    match data {
        Cow::Borrowed(b) => Cow::Borrowed(&b[n..]),
        Cow::Owned(mut v) => {
            v.drain(..n);
            Cow::Owned(v)
        }
    }
}

/// `bytes` decoded from `enc` (malformed sequences become U+FFFD).
fn decode_all<'a>(enc: &'static Encoding, bytes: &[u8]) -> Cow<'a, [u8]> {
    let (text, _) = enc.decode_without_bom_handling(bytes);
    Cow::Owned(text.into_owned().into_bytes())
}

/// Decodes with `--encoding label`; a byte-order mark of that encoding is dropped.
fn forced_decode<'a>(data: Cow<'a, [u8]>, source: &str, label: &str) -> Result<Decoded<'a>> {
    let Some(enc) = Encoding::for_label(label.trim().as_bytes()) else {
        bail!(
            "--encoding {label:?} is not an encoding name this reader knows: try utf-8, \
             windows-1252 (or latin1), iso-8859-15, utf-16le, utf-16be, shift_jis, gbk"
        );
    };
    let bom = match Encoding::for_bom(&data) {
        Some((e, n)) if e == enc => n,
        _ => 0,
    };
    if enc == UTF_8 {
        // Kept as bytes: the reader names the line and column that is not UTF-8.
        return Ok((strip(data, bom), None));
    }
    let Some(text) = enc.decode_without_bom_handling_and_without_replacement(&data[bom..]) else {
        bail!(
            "{source} is not valid {} text (--encoding {label}): check the encoding the file \
             was saved with",
            enc.name()
        );
    };
    let note = format!("decoded from {} (--encoding)", enc.name());
    Ok((Cow::Owned(text.into_owned().into_bytes()), Some(note)))
}

/// UTF-16 without a byte-order mark: at least 8 bytes, an even length, and
/// zeros in (nearly) every other byte and nowhere else, as ASCII text has.
fn utf16_without_bom(data: &[u8]) -> Option<&'static Encoding> {
    if data.len() < 8 || !data.len().is_multiple_of(2) {
        return None;
    }
    let zeros = |parity: usize| {
        data.iter()
            .skip(parity)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd, half) = (zeros(0), zeros(1), data.len() / 2);
    match (even, odd) {
        (e, 0) if e * 10 >= half * 9 => Some(UTF_16BE),
        (0, o) if o * 10 >= half * 9 => Some(UTF_16LE),
        _ => None,
    }
}

/// Refuses a spreadsheet workbook, naming it and what to do.
fn refuse_workbook(data: &[u8], source: &str) -> Result<()> {
    let kind = if data.starts_with(&ZIP_MAGIC) {
        let has = |name: &[u8]| data.windows(name.len()).any(|w| w == name);
        if has(b"xl/") {
            "an Excel workbook (.xlsx)"
        } else if has(b"opendocument.spreadsheet") || has(b"content.xml") {
            "an OpenDocument spreadsheet (.ods)"
        } else {
            "a zip archive"
        }
    } else if data.starts_with(&OLE_MAGIC) {
        "an Excel 97-2003 workbook (.xls)"
    } else {
        return Ok(());
    };
    if kind == "a zip archive" {
        bail!("{source} is a zip archive, not CSV text: unzip it and pass the CSV file inside");
    }
    bail!(
        "{source} is {kind}, not CSV text: open it and save the sheet as CSV (Excel: File > Save \
         As > \"CSV UTF-8\"), then pass that file"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(bytes: &[u8], forced: Option<&str>) -> (String, Option<String>) {
        let (text, note) = to_utf8(Cow::Borrowed(bytes), "f", forced).unwrap();
        (String::from_utf8(text.into_owned()).unwrap(), note)
    }

    #[test]
    fn boms_and_utf16() {
        assert_eq!(utf8(b"\xef\xbb\xbfa,b", None), ("a,b".into(), None));
        let le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("a\tb\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let (text, note) = utf8(&le, None);
        assert_eq!(text, "a\tb\n");
        assert!(note.unwrap().contains("UTF-16LE text (byte-order mark)"));
        let be: Vec<u8> = "ab,cd\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let (text, note) = utf8(&be, None);
        assert_eq!(text, "ab,cd\n");
        assert!(note
            .unwrap()
            .contains("UTF-16BE text without a byte-order mark"));
    }

    #[test]
    fn windows_1252_and_forced_labels() {
        let (text, note) = utf8(b"Stra\xdfe,v\n\x80 1,2\n", None);
        assert_eq!(text, "Straße,v\n€ 1,2\n");
        assert!(note.unwrap().contains("line 1 is the first"));
        let (text, _) = utf8(b"\xa4", Some("iso-8859-15"));
        assert_eq!(text, "€");
        let err = to_utf8(Cow::Borrowed(b"a"), "f", Some("klingon")).unwrap_err();
        assert!(err.to_string().contains("not an encoding name"), "{err}");
        let err = to_utf8(
            Cow::Borrowed(b"PK\x03\x04..xl/workbook.xml"),
            "f.xlsx",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("is an Excel workbook (.xlsx), not CSV text"),
            "{err}"
        );
    }
}
