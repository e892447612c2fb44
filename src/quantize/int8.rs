//! Symmetric per-output-channel int8 quantization of a weight, the formula of
//! gpt-fast's `quantize.py` (`dynamically_quantize_per_channel(w.float(), -128,
//! 127, torch.int8)`, the weight-only int8 mode its `WeightOnlyInt8Linear`
//! runs) and of torchao's int8 weight-only quantization (`choose_qparams_affine`
//! with `MappingType.SYMMETRIC`, `quant_min = -128`, `quant_max = 127`):
//!
//! ```text
//! amax[c]   = max |w[c, :]|                  (one row per output channel)
//! scales[c] = max(amax[c] / 127.5, ε)        127.5 = (quant_max − quant_min) / 2; ε = float32 eps
//! q[c, j]   = clamp(round(w[c, j] / scales[c]), −128, 127)   round: half to even
//! ```
//!
//! So the range is [-128, 127], and a row's largest |w| maps to ±127.5 up to
//! the float32 rounding of its scale: to 127 (128 clamped) or -128 when the
//! quotient reaches 127.5, else to ±127. The same
//! operations run in the same order on float32 as in PyTorch, so `q` and
//! `scales` are PyTorch's bit for bit (`tests/it/quantize.rs`). A convolution
//! weight `[out, in, kh, kw]` is quantized by its rows `[out, in·kh·kw]`.

use tch::{Kind, Tensor};

/// `torch.finfo(torch.float32).eps`, the floor of a scale (an all-zero row).
pub const EPS: f64 = f32::EPSILON as f64;

/// `(quant_max − quant_min) / 2` of the int8 range [-128, 127].
pub const HALF_RANGE: f64 = 127.5;

/// int8 values (`w`'s shape) and float32 scales `[out]` of `w` `[out, ...]`
/// (float), by the formula of the module header.
pub fn quantize_per_channel(w: &Tensor) -> (Tensor, Tensor) {
    let shape = w.size();
    let rows = w.to_kind(Kind::Float).reshape([shape[0], -1]); // [out, in·...]
    let amax = rows.abs().amax([1], false); // [out]
    let scales = (amax / HALF_RANGE).clamp_min(EPS); // [out]
    let q = (rows / scales.unsqueeze(-1))
        .round()
        .clamp(-128, 127)
        .to_kind(Kind::Int8)
        .reshape(shape.as_slice());
    (q, scales)
}

/// The float32 weight `q · scales` (scales along dimension 0) of
/// [`quantize_per_channel`]'s output.
pub fn dequantize(q: &Tensor, scales: &Tensor) -> Tensor {
    let mut view = vec![1i64; q.dim()];
    if let Some(first) = view.first_mut() {
        *first = -1;
    }
    q.to_kind(Kind::Float) * scales.view(view.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn the_largest_value_of_a_row_maps_to_the_ends_of_the_range() {
        let w = Tensor::from_slice(&[1.0f32, -0.5, 0.25, -2.0, 1.0, 0.0]).view([2, 3]);
        let (q, scales) = quantize_per_channel(&w);
        assert_eq!(
            Vec::<f32>::try_from(&scales).unwrap(),
            [1.0 / 127.5, 2.0 / 127.5]
        );
        // 1/fl(1/127.5) ≥ 127.5 → 128 → clamped to 127; -0.5 → -63.75 → -64;
        // -2/fl(2/127.5) is just above -127.5 in float32 → -127.
        assert_eq!(
            Vec::<i8>::try_from(&q.view([-1])).unwrap(),
            [127, -64, 32, -127, 64, 0]
        );
        let back = dequantize(&q, &scales);
        let err = (back - &w).abs().max().double_value(&[]);
        assert!(
            err <= 0.5 * 2.0 / 127.5 + 1e-7,
            "dequantization error {err}"
        );
    }

    #[test]
    fn an_all_zero_row_gets_the_smallest_scale_and_zeros() {
        let w = Tensor::zeros([2, 1, 3, 3], (Kind::Float, Device::Cpu));
        let (q, scales) = quantize_per_channel(&w);
        assert_eq!(q.size(), [2, 1, 3, 3]);
        assert_eq!(Vec::<f32>::try_from(&scales).unwrap(), [f32::EPSILON; 2]);
        assert_eq!(q.abs().sum(Kind::Int64).int64_value(&[]), 0);
    }
}
