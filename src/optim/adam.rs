//! `torch.optim.Adam` / `AdamW`'s `_single_tensor_adam` (torch 2.11, not
//! capturable, not differentiable, no AMSGrad), one parameter at a time.

use tch::Tensor;

use super::{add_alpha, zero_step, OptimConfig, Optimizer, OptimizerKind, Param};

/// Updates `p` with its gradient `grad` in `_single_tensor_adam`'s order:
/// `step += 1`; weight decay (AdamW: `p ← p·(1 − lr·wd)`; Adam:
/// `g = grad + wd·p`); `m.lerp_(g, 1 − β₁)`; `v ← v·β₂ + (1 − β₂)·g·g`;
/// bias corrections in f64 from the float32 step (`1 − β^step`);
/// `denom = √v / √bc₂ + ε`; `p ← p − (lr / bc₁)·m / denom`.
pub(super) fn step(opt: &mut Optimizer, cfg: &OptimConfig, lr: f64, p: &mut Param, grad: Tensor) {
    let s = &mut p.state;
    let step_t = s.step.get_or_insert_with(zero_step);
    let _ = step_t.g_add_scalar_(1.0);
    let step = step_t.double_value(&[]);
    let exp_avg = s.exp_avg.get_or_insert_with(|| p.var.zeros_like());
    let exp_avg_sq = s.exp_avg_sq.get_or_insert_with(|| p.var.zeros_like());
    let wd = cfg.weight_decay;
    let grad = if wd == 0.0 {
        grad
    } else if cfg.optimizer == OptimizerKind::AdamW {
        let _ = p.var.g_mul_scalar_(1.0 - lr * wd);
        grad
    } else {
        let var = p.var.shallow_clone();
        add_alpha(opt, &grad, &var, wd)
    };
    let _ = exp_avg.lerp_(&grad, 1.0 - cfg.beta1);
    let _ = exp_avg_sq
        .g_mul_scalar_(cfg.beta2)
        .addcmul_(&(&grad * (1.0 - cfg.beta2)), &grad);
    let bias_correction1 = 1.0 - cfg.beta1.powf(step);
    let bias_correction2 = 1.0 - cfg.beta2.powf(step);
    let step_size = lr / bias_correction1;
    let bias_correction2_sqrt = bias_correction2.powf(0.5);
    let mut denom = exp_avg_sq.sqrt() / bias_correction2_sqrt;
    let _ = denom.g_add_scalar_(cfg.eps);
    let _ = p.var.addcdiv_(&(&*exp_avg * (-step_size)), &denom);
}
