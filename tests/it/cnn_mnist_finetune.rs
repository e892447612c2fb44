//! Fine-tuning, honest evaluation and schedules (issue 7): freezing leaves
//! weights bit-identical, resetting really changes them, early stopping
//! restores the best epoch, validation splits and folds are disjoint, seeded
//! and stratified, the learning-rate schedules equal PyTorch's (run at test
//! time), and a PyTorch pre-trained checkpoint fine-tunes in Rust and the
//! result evaluates identically in PyTorch.

use crate::common;
use tchport::session;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};
use tchport::checkpoint;
use tchport::data::mnist;
use tchport::device::DeviceChoice;
use tchport::finetune::{self, FinetuneConfig, BACKBONE_GROUP, HEAD_GROUP};
use tchport::models::{Cnn, CnnConfig};
use tchport::optim::{OptimConfig, OptimizerKind};
use tchport::schedule::{EarlyStopping, Goal, LrSchedule};
use tchport::session::RunOptions;
use tchport::split;
use tchport::tasks::cnn_mnist::{self as task};
use tchport::train::{LoopConfig, Loss, Progress, TrainState, Trainer};

const QUIET: Progress = Progress { quiet: true };

fn data(n: usize) -> (Tensor, Tensor) {
    let set = mnist::load_dir(&common::repo_root().join("data/mnist"))
        .expect("MNIST ships with the repo");
    let train = set
        .train
        .take(Some(n), "--train-limit")
        .expect("enough images");
    (train.float_images(), train.labels)
}

fn model(seed: i64, classes: i64) -> (nn::VarStore, Cnn) {
    let _lock = common::rng_lock();
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Cnn::new(
        &vs.root(),
        &CnnConfig {
            logit_relu: false,
            num_classes: classes,
        },
    );
    (vs, m)
}

fn copies(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    checkpoint::named_tensors(vs)
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect()
}

fn prefixes(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

fn train_steps(
    model: &Cnn,
    opt: &mut tchport::optim::Optimizer,
    xs: &Tensor,
    ys: &Tensor,
    steps: i64,
) {
    for s in 0..steps {
        let (bx, by) = (xs.narrow(0, s * 32, 32), ys.narrow(0, s * 32, 32));
        opt.zero_grad();
        Loss::CrossEntropy
            .compute(&model.forward_t(&bx, true), &by)
            .backward();
        opt.step();
    }
}

#[test]
fn frozen_weights_stay_bit_identical_even_with_momentum_and_weight_decay() {
    let (xs, ys) = data(128);
    for optimizer in [OptimizerKind::Sgd, OptimizerKind::Adam] {
        let (mut vs, model) = model(0, 10);
        let cfg = FinetuneConfig {
            freeze: prefixes(&["conv"]),
            ..FinetuneConfig::default()
        };
        let report = finetune::prepare(&mut vs, &cfg, 0.05, None, false).expect("prepare");
        assert_eq!(
            report.frozen,
            ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
        );
        assert_eq!(tchport::session::parameter_count(&vs), 3136 * 10 + 10);
        let before = copies(&vs);
        let mut opt = OptimConfig {
            optimizer,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.1,
            ..OptimConfig::default()
        }
        .build(&vs)
        .expect("valid optimizer");
        train_steps(&model, &mut opt, &xs, &ys, 4);
        let after: std::collections::HashMap<String, Tensor> = vs.variables();
        for (name, old) in &before {
            let same = after[name].equal(old);
            if name.starts_with("conv") {
                assert!(same, "{optimizer:?}: frozen {name} changed");
            } else {
                assert!(!same, "{optimizer:?}: trainable {name} did not change");
            }
        }
    }
}

#[test]
fn reset_restores_the_fresh_init_and_init_from_loads_the_rest() {
    let dir = common::scratch("ft-reset");
    let ckpt = dir.join("pre.safetensors");
    let (pre_vs, _) = model(7, 10);
    checkpoint::save(&pre_vs, &ckpt).expect("save");
    let pre: std::collections::HashMap<String, Tensor> = pre_vs.variables();
    let (fresh_vs, _) = model(0, 10);
    let fresh = fresh_vs.variables();

    let (mut vs, _) = model(0, 10);
    let cfg = FinetuneConfig {
        init_from: Some(ckpt.clone()),
        reset: prefixes(&["fc"]),
        ..FinetuneConfig::default()
    };
    let r = finetune::prepare(&mut vs, &cfg, 0.01, None, false).expect("prepare");
    assert_eq!(
        r.loaded,
        ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
    );
    assert_eq!(r.initialised, ["fc.bias", "fc.weight"]);
    let now = vs.variables();
    for name in ["conv1.weight", "conv2.bias"] {
        assert!(
            now[name].equal(&pre[name]),
            "{name} comes from the checkpoint"
        );
    }
    for name in ["fc.weight", "fc.bias"] {
        assert!(
            !now[name].equal(&pre[name]),
            "reset {name} differs from the checkpoint"
        );
        assert!(
            now[name].equal(&fresh[name]),
            "reset {name} is PyTorch's fresh init"
        );
    }

    // A 10-class checkpoint into a 5-class model: the head is skipped by shape.
    let (mut vs5, _) = model(0, 5);
    let cfg = FinetuneConfig {
        init_from: Some(ckpt),
        ..FinetuneConfig::default()
    };
    let r = finetune::prepare(&mut vs5, &cfg, 0.01, None, false).expect("prepare");
    assert_eq!(r.initialised, ["fc.bias", "fc.weight"]);
    assert!(r
        .skipped
        .iter()
        .any(|s| s.starts_with("fc.weight (checkpoint [10, 3136]")));

    // A prefix that selects nothing is an error, not a silent no-op.
    let (mut vs, _) = model(0, 10);
    let bad = FinetuneConfig {
        freeze: prefixes(&["conv3"]),
        ..FinetuneConfig::default()
    };
    let err = finetune::prepare(&mut vs, &bad, 0.01, None, false).unwrap_err();
    assert!(format!("{err:#}").contains("--freeze conv3 matches no parameter"));
}

#[test]
fn the_backbone_group_steps_with_its_own_learning_rate() {
    let dir = common::scratch("ft-groups");
    let ckpt = dir.join("pre.safetensors");
    let (pre_vs, _) = model(7, 10);
    checkpoint::save(&pre_vs, &ckpt).expect("save");
    let (mut vs, model) = model(0, 10);
    let cfg = FinetuneConfig {
        init_from: Some(ckpt),
        reset: prefixes(&["fc"]),
        lr_backbone: Some(0.001),
        ..FinetuneConfig::default()
    };
    let r = finetune::prepare(&mut vs, &cfg, 0.1, None, false).expect("prepare");
    assert_eq!(r.lr_groups, [(HEAD_GROUP, 0.1), (BACKBONE_GROUP, 0.001)]);
    let mut opt = OptimConfig {
        lr: 0.1,
        ..OptimConfig::default()
    }
    .build(&vs)
    .expect("SGD");
    finetune::set_group_lrs(&mut opt, &r.lr_groups);
    let (xs, ys) = data(32);
    let before = copies(&vs);
    opt.zero_grad();
    Loss::CrossEntropy
        .compute(&model.forward_t(&xs, true), &ys)
        .backward();
    let vars = vs.variables();
    let grads: Vec<(String, Tensor)> = before
        .iter()
        .map(|(n, _)| (n.clone(), vars[n].grad().copy()))
        .collect();
    opt.step();
    for ((name, old), (_, g)) in before.iter().zip(&grads) {
        let lr = if name.starts_with("fc") { 0.1 } else { 0.001 };
        let want = old - g * lr;
        let diff = (&vars[name] - want).abs().max().double_value(&[]);
        assert!(
            diff < 1e-7,
            "{name}: step is not -{lr}·grad (off by {diff})"
        );
    }
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let (xs, ys) = data(64);
    let (vs, model) = model(0, 10);
    let mut opt = OptimConfig {
        lr: 0.05,
        ..OptimConfig::default()
    }
    .build(&vs)
    .expect("SGD");
    let cfg = LoopConfig {
        epochs: 10,
        batch_size: 32,
        seed: 1,
        shuffle: true,
    };
    // A scripted validation loss: best at epoch 2, then 2 epochs without
    // improvement exhaust a patience of 2.
    let losses = [3.0, 1.0, 2.0, 1.5, 0.5];
    let mut at_epoch_2 = Vec::new();
    let trainer = Trainer {
        stop: Arc::new(AtomicBool::new(false)),
        ..Trainer::new(&cfg, Device::Cpu, QUIET)
    }
    .with_early_stopping(
        Some(EarlyStopping {
            patience: 2,
            metric: "val loss".into(),
            goal: Goal::Minimize,
        }),
        &vs,
    );
    let out = common::fit_pairs(
        &trainer,
        (&model, &mut opt),
        (&xs, &ys),
        Loss::CrossEntropy,
        TrainState::default(),
        |e, _| {
            if e == 2 {
                at_epoch_2 = copies(&vs);
            }
            Ok(vec![("val loss".to_string(), losses[e - 1])])
        },
    )
    .expect("training runs");
    assert_eq!(out.history.len(), 4, "stopped after epoch 4");
    assert!(out.stopped_early);
    assert_eq!(out.best_epoch, Some(2));
    let now = vs.variables();
    for (name, t) in &at_epoch_2 {
        assert!(now[name].equal(t), "{name} holds epoch 2's weights");
    }
}

#[test]
fn validation_split_is_disjoint_seeded_and_stratified() {
    let (_, ys) = data(2000);
    let labels = Vec::<i64>::try_from(&ys).expect("int64 labels");
    let (train, val) = split::stratified_split(&labels, 0.2, 3).expect("split");
    let (t, v): (BTreeSet<i64>, BTreeSet<i64>) = (
        train.iter().copied().collect(),
        val.iter().copied().collect(),
    );
    assert!(t.is_disjoint(&v));
    assert_eq!(t.len() + v.len(), labels.len());
    assert_eq!(t.len(), train.len(), "no duplicates");
    for c in 0..10 {
        let count = labels.iter().filter(|&&l| l == c).count();
        let in_val = val.iter().filter(|&&i| labels[i as usize] == c).count();
        assert_eq!(in_val, (0.2 * count as f64).round() as usize, "class {c}");
    }
    assert_eq!(
        split::stratified_split(&labels, 0.2, 3).unwrap(),
        (train, val.clone())
    );
    assert_ne!(split::stratified_split(&labels, 0.2, 4).unwrap().1, val);
    assert!(split::stratified_split(&labels, 1.0, 3).is_err());

    let folds = split::stratified_kfold(&labels, 5, 3).expect("folds");
    let all: BTreeSet<i64> = folds.iter().flatten().copied().collect();
    assert_eq!(all.len(), labels.len(), "folds partition the samples");
    assert_eq!(folds.iter().map(Vec::len).sum::<usize>(), labels.len());
    for f in &folds {
        assert!(f.len().abs_diff(labels.len() / 5) <= 1);
        for c in 0..10 {
            let count = labels.iter().filter(|&&l| l == c).count();
            let here = f.iter().filter(|&&i| labels[i as usize] == c).count();
            assert!(here.abs_diff(count / 5) <= 1, "class {c} is spread evenly");
        }
    }
}

fn torch_lrs(args: &[&str]) -> Vec<f64> {
    let out = common::python("schedulers.py", args);
    let strings: Vec<String> = serde_json::from_str(out.trim()).expect("a JSON list");
    strings
        .iter()
        .map(|s| s.parse().expect("repr of a float"))
        .collect()
}

#[test]
fn lr_schedules_equal_pytorchs_to_the_last_bit() {
    let cases: Vec<(LrSchedule, Vec<&str>)> = vec![
        (
            LrSchedule::Step {
                step_size: 3,
                gamma: 0.1,
            },
            vec!["step", "--step-size", "3", "--gamma", "0.1"],
        ),
        (
            LrSchedule::Step {
                step_size: 1,
                gamma: 0.7,
            },
            vec!["step", "--step-size", "1", "--gamma", "0.7"],
        ),
        (
            LrSchedule::Cosine {
                t_max: 10,
                eta_min: 0.0,
            },
            vec!["cosine", "--t-max", "10", "--eta-min", "0.0"],
        ),
        (
            LrSchedule::Cosine {
                t_max: 4,
                eta_min: 0.0005,
            },
            vec!["cosine", "--t-max", "4", "--eta-min", "0.0005"],
        ),
    ];
    for (schedule, sub) in cases {
        let mut args = vec!["--lr", "0.03", "--epochs", "13"];
        args.extend(sub);
        let want = torch_lrs(&args);
        let got = schedule.lrs(0.03, 13);
        assert_eq!(got, want, "{schedule:?}");
    }
}

#[test]
fn a_pytorch_pretrained_checkpoint_fine_tunes_in_rust_and_evaluates_identically_in_pytorch() {
    let dir = common::scratch("ft-interop");
    let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let (pre, tuned) = (
        dir.join("torch-pre.safetensors"),
        dir.join("rust-ft.safetensors"),
    );
    common::python(
        "cnn_mnist.py",
        &[
            "--digits",
            "0-4",
            "--epochs",
            "1",
            "--optimizer",
            "adam",
            "--lr",
            "0.001",
            "--no-logit-relu",
            "--train-limit",
            "600",
            "--test-limit",
            "200",
            "--no-eval-each-epoch",
            "--quiet",
            "--save",
            &s(&pre),
        ],
    );
    let mut cfg = task::Config::default();
    cfg.model.logit_relu = false;
    cfg.model.num_classes = 5;
    cfg.digits = Some(vec![5, 6, 7, 8, 9]);
    cfg.run.optim = OptimConfig {
        optimizer: OptimizerKind::Adam,
        lr: 0.001,
        ..OptimConfig::default()
    };
    cfg.run.train.epochs = 2;
    cfg.train_limit = Some(300);
    cfg.test_limit = Some(1000);
    cfg.val_fraction = Some(0.2);
    cfg.run.tune.early_stopping = Some(1);
    cfg.run.tune.lr_schedule = LrSchedule::Cosine {
        t_max: 2,
        eta_min: 0.0,
    }
    .into();
    cfg.run.tune.finetune = FinetuneConfig {
        init_from: Some(pre.clone()),
        freeze: prefixes(&["conv1"]),
        reset: prefixes(&["fc"]),
        lr_backbone: Some(0.0001),
        strip_prefix: None,
    };
    let opts = RunOptions {
        device: DeviceChoice::Cpu,
        save: Some(tuned.clone()),
        quiet: true,
        ..RunOptions::default()
    };
    let report = {
        let _lock = common::rng_lock();
        session::run(&task::CnnMnist, &cfg, &opts).expect("fine-tuning runs")
    };
    let ft = report
        .summary
        .finetune
        .as_ref()
        .expect("a fine-tuning report");
    assert_eq!(ft.initialised, ["fc.bias", "fc.weight"]);
    assert_eq!(ft.frozen, ["conv1.bias", "conv1.weight"]);
    // conv1 is still PyTorch's pre-trained conv1, bit for bit.
    let pre_w = common::read(&pre);
    let tuned_w = common::read(&tuned);
    assert!(tuned_w["conv1.weight"].equal(&pre_w["conv1.weight"]));
    assert!(!tuned_w["conv2.weight"].equal(&pre_w["conv2.weight"]));

    let json = dir.join("torch-eval.json");
    common::python(
        "cnn_mnist.py",
        &[
            "--digits",
            "5-9",
            "--load",
            &s(&tuned),
            "--eval-only",
            "--no-logit-relu",
            "--test-limit",
            "1000",
            "--quiet",
            "--metrics-json",
            &s(&json),
        ],
    );
    let torch = common::read_json(&json);
    let rust_correct = (report.results.test.accuracy * 1000.0).round() as i64;
    println!(
        "rust: {rust_correct}/1000, pytorch on the Rust fine-tuned checkpoint: {}",
        torch["test_correct"]
    );
    assert!(
        rust_correct > 200,
        "better than chance on 5 classes ({rust_correct}/1000)"
    );
    assert_eq!(torch["test_correct"].as_i64(), Some(rust_correct));
    let loss_diff =
        (torch["test_loss"].as_f64().expect("a number") - report.summary.test_loss).abs();
    assert!(loss_diff < 1e-5, "test loss differs by {loss_diff}");
}
