//! Predicting on image files (issue 11): 100 MNIST test digits are written at
//! test time as files of every supported kind (black ink on white at 3× off
//! centre, RGB, RGBA on transparent, 16-bit grey, JPEG q90, PGM, palette PNG,
//! BMP, GIF, TIFF, PPM); a CNN trained here classifies them like the original
//! 28×28 images; `parity/predict.py` (Pillow + numpy + PyTorch, run at test
//! time) preprocesses and classifies the same files alike; bad inputs are
//! refused with messages naming the file.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::imageops::{self, FilterType};
use image::{
    DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage,
};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::checkpoint;
use tchport::data::mnist::{self, MNIST_MEAN_STD};
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::{OptimConfig, OptimizerKind};
use tchport::predict::{self, ModelInfo, PredictConfig, Preprocess};
use tchport::train::Loss;

/// Test digits written as files.
const N: usize = 100;

/// Training images of the test CNN.
const TRAIN: usize = 8000;

/// The first 100 MNIST test images as bytes (ink 255 on 0) and their labels.
fn test_digits() -> (Vec<[u8; 784]>, Vec<i64>) {
    let set = mnist::load_dir(&common::repo_root().join("data/mnist"))
        .expect("MNIST ships with the repo")
        .test
        .take(Some(N), "--test-limit")
        .expect("100 test images");
    let bytes = Vec::<f32>::try_from(set.float_images().flatten(0, -1)).expect("float pixels");
    let images = bytes
        .chunks(784)
        .map(|c| {
            let mut px = [0u8; 784];
            for (p, v) in px.iter_mut().zip(c) {
                *p = (v * 255.0).round() as u8;
            }
            px
        })
        .collect();
    (images, set.labels.try_into().expect("int64 labels"))
}

/// A checkpoint (and its config.json, with `normalize: true`) of a CNN trained
/// once per test run: Adam, 2 epochs over the first 8000 training images.
fn trained_checkpoint() -> &'static Path {
    static CKPT: OnceLock<PathBuf> = OnceLock::new();
    CKPT.get_or_init(|| {
        let dir = common::scratch("predict-model");
        let path = dir.join("model.safetensors");
        let start = std::time::Instant::now();
        let set = mnist::load_dir(&common::repo_root().join("data/mnist"))
            .expect("MNIST ships with the repo")
            .train
            .take(Some(TRAIN), "--train-limit")
            .expect("enough images");
        let (mean, std) = MNIST_MEAN_STD;
        let (xs, ys) = ((set.float_images() - mean) / std, set.labels);
        let (vs, model) = fresh_model(1);
        let adam = OptimConfig {
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            ..OptimConfig::default()
        };
        let mut opt = adam.build(&vs).expect("valid Adam");
        for _epoch in 0..2 {
            for s in 0..(TRAIN as i64 / 64) {
                let (bx, by) = (xs.narrow(0, s * 64, 64), ys.narrow(0, s * 64, 64));
                opt.zero_grad();
                Loss::CrossEntropy
                    .compute(&model.forward_t(&bx, true), &by)
                    .backward();
                opt.step();
            }
        }
        let config = serde_json::json!({
            "model": {"logit_relu": false, "num_classes": 10},
            "normalize": true,
        });
        checkpoint::save_with_config(&vs, &path, &config).expect("checkpoint saved");
        println!(
            "trained the test CNN in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        path
    })
}

fn fresh_model(seed: i64) -> (nn::VarStore, Cnn) {
    let _lock = common::rng_lock();
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = CnnConfig {
        logit_relu: false,
        num_classes: 10,
    };
    let model = Cnn::new(&vs.root(), &cfg);
    (vs, model)
}

fn load_model(path: &Path) -> (nn::VarStore, Cnn) {
    let (mut vs, model) = fresh_model(0);
    checkpoint::load(&mut vs, path).expect("the test checkpoint loads");
    (vs, model)
}

const INFO: ModelInfo = ModelInfo {
    num_classes: 10,
    normalize: Some(MNIST_MEAN_STD),
    device: Device::Cpu,
};

/// Classes predicted for `[n, 1, 28, 28]` inputs in [0, 1].
fn classes(model: &Cnn, images: &Tensor) -> Vec<i64> {
    let inputs = predict::normalize(images, INFO.normalize);
    predict::classify(model, &inputs, 64, Device::Cpu)
        .iter()
        .map(|p| p.class)
        .collect()
}

// ------------------------------------------------------------------ writing files

/// The file kinds the tests write.
#[derive(Debug, Clone, Copy)]
enum FileKind {
    /// Black ink on white, 3× size, off centre on a 150×120 canvas, 8-bit grey PNG.
    Canvas3x,
    /// Dark blue ink on cream paper, 2×, RGB PNG.
    RgbPng,
    /// Black ink, opacity = ink, on a transparent background, 3×, RGBA PNG.
    RgbaTransparent,
    /// Light ink on black at 28×28, 16-bit grey PNG.
    Grey16,
    /// Black ink on white, 3× on a canvas, grey JPEG at quality 90.
    Jpeg90,
    /// Black ink on white, 2×, binary PGM (P5).
    Pgm,
    /// Black ink on white, 2×, 8-bit palette PNG (256 grey entries).
    PalettePng,
    /// Green ink on white, 3×, 24-bit BMP.
    Bmp,
    /// Black ink on white, 2×, GIF.
    Gif,
    /// Light ink on black, 1×, grey TIFF.
    Tiff,
    /// Red ink on white, 3×, binary PPM (P6).
    Ppm,
}

const KINDS: [FileKind; 11] = [
    FileKind::Canvas3x,
    FileKind::RgbPng,
    FileKind::RgbaTransparent,
    FileKind::Grey16,
    FileKind::Jpeg90,
    FileKind::Pgm,
    FileKind::PalettePng,
    FileKind::Bmp,
    FileKind::Gif,
    FileKind::Tiff,
    FileKind::Ppm,
];

impl FileKind {
    fn ext(self) -> &'static str {
        match self {
            FileKind::Canvas3x | FileKind::RgbPng | FileKind::RgbaTransparent => "png",
            FileKind::Grey16 | FileKind::PalettePng => "png",
            FileKind::Jpeg90 => "jpg",
            FileKind::Pgm => "pgm",
            FileKind::Bmp => "bmp",
            FileKind::Gif => "gif",
            FileKind::Tiff => "tif",
            FileKind::Ppm => "ppm",
        }
    }
}

/// Ink intensity (0..255) of a digit scaled `factor`× with a triangle filter.
fn ink(px: &[u8; 784], factor: u32) -> GrayImage {
    let img = GrayImage::from_raw(28, 28, px.to_vec()).expect("28×28");
    if factor == 1 {
        img
    } else {
        imageops::resize(&img, 28 * factor, 28 * factor, FilterType::Triangle)
    }
}

/// `ink` placed at `at` on a black canvas of `size`.
fn on_canvas(ink: &GrayImage, size: (u32, u32), at: (i64, i64)) -> GrayImage {
    let mut canvas = GrayImage::new(size.0, size.1);
    imageops::overlay(&mut canvas, ink, at.0, at.1);
    canvas
}

fn inverted(img: &GrayImage) -> GrayImage {
    let mut out = img.clone();
    imageops::invert(&mut out);
    out
}

/// Ink of colour `ink` on `paper`, blended by intensity.
fn coloured(img: &GrayImage, ink: [u8; 3], paper: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let t = f64::from(img.get_pixel(x, y)[0]) / 255.0;
        let mix =
            |c: usize| (f64::from(paper[c]) * (1.0 - t) + f64::from(ink[c]) * t).round() as u8;
        Rgb([mix(0), mix(1), mix(2)])
    })
}

/// Writes digit `i` as a file of `kind` in `dir`; returns its path.
fn write_file(kind: FileKind, i: usize, px: &[u8; 784], dir: &Path) -> PathBuf {
    let path = dir.join(format!("{i:03}.{}", kind.ext()));
    let offset = (i as i64 * 7) % 30;
    let saved = match kind {
        FileKind::Canvas3x => inverted(&on_canvas(
            &ink(px, 3),
            (150, 120),
            (5 + offset, 30 - offset),
        ))
        .save(&path),
        FileKind::RgbPng => coloured(&ink(px, 2), [20, 40, 160], [250, 245, 230]).save(&path),
        FileKind::RgbaTransparent => {
            let a = ink(px, 3);
            RgbaImage::from_fn(a.width(), a.height(), |x, y| {
                Rgba([0, 0, 0, a.get_pixel(x, y)[0]])
            })
            .save(&path)
        }
        FileKind::Grey16 => {
            let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(28, 28, |x, y| {
                Luma([u16::from(px[(y * 28 + x) as usize]) * 257])
            });
            DynamicImage::ImageLuma16(img).save_with_format(&path, ImageFormat::Png)
        }
        FileKind::Jpeg90 => {
            let img = inverted(&on_canvas(&ink(px, 3), (110, 100), (offset, 8)));
            let file = std::fs::File::create(&path).expect("create");
            image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90).encode_image(&img)
        }
        FileKind::Pgm => {
            write_pnm(&path, "P5", 56, 56, inverted(&ink(px, 2)).as_raw());
            Ok(())
        }
        FileKind::PalettePng => {
            write_palette_png(&path, &inverted(&ink(px, 2)));
            Ok(())
        }
        FileKind::Bmp => coloured(&ink(px, 3), [0, 110, 30], [255, 255, 255]).save(&path),
        FileKind::Gif => DynamicImage::ImageLuma8(inverted(&ink(px, 2)))
            .to_rgb8()
            .save(&path),
        FileKind::Tiff => ink(px, 1).save(&path),
        FileKind::Ppm => {
            let img = coloured(&ink(px, 3), [200, 0, 0], [255, 255, 255]);
            write_pnm(&path, "P6", 84, 84, img.as_raw());
            Ok(())
        }
    };
    saved.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

fn write_pnm(path: &Path, magic: &str, w: u32, h: u32, data: &[u8]) {
    let mut bytes = format!("{magic}\n{w} {h}\n255\n").into_bytes();
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("write PNM");
}

fn write_palette_png(path: &Path, img: &GrayImage) {
    let file = std::fs::File::create(path).expect("create");
    let mut enc = png::Encoder::new(file, img.width(), img.height());
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    enc.set_palette(palette);
    let mut writer = enc.write_header().expect("palette PNG header");
    writer
        .write_image_data(img.as_raw())
        .expect("palette PNG data");
}

/// Writes all 100 digits as `kind` files into `dir/<kind>/`.
fn write_kind(kind: FileKind, digits: &[[u8; 784]], dir: &Path) -> Vec<PathBuf> {
    let dir = dir.join(format!("{kind:?}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    digits
        .iter()
        .enumerate()
        .map(|(i, px)| write_file(kind, i, px, &dir))
        .collect()
}

fn prepared(paths: &[PathBuf]) -> Vec<Vec<f32>> {
    paths
        .iter()
        .map(|p| predict::prepare_file(p, Preprocess::Digit).unwrap_or_else(|e| panic!("{e:#}")))
        .collect()
}

fn as_tensor(pixels: &[Vec<f32>]) -> Tensor {
    Tensor::from_slice(&pixels.concat()).view([pixels.len() as i64, 1, 28, 28])
}

fn accuracy(predicted: &[i64], labels: &[i64]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

// ------------------------------------------------------------------ tests

#[test]
fn files_of_every_kind_are_classified_like_the_original_images() {
    let (_vs, model) = load_model(trained_checkpoint());
    let (digits, labels) = test_digits();
    let originals = Tensor::from_slice(&digits.concat())
        .view([N as i64, 1, 28, 28])
        .to_kind(Kind::Float)
        / 255.0;
    let want = classes(&model, &originals);
    let base = accuracy(&want, &labels);
    println!("originals: accuracy {:.0}%", 100.0 * base);
    let dir = common::scratch("predict-kinds");
    let mut failures = Vec::new();
    for kind in KINDS {
        let files = write_kind(kind, &digits, &dir);
        let got = classes(&model, &as_tensor(&prepared(&files)));
        let agree = got.iter().zip(&want).filter(|(g, w)| g == w).count();
        let acc = accuracy(&got, &labels);
        println!(
            "{kind:?}: {agree}/{N} agree with the originals, accuracy {:.0}%",
            100.0 * acc
        );
        if agree < 98 || (acc - base).abs() > 0.02 + 1e-9 {
            failures.push(format!("{kind:?}: {agree} agree, accuracy {acc} vs {base}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn an_image_folder_gives_labels_accuracy_a_confusion_matrix_and_a_sheet() {
    let (_vs, model) = load_model(trained_checkpoint());
    let (digits, labels) = test_digits();
    let root = common::scratch("predict-folder");
    let folder = root.join("mine");
    // Digits 0 and 1 are filed under the wrong class, so the model (which
    // classifies them right) disagrees with their folder.
    let filed = |i: usize, label: i64| if i < 2 { (label + 1) % 10 } else { label };
    for (i, (px, &label)) in digits.iter().zip(&labels).enumerate().take(40) {
        let dir = folder.join(filed(i, label).to_string());
        std::fs::create_dir_all(&dir).expect("mkdir");
        write_file(FileKind::Canvas3x, i, px, &dir);
    }
    std::fs::write(folder.join("README.txt"), "not an image").expect("write");
    for ext in ["png", "svg"] {
        let sheet = root.join(format!("sheet.{ext}"));
        let cfg = PredictConfig {
            paths: vec![folder.clone()],
            show: Some(sheet.clone()),
            ..PredictConfig::default()
        };
        let report = predict::predict_paths(&model, &cfg, &INFO).expect("predicts");
        let s = &report.summary;
        assert_eq!((s.images, s.labelled, s.skipped, s.ignored), (40, 40, 0, 1));
        let expected: Vec<i64> = {
            let mut l: Vec<i64> = (0..40).map(|i| filed(i, labels[i])).collect();
            l.sort();
            l
        };
        let got: Vec<i64> = report.predictions.iter().filter_map(|p| p.label).collect();
        assert_eq!(
            got, expected,
            "labels from the sub-folder names, in sorted order"
        );
        let cm = &s.classification.as_ref().expect("labelled").confusion;
        let diagonal: u64 = (0..10).map(|c| cm[c][c]).sum();
        assert_eq!(diagonal as usize, s.correct);
        assert_eq!(s.accuracy, Some(s.correct as f64 / 40.0));
        let misfiled: Vec<&predict::FilePrediction> = report
            .predictions
            .iter()
            .filter(|p| {
                p.path
                    .file_name()
                    .is_some_and(|n| n == "000.png" || n == "001.png")
            })
            .collect();
        assert_eq!(misfiled.len(), 2);
        for p in misfiled {
            assert_eq!(p.correct, Some(false), "{p}");
            assert!(p.to_string().contains("WRONG"), "{p}");
        }
        let text = report.to_string();
        assert!(
            text.contains("40 image(s) classified, 0 skipped, 1 other file(s) ignored"),
            "{text}"
        );
        assert!(text.contains("true\\pred"), "{text}");
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["predictions"].as_array().map(Vec::len), Some(40));
        assert!(json["predictions"][0]["probabilities"].is_array());
        let written = std::fs::metadata(&sheet).expect("sheet written").len();
        assert!(written > 1000, "{} is {written} bytes", sheet.display());
        println!(
            "{}: {written} bytes, {:?} accuracy",
            sheet.display(),
            s.accuracy
        );
    }
    let svg = std::fs::read_to_string(root.join("sheet.svg")).expect("svg");
    // 40 inputs, each with its picture and crop box beside it.
    assert_eq!(svg.matches("<image ").count(), 80);
    assert_eq!(svg.matches("<rect class=\"crop\"").count(), 40);
}

/// Largest differences between Rust and the twin over some files.
#[derive(Default)]
struct Worst {
    pixel: (f64, String),
    probability: (f64, String),
}

impl Worst {
    fn pixel(&mut self, d: f64, at: impl FnOnce() -> String) {
        if d > self.pixel.0 {
            self.pixel = (d, at());
        }
    }

    fn probability(&mut self, d: f64, at: impl FnOnce() -> String) {
        if d > self.probability.0 {
            self.probability = (d, at());
        }
    }
}

/// Compares Rust's inputs and predictions for `files` with the twin's JSON entries.
fn compare(files: &[PathBuf], model: &Cnn, torch: &[serde_json::Value]) -> Worst {
    let pixels = prepared(files);
    let inputs = predict::normalize(&as_tensor(&pixels), INFO.normalize);
    let rust = predict::classify(model, &inputs, 64, Device::Cpu);
    let mut worst = Worst::default();
    for (((path, px), r), t) in files.iter().zip(&pixels).zip(&rust).zip(torch) {
        let name = path.display().to_string();
        assert_eq!(t["path"].as_str(), Some(name.as_str()));
        let t_px: Vec<f64> = serde_json::from_value(t["input"].clone()).expect("784 values");
        assert_eq!(t_px.len(), 784);
        for (k, (a, b)) in px.iter().zip(&t_px).enumerate() {
            let at = || format!("{name} pixel {k}: rust {a}, torch {b}");
            worst.pixel((f64::from(*a) - b).abs(), at);
        }
        assert_eq!(Some(r.class), t["class"].as_i64(), "{name}: classes differ");
        let t_prob: Vec<f64> = serde_json::from_value(t["probabilities"].clone()).expect("probs");
        for (c, (a, b)) in r.probabilities.iter().zip(&t_prob).enumerate() {
            let at = || format!("{name} class {c}: rust {a}, torch {b}");
            worst.probability((a - b).abs(), at);
        }
    }
    worst
}

/// Every kind but JPEG decodes to the same integers in the `image` crate and
/// Pillow, so the preprocessed inputs match to 1e-5 (in fact to float32
/// rounding) and the probabilities to 1e-5. JPEG decoders may differ by one
/// grey level per pixel (the JPEG standard allows IDCT differences; zune-jpeg
/// and libjpeg-turbo do differ): there the classes must still match, pixels
/// within 1/255 and probabilities within 1e-3.
#[test]
fn rust_and_pytorch_preprocess_and_classify_the_same_files_alike() {
    let ckpt = trained_checkpoint();
    let (_vs, model) = load_model(ckpt);
    let (digits, _) = test_digits();
    let dir = common::scratch("predict-parity");
    let per_kind = 12;
    let mut files = Vec::new();
    for kind in KINDS {
        files.extend(write_kind(kind, &digits[..per_kind], &dir));
    }
    let out = dir.join("torch.json");
    let mut args: Vec<String> = vec!["--load".into(), ckpt.display().to_string()];
    args.extend(["--json".into(), out.display().to_string()]);
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::python("predict.py", &args);
    let torch = common::read_json(&out);
    let torch = torch["predictions"].as_array().expect("predictions list");
    assert_eq!(torch.len(), files.len());

    let mut failures = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        let range = k * per_kind..(k + 1) * per_kind;
        let worst = compare(&files[range.clone()], &model, &torch[range]);
        println!(
            "{kind:?}: worst pixel difference {:e} ({}); worst probability difference {:e} ({})",
            worst.pixel.0, worst.pixel.1, worst.probability.0, worst.probability.1
        );
        let (px_tol, prob_tol) = match kind {
            FileKind::Jpeg90 => (1.0 / 255.0, 1e-3),
            _ => (1e-5, 1e-5),
        };
        if worst.pixel.0 > px_tol || worst.probability.0 > prob_tol {
            failures.push(format!(
                "{kind:?}: {} / {}",
                worst.pixel.1, worst.probability.1
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ------------------------------------------------------------------ bad inputs

fn error_of(paths: &[PathBuf]) -> String {
    let cfg = PredictConfig {
        paths: paths.to_vec(),
        ..PredictConfig::default()
    };
    let (_vs, model) = fresh_model(0);
    match predict::predict_paths(&model, &cfg, &INFO) {
        Ok(r) => panic!("{paths:?} was accepted: {r}"),
        Err(e) => format!("{e:#}"),
    }
}

fn white_png(path: &Path, w: u32, h: u32) {
    GrayImage::from_pixel(w, h, Luma([255]))
        .save(path)
        .expect("write PNG");
}

/// A PNG signature, an IHDR chunk claiming `w × h` grey pixels and an empty
/// IDAT: a few dozen bytes.
fn png_header_only(path: &Path, w: u32, h: u32) {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut bytes, b"IHDR", &ihdr);
    chunk(&mut bytes, b"IDAT", &[]);
    chunk(&mut bytes, b"IEND", &[]);
    let mut file = std::fs::File::create(path).expect("create");
    file.write_all(&bytes).expect("write");
}

#[test]
fn bad_inputs_are_refused_with_messages_naming_the_file() {
    let dir = common::scratch("predict-bad");
    let (digits, _) = test_digits();
    let good = write_file(FileKind::Canvas3x, 0, &digits[0], &dir);

    let corrupt = dir.join("corrupt.png");
    let bytes = std::fs::read(&good).expect("read");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).expect("write");
    let err = error_of(std::slice::from_ref(&corrupt));
    assert!(
        err.contains("corrupt.png: cannot decode this Png image (corrupt or truncated"),
        "{err}"
    );

    let text = dir.join("notes.png");
    std::fs::write(&text, "shopping list: milk, eggs\n").expect("write");
    let err = error_of(std::slice::from_ref(&text));
    assert!(
        err.contains("notes.png: unsupported format: the content is not a PNG, JPEG"),
        "{err}"
    );
    let webp = dir.join("photo.webp");
    std::fs::write(&webp, b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00").expect("write");
    let err = error_of(std::slice::from_ref(&webp));
    assert!(err.contains("photo.webp: unsupported format WebP"), "{err}");

    let blank = dir.join("blank.png");
    white_png(&blank, 64, 48);
    let err = error_of(std::slice::from_ref(&blank));
    assert!(err.contains("blank.png: no ink found"), "{err}");

    let huge = dir.join("huge.png");
    png_header_only(&huge, 10_000, 6_000);
    assert!(std::fs::metadata(&huge).expect("written").len() < 100);
    let start = std::time::Instant::now();
    let err = error_of(std::slice::from_ref(&huge));
    assert!(
        err.contains("huge.png: the image is 10000×6000 pixels (60.0 megapixels), larger than the 50 megapixels"),
        "{err}"
    );
    assert!(
        start.elapsed().as_secs_f64() < 5.0,
        "refused before decoding"
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = error_of(std::slice::from_ref(&empty));
    assert!(
        err.contains("empty: the folder holds no image file (0 other file"),
        "{err}"
    );
    let err = error_of(&[dir.join("missing")]);
    assert!(err.contains("missing: no such file or folder"), "{err}");

    let small = dir.join("small.png");
    white_png(&small, 20, 20);
    let cfg = PredictConfig {
        paths: vec![small],
        preprocess: Preprocess::None,
        ..PredictConfig::default()
    };
    let (_vs, model) = fresh_model(0);
    let err = format!(
        "{:#}",
        predict::predict_paths(&model, &cfg, &INFO).unwrap_err()
    );
    assert!(
        err.contains("small.png: the image is 20×20 pixels but --preprocess none needs 28×28"),
        "{err}"
    );
    let cfg = PredictConfig {
        paths: vec![good],
        class_names: Some(vec!["cat".into(), "dog".into()]),
        ..PredictConfig::default()
    };
    let err = format!(
        "{:#}",
        predict::predict_paths(&model, &cfg, &INFO).unwrap_err()
    );
    assert!(
        err.contains("--class-names lists 2 name(s) but the model has 10 classes"),
        "{err}"
    );
}

#[test]
fn a_folder_skips_and_counts_bad_files_and_fails_when_nothing_is_readable() {
    let dir = common::scratch("predict-skip");
    let (digits, _) = test_digits();
    let folder = dir.join("mixed");
    std::fs::create_dir_all(&folder).expect("mkdir");
    for (i, px) in digits.iter().enumerate().take(3) {
        write_file(FileKind::Pgm, i, px, &folder);
    }
    std::fs::write(folder.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really").expect("write");
    let (_vs, model) = fresh_model(0);
    let cfg = PredictConfig {
        paths: vec![folder.clone()],
        ..PredictConfig::default()
    };
    let report = predict::predict_paths(&model, &cfg, &INFO).expect("three good files");
    assert_eq!((report.summary.images, report.summary.skipped), (3, 1));
    assert!(report.skipped[0]
        .error
        .contains("broken.jpg: cannot decode this Jpeg image"));
    let text = report.to_string();
    assert!(
        text.contains("skipped: ") && text.contains("broken.jpg"),
        "{text}"
    );
    assert!(text.contains("no labels"), "{text}");

    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(bad.join("a.png"), b"nothing").expect("write");
    white_png(&bad.join("b.png"), 30, 30);
    let err = error_of(&[bad]);
    assert!(
        err.contains("none of the 2 image file(s) could be read"),
        "{err}"
    );
    assert!(
        err.contains("a.png: unsupported format") && err.contains("b.png: no ink found"),
        "{err}"
    );
}

// ------------------------------------------------------------------ photos of paper

/// Photos of a digit written on paper, JPEG q85, as a phone would take them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PhotoKind {
    /// 1024×768, paper texture and sensor noise, even light.
    Clean,
    /// `Clean` with a 6×6 black dust speck away from the digit.
    Speck,
    /// `Clean` with the corners darkened to 45 % of the centre (vignetting).
    Vignette,
    /// `Clean` at 2048×1536 (3 megapixels).
    Mp3,
    /// `Clean` at 4000×3000 (12 megapixels).
    Mp12,
    /// `Clean`, stored turned 90° with EXIF orientation 6 saying how to turn it back.
    Exif,
}

const PHOTO_KINDS: [PhotoKind; 6] = [
    PhotoKind::Clean,
    PhotoKind::Speck,
    PhotoKind::Vignette,
    PhotoKind::Mp3,
    PhotoKind::Mp12,
    PhotoKind::Exif,
];

/// 12-megapixel photos written (of the 100 digits): decoding and writing 12 MP
/// JPEGs is slow on the shared 2-core machine.
const MP12_PHOTOS: usize = 20;

impl PhotoKind {
    fn size(self) -> (u32, u32) {
        match self {
            PhotoKind::Mp3 => (2048, 1536),
            PhotoKind::Mp12 => (4000, 3000),
            _ => (1024, 768),
        }
    }

    fn count(self) -> usize {
        if self == PhotoKind::Mp12 {
            MP12_PHOTOS
        } else {
            N
        }
    }
}

/// A deterministic value in [-1, 1) for pixel (x, y) (a splitmix64 hash).
fn noise(x: u32, y: u32, seed: u64) -> f64 {
    let mut z = (u64::from(x) << 32 | u64::from(y)) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// Digit `i` as a photo of `kind`: dark blue ink on off-white paper with a
/// gentle texture (in the photo's relative coordinates) and ±10 grey levels of
/// per-pixel noise; the digit 55 % of the photo's height, moved off centre by
/// `i`.
fn photo(px: &[u8; 784], i: usize, kind: PhotoKind) -> RgbImage {
    let (w, h) = kind.size();
    let side = h * 55 / 100;
    let digit = imageops::resize(
        &GrayImage::from_raw(28, 28, px.to_vec()).expect("28×28"),
        side,
        side,
        FilterType::Triangle,
    );
    let shift = |k: usize, span: u32| (k as i64 * 37 % 61 - 30) * i64::from(span) / 500;
    let ox = i64::from((w - side) / 2) + shift(i, w);
    let oy = i64::from((h - side) / 2) + shift(i + 17, h);
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let corner = cx * cx + cy * cy;
    RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (f64::from(x) / f64::from(w), f64::from(y) / f64::from(h));
        let paper = 228.0 + 6.0 * (13.0 * u + 7.0 * v).sin() + 10.0 * noise(x, y, i as u64);
        let (dx, dy) = (i64::from(x) - ox, i64::from(y) - oy);
        let inside = (0..i64::from(side)).contains(&dx) && (0..i64::from(side)).contains(&dy);
        let t = if inside {
            f64::from(digit.get_pixel(dx as u32, dy as u32)[0]) / 255.0
        } else {
            0.0
        };
        let speck = kind == PhotoKind::Speck
            && (w / 10..w / 10 + 6).contains(&x)
            && (h / 12..h / 12 + 6).contains(&y);
        let light = if kind == PhotoKind::Vignette {
            let r = (f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2);
            1.0 - 0.55 * r / corner
        } else {
            1.0
        };
        let mix = |paper: f64, ink: f64| {
            let value = if speck {
                10.0
            } else {
                paper * (1.0 - t) + ink * t
            };
            (value * light).round().clamp(0.0, 255.0) as u8
        };
        Rgb([
            mix(paper, 40.0),
            mix(paper - 3.0, 45.0),
            mix(paper - 12.0, 80.0),
        ])
    })
}

/// An EXIF APP1 segment holding only the orientation tag (big-endian TIFF).
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&value.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\x00\x00");
    seg.extend_from_slice(&tiff);
    seg
}

/// Writes digit `i` as a photo of `kind` in `dir` (JPEG q85); returns its path.
fn write_photo(kind: PhotoKind, i: usize, px: &[u8; 784], dir: &Path) -> PathBuf {
    let path = dir.join(format!("{i:03}.jpg"));
    let mut img = photo(px, i, kind);
    if kind == PhotoKind::Exif {
        img = imageops::rotate270(&img);
    }
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&img)
        .expect("JPEG encodes");
    if kind == PhotoKind::Exif {
        let exif = exif_orientation(6);
        bytes.splice(2..2, exif);
    }
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Writes and prepares the photos of `kind` (on two threads); the prepared
/// inputs in digit order.
fn prepared_photos(kind: PhotoKind, digits: &[[u8; 784]], dir: &Path) -> Vec<predict::Prepared> {
    let dir = dir.join(format!("{kind:?}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let n = kind.count();
    let half = n.div_ceil(2);
    let work = |range: std::ops::Range<usize>| {
        range
            .map(|i| {
                let path = write_photo(kind, i, &digits[i], &dir);
                predict::prepare_image(&path, Preprocess::Digit).unwrap_or_else(|e| panic!("{e:#}"))
            })
            .collect::<Vec<_>>()
    };
    std::thread::scope(|s| {
        let second = s.spawn(|| work(half..n));
        let mut out = work(0..half);
        out.extend(second.join().expect("worker"));
        out
    })
}

/// The photos of paper: a dust speck, darker corners, 3 and 12
/// megapixels and an EXIF-rotated photo are each read like the clean photos
/// (count correct within 1 of theirs on the same digits), and the clean ones
/// like the original 28×28 digits within 2.
#[test]
fn photos_of_paper_are_read_like_clean_photos() {
    let start = std::time::Instant::now();
    let (_vs, model) = load_model(trained_checkpoint());
    let (digits, labels) = test_digits();
    let dir = common::scratch("predict-photos");
    let originals = Tensor::from_slice(&digits.concat())
        .view([N as i64, 1, 28, 28])
        .to_kind(Kind::Float)
        / 255.0;
    let base = classes(&model, &originals);
    let correct =
        |got: &[i64], n: usize| got.iter().zip(&labels[..n]).filter(|(g, l)| g == l).count();
    let mut clean: Vec<i64> = Vec::new();
    let mut failures = Vec::new();
    for kind in PHOTO_KINDS {
        let t = std::time::Instant::now();
        let prepared = prepared_photos(kind, &digits, &dir);
        let pixels: Vec<Vec<f32>> = prepared.iter().map(|p| p.pixels.clone()).collect();
        let got = classes(&model, &as_tensor(&pixels));
        let n = got.len();
        let warned = prepared.iter().filter(|p| !p.warnings.is_empty()).count();
        let (have, want) = match kind {
            PhotoKind::Clean => (correct(&got, n), correct(&base, n) as i64),
            _ => (correct(&got, n), correct(&clean[..n], n) as i64),
        };
        println!(
            "{kind:?}: {have}/{n} correct (reference {want}), {warned} warned, {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let slack = if kind == PhotoKind::Clean { 2 } else { 1 };
        if (have as i64 - want).abs() > slack {
            failures.push(format!("{kind:?}: {have} correct, reference {want}"));
        }
        if kind == PhotoKind::Speck {
            let (w, h) = kind.size();
            let (sx, sy) = ((w / 10) as usize, (h / 12) as usize);
            for p in &prepared {
                let (x0, y0, _, _) = p.crop.expect("digit crop");
                assert!(
                    x0 > sx + 6 || y0 > sy + 6,
                    "the speck is inside the box {:?}",
                    p.crop
                );
            }
        }
        if kind == PhotoKind::Clean {
            clean = got;
            assert!(warned <= 2, "{warned} clean photos warned");
        }
    }
    println!("photos: {:.1} s", start.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The smaller messages: HEIC named, "and N more" after the first
/// failures, an animated GIF's frames counted.
#[test]
fn heic_many_failures_and_animated_gifs_are_named() {
    let dir = common::scratch("predict-messages");
    let heic = dir.join("IMG_0001.HEIC");
    std::fs::write(&heic, b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic").expect("write");
    let err = error_of(std::slice::from_ref(&heic));
    assert!(
        err.contains("IMG_0001.HEIC: unsupported format HEIC/HEIF")
            && err.contains("convert it to JPEG or PNG"),
        "{err}"
    );

    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    for k in 0..8 {
        std::fs::write(bad.join(format!("{k}.png")), b"nothing").expect("write");
    }
    let err = error_of(&[bad]);
    assert!(
        err.contains("none of the 8 image file(s) could be read"),
        "{err}"
    );
    assert!(
        err.contains("4.png: unsupported") && !err.contains("5.png"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("and 3 more"), "{err}");

    let (digits, _) = test_digits();
    let gif = dir.join("animated.gif");
    {
        let file = std::fs::File::create(&gif).expect("create");
        let mut enc = image::codecs::gif::GifEncoder::new(file);
        let frames = digits[..3].iter().map(|px| {
            let rgba = DynamicImage::ImageLuma8(inverted(&ink(px, 2))).to_rgba8();
            image::Frame::new(rgba)
        });
        enc.encode_frames(frames).expect("GIF frames");
    }
    let still = write_file(FileKind::Gif, 0, &digits[0], &dir);
    let (_vs, model) = fresh_model(0);
    let cfg = PredictConfig {
        paths: vec![gif, still],
        ..PredictConfig::default()
    };
    let report = predict::predict_paths(&model, &cfg, &INFO).expect("GIFs are read");
    assert_eq!(
        report.predictions[0].warnings,
        ["animated GIF: used the first of its 3 frames"]
    );
    assert!(report.predictions[1].warnings.is_empty());
    let text = report.to_string();
    let line = format!(
        "  warning: {}: animated GIF: used the first of its 3 frames",
        cfg.paths[0].display()
    );
    assert!(text.contains(&line), "{text}");

    // The twin says the same, on its output and in its JSON.
    let (vs, _) = fresh_model(0);
    let ckpt = dir.join("model.safetensors");
    let config = serde_json::json!({
        "model": {"logit_relu": false, "num_classes": 10},
        "normalize": true,
    });
    checkpoint::save_with_config(&vs, &ckpt, &config).expect("checkpoint saved");
    let out = dir.join("torch.json");
    let args: Vec<String> = [ckpt.clone(), "--json".into(), out.clone()]
        .iter()
        .chain(&cfg.paths)
        .map(|p| p.display().to_string())
        .collect();
    let mut argv = vec!["--load"];
    argv.extend(args.iter().map(String::as_str));
    let printed = common::python("predict.py", &argv);
    assert!(printed.contains(&line), "the twin printed:\n{printed}");
    let torch = common::read_json(&out);
    for (k, p) in report.predictions.iter().enumerate() {
        assert_eq!(
            torch["predictions"][k]["warnings"],
            serde_json::json!(p.warnings),
            "{}",
            p.path.display()
        );
    }
}

/// The pixels of `sheet` (a PNG) in the crop box's colour: their bounding box
/// `(x0, y0, x1, y1)` (inclusive) and their number; `None` when there is none.
fn box_pixels(sheet: &Path) -> Option<((u32, u32, u32, u32), usize)> {
    let img = image::open(sheet).expect("the sheet is a PNG").to_rgb8();
    let found: Vec<(u32, u32)> = img
        .enumerate_pixels()
        .filter(|(_, _, p)| **p == predict::sheet::BOX)
        .map(|(x, y, _)| (x, y))
        .collect();
    let (xs, ys): (Vec<u32>, Vec<u32>) = found.iter().copied().unzip();
    Some((
        (
            *xs.iter().min()?,
            *ys.iter().min()?,
            *xs.iter().max()?,
            *ys.iter().max()?,
        ),
        found.len(),
    ))
}

#[test]
fn show_draws_the_crop_box_that_was_used() {
    let (_vs, model) = fresh_model(1);
    let (digits, _) = test_digits();
    let root = common::scratch("predict-show-box");
    let (w, h) = (300u32, 200u32);
    let scale = predict::sheet::TILE as f64 / w as f64;
    let mut seen = Vec::new();
    for (i, at) in [(40i64, 30i64), (190, 100)].into_iter().enumerate() {
        let photo = inverted(&on_canvas(&ink(&digits[i], 3), (w, h), at));
        let file = root.join(format!("digit{i}.png"));
        photo.save(&file).expect("write");
        let sheet = root.join(format!("sheet{i}.png"));
        let cfg = PredictConfig {
            paths: vec![file.clone()],
            show: Some(sheet.clone()),
            ..PredictConfig::default()
        };
        let report = predict::predict_paths(&model, &cfg, &INFO).expect("predicts");
        let (x0, y0, x1, y1) = report.predictions[0].crop.expect("digit crops");
        let ((bx0, by0, bx1, by1), count) =
            box_pixels(&sheet).expect("the sheet shows the crop box");
        let (bw, bh) = ((bx1 - bx0 + 1) as usize, (by1 - by0 + 1) as usize);
        assert_eq!(count, 2 * (bw + bh) - 4, "a 1-pixel outline, nothing else");
        for (drawn, cropped) in [(bw, x1 - x0), (bh, y1 - y0)] {
            let want = cropped as f64 * scale;
            assert!(
                (drawn as f64 - want).abs() <= 2.0,
                "box of {drawn} pixels for a crop of {cropped} (×{scale:.3} = {want:.1})"
            );
        }
        seen.push(((bx0, by0), (x0, y0)));
        let svg = root.join(format!("sheet{i}.svg"));
        let cfg = PredictConfig {
            show: Some(svg.clone()),
            ..cfg
        };
        predict::predict_paths(&model, &cfg, &INFO).expect("predicts");
        let text = std::fs::read_to_string(&svg).expect("svg");
        assert_eq!(text.matches("<rect class=\"crop\"").count(), 1);
        // Without a crop there is no box.
        let cfg = PredictConfig {
            preprocess: Preprocess::Resize,
            show: Some(sheet.clone()),
            ..cfg
        };
        predict::predict_paths(&model, &cfg, &INFO).expect("predicts");
        assert_eq!(
            box_pixels(&sheet),
            None,
            "--preprocess resize crops nothing"
        );
    }
    // The box moves with the digit, by the crop's move at the preview's scale.
    let (((a_x, a_y), (ca_x, ca_y)), ((b_x, b_y), (cb_x, cb_y))) = (seen[0], seen[1]);
    let moved = |drawn: (u32, u32), cropped: (usize, usize)| {
        let want = (cropped.1 as f64 - cropped.0 as f64) * scale;
        let got = drawn.1 as f64 - drawn.0 as f64;
        assert!(
            (got - want).abs() <= 1.0,
            "moved {got} on the sheet, {want:.1} expected"
        );
    };
    moved((a_x, b_x), (ca_x, cb_x));
    moved((a_y, b_y), (ca_y, cb_y));
    println!("boxes on the sheets: {seen:?}");
}
