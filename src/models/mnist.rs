//! The CNN behind MNIST's pixel pipeline: uint8 images in, logits out.

use tch::{nn, Tensor};

use crate::data::mnist::{self, MNIST_MEAN_STD};
use crate::models::{Cnn, CnnConfig};

/// The CNN behind the pixel pipeline: uint8 batches `[n, 1, 28, 28]` (the
/// data sets stay uint8, see [`crate::data::mnist::ImageSet`]) are scaled to [0, 1] and, with
/// `--normalize`, standardised with MNIST's mean and std, batch by batch, then
/// go through the CNN; float inputs (already prepared, e.g. by `--predict`)
/// go straight to the CNN. Adds no variables: its names are the CNN's.
#[derive(Debug)]
pub struct MnistModel {
    /// The tutorial's CNN.
    pub cnn: Cnn,
    /// `(mean, std)` of `--normalize`.
    pub normalize: Option<(f64, f64)>,
}

impl MnistModel {
    /// The CNN of `model` under `p`, with its input pipeline; `normalize`:
    /// standardise with MNIST's mean and std (`--normalize`).
    pub fn new(p: &nn::Path, model: &CnnConfig, normalize: bool) -> Self {
        Self {
            cnn: Cnn::new(p, model),
            normalize: normalize.then_some(MNIST_MEAN_STD),
        }
    }
}

impl MnistModel {
    /// The CNN's input for `xs`: uint8 pixels scaled to [0, 1] and
    /// standardised with `normalize`; float inputs as they are.
    pub fn prepare(xs: &Tensor, normalize: Option<(f64, f64)>) -> Tensor {
        if xs.kind() != tch::Kind::Uint8 {
            return xs.shallow_clone();
        }
        let x = mnist::pixels_to_float(xs); // [n, 1, 28, 28] in [0, 1]
        mnist::normalize(&x, normalize)
    }
}

impl crate::quantize::Quantize for MnistModel {
    fn linear_layers(&mut self) -> Vec<&mut crate::models::Linear> {
        self.cnn.linear_layers()
    }
}

impl nn::ModuleT for MnistModel {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.cnn
            .forward_t(&Self::prepare(xs, self.normalize), train)
    }
}
