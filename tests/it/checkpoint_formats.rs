//! PyTorch checkpoints as users have them (issue 14): real PyTorch writes, at
//! test time, every `torch.save` variant of one trained CNN
//! (`parity/write_torch_checkpoints.py`); the readable ones load the same
//! values as the safetensors and evaluate with the same confusion matrix in
//! the built `cnn_mnist`; the others are refused with a message naming what
//! the file is.

use crate::common;

use common::assert_has;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use tchport::checkpoint::{self, CheckpointFormat};
use tchport::data::mnist;
use tchport::models::{Cnn, CnnConfig};

/// The readable files and the file each must equal value for value.
const SAME_AS_SOURCE: [&str; 9] = [
    "lightning.ckpt",
    "net.pt",
    "plain.pt",
    "train.pth",
    "module.bin",
    "orig_mod.pt",
    "both.pt",
    "legacy.pt",
    "f64.pt",
];

/// The folder with `cnn.safetensors` (a CNN trained a few steps from seed 0,
/// so its predictions differ from any fresh initialisation) and every file
/// PyTorch wrote from it.
fn files() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = common::scratch("checkpoint-formats");
        let src = dir.join("cnn.safetensors");
        let (vs, _model) = trained_cnn();
        checkpoint::save(&vs, &src).expect("the safetensors is written");
        common::python(
            "write_torch_checkpoints.py",
            &[&src.to_string_lossy(), &dir.to_string_lossy()],
        );
        dir
    })
}

/// The CNN from seed 0, trained 30 SGD steps on 960 MNIST images.
fn trained_cnn() -> (nn::VarStore, Cnn) {
    let (vs, model) = fresh_cnn(0);
    let set = mnist::load_dir(&common::repo_root().join("data/mnist"))
        .expect("MNIST ships with the repo")
        .train
        .take(Some(960), "--train-limit")
        .expect("enough images");
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.02)
    .expect("SGD builds");
    for step in 0..30 {
        let x = set.float_images().narrow(0, step * 32, 32);
        let y = set.labels.narrow(0, step * 32, 32);
        opt.backward_step(&model.forward_t(&x, true).cross_entropy_for_logits(&y));
    }
    (vs, model)
}

fn fresh_cnn(seed: i64) -> (nn::VarStore, Cnn) {
    let _lock = common::rng_lock();
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Cnn::new(&vs.root(), &CnnConfig::default());
    (vs, model)
}

/// Loads `file` into a fresh CNN (seed 1) and returns its variables.
fn load(file: &Path) -> anyhow::Result<Vec<(String, Tensor)>> {
    let (mut vs, _model) = fresh_cnn(1);
    checkpoint::load(&mut vs, file)?;
    Ok(checkpoint::named_tensors(&vs))
}

fn assert_identical(label: &str, got: &[(String, Tensor)], want: &Path) {
    let want = common::read(want);
    assert_eq!(got.len(), want.len(), "{label}: number of tensors");
    for (name, t) in got {
        assert_eq!(
            t.kind(),
            Kind::Float,
            "{label}: {name} is converted to the variable's kind"
        );
        assert!(t.equal(&want[name]), "{label}: {name} differs");
    }
}

#[test]
fn every_readable_file_loads_the_values_of_the_safetensors() {
    let dir = files();
    let source = dir.join("cnn.safetensors");
    let fresh = checkpoint::named_tensors(&fresh_cnn(1).0);
    let want = common::read(&source);
    assert!(
        fresh.iter().any(|(n, t)| !t.equal(&want[n])),
        "the fresh model differs, so a load that did nothing would fail"
    );
    for file in SAME_AS_SOURCE {
        let got = load(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_identical(file, &got, &source);
    }
    // Half precision: the values PyTorch's .to(dtype).float() gives.
    for (file, expected) in [
        ("f16.pt", "expected_f16.safetensors"),
        ("bf16.pt", "expected_bf16.safetensors"),
    ] {
        let got = load(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_identical(file, &got, &dir.join(expected));
    }
}

#[test]
fn notes_say_what_was_read_and_what_was_stripped() {
    let dir = files();
    let read = |file: &str| {
        checkpoint::read_checkpoint(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"))
    };
    let st = read("cnn.safetensors");
    assert_eq!(st.format, CheckpointFormat::Safetensors);
    assert!(st.notes.is_empty(), "{:?}", st.notes);

    let plain = read("plain.pt");
    assert_eq!(plain.format, CheckpointFormat::TorchZip { dict_key: None });
    assert_eq!(plain.notes.len(), 1, "{:?}", plain.notes);

    let train = read("train.pth");
    assert_eq!(
        train.format,
        CheckpointFormat::TorchZip {
            dict_key: Some("model_state_dict".into())
        }
    );
    let note = train.notes.join("\n");
    println!("train.pth: {note}");
    assert!(
        note.contains("under `model_state_dict` of a training checkpoint")
            && note.contains("ignored: epoch, loss, optimizer_state_dict"),
        "{note}"
    );

    for (file, prefix) in [
        ("module.bin", "`module.` prefix of 6 keys"),
        ("orig_mod.pt", "`_orig_mod.` prefix of 6 keys"),
        ("both.pt", "`module._orig_mod.` prefix of 6 keys"),
    ] {
        let got = read(file);
        let notes = got.notes.join("\n");
        println!("{file}: {notes}");
        assert!(notes.contains(prefix), "{file}: {notes}");
        assert!(got
            .tensors
            .iter()
            .all(|(n, _)| !n.starts_with("module.") && !n.starts_with("_orig_mod.")));
    }

    let legacy = read("legacy.pt");
    assert_eq!(
        legacy.format,
        CheckpointFormat::TorchLegacy { dict_key: None }
    );
    assert!(legacy.notes[0].contains("pre-1.6"), "{:?}", legacy.notes);
    println!("legacy.pt: {}", legacy.notes[0]);
    assert_eq!(
        read("f16.pt").tensors[0].1.kind(),
        Kind::Half,
        "read keeps the stored dtype"
    );
}

/// The message of loading `file` (which must fail).
fn refusal(file: &Path) -> String {
    match load(file) {
        Ok(_) => panic!("{} should be refused", file.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn files_that_cannot_be_loaded_say_what_they_are() {
    let dir = files();
    let convert = [
        "import torch; from safetensors.torch import save_file",
        "whole_module.safetensors",
    ];
    let msg = refusal(&dir.join("whole_module.pt"));
    assert_has(&msg, &["is a whole pickled module (torch.save(model))"]);
    assert_has(&msg, &convert);
    assert_has(&msg, &["torch.load(", "weights_only=False).state_dict()"]);
    assert_eq!(
        msg.lines().count(),
        3,
        "one line, then two of Python:\n{msg}"
    );

    let msg = refusal(&dir.join("script.pt"));
    assert_has(
        &msg,
        &[
            "is a TorchScript archive (torch.jit.save)",
            "torch.jit.load(",
        ],
    );

    let msg = refusal(&dir.join("ema_only.pt"));
    assert_has(
        &msg,
        &["no state_dict under state_dict, model_state_dict, model, net"],
    );
    assert_has(
        &msg,
        &["tensors are under ema", "weights_only=True)[\"ema\"]"],
    );

    assert_has(
        &refusal(&dir.join("tensor.pt")),
        &["holds a single tensor, not a state_dict"],
    );

    assert_has(
        &refusal(&dir.join("int_weight.pt")),
        &["conv1.weight is stored as torch.int32"],
    );
    assert_has(
        &refusal(&dir.join("bool_weight.pt")),
        &["conv1.weight is stored as torch.bool"],
    );
    // 3 of the 32 filters of 1×3×3 set to NaN, 1 to inf.
    assert_has(
        &refusal(&dir.join("nan_weight.pt")),
        &["conv1.weight holds 27 NaN values of 288", "diverged"],
    );
    assert_has(
        &refusal(&dir.join("inf_weight.pt")),
        &["conv1.weight holds 9 infinite values of 288"],
    );
}

#[test]
fn files_that_are_no_checkpoint_are_described() {
    let dir = common::scratch("not-checkpoints");
    let cases: [(&str, &[u8], &str); 5] = [
        ("page.pt", b"<!DOCTYPE html>\n<html><head>", "HTML page"),
        (
            "lfs.pt",
            b"version https://git-lfs.github.com/spec/v1\noid sha256:0",
            "Git LFS pointer",
        ),
        (
            "weights.csv",
            b"conv1.weight,0.25\n",
            "text starting with \"conv1.weight,0.25\"",
        ),
        ("empty.pt", b"", "empty"),
        ("model.pt.gz", &[0x1f, 0x8b, 8, 0, 0, 0], "gzip-compressed"),
    ];
    for (name, bytes, want) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        assert_has(
            &refusal(&path),
            &[
                name,
                "neither safetensors nor a PyTorch torch.save file",
                want,
            ],
        );
    }
    let npz = dir.join("arrays.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&npz).expect("create"));
    zip.start_file("arr_0.npy", zip::write::SimpleFileOptions::default())
        .expect("a zip entry");
    zip.write_all(b"\x93NUMPY").expect("write");
    zip.finish().expect("the zip is written");
    assert_has(
        &refusal(&npz),
        &[
            "is a zip archive but not a torch.save file",
            "it holds arr_0.npy",
        ],
    );
    assert_has(&refusal(&dir.join("nowhere.pt")), &["nowhere.pt not found"]);
    assert_has(&refusal(&dir), &["is a folder, not a file", "page.pt"]);
}

/// The confusion matrix of `cnn_mnist --load file --eval-only` on 500 test images.
fn confusion(file: &Path, out: &Path) -> Vec<Vec<u64>> {
    let json = out.join(format!(
        "{}.json",
        file.file_name().expect("a file").to_string_lossy()
    ));
    let output = Command::new(cnn_mnist())
        .arg("--load")
        .arg(file)
        .args([
            "--eval-only",
            "--test-limit",
            "500",
            "--quiet",
            "--device",
            "cpu",
        ])
        .arg("--metrics-json")
        .arg(&json)
        .current_dir(common::repo_root())
        .output()
        .expect("cnn_mnist runs");
    assert!(
        output.status.success(),
        "cnn_mnist --load {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = common::read_json(&json);
    serde_json::from_value(report["test"]["confusion"].clone()).expect("a confusion matrix")
}

#[test]
fn pytorch_files_evaluate_exactly_like_the_safetensors() {
    let dir = files();
    let out = dir.join("eval");
    std::fs::create_dir_all(&out).expect("scratch");
    let want = confusion(&dir.join("cnn.safetensors"), &out);
    let total: u64 = want.iter().flatten().sum();
    let correct: u64 = (0..want.len()).map(|i| want[i][i]).sum();
    assert_eq!(total, 500);
    println!("safetensors: {correct} of 500 correct");
    let largest_class: u64 = want.iter().map(|row| row.iter().sum()).max().unwrap_or(0);
    assert!(
        correct > largest_class,
        "the trained weights beat any constant prediction ({correct} vs {largest_class}), \
         so equal matrices say the same weights were loaded"
    );
    for file in [
        "plain.pt",
        "train.pth",
        "module.bin",
        "orig_mod.pt",
        "legacy.pt",
        "lightning.ckpt",
    ] {
        let got = confusion(&dir.join(file), &out);
        assert_eq!(
            got, want,
            "{file} evaluates differently from the safetensors"
        );
    }
}

#[test]
fn a_training_checkpoint_gives_pytorchs_optimizer_state_and_epoch() {
    let dir = files();
    let file = dir.join("train_adam.pth");
    let read = checkpoint::read_training_state(&file).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(read.optimizer_key, "optimizer", "the short spelling");
    assert_eq!(read.epoch, 1);
    let want = common::read(&dir.join("adam_state.safetensors"));
    let names: Vec<&String> = read.tensors.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        want.keys().collect::<Vec<_>>(),
        "the same tensors by name"
    );
    assert_eq!(
        want.len(),
        3 * 6,
        "exp_avg, exp_avg_sq and step of 6 parameters"
    );
    for (name, t) in &read.tensors {
        assert_eq!(t.kind(), want[name].kind(), "{name}: dtype");
        assert!(t.equal(&want[name]), "{name} differs from PyTorch's");
    }
    let groups = common::read_json(&dir.join("adam_param_groups.json"));
    assert_eq!(read.param_groups, groups, "param_groups, betas as an array");
    println!("param_groups: {}", read.param_groups);
    // The weights of the same file load as before.
    let weights = checkpoint::read_checkpoint(&file).expect("the state_dict reads");
    assert_eq!(weights.tensors.len(), 6);

    // The SGD checkpoint of the recipe's spelling: momentum buffers.
    let sgd = checkpoint::read_training_state(&dir.join("train.pth")).expect("reads");
    assert_eq!(
        (sgd.optimizer_key.as_str(), sgd.epoch),
        ("optimizer_state_dict", 3)
    );
    assert!(sgd
        .tensors
        .iter()
        .any(|(n, _)| n == "state.0.momentum_buffer"));
    assert_eq!(sgd.param_groups[0]["momentum"], 0.9);
}

#[test]
fn a_training_checkpoint_without_an_entry_names_it() {
    let dir = files();
    let refused = |file: &str| {
        format!(
            "{:#}",
            checkpoint::read_training_state(&dir.join(file)).expect_err(file)
        )
    };
    common::assert_has(
        &refused("plain.pt"),
        &[
            "plain.pt",
            "no optimizer state dict under optimizer_state_dict or optimizer",
        ],
    );
    common::assert_has(
        &refused("no_epoch.pth"),
        &[
            "no_epoch.pth",
            "no `epoch` entry",
            "model_state_dict, optimizer_state_dict",
        ],
    );
}

#[test]
fn pytorch_continues_from_the_optimizer_state_rust_writes() {
    let dir = files();
    let file = dir.join("train_adam.pth");
    let read = checkpoint::read_training_state(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let ckpt = dir.join("rust-optimizer/checkpoint.safetensors");
    checkpoint::save_optimizer_state(&ckpt, &read.tensors, &read.param_groups)
        .expect("the optimizer state is written");
    let (tensors, groups) = checkpoint::read_optimizer_state(&ckpt)
        .expect("it reads back")
        .expect("both files are there");
    assert_eq!(groups, read.param_groups);
    for ((name, t), (want_name, want)) in tensors.iter().zip(&read.tensors) {
        assert_eq!(name, want_name);
        assert!(t.equal(want), "{name} round-trips");
    }
    // PyTorch's optimizer.load_state_dict takes the converted files and continues identically.
    let out = common::python(
        "optimizer_state.py",
        &[
            "check",
            &file.to_string_lossy(),
            &ckpt.to_string_lossy(),
            "3",
        ],
    );
    println!("{}", out.trim());

    // One file without the other is named.
    let (st, json) = checkpoint::optimizer_paths(&ckpt);
    std::fs::remove_file(&json).expect("removed");
    let msg = format!(
        "{:#}",
        checkpoint::read_optimizer_state(&ckpt).expect_err("half a state")
    );
    common::assert_has(
        &msg,
        &[&st.display().to_string(), "optimizer.json is missing"],
    );
}

/// `cnn_mnist --load file --eval-only` on 100 test images with `extra` flags:
/// whether it succeeded, and its stdout and stderr.
fn eval_with(file: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new(cnn_mnist())
        .arg("--load")
        .arg(file)
        .args(["--eval-only", "--test-limit", "100", "--device", "cpu"])
        .args(extra)
        .current_dir(common::repo_root())
        .output()
        .expect("cnn_mnist runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn prefixes_are_removed_found_or_named_and_misfits_say_which() {
    let dir = files();
    let lightning = read_note(&dir.join("lightning.ckpt"));
    assert_has(
        &lightning,
        &[
            "under `state_dict` of a training checkpoint",
            "global_step",
            "pytorch-lightning_version",
            "stripped the `model.` prefix of 6 keys",
        ],
    );
    let (ok, out) = eval_with(&dir.join("net.pt"), &["--strip-prefix", "net"]);
    assert!(ok, "{out}");
    assert_has(
        &out,
        &["stripped the `net.` prefix of 6 keys (as --strip-prefix says)"],
    );
    let (ok, out) = eval_with(&dir.join("net.pt"), &["--strip-prefix", "model."]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "--strip-prefix model.: no key starts with it",
            "every key starts with `net.`",
        ],
    );
    // A key without the prefix: nothing is removed unasked, and the misfit names the flag.
    let (ok, out) = eval_with(&dir.join("backbone.pt"), &[]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "does not fit this model",
            "6 keys under `backbone.` fit the model without that prefix: add --strip-prefix backbone.",
        ],
    );
    let (ok, out) = eval_with(&dir.join("backbone.pt"), &["--strip-prefix", "backbone."]);
    assert!(!ok, "{out}");
    assert_has(
        &out,
        &[
            "layers only in the checkpoint: criterion",
            "unexpected criterion.weight",
        ],
    );
}

/// The notes of loading `file` into a fresh CNN.
fn read_note(file: &Path) -> String {
    let (mut vs, _model) = fresh_cnn(1);
    checkpoint::load_with_notes(&mut vs, file)
        .unwrap_or_else(|e| panic!("{}: {e:#}", file.display()))
        .join("\n")
}

#[test]
fn a_truncated_file_says_it_ends_early() {
    let dir = files();
    for file in ["plain.pt", "cnn.safetensors"] {
        let bytes = std::fs::read(dir.join(file)).expect("written above");
        let cut = dir.join(format!("cut-{file}"));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("scratch");
        let msg = refusal(&cut);
        println!("{msg}");
        assert_has(
            &msg,
            &[
                &format!("cut-{file} is damaged: the file ends early"),
                "a partial download?",
            ],
        );
        assert!(load(&dir.join(file)).is_ok(), "the whole {file} loads");
    }
}

#[test]
fn resume_loads_the_optimizer_files_or_says_they_are_missing_or_do_not_fit() {
    use tchport::optim::{OptimConfig, OptimizerKind};
    let dir = files();
    let (vs, _model) = fresh_cnn(0);
    let adam = OptimConfig {
        optimizer: OptimizerKind::Adam,
        ..OptimConfig::default()
    };
    // A checkpoint of weights only (older versions): the optimizer starts fresh.
    let old = dir.join("weights-only/checkpoint.safetensors");
    checkpoint::save(&vs, &old).expect("written");
    let mut opt = adam.build(&vs).expect("valid Adam");
    assert!(!tchport::train::load_optimizer(&old, &mut opt).expect("no files is no error"));

    // The SGD state of the recipe's train.pth beside a checkpoint, this run Adam.
    let sgd = checkpoint::read_training_state(&dir.join("train.pth")).expect("reads");
    let ckpt = dir.join("sgd-optimizer/checkpoint.safetensors");
    checkpoint::save_optimizer_state(&ckpt, &sgd.tensors, &sgd.param_groups).expect("written");
    let msg = format!(
        "{:#}",
        tchport::train::load_optimizer(&ckpt, &mut opt).expect_err("SGD's state into Adam")
    );
    let (_, json) = checkpoint::optimizer_paths(&ckpt);
    common::assert_has(
        &msg,
        &[
            &json.display().to_string(),
            "SGD's",
            "this run uses Adam (--optimizer)",
        ],
    );
    // SGD with momentum 0.9 fits; another momentum, or another model, does not.
    let momentum = |m| OptimConfig {
        momentum: m,
        ..OptimConfig::default()
    };
    let mut fits = momentum(0.9).build(&vs).expect("valid SGD");
    assert!(tchport::train::load_optimizer(&ckpt, &mut fits).expect("the state fits"));
    let mut other = momentum(0.5).build(&vs).expect("valid SGD");
    let msg = format!(
        "{:#}",
        tchport::train::load_optimizer(&ckpt, &mut other).expect_err("0.5")
    );
    common::assert_has(&msg, &["momentum 0.9, this run has 0.5 (--momentum)"]);
    let small = nn::VarStore::new(Device::Cpu);
    let _ = small.root().var("w", &[3], nn::Init::Const(0.0));
    let mut tiny = momentum(0.9).build(&small).expect("valid SGD");
    let msg = format!(
        "{:#}",
        tchport::train::load_optimizer(&ckpt, &mut tiny).expect_err("1 param")
    );
    common::assert_has(&msg, &["group 0 has 6 parameters, this run's has 1"]);
}

/// `cnn_mnist`, built from this source first.
fn cnn_mnist() -> PathBuf {
    common::built_example("cnn_mnist")
}
