"""Shared by the PyTorch twins: data readers and the batch order of the Rust runs.

Everything here mirrors a piece of the Rust library exactly:
  permutation()  <->  src/data/shuffle.rs   (SplitMix64 + Fisher-Yates)
  step_seed()    <->  src/data/shuffle.rs   (the generator's seed before each training step)
  warmup_scheduler() <-> src/schedule.rs warmed_lr (--warmup-steps, a LambdaLR stepped every step)
  read_idx()     <->  src/data/idx.rs
  load_mnist()   <->  src/data/mnist.rs + src/tasks/mnist.rs (limits, normalisation)
  use_device()   <->  src/device.rs, with libtorch's CUDA backend flags (what tch runs with)
"""
import gzip
import json
import os
import resource
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M64 = (1 << 64) - 1
MNIST_MEAN_STD = (0.1307, 0.3081)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next_u64() * n) >> 64


def permutation(n, seed, epoch):
    """The order of epoch `epoch` (0-based) of a Rust run seeded with `seed`."""
    rng = SplitMix64(seed ^ ((epoch * 0xD1B54A32D192ED03) & M64))
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return torch.tensor(order, dtype=torch.int64)


def step_seed(seed, epoch, step):
    """torch.manual_seed's argument before training step `step` (0-based within the epoch)
    of epoch `epoch` (0-based), as the Rust loop seeds libtorch's generator: dropout masks
    then depend only on (seed, epoch, step), resumed or not."""
    state = (seed ^ ((epoch * 0xD1B54A32D192ED03) & M64) ^ (((step + 1) * 0xA24BAED4963EE407) & M64)) & M64
    return SplitMix64(state).next_u64() >> 1


def epoch_order(n, seed, epoch, shuffle=True):
    return permutation(n, seed, epoch) if shuffle else torch.arange(n)


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    assert data[0] == 0 and data[1] == 0 and data[2] == 8, f"{path}: not an unsigned-byte IDX file"
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    assert payload.size == int(np.prod(dims)), f"{path}: payload does not match {dims}"
    return payload.reshape(dims)


def _find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"neither {stem}.gz nor {stem} in {data_dir}")


def parse_digits(text):
    """`0-4`, `5,7` or `0-2,8` -> list of digits, like the Rust --digits."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def load_mnist(data_dir="data/mnist", train_limit=None, test_limit=None, normalize=False, digits=None):
    """(train_x, train_y, test_x, test_y): float [n,1,28,28] in [0,1], int64 [n].
    `digits` keeps those classes (before the limits) relabelled 0.. in list order."""
    def split(prefix, limit):
        x = read_idx(_find(data_dir, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(data_dir, f"{prefix}-labels-idx1-ubyte"))
        x = torch.from_numpy(x.copy()).to(torch.float32).unsqueeze(1) / 255.0
        y = torch.from_numpy(y.copy()).to(torch.int64)
        if digits is not None:
            keep = torch.isin(y, torch.tensor(digits))
            x, y = x[keep], y[keep]
            lut = torch.full((10,), -1, dtype=torch.int64)
            lut[torch.tensor(digits)] = torch.arange(len(digits))
            y = lut[y]
        if limit is not None:
            x, y = x[:limit], y[:limit]
        if normalize:
            mean, std = MNIST_MEAN_STD
            x = (x - mean) / std
        return x, y

    train_x, train_y = split("train", train_limit)
    test_x, test_y = split("t10k", test_limit)
    return train_x, train_y, test_x, test_y


def use_device(name, deterministic=False):
    """torch.device(name) for a twin's --device; on CUDA, PyTorch's backend flags set to
    the values the Rust side runs with.

    tch 0.24 exposes none of these switches (only cuDNN benchmark and cuDNN on/off), so
    the Rust examples and tests always run with libtorch's defaults: matmul TF32 off
    (float32 matmul precision "highest"), cuDNN TF32 on, cuDNN benchmark off, cuDNN
    deterministic off. They are set here explicitly, so that a change of PyTorch's
    defaults cannot silently make the two sides pick different kernels. TF32 itself is
    turned off for both processes by NVIDIA_TF32_OVERRIDE=0 in the environment, which
    cuBLAS and cuDNN honour whatever the framework asks (parity/side_by_side.py
    --device cuda, tests/cuda_parity.rs and scripts/device_check.sh set it).
    `deterministic` (the twins' --deterministic) also asks cuDNN for deterministic
    algorithms, as the full-run parity checks on CUDA do (issue 12). On the CPU nothing
    is changed."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: PyTorch sees no usable CUDA GPU "
                             "(torch.cuda.is_available() is false); use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = bool(deterministic)
    return device


def add_device_flags(parser):
    """--device cpu|cuda (default cpu) and --deterministic, the same in every twin."""
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the model and the data sets live (default cpu)")
    parser.add_argument("--deterministic", action="store_true",
                        help="CUDA: torch.backends.cudnn.deterministic = True (no effect on the CPU)")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def save_state_dict(model, path):
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, path)


def load_state_dict(model, path):
    from safetensors.torch import load_file
    model.load_state_dict(load_file(path))


def read_config(checkpoint, missing_ok=False):
    """The config.json beside a checkpoint (as the Rust side saves it), parsed; {} when it
    is absent and `missing_ok`, else the error of opening it."""
    path = os.path.join(os.path.dirname(checkpoint), "config.json")
    if missing_ok and not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_json(path, value):
    if path:
        with open(path, "w") as f:
            json.dump(value, f, indent=2)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def add_optim_args(p):
    """The Rust examples' optimizer flags (src/cli.rs TrainArgs) beyond --lr/--momentum/--weight-decay."""
    p.add_argument("--dampening", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--clip-grad-norm", type=float, default=None)


def make_optimizer(params, a):
    """torch.optim's SGD / Adam / AdamW as the Rust --optimizer builds it (AdamW without an
    explicit --weight-decay, i.e. weight_decay None, gets PyTorch's 0.01)."""
    kind = getattr(a, "optimizer", "sgd")
    if kind == "sgd":
        return torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, dampening=a.dampening,
                               nesterov=a.nesterov, weight_decay=a.weight_decay or 0.0)
    betas = (a.beta1, a.beta2)
    if kind == "adam":
        return torch.optim.Adam(params, lr=a.lr, betas=betas, eps=a.eps, weight_decay=a.weight_decay or 0.0)
    wd = 0.01 if a.weight_decay is None else a.weight_decay
    return torch.optim.AdamW(params, lr=a.lr, betas=betas, eps=a.eps, weight_decay=wd)


def warmup_lambda(base, warmup, steps_per_epoch, epoch_lrs=None):
    """lr_lambda of --warmup-steps for a group whose base rate is `base`: linear from 0 over
    `warmup` optimizer steps (counted over every epoch), times the epoch schedule's factor
    epoch_lrs[epoch] / base (epoch_lrs: what StepLR/CosineAnnealingLR give each epoch; None:
    a constant rate). The Rust loop computes base * (this), src/schedule.rs warmed_lr."""
    def lam(step):
        # (the scheduler also runs after the last step: its epoch is past the list)
        epoch_lr = base if epoch_lrs is None else epoch_lrs[min(step // steps_per_epoch, len(epoch_lrs) - 1)]
        return min(1.0, step / warmup) * (epoch_lr / base)
    return lam


def warmup_scheduler(opt, warmup, steps_per_epoch, epoch_lrs=None):
    """--warmup-steps as PyTorch writes it: a LambdaLR over `opt` to be stepped after every
    optimizer step (None when warmup is 0)."""
    if not warmup:
        return None
    lambdas = [warmup_lambda(g["lr"], warmup, steps_per_epoch, epoch_lrs) for g in opt.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(opt, lambdas)


def clip_gradients(model, a):
    """--clip-grad-norm: torch.nn.utils.clip_grad_norm_(foreach=False); True when it clipped."""
    if a.clip_grad_norm is None:
        return False
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad_norm, foreach=False)
    return bool(a.clip_grad_norm / (total.item() + 1e-6) < 1.0)


if __name__ == "__main__":
    # `common.py step-seeds SEED EPOCH STEPS`: the seeds of steps 0..STEPS of that epoch,
    # one a line (tests/train_resume.rs compares them with the Rust loop's).
    import sys
    if len(sys.argv) != 5 or sys.argv[1] != "step-seeds":
        raise SystemExit("usage: common.py step-seeds SEED EPOCH STEPS")
    seed, epoch, steps = (int(v) for v in sys.argv[2:])
    print("\n".join(str(step_seed(seed, epoch, s)) for s in range(steps)))


def quantize_dynamic(model):
    """PyTorch's own int8 (issue 22, item 3): `torch.ao.quantization.quantize_dynamic` of every
    `nn.Linear` with qint8 weights (per-tensor symmetric scales; activations quantized per
    batch at run time, fbgemm/x86 int8 GEMM), in eval mode. Its deprecation notice (torchao
    is the successor) is silenced."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)
