//! Writing files without ever leaving a half-written one: every file the
//! library writes for a user (checkpoints and their `config.json`,
//! `train_state.json`, pictures, tables) goes through [`write_atomic`], which
//! writes into a temporary file beside the target and then renames it over
//! the target.

use std::path::Path;

use anyhow::{Context, Result};

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
