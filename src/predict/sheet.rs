//! The `--show` picture: every input as the model saw it (the 28×28 after
//! preprocessing, scaled up 4× with square pixels) in a grid, numbered in the
//! order of the printed lines, with the predicted class name and probability
//! under it; a wrong prediction (when the label is known) has a red frame and
//! its true class in red. PNG (text in an 8×8 bitmap font) or SVG (text as
//! text, tiles as embedded PNG).

use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine;
use font8x8::UnicodeFonts;
use image::{GrayImage, ImageFormat, Rgb, RgbImage};

use super::classify::FilePrediction;
use super::preprocess::SIDE;

/// Screen pixels per input pixel.
const ZOOM: usize = 4;
/// Side of a tile on the sheet, in screen pixels.
const TILE: usize = SIDE * ZOOM;
/// Margin around a tile inside its cell.
const PAD: usize = 8;
/// Height of one line of text (8×8 glyphs at 1× or 2×, plus spacing).
const LINE: usize = 10;
/// Cell size: the tile, a 2× line for the class name and two 1× lines.
const CELL_W: usize = TILE + 2 * PAD;
const CELL_H: usize = PAD + TILE + 6 + 2 * LINE + 2 * LINE + PAD;
/// Height of the header line.
const HEADER: usize = 2 * LINE + 4;
/// Most columns of the grid.
const MAX_COLUMNS: usize = 10;

const PAPER: Rgb<u8> = Rgb([236, 236, 236]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const GREY: Rgb<u8> = Rgb([100, 100, 100]);
const RED: Rgb<u8> = Rgb([210, 20, 20]);

/// Writes the picture of `pixels` (one 784-value image in [0, 1] per
/// prediction, as from [`super::PreparedInputs`]) with their `predictions` to
/// `path`: SVG when its extension is `.svg`, PNG when `.png`.
///
/// # Errors
/// Another extension; lengths that differ; the file cannot be written.
pub fn write_sheet(path: &Path, pixels: &[Vec<f32>], predictions: &[FilePrediction]) -> Result<()> {
    if pixels.len() != predictions.len() {
        bail!(
            "{} images but {} predictions for the sheet",
            pixels.len(),
            predictions.len()
        );
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let sheet = Sheet::new(pixels, predictions);
    crate::checkpoint::write_atomic(path, |tmp| match ext.as_deref() {
        Some("png") => sheet
            .to_png()
            .save_with_format(tmp, ImageFormat::Png)
            .with_context(|| format!("cannot write {}", path.display())),
        Some("svg") => std::fs::write(tmp, sheet.to_svg()?)
            .with_context(|| format!("cannot write {}", path.display())),
        _ => bail!(
            "--show {}: give a file name ending in .png or .svg",
            path.display()
        ),
    })
}

/// One tile's content.
struct Tile<'a> {
    pixels: &'a [f32],
    /// `#i  name` (2×), `probability` (1×), `true name` when wrong (1×, red).
    name: String,
    detail: String,
    wrong: Option<String>,
}

/// The grid of tiles and its header.
struct Sheet<'a> {
    tiles: Vec<Tile<'a>>,
    columns: usize,
    header: String,
}

impl<'a> Sheet<'a> {
    fn new(pixels: &'a [Vec<f32>], predictions: &[FilePrediction]) -> Self {
        let tiles: Vec<Tile> = pixels
            .iter()
            .zip(predictions)
            .enumerate()
            .map(|(i, (px, p))| Tile {
                pixels: px,
                name: p.class_name.clone(),
                detail: format!("#{} {:.1}%", i + 1, 100.0 * p.prediction.probability),
                wrong: (p.correct == Some(false))
                    .then(|| format!("true {}", p.label_name.as_deref().unwrap_or("?"))),
            })
            .collect();
        let wrong = tiles.iter().filter(|t| t.wrong.is_some()).count();
        let labelled = predictions.iter().filter(|p| p.correct.is_some()).count();
        let header = if labelled > 0 {
            format!(
                "{} inputs, {wrong} of {labelled} labelled wrong (red)",
                tiles.len()
            )
        } else {
            format!("{} inputs as the model saw them", tiles.len())
        };
        let columns = tiles.len().clamp(1, MAX_COLUMNS);
        Self {
            tiles,
            columns,
            header,
        }
    }

    fn size(&self) -> (usize, usize) {
        let rows = self.tiles.len().div_ceil(self.columns).max(1);
        (
            (self.columns * CELL_W).max(8 * self.header.chars().count() + 2 * PAD),
            HEADER + rows * CELL_H,
        )
    }

    /// Top-left corner of tile `i`'s cell.
    fn cell(&self, i: usize) -> (usize, usize) {
        (
            (i % self.columns) * CELL_W,
            HEADER + (i / self.columns) * CELL_H,
        )
    }

    fn to_png(&self) -> RgbImage {
        let (w, h) = self.size();
        let mut img = RgbImage::from_pixel(w as u32, h as u32, PAPER);
        text(&mut img, (PAD, 6), &self.header, 1, INK, w);
        for (i, tile) in self.tiles.iter().enumerate() {
            let (cx, cy) = self.cell(i);
            let (tx, ty) = (cx + PAD, cy + PAD);
            if tile.wrong.is_some() {
                fill(&mut img, (tx - 4, ty - 4), (TILE + 8, TILE + 8), RED);
            }
            for (k, &v) in tile.pixels.iter().enumerate() {
                let level = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                let at = (tx + (k % SIDE) * ZOOM, ty + (k / SIDE) * ZOOM);
                fill(&mut img, at, (ZOOM, ZOOM), Rgb([level; 3]));
            }
            let y = ty + TILE + 6;
            let colour = if tile.wrong.is_some() { RED } else { INK };
            text(&mut img, (tx, y), &tile.name, 2, colour, cx + CELL_W);
            text(
                &mut img,
                (tx, y + 2 * LINE),
                &tile.detail,
                1,
                GREY,
                cx + CELL_W,
            );
            if let Some(truth) = &tile.wrong {
                text(&mut img, (tx, y + 3 * LINE + 2), truth, 1, RED, cx + CELL_W);
            }
        }
        img
    }

    fn to_svg(&self) -> Result<String> {
        let (w, h) = self.size();
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"monospace\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"rgb(236,236,236)\"/>\n\
             <text x=\"{PAD}\" y=\"18\" font-size=\"13\">{}</text>\n",
            escape(&self.header)
        );
        for (i, tile) in self.tiles.iter().enumerate() {
            let (cx, cy) = self.cell(i);
            let (tx, ty) = (cx + PAD, cy + PAD);
            if tile.wrong.is_some() {
                svg += &format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb(210,20,20)\"/>\n",
                    tx - 4,
                    ty - 4,
                    TILE + 8,
                    TILE + 8
                );
            }
            svg += &format!(
                "<image x=\"{tx}\" y=\"{ty}\" width=\"{TILE}\" height=\"{TILE}\" \
                 image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
                tile_png_base64(tile.pixels)?
            );
            let fill = if tile.wrong.is_some() {
                "rgb(210,20,20)"
            } else {
                "rgb(20,20,20)"
            };
            let y = ty + TILE + 6;
            svg += &format!(
                "<text x=\"{tx}\" y=\"{}\" font-size=\"18\" fill=\"{fill}\">{}</text>\n\
                 <text x=\"{tx}\" y=\"{}\" font-size=\"11\" fill=\"rgb(100,100,100)\">{}</text>\n",
                y + 15,
                escape(&tile.name),
                y + 2 * LINE + 9,
                escape(&tile.detail)
            );
            if let Some(truth) = &tile.wrong {
                svg += &format!(
                    "<text x=\"{tx}\" y=\"{}\" font-size=\"11\" fill=\"rgb(210,20,20)\">{}</text>\n",
                    y + 3 * LINE + 11,
                    escape(truth)
                );
            }
        }
        svg += "</svg>\n";
        Ok(svg)
    }
}

/// A 28×28 grey PNG of one input, base64-encoded.
fn tile_png_base64(pixels: &[f32]) -> Result<String> {
    let levels: Vec<u8> = pixels
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let img = GrayImage::from_raw(SIDE as u32, SIDE as u32, levels)
        .context("a tile holds 28×28 values")?;
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .context("cannot encode a tile as PNG")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(png.into_inner()))
}

/// Fills a `size` rectangle at `at`, clipped to the image.
fn fill(img: &mut RgbImage, at: (usize, usize), size: (usize, usize), colour: Rgb<u8>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    for y in at.1..(at.1 + size.1).min(h) {
        for x in at.0..(at.0 + size.0).min(w) {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

/// Draws `s` with 8×8 glyphs scaled `scale`×, truncated with `~` to end before `right`.
/// Characters without a glyph are drawn as '?'.
fn text(
    img: &mut RgbImage,
    at: (usize, usize),
    s: &str,
    scale: usize,
    colour: Rgb<u8>,
    right: usize,
) {
    let advance = 8 * scale;
    let fits = right.saturating_sub(at.0 + 2) / advance;
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() > fits {
        chars.truncate(fits.saturating_sub(1));
        chars.push('~');
    }
    for (n, c) in chars.into_iter().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(c)
            .or_else(|| font8x8::LATIN_FONTS.get(c))
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    let x = at.0 + n * advance + col * scale;
                    fill(img, (x, at.1 + row * scale), (scale, scale), colour);
                }
            }
        }
    }
}

/// Escapes text for SVG.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
