"""Benchmarks, Rust (tch) against PyTorch eager, measured side by side in one run.

    .venv/bin/python parity/bench.py                 # everything, 3 repeats (make bench)
    .venv/bin/python parity/bench.py --quick         # a fast pass: fewer cases, 1 repeat
    .venv/bin/python parity/bench.py --threads 1 --e2e-train-limit 6000 --markdown runs/bench/tables.md
    .venv/bin/python parity/bench.py --device cuda   # on a CUDA machine (data resident on the GPU)
    .venv/bin/python parity/bench.py --only use      # cold start and batch-1 latency only
    .venv/bin/python parity/bench.py --models lm --quick --threads 1   # transformer_lm only (issue 20)
    .venv/bin/python parity/bench.py --device cuda --quick --no-build --bin-dir device/bin

On --device cuda every micro and e2e row runs on the GPU: the workers, the Rust examples and
every twin (each takes --device and keeps its model and data sets on the device). Both sides
keep their backends' default flags there (parity/common.py::use_device sets PyTorch's to
libtorch's), TF32 for cuDNN included: a benchmark measures what users get by default.

Five parts:
  micro    training steps/s and inference samples/s of each model on synthetic inputs,
           at several batch sizes / sequence lengths / widths. Two long-lived workers,
           target/release/examples/bench (Rust) and parity/bench_torch.py (PyTorch), get
           the same cases; the driver alternates them case by case (ABBA order over the
           repeats), so machine load hits both alike; the figure is the median of the
           repeats.
  e2e      seconds per epoch of each example against its PyTorch twin(s), including data
           loading (the cnn_mnist twin twice: slicing tensors, and through a DataLoader),
           runs rotated over the repeats; medians. Peak RSS of each process (os.wait4).
  use      "use your model" (parity/bench_use.py): whole-process cold start of
           `cnn_mnist --load M --predict ...` against parity/predict.py for 1 and 100 PNG
           digits, and batch-1 inference latency (median, p99) of the three models, at
           --use-threads (default 1) on both sides. Alone: --only use (make bench-use).
  lm       transformer_lm against parity/transformer_lm.py (parity/bench_lm.py): training
           ms/step of the default baby GPT, batch-1 greedy generation tokens/s with the
           key/value cache, and cold start of `--load M --generate 200`. Alone: --models lm
           (or --only lm).
  ratios   always Rust / PyTorch of *time* (seconds per step or per epoch): below 1.0
           means Rust is faster.

Both sides use the same intra-op thread count (--threads; default all CPUs): the workers
call torch.set_num_threads / tch::set_num_threads, and every process gets
OMP_NUM_THREADS/MKL_NUM_THREADS. Nothing here is a fixed number: every figure is measured.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "parity"))
from bench_lm import LM_NAMES, markdown_lm, run_lm, wanted as lm_wanted  # noqa: E402
from bench_use import markdown_use, run_use  # noqa: E402
from bench_workers import (PY, Worker, alternate, default_bin_dir, format_loads, have_example,  # noqa: E402
                           list_models, machine, median)
from side_by_side import run_measured, thread_env  # noqa: E402

# --------------------------------------------------------------------------- cases
#
# (table title, varied parameter, model, mode, list of cases). Models come from the
# workers' --list-models; a table whose model is missing is skipped and said so.

def _cases(model, mode, key, values, **fixed):
    return [dict(model=model, mode=mode, **fixed, **{key: v}) for v in values]


MICRO = [
    ("CNN training (SGD), by batch size", "batch",
     _cases("cnn", "train", "batch", [16, 64, 256])),
    ("CNN inference, by batch size", "batch",
     _cases("cnn", "infer", "batch", [1, 64, 1024])),
    ("RNN training (tanh, SGD), by sequence length; batch 64, hidden 64", "seq",
     _cases("rnn", "train", "seq", [10, 50, 200], batch=64, hidden=64)),
    ("LSTM training (SGD), by sequence length; batch 64, hidden 64", "seq",
     _cases("lstm", "train", "seq", [10, 50, 200], batch=64, hidden=64)),
    ("LSTM training (SGD), by hidden size; batch 64, seq 50", "hidden",
     _cases("lstm", "train", "hidden", [16, 64, 256], batch=64, seq=50)),
    ("RNN inference, by batch size; seq 50, hidden 64", "batch",
     _cases("rnn", "infer", "batch", [1, 64, 1024], seq=50, hidden=64)),
    ("Transformer training (SGD, dropout 0.1), by sequence length; batch 32, d_model 64", "seq",
     _cases("transformer", "train", "seq", [16, 64, 256], batch=32, d_model=64)),
    ("Transformer training (SGD, dropout 0.1), by d_model; batch 32, seq 64", "d_model",
     _cases("transformer", "train", "d_model", [32, 64, 256], batch=32, seq=64)),
    ("Transformer inference, by batch size; seq 64, d_model 64", "batch",
     _cases("transformer", "infer", "batch", [1, 64, 512], seq=64, d_model=64)),
]

# End to end: the Rust example, then its twins (label, extra flags). `flags(a)` gives
# the run's budget. Entries whose files are missing are skipped.
E2E = [
    {"name": "cnn_mnist", "rust": "cnn_mnist", "twin": "cnn_mnist.py",
     "flags": lambda a: ["--epochs", "1", "--train-limit", str(a.e2e_train_limit),
                         "--test-limit", str(a.e2e_test_limit), "--seed", "0"],
     "twins": [("PyTorch, tensor slicing", ["--loader", "tensor"]),
               ("PyTorch, DataLoader", ["--loader", "dataloader"])]},
    {"name": "rnn_series", "rust": "rnn_series", "twin": "rnn_series.py",
     "flags": lambda a: ["--epochs", str(a.e2e_epochs), "--seed", "0"],
     "twins": [("PyTorch", [])]},
    {"name": "transformer_seq", "rust": "transformer_seq", "twin": "transformer_seq.py",
     "flags": lambda a: ["--epochs", str(a.e2e_epochs), "--seed", "0"],
     "twins": [("PyTorch", [])]},
    {"name": "transformer_seq --arch lstm", "rust": "transformer_seq", "twin": "transformer_seq.py",
     "flags": lambda a: ["--epochs", str(a.e2e_epochs), "--seed", "0", "--arch", "lstm"],
     "twins": [("PyTorch", [])]},
]


# --------------------------------------------------------------------------- workers

def run_micro(a, env):
    rust_cmd = [os.path.join(a.bin_dir, "bench"),
                "--threads", str(a.threads), "--device", a.device]
    torch_cmd = [PY, os.path.join(ROOT, "parity", "bench_torch.py"),
                 "--threads", str(a.threads), "--device", a.device]
    have = list_models(rust_cmd, env) & list_models(torch_cmd, env)
    rust, torch_ = Worker("Rust", rust_cmd, env), Worker("PyTorch", torch_cmd, env)
    tables, skipped = [], []
    try:
        for title, key, cases in MICRO:
            if cases[0]["model"] not in have:
                skipped.append(title)
                continue
            if a.models and cases[0]["model"] not in a.models:
                continue
            if a.quick:
                cases = [cases[0], cases[-1]]
            rows = []
            for i, case in enumerate(cases):
                case = dict(case, warmup=a.warmup, min_steps=a.min_steps, min_seconds=a.min_seconds)
                answers = alternate([("rust", rust), ("pytorch", torch_)], case, a.repeats, i)
                times = {s: [1.0 / m["steps_per_sec"] for m in answers[s]] for s in ("rust", "pytorch")}
                tr, tt = median(times["rust"]), median(times["pytorch"])
                rows.append({"case": case, key: case[key], "rust_ms_per_step": 1e3 * tr,
                             "pytorch_ms_per_step": 1e3 * tt,
                             "rust_samples_per_sec": case["batch"] / tr,
                             "pytorch_samples_per_sec": case["batch"] / tt,
                             "ratio": tr / tt, "rust_all_s": times["rust"], "pytorch_all_s": times["pytorch"]})
                print(f"  {title[:40]:<40} {key}={case[key]:<5} rust {1e3 * tr:9.2f} ms  "
                      f"pytorch {1e3 * tt:9.2f} ms  ratio {tr / tt:.2f}", flush=True)
            tables.append({"title": title, "key": key, "mode": cases[0]["mode"], "rows": rows})
    finally:
        rust.close()
        torch_.close()
    return tables, skipped


def run_e2e(a, env):
    results, skipped = [], []
    for e in E2E:
        if a.models and not any(m in e["name"] for m in a.models):
            continue
        if not have_example(e["rust"], e["twin"], a.bin_dir):
            skipped.append(e["name"])
            continue
        flags = e["flags"](a) + ["--quiet"]
        out = os.path.join(a.out, "e2e", e["name"].replace(" ", "_"))
        os.makedirs(out, exist_ok=True)
        twin = os.path.join(ROOT, "parity", e["twin"])
        src = open(twin).read()
        # Twins name their report flag --metrics-json or --json; every twin takes --device.
        twin_dev = ["--device", a.device]
        json_flag = "--metrics-json" if '"--metrics-json"' in src else "--json"
        variants = [("Rust (tch)", [os.path.join(a.bin_dir, e["rust"])]
                     + flags + ["--device", a.device], "--metrics-json")]
        for label, extra in e["twins"]:
            variants.append((label, [PY, twin] + flags + twin_dev + extra, json_flag))
        got = {label: [] for label, _, _ in variants}
        for r in range(a.repeats):
            k = r % len(variants)
            for j, (label, cmd, json_flag) in enumerate(variants[k:] + variants[:k]):
                report = os.path.join(out, f"run{r}_{j}.json")
                rc, wall, rss = run_measured(cmd + [json_flag, report], env,
                                             os.path.join(out, f"run{r}_{j}.log"))
                if rc != 0:
                    raise RuntimeError(f"{e['name']} {label}: exit {rc}, see {out}/run{r}_{j}.log")
                with open(report) as f:
                    rep = json.load(f)
                got[label].append({"seconds_per_epoch": rep["seconds_per_epoch"],
                                   "data_seconds": rep.get("data_seconds", float("nan")),
                                   "wall_seconds": wall, "peak_rss_mb": rss})
                print(f"  {e['name']:<16} {label:<26} {rep['seconds_per_epoch']:8.2f} s/epoch  "
                      f"wall {wall:7.2f} s  RSS {rss:6.0f} MiB", flush=True)
        rows = []
        for label, _, _ in variants:
            med = {k: median([g[k] for g in got[label]]) for k in got[label][0]}
            rows.append({"variant": label, **med, "all": got[label]})
        rust_epoch = rows[0]["seconds_per_epoch"]
        for row in rows:
            row["ratio"] = rust_epoch / row["seconds_per_epoch"]
        results.append({"example": e["name"], "flags": flags, "rows": rows})
    return results, skipped


def memory_baseline(a, env):
    """Peak RSS of each side doing nothing: the Rust binary printing --help (libtorch and
    its libraries loaded), Python importing torch/numpy/safetensors. Median of 3."""
    rust = [os.path.join(a.bin_dir, "bench"), "--help"]
    py = [PY, "-c", "import torch, numpy, safetensors"]
    out = {}
    for label, cmd in (("Rust (tch), libtorch loaded", rust), ("Python, torch imported", py)):
        rss = [run_measured(cmd, env, os.devnull)[2] for _ in range(3)]
        out[label] = median(rss)
    return out


# --------------------------------------------------------------------------- output

def markdown(info, micro, micro_skipped, e2e, e2e_skipped, a, baseline=None, use=None, lm=None):
    place = (f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}; torch {info['torch']}; "
             f"{info['date']}; load average at start "
             f"{format_loads(info['load_average_at_start'])}")
    if not (micro or e2e):  # the use and lm parts state their own threads and repeats
        return place + ".\n\n" + "\n".join(x for x in (markdown_use(use) if use else "",
                                                        markdown_lm(lm) if lm else "") if x)
    L = [place + f"; {info['threads']} intra-op thread(s) on both sides; device {info['device']}. "
         f"Medians of {a.repeats} alternated repeat(s); ratio = Rust time / PyTorch time "
         f"(< 1: Rust faster); \"ratio of best times\" divides the fastest repeat of each side (load "
         f"from other processes only ever adds time, so on a shared machine it is the steadier estimate).", ""]
    if micro:
        L.append("### Micro-benchmarks (synthetic inputs, PyTorch eager)\n")
        for t in micro:
            L.append(f"**{t['title']}**\n")
            unit = "training steps / s" if t["mode"] == "train" else "inference samples / s"
            L.append(f"| {t['key']} | Rust {unit} | PyTorch {unit} | Rust ms/step | PyTorch ms/step | ratio "
                     f"| ratio of best times |")
            L.append("|---:|---:|---:|---:|---:|---:|---:|")
            for r in t["rows"]:
                if t["mode"] == "train":
                    vr, vt = 1e3 / r["rust_ms_per_step"], 1e3 / r["pytorch_ms_per_step"]
                else:
                    vr, vt = r["rust_samples_per_sec"], r["pytorch_samples_per_sec"]
                best = min(r["rust_all_s"]) / min(r["pytorch_all_s"])
                L.append(f"| {r[t['key']]} | {vr:.1f} | {vt:.1f} | {r['rust_ms_per_step']:.2f} | "
                         f"{r['pytorch_ms_per_step']:.2f} | {r['ratio']:.2f} | {best:.2f} |")
            L.append("")
    if micro_skipped:
        L.append("Not measured (model not on this branch): " + "; ".join(micro_skipped) + "\n")
    if e2e:
        L.append("### End to end (one process per run; epoch time includes batch gathering, "
                 "data_s is reading/decoding the files)\n")
        L.append("| example | variant | s / epoch | ratio Rust/this | ratio of best times | data_s | process wall s "
                 "| peak RSS MiB |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for res in e2e:
            for r in res["rows"]:
                data_s = "–" if r["data_seconds"] != r["data_seconds"] else f"{r['data_seconds']:.3f}"
                best = (min(g["seconds_per_epoch"] for g in res["rows"][0]["all"])
                        / min(g["seconds_per_epoch"] for g in r["all"]))
                L.append(f"| {res['example']} | {r['variant']} | {r['seconds_per_epoch']:.3f} | {r['ratio']:.2f} | "
                         f"{best:.2f} | {data_s} | {r['wall_seconds']:.2f} | {r['peak_rss_mb']:.0f} |")
        L.append("")
        for res in e2e:
            L.append(f"`{res['example']}` flags: `{' '.join(res['flags'])}`")
        L.append("")
    if baseline:
        L.append("Peak RSS of a process that only loads the libraries (what every figure above "
                 "includes): " + "; ".join(f"{k}: {v:.0f} MiB" for k, v in baseline.items()) + "\n")
    if e2e_skipped:
        L.append("End to end not measured (example not on this branch): " + ", ".join(e2e_skipped) + "\n")
    if use:
        L.append(markdown_use(use))
    if lm:
        L.append(markdown_lm(lm))
    return "\n".join(L)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads, both sides")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=1.0, help="micro: time each case at least this long")
    p.add_argument("--min-steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--e2e-train-limit", type=int, default=60000, help="cnn_mnist: training images (60000 = full epoch)")
    p.add_argument("--e2e-test-limit", type=int, default=10000)
    p.add_argument("--e2e-epochs", type=int, default=20, help="rnn_series / transformer_seq epochs (tiny data sets)")
    p.add_argument("--models", action="append",
                   help="only these models (cnn, rnn, lstm, transformer; lm: transformer_lm's part); repeatable")
    p.add_argument("--no-micro", action="store_true")
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--no-use", action="store_true", help="skip the cold-start and batch-1 latency part")
    p.add_argument("--no-lm", action="store_true", help="skip the transformer_lm part")
    p.add_argument("--only", choices=["micro", "e2e", "use", "lm"], action="append",
                   help="run only this part (repeatable); the others are skipped")
    p.add_argument("--use-threads", type=int, default=1, help="use part: intra-op threads, both sides")
    p.add_argument("--use-repeats", type=int, default=7, help="use part: alternated repeats")
    p.add_argument("--latency-seconds", type=float, default=2.0,
                   help="use part: time each latency repeat at least this long")
    p.add_argument("--lm-steps", type=int, default=100, help="lm part: training steps timed per run")
    p.add_argument("--quick", action="store_true",
                   help="2 cases per table, 1 repeat, short timings, 6000 CNN images; use part: 3 repeats of "
                        "0.5 s; lm part: 50 steps")
    p.add_argument("--bin-dir", default=default_bin_dir(),
                   help="the Rust examples (default: $CARGO_TARGET_DIR or target/, then release/examples)")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "bench"))
    p.add_argument("--markdown", help="also write the tables here (markdown)")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--render", metavar="BENCH_JSON", help="only print the tables of an earlier run's bench.json")
    a = p.parse_args()
    if a.render:
        with open(a.render) as f:
            saved = json.load(f)
        a = argparse.Namespace(**saved["args"])
        print(markdown(saved["machine"], saved["micro"], saved["micro_skipped"], saved["e2e"],
                       saved["e2e_skipped"], a, saved.get("memory_baseline_mb"), saved.get("use"),
                       saved.get("lm")))
        return
    if a.only:
        a.no_micro, a.no_e2e, a.no_use, a.no_lm = ("micro" not in a.only, "e2e" not in a.only,
                                                   "use" not in a.only, "lm" not in a.only)
    if a.models and set(a.models) <= LM_NAMES:  # --models lm: transformer_lm's part alone
        a.no_micro = a.no_e2e = a.no_use = True
    if a.quick:
        a.repeats, a.min_seconds, a.min_steps, a.warmup = 1, 0.3, 3, 1
        a.e2e_train_limit, a.e2e_test_limit = min(a.e2e_train_limit, 6000), min(a.e2e_test_limit, 2000)
        a.use_repeats, a.latency_seconds = min(a.use_repeats, 3), min(a.latency_seconds, 0.5)
        a.lm_steps = min(a.lm_steps, 50)
    os.makedirs(a.out, exist_ok=True)
    if not a.no_build:
        e2e_names = {e["rust"] for e in E2E
                     if not a.no_e2e and os.path.exists(os.path.join(ROOT, "examples", e["rust"] + ".rs"))}
        names = ["bench"] + sorted(e2e_names | ({"cnn_mnist"} if not a.no_use else set())
                                   | ({"transformer_lm"} if lm_wanted(a) else set()))
        cmd = ["cargo", "build", "--release", "--quiet"] + [x for n in names for x in ("--example", n)]
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)

    env = thread_env(a.threads)
    info = machine(a)
    print(f"machine: {info}", flush=True)
    micro, micro_skipped, e2e, e2e_skipped = [], [], [], []
    if not a.no_micro:
        print("\nmicro-benchmarks (Rust and PyTorch alternated, case by case)", flush=True)
        micro, micro_skipped = run_micro(a, env)
    if not a.no_e2e:
        print("\nend to end (runs rotated)", flush=True)
        e2e, e2e_skipped = run_e2e(a, env)
    use = None
    if not a.no_use:
        print(f"\nuse your model: cold start and batch-1 latency ({a.use_threads} thread(s), runs alternated)",
              flush=True)
        use = run_use(a)
    lm = None
    if lm_wanted(a):
        print(f"\ntransformer_lm: training ({a.threads} thread(s)), generation and cold start "
              f"({a.use_threads} thread(s)), runs alternated", flush=True)
        lm = run_lm(a)
    baseline = memory_baseline(a, env)
    md = markdown(info, micro, micro_skipped, e2e, e2e_skipped, a, baseline, use, lm)
    print("\n" + md)
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump({"machine": info, "args": {k: v for k, v in vars(a).items()}, "micro": micro,
                   "micro_skipped": micro_skipped, "e2e": e2e, "e2e_skipped": e2e_skipped,
                   "memory_baseline_mb": baseline, "use": use, "lm": lm}, f, indent=2)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md + "\n")
    print(f"(JSON: {os.path.relpath(os.path.join(a.out, 'bench.json'), ROOT)})")


if __name__ == "__main__":
    main()
