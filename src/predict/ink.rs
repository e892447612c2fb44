//! Finding the digit in a photo of paper (issue 21): the background levelled
//! (uneven light, vignetting), a threshold from the image's own histogram
//! (Otsu), the ink split into connected components, specks and marks along
//! the image's edge dropped, and the box around what is left, with warnings
//! when it looks unlike one digit.
//!
//! Works on the *working copy* of [`super::preprocess`](mod@super::preprocess) (light ink on dark,
//! long side ≤ [`WORK_SIDE`]). Plain arithmetic on `f64` and integer
//! counts, written so that `parity/predict.py` (`level`, `otsu`,
//! `components`, `select`) gives the same decisions; build-notes.md, issue 21
//! "Images", states the algorithm in words.

use std::collections::VecDeque;

use super::preprocess::INK_THRESHOLD;

/// Images whose longer side exceeds this (pixels) are analysed at this size
/// (area-averaged down, aspect ratio kept): a 12-megapixel photo and its 3 MP
/// copy then give the same working image, and sensor noise averages out.
pub const WORK_SIDE: usize = 512;

/// Cells of the background grid: the longer side is cut into this many
/// cells, each at least [`MIN_CELL`] pixels.
pub const CELLS: usize = 8;

/// Smallest background cell side in pixels: a small image (a 28×28 digit, a
/// scan of a few hundred pixels) is one or a few cells, so a digit's strokes
/// never fill a cell.
pub const MIN_CELL: usize = 32;

/// A component smaller than this fraction of the largest one (in pixels) is a
/// speck and left out of the box.
pub const SPECK_FRACTION: f64 = 0.02;

/// Another component at least this fraction of the largest one's size makes
/// the "several large ink marks" warning.
pub const LARGE_FRACTION: f64 = 0.25;

/// A component with more pixels on the image's outermost rows and columns
/// than this fraction of the shorter side runs along the edge (a frame, the
/// paper's edge, the desk) and is left out.
pub const EDGE_FRACTION: f64 = 0.5;

/// A box `(x0, y0, x1, y1)` in pixels, exclusive ends.
pub(crate) type PixelBox = (usize, usize, usize, usize);

/// The background estimate of `light` (`w × h`, row-major): the image is cut
/// into cells of side `max(ceil(long / CELLS), MIN_CELL)` from the top left
/// (the last row and column of cells may be smaller); each cell's value is its
/// lower quartile (the sorted value at index `(n − 1) / 4`, robust to ink
/// covering up to three quarters of a cell); the estimate at a pixel is the
/// bilinear interpolation between cell centres (`(first + last) / 2` of each
/// cell's pixel indices), constant beyond the outer centres, computed as
/// `a + (b − a) · t` along x, then the same along y (so equal cells give
/// exactly their value).
pub(crate) fn background_map(light: &[f64], w: usize, h: usize) -> Vec<f64> {
    let cell = w.max(h).div_ceil(CELLS).max(MIN_CELL);
    let (nx, ny) = (w.div_ceil(cell), h.div_ceil(cell));
    let mut grid = vec![0.0; nx * ny];
    for cy in 0..ny {
        for cx in 0..nx {
            let mut values: Vec<f64> = (cy * cell..((cy + 1) * cell).min(h))
                .flat_map(|y| (cx * cell..((cx + 1) * cell).min(w)).map(move |x| light[y * w + x]))
                .collect();
            values.sort_by(f64::total_cmp);
            grid[cy * nx + cx] = values[(values.len() - 1) / 4];
        }
    }
    let tx = interpolation_taps(w, cell);
    let ty = interpolation_taps(h, cell);
    let mut rows = vec![0.0; ny * w];
    for cy in 0..ny {
        for (x, &(i0, i1, t)) in tx.iter().enumerate() {
            let (a, b) = (grid[cy * nx + i0], grid[cy * nx + i1]);
            rows[cy * w + x] = a + (b - a) * t;
        }
    }
    let mut out = vec![0.0; w * h];
    for (y, &(j0, j1, t)) in ty.iter().enumerate() {
        for x in 0..w {
            let (a, b) = (rows[j0 * w + x], rows[j1 * w + x]);
            out[y * w + x] = a + (b - a) * t;
        }
    }
    out
}

/// For each of `len` pixels, the two cells whose centres surround it and the
/// weight `t` of the second: `(i, i + 1, (p − c_i) / (c_{i+1} − c_i))`, or
/// `(i, i, 0)` beyond the outer centres. Cells have side `cell`; centre
/// `c_i = (i·cell + min((i+1)·cell, len) − 1) / 2`.
fn interpolation_taps(len: usize, cell: usize) -> Vec<(usize, usize, f64)> {
    let n = len.div_ceil(cell);
    let centre = |i: usize| (i * cell + ((i + 1) * cell).min(len) - 1) as f64 / 2.0;
    (0..len)
        .map(|p| {
            let p = p as f64;
            match (0..n.saturating_sub(1)).find(|&i| p >= centre(i) && p < centre(i + 1)) {
                Some(i) => (i, i + 1, (p - centre(i)) / (centre(i + 1) - centre(i))),
                None if p < centre(0) => (0, 0, 0.0),
                None => (n - 1, n - 1, 0.0),
            }
        })
        .collect()
}

/// The grey level (0..=255) of an ink value: `floor(v · 255 + 0.5)` clamped.
pub fn level(v: f64) -> usize {
    (v * 255.0 + 0.5).floor().clamp(0.0, 255.0) as usize
}

/// Otsu's threshold of the levels of `ink`: the `t` in 0..255 that maximises
/// the between-class variance `(n1·s0 − n0·s1)² / (n0·n1)` of the classes
/// `level ≤ t` (count `n0`, level sum `s0`) and `level > t` (`n1`, `s1`),
/// computed in `f64` from exact integer counts; the first maximum wins; 0 when
/// every level is the same.
pub fn otsu(ink: &[f64]) -> usize {
    let mut hist = [0u64; 256];
    for &v in ink {
        hist[level(v)] += 1;
    }
    let n: u64 = hist.iter().sum();
    let total: u64 = hist.iter().enumerate().map(|(l, &c)| l as u64 * c).sum();
    let (mut n0, mut s0) = (0u64, 0u64);
    let (mut best, mut best_t) = (-1.0, 0);
    for (t, &c) in hist.iter().enumerate().take(255) {
        n0 += c;
        s0 += t as u64 * c;
        let (n1, s1) = (n - n0, total - s0);
        if n0 == 0 || n1 == 0 {
            continue;
        }
        let d = n1 as f64 * s0 as f64 - n0 as f64 * s1 as f64;
        let score = d * d / (n0 as f64 * n1 as f64);
        if score > best {
            (best, best_t) = (score, t);
        }
    }
    best_t
}

/// One 8-connected component of the ink pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Pixels in the component.
    pub area: usize,
    /// Pixels above Otsu's threshold.
    pub strong: usize,
    /// Pixels on the image's first or last row or column.
    pub edge: usize,
    /// Bounding box.
    pub bbox: PixelBox,
}

/// The 8-connected components of the pixels with `ink > INK_THRESHOLD`, in
/// raster order of their first pixel; `strong` counts the pixels whose
/// [`level`] exceeds `threshold`.
pub fn components(ink: &[f64], w: usize, h: usize, threshold: usize) -> Vec<Component> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if seen[start] || ink[start] <= INK_THRESHOLD {
            continue;
        }
        seen[start] = true;
        queue.push_back(start);
        let (x, y) = (start % w, start / w);
        let mut c = Component {
            area: 0,
            strong: 0,
            edge: 0,
            bbox: (x, y, x + 1, y + 1),
        };
        while let Some(i) = queue.pop_front() {
            let (x, y) = (i % w, i / w);
            c.area += 1;
            c.strong += usize::from(level(ink[i]) > threshold);
            c.edge += usize::from(x == 0 || y == 0 || x + 1 == w || y + 1 == h);
            let (x0, y0, x1, y1) = c.bbox;
            c.bbox = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if !seen[j] && ink[j] > INK_THRESHOLD {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        out.push(c);
    }
    out
}

/// What [`select`] kept, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The box around the kept components.
    pub bbox: PixelBox,
    /// Components kept.
    pub kept: usize,
    /// Components left out as specks.
    pub specks: usize,
    /// Components left out as marks along the image's edge.
    pub edge_marks: usize,
    /// Kept components other than the largest with at least
    /// [`LARGE_FRACTION`] of its size.
    pub large_others: usize,
    /// Whether a kept component touches the image's edge.
    pub touches_edge: bool,
}

/// Chooses the digit's components among `comps` (from [`components`] on a
/// `w × h` image): those with a strong pixel, not running along the edge
/// (`edge > EDGE_FRACTION · min(w, h)`); of these the largest (by area, the
/// first on ties) and every other with at least [`SPECK_FRACTION`] of its
/// area. `None` when no component qualifies.
pub fn select(comps: &[Component], w: usize, h: usize) -> Option<Selection> {
    let strong: Vec<&Component> = comps.iter().filter(|c| c.strong > 0).collect();
    let along_edge = |c: &Component| c.edge as f64 > EDGE_FRACTION * w.min(h) as f64;
    let inner: Vec<&Component> = strong.iter().copied().filter(|c| !along_edge(c)).collect();
    let largest = inner
        .iter()
        .fold(None, |best: Option<&Component>, c| match best {
            Some(b) if b.area >= c.area => Some(b),
            _ => Some(c),
        })?;
    let big_enough = |c: &&Component, f: f64| c.area as f64 >= f * largest.area as f64;
    let kept: Vec<&Component> = inner
        .iter()
        .copied()
        .filter(|c| big_enough(c, SPECK_FRACTION))
        .collect();
    let bbox = kept.iter().fold(largest.bbox, |(a, b, c, d), k| {
        let (x0, y0, x1, y1) = k.bbox;
        (a.min(x0), b.min(y0), c.max(x1), d.max(y1))
    });
    Some(Selection {
        bbox,
        kept: kept.len(),
        specks: inner.len() - kept.len(),
        edge_marks: strong.len() - inner.len(),
        large_others: kept
            .iter()
            .filter(|c| big_enough(c, LARGE_FRACTION))
            .count()
            - 1,
        touches_edge: kept.iter().any(|c| c.edge > 0),
    })
}

impl Selection {
    /// One-line warnings when what is kept looks unlike one digit.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.large_others > 0 {
            out.push(format!(
                "{} separate large ink marks were kept together: more than one digit, or \
                 other marks on the paper? (crop the photo to one digit)",
                self.large_others + 1
            ));
        }
        if self.touches_edge {
            out.push(
                "the ink touches the image's edge: is part of the digit cut off? (leave a \
                 margin of paper around it)"
                    .to_string(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_background_is_its_own_estimate_and_a_gradient_is_followed() {
        let flat = vec![0.25; 100 * 70];
        assert!(background_map(&flat, 100, 70).iter().all(|&v| v == 0.25));
        // A left-to-right ramp over 640 pixels (8 cells of 80): the estimate
        // follows it within the ramp's change across a quarter cell.
        let (w, h) = (640, 40);
        let ramp: Vec<f64> = (0..w * h).map(|i| (i % w) as f64 / w as f64).collect();
        let est = background_map(&ramp, w, h);
        let worst = ramp
            .iter()
            .zip(&est)
            .skip(60)
            .take(w - 120)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 40.0 / w as f64, "{worst}");
    }

    #[test]
    fn otsu_splits_two_levels_between_them() {
        let mut v = vec![0.1; 300];
        v.extend(vec![0.8; 100]);
        let t = otsu(&v);
        assert!((level(0.1)..level(0.8)).contains(&t), "{t}");
        assert_eq!(otsu(&[0.5; 10]), 0);
    }

    #[test]
    fn specks_and_edge_marks_are_dropped_and_a_second_digit_warned_about() {
        let (w, h) = (60, 40);
        let mut ink = vec![0.0; w * h];
        let paint = |ink: &mut Vec<f64>, (x0, y0, x1, y1): PixelBox| {
            for y in y0..y1 {
                for x in x0..x1 {
                    ink[y * w + x] = 1.0;
                }
            }
        };
        paint(&mut ink, (20, 10, 30, 30)); // the digit: 200 pixels
        paint(&mut ink, (50, 5, 52, 6)); // a speck of 2 pixels (1 %)
        paint(&mut ink, (0, 0, 60, 1)); // a line along the top edge
        let comps = components(&ink, w, h, otsu(&ink));
        assert_eq!(comps.len(), 3);
        let s = select(&comps, w, h).expect("a digit");
        assert_eq!(
            (s.bbox, s.kept, s.specks, s.edge_marks),
            ((20, 10, 30, 30), 1, 1, 1)
        );
        assert!(s.warnings().is_empty());
        paint(&mut ink, (35, 10, 45, 39)); // a second large mark, touching no edge
        let comps = components(&ink, w, h, otsu(&ink));
        let s = select(&comps, w, h).expect("digits");
        assert_eq!((s.large_others, s.bbox), (1, (20, 10, 45, 39)));
        assert_eq!(s.warnings().len(), 1);
        paint(&mut ink, (35, 39, 36, 40)); // now it touches the bottom edge
        let comps = components(&ink, w, h, otsu(&ink));
        assert_eq!(select(&comps, w, h).expect("digits").warnings().len(), 2);
    }
}
