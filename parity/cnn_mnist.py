"""PyTorch twin of `cargo run --release --example cnn_mnist`.

The tutorial's script (section 4.1) made runnable: the same data files, the
same initial weights for the same --seed (torch.manual_seed before building the
model, exactly as the Rust run does), the same batch order (parity/common.py's
permutation), the same loss and optimizer. `--loader dataloader` feeds the
batches through torch.utils.data.DataLoader as a typical PyTorch user would
(same order, via a sampler); `--loader tensor` slices the tensors directly.

    .venv/bin/python parity/cnn_mnist.py --epochs 1 --metrics-json runs/cnn_torch.json
"""
import argparse
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from common import (quantize_dynamic, add_optim_args, warmup_scheduler, clip_gradients, make_optimizer, Timer, add_device_flags, epoch_order, load_mnist, load_state_dict, parse_digits,
                    peak_rss_mb, save_state_dict, step_seed, use_device, write_json)
from models import CNN


class FixedOrder(Sampler):
    """Yields the Rust run's order for the current epoch."""

    def __init__(self, n, seed):
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self):
        return iter(epoch_order(self.n, self.seed, self.epoch).tolist())

    def __len__(self):
        return self.n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=None)
    add_optim_args(p)
    p.add_argument("--warmup-steps", type=int, default=0,
                   help="linear warm-up from 0 over N optimizer steps (a LambdaLR stepped every step)")
    p.add_argument("--seed", type=int, default=0)
    add_device_flags(p)
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--test-limit", type=int)
    p.add_argument("--normalize", action="store_true")
    p.add_argument("--digits", help="keep these digits, relabelled 0.. (e.g. 0-4), like the Rust --digits")
    p.add_argument("--no-logit-relu", action="store_true")
    p.add_argument("--loader", choices=["tensor", "dataloader"], default="tensor")
    p.add_argument("--no-eval-each-epoch", action="store_true", help="evaluate only at the end")
    p.add_argument("--init", help="start from these weights (safetensors) instead of the seeded init")
    p.add_argument("--load", help="evaluate/continue from these weights (safetensors)")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--quantize-dynamic", action="store_true",
                   help="with --eval-only: torch.ao.quantization.quantize_dynamic (qint8) of the Linear layers")
    p.add_argument("--save", help="write the final state_dict as safetensors")
    p.add_argument("--save-training", help="torch.save a training checkpoint: {'epoch': finished epochs, "
                   "'model_state_dict', 'optimizer_state_dict'} (pytorch/examples' convention)")
    p.add_argument("--resume-training", help="continue such a checkpoint: weights, optimizer state, and "
                   "start_epoch = checkpoint['epoch']")
    p.add_argument("--metrics-json")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()

    device = use_device(a.device, a.deterministic)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    digits = parse_digits(a.digits) if a.digits else None
    train_x, train_y, test_x, test_y = load_mnist(a.data_dir, a.train_limit, a.test_limit, a.normalize, digits)
    train_x, train_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, test_x, test_y))
    data_seconds = time.perf_counter() - t0

    model = CNN(logit_relu=not a.no_logit_relu, num_classes=len(digits) if digits else 10).to(device)
    for path in (a.init, a.load):
        if path:
            load_state_dict(model, path)
    criterion = nn.CrossEntropyLoss()
    opt = make_optimizer(model.parameters(), a)
    if a.quantize_dynamic:
        if not a.eval_only:
            raise SystemExit("--quantize-dynamic evaluates a loaded model: add --load M --eval-only")
        model = quantize_dynamic(model)
    start = 0
    if a.resume_training:
        ckpt = torch.load(a.resume_training, weights_only=True)
        model.load_state_dict(ckpt["model_state_dict"])
        opt.load_state_dict(ckpt["optimizer_state_dict"])
        start = ckpt["epoch"]
        if a.warmup_steps:
            raise SystemExit("--resume-training with --warmup-steps is not supported by the twin")

    def evaluate():
        model.eval()
        correct, loss_sum = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(test_y), max(a.batch_size, 256)):
                xs, ys = test_x[i:i + max(a.batch_size, 256)], test_y[i:i + max(a.batch_size, 256)]
                out = model(xs)
                loss_sum += criterion(out, ys).item() * len(ys)
                correct += (out.argmax(1) == ys).sum().item()
        model.train()
        return correct / len(test_y), loss_sum / len(test_y), correct

    n = len(train_y)
    warm = warmup_scheduler(opt, a.warmup_steps, -(-n // a.batch_size))
    sampler = FixedOrder(n, a.seed)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=a.batch_size, sampler=sampler)
    epochs = []
    for epoch in range(start, start if a.eval_only else a.epochs):
        model.train()
        with Timer() as t:
            loss_sum, seen = 0.0, 0
            if a.loader == "dataloader":
                sampler.epoch = epoch
                batches = iter(loader)
            else:
                order = epoch_order(n, a.seed, epoch).to(device)
                batches = ((train_x[idx], train_y[idx]) for idx in order.split(a.batch_size))
            for step, (xs, ys) in enumerate(batches):
                torch.manual_seed(step_seed(a.seed, epoch, step))
                out = model(xs)
                loss = criterion(out, ys)
                opt.zero_grad()
                loss.backward()
                clip_gradients(model, a)
                opt.step()
                if warm is not None:
                    warm.step()
                loss_sum += loss.item() * len(ys)
                seen += len(ys)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_seconds": t.seconds,
                  "samples_per_sec": seen / t.seconds}
        if not a.no_eval_each_epoch:
            record["test_accuracy"] = evaluate()[0]
        epochs.append(record)
        if not a.quiet:
            print(f"epoch {epoch + 1:>3}/{a.epochs}  train loss {record['train_loss']:.4f}  "
                  f"test acc {record.get('test_accuracy', float('nan')):.4f}  {t.seconds:.1f} s  "
                  f"{record['samples_per_sec']:.0f} samples/s", flush=True)

    accuracy, test_loss, correct = evaluate()
    if a.save:
        save_state_dict(model, a.save)
    if a.save_training:
        torch.save({"epoch": start if a.eval_only else max(start, a.epochs), "model_state_dict": model.state_dict(),
                    "optimizer_state_dict": opt.state_dict()}, a.save_training)
    report = {
        "framework": f"pytorch {torch.__version__}", "device": str(device), "loader": a.loader,
        "data_seconds": data_seconds, "epochs": epochs, "test_accuracy": accuracy, "test_correct": correct,
        "test_loss": test_loss,
        "seconds_per_epoch": sum(e["train_seconds"] for e in epochs) / max(len(epochs), 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    write_json(a.metrics_json, report)
    print(f"test accuracy {100 * accuracy:.2f}%  ({correct}/{len(test_y)})  test loss {test_loss:.4f}")


if __name__ == "__main__":
    main()
