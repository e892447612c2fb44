//! The tutorial's CNN (cnn_mnist) in burn: conv1 1→32 and conv2 32→64 (3×3,
//! padding 1), ReLU and 2×2 max-pooling after each, fc 64·7·7→10, ReLU on the logits.

use anyhow::{Context, Result};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::{load, Net};
use crate::weights::Weights;

/// `CNN` of the tutorial.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    pool: MaxPool2d,
    fc: Linear<B>,
}

impl<B: Backend> Cnn<B> {
    /// burn's default initialisation.
    pub fn new(dev: &B::Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1))
                .init(dev)
        };
        Self {
            conv1: conv(1, 32),
            conv2: conv(32, 64),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(64 * 7 * 7, 10).init(dev),
        }
    }
}

impl<B: Backend> Net<B, 4> for Cnn<B> {
    fn forward(&self, xs: Tensor<B, 4>) -> Tensor<B, 2> {
        // xs: [batch, 1, 28, 28]
        let xs = self.pool.forward(relu(self.conv1.forward(xs))); // [batch, 32, 14, 14]
        let xs = self.pool.forward(relu(self.conv2.forward(xs))); // [batch, 64, 7, 7]
        relu(self.fc.forward(xs.flatten(1, 3))) // [batch, 10]
    }

    fn load(mut self, w: &Weights, dev: &B::Device) -> Result<Self> {
        for (conv, name) in [(&mut self.conv1, "conv1"), (&mut self.conv2, "conv2")] {
            load::param(&mut conv.weight, w, &format!("{name}.weight"), dev)?;
            let bias = conv.bias.as_mut().context("conv layers have a bias")?;
            load::param(bias, w, &format!("{name}.bias"), dev)?;
        }
        load::linear(&mut self.fc, w, "fc", dev)?;
        Ok(self)
    }
}
