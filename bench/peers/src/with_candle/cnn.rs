//! The tutorial's CNN (cnn_mnist): conv1 1→32 and conv2 32→64 (3×3, padding 1),
//! each followed by ReLU and 2×2 max-pooling, then fc 64·7·7→10 and the
//! tutorial's ReLU on the logits. Keys: `conv1.*`, `conv2.*`, `fc.*`.
//!
//! candle 0.9.2's `max_pool2d` backward multiplies the gradient of a window's
//! maximum by (number of maxima) / (window size), so a unique maximum of a 2×2
//! window gets a quarter of its gradient (`candle-core/src/backprop.rs`,
//! `Op::MaxPool2D`; the test below shows it). Training therefore pools with
//! [`max_pool2x2`], a reshape and two `max` reductions whose backward passes
//! the whole gradient to the maximum, as PyTorch's; inference keeps the kernel.

use candle_core::{Module, Result, Tensor};
use candle_nn::{conv2d, linear, Conv2d, Conv2dConfig, Linear, VarBuilder};

use super::Model;

/// `CNN` of the tutorial, in candle.
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Linear,
}

impl Cnn {
    /// Creates (or, with a loaded `VarBuilder`, reads) `conv1`, `conv2`, `fc`.
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Self {
            conv1: conv2d(1, 32, 3, cfg, vb.pp("conv1"))?,
            conv2: conv2d(32, 64, 3, cfg, vb.pp("conv2"))?,
            fc: linear(64 * 7 * 7, 10, vb.pp("fc"))?,
        })
    }
}

/// 2×2 max-pooling with stride 2 of `[batch, channels, h, w]` (h, w even) as
/// reductions: `[b, c, h/2, 2, w/2, 2]`, max over the two window axes.
pub fn max_pool2x2(xs: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = xs.dims4()?;
    xs.reshape((b, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3) // [b, c, h/2, w/2]
}

impl Model for Cnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let pool = |t: Tensor| {
            if train {
                max_pool2x2(&t)
            } else {
                t.max_pool2d(2)
            }
        };
        // xs: [batch, 1, 28, 28]
        let xs = pool(self.conv1.forward(xs)?.relu()?)?; // [batch, 32, 14, 14]
        let xs = pool(self.conv2.forward(&xs)?.relu()?)?; // [batch, 64, 7, 7]
        self.fc.forward(&xs.flatten_from(1)?)?.relu() // [batch, 10]
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::max_pool2x2;

    /// The gradient of `sum(pool(x))` for x = [[1, 2], [3, 4]]: 1 at the 4, 0 elsewhere.
    fn pooled_gradient(pool: impl Fn(&Tensor) -> candle_core::Result<Tensor>) -> Vec<f32> {
        let x = Var::from_vec(vec![1f32, 2., 3., 4.], (1, 1, 2, 2), &Device::Cpu).unwrap();
        let grads = pool(x.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn reduction_pooling_passes_the_whole_gradient_to_the_maximum() {
        assert_eq!(pooled_gradient(max_pool2x2), [0., 0., 0., 1.]);
    }

    /// Documents the candle behaviour the training path avoids; if a candle
    /// release fixes it, this test fails and the workaround can go.
    #[test]
    fn candle_max_pool2d_backward_gives_a_unique_maximum_a_quarter() {
        assert_eq!(pooled_gradient(|t| t.max_pool2d(2)), [0., 0., 0., 0.25]);
    }

    #[test]
    fn both_poolings_agree_forward() {
        let x = Tensor::rand(0f32, 1., (2, 3, 28, 28), &Device::Cpu).unwrap();
        let a = max_pool2x2(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = x
            .max_pool2d(2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b);
    }
}
