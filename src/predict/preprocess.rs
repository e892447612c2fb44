//! Turning any grey image into the 28×28 input an MNIST model expects, the way
//! MNIST itself was made (LeCun, Cortes & Burges, "The MNIST database": the
//! NIST digits were size-normalised to fit a 20×20 box keeping their aspect
//! ratio, anti-aliased, then centred in 28×28 by their centre of mass).
//!
//! Every step is plain arithmetic on `f64` written out here (no library
//! resampler), so that `parity/predict.py` reproduces it in numpy to ~1e-15;
//! `notes/image-predict.md` states the algorithm in words.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::decode::GreyImage;
use super::ink::{self, PixelBox, WORK_SIDE};

/// Side of the model's input, in pixels.
pub const SIDE: usize = 28;

/// Side of the box a digit is scaled to fit, in pixels (MNIST's 20×20).
pub(crate) const DIGIT_BOX: usize = 20;

/// Ink threshold: after inversion and background subtraction, a pixel is ink
/// when its grey level exceeds the background's by more than this (grey levels
/// in [0, 1]; 0.1 ≈ 26 of 255), above the noise of a JPEG at quality 90.
pub const INK_THRESHOLD: f64 = 0.1;

/// A background whose grey level is above this (0.5) is light, and the image
/// is inverted so that the ink becomes light on dark, as in MNIST.
pub(crate) const LIGHT_BACKGROUND: f64 = 0.5;

/// Tolerance added before rounding the centring shift, so that an exact tie
/// (a shift of k + 0.5) rounds up in Rust and numpy alike although their sums
/// differ in the last bits.
const TIE_EPSILON: f64 = 1e-9;

/// How an image is turned into the model's 28×28 input (`--preprocess`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// MNIST's construction: grey, alpha composited onto the background,
    /// inverted when the background is light, background levelled, cropped
    /// to the digit's ink (Otsu's threshold, specks and edge marks dropped,
    /// large images analysed at 512 px: see [`super::ink`]), scaled to fit 20×20 keeping the aspect ratio (area
    /// averaging), contrast stretched so the strongest ink is 1, and placed in
    /// 28×28 with its centre of mass on pixel (14, 14). For handwritten digits.
    #[default]
    Digit,
    /// Grey, alpha composited, inverted when the background is light, then the
    /// whole image resized to 28×28 (area averaging; the aspect ratio is not
    /// kept, as torchvision's `Resize((28, 28))`). For Fashion-MNIST-like pictures.
    Resize,
    /// Grey levels only (alpha composited); the image must already be 28×28.
    None,
}

impl std::fmt::Display for Preprocess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Preprocess::Digit => "digit",
            Preprocess::Resize => "resize",
            Preprocess::None => "none",
        })
    }
}

/// A preprocessed image: the model's input and what was decided on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `SIDE * SIDE` = 784 values in [0, 1], row-major, light ink on black.
    pub pixels: Vec<f32>,
    /// `digit` only: the box cropped, in the decoded image's pixels
    /// `(x0, y0, x1, y1)`, exclusive ends (scaled back from the working copy).
    pub crop: Option<PixelBox>,
    /// One-line warnings (the ink looks unlike one digit) and notes.
    pub warnings: Vec<String>,
}

/// Preprocesses `image` as `mode` says into `SIDE * SIDE` = 784 values in
/// [0, 1], row-major, light ink on black (the layout of one `[1, 28, 28]`
/// MNIST input before normalisation). See [`preprocess_image`].
///
/// # Errors
/// Those of [`preprocess_image`].
pub fn preprocess(image: &GreyImage, mode: Preprocess) -> Result<Vec<f32>> {
    Ok(preprocess_image(image, mode)?.pixels)
}

/// Preprocesses `image` as `mode` says, keeping the crop box and warnings.
///
/// # Errors
/// `digit`: "no ink found" when no pixel differs from the background by more
/// than [`INK_THRESHOLD`] (a blank image), or all the ink runs along the
/// image's edge. `none`: the image is not 28×28. Messages do not name the
/// file; callers add it.
pub fn preprocess_image(image: &GreyImage, mode: Preprocess) -> Result<Prepared> {
    let grey = composite(image);
    let (w, h) = (image.width, image.height);
    let (out, crop, warnings) = match mode {
        Preprocess::Digit => {
            let (out, bbox, warnings) = digit(grey, w, h)?;
            (out, Some(bbox), warnings)
        }
        Preprocess::Resize => {
            let (light, _) = orient(grey, w, h);
            (resample(&light, (w, h), (SIDE, SIDE)), None, Vec::new())
        }
        Preprocess::None => {
            if (w, h) != (SIDE, SIDE) {
                bail!(
                    "the image is {w}×{h} pixels but --preprocess none needs {SIDE}×{SIDE} \
                     (use --preprocess digit or resize to scale it)"
                );
            }
            (grey, None, Vec::new())
        }
    };
    Ok(Prepared {
        pixels: out.into_iter().map(|v| v as f32).collect(),
        crop,
        warnings,
    })
}

/// Composites an image with alpha onto its backdrop: `a·g + (1 − a)·backdrop`.
///
/// The backdrop is the image's own background: when the border is mostly
/// transparent (lower median of the border's alpha < 0.5), a colour that
/// contrasts with the ink, white when the ink (lower median grey of the pixels
/// with alpha > 0) is dark (< 0.5), else black; otherwise the lower median grey
/// of the border pixels with alpha ≥ 0.5.
pub fn composite(image: &GreyImage) -> Vec<f64> {
    let Some(alpha) = &image.alpha else {
        return image.grey.clone();
    };
    let (w, h) = (image.width, image.height);
    let border = border_indices(w, h);
    let transparent = lower_median(border.iter().map(|&i| alpha[i]).collect()) < 0.5;
    let backdrop = if transparent {
        let ink: Vec<f64> = (0..image.grey.len())
            .filter(|&i| alpha[i] > 0.0)
            .map(|i| image.grey[i])
            .collect();
        if !ink.is_empty() && lower_median(ink) >= 0.5 {
            0.0
        } else {
            1.0
        }
    } else {
        lower_median(
            border
                .iter()
                .filter(|&&i| alpha[i] >= 0.5)
                .map(|&i| image.grey[i])
                .collect(),
        )
    };
    image
        .grey
        .iter()
        .zip(alpha)
        .map(|(&g, &a)| a * g + (1.0 - a) * backdrop)
        .collect()
}

/// The background's grey level: the lower median (sorted value at index
/// `(n − 1) / 2`) of the border pixels (first and last row and column, each
/// pixel once).
pub fn background(grey: &[f64], w: usize, h: usize) -> f64 {
    lower_median(border_indices(w, h).iter().map(|&i| grey[i]).collect())
}

/// Inverts (`1 − g`) when the background is light; returns the image and its
/// background level afterwards.
fn orient(mut grey: Vec<f64>, w: usize, h: usize) -> (Vec<f64>, f64) {
    let bg = background(&grey, w, h);
    if bg > LIGHT_BACKGROUND {
        grey.iter_mut().for_each(|g| *g = 1.0 - *g);
        (grey, 1.0 - bg)
    } else {
        (grey, bg)
    }
}

/// The working copy of a `w × h` image: itself when its longer side is at
/// most [`WORK_SIDE`], else area-averaged to [`fit_size`]`(w, h, WORK_SIDE)`.
pub(crate) fn working_copy(grey: Vec<f64>, w: usize, h: usize) -> (Vec<f64>, usize, usize) {
    if w.max(h) <= WORK_SIDE {
        return (grey, w, h);
    }
    let (ww, wh) = fit_size(w, h, WORK_SIDE);
    (resample(&grey, (w, h), (ww, wh)), ww, wh)
}

/// The `digit` steps after compositing: the input, the crop box in the
/// image's pixels, and the warnings.
fn digit(grey: Vec<f64>, w: usize, h: usize) -> Result<(Vec<f64>, PixelBox, Vec<String>)> {
    let (work, ww, wh) = working_copy(grey, w, h);
    let (light, bg) = orient(work, ww, wh);
    let ink: Vec<f64> = light
        .iter()
        .zip(ink::background_map(&light, ww, wh))
        .map(|(&g, b)| g - b)
        .collect();
    let comps = ink::components(&ink, ww, wh, ink::otsu(&ink));
    if comps.is_empty() {
        bail!(
            "no ink found: no pixel differs from the background (grey level {bg:.3} after \
             inversion) by more than {INK_THRESHOLD} (a blank image?)"
        );
    }
    let Some(sel) = ink::select(&comps, ww, wh) else {
        bail!(
            "no digit found: the only ink runs along the image's edge (a frame, the \
             paper's edge?); crop the image to the digit"
        );
    };
    let (crop, cw, ch) = crop_stretched(&ink, ww, sel.bbox);
    let size = fit_size(cw, ch, DIGIT_BOX);
    let scaled = resample(&crop, (cw, ch), size);
    let (x0, y0, x1, y1) = sel.bbox;
    let back = |v: usize, full: usize, work: usize| v * full / work;
    let bbox = (
        back(x0, w, ww),
        back(y0, h, wh),
        back(x1, w, ww).max(back(x0, w, ww) + 1),
        back(y1, h, wh).max(back(y0, h, wh) + 1),
    );
    Ok((place_by_mass(&scaled, size), bbox, sel.warnings()))
}

/// The box's pixels, negatives clipped to 0 and divided by the box's maximum
/// (so the strongest ink is 1), with the box's width and height.
fn crop_stretched(
    values: &[f64],
    w: usize,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> (Vec<f64>, usize, usize) {
    let crop: Vec<f64> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| values[y * w + x].max(0.0)))
        .collect();
    let max = crop.iter().copied().fold(0.0, f64::max);
    (crop.iter().map(|v| v / max).collect(), x1 - x0, y1 - y0)
}

/// The size that fits `w × h` in a `side × side` box keeping the aspect ratio:
/// the longer side becomes `side`, the shorter `round(short · side / long)`
/// (halves rounded up, computed in integers), at least 1.
pub fn fit_size(w: usize, h: usize, side: usize) -> (usize, usize) {
    let scaled = |short: usize, long: usize| ((2 * side * short + long) / (2 * long)).max(1);
    if w >= h {
        (side, scaled(h, w))
    } else {
        (scaled(w, h), side)
    }
}

/// Area-averaging resampling ("box" filter with exact pixel overlaps; the
/// anti-aliasing of a downscale, a linear-like blend when upscaling): output
/// pixel `i` of `n` covers source span `[i·m/n, (i+1)·m/n)` of the `m` source
/// pixels and is the overlap-weighted mean of the source pixels it covers.
/// Rows first, then columns; `src` is row-major `from.0 × from.1`.
pub(crate) fn resample(src: &[f64], from: (usize, usize), to: (usize, usize)) -> Vec<f64> {
    let ((w, h), (nw, nh)) = (from, to);
    let wx = overlap_weights(w, nw);
    let wy = overlap_weights(h, nh);
    let mut rows = vec![0.0; h * nw];
    for y in 0..h {
        for (i, taps) in wx.iter().enumerate() {
            rows[y * nw + i] = taps.iter().map(|&(k, wt)| src[y * w + k] * wt).sum();
        }
    }
    let mut out = vec![0.0; nh * nw];
    for (j, taps) in wy.iter().enumerate() {
        for x in 0..nw {
            out[j * nw + x] = taps.iter().map(|&(k, wt)| rows[k * nw + x] * wt).sum();
        }
    }
    out
}

/// For each of `n` output pixels, the `(source index, weight)` pairs of the
/// `m` source pixels it overlaps; weights are integer overlaps (in units of
/// `1/n` source pixel) divided by `m`, and sum to 1.
fn overlap_weights(m: usize, n: usize) -> Vec<Vec<(usize, f64)>> {
    (0..n)
        .map(|i| {
            let (lo, hi) = (i * m, (i + 1) * m);
            (lo / n..hi.div_ceil(n))
                .filter_map(|k| {
                    let overlap = hi.min((k + 1) * n).saturating_sub(lo.max(k * n));
                    (overlap > 0).then(|| (k, overlap as f64 / m as f64))
                })
                .collect()
        })
        .collect()
}

/// Places a `size` image (≤ 28×28) in a black 28×28 so that its centre of mass
/// lands on pixel (14, 14), as in MNIST: the centre of mass in pixel indices,
/// `c = Σ x·v / Σ v` (summed row by row), gives the offset
/// `floor(14 − c + 0.5 + 1e-9)` per axis (round half up), clamped to
/// `[0, 28 − side]` so no ink leaves the frame. (Every MNIST training digit has
/// its centre of mass within half a pixel of index 14 on both axes.)
pub(crate) fn place_by_mass(img: &[f64], (w, h): (usize, usize)) -> Vec<f64> {
    let (mut total, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let v = img[y * w + x];
            total += v;
            sx += v * x as f64;
            sy += v * y as f64;
        }
    }
    let centre = (SIDE / 2) as f64;
    let offset = |sum: f64, len: usize| -> usize {
        let mass = if total > 0.0 {
            sum / total
        } else {
            (len - 1) as f64 / 2.0
        };
        let shift = (centre - mass + 0.5 + TIE_EPSILON).floor();
        shift.clamp(0.0, (SIDE - len) as f64) as usize
    };
    let (ox, oy) = (offset(sx, w), offset(sy, h));
    let mut out = vec![0.0; SIDE * SIDE];
    for y in 0..h {
        for x in 0..w {
            out[(oy + y) * SIDE + ox + x] = img[y * w + x];
        }
    }
    out
}

/// Indices of the border pixels of a `w × h` image, each once.
fn border_indices(w: usize, h: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..w).collect();
    if h > 1 {
        idx.extend((0..w).map(|x| (h - 1) * w + x));
    }
    for y in 1..h.saturating_sub(1) {
        idx.push(y * w);
        if w > 1 {
            idx.push(y * w + w - 1);
        }
    }
    idx
}

/// The sorted value at index `(n − 1) / 2` (no averaging, so it is one of
/// the values exactly); 0 for an empty list.
fn lower_median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, f: impl Fn(usize, usize) -> f64) -> GreyImage {
        let grey = (0..w * h).map(|i| f(i % w, i / w)).collect();
        GreyImage::opaque(w, h, grey).expect("valid")
    }

    #[test]
    fn resampling_to_the_same_size_is_the_identity_and_keeps_the_mean() {
        let src: Vec<f64> = (0..35).map(|i| (i * 7 % 11) as f64 / 10.0).collect();
        assert_eq!(resample(&src, (7, 5), (7, 5)), src);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        for to in [(3, 2), (20, 13), (1, 1)] {
            let out = resample(&src, (7, 5), to);
            assert!((mean(&out) - mean(&src)).abs() < 1e-12, "{to:?}");
        }
        // 4 → 2 averages pairs; 2 → 3 blends the middle pixel.
        assert_eq!(resample(&[0.0, 1.0, 1.0, 1.0], (4, 1), (2, 1)), [0.5, 1.0]);
        let up = resample(&[0.0, 1.0], (2, 1), (3, 1));
        assert!((up[1] - 0.5).abs() < 1e-15 && up[0] == 0.0 && up[2] == 1.0);
    }

    #[test]
    fn fit_size_keeps_the_aspect_ratio_with_halves_rounded_up() {
        assert_eq!(fit_size(60, 30, 20), (20, 10));
        assert_eq!(fit_size(30, 60, 20), (10, 20));
        assert_eq!(fit_size(40, 1, 20), (20, 1));
        assert_eq!(fit_size(8, 5, 20), (20, 13)); // 12.5 rounds up
        assert_eq!(fit_size(3, 3, 20), (20, 20));
    }

    #[test]
    fn the_centre_of_mass_lands_on_pixel_14() {
        // One bright pixel at (9, 12) of a 20×20 image: offsets 14 − 9 = 5
        // and 14 − 12 = 2 put it on (14, 14).
        let mut img = vec![0.0; 400];
        img[12 * 20 + 9] = 1.0;
        let at = |out: Vec<f64>| {
            let i = out.iter().position(|&v| v == 1.0).expect("placed");
            (i % SIDE, i / SIDE)
        };
        assert_eq!(at(place_by_mass(&img, (20, 20))), (14, 14));
        // At (3, 1) the offsets 11 and 13 are clamped to 28 − 20 = 8.
        let mut img = vec![0.0; 400];
        img[20 + 3] = 1.0;
        assert_eq!(at(place_by_mass(&img, (20, 20))), (3 + 8, 1 + 8));
        // A 4×3 blob: mass (1.5, 1.0); x offset floor(14 − 1.5 + 0.5) = 13
        // (the tie rounds up), y offset 13.
        assert_eq!(at(place_by_mass(&[1.0; 12], (4, 3))), (13, 13));
    }

    #[test]
    fn black_ink_on_white_becomes_a_centred_light_digit() {
        // A 10×40 black bar at (50, 20) on a 100×80 white canvas.
        let img = image(100, 80, |x, y| {
            if (50..60).contains(&x) && (20..60).contains(&y) {
                0.0
            } else {
                1.0
            }
        });
        let out = preprocess(&img, Preprocess::Digit).expect("ink");
        assert_eq!(out.len(), 784);
        let lit: Vec<usize> = (0..784).filter(|&i| out[i] > 0.0).collect();
        // 10×40 fits 20×20 as 5×20; mass (2, 9.5) → offsets 12 and 5 (9.5 rounds up
        // to 10 in floor(14 − 9.5 + 0.5)): columns 12..17, rows 5..25.
        assert_eq!(lit.len(), 5 * 20);
        assert!(lit
            .iter()
            .all(|&i| (12..17).contains(&(i % 28)) && (5..25).contains(&(i / 28))));
        assert!(lit.iter().all(|&i| out[i] == 1.0));
    }

    #[test]
    fn blank_images_have_no_ink_and_none_checks_the_size() {
        let blank = image(30, 30, |x, _| 0.9 + 0.01 * (x % 3) as f64);
        let err = preprocess(&blank, Preprocess::Digit)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no ink found"), "{err}");
        let err = preprocess(&blank, Preprocess::None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("30×30") && err.contains("needs 28×28"),
            "{err}"
        );
        let ok = image(28, 28, |x, _| x as f64 / 27.0);
        let out = preprocess(&ok, Preprocess::None).expect("28×28");
        assert_eq!(out[27], 1.0);
        // resize inverts the light background.
        let out = preprocess(&blank, Preprocess::Resize).expect("any size");
        assert!(out.iter().all(|&v| v < 0.11));
    }

    #[test]
    fn a_transparent_background_takes_the_colour_that_contrasts_with_the_ink() {
        // Black ink, opaque in the middle, on transparent black.
        let mut img = image(9, 9, |_, _| 0.0);
        img.alpha = Some((0..81).map(|i| if i == 40 { 1.0 } else { 0.0 }).collect());
        let grey = composite(&img);
        assert_eq!(grey[40], 0.0);
        assert_eq!(grey[0], 1.0);
        // White ink on transparent white: composited onto black.
        let mut img = image(9, 9, |_, _| 1.0);
        img.alpha = Some((0..81).map(|i| if i == 40 { 0.6 } else { 0.0 }).collect());
        let grey = composite(&img);
        assert_eq!((grey[0], grey[40]), (0.0, 0.6));
        // An opaque grey border is the backdrop of a semi-transparent centre.
        let mut img = image(3, 3, |_, _| 0.4);
        img.grey[4] = 0.0;
        img.alpha = Some((0..9).map(|i| if i == 4 { 0.5 } else { 1.0 }).collect());
        assert_eq!(composite(&img)[4], 0.2);
    }
}
