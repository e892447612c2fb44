//! What a checkpoint file is, told from its first bytes, never from its name
//! (PyTorch users name `torch.save` files `.pt`, `.pth`, `.bin`, `.ckpt`...).
//!
//! Magic numbers: safetensors opens with its JSON header's length (u64,
//! little-endian) and then `{` (safetensors' format spec); `torch.save` writes
//! a zip archive since PyTorch 1.6 (`PK\x03\x04`, PKWARE's APPNOTE), before
//! that a pickle stream opening with the number 0x1950a86a20f9469cfc6c, and
//! before 0.1.10 a TAR archive (`ustar` at offset 257, POSIX.1).

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest JSON header safetensors accepts (its spec's 100 MB limit).
const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

/// `torch.save`'s legacy magic number as a pickle `LONG1` writes it (little-endian).
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// How many leading bytes are looked at.
const HEAD: u64 = 512;

/// The containers that can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Container {
    /// safetensors.
    Safetensors,
    /// `torch.save`'s zip archive (PyTorch >= 1.6).
    TorchZip,
    /// `torch.save`'s pre-1.6 formats; the text names which one.
    TorchLegacy(&'static str),
}

/// Tells what `path` holds from its first bytes. Errors: the file is missing
/// or a folder (listing what it holds), or is none of [`Container`]; the
/// message then says what its first bytes look like.
pub(super) fn sniff(path: &Path) -> Result<Container> {
    if path.is_dir() {
        bail!(
            "checkpoint {} is a folder, not a file; it holds: {}",
            path.display(),
            folder_listing(path)
        );
    }
    if !path.is_file() {
        bail!("checkpoint {} not found", path.display());
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD).read_to_end(&mut head))
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    match classify(&head) {
        Ok(container) => {
            check_complete(path, &container)?;
            Ok(container)
        }
        Err(what) => bail!(
            "checkpoint {} is neither safetensors nor a PyTorch torch.save file: {what}",
            path.display()
        ),
    }
}

/// Refuses a file cut short (a partial download or copy): a zip archive
/// without its end-of-central-directory record (`PK\x05\x06`, within the
/// last 64 KiB + 22 bytes, APPNOTE 4.3.16), or a safetensors file shorter
/// than its header and the largest end offset the header names.
fn check_complete(path: &Path, container: &Container) -> Result<()> {
    let bytes_err = || format!("cannot read checkpoint {}", path.display());
    let len = std::fs::metadata(path).with_context(bytes_err)?.len();
    let complete = match container {
        Container::TorchZip => {
            let tail = read_range(path, len.saturating_sub(65_557), len).with_context(bytes_err)?;
            contains(&tail, b"PK\x05\x06")
        }
        Container::Safetensors => {
            let head = read_range(path, 0, 8).with_context(bytes_err)?;
            let header_len = head
                .first_chunk::<8>()
                .map_or(0, |b| u64::from_le_bytes(*b));
            let header = read_range(path, 8, (8 + header_len).min(len)).with_context(bytes_err)?;
            let data_end = serde_json::from_slice::<serde_json::Value>(&header)
                .ok()
                .and_then(|v| {
                    v.as_object().map(|o| {
                        o.values()
                            .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                            .max()
                            .unwrap_or(0)
                    })
                });
            matches!(data_end, Some(end) if 8 + header_len + end <= len)
        }
        Container::TorchLegacy(_) => true,
    };
    if !complete {
        bail!(
            "checkpoint {} is damaged: the file ends early ({len} bytes): a partial download? \
             Download or copy it again",
            path.display()
        );
    }
    Ok(())
}

/// Bytes `start..end` of `path`.
fn read_range(path: &Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(end.saturating_sub(start))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The container whose magic `head` starts with, or what `head` looks like.
pub(super) fn classify(head: &[u8]) -> std::result::Result<Container, String> {
    if is_safetensors(head) {
        Ok(Container::Safetensors)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok(Container::TorchZip)
    } else if head.get(257..262) == Some(b"ustar") {
        Ok(Container::TorchLegacy("a TAR archive of PyTorch < 0.1.10"))
    } else if head.starts_with(&[0x80]) && contains(&head[..head.len().min(64)], &LEGACY_MAGIC) {
        Ok(Container::TorchLegacy(
            "a pre-1.6 (non-zip) torch.save file",
        ))
    } else {
        Err(describe(head))
    }
}

/// Whether `head` opens like safetensors: a header length the format allows,
/// then the `{` of the JSON header.
fn is_safetensors(head: &[u8]) -> bool {
    match head.first_chunk::<8>() {
        Some(len) => {
            let len = u64::from_le_bytes(*len);
            (2..=SAFETENSORS_MAX_HEADER).contains(&len) && head.get(8) == Some(&b'{')
        }
        None => false,
    }
}

/// What a file that is no checkpoint looks like, from its first bytes.
fn describe(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(&head[..head.len().min(60)]);
    let trimmed = text.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    if head.is_empty() {
        "the file is empty (0 bytes)".to_string()
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "it is gzip-compressed (starts with 1f 8b): unpack it first (gunzip)".to_string()
    } else if trimmed.starts_with("version https://git-lfs") {
        "it is a Git LFS pointer, not the weights: fetch them with `git lfs pull`".to_string()
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "it is an HTML page (a download that saved a web page instead of the file?)".to_string()
    } else if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        "it is an HDF5 file (Keras .h5?), which this program does not read".to_string()
    } else if head.starts_with(b"\x93NUMPY") {
        "it is a NumPy .npy array, not a named set of weights".to_string()
    } else if head.starts_with(&[0x80]) {
        "it is a plain Python pickle (pickle.dump), not written by torch.save; \
         load it in Python and write it with safetensors.torch.save_file"
            .to_string()
    } else if is_text(head) {
        format!("it is text starting with {:?}", first_line(trimmed))
    } else {
        let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("it starts with the bytes {}", hex.join(" "))
    }
}

/// Whether the first bytes are printable text (UTF-8, no control characters
/// but whitespace).
fn is_text(head: &[u8]) -> bool {
    let probe = &head[..head.len().min(64)];
    let valid = match std::str::from_utf8(probe) {
        Ok(s) => s,
        // A multi-byte character cut at the end of the probe.
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&probe[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || c.is_ascii_whitespace())
}

/// The first line of `text`, at most 40 characters.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").chars().take(40).collect()
}

/// Whether `needle` occurs in `hay`.
pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The names in folder `dir` (at most 10), for an error message.
fn folder_listing(dir: &Path) -> String {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return format!("(cannot list it: {e})"),
    };
    if names.is_empty() {
        return "nothing".to_string();
    }
    names.sort();
    let more = names.len().saturating_sub(10);
    names.truncate(10);
    let mut listing = names.join(", ");
    if more > 0 {
        listing.push_str(&format!(" and {more} more"));
    }
    listing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_zip_and_legacy_are_told_apart_by_their_magic() {
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        assert_eq!(classify(&st), Ok(Container::Safetensors));
        // A 128-byte header starts with 0x80, the pickle PROTO opcode.
        let mut st128 = 128u64.to_le_bytes().to_vec();
        st128.push(b'{');
        assert_eq!(classify(&st128), Ok(Container::Safetensors));
        assert_eq!(classify(b"PK\x03\x04rest"), Ok(Container::TorchZip));
        let mut legacy = vec![0x80, 0x02, 0x8a, 0x0a];
        legacy.extend_from_slice(&LEGACY_MAGIC);
        assert!(matches!(classify(&legacy), Ok(Container::TorchLegacy(_))));
    }

    #[test]
    fn other_files_are_described_by_their_first_bytes() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "empty"),
            (&[0x1f, 0x8b, 8, 0], "gzip"),
            (
                b"version https://git-lfs.github.com/spec/v1\noid sha256:",
                "Git LFS",
            ),
            (b"<!DOCTYPE html><html>", "HTML page"),
            (&[0x80, 0x04, 0x95, 0x10], "plain Python pickle"),
            (
                b"conv1.weight,0.5\n",
                "text starting with \"conv1.weight,0.5\"",
            ),
            (
                &[0, 1, 2, 3, 0xff, 0xfe, 7, 9, 9],
                "bytes 00 01 02 03 ff fe 07 09",
            ),
            (b"\x93NUMPY\x01\x00", "NumPy"),
        ];
        for (head, want) in cases {
            let got = classify(head).expect_err("not a checkpoint");
            assert!(got.contains(want), "{want:?} not in {got:?}");
        }
    }
}
