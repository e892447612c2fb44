//! `torch.nn.utils.clip_grad_norm_` (torch 2.11, `foreach=False`).

use tch::Tensor;

/// Rescales the gradients of `params` so that their total 2-norm is at most
/// `max_norm`, as `clip_grad_norm_(params, max_norm)` does: the 2-norm of
/// each gradient, the 2-norm of those (`total`), `coef = max_norm ·
/// (1 / (total + 1e-6))` (PyTorch's `float / tensor` is a reciprocal and a
/// product), clamped to 1, and every gradient multiplied by it in place
/// (skipped when the coefficient is 1, which changes no bit). Parameters
/// without a gradient are ignored. Returns the total norm before clipping
/// (0 without gradients); it reads one number back from the device.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let mut grads: Vec<Tensor> = params
        .iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect();
    if grads.is_empty() {
        return 0.0;
    }
    let norms: Vec<Tensor> = grads.iter().map(Tensor::norm).collect();
    let device = grads[0].device();
    let norms: Vec<Tensor> = norms.iter().map(|n| n.to_device(device)).collect();
    let total = Tensor::stack(&norms, 0).norm();
    let coef = ((&total + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
    let (total_value, coef_value) = (total.double_value(&[]), coef.double_value(&[]));
    if coef_value < 1.0 || coef_value.is_nan() {
        for g in &mut grads {
            let c = coef.to_device(g.device()).to_kind(g.kind());
            let _ = g.g_mul_(&c);
        }
    }
    total_value
}
