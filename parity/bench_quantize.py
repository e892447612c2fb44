"""int8 weights (issue 22, item 3): float32 against int8, Rust (`--quantize int8`,
`--save-quantized`) beside PyTorch's own `torch.ao.quantization.quantize_dynamic` (qint8) of
the twin, for the same rows. `make bench-quantize`; a few minutes on 2 cores.

    .venv/bin/python parity/bench_quantize.py [--threads 1] [--repeats 3] [--markdown runs/bench/quantize.md]

Each example trains a small model once (Rust, `--save`): cnn_mnist 1 epoch of 6,000 images (Adam,
no logit ReLU), rnn_series the tutorial's RNN(1, 10) on sunspots (100 epochs), transformer_lm the
baby GPT (4 × 4 × 128, block 64) for `--lm-steps` steps on the plays. Then, from that one float
checkpoint:

  Rust float32   `--load M` (`--eval-only`; transformer_lm scores and generates)
  Rust int8      `--load Q`, Q written by `--load M --save-quantized Q` (Linear weights int8
                 through `_weight_int8pack_mm`, convolutions stored int8 and run dequantized)
  PyTorch fp32   the twin (parity/cnn_mnist.py, rnn_series.py, transformer_lm.py) `--load M`
  PyTorch qint8  the same twin with `--quantize-dynamic`: `quantize_dynamic(model, {nn.Linear},
                 dtype=torch.qint8)`, per-tensor weight scales, activations quantized per batch

Rows: file size (the safetensors files; PyTorch qint8: `torch.save` of the quantized model's
state_dict, the packed weights it keeps), the example's score (CNN: test accuracy on the 10,000
test images; series: test RMSE in the series' units; LM: loss per character on the last 2 % of
the text, held out in training), batch-1 latency (CNN, RNN: the bench workers,
examples/bench.rs and parity/bench_torch.py, default shapes, alternated, median of every timed
call over the repeats) and, for the LM, greedy generation tokens/s at batch 1 with the
key/value cache (the streamed characters' arrival, as parity/bench_lm.py measures it; median
over the repeats).
"""
import argparse
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "parity"))
from bench_lm import run_streamed, sample_timing  # noqa: E402
from bench_workers import PY, Worker, alternate, default_bin_dir, machine, median  # noqa: E402
from side_by_side import run_measured, thread_env  # noqa: E402

GENERATE = 200


def run(cmd, env, log):
    """Runs `cmd` (logged), failing loudly."""
    rc, wall, _ = run_measured(cmd, env, log)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {rc}, see {log}")
    return wall


def read(path):
    with open(path) as f:
        return json.load(f)


def qint8_bytes(model):
    """Bytes of `torch.save(state_dict)` of `quantize_dynamic(model)`."""
    import torch
    from common import quantize_dynamic
    buf = io.BytesIO()
    torch.save(quantize_dynamic(model).state_dict(), buf)
    return buf.getbuffer().nbytes


def pytorch_sizes(ckpt, kind):
    """The qint8 file size of the twin model of `kind` with the weights of `ckpt`."""
    import torch
    from common import load_state_dict
    from models import CNN, GPT, RNN
    if kind == "cnn":
        model = CNN(logit_relu=False)
        load_state_dict(model, ckpt)
    elif kind == "rnn":
        model = RNN(input_size=1, hidden_size=10, output_size=1, cell="rnn")
        load_state_dict(model, ckpt)
    else:
        from safetensors.torch import load_file
        cfg = read(os.path.join(os.path.dirname(ckpt), "config.json"))["model"]
        model = GPT(vocab_size=cfg["vocab_size"], block_size=cfg["block_size"], n_layer=cfg["n_layer"],
                    n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=0.0)
        state = load_file(ckpt)
        state["lm_head.weight"] = state["transformer.wte.weight"]
        model.load_state_dict(state)
    with torch.no_grad():
        return qint8_bytes(model)


def cnn(a, out, env, bins):
    d = os.path.join(out, "cnn")
    os.makedirs(d, exist_ok=True)
    m, q = os.path.join(d, "m.safetensors"), os.path.join(d, "q.safetensors")
    rust = [os.path.join(bins, "cnn_mnist")]
    run(rust + ["--no-logit-relu", "--optimizer", "adam", "--lr", "0.002", "--epochs", "1", "--train-limit",
                "6000", "--device", "cpu", "--quiet", "--save", m], env, os.path.join(d, "train.log"))
    run(rust + ["--load", m, "--save-quantized", q], env, os.path.join(d, "quantize.log"))
    acc, wall = {}, {}
    for side, ckpt in (("rust_float", m), ("rust_int8", q)):
        rep = os.path.join(d, f"{side}.json")
        wall[side] = run(rust + ["--load", ckpt, "--eval-only", "--device", "cpu", "--quiet", "--metrics-json", rep],
                         env, os.path.join(d, f"{side}.log"))
        acc[side] = read(rep)["test"]["accuracy"]
    twin = [PY, os.path.join(ROOT, "parity", "cnn_mnist.py"), "--load", m, "--eval-only", "--no-logit-relu",
            "--quiet"]
    for side, extra in (("torch_float", []), ("torch_qint8", ["--quantize-dynamic"])):
        rep = os.path.join(d, f"{side}.json")
        wall[side] = run(twin + extra + ["--metrics-json", rep], env, os.path.join(d, f"{side}.log"))
        acc[side] = read(rep)["test_accuracy"]
    sizes = {"rust_float": os.path.getsize(m), "rust_int8": os.path.getsize(q), "torch_float": os.path.getsize(m),
             "torch_qint8": pytorch_sizes(m, "cnn")}
    return {"size": sizes, "score": acc, "score_wall": wall}


def rnn(a, out, env, bins):
    d = os.path.join(out, "rnn")
    os.makedirs(d, exist_ok=True)
    m, q = os.path.join(d, "m.safetensors"), os.path.join(d, "q.safetensors")
    rust = [os.path.join(bins, "rnn_series")]
    run(rust + ["--device", "cpu", "--quiet", "--save", m], env, os.path.join(d, "train.log"))
    run(rust + ["--load", m, "--save-quantized", q], env, os.path.join(d, "quantize.log"))
    rmse = {}
    for side, ckpt in (("rust_float", m), ("rust_int8", q)):
        rep = os.path.join(d, f"{side}.json")
        run(rust + ["--load", ckpt, "--eval-only", "--device", "cpu", "--quiet", "--metrics-json", rep], env,
            os.path.join(d, f"{side}.log"))
        rmse[side] = read(rep)["test"]["rmse"]
    twin = [PY, os.path.join(ROOT, "parity", "rnn_series.py"), "--load", m, "--quiet"]
    for side, extra in (("torch_float", []), ("torch_qint8", ["--quantize-dynamic"])):
        rep = os.path.join(d, f"{side}.json")
        run(twin + extra + ["--json", rep], env, os.path.join(d, f"{side}.log"))
        rmse[side] = read(rep)["test"]["rmse"]
    sizes = {"rust_float": os.path.getsize(m), "rust_int8": os.path.getsize(q), "torch_float": os.path.getsize(m),
             "torch_qint8": pytorch_sizes(m, "rnn")}
    return {"size": sizes, "score": rmse}


def lm(a, out, env, bins):
    d = os.path.join(out, "lm")
    os.makedirs(d, exist_ok=True)
    m, q = os.path.join(d, "m.safetensors"), os.path.join(d, "q.safetensors")
    rust = [os.path.join(bins, "transformer_lm")]
    threads = ["--threads", str(a.threads), "--device", "cpu"]
    run(rust + ["--max-steps", str(a.lm_steps), "--eval-every", str(a.lm_steps), "--eval-batches", "2", "--quiet",
                "--save", m] + threads, env, os.path.join(d, "train.log"))
    run(rust + ["--load", m, "--save-quantized", q, "--generate", "1"] + threads, env, os.path.join(d, "q.log"))
    twin = [PY, os.path.join(ROOT, "parity", "transformer_lm.py")]
    variants = {"rust_float": rust + ["--load", m], "rust_int8": rust + ["--load", q],
                "torch_float": twin + ["--load", m], "torch_qint8": twin + ["--load", m, "--quantize-dynamic"]}
    loss, wall = {}, {}
    for side, cmd in variants.items():
        rep = os.path.join(d, f"{side}.json")
        score = ["--text", os.path.join(ROOT, "data", "text", "shakespeare"), "--val-fraction", "0.02",
                 "--generate", "1", "--metrics-json", rep]
        wall[side] = run(cmd + score + threads + ["--quiet"], env, os.path.join(d, f"{side}_score.log"))
        loss[side] = read(rep)["val"]["loss"]
    cached = read(os.path.join(d, "config.json"))["model"]["block_size"] - 1
    tps = {side: [] for side in variants}
    for r in range(a.repeats):
        order = list(variants.items()) if r % 2 == 0 else list(variants.items())[::-1]
        for side, cmd in order:
            log = os.path.join(d, f"{side}_gen{r}.log")
            gen = ["--generate", str(GENERATE), "--temperature", "0", "--quiet"] + threads
            rc, _, _, data, stamps = run_streamed(cmd + gen, env, log)
            if rc != 0:
                raise RuntimeError(f"{side} generation: exit {rc}, see {log}")
            _, t_cached, _ = sample_timing(data, stamps, GENERATE, cached)
            tps[side].append(cached / t_cached)
    sizes = {"rust_float": os.path.getsize(m), "rust_int8": os.path.getsize(q), "torch_float": os.path.getsize(m),
             "torch_qint8": pytorch_sizes(m, "lm")}
    return {"size": sizes, "score": loss, "score_wall": wall, "tokens_per_sec": {s: median(v) for s, v in tps.items()},
            "cached_tokens": cached}


def latencies(a, bins):
    """Batch-1 inference latency (median ms) of the CNN and the RNN in the bench workers."""
    env = thread_env(a.threads)
    rust = Worker("rust", [os.path.join(bins, "bench"), "--threads", str(a.threads)], env)
    torch_w = Worker("pytorch", [PY, os.path.join(ROOT, "parity", "bench_torch.py"), "--threads", str(a.threads)],
                     env)
    out = {}
    try:
        for model, extra in (("cnn", {}), ("rnn", {"seq": 20, "hidden": 10})):
            base = dict(model=model, mode="infer", batch=1, latencies=True, min_steps=200, min_seconds=1.0, **extra)
            row = {}
            for i, (rust_key, torch_key, case) in enumerate((("rust_float", "torch_float", base),
                                                               ("rust_int8", "torch_qint8", dict(base, quantize="int8")))):
                got = alternate([("rust", rust), ("pytorch", torch_w)], case, a.repeats, offset=i)
                lat = lambda s: 1e3 * median([x for ans in got[s] for x in ans["latencies_s"]])  # noqa: E731
                row[rust_key], row[torch_key] = lat("rust"), lat("pytorch")
            out[model] = row
    finally:
        rust.close()
        torch_w.close()
    return out


SIDES = ("rust_float", "rust_int8", "torch_float", "torch_qint8")


def markdown(res):
    kb = lambda b: f"{b / 1e3:.1f} kB"  # noqa: E731
    rows = []

    def row(model, what, values, fmt):
        rows.append(f"| {model} | {what} | " + " | ".join(fmt(values[s]) for s in SIDES) + " |")

    for key, name, score, fmt in (("cnn", "CNN (cnn_mnist)", "test accuracy, 10,000 images",
                                   lambda v: f"{100 * v:.2f} %"),
                                  ("rnn", "RNN(1, 10) (rnn_series)", "test RMSE (sunspots)", lambda v: f"{v:.3f}"),
                                  ("lm", "GPT 4×4×128 (transformer_lm)", "validation loss (nats/char)",
                                   lambda v: f"{v:.4f}")):
        r = res[key]
        row(name, "file size", r["size"], kb)
        row(name, score, r["score"], fmt)
        if "score_wall" in r:
            row(name, "scoring it: whole process (batches of 256 images / 64 windows)", r["score_wall"],
                lambda v: f"{v:.1f} s")
        if key in res["latency"]:
            row(name, "batch-1 latency (median)", res["latency"][key], lambda v: f"{v:.3f} ms")
        if "tokens_per_sec" in r:
            row(name, f"generation tokens/s (batch 1, greedy, {r['cached_tokens']} cached steps)",
                r["tokens_per_sec"], lambda v: f"{v:.0f}")
    m = res["machine"]
    head = [f"{m['cpu']}, {m['nproc']} CPUs, torch {m['torch']}, {res['threads']} intra-op thread(s) on both "
            f"sides, {res['repeats']} repeat(s); {m['date']}.\n",
            "| model | row | Rust float32 | Rust int8 | PyTorch float32 | PyTorch qint8 (`quantize_dynamic`) |",
            "|---|---|---:|---:|---:|---:|"]
    return "\n".join(head + rows) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lm-steps", type=int, default=300)
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "bench", "quantize"))
    p.add_argument("--bin-dir", default=default_bin_dir())
    p.add_argument("--markdown", help="also write the table here")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    env = thread_env(a.threads)
    res = {"machine": machine(a), "threads": a.threads, "repeats": a.repeats}
    for key, fn in (("cnn", cnn), ("rnn", rnn), ("lm", lm)):
        print(f"{key}...", flush=True)
        res[key] = fn(a, a.out, env, a.bin_dir)
        print(json.dumps(res[key]), flush=True)
    print("latency...", flush=True)
    res["latency"] = latencies(a, a.bin_dir)
    with open(os.path.join(a.out, "quantize.json"), "w") as f:
        json.dump(res, f, indent=2)
    table = markdown(res)
    print(table)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
