//! The `--show` picture: every input as the model saw it (the 28×28 after
//! preprocessing, scaled up 4× with square pixels) in a grid, numbered in the
//! order of the printed lines, with the predicted class name and probability
//! under it; a wrong prediction (when the label is known) has a red frame and
//! its true class in red. An input cropped by `--preprocess digit` has, to
//! the right of its tile, its decoded image fit into a tile ([`Preview`])
//! with the crop box used drawn on it in blue. PNG (text in an 8×8 bitmap
//! font) or SVG (text as text, tiles as embedded PNG).

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
/// Side of a tile on the sheet, in screen pixels (the longer side of a [`Preview`]).
pub const TILE: usize = SIDE * ZOOM;
/// Margin around a tile inside its cell.
const PAD: usize = 8;
/// Height of one line of text (8×8 glyphs at 1× or 2×, plus spacing).
const LINE: usize = 10;
/// Cell size: the tile, a 2× line for the class name and two 1× lines (and
/// a preview tile more in width when an input has one).
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
/// The colour of the crop box drawn on a [`Preview`].
pub const BOX: Rgb<u8> = Rgb([20, 90, 230]);

/// A decoded image fit into a `TILE`×`TILE` square (its aspect kept), with the
/// box `--preprocess digit` cropped, for the sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// Columns, at most [`TILE`].
    pub width: usize,
    /// Rows, at most [`TILE`].
    pub height: usize,
    /// `width * height` grey levels 0 (black) to 255, row-major.
    pub grey: Vec<u8>,
    /// The crop box on the preview, `(x0, y0, x1, y1)` inclusive, in preview pixels.
    pub crop: (usize, usize, usize, usize),
}

impl Preview {
    /// `image` scaled by `TILE / max(width, height)` (nearest pixel: a
    /// preview shows where things are, not detail), and `crop` (in the image's
    /// pixels, exclusive ends) scaled the same way.
    pub fn new(image: &super::GreyImage, crop: super::ink::PixelBox) -> Self {
        let scale = TILE as f64 / image.width.max(image.height) as f64;
        let size = |n: usize| ((n as f64 * scale).round() as usize).clamp(1, TILE);
        let (width, height) = (size(image.width), size(image.height));
        let source = |t: usize, n: usize| (((t as f64 + 0.5) / scale) as usize).min(n - 1);
        let mut grey = Vec::with_capacity(width * height);
        for y in 0..height {
            let sy = source(y, image.height);
            for x in 0..width {
                let v = image.grey[sy * image.width + source(x, image.width)];
                grey.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        let (x0, y0, x1, y1) = crop;
        let first = |v: usize, n: usize| ((v as f64 * scale) as usize).min(n - 1);
        let last = |v: usize, n: usize| ((v as f64 * scale).ceil() as usize).clamp(1, n) - 1;
        Self {
            crop: (
                first(x0, width),
                first(y0, height),
                last(x1, width).max(first(x0, width)),
                last(y1, height).max(first(y0, height)),
            ),
            width,
            height,
            grey,
        }
    }
}

/// Writes the picture of `pixels` (one 784-value image in [0, 1] per
/// prediction, as from [`super::PreparedInputs`]), their `previews` (one per
/// prediction, `None` where nothing was cropped) and `predictions` to
/// `path`: SVG when its extension is `.svg`, PNG when `.png`.
///
/// # Errors
/// Another extension; lengths that differ; the file cannot be written.
pub fn write_sheet(
    path: &Path,
    pixels: &[Vec<f32>],
    previews: &[Option<Preview>],
    predictions: &[FilePrediction],
) -> Result<()> {
    if pixels.len() != predictions.len() || previews.len() != predictions.len() {
        bail!(
            "{} images and {} previews but {} predictions for the sheet",
            pixels.len(),
            previews.len(),
            predictions.len()
        );
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let sheet = Sheet::new(pixels, previews, predictions);
    crate::io::write_atomic(path, |tmp| match ext.as_deref() {
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
    preview: Option<&'a Preview>,
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
    /// Width of a cell: [`CELL_W`], plus a tile when an input has a preview.
    cell_w: usize,
}

impl<'a> Sheet<'a> {
    fn new(
        pixels: &'a [Vec<f32>],
        previews: &'a [Option<Preview>],
        predictions: &[FilePrediction],
    ) -> Self {
        let tiles: Vec<Tile> = pixels
            .iter()
            .zip(predictions)
            .zip(previews)
            .enumerate()
            .map(|(i, ((px, p), preview))| Tile {
                pixels: px,
                preview: preview.as_ref(),
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
        let with_previews = tiles.iter().any(|t| t.preview.is_some());
        Self {
            tiles,
            columns,
            header,
            cell_w: CELL_W + usize::from(with_previews) * (TILE + PAD),
        }
    }

    fn size(&self) -> (usize, usize) {
        let rows = self.tiles.len().div_ceil(self.columns).max(1);
        (
            (self.columns * self.cell_w).max(8 * self.header.chars().count() + 2 * PAD),
            HEADER + rows * CELL_H,
        )
    }

    /// Top-left corner of tile `i`'s cell.
    fn cell(&self, i: usize) -> (usize, usize) {
        (
            (i % self.columns) * self.cell_w,
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
            if let Some(preview) = tile.preview {
                draw_preview(&mut img, (tx + TILE + PAD, ty), preview);
            }
            let y = ty + TILE + 6;
            let colour = if tile.wrong.is_some() { RED } else { INK };
            text(&mut img, (tx, y), &tile.name, 2, colour, cx + self.cell_w);
            text(
                &mut img,
                (tx, y + 2 * LINE),
                &tile.detail,
                1,
                GREY,
                cx + self.cell_w,
            );
            if let Some(truth) = &tile.wrong {
                text(
                    &mut img,
                    (tx, y + 3 * LINE + 2),
                    truth,
                    1,
                    RED,
                    cx + self.cell_w,
                );
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
            if let Some(preview) = tile.preview {
                svg += &preview_svg((tx + TILE + PAD, ty), preview)?;
            }
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

/// Draws `preview` with its top left at `at` and its crop box (1 pixel wide) in [`BOX`].
fn draw_preview(img: &mut RgbImage, at: (usize, usize), preview: &Preview) {
    for (k, &v) in preview.grey.iter().enumerate() {
        let (x, y) = (at.0 + k % preview.width, at.1 + k / preview.width);
        fill(img, (x, y), (1, 1), Rgb([v; 3]));
    }
    let (x0, y0, x1, y1) = preview.crop;
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    for (pos, size) in [
        ((x0, y0), (w, 1)),
        ((x0, y1), (w, 1)),
        ((x0, y0), (1, h)),
        ((x1, y0), (1, h)),
    ] {
        fill(img, (at.0 + pos.0, at.1 + pos.1), size, BOX);
    }
}

/// The SVG of `preview` at `at`: the image embedded as PNG, the box as a `<rect>`.
fn preview_svg(at: (usize, usize), preview: &Preview) -> Result<String> {
    let img = GrayImage::from_raw(
        preview.width as u32,
        preview.height as u32,
        preview.grey.clone(),
    )
    .context("a preview holds width × height values")?;
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .context("cannot encode a preview as PNG")?;
    let data = base64::engine::general_purpose::STANDARD.encode(png.into_inner());
    let (x0, y0, x1, y1) = preview.crop;
    let Rgb([r, g, b]) = BOX;
    Ok(format!(
        "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" href=\"data:image/png;base64,{data}\"/>\n\
         <rect class=\"crop\" x=\"{}.5\" y=\"{}.5\" width=\"{}\" height=\"{}\" fill=\"none\" \
         stroke=\"rgb({r},{g},{b})\" stroke-width=\"1\"/>\n",
        at.0,
        at.1,
        preview.width,
        preview.height,
        at.0 + x0,
        at.1 + y0,
        x1 - x0,
        y1 - y0
    ))
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
