//! The step-based training loop of `transformer_lm` (nanoGPT's `train.py`):
//! before step `s`, libtorch's generator is seeded with `step_seed(seed, 0, s)`;
//! then the random windows, the forward pass (dropout), backward, gradient
//! clipping and the AdamW step with the learning rate of `s`. The PyTorch twin
//! (`parity/transformer_lm.py`) runs the same program.

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tch::nn::{self, ModuleT};

use super::config::LmTrainConfig;
use super::eval::{windows_loss, Score, Windows};
use crate::data::shuffle::step_seed;
use crate::data::text::{random_windows, TokenSplit};
use crate::models::Gpt;
use crate::optim::clip_grad_norm;
use crate::train::{interrupt_flag, Progress};

/// One evaluation during training.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRecord {
    /// Optimizer steps done before it.
    pub step: usize,
    /// Mean loss on the training windows.
    pub train: Score,
    /// Mean loss on the validation windows.
    pub val: Score,
    /// The learning rate of the last step (0 before the first).
    pub lr: f64,
}

/// What a training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainRecord {
    /// Every evaluation, in order.
    pub evals: Vec<EvalRecord>,
    /// Steps whose gradients were clipped.
    pub clipped_steps: usize,
    /// Steps run.
    pub steps: usize,
    /// Seconds spent in the steps (evaluations excluded).
    pub train_seconds: f64,
}

/// Trains `model` (its variables in `vs`) on `data.train` for
/// `cfg.max_steps` steps, evaluating on both splits every `cfg.eval_every`
/// steps, at step 0 and at the end. Ctrl-C stops after the current step with
/// an error ([`crate::train::Interrupted`] is not used: nothing is resumed).
pub fn train(
    model: &Gpt,
    vs: &nn::VarStore,
    data: &TokenSplit,
    cfg: &LmTrainConfig,
    progress: Progress,
) -> Result<TrainRecord> {
    let device = vs.device();
    let block = model.config().block_size;
    let mut opt = cfg.optim().build(vs)?;
    let params = opt.parameters();
    let windows = Windows {
        seed: cfg.seed,
        batches: cfg.eval_batches,
        batch_size: cfg.batch_size,
        block_size: block,
        device,
    };
    let eval = |step: usize, lr: f64| EvalRecord {
        step,
        train: Score::new(windows_loss(model, &data.train, windows, 0)),
        val: Score::new(windows_loss(model, &data.val, windows, 1)),
        lr,
    };
    let mut record = TrainRecord {
        evals: vec![eval(0, 0.0)],
        clipped_steps: 0,
        steps: 0,
        train_seconds: 0.0,
    };
    progress.line(eval_line(&record.evals[0]));
    let bar = step_bar(progress, cfg.max_steps);
    let stop = interrupt_flag();
    for step in 0..cfg.max_steps {
        let start = std::time::Instant::now();
        let lr = cfg.lr_at(step);
        opt.set_lr(0, lr);
        tch::manual_seed(step_seed(cfg.seed, 0, step as u64));
        let (x, y) = random_windows(&data.train, block, cfg.batch_size, device);
        let loss = Gpt::loss(&model.forward_t(&x, true), &y);
        opt.zero_grad();
        loss.backward();
        if cfg.clip_grad_norm > 0.0
            && clip_grad_norm(&params, cfg.clip_grad_norm) > cfg.clip_grad_norm
        {
            record.clipped_steps += 1;
        }
        opt.step();
        let loss = loss.double_value(&[]);
        record.train_seconds += start.elapsed().as_secs_f64();
        record.steps = step + 1;
        if !loss.is_finite() {
            bail!(
                "the training loss is {loss} at step {}: try a smaller --lr",
                step + 1
            );
        }
        bar.set_position(step as u64 + 1);
        bar.set_message(format!("loss {loss:.4}"));
        let done = step + 1;
        if done % cfg.eval_every == 0 || done == cfg.max_steps {
            record.evals.push(eval(done, lr));
            bar.suspend(|| progress.line(eval_line(record.evals.last().expect("just pushed"))));
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            bar.finish_and_clear();
            bail!("stopped by Ctrl-C after step {done} (transformer_lm does not resume yet)");
        }
    }
    bar.finish_and_clear();
    Ok(record)
}

/// `step 250: train loss 2.0123 · val loss 2.0857 (perplexity 8.05, 3.009 bits/char)`
pub(crate) fn eval_line(e: &EvalRecord) -> String {
    format!(
        "step {}: train loss {:.4} · val loss {:.4} (perplexity {:.2}, {:.3} bits/char)",
        e.step, e.train.loss, e.val.loss, e.val.perplexity, e.val.bits_per_char
    )
}

fn step_bar(progress: Progress, steps: usize) -> ProgressBar {
    if progress.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("step [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar
}
