//! The tutorial's CNN (section 4.1): two 3×3 conv + ReLU + 2×2 max-pool stages and
//! one linear layer, on 28×28 single-channel images.
//!
//! Parameter names equal the PyTorch module's `state_dict` keys:
//! `conv1.weight`, `conv1.bias`, `conv2.weight`, `conv2.bias`, `fc.weight`, `fc.bias`.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use super::{init, Linear};

/// Shape options of [`Cnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct CnnConfig {
    /// Drop the tutorial's ReLU on the logits (the usual CNN; learns faster).
    /// The tutorial's `forward` applies it (`x = F.relu(self.fc(x))`), which
    /// clips every negative logit to 0 and slows learning.
    #[arg(long = "no-logit-relu", action = clap::ArgAction::SetFalse)]
    pub logit_relu: bool,
    /// Number of output classes (set by `--digits`).
    #[arg(skip = CnnConfig::default().num_classes)]
    pub num_classes: i64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            logit_relu: true,
            num_classes: 10,
        }
    }
}

/// `CNN` of the tutorial: conv1 1→32, conv2 32→64, fc 64·7·7→10.
#[derive(Debug)]
pub struct Cnn {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc: Linear,
    logit_relu: bool,
}

impl Cnn {
    /// Image side the model expects (the flatten size is fixed at 64·7·7).
    pub(crate) const IMAGE_SIDE: i64 = 28;

    /// Builds the layers under `p`, in PyTorch's construction order.
    pub fn new(p: &nn::Path, cfg: &CnnConfig) -> Self {
        Self {
            conv1: init::conv2d(p / "conv1", 1, 32, 3, 1),
            conv2: init::conv2d(p / "conv2", 32, 64, 3, 1),
            fc: init::linear(p / "fc", 64 * 7 * 7, cfg.num_classes, true),
            logit_relu: cfg.logit_relu,
        }
    }
}

impl crate::quantize::Quantize for Cnn {
    /// `fc` (the convolutions are rounded to int8 and run in float32).
    fn linear_layers(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.fc]
    }
}

impl nn::ModuleT for Cnn {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        // xs: [batch, 1, 28, 28]
        let xs = xs.apply(&self.conv1).relu().max_pool2d_default(2); // [batch, 32, 14, 14]
        let xs = xs.apply(&self.conv2).relu().max_pool2d_default(2); // [batch, 64, 7, 7]
        let logits = xs.flatten(1, -1).apply(&self.fc); // [batch, classes]
        if self.logit_relu {
            logits.relu()
        } else {
            logits
        }
    }
}
