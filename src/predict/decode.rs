//! Image files to grey levels: decoding through the `image` crate (PNG 1–16
//! bit grey/RGB/RGBA/palette, JPEG, BMP, GIF, TIFF, PBM/PGM/PPM), with the
//! format recognised by its content, the size checked in the header before any
//! pixel is decoded, EXIF orientation applied, and colour reduced to ITU-R
//! BT.601 luma.
//!
//! `parity/predict.py::read_grey` is the Pillow twin of [`read_image`]: both
//! produce the same `f64` values bit for bit (same integer formula, one
//! correctly rounded division), except for 16-bit colour and 16-bit alpha,
//! which Pillow reduces to 8 bits.

use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Largest image accepted, in pixels (width × height from the file's header):
/// 50 megapixels. Larger headers are refused before decoding, so a small file
/// claiming a huge size (a "decompression bomb") costs nothing.
pub const MAX_PIXELS: u64 = 50_000_000;

/// The formats this build decodes, as error messages name them.
pub(crate) const SUPPORTED_FORMATS: &str = "PNG, JPEG, BMP, GIF, TIFF or PBM/PGM/PPM";

/// Bytes the decoder may allocate (the decoded image included): 1 GiB, enough
/// for [`MAX_PIXELS`] of 16-bit RGBA.
const MAX_ALLOC: u64 = 1 << 30;

/// A decoded image as grey levels, row-major (`index = y * width + x`).
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    /// Columns, in pixels (≥ 1).
    pub width: usize,
    /// Rows, in pixels (≥ 1).
    pub height: usize,
    /// `width * height` grey levels in [0, 1]: 0 black, 1 white. Colour is
    /// reduced with ITU-R BT.601 luma, `Y = 0.299 R + 0.587 G + 0.114 B`,
    /// computed on the integer samples as `(299 R + 587 G + 114 B) / (1000 · max)`
    /// (`max` = 255 or 65535) with a single division; grey samples are `v / max`.
    pub grey: Vec<f64>,
    /// `width * height` opacities in [0, 1] (0 transparent), or `None` when the
    /// image has no alpha channel or is opaque everywhere.
    pub alpha: Option<Vec<f64>>,
    /// What decoding decided that a reader should know (one line each), e.g.
    /// "animated GIF: used the first of 12 frames".
    pub notes: Vec<String>,
}

impl GreyImage {
    /// An opaque image from grey levels in [0, 1], row-major.
    ///
    /// # Errors
    /// If `grey.len() != width * height` or a side is 0.
    pub fn opaque(width: usize, height: usize, grey: Vec<f64>) -> Result<Self> {
        if width == 0 || height == 0 || grey.len() != width * height {
            bail!(
                "a {width}×{height} image needs {} grey levels, got {}",
                width * height,
                grey.len()
            );
        }
        Ok(Self {
            width,
            height,
            grey,
            alpha: None,
            notes: Vec::new(),
        })
    }
}

/// Reads and decodes the image file `path` (see [`decode_bytes`]).
///
/// # Errors
/// The file cannot be read, or any error of [`decode_bytes`]; every message
/// names the file.
pub fn read_image(path: &Path) -> Result<GreyImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{}: cannot read the file", path.display()))?;
    decode_bytes(&bytes, path)
}

/// Decodes an image file's bytes; `path` only names the file in messages.
///
/// The format is recognised by the file's first bytes (its signature), not
/// its extension. The first frame of an animated GIF or the first page of a
/// TIFF is taken. EXIF orientation (JPEG, TIFF) is applied, as a photo viewer
/// would.
///
/// # Errors
/// - `unsupported format`: the content matches no supported signature (a text
///   file renamed `.png`), or is a format this build lacks (WebP, ICO...);
/// - `larger than 50 megapixels`: the header claims more than [`MAX_PIXELS`];
/// - `corrupt or truncated`: the decoder fails on the data.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<GreyImage> {
    let name = path.display();
    let format = detect_format(bytes, path)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    let corrupt =
        || format!("{name}: cannot decode this {format:?} image (corrupt or truncated file?)");
    let mut decoder = reader.into_decoder().with_context(corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        bail!(
            "{name}: the image is {width}×{height} pixels ({:.1} megapixels), larger than \
             the 50 megapixels accepted; scale it down first",
            pixels as f64 / 1e6
        );
    }
    if pixels == 0 {
        bail!("{name}: the image is {width}×{height} pixels (empty)");
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    decoder.set_limits(limits).with_context(corrupt)?;
    let orientation = decoder.orientation().with_context(corrupt)?;
    let mut image = DynamicImage::from_decoder(decoder).with_context(corrupt)?;
    image.apply_orientation(orientation);
    let mut grey = to_grey(&image);
    if format == ImageFormat::Gif {
        let frames = gif_frames(bytes).with_context(corrupt)?;
        if frames > 1 {
            grey.notes.push(format!(
                "animated GIF: used the first of its {frames} frames"
            ));
        }
    }
    Ok(grey)
}

/// The number of frames of a GIF, read without decoding their pixels.
fn gif_frames(bytes: &[u8]) -> Result<usize> {
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(Cursor::new(bytes))?;
    let mut frames = 0;
    while decoder.read_next_frame()?.is_some() {
        frames += 1;
    }
    Ok(frames)
}

/// HEIF brands (ISO/IEC 23008-12): HEIC from iPhones and other cameras.
/// AVIF (`avif`, `avis`) is recognised by the `image` crate itself.
const HEIF_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
];

/// Whether `bytes` start like an HEIF/HEIC file: an ISO-BMFF `ftyp` box
/// whose major brand is one of [`HEIF_BRANDS`].
fn is_heif(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && HEIF_BRANDS.iter().any(|b| &bytes[8..12] == *b)
}

/// Formats decoded by this build (the `image` crate's features in Cargo.toml).
fn supported(format: ImageFormat) -> bool {
    matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::Tiff
            | ImageFormat::Pnm
    )
}

fn detect_format(bytes: &[u8], path: &Path) -> Result<ImageFormat> {
    let name = path.display();
    if is_heif(bytes) {
        bail!(
            "{name}: unsupported format HEIC/HEIF (the iPhone's photo format; no HEIC decoder \
             is bundled, supported: {SUPPORTED_FORMATS}); convert it to JPEG or PNG (on an \
             iPhone: Settings > Camera > Formats > Most Compatible; on a Mac: Preview > Export)"
        );
    }
    match image::guess_format(bytes) {
        Ok(format) if supported(format) => Ok(format),
        Ok(format) => bail!(
            "{name}: unsupported format {format:?} (supported: {SUPPORTED_FORMATS}); \
             convert it to PNG"
        ),
        Err(_) => {
            let named = ImageFormat::from_path(path)
                .map(|f| format!(" although it is named as {f:?}"))
                .unwrap_or_default();
            bail!(
                "{name}: unsupported format: the content is not a {SUPPORTED_FORMATS} \
                 image{named} (another kind of file, or an empty or damaged one?)"
            )
        }
    }
}

/// Reduces any decoded image to grey levels and opacity (see [`GreyImage`]).
pub(crate) fn to_grey(image: &DynamicImage) -> GreyImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (grey, alpha) = match image {
        DynamicImage::ImageLuma8(b) => from_ints(b.as_raw(), 1, 255),
        DynamicImage::ImageLumaA8(b) => from_ints(b.as_raw(), 2, 255),
        DynamicImage::ImageRgb8(b) => from_ints(b.as_raw(), 3, 255),
        DynamicImage::ImageRgba8(b) => from_ints(b.as_raw(), 4, 255),
        DynamicImage::ImageLuma16(b) => from_ints(b.as_raw(), 1, 65535),
        DynamicImage::ImageLumaA16(b) => from_ints(b.as_raw(), 2, 65535),
        DynamicImage::ImageRgb16(b) => from_ints(b.as_raw(), 3, 65535),
        DynamicImage::ImageRgba16(b) => from_ints(b.as_raw(), 4, 65535),
        other => from_floats(other.to_rgba32f().as_raw()),
    };
    let alpha = alpha.filter(|a| a.iter().any(|&v| v < 1.0));
    GreyImage {
        width,
        height,
        grey,
        alpha,
        notes: Vec::new(),
    }
}

/// Integer samples with `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB,
/// 4 RGBA) and full scale `max`.
fn from_ints<T: Copy + Into<u64>>(
    samples: &[T],
    channels: usize,
    max: u64,
) -> (Vec<f64>, Option<Vec<f64>>) {
    let full = max as f64;
    let luma_full = (1000 * max) as f64;
    let grey = samples
        .chunks_exact(channels)
        .map(|px| {
            if channels < 3 {
                px[0].into() as f64 / full
            } else {
                (299 * px[0].into() + 587 * px[1].into() + 114 * px[2].into()) as f64 / luma_full
            }
        })
        .collect();
    let alpha = channels.is_multiple_of(2).then(|| {
        samples
            .chunks_exact(channels)
            .map(|px| px[channels - 1].into() as f64 / full)
            .collect()
    });
    (grey, alpha)
}

/// Float RGBA samples (HDR TIFF), clamped to [0, 1].
fn from_floats(samples: &[f32]) -> (Vec<f64>, Option<Vec<f64>>) {
    let clamp = |v: f32| f64::from(v).clamp(0.0, 1.0);
    let grey = samples
        .chunks_exact(4)
        .map(|px| {
            (0.299 * clamp(px[0]) + 0.587 * clamp(px[1]) + 0.114 * clamp(px[2])).clamp(0.0, 1.0)
        })
        .collect();
    let alpha = samples.chunks_exact(4).map(|px| clamp(px[3])).collect();
    (grey, Some(alpha))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage, Rgba, RgbaImage};

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encodes");
        out.into_inner()
    }

    #[test]
    fn rgb_becomes_bt601_luma_with_one_division() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([10, 200, 30])));
        let g = to_grey(&img);
        let want = (299.0 * 10.0 + 587.0 * 200.0 + 114.0 * 30.0) / 255000.0;
        assert_eq!(g.grey, vec![want]);
        assert_eq!(g.alpha, None);
        // Grey pixels as RGB give exactly the grey value.
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([77, 77, 77])));
        assert_eq!(to_grey(&img).grey, vec![77.0 / 255.0]);
    }

    #[test]
    fn opaque_alpha_is_dropped_and_real_alpha_kept() {
        let opaque = DynamicImage::ImageRgba8(RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 255])));
        assert_eq!(to_grey(&opaque).alpha, None);
        let mut img = RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 255]));
        img.put_pixel(1, 0, Rgba([0, 0, 0, 51]));
        let g = to_grey(&DynamicImage::ImageRgba8(img));
        assert_eq!(g.alpha, Some(vec![1.0, 0.2]));
    }

    #[test]
    fn every_lossless_format_decodes_to_the_same_grey_levels() {
        let grey = GrayImage::from_fn(5, 3, |x, y| image::Luma([(x * 50 + y * 7) as u8]));
        let img = DynamicImage::ImageLuma8(grey);
        let want = to_grey(&img);
        for format in [
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::Pnm,
        ] {
            let bytes = encode(&img, format);
            let got = decode_bytes(&bytes, Path::new("x")).expect("decodes");
            assert_eq!(got.grey, want.grey, "{format:?}");
        }
    }

    #[test]
    fn refusals_name_the_file_and_the_reason() {
        let p = Path::new("dir/mine.png");
        let err = format!("{:#}", decode_bytes(b"hello, world", p).unwrap_err());
        assert!(err.contains("dir/mine.png: unsupported format"), "{err}");
        assert!(err.contains("named as Png"), "{err}");
        let webp = b"RIFF\x10\x00\x00\x00WEBPVP8 ";
        let err = format!("{:#}", decode_bytes(webp, p).unwrap_err());
        assert!(err.contains("unsupported format WebP"), "{err}");
        let png = encode(
            &DynamicImage::ImageLuma8(GrayImage::new(30, 30)),
            ImageFormat::Png,
        );
        let err = format!("{:#}", decode_bytes(&png[..png.len() / 2], p).unwrap_err());
        assert!(err.contains("corrupt or truncated"), "{err}");
    }
}
