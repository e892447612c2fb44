//! The models' Linear layer: `nn.Linear`, whose weight may be replaced by
//! int8 values with per-output-channel scales (`--quantize int8`, an int8
//! checkpoint of `--save-quantized`), as gpt-fast's `WeightOnlyInt8Linear`.
//!
//! In float the layer is tch's `nn::Linear` exactly: the same fields, the same
//! call (`xs.linear(weight, bias)`), so every parity test still compares the
//! very same numbers with PyTorch. With int8 weights its forward is libtorch's
//! `_weight_int8pack_mm` (the weight-only int8 kernel torchao and gpt-fast call
//! on the CPU: `A @ (q · scales)ᵀ`, A float `[M, K]`, q int8 `[N, K]`, scales
//! `[N]` of A's dtype), then the float bias.

use anyhow::{ensure, Result};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// A weight as int8 values and one scale per output channel: the weight is
/// `q · scales[:, None]` (see [`crate::quantize::int8`]).
#[derive(Debug)]
pub struct Int8Weight {
    /// int8 values `[out, in]`, contiguous.
    pub q: Tensor,
    /// float32 scales `[out]`.
    pub scales: Tensor,
}

/// `nn.Linear(in, out, bias)`: `y = x Wᵀ + b`, `W` `[out, in]`; optionally
/// with an int8 weight ([`Linear::set_int8`]) that then serves the forward.
#[derive(Debug)]
pub struct Linear {
    /// The float weight `[out, in]` (the VarStore's `weight`). With an int8
    /// weight it holds the dequantized values and is not used by the forward.
    pub ws: Tensor,
    /// The bias `[out]` (the VarStore's `bias`), float in every case.
    pub bs: Option<Tensor>,
    int8: Option<Int8Weight>,
}

impl Linear {
    /// A float layer of these variables.
    pub fn new(ws: Tensor, bs: Option<Tensor>) -> Self {
        Self { ws, bs, int8: None }
    }

    /// The int8 weight, when the layer has one.
    pub fn int8(&self) -> Option<&Int8Weight> {
        self.int8.as_ref()
    }

    /// `(out, in)` features.
    pub fn shape(&self) -> (i64, i64) {
        let s = self.ws.size();
        (s[0], s[1])
    }

    /// Makes the forward run on `w` (int8 `[out, in]`, scales `[out]`).
    ///
    /// # Errors
    /// Another shape than the float weight's, or other dtypes.
    pub fn set_int8(&mut self, w: Int8Weight) -> Result<()> {
        let (out, inp) = self.shape();
        ensure!(
            w.q.kind() == Kind::Int8 && w.q.size() == [out, inp],
            "int8 weight {:?} {:?} does not fit a Linear({inp}, {out})",
            w.q.kind(),
            w.q.size()
        );
        ensure!(
            w.scales.kind() == Kind::Float && w.scales.size() == [out],
            "scales {:?} {:?} do not fit a Linear({inp}, {out}): float32 [{out}] expected",
            w.scales.kind(),
            w.scales.size()
        );
        self.int8 = Some(Int8Weight {
            q: w.q.contiguous(),
            scales: w.scales.contiguous(),
        });
        Ok(())
    }
}

impl From<nn::Linear> for Linear {
    fn from(l: nn::Linear) -> Self {
        Self::new(l.ws, l.bs)
    }
}

impl Int8Weight {
    /// `xs` `[.., in]` (float32, bfloat16 or float16) `@ (q · scales)ᵀ` →
    /// `[.., out]` through `_weight_int8pack_mm`, whose CPU kernel takes a 2-D
    /// input contiguous in its last dimension and scales of the input's dtype:
    /// the leading dimensions are flattened into rows and restored after.
    pub fn matmul(&self, xs: &Tensor) -> Tensor {
        let mut shape = xs.size();
        let k = shape.pop().unwrap_or(1);
        let a = xs.reshape([-1, k]).contiguous(); // [M, K]
        let y = match xs.kind() {
            Kind::Float => a.internal_weight_int8pack_mm(&self.q, &self.scales),
            kind => a.internal_weight_int8pack_mm(&self.q, &self.scales.to_kind(kind)),
        }; // [M, N]
        shape.push(self.q.size()[0]);
        y.reshape(shape)
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        match &self.int8 {
            // tch's nn::Linear::forward, the call every parity test checks.
            None => xs.linear(&self.ws, self.bs.as_ref()),
            Some(w) => match &self.bs {
                Some(b) => w.matmul(xs) + b,
                None => w.matmul(xs),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn int8_forward_keeps_leading_dimensions_and_adds_the_bias() {
        let ws = Tensor::randn([5, 7], (Kind::Float, Device::Cpu));
        let bs = Tensor::randn([5], (Kind::Float, Device::Cpu));
        let mut l = Linear::new(ws, Some(bs.shallow_clone()));
        let (q, scales) = crate::quantize::int8::quantize_per_channel(&l.ws);
        let deq = crate::quantize::int8::dequantize(&q, &scales);
        l.set_int8(Int8Weight { q, scales }).expect("fits");
        let xs = Tensor::randn([2, 3, 7], (Kind::Float, Device::Cpu));
        let got = l.forward(&xs);
        assert_eq!(got.size(), [2, 3, 5]);
        let want = xs.linear(&deq, Some(&bs));
        let d = (got - want).abs().max().double_value(&[]);
        assert!(d < 1e-5, "int8 forward against the dequantized matmul: {d}");
    }

    #[test]
    fn a_misfit_int8_weight_is_refused() {
        let mut l = Linear::new(Tensor::zeros([4, 3], (Kind::Float, Device::Cpu)), None);
        let q = Tensor::zeros([3, 4], (Kind::Int8, Device::Cpu));
        let scales = Tensor::ones([3], (Kind::Float, Device::Cpu));
        let e = l
            .set_int8(Int8Weight { q, scales })
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not fit a Linear(3, 4)"), "{e}");
    }
}
