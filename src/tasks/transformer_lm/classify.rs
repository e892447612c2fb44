//! `--task classify`: the pre-trained GPT fine-tuned to label sentences (the
//! tutorial's pre-training → fine-tuning, its sections 2.2–2.3). The
//! classifier reads the final hidden state of a sentence's last character
//! (GPT-1's pooling, Radford et al. 2018: under causal attention it is the
//! only position that has seen the whole sentence, and right padding never
//! reaches it) or, with `--pooling mean`, the mean over its characters
//! (padding excluded), through a Linear(n_embd, classes) named `classifier`.
//!
//! Sentences longer than the block size keep their first `block_size`
//! characters; characters outside the vocabulary are read as spaces; both are
//! counted in one line.

use anyhow::Result;
use tch::nn;
use tch::{Device, Kind, Tensor};

use super::config::Pooling;
use crate::data::labelled_text::LabelledText;
use crate::data::text::CharVocab;
use crate::models::init;
use crate::models::{Gpt, Linear};

/// A GPT backbone (`transformer.*`, as the language model names it) and a
/// linear classifier on the last character's hidden state.
#[derive(Debug)]
pub struct GptClassifier {
    /// The backbone.
    pub gpt: Gpt,
    classifier: Linear,
    pooling: Pooling,
}

impl GptClassifier {
    /// The backbone (built as `Gpt::new` builds it) and a fresh classifier
    /// head under `p / "classifier"` (PyTorch's Linear initialisation) that
    /// reads the hidden states pooled by `pooling`.
    pub fn new(p: &nn::Path, gpt: Gpt, classes: i64, pooling: Pooling) -> Self {
        let n = gpt.config().n_embd;
        Self {
            classifier: init::linear(p / "classifier", n, classes, true),
            gpt,
            pooling,
        }
    }

    /// Number of classes of the head.
    pub fn classes(&self) -> usize {
        self.classifier.ws.size()[0] as usize
    }

    /// Logits `[batch, classes]` of token ids `idx` `[batch, t]` (right-padded)
    /// whose sentences have `lengths` `[batch]` (≥ 1) characters.
    pub fn logits(&self, idx: &Tensor, lengths: &Tensor, train: bool) -> Tensor {
        let h = self.gpt.hidden_t(idx, train); // [batch, t, n_embd]
        let (t, n) = (h.size()[1], h.size()[2]);
        let pooled = match self.pooling {
            Pooling::Last => {
                let at = (lengths - 1).view([-1, 1, 1]).expand([-1, 1, n], false); // [batch, 1, n_embd]
                h.gather(1, &at, false).squeeze_dim(1)
            }
            Pooling::Mean => {
                let positions = Tensor::arange(t, (Kind::Int64, h.device())).view([1, t]);
                let mask = positions
                    .lt_tensor(&lengths.view([-1, 1]))
                    .to_kind(h.kind()); // [batch, t]
                let sum = (&h * mask.unsqueeze(-1)).sum_dim_intlist(1, false, h.kind());
                sum / lengths.view([-1, 1]).to_kind(h.kind()) // [batch, n_embd]
            }
        };
        pooled.apply(&self.classifier) // [batch, classes]
    }
}

impl crate::quantize::Quantize for GptClassifier {
    /// The backbone's Linear layers and `classifier`.
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        let mut out = self.gpt.linear_layers();
        out.push(&mut self.classifier);
        out
    }
}

/// Sentences as token ids cut to `block` characters, with a line saying what
/// was cut and replaced.
#[derive(Debug)]
pub struct Encoded {
    /// Token ids per sentence (1 ≤ len ≤ block).
    pub ids: Vec<Vec<i64>>,
    /// Class ids.
    pub labels: Vec<i64>,
    /// What the encoding changed, for the report.
    pub note: String,
}

/// Encodes `data` for a model with `vocab` and context `block`.
pub fn encode(data: &LabelledText, vocab: &CharVocab, block: usize, what: &str) -> Encoded {
    let (mut cut, mut replaced) = (0, 0usize);
    let mut ids = Vec::with_capacity(data.len());
    for text in &data.texts {
        let (mut t, unknown) = vocab.encode_lossy(if text.is_empty() { " " } else { text });
        replaced += unknown.len();
        if t.len() > block {
            t.truncate(block);
            cut += 1;
        }
        ids.push(t);
    }
    let note = format!(
        "{what}: {} sentences; {cut} longer than the block size ({block}) keep their first {block} \
         characters; {replaced} characters outside the vocabulary read as spaces",
        data.len()
    );
    Encoded {
        ids,
        labels: data.labels.clone(),
        note,
    }
}

/// The sentences `rows` of `enc` as one right-padded batch: ids
/// `[rows, longest]`, lengths `[rows]`, labels `[rows]`, on `device`.
pub fn batch(enc: &Encoded, rows: &[i64], device: Device) -> (Tensor, Tensor, Tensor) {
    let longest = rows
        .iter()
        .map(|&r| enc.ids[r as usize].len())
        .max()
        .unwrap_or(1);
    let mut flat = vec![0i64; rows.len() * longest];
    for (k, &r) in rows.iter().enumerate() {
        let s = &enc.ids[r as usize];
        flat[k * longest..k * longest + s.len()].copy_from_slice(s);
    }
    let idx = Tensor::from_slice(&flat).view([rows.len() as i64, longest as i64]);
    let lengths: Vec<i64> = rows
        .iter()
        .map(|&r| enc.ids[r as usize].len() as i64)
        .collect();
    let labels: Vec<i64> = rows.iter().map(|&r| enc.labels[r as usize]).collect();
    (
        idx.to_device(device),
        Tensor::from_slice(&lengths).to_device(device),
        Tensor::from_slice(&labels).to_device(device),
    )
}

/// Predicted classes and their probabilities for every sentence of `enc`, in
/// batches of `batch_size` (the last partial batch included), eval mode.
pub fn predict(
    model: &GptClassifier,
    enc: &Encoded,
    batch_size: usize,
    device: Device,
) -> Result<(Vec<i64>, Vec<f64>)> {
    let _guard = tch::no_grad_guard();
    let (mut classes, mut probs) = (Vec::new(), Vec::new());
    let all: Vec<i64> = (0..enc.ids.len() as i64).collect();
    for rows in all.chunks(batch_size.max(1)) {
        let (idx, lengths, _) = batch(enc, rows, device);
        let p = model.logits(&idx, &lengths, false).softmax(-1, Kind::Float); // [rows, classes]
        let (best, class) = p.max_dim(1, false);
        classes.extend(Vec::<i64>::try_from(class.to_device(Device::Cpu))?);
        probs.extend(Vec::<f64>::try_from(
            best.to_device(Device::Cpu).to_kind(Kind::Double),
        )?);
    }
    Ok((classes, probs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::GptConfig;

    /// A sentence gets the same logits alone and right-padded beside a
    /// longer one, for both poolings: padding never reaches the head.
    #[test]
    fn padding_changes_no_logit_under_either_pooling() {
        let mut seen = Vec::new();
        for pooling in [Pooling::Last, Pooling::Mean] {
            tch::manual_seed(0);
            let vs = nn::VarStore::new(Device::Cpu);
            let cfg = GptConfig {
                vocab_size: 12,
                block_size: 8,
                n_layer: 1,
                n_head: 2,
                n_embd: 16,
                ..GptConfig::default()
            };
            let gpt = Gpt::new(&vs.root(), &cfg).unwrap();
            let model = GptClassifier::new(&vs.root(), gpt, 3, pooling);
            let enc = Encoded {
                ids: vec![vec![3, 1, 4], vec![1, 5, 9, 2, 6, 5]],
                labels: vec![0, 1],
                note: String::new(),
            };
            let _guard = tch::no_grad_guard();
            let logits = |rows: &[i64]| {
                let (idx, lengths, _) = batch(&enc, rows, Device::Cpu);
                model.logits(&idx, &lengths, false)
            };
            let alone = logits(&[0]);
            let padded = logits(&[0, 1]).narrow(0, 0, 1);
            let diff = (&alone - &padded).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{pooling:?}: {diff}");
            seen.push(alone);
        }
        // The same weights (seed 0), read two ways.
        let apart = (&seen[0] - &seen[1]).abs().max().double_value(&[]);
        assert!(apart > 1e-4, "the poolings differ: {apart}");
    }
}
