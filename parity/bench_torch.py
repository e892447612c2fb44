"""The PyTorch side of the benchmarks: the twin of `examples/bench.rs`.

Reads one case per stdin line (JSON), answers one line of JSON, exactly as the Rust
worker does, with the same models, losses, optimizers and synthetic inputs (shapes),
so that parity/bench.py can alternate cases between the two. PyTorch eager mode.
With "latencies": true in a case the answer also holds every timed step's wall time
(latencies_s, seconds), as the Rust worker's. "quantize": "int8" in an infer case runs
torch.ao.quantization.quantize_dynamic (qint8) of the model's Linear layers. "optimizer": "adam"/"adamw" replaces the SGD
(torch.optim's defaults: the single-tensor loop on the CPU). Training answers hold
"phases": mean seconds per step of forward (with the loss), backward (with zero_grad) and
the optimizer step (with reading the loss), split where the Rust worker splits.

    .venv/bin/python parity/bench_torch.py --threads 2 < cases.jsonl
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn

import models
from common import quantize_dynamic

# name -> (build(case) -> (model, optimizer, xs, ys, criterion)); the Rust worker's MODELS.


def _cnn(case, dev):
    model = models.CNN(logit_relu=True).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    b = case["batch"]
    return model, opt, torch.rand(b, 1, 28, 28, device=dev), torch.randint(10, (b,), device=dev), nn.CrossEntropyLoss()


def _recurrent(cell):
    def build(case, dev):
        model = models.RNN(input_size=1, hidden_size=case.get("hidden", 10), output_size=1, cell=cell).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        b, seq = case["batch"], case.get("seq", 20)
        return model, opt, torch.randn(b, seq, 1, device=dev), torch.randn(b, 1, device=dev), nn.MSELoss()
    return build


def _transformer(case, dev):
    d = case.get("d_model", 64)
    model = models.SeqTransformer(10, d, 4, 2, 2 * d, 0.1, True).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    b, seq = case["batch"], case.get("seq", 32)
    return model, opt, torch.randn(b, seq, 10, device=dev), torch.randn(b, seq, 1, device=dev), nn.MSELoss()


BUILDERS = {"cnn": _cnn, "rnn": _recurrent("rnn"), "lstm": _recurrent("lstm"), "transformer": _transformer}


def measure(case, dev):
    torch.manual_seed(0)
    if case["model"] not in BUILDERS:
        return {"error": f"model {case['model']!r} is not in this build (known: {sorted(BUILDERS)})"}
    model, opt, xs, ys, criterion = BUILDERS[case["model"]](case, dev)
    if case.get("quantize") == "int8" and case["mode"] == "infer":
        model = quantize_dynamic(model)
    kind = case.get("optimizer") or "sgd"
    if kind != "sgd":
        lr = opt.param_groups[0]["lr"] if case.get("lr") is None else case["lr"]
        opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](model.parameters(), lr=lr)
    phases = [0.0, 0.0, 0.0]
    train = case["mode"] == "train"
    if case["mode"] not in ("train", "infer"):
        return {"error": f"mode {case['mode']!r}: expected train or infer"}
    model.train(train)

    def step():
        if train:
            t0 = time.perf_counter()
            out = model(xs)
            loss = criterion(out, ys)
            t1 = time.perf_counter()
            opt.zero_grad()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            loss.item()
            for i, dt in enumerate((t1 - t0, t2 - t1, time.perf_counter() - t2)):
                phases[i] += dt
        else:
            with torch.no_grad():
                model(xs).flatten()[0].item()

    for _ in range(case.get("warmup", 3)):
        step()
    phases[:] = [0.0, 0.0, 0.0]
    min_steps, min_seconds = case.get("min_steps", 10), case.get("min_seconds", 1.0)
    keep = case.get("latencies", False)
    latencies = []
    start = time.perf_counter()
    steps = 0
    while steps < min_steps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        step()
        if keep:
            latencies.append(time.perf_counter() - t0)
        steps += 1
    seconds = time.perf_counter() - start
    answer = {"steps": steps, "seconds": seconds, "steps_per_sec": steps / seconds,
              "samples_per_sec": steps * case["batch"] / seconds, "threads": torch.get_num_threads()}
    if keep:
        answer["latencies_s"] = latencies
    if train:
        answer["phases"] = dict(zip(("forward_s", "backward_s", "step_s"), (t / steps for t in phases)))
    return answer


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps the default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--list-models", action="store_true")
    a = p.parse_args()
    if a.list_models:
        print("\n".join(sorted(BUILDERS)))
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = measure(json.loads(line), torch.device(a.device))
        except Exception as e:  # report, keep serving
            answer = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
