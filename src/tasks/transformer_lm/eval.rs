//! Scoring a language model: the mean next-character cross-entropy on random
//! windows (nanoGPT's `estimate_loss`) and on the whole validation text, with
//! perplexity and bits per character, against the unigram and bigram
//! character models fitted on the training text.

use serde::Serialize;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::data::shuffle::step_seed;
use crate::data::text::random_windows;
use crate::models::Gpt;

/// Mixed into the run seed for the evaluation windows, so they differ from
/// the training windows and stay the same at every evaluation.
const EVAL_SEED_TAG: u64 = 0x5EED_0E7A;

/// A cross-entropy in nats per character, with its two usual readings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// Mean cross-entropy, natural log (PyTorch's `F.cross_entropy`).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// `loss / ln 2`.
    pub bits_per_char: f64,
}

impl Score {
    /// The readings of `loss` (nats).
    pub fn new(loss: f64) -> Self {
        Self {
            loss,
            perplexity: loss.exp(),
            bits_per_char: loss / std::f64::consts::LN_2,
        }
    }
}

/// Mean loss of `model` (eval mode, no gradients) on `batches` random windows
/// of `data`, drawn from seeds fixed by (`seed`, `split`, batch), so every
/// evaluation of a run scores the same windows. The windows' draws reseed
/// libtorch's global generator; the training loop reseeds it before each step.
pub fn windows_loss(model: &Gpt, data: &Tensor, window: Windows, split: u64) -> f64 {
    let _guard = tch::no_grad_guard();
    let mut total = 0.0;
    for k in 0..window.batches {
        tch::manual_seed(step_seed(window.seed ^ EVAL_SEED_TAG, split, k as u64));
        let (x, y) = random_windows(data, window.block_size, window.batch_size, window.device);
        let logits = model.forward_t(&x, false); // [batch, block, vocab]
        total += Gpt::loss(&logits, &y).double_value(&[]);
    }
    total / window.batches as f64
}

/// Which windows [`windows_loss`] draws.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// The run seed.
    pub seed: u64,
    /// Batches per split.
    pub batches: usize,
    /// Windows per batch.
    pub batch_size: i64,
    /// Tokens per window.
    pub block_size: i64,
    /// Where the model is.
    pub device: Device,
}

/// Mean loss of `model` on every next-character target of `data` `[n]`: the
/// text cut into consecutive blocks of `block_size` inputs (the last one
/// shorter, never dropped), each predicting its next characters, so the
/// targets are exactly `data[1..]` (what [`baselines`] scores too).
pub fn full_text_loss(model: &Gpt, data: &Tensor, block_size: i64, device: Device) -> f64 {
    let _guard = tch::no_grad_guard();
    let targets = data.size()[0] - 1;
    let full = targets / block_size;
    let mut total = 0.0;
    let mut score = |start: i64, rows: i64, len: i64| {
        let x = data.narrow(0, start, rows * len).view([rows, len]); // [rows, len]
        let y = data.narrow(0, start + 1, rows * len).view([rows, len]);
        let logits = model.forward_t(&x.to_device(device), false); // [rows, len, vocab]
        let loss = Gpt::loss(&logits, &y.to_device(device)).double_value(&[]);
        total += loss * (rows * len) as f64;
    };
    let mut row = 0;
    while row < full {
        let rows = (full - row).min(FULL_TEXT_BATCH);
        score(row * block_size, rows, block_size);
        row += rows;
    }
    let rest = targets - full * block_size;
    if rest > 0 {
        score(full * block_size, 1, rest);
    }
    total / targets as f64
}

/// Blocks per forward pass of [`full_text_loss`].
const FULL_TEXT_BATCH: i64 = 64;

/// The two baselines on the validation text, fitted on the training text.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Baselines {
    /// Each character by its frequency in the training text.
    pub unigram: Score,
    /// Each character by its frequency after the previous one.
    pub bigram: Score,
}

/// The unigram and bigram character models of `train` (add-one smoothing
/// over the `vocab` characters, so a pair never seen in training costs
/// `ln(count(a) + vocab)` instead of infinity), scored on the targets
/// `val[1..]` (the bigram conditioning on `val[i−1]`).
pub fn baselines(train: &Tensor, val: &Tensor, vocab: i64) -> Baselines {
    let train = train.to_kind(Kind::Int64);
    let val = val.to_kind(Kind::Int64);
    let v = vocab;
    let uni = train.bincount::<Tensor>(None, v).to_kind(Kind::Double) + 1.0; // [v]
    let log_uni = (&uni / uni.sum(Kind::Double)).log();
    let n = train.size()[0];
    let pairs = train.narrow(0, 0, n - 1) * v + train.narrow(0, 1, n - 1);
    let bi = pairs
        .bincount::<Tensor>(None, v * v)
        .to_kind(Kind::Double)
        .view([v, v])
        + 1.0;
    let log_bi = (&bi / bi.sum_dim_intlist([1i64].as_slice(), true, Kind::Double)).log(); // [v, v]
    let m = val.size()[0];
    let prev = val.narrow(0, 0, m - 1);
    let next = val.narrow(0, 1, m - 1);
    let unigram = -log_uni
        .index_select(0, &next)
        .mean(Kind::Double)
        .double_value(&[]);
    let bigram = -log_bi
        .view([-1])
        .index_select(0, &(prev * v + &next))
        .mean(Kind::Double)
        .double_value(&[]);
    Baselines {
        unigram: Score::new(unigram),
        bigram: Score::new(bigram),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_of_a_deterministic_text() {
        // "abab…": after 'a' always 'b'; the bigram beats the unigram.
        let ids: Vec<i64> = (0..200).map(|i| i % 2).collect();
        let t = Tensor::from_slice(&ids);
        let b = baselines(&t, &t, 2);
        assert!(
            (b.unigram.loss - std::f64::consts::LN_2).abs() < 1e-3,
            "{b:?}"
        );
        // add-one: p(b|a) = (100 + 1) / (100 + 2) ≈ 0.990
        assert!(b.bigram.loss < 0.02, "{b:?}");
    }
}
