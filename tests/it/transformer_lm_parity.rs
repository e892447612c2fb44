//! The GPT of transformer_lm (`src/models/gpt.rs`) against nanoGPT's model
//! (`parity/models.py::GPT`), with PyTorch run at test time from the project's
//! `.venv` (`parity/gpt_reference.py`): bit-identical initial weights from the
//! same seed; on the same weights, the logits in train mode (dropout 0) and in
//! eval mode under no_grad, the cross-entropy and every gradient; the logits
//! with dropout 0.1 after the same `manual_seed` (the same masks); and the
//! weights after 4 AdamW steps with gradient clipping (nanoGPT's settings).
//!
//! Tolerances: initial weights and dropout masks exact (the same draws of the
//! same generator); 1e-5 absolute on logits, loss and gradients (the same
//! libtorch kernels; measured 0); 1e-6 on the weights after the steps.

use crate::common;

use std::path::Path;

use common::check_tensor;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};
use tchport::models::{Gpt, GptConfig};
use tchport::optim::{clip_grad_norm, OptimConfig, OptimizerKind};

const TOL: f64 = 1e-5;
const STEPS: i64 = 4;

fn cfg(bias: bool, dropout: f64) -> GptConfig {
    GptConfig {
        vocab_size: 65,
        block_size: 16,
        n_layer: 2,
        n_head: 4,
        n_embd: 32,
        dropout,
        bias,
    }
}

fn reference(dir: &Path, bias: bool) {
    let out = dir.to_str().expect("scratch paths are UTF-8");
    let mut args = vec!["--out", out, "--steps", "4"];
    if !bias {
        args.push("--no-bias");
    }
    common::python("gpt_reference.py", &args);
}

/// A GPT built after `manual_seed(0)`, as the reference script builds its own.
fn seeded(bias: bool, dropout: f64) -> (nn::VarStore, Gpt) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Gpt::new(&vs.root(), &cfg(bias, dropout)).expect("a valid configuration");
    (vs, model)
}

fn matches_nanogpt(bias: bool) {
    let _rng = common::rng_lock();
    let dir = common::scratch(if bias { "gpt-bias" } else { "gpt-nobias" });
    reference(&dir, bias);
    let init = common::read(&dir.join("init.safetensors"));
    let batches = common::read(&dir.join("batches.safetensors"));
    let want = common::read(&dir.join("reference.safetensors"));
    let (idx, targets) = (&batches["idx"], &batches["targets"]);

    let (vs, model) = seeded(bias, 0.0);
    let names: Vec<String> = vs.variables().into_keys().collect();
    let mut want_names: Vec<&String> = init.keys().collect();
    want_names.sort();
    let mut got_names: Vec<&String> = names.iter().collect();
    got_names.sort();
    assert_eq!(
        got_names, want_names,
        "VarStore keys are the state_dict keys"
    );
    for (name, var) in vs.variables() {
        check_tensor(&format!("init {name}"), &var, &init[&name], 0.0);
    }

    let logits = model.forward_t(&idx.get(0), true);
    let loss = Gpt::loss(&logits, &targets.get(0));
    loss.backward();
    check_tensor("logits (train, dropout 0)", &logits, &want["logits"], TOL);
    check_tensor("cross-entropy", &loss, &want["loss"], TOL);
    common::check_grads(&vs, &want, TOL);
    let nograd = tch::no_grad(|| model.forward_t(&idx.get(0), false));
    check_tensor(
        "logits (eval, no_grad)",
        &nograd,
        &want["logits_nograd"],
        TOL,
    );

    let (mut dvs, dropped) = seeded(bias, 0.1);
    dvs.copy(&vs).expect("same shapes");
    tch::manual_seed(7);
    let logits = dropped.forward_t(&idx.get(0), true);
    check_tensor(
        "logits with dropout 0.1",
        &logits,
        &want["logits_dropout"],
        TOL,
    );

    adamw_steps(&model, &vs, idx, targets, &want);
}

/// nanoGPT's AdamW (lr 1e-3, betas (0.9, 0.95), decay 0.1) with clipping at 1.0.
fn adamw_steps(
    model: &Gpt,
    vs: &nn::VarStore,
    idx: &Tensor,
    targets: &Tensor,
    want: &std::collections::BTreeMap<String, Tensor>,
) {
    let optim = OptimConfig {
        optimizer: OptimizerKind::AdamW,
        lr: 1e-3,
        beta2: 0.95,
        weight_decay: 0.1,
        ..Default::default()
    };
    let mut opt = optim.build(vs).expect("valid AdamW");
    for step in 0..STEPS {
        opt.zero_grad();
        Gpt::loss(&model.forward_t(&idx.get(step), true), &targets.get(step)).backward();
        clip_grad_norm(&opt.parameters(), 1.0);
        opt.step();
    }
    for (name, var) in vs.variables() {
        let label = format!("after {STEPS} AdamW steps: {name}");
        check_tensor(&label, &var, &want[&format!("after.{name}")], 1e-6);
    }
}

#[test]
fn gpt_matches_nanogpt() {
    matches_nanogpt(true);
}

#[test]
fn gpt_without_biases_matches_nanogpt() {
    matches_nanogpt(false);
}

#[test]
fn invalid_shapes_name_the_flag() {
    let vs = nn::VarStore::new(Device::Cpu);
    let bad = GptConfig {
        n_embd: 30,
        ..GptConfig::default()
    };
    let err = Gpt::new(&vs.root(), &bad).expect_err("30 is no multiple of 4");
    common::assert_has(&format!("{err:#}"), &["--n-embd (30)", "--n-head (4)"]);
}

/// The key/value cache computes what the whole context computes: a 5-token
/// prompt, then 11 tokens one at a time, against `forward_t` over all 16
/// (eval mode; float32 rounding of other matrix shapes only, measured ≤ 1e-6).
#[test]
fn the_key_value_cache_gives_the_full_forward_logits() {
    let _rng = common::rng_lock();
    let (_vs, model) = seeded(true, 0.0);
    let idx = Tensor::randint(65, [1, 16], (tch::Kind::Int64, Device::Cpu));
    let full = tch::no_grad(|| model.forward_t(&idx, false)); // [1, 16, 65]
    let mut cache = tchport::models::gpt::KvCache::default();
    let _guard = tch::no_grad_guard();
    let first = model.forward_cached(&idx.narrow(1, 0, 5), &mut cache);
    check_tensor("cached prompt logits", &first, &full.narrow(1, 0, 5), TOL);
    for t in 5..16 {
        let step = model.forward_cached(&idx.narrow(1, t, 1), &mut cache);
        check_tensor(
            &format!("cached logits at {t}"),
            &step,
            &full.narrow(1, t, 1),
            TOL,
        );
    }
    assert_eq!(cache.len(), 16);
}
