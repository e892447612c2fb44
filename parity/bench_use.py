"""Use your model: cold start and batch-1 latency, Rust against PyTorch (issue 11).

The "use" part of parity/bench.py (`bench.py --only use`, `make bench-use`):

  cold start  whole-process wall time, start to exit, to classify 1 PNG digit and a
              folder of 100 with a saved CNN: `cnn_mnist --load M --predict PATH --quiet`
              against its twin `parity/predict.py --load M PATH` (same preprocessing,
              same checkpoint). Setup, not timed: a small checkpoint trained once by the
              Rust example (USE_TRAIN_FLAGS), the first 100 MNIST test images written as
              28×28 8-bit grey PNGs with Pillow. Each command runs once untimed (so the
              libraries come from the page cache, as on any run after the first of the
              day), then `--use-repeats` timed runs, Rust and PyTorch alternated (ABBA);
              median and fastest. Both print their predictions; the classes are compared.
  latency     batch-1 inference, one forward call in eval mode under no_grad followed by
              reading one output value, timed call by call, for the models of the three
              examples at their default sizes (LATENCY). The micro-benchmark workers
              (examples/bench.rs, parity/bench_torch.py) run them with "latencies": true;
              `--use-repeats` repeats of at least `--latency-seconds` each, alternated;
              median and 99th percentile (nearest rank) of all calls of each side.

Both sides run with `--use-threads` intra-op threads (default 1; OMP_NUM_THREADS and
MKL_NUM_THREADS for every process, set_num_threads in the workers). Ratios are Rust time /
PyTorch time; TARGETS are issue 11's.
"""
import gzip
import os
import re
import shlex

import numpy as np

from bench_workers import PY, ROOT, Worker, alternate, format_loads, median, percentile
from side_by_side import run_measured, thread_env

USE_TRAIN_FLAGS = ["--epochs", "1", "--train-limit", "2000", "--test-limit", "1000", "--no-logit-relu",
                   "--optimizer", "adam", "--seed", "0", "--quiet"]
MNIST_TEST_IMAGES = os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte.gz")
N_IMAGES = 100

# (name, what is timed, worker case): the models of the three examples at their defaults.
LATENCY = [
    ("CNN", "cnn_mnist's model (tutorial: logit ReLU), input 1×1×28×28",
     {"model": "cnn", "batch": 1}),
    ("RNN", "rnn_series's default model (tanh, hidden 10), window 1×20×1",
     {"model": "rnn", "batch": 1, "seq": 20, "hidden": 10}),
    ("Transformer", "transformer_seq's default model (d_model 64, 4 heads, 2 layers, ff 128, "
     "causal mask), input 1×32×10", {"model": "transformer", "batch": 1, "seq": 32, "d_model": 64}),
]

TARGETS = {"cold_start": 0.3, "latency_median": 0.6}

PREDICTION = re.compile(r"^(\S.*?)\s+-> (\S+) \(")


# --------------------------------------------------------------------------- setup

def write_digits(folder, n=N_IMAGES):
    """The first `n` MNIST test images as 28×28 8-bit grey PNGs (Pillow), 000.png ..."""
    from PIL import Image

    try:
        with gzip.open(MNIST_TEST_IMAGES) as f:
            raw = f.read()
    except OSError as e:
        raise RuntimeError(f"{MNIST_TEST_IMAGES}: cannot read the MNIST test images ({e}); "
                           "run scripts/setup.sh or restore data/mnist") from e
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, im in enumerate(images):
        paths.append(os.path.join(folder, f"{i:03d}.png"))
        Image.fromarray(im).save(paths[-1])
    return paths


def train_checkpoint(a, env, out):
    """Trains the small checkpoint the cold-start runs load; returns its path."""
    ckpt = os.path.join(out, "model", "m.safetensors")
    cmd = [os.path.join(a.bin_dir, "cnn_mnist")] + USE_TRAIN_FLAGS + ["--save", ckpt]
    log = os.path.join(out, "train.log")
    rc, _, _ = run_measured(cmd, env, log)
    if rc != 0:
        raise RuntimeError(f"training the cold-start checkpoint failed (exit {rc}), see {log}")
    return ckpt


# --------------------------------------------------------------------------- cold start

def predictions(log):
    """{file name: class} from the lines `path  -> class (p%)` of a log."""
    got = {}
    with open(log) as f:
        for line in f:
            m = PREDICTION.match(line)
            if m:
                got[os.path.basename(m.group(1))] = m.group(2)
    return got


def cold_start_cases(a, ckpt, digits):
    """(label, {side: command}, predictions expected or None): 1 image, the folder, and the
    start alone (the binary's --help against importing what predict.py imports), which
    shows how much of each figure is loading the libraries."""
    rust = [os.path.join(a.bin_dir, "cnn_mnist")]
    twin = [PY, os.path.join(ROOT, "parity", "predict.py"), "--load", ckpt]
    folder = os.path.dirname(digits[0])
    return [
        ("1 image", {"rust": rust + ["--load", ckpt, "--predict", digits[0], "--quiet"],
                     "pytorch": twin + [digits[0]]}, 1),
        (f"{len(digits)} images", {"rust": rust + ["--load", ckpt, "--predict", folder, "--quiet"],
                                   "pytorch": twin + [folder]}, len(digits)),
        ("start only", {"rust": rust + ["--help"],
                        "pytorch": [PY, "-c", "import numpy, PIL.Image, torch, safetensors.torch"]}, None),
    ]


def run_cold_start(a, env, out, ckpt, digits):
    rows = []
    for c, (label, commands, n) in enumerate(cold_start_cases(a, ckpt, digits)):
        variants = list(commands.items())
        got = {side: [] for side, _ in variants}
        logs = {}
        for r in range(-1, a.use_repeats):  # r = -1: the untimed run
            order = variants if (r + c) % 2 == 0 else variants[::-1]
            for side, cmd in order:
                log = os.path.join(out, f"cold{c}_{side}_{r + 1}.log")
                rc, wall, rss = run_measured(cmd, env, log)
                if rc != 0:
                    raise RuntimeError(f"cold start {label}, {side}: exit {rc}, see {log}")
                if r >= 0:
                    got[side].append({"wall_seconds": wall, "peak_rss_mb": rss})
                logs[side] = log
        walls = {s: [g["wall_seconds"] for g in got[s]] for s in got}
        row = {"case": label, "images": n, "classes_agree": None, "commands": commands, "all": got}
        if n is not None:
            rust, torch_ = predictions(logs["rust"]), predictions(logs["pytorch"])
            if len(rust) != n or len(torch_) != n:
                raise RuntimeError(f"cold start {label}: expected {n} prediction(s) in each of {logs}, "
                                   f"read {len(rust)} (Rust) and {len(torch_)} (PyTorch)")
            row["classes_agree"] = sum(1 for k, v in rust.items() if torch_.get(k) == v)
        for s in got:
            row[s] = {"median_s": median(walls[s]), "min_s": min(walls[s]), "max_s": max(walls[s]),
                      "peak_rss_mb": median([g["peak_rss_mb"] for g in got[s]])}
        row["ratio"] = row["rust"]["median_s"] / row["pytorch"]["median_s"]
        row["ratio_best"] = row["rust"]["min_s"] / row["pytorch"]["min_s"]
        row["met"] = row["ratio"] <= TARGETS["cold_start"] if n is not None else None
        agree = f"  classes agree {row['classes_agree']}/{n}" if n is not None else ""
        print(f"  cold start {label:<11} rust {row['rust']['median_s']:6.3f} s  pytorch "
              f"{row['pytorch']['median_s']:6.3f} s  ratio {row['ratio']:.2f} (best {row['ratio_best']:.2f})"
              + agree, flush=True)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- latency

def run_latency(a, env):
    rust = Worker("Rust", [os.path.join(a.bin_dir, "bench"), "--threads", str(a.use_threads)], env)
    torch_ = Worker("PyTorch", [PY, os.path.join(ROOT, "parity", "bench_torch.py"),
                                "--threads", str(a.use_threads)], env)
    rows = []
    try:
        for i, (name, what, case) in enumerate(LATENCY):
            case = dict(case, mode="infer", latencies=True, warmup=20, min_steps=200,
                        min_seconds=a.latency_seconds)
            answers = alternate([("rust", rust), ("pytorch", torch_)], case, a.use_repeats, i)
            pooled = {s: [x for m in answers[s] for x in m["latencies_s"]] for s in ("rust", "pytorch")}
            medians = {s: [median(m["latencies_s"]) for m in answers[s]] for s in ("rust", "pytorch")}
            threads = {s: got[-1]["threads"] for s, got in answers.items() if got}
            row = {"model": name, "input": what, "case": case, "threads": threads}
            for s in pooled:
                row[s] = {"median_us": 1e6 * median(pooled[s]), "p99_us": 1e6 * percentile(pooled[s], 99),
                          "calls": len(pooled[s]), "repeat_medians_us": [1e6 * x for x in medians[s]]}
            row["ratio_median"] = row["rust"]["median_us"] / row["pytorch"]["median_us"]
            row["ratio_p99"] = row["rust"]["p99_us"] / row["pytorch"]["p99_us"]
            row["ratio_best"] = min(medians["rust"]) / min(medians["pytorch"])
            row["met"] = row["ratio_median"] <= TARGETS["latency_median"]
            print(f"  latency {name:<12} rust {row['rust']['median_us']:8.1f} µs (p99 {row['rust']['p99_us']:8.1f})  "
                  f"pytorch {row['pytorch']['median_us']:8.1f} µs (p99 {row['pytorch']['p99_us']:8.1f})  "
                  f"ratio {row['ratio_median']:.2f}", flush=True)
            rows.append(row)
    finally:
        rust.close()
        torch_.close()
    return rows


def run_use(a):
    """Both tables; returns the dict bench.py stores under "use" in bench.json."""
    env = thread_env(a.use_threads)
    out = os.path.join(a.out, "use")
    os.makedirs(out, exist_ok=True)
    load_start = os.getloadavg()
    ckpt = train_checkpoint(a, env, out)
    digits = write_digits(os.path.join(out, "digits"))
    cold = run_cold_start(a, env, out, ckpt, digits)
    latency = run_latency(a, env)
    return {"threads": a.use_threads, "repeats": a.use_repeats, "latency_seconds": a.latency_seconds,
            "train_flags": USE_TRAIN_FLAGS, "load_average_start": load_start,
            "load_average_end": os.getloadavg(), "targets": TARGETS, "cold_start": cold, "latency": latency}


# --------------------------------------------------------------------------- output

def _verdict(met, target):
    return f"≤ {target}: **{'met' if met else 'missed'}**"


def _cmd_text(cmd):
    """A command as a shell line, paths relative to the repository."""
    return shlex.join(os.path.relpath(x, ROOT) if os.path.isabs(x) else x for x in cmd)


def _spread(xs):
    return f"{min(xs):.0f}–{max(xs):.0f}"


def markdown_use(use):
    t = use["targets"]
    L = ["### Use your model: cold start and latency\n",
         f"{use['threads']} intra-op thread(s) on both sides; {use['repeats']} alternated repeat(s); "
         f"load average {format_loads(use['load_average_start'])} at the start of this part, "
         f"{format_loads(use['load_average_end'])} at its end. Ratio = Rust time / PyTorch time.\n",
         "**Cold start**: whole process, start to exit, classifying PNG digits with a saved CNN "
         "(wall seconds: median, and fastest–slowest run, of the timed runs; each command ran once "
         "untimed before them).\n",
         "| images | Rust s | PyTorch s | ratio | ratio of fastest runs | target | peak RSS MiB Rust / PyTorch "
         "| classes agree |",
         "|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in use["cold_start"]:
        ru, pt = r["rust"], r["pytorch"]
        target = _verdict(r["met"], t["cold_start"]) if r["images"] else "(no target)"
        agree = f"{r['classes_agree']}/{r['images']}" if r["images"] else "–"
        L.append(f"| {r['case']} | {ru['median_s']:.3f} ({ru['min_s']:.3f}–{ru['max_s']:.3f}) | "
                 f"{pt['median_s']:.3f} ({pt['min_s']:.3f}–{pt['max_s']:.3f}) | {r['ratio']:.2f} | "
                 f"{r['ratio_best']:.2f} | {target} | "
                 f"{ru['peak_rss_mb']:.0f} / {pt['peak_rss_mb']:.0f} | {agree} |")
    L.append("")
    L.append("**Batch-1 inference latency**: one forward call in eval mode under no_grad, then reading "
             "one output value, timed call by call (µs: median and 99th percentile of all calls of "
             f"the {use['repeats']} repeats of ≥ {use['latency_seconds']:g} s; range of the repeats' "
             "medians beside).\n")
    L.append("| model | input | Rust median µs | Rust p99 µs | PyTorch median µs | PyTorch p99 µs "
             "| ratio median | ratio p99 | ratio of best repeat medians | target (median) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in use["latency"]:
        ru, pt = r["rust"], r["pytorch"]
        L.append(f"| {r['model']} | {r['input']} | {ru['median_us']:.1f} ({_spread(ru['repeat_medians_us'])}) "
                 f"| {ru['p99_us']:.1f} | {pt['median_us']:.1f} ({_spread(pt['repeat_medians_us'])}) "
                 f"| {pt['p99_us']:.1f} | {r['ratio_median']:.2f} | {r['ratio_p99']:.2f} | {r['ratio_best']:.2f} "
                 f"| {_verdict(r['met'], t['latency_median'])} |")
    L.append("")
    folder = next(r for r in use["cold_start"] if (r["images"] or 0) > 1)
    c = folder["commands"]
    start = next((r["commands"] for r in use["cold_start"] if r["images"] is None), None)
    L.append(f"Checkpoint: `cnn_mnist {' '.join(use['train_flags'])} --save M`; images: the first "
             f"{folder['images']} MNIST test images as 28×28 grey PNGs. Commands timed: "
             f"`{_cmd_text(c['rust'])}` and `{_cmd_text(c['pytorch'])}` (and the same with one file)"
             + (f"; start only: `{_cmd_text(start['rust'])}` and `{_cmd_text(start['pytorch'])}`. " if start else ". ")
             + "Calls per side in the latency table: "
             + ", ".join(f"{r['model']} {r['rust']['calls']} / {r['pytorch']['calls']}" for r in use["latency"])
             + ".\n")
    return "\n".join(L)
