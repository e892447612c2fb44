//! `--warmup-steps N` against PyTorch (issue 19, item 3): the rate of every
//! optimizer step equals that of PyTorch's `LambdaLR` form of the warm-up
//! (`parity/common.py::warmup_scheduler`, stepped after every step), composed
//! with the constant, step and cosine epoch schedules, to the last bit; and a
//! short Adam run of the `cnn_mnist` example with the flag ends with the very
//! weights of its PyTorch twin (`parity/cnn_mnist.py --warmup-steps`).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use tchport::schedule::{warmed_lr, LrSchedule};

/// PyTorch's rate of each of `epochs · steps` optimizer steps (`parity/schedulers.py`).
fn torch_rates(
    base: f64,
    epochs: usize,
    (warmup, steps): (usize, usize),
    sched: &[&str],
) -> Vec<f64> {
    let (base, epochs, warmup, steps) = (
        base.to_string(),
        epochs.to_string(),
        warmup.to_string(),
        steps.to_string(),
    );
    let mut args = vec![
        "--lr",
        &base,
        "--epochs",
        &epochs,
        "--warmup-steps",
        &warmup,
        "--steps-per-epoch",
        &steps,
    ];
    args.extend_from_slice(sched);
    let out = common::python("schedulers.py", &args);
    let reprs: Vec<String> = serde_json::from_str(out.trim()).expect("a JSON list of reprs");
    reprs
        .iter()
        .map(|r| r.parse().expect("a float repr"))
        .collect()
}

#[test]
fn warmup_rates_equal_pytorchs_lambda_lr_composed_with_each_schedule() {
    let (base, epochs, warmup, steps) = (0.03, 5, 7, 3);
    let cases: [(LrSchedule, &[&str]); 3] = [
        (LrSchedule::Constant, &["constant"]),
        (
            LrSchedule::Step {
                step_size: 2,
                gamma: 0.7,
            },
            &["step", "--step-size", "2", "--gamma", "0.7"],
        ),
        (
            LrSchedule::Cosine {
                t_max: epochs,
                eta_min: 0.001,
            },
            &["cosine", "--t-max", "5", "--eta-min", "0.001"],
        ),
    ];
    for (schedule, flags) in cases {
        let want = torch_rates(base, epochs, (warmup, steps), flags);
        let got: Vec<f64> = (0..epochs * steps)
            .map(|s| warmed_lr(base, schedule.lr_at(base, s / steps), s, warmup))
            .collect();
        println!("{schedule:?}: {got:?}");
        assert_eq!(got, want, "{schedule:?}: per-step rates against LambdaLR");
        assert_eq!(got[0], 0.0, "linear from 0");
        assert!(got[1] > 0.0 && got[1] < got[2], "rising during the warm-up");
    }
}

#[test]
fn a_warmed_up_adam_run_equals_its_pytorch_twin() {
    let dir = common::scratch("warmup-twin");
    let (rust, torch) = (
        dir.join("rust/ckpt.safetensors"),
        dir.join("torch.safetensors"),
    );
    // 300 images at batch 50: 6 steps an epoch, warm-up over 8 (into epoch 2).
    let flags = "--optimizer adam --lr 0.002 --warmup-steps 8 --epochs 2 --batch-size 50 \
                 --train-limit 300 --test-limit 100 --seed 1 --quiet";
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let out = Command::new(cnn_mnist())
        .args(&flags)
        .args(["--save", rust.to_str().expect("UTF-8")])
        .current_dir(common::repo_root())
        .output()
        .expect("cnn_mnist runs");
    assert!(
        out.status.success(),
        "cnn_mnist failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut twin = flags.clone();
    twin.extend([
        "--no-eval-each-epoch",
        "--save",
        torch.to_str().expect("UTF-8"),
    ]);
    common::python("cnn_mnist.py", &twin);
    let config = common::read_json(&rust.with_file_name("config.json"));
    assert_eq!(config["tune"]["warmup_steps"], 8, "config.json carries it");
    let (got, want) = (common::read(&rust), common::read(&torch));
    let mut worst = 0.0f64;
    for (name, w) in &want {
        worst = worst.max(common::check_tensor(
            &format!("warm-up run {name}"),
            &got[name],
            w,
            0.0,
        ));
    }
    println!(
        "warm-up run against its twin: worst |Δ| {worst:e} over {} tensors",
        want.len()
    );
}

/// The `cnn_mnist` example, built from this source first.
fn cnn_mnist() -> PathBuf {
    common::built_example("cnn_mnist")
}
