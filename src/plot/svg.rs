//! What every picture shares: the `*.svg` name check and the atomic write of
//! the SVG text that `plotters`' SVG backend rendered into a string.

use std::path::Path;

use anyhow::{bail, Result};

use crate::io::write_text;

/// Refuses a picture path that does not end in `.svg` (any case): only SVG is
/// written, and an SVG file named `*.png` would open as a broken image.
///
/// # Errors
/// Names `path` and the fix (`name the file *.svg`).
pub fn check_path(path: &Path) -> Result<()> {
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !is_svg {
        bail!(
            "{}: only SVG pictures are written; name the file *.svg",
            path.display()
        );
    }
    Ok(())
}

/// Writes the rendered `svg` text to `path` atomically (a temporary file in the
/// same folder, renamed over `path`; folders are created).
///
/// # Errors
/// A path not ending in `.svg` ([`check_path`]), or an I/O error naming the file.
pub fn write(path: &Path, svg: &str) -> Result<()> {
    check_path(path)?;
    write_text(path, svg)
}

/// Turns a `plotters` drawing error (whose backend error need not be
/// `Send + Sync`) into an [`anyhow::Error`]; use as `.map_err(drawing)?`.
pub fn drawing<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotters could not draw: {e:?}")
}
