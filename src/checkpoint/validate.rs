//! Whether a checkpoint's value may fill a model's variable: a floating-point
//! parameter takes only finite floating-point values. Checked where variables
//! are filled, since only there is it known that the target is a float
//! parameter (an integer buffer such as BatchNorm's `num_batches_tracked`
//! is not, and takes any value).

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// Checks that `value` (the checkpoint's tensor `name`) may fill `var`. When
/// `var` is floating point, `value` must be floating point too (F16, BF16,
/// F32 and F64 are all fine: copying converts them to `var`'s kind) and hold
/// no NaN or infinite value. Variables of other kinds are not checked; nor are
/// shapes (the caller compares them).
///
/// Errors name the tensor and what is wrong, e.g. "conv1.weight holds 3 NaN
/// values of 288: the checkpoint was saved after the run diverged".
pub fn check_tensor_fits(name: &str, value: &Tensor, var: &Tensor) -> Result<()> {
    if !is_float(var.kind()) {
        return Ok(());
    }
    let kind = value.kind();
    if !is_float(kind) {
        bail!(
            "{name} is stored as {} but is a floating-point parameter of the model ({}): \
             these are not trained float weights (a quantized or mis-converted checkpoint?)",
            torch_dtype(kind),
            torch_dtype(var.kind())
        );
    }
    let count = |mask: Tensor| -> Result<i64> { Ok(mask.f_sum(Kind::Int64)?.f_int64_value(&[])?) };
    let nan = count(value.f_isnan()?)?;
    let inf = count(value.f_isinf()?)?;
    let what = match (nan, inf) {
        (0, 0) => return Ok(()),
        (n, 0) => format!("{n} NaN values"),
        (0, i) => format!("{i} infinite values"),
        (n, i) => format!("{n} NaN and {i} infinite values"),
    };
    bail!(
        "{name} holds {what} of {}: the checkpoint was saved after the run diverged; \
         load an earlier checkpoint",
        value.numel()
    )
}

/// Whether `kind` is a real floating-point kind.
fn is_float(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Half
            | Kind::BFloat16
            | Kind::Float
            | Kind::Double
            | Kind::Float8e5m2
            | Kind::Float8e4m3fn
            | Kind::Float8e5m2fnuz
            | Kind::Float8e4m3fnuz
    )
}

/// PyTorch's name of `kind` (`torch.int64`), as users see it in Python.
pub fn torch_dtype(kind: Kind) -> String {
    let name = match kind {
        Kind::Uint8 => "torch.uint8",
        Kind::Int8 => "torch.int8",
        Kind::Int16 => "torch.int16",
        Kind::Int => "torch.int32",
        Kind::Int64 => "torch.int64",
        Kind::Bool => "torch.bool",
        Kind::Half => "torch.float16",
        Kind::BFloat16 => "torch.bfloat16",
        Kind::Float => "torch.float32",
        Kind::Double => "torch.float64",
        Kind::ComplexHalf => "torch.complex32",
        Kind::ComplexFloat => "torch.complex64",
        Kind::ComplexDouble => "torch.complex128",
        other => return format!("{other:?}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var() -> Tensor {
        Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu))
    }

    #[test]
    fn finite_floats_of_any_width_fit() {
        for kind in [Kind::Half, Kind::BFloat16, Kind::Float, Kind::Double] {
            let value = Tensor::ones([2, 3], (kind, tch::Device::Cpu));
            check_tensor_fits("w", &value, &var()).expect("finite floats fit");
        }
    }

    #[test]
    fn integers_nan_and_inf_are_refused_by_name() {
        let ints = Tensor::ones([2, 3], (Kind::Int64, tch::Device::Cpu));
        let msg = format!(
            "{:#}",
            check_tensor_fits("fc.weight", &ints, &var()).unwrap_err()
        );
        assert!(msg.contains("fc.weight is stored as torch.int64"), "{msg}");

        let bools = Tensor::ones([2, 3], (Kind::Bool, tch::Device::Cpu));
        let msg = format!("{:#}", check_tensor_fits("b", &bools, &var()).unwrap_err());
        assert!(msg.contains("stored as torch.bool"), "{msg}");

        let nan =
            Tensor::from_slice(&[f32::NAN, 1.0, f32::NAN, f32::INFINITY, 0.0, 2.0]).reshape([2, 3]);
        let msg = format!(
            "{:#}",
            check_tensor_fits("conv1.bias", &nan, &var()).unwrap_err()
        );
        assert!(
            msg.contains("conv1.bias holds 2 NaN and 1 infinite values of 6"),
            "{msg}"
        );
    }

    #[test]
    fn integer_variables_are_not_checked() {
        let counter = Tensor::zeros([], (Kind::Int64, tch::Device::Cpu));
        check_tensor_fits("bn.num_batches_tracked", &Tensor::from(7i64), &counter)
            .expect("integer buffers take integers");
    }
}
