//! The optimizers of `src/optim/` against torch.optim (foreach=False), run by
//! real PyTorch at test time (`parity/optim_steps.py`) on the same parameters
//! and gradients: K steps of SGD (momentum, dampening, Nesterov, weight decay),
//! Adam and AdamW, with and without `--clip-grad-norm`, must give the very
//! same bits — parameters, `state_dict()` tensors and `param_groups`.
//!
//! The settings are written once as flags: parsed as the examples parse
//! them (`cli::try_parse_from` on a configuration holding `OptimConfig`) in
//! Rust and by the script's argparse in Python.

use crate::common;

use std::collections::BTreeMap;

use tch::{Device, Kind, Tensor};
use tchport::cli::{self, Flags, FromFlags};
use tchport::optim::{clip_grad_norm, OptimConfig, Optimizer, ParamGroup};
use tchport::train::LoopConfig;

const STEPS: i64 = 7;
const SHAPES: [&[i64]; 4] = [&[33, 17], &[17], &[4, 3, 5, 5], &[1]];

/// A configuration of the optimizer's flags alone.
#[derive(clap::Args, serde::Serialize, Default, Debug)]
struct OptimOnly {
    #[command(flatten)]
    #[serde(flatten)]
    optim: OptimConfig,
}

impl FromFlags for OptimOnly {
    fn complete(&mut self, flags: &Flags) {
        self.optim.complete(flags);
    }
}

/// An example without flags of its own.
#[derive(clap::Parser, Debug)]
struct NoFlags {}

/// Parameters and `STEPS` gradients per parameter, from a fixed seed; the
/// gradients' scale varies from step to step so that clipping bites on some.
fn inputs() -> BTreeMap<String, Tensor> {
    let _lock = common::rng_lock();
    tch::manual_seed(19);
    let mut t = BTreeMap::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        t.insert(
            format!("param.{i}"),
            Tensor::randn(*shape, (Kind::Float, Device::Cpu)),
        );
        for k in 0..STEPS {
            let scale = [0.01, 1.0, 0.3, 3.0, 0.05, 0.7, 2.0][k as usize];
            let g = Tensor::randn(*shape, (Kind::Float, Device::Cpu)) * scale;
            t.insert(format!("grad.{k}.{i}"), g);
        }
    }
    t
}

/// `flags` parsed as an example parses them.
fn config(flags: &str) -> OptimConfig {
    let argv = std::iter::once("optim").chain(flags.split_whitespace());
    cli::try_parse_from::<NoFlags, OptimOnly, _, _>(argv)
        .unwrap_or_else(|e| panic!("{flags}: {e}"))
        .config
        .optim
}

/// Rust's run: parameters, state tensors, param_groups and the clipping norms.
fn rust_run(
    cfg: &OptimConfig,
    t: &BTreeMap<String, Tensor>,
) -> (BTreeMap<String, Tensor>, serde_json::Value) {
    let params: Vec<Tensor> = (0..SHAPES.len())
        .map(|i| t[&format!("param.{i}")].copy().set_requires_grad(true))
        .collect();
    let group = ParamGroup {
        params: params
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("param.{i}"), p.shallow_clone()))
            .collect(),
        lr: cfg.lr,
    };
    let mut opt = Optimizer::new(cfg, vec![group]).expect("valid settings");
    let mut out = BTreeMap::new();
    for k in 0..STEPS {
        opt.zero_grad();
        // The gradient as backward leaves it: accumulated into the zeroed one.
        let loss: Tensor = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p * &t[&format!("grad.{k}.{i}")]).sum(Kind::Float))
            .sum();
        loss.backward();
        if let Some(max) = cfg.clip_grad_norm {
            let total = clip_grad_norm(&params, max);
            out.insert(
                format!("total_norm.{k}"),
                Tensor::from_slice(&[total as f32]),
            );
        }
        opt.step();
    }
    for (i, p) in params.iter().enumerate() {
        out.insert(format!("param.{i}"), p.detach().copy());
    }
    let state = opt.state_dict();
    out.extend(state.tensors);
    (out, state.param_groups)
}

/// Runs `flags` in both and compares every tensor bit for bit.
fn compare(name: &str, flags: &str) {
    let dir = common::scratch(&format!("optim-{name}"));
    let t = inputs();
    let input = dir.join("in.safetensors");
    Tensor::write_safetensors(&t.iter().collect::<Vec<_>>(), &input).expect("write inputs");
    let out = dir.join("torch.safetensors");
    let mut args = vec![
        "--input",
        input.to_str().expect("UTF-8 path"),
        "--out",
        out.to_str().expect("UTF-8 path"),
        "--steps",
        "7",
    ];
    args.extend(flags.split_whitespace());
    let groups: serde_json::Value =
        serde_json::from_str(&common::python("optim_steps.py", &args)).expect("JSON groups");
    let want = common::read(&out);
    let (got, rust_groups) = rust_run(&config(flags), &t);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{name}: the same tensors"
    );
    let mut worst = 0.0f64;
    for (key, w) in &want {
        worst = worst.max(common::check_tensor(
            &format!("{name} {key}"),
            &got[key],
            w,
            0.0,
        ));
    }
    println!("{name} ({flags}): {STEPS} steps, max |rust − torch| = {worst:e}");
    same_groups(name, &rust_groups, &groups);
}

/// `param_groups` equal key by key (numbers as numbers: Python writes `0`).
fn same_groups(name: &str, got: &serde_json::Value, want: &serde_json::Value) {
    let (g, w) = (&got[0], &want[0]);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().expect("a group").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(g), keys(w), "{name}: param_groups keys");
    for key in keys(w) {
        let (a, b) = (&g[&key], &w[&key]);
        let same = match (a, b) {
            (serde_json::Value::Array(x), serde_json::Value::Array(y)) => x
                .iter()
                .map(|v| v.as_f64())
                .eq(y.iter().map(|v| v.as_f64())),
            _ => a == b || (a.as_f64().is_some() && a.as_f64() == b.as_f64()),
        };
        assert!(same, "{name}: param_groups {key}: rust {a}, torch {b}");
    }
}

#[test]
fn sgd_plain_and_with_weight_decay() {
    compare("sgd", "--optimizer sgd --lr 0.1");
    compare("sgd-wd", "--optimizer sgd --lr 0.05 --weight-decay 0.01");
}

#[test]
fn sgd_momentum_dampening_nesterov() {
    compare(
        "sgd-mom",
        "--optimizer sgd --lr 0.05 --momentum 0.9 --weight-decay 0.001",
    );
    compare(
        "sgd-damp",
        "--optimizer sgd --lr 0.05 --momentum 0.8 --dampening 0.3",
    );
    compare(
        "sgd-nesterov",
        "--optimizer sgd --lr 0.05 --momentum 0.9 --nesterov --weight-decay 0.01",
    );
}

#[test]
fn adam_defaults_weight_decay_and_betas() {
    compare("adam", "--optimizer adam --lr 0.001");
    compare("adam-wd", "--optimizer adam --lr 0.01 --weight-decay 0.1");
    compare(
        "adam-betas",
        "--optimizer adam --lr 0.003 --beta1 0.8 --beta2 0.95 --eps 1e-6",
    );
}

#[test]
fn adamw_default_and_given_decay() {
    compare("adamw", "--optimizer adamw --lr 0.001");
    compare(
        "adamw-wd",
        "--optimizer adamw --lr 0.01 --weight-decay 0.1 --beta2 0.98",
    );
}

#[test]
fn clip_grad_norm_matches_torch_and_clips_some_steps() {
    compare(
        "clip-sgd",
        "--optimizer sgd --lr 0.1 --momentum 0.9 --clip-grad-norm 5",
    );
    compare(
        "clip-adamw",
        "--optimizer adamw --lr 0.01 --clip-grad-norm 1.0",
    );
}

#[test]
fn loading_a_state_dict_continues_the_run_and_refuses_another_optimizer() {
    let t = inputs();
    let cfg = config("--optimizer adam --lr 0.01");
    let (full, _) = rust_run(&cfg, &t);
    let params: Vec<Tensor> = (0..SHAPES.len())
        .map(|i| t[&format!("param.{i}")].copy().set_requires_grad(true))
        .collect();
    let group = || ParamGroup {
        params: params
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("param.{i}"), p.shallow_clone()))
            .collect(),
        lr: cfg.lr,
    };
    let step = |opt: &mut Optimizer, k: i64| {
        opt.zero_grad();
        let loss: Tensor = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p * &t[&format!("grad.{k}.{i}")]).sum(Kind::Float))
            .sum();
        loss.backward();
        opt.step();
    };
    let mut first = Optimizer::new(&cfg, vec![group()]).expect("valid");
    (0..3).for_each(|k| step(&mut first, k));
    let saved = first.state_dict();
    let mut second = Optimizer::new(&cfg, vec![group()]).expect("valid");
    second
        .load_state_dict(&saved)
        .expect("the same optimizer loads");
    (3..STEPS).for_each(|k| step(&mut second, k));
    for (i, p) in params.iter().enumerate() {
        let key = format!("param.{i}");
        common::check_tensor(&format!("resumed {key}"), p, &full[&key], 0.0);
    }
    let sgd = config("--optimizer sgd --momentum 0.9");
    let mut other = Optimizer::new(&sgd, vec![group()]).expect("valid");
    let err = other
        .load_state_dict(&saved)
        .expect_err("Adam's state into SGD");
    common::assert_has(&err.to_string(), &["Adam", "SGD", "--optimizer"]);
}

/// The training loop with `--clip-grad-norm`: it clips (and counts) the steps
/// whose total gradient norm exceeds MAX, and trains the weights that a loop
/// calling [`clip_grad_norm`] (checked against PyTorch above) trains.
#[test]
fn the_training_loop_clips_and_counts_the_clipped_steps() {
    use tch::nn;
    use tchport::train::{Loss, Progress, TrainState, Trainer};
    let cfg = config("--optimizer sgd --lr 0.05 --momentum 0.9 --clip-grad-norm 60");
    let lp = LoopConfig {
        epochs: 2,
        batch_size: 8,
        seed: 3,
        shuffle: false,
    };
    let (xs, ys, vs_a, vs_b) = {
        let _lock = common::rng_lock();
        tch::manual_seed(4);
        let xs = Tensor::randn([40, 6], (Kind::Float, Device::Cpu)) * 3.0;
        let ys = Tensor::randn([40, 1], (Kind::Float, Device::Cpu)) * 5.0;
        let (a, b) = (
            nn::VarStore::new(Device::Cpu),
            nn::VarStore::new(Device::Cpu),
        );
        tch::manual_seed(0);
        let _ = nn::linear(a.root() / "fc", 6, 1, Default::default());
        tch::manual_seed(0);
        let _ = nn::linear(b.root() / "fc", 6, 1, Default::default());
        (xs, ys, a, b)
    };
    let model_a = nn::func({
        let vars = vs_a.variables();
        move |x| x.linear(&vars["fc.weight"], Some(&vars["fc.bias"]))
    });
    let mut opt = cfg.build(&vs_a).expect("valid");
    let mut trainer = Trainer::new(&lp, Device::Cpu, Progress { quiet: true });
    trainer.stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    common::fit_pairs(
        &trainer,
        (&model_a, &mut opt),
        (&xs, &ys),
        Loss::Mse,
        TrainState::default(),
        |_, _| Ok(vec![]),
    )
    .expect("trains");
    let (clipped, steps) = trainer.clipped.get();
    println!("the loop clipped {clipped} of {steps} steps");
    assert_eq!(steps, 10);
    let vars = vs_b.variables();
    let mut opt_b = cfg.build(&vs_b).expect("valid");
    let mut by_hand = 0;
    for _ in 0..2 {
        for s in 0..5 {
            let (x, y) = (xs.narrow(0, s * 8, 8), ys.narrow(0, s * 8, 8));
            opt_b.zero_grad();
            let out = x.linear(&vars["fc.weight"], Some(&vars["fc.bias"]));
            Loss::Mse.compute(&out, &y).backward();
            let total = clip_grad_norm(&opt_b.parameters(), 60.0);
            by_hand += usize::from(60.0 / (total + 1e-6) < 1.0);
            opt_b.step();
        }
    }
    assert_eq!(clipped, by_hand);
    assert!(
        clipped > 0 && clipped < steps,
        "some steps clipped, not all: {clipped}/{steps}"
    );
    let got = vs_a.variables();
    for (name, v) in &vars {
        common::check_tensor(&format!("loop vs by hand {name}"), &got[name], v, 0.0);
    }
}
