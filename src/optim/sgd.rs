//! `torch.optim.SGD`'s `_single_tensor_sgd` (torch 2.11), one parameter at a time.

use tch::Tensor;

use super::{add_alpha, add_alpha_, OptimConfig, Optimizer, Param};

/// Updates `p` with its gradient `grad`, as `_single_tensor_sgd` does:
/// `g = grad + wd·p`; with momentum `buf = g` (first step) or
/// `buf = momentum·buf + (1 − dampening)·g`, then `g = g + momentum·buf`
/// (Nesterov) or `g = buf`; finally `p ← p − lr·g`.
pub(super) fn step(opt: &mut Optimizer, cfg: &OptimConfig, lr: f64, p: &mut Param, grad: Tensor) {
    let mut grad = if cfg.weight_decay != 0.0 {
        add_alpha(opt, &grad, &p.var, cfg.weight_decay)
    } else {
        grad
    };
    if cfg.momentum != 0.0 {
        let buf = match p.state.momentum_buffer.take() {
            None => grad.detach().copy(),
            Some(mut buf) => {
                let _ = buf.g_mul_scalar_(cfg.momentum);
                if cfg.dampening == 0.0 {
                    let _ = buf.g_add_(&grad);
                } else {
                    add_alpha_(opt, &mut buf, &grad, 1.0 - cfg.dampening);
                }
                buf
            }
        };
        grad = if cfg.nesterov {
            add_alpha(opt, &grad, &buf, cfg.momentum)
        } else {
            buf.shallow_clone()
        };
        p.state.momentum_buffer = Some(buf);
    }
    add_alpha_(opt, &mut p.var, &grad, -lr);
}
