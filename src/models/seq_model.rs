//! The model of transformer_seq: a Transformer encoder or the tutorial's LSTM
//! (`--arch`), behind one `ModuleT`.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{SeqLstm, SeqLstmConfig, SeqTransformer, TransformerConfig};

/// Which model (`--arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Transformer encoder: self-attention + sinusoidal position encoding.
    #[default]
    Transformer,
    /// The tutorial's model: LSTM(10, 50), sequence-first, Linear(50, 1) per step.
    Lstm,
}

/// Either model, behind one `ModuleT`.
#[derive(Debug)]
pub enum SeqModel {
    /// `--arch transformer`.
    Transformer(SeqTransformer),
    /// `--arch lstm`.
    Lstm(SeqLstm),
}

impl SeqModel {
    /// Builds the model `arch` names under `p`, with its options.
    pub fn new(
        p: &nn::Path,
        arch: Arch,
        transformer: &TransformerConfig,
        lstm: &SeqLstmConfig,
    ) -> Self {
        match arch {
            Arch::Transformer => SeqModel::Transformer(SeqTransformer::new(p, transformer)),
            Arch::Lstm => SeqModel::Lstm(SeqLstm::new(p, lstm)),
        }
    }
}

impl crate::quantize::Quantize for SeqModel {
    fn linear_layers(&mut self) -> Vec<&mut super::Linear> {
        match self {
            SeqModel::Transformer(m) => m.linear_layers(),
            SeqModel::Lstm(m) => m.linear_layers(),
        }
    }
}

impl ModuleT for SeqModel {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            SeqModel::Transformer(m) => m.forward_t(xs, train),
            SeqModel::Lstm(m) => m.forward_t(xs, train),
        }
    }
}
