//! PyTorch's default initialisation for the layers tch builds.
//!
//! tch's `nn::linear` and `nn::conv2d` draw weights from Kaiming-uniform with
//! gain √2 (bound √(6/fan_in)); PyTorch's `nn.Linear` and `nn.Conv2d` use
//! `kaiming_uniform_(a=√5)`, whose bound is 1/√fan_in, for weights and biases
//! alike. Both draw with `uniform_` on libtorch's global generator, weight first,
//! so with the same `manual_seed` and the same construction order the Rust
//! layers start from the very same numbers as PyTorch's.

use tch::nn::{self, Init};

/// `U(-1/√fan_in, 1/√fan_in)`: PyTorch's default for Linear/Conv weights and biases.
pub(crate) fn fan_in_uniform(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// `nn.Linear(in_dim, out_dim, bias)` with PyTorch's initialisation, weight
/// drawn before bias as PyTorch does (tch's `nn::linear` draws the bias first);
/// the layer is [`super::Linear`] (tch's `nn::Linear`, able to hold int8 weights).
pub fn linear(p: nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> super::Linear {
    let init = fan_in_uniform(in_dim);
    let ws = p.var("weight", &[out_dim, in_dim], init);
    let bs = bias.then(|| p.var("bias", &[out_dim], init));
    super::Linear::new(ws, bs)
}

/// `nn.Conv2d(in_ch, out_ch, kernel, padding=padding)` with PyTorch's
/// initialisation, weight drawn before bias.
pub fn conv2d(p: nn::Path, in_ch: i64, out_ch: i64, kernel: i64, padding: i64) -> nn::Conv2D {
    let init = fan_in_uniform(in_ch * kernel * kernel);
    let cfg = nn::ConvConfig {
        padding,
        ws_init: init,
        bias: false,
        ..Default::default()
    };
    let mut conv = nn::conv2d(&p, in_ch, out_ch, kernel, cfg);
    conv.bs = Some(p.var("bias", &[out_ch], init));
    conv
}
