//! Writing files without ever leaving a half-written one: every file the
//! library writes for a user (checkpoints and their `config.json`,
//! `train_state.json`, pictures, tables, `--metrics-json` reports) goes
//! through [`write_atomic`], which writes into a temporary file beside the
//! target and then renames it over the target.
//!
//! [`write_metrics_json`] is the one writer of the `--metrics-json` report of
//! every example.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `bytes`-producing `write` to `path` atomically: into a temporary file
/// in the same folder, then renamed over `path`, so a crash never leaves a
/// half-written file where a good one was.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let file_name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `text` to `path` atomically ([`write_atomic`]).
///
/// # Errors
/// An I/O error naming `path`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| {
        std::fs::write(tmp, text).with_context(|| format!("cannot write {}", path.display()))
    })
}

/// Writes `value` to `path` as pretty JSON (`serde_json::to_string_pretty`)
/// and a final newline, atomically (`config.json`, `train_state.json`, a vocabulary).
///
/// # Errors
/// A value that does not serialise, or an I/O error; both name `path`.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| format!("{}: cannot serialise JSON", path.display()))?;
    write_text(path, &(text + "\n"))
}

/// Writes `report` to `path` as the `--metrics-json` file ([`write_json`];
/// the folder is created when missing): the one writer every example uses.
///
/// # Errors
/// A report that does not serialise, or an I/O error; both name `path`.
pub fn write_metrics_json(path: &Path, report: &impl Serialize) -> Result<()> {
    write_json(path, report).with_context(|| format!("--metrics-json {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_json_is_pretty_with_a_final_newline_in_a_new_folder() {
        let root = std::env::temp_dir().join(format!("tchport-io-{}", std::process::id()));
        let path = root.join("new").join("metrics.json");
        let report = serde_json::json!({ "test": { "accuracy": 0.5 }, "epochs": [1, 2] });
        write_metrics_json(&path, &report).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            serde_json::to_string_pretty(&report).expect("serialise") + "\n"
        );
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["metrics.json"], "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(&root);
    }
}
