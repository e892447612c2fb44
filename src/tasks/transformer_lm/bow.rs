//! The two baselines of `--task classify`, computed on the same test split:
//! the majority class of the training labels, and a bag-of-words logistic
//! regression (the mean of per-word weight vectors, i.e. multinomial logistic
//! regression on length-normalised word counts; words seen at least twice in
//! training; L2 penalty; 300 full-batch Adam steps) — the classic strong
//! baseline of sentence polarity (Pang & Lee 2005; Wang & Manning 2012).

use std::collections::HashMap;

use anyhow::Result;
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::data::labelled_text::LabelledText;
use crate::optim::{OptimConfig, OptimizerKind};

/// Lower-cased words: runs of letters, digits and apostrophes.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The majority class of `labels` (the smaller id on a tie).
pub fn majority(labels: &[i64], classes: usize) -> i64 {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    (0..classes)
        .max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
        .unwrap_or(0) as i64
}

/// A fitted bag-of-words logistic regression.
#[derive(Debug)]
pub(crate) struct BagOfWords {
    vocab: HashMap<String, i64>,
    weight: Tensor, // [words + 1, classes]; row `words` is the "no known word" row
    bias: Tensor,   // [classes]
}

const STEPS: usize = 300;
const L2: f64 = 1e-4;

impl BagOfWords {
    /// Fits the model on `train` (seeded by `seed`, on the CPU).
    pub fn fit(train: &LabelledText, seed: u64) -> Result<Self> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for t in &train.texts {
            for w in words(t) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut kept: Vec<String> = counts
            .into_iter()
            .filter(|(_, c)| *c >= 2)
            .map(|(w, _)| w)
            .collect();
        kept.sort();
        let vocab: HashMap<String, i64> = kept
            .into_iter()
            .enumerate()
            .map(|(i, w)| (w, i as i64))
            .collect();
        let classes = train.class_names.len() as i64;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let rows = vocab.len() as i64 + 1;
        let weight = vs
            .root()
            .var("weight", &[rows, classes], nn::Init::Const(0.0));
        let bias = vs.root().var("bias", &[classes], nn::Init::Const(0.0));
        let model = Self {
            vocab,
            weight,
            bias,
        };
        let (indices, offsets) = model.bags(&train.texts);
        let target = Tensor::from_slice(&train.labels);
        let adam = OptimConfig {
            optimizer: OptimizerKind::Adam,
            lr: 0.05,
            ..OptimConfig::default()
        };
        let mut opt = adam.build(&vs)?;
        for _ in 0..STEPS {
            let logits = model.logits(&indices, &offsets);
            let loss = logits.cross_entropy_for_logits(&target)
                + model.weight.square().sum(Kind::Float) * L2;
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        Ok(model)
    }

    /// Predicted class per sentence.
    pub fn predict(&self, texts: &[String]) -> Result<Vec<i64>> {
        let _guard = tch::no_grad_guard();
        let (indices, offsets) = self.bags(texts);
        Ok(Vec::<i64>::try_from(
            self.logits(&indices, &offsets).argmax(1, false),
        )?)
    }

    /// Word ids of every sentence, concatenated, and where each starts.
    fn bags(&self, texts: &[String]) -> (Tensor, Tensor) {
        let unknown = self.vocab.len() as i64;
        let (mut indices, mut offsets) = (Vec::new(), Vec::with_capacity(texts.len()));
        for t in texts {
            offsets.push(indices.len() as i64);
            let before = indices.len();
            indices.extend(words(t).iter().filter_map(|w| self.vocab.get(w).copied()));
            if indices.len() == before {
                indices.push(unknown);
            }
        }
        (Tensor::from_slice(&indices), Tensor::from_slice(&offsets))
    }

    /// `[sentences, classes]`: the mean word weight plus the bias.
    fn logits(&self, indices: &Tensor, offsets: &Tensor) -> Tensor {
        let (mean, _, _, _) = Tensor::embedding_bag::<Tensor>(
            &self.weight,
            indices,
            offsets,
            false,
            1,
            false,
            None,
            false,
        );
        mean + &self.bias
    }
}
