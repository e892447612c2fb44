//! TorchScript out and in (issue 22). Out: every example's model, traced by
//! `--export-torchscript`'s library call, gives in PyTorch (`torch.jit.load`,
//! run by `parity/torchscript_check.py` at test time) the Rust model's
//! outputs on the same inputs within 1e-6, and loads back in Rust; the flag
//! writes the file and its `.inputs.json` in each example. In: a PyTorch
//! user's `torch.jit.script` of the CNN, given to `cnn_mnist --load
//! --predict`, gives PyTorch's probabilities on the same image files.

use std::path::Path;

use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::session::Task;
use tchport::torchscript::{self, TraceInput};

use crate::common::{self, parity::check_tensor};

/// Absolute tolerance of PyTorch's run of a traced file against the Rust
/// model: both run the same libtorch kernels, so only a different kernel
/// choice between the two processes could make them differ.
const TOL: f64 = 1e-6;

/// Exports `model` traced at `input` into `dir/NAME.pt`, runs it in PyTorch on
/// the traced input (and on a batch of 3 other inputs when the file takes
/// other batch sizes), and compares with `model`'s own outputs.
fn check_export(dir: &Path, name: &str, vs: &nn::VarStore, model: &dyn ModuleT, input: TraceInput) {
    let path = dir.join(format!("{name}.pt"));
    let forward = |x: &Tensor| model.forward_t(x, false);
    let report = torchscript::export(vs, &forward, &input, name, &path).expect("exports");
    println!("{name}: {report}");
    assert!(
        report.max_abs_diff <= TOL,
        "{name}: loaded back in Rust, {report}"
    );
    let json = common::read_json(&torchscript::inputs_json_path(&path));
    assert_eq!(
        json["input"]["shape"],
        serde_json::json!(report.input_shape)
    );
    assert_eq!(json["any_batch"], serde_json::json!(report.any_batch));

    let mut inputs = vec![("traced".to_string(), input.example.shallow_clone())];
    if report.any_batch {
        let mut shape = input.example.size();
        shape[0] = 3;
        let batch = match input.example.kind() {
            Kind::Int64 => input.example.repeat([3, 1]).flip([1]),
            _ => torchscript::probe(&shape, Device::Cpu).flip([-1]) * 2.0 - 0.5,
        };
        inputs.push(("batch3".to_string(), batch));
    }
    let in_path = dir.join(format!("{name}.in.safetensors"));
    let out_path = dir.join(format!("{name}.out.safetensors"));
    Tensor::write_safetensors(&inputs, &in_path).expect("inputs written");
    let module = path.display().to_string();
    let (i, o) = (
        in_path.display().to_string(),
        out_path.display().to_string(),
    );
    common::python(
        "torchscript_check.py",
        &["--module", &module, "--inputs", &i, "--out", &o],
    );
    let torch = common::read(&out_path);
    for (key, x) in &inputs {
        let want = tch::no_grad(|| model.forward_t(x, false));
        check_tensor(&format!("{name} {key}"), &torch[key], &want, TOL);
    }
}

/// `task`'s model of `cfg`, seeded (PyTorch's initialisation), and its trace input.
fn built<T: Task>(task: &T, cfg: &T::Config) -> (nn::VarStore, T::Model, TraceInput) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = task.build_model(&vs.root(), cfg);
    let input = task
        .trace_input(cfg, Device::Cpu)
        .expect("the task exports");
    (vs, model, input)
}

#[test]
fn traced_models_give_the_rust_outputs_in_pytorch() {
    let _rng = common::rng_lock();
    let dir = common::scratch("torchscript-export");
    use tchport::tasks::{cnn_mnist, rnn_series, transformer_seq};

    let (vs, m, input) = built(&cnn_mnist::CnnMnist, &cnn_mnist::Config::default());
    check_export(&dir, "cnn", &vs, &m, input);

    for cell in [
        tchport::models::CellKind::Rnn,
        tchport::models::CellKind::Lstm,
        tchport::models::CellKind::Gru,
    ] {
        let mut cfg = rnn_series::Config::default();
        cfg.model.cell = cell;
        let (vs, m, input) = built(&rnn_series::RnnSeries::default(), &cfg);
        check_export(&dir, cell.name(), &vs, &m, input);
    }

    for arch in [
        tchport::models::seq_model::Arch::Transformer,
        tchport::models::seq_model::Arch::Lstm,
    ] {
        let cfg = transformer_seq::Config {
            arch,
            ..Default::default()
        };
        let (vs, m, input) = built(&transformer_seq::TransformerSeq::default(), &cfg);
        check_export(
            &dir,
            &format!("seq_{arch:?}").to_lowercase(),
            &vs,
            &m,
            input,
        );
    }

    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = tchport::models::GptConfig {
        vocab_size: 20,
        ..Default::default()
    };
    let gpt = tchport::models::Gpt::new(&vs.root(), &cfg).expect("a GPT");
    let vocab: tchport::data::text::CharVocab = serde_json::from_value(
        serde_json::json!({"chars": "abcdefghijklmnopqrst".chars().collect::<Vec<_>>()}),
    )
    .expect("a vocabulary");
    let input = tchport::tasks::transformer_lm::trace_input(&cfg, &vocab, Device::Cpu);
    check_export(&dir, "gpt", &vs, &gpt, input);
}

/// Runs example `name` with `args`, asserting it succeeds; its output.
fn run_ok(name: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (ok, out) = common::run_example(&common::built_example(name), &args);
    assert!(ok, "{name} {args:?} failed:\n{out}");
    out
}

/// Runs example `name` with `args`, asserting it fails; its output.
fn run_err(name: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (ok, out) = common::run_example(&common::built_example(name), &args);
    assert!(!ok, "{name} {args:?} succeeded:\n{out}");
    out
}

/// `path` as a `&str` argument.
fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 scratch path")
}

/// A CNN trained by the binary for one short epoch, saved as `dir/m.safetensors`.
fn trained_cnn(dir: &Path) -> std::path::PathBuf {
    let ckpt = dir.join("m.safetensors");
    let cnn = [
        "--epochs",
        "1",
        "--train-limit",
        "500",
        "--test-limit",
        "100",
        "--no-logit-relu",
    ];
    run_ok(
        "cnn_mnist",
        &[&cnn[..], &["--normalize", "--quiet", "--save", arg(&ckpt)]].concat(),
    );
    ckpt
}

/// 20 MNIST test digits as PNG files (black ink on white) in `dir/digits/`.
fn digit_files(dir: &Path) -> std::path::PathBuf {
    let digits = dir.join("digits");
    std::fs::create_dir_all(&digits).expect("a folder for the digits");
    let set = tchport::data::mnist::load_dir(&common::repo_root().join("data/mnist"))
        .expect("MNIST ships with the repo")
        .test
        .take(Some(20), "--test-limit")
        .expect("20 test images");
    let px = Vec::<f32>::try_from(set.float_images().flatten(0, -1)).expect("float pixels");
    for (k, img) in px.chunks(784).enumerate() {
        let bytes: Vec<u8> = img
            .iter()
            .map(|v| 255 - (v * 255.0).round() as u8)
            .collect();
        let png = image::GrayImage::from_raw(28, 28, bytes).expect("28×28");
        png.save(digits.join(format!("{k:02}.png")))
            .expect("a PNG written");
    }
    digits
}

/// The probabilities of every prediction of a `--metrics-json` (Rust) or
/// `--json` (parity/predict.py) file, by file name.
fn probabilities(path: &Path) -> Vec<(String, Vec<f64>)> {
    let json = common::read_json(path);
    let list = json["predictions"]
        .as_array()
        .expect("a predictions list")
        .clone();
    list.iter()
        .map(|p| {
            let file = p["path"].as_str().expect("a path");
            let name = Path::new(file)
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let probs = p["probabilities"].as_array().expect("probabilities");
            (
                name,
                probs
                    .iter()
                    .map(|v| v.as_f64().expect("a number"))
                    .collect(),
            )
        })
        .collect()
}

/// Item 2: PyTorch scripts the CNN (`torch.jit.script`) and saves it; Rust's
/// `--predict` runs the file and gives PyTorch's probabilities on the same
/// image files (PyTorch: `parity/predict.py`, which `torch.jit.load`s it), and
/// those of the checkpoint it was scripted from; `--eval-only` scores it.
#[test]
fn a_scripted_cnn_predicts_like_pytorch() {
    let dir = common::scratch("torchscript-in");
    let ckpt = trained_cnn(&dir);
    let scripted = dir.join("scripted.pt");
    common::python(
        "torchscript_check.py",
        &["--script-cnn", arg(&ckpt), "--module", arg(&scripted)],
    );
    let digits = digit_files(&dir);
    let (rust_ts, rust_native, torch) = (
        dir.join("ts.json"),
        dir.join("native.json"),
        dir.join("torch.json"),
    );
    let out = run_ok(
        "cnn_mnist",
        &[
            "--load",
            arg(&scripted),
            "--predict",
            arg(&digits),
            "--metrics-json",
            arg(&rust_ts),
        ],
    );
    common::assert_has(
        &out,
        &["a TorchScript module, run by libtorch's TorchScript interpreter"],
    );
    run_ok(
        "cnn_mnist",
        &[
            "--load",
            arg(&ckpt),
            "--predict",
            arg(&digits),
            "--metrics-json",
            arg(&rust_native),
        ],
    );
    common::python(
        "predict.py",
        &[
            "--load",
            arg(&scripted),
            "--json",
            arg(&torch),
            arg(&digits),
        ],
    );
    let (ts, native, torch) = (
        probabilities(&rust_ts),
        probabilities(&rust_native),
        probabilities(&torch),
    );
    assert_eq!(ts.len(), 20);
    let mut worst = (0.0f64, String::new());
    for (((name, t), (n2, n)), (n3, p)) in ts.iter().zip(&native).zip(&torch) {
        assert_eq!((name, name), (n2, n3), "the same files in the same order");
        for ((a, b), c) in t.iter().zip(n).zip(p) {
            let d = (a - c).abs().max((a - b).abs());
            if d > worst.0 {
                worst = (d, name.clone());
            }
        }
    }
    println!(
        "scripted CNN: worst probability difference {:e} ({})",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= 1e-5,
        "worst probability difference {:e} ({})",
        worst.0,
        worst.1
    );

    let eval = |load: &Path| {
        let out = run_ok(
            "cnn_mnist",
            &["--load", arg(load), "--eval-only", "--test-limit", "200"],
        );
        out.lines()
            .find(|l| l.contains("accuracy"))
            .map(str::to_string)
            .expect("an accuracy line")
    };
    assert_eq!(
        eval(&scripted),
        eval(&ckpt),
        "--eval-only scores the module as the checkpoint"
    );
}

/// Asserts that `pt` and its `.inputs.json` exist and the JSON names `example`.
fn assert_exported(pt: &Path, example: &str) {
    assert!(pt.is_file(), "{} written", pt.display());
    let json = common::read_json(&torchscript::inputs_json_path(pt));
    assert_eq!(json["example"], example, "{}", pt.display());
    assert!(
        json["input"]["shape"].is_array() && json["settings"].is_object(),
        "{json}"
    );
}

/// Item 1 through the flag: each example writes the module and its JSON after
/// training; `--load M --export-torchscript P` alone reads no data (its data
/// flags name a missing file); the exported series model forecasts as the
/// checkpoint it came from.
#[test]
fn every_example_exports_with_the_flag() {
    let dir = common::scratch("torchscript-flag");
    let ckpt = trained_cnn(&dir);
    let cnn_pt = dir.join("cnn.pt");
    let out = run_ok(
        "cnn_mnist",
        &[
            "--load",
            arg(&ckpt),
            "--export-torchscript",
            arg(&cnn_pt),
            "--data-dir",
            "/nonexistent/mnist",
        ],
    );
    common::assert_has(&out, &["wrote", "cnn.inputs.json"]);
    assert_exported(&cnn_pt, "cnn_mnist");

    let rnn = dir.join("rnn.safetensors");
    let rnn_pt = dir.join("rnn.pt");
    let short = ["--epochs", "1", "--quiet"];
    run_ok(
        "rnn_series",
        &[
            &short[..],
            &["--save", arg(&rnn), "--export-torchscript", arg(&rnn_pt)],
        ]
        .concat(),
    );
    assert_exported(&rnn_pt, "rnn_series");
    let forecast = |load: &Path| {
        let out = run_ok("rnn_series", &["--load", arg(load), "--forecast", "5"]);
        out.lines()
            .filter(|l| !l.starts_with("loaded"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        forecast(&rnn_pt),
        forecast(&rnn),
        "--forecast through the module"
    );

    let seq_pt = dir.join("seq.pt");
    run_ok(
        "transformer_seq",
        &[&short[..], &["--export-torchscript", arg(&seq_pt)]].concat(),
    );
    assert_exported(&seq_pt, "transformer_seq");

    let lm_pt = dir.join("gpt.pt");
    let text = dir.join("tiny.txt");
    std::fs::write(&text, "to be or not to be\n".repeat(60)).expect("a text file");
    let lm = [
        "--max-steps",
        "2",
        "--eval-batches",
        "1",
        "--n-layer",
        "1",
        "--n-embd",
        "16",
        "--n-head",
        "2",
    ];
    let lm = [
        &lm[..],
        &["--block-size", "16", "--quiet", "--text", arg(&text)],
    ]
    .concat();
    run_ok(
        "transformer_lm",
        &[&lm[..], &["--export-torchscript", arg(&lm_pt)]].concat(),
    );
    assert_exported(&lm_pt, "transformer_lm");
    let out = run_err(
        "transformer_lm",
        &["--task", "classify", "--export-torchscript", arg(&lm_pt)],
    );
    common::assert_has(&out, &["--export-torchscript"]);
}

/// Bad input: a module of another architecture says what it gives; a module
/// for training, or with `--save`, is refused; inputs prepared otherwise
/// than the module's `.inputs.json` records are refused.
#[test]
fn torchscript_misuse_is_refused_in_one_line() {
    let dir = common::scratch("torchscript-bad");
    let rnn_pt = dir.join("rnn.pt");
    run_ok(
        "rnn_series",
        &[
            "--epochs",
            "1",
            "--quiet",
            "--export-torchscript",
            arg(&rnn_pt),
        ],
    );
    let out = run_err(
        "cnn_mnist",
        &["--load", arg(&rnn_pt), "--eval-only", "--test-limit", "10"],
    );
    common::assert_has(&out, &["TorchScript", "rnn.pt", "[1, 1, 28, 28]"]);

    let ckpt = trained_cnn(&dir);
    let cnn_pt = dir.join("cnn.pt");
    run_ok(
        "cnn_mnist",
        &["--load", arg(&ckpt), "--export-torchscript", arg(&cnn_pt)],
    );
    let out = run_err(
        "cnn_mnist",
        &[
            "--load",
            arg(&cnn_pt),
            "--epochs",
            "1",
            "--train-limit",
            "10",
        ],
    );
    common::assert_has(&out, &["TorchScript", "cnn.pt"]);
    let save = dir.join("again.safetensors");
    let out = run_err(
        "cnn_mnist",
        &["--load", arg(&cnn_pt), "--eval-only", "--save", arg(&save)],
    );
    common::assert_has(&out, &["--save", "TorchScript", "state_dict"]);

    // The module alone in another folder: no config.json, so normalize is off.
    let alone = dir.join("alone");
    std::fs::create_dir_all(&alone).expect("a folder");
    for f in ["cnn.pt", "cnn.inputs.json"] {
        std::fs::copy(dir.join(f), alone.join(f)).expect("copied");
    }
    let module = alone.join("cnn.pt");
    let eval = [
        &["--load", arg(&module)][..],
        &["--eval-only", "--test-limit", "10"],
    ]
    .concat();
    let out = run_err("cnn_mnist", &eval);
    common::assert_has(
        &out,
        &[
            "cnn.inputs.json",
            r#"normalize = {"mean":0.1307,"std":0.3081}"#,
            "this run has normalize = null",
        ],
    );
    run_ok("cnn_mnist", &[&eval[..], &["--normalize"]].concat());
}
