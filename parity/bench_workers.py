"""The long-lived benchmark workers and what the benchmark scripts share: the statistics
of the tables, the alternated repeats, the machine description, where the binaries are.

A worker is target/release/examples/bench (Rust) or parity/bench_torch.py (PyTorch):
one JSON case per stdin line in, one JSON answer per stdout line out. Used by
parity/bench.py (micro-benchmarks) and parity/bench_use.py (batch-1 latency); the other
helpers also by parity/bench_lm.py, parity/side_by_side.py and bench/peers/bench_peers.py.
"""
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def default_bin_dir(target=None, under=os.path.join("release", "examples")):
    """Where `cargo build --release` puts the examples: $CARGO_TARGET_DIR/release/examples,
    or target/release/examples of this checkout. `target` replaces target/ of this checkout
    and `under` release/examples (bench/peers: bench/peers/target and release/peers)."""
    target = os.environ.get("CARGO_TARGET_DIR") or target or os.path.join(ROOT, "target")
    return os.path.join(os.path.abspath(target), under)


def have_example(rust, twin, bin_dir):
    """Whether the Rust example `rust` (examples/RUST.rs, or the binary BIN_DIR/RUST: a copied
    folder may hold the binaries without the sources) and its twin parity/TWIN are here."""
    return ((os.path.exists(os.path.join(ROOT, "examples", rust + ".rs"))
             or os.path.exists(os.path.join(bin_dir, rust)))
            and os.path.exists(os.path.join(ROOT, "parity", twin)))


class Worker:
    def __init__(self, label, cmd, env):
        self.label = label
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, case):
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker died (exit {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.label}: {answer['error']}")
        return answer

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def alternate(workers, case, repeats, offset=0):
    """Asks every worker of `workers` ([(side, Worker)]) `case`, `repeats` times; repeat r
    asks them in reverse order when r + offset is odd (ABBA over the repeats). Returns
    {side: [answers, in repeat order]}, the sides in the order of the first repeat."""
    first = workers[::-1] if offset % 2 else workers
    got = {side: [] for side, _ in first}
    for r in range(repeats):
        order = list(workers)
        if (r + offset) % 2:
            order.reverse()
        for side, w in order:
            got[side].append(w.ask(case))
    return got


def list_models(cmd, env):
    out = subprocess.run(cmd + ["--list-models"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def percentile(xs, q):
    """Nearest-rank percentile (q in [0, 100]): the smallest value with at least q % of
    the values at or below it (no interpolation), so it is always a measured value."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100.0 * len(s)) - 1)]


def machine(a):
    """The machine and the run's threads (a.threads) and device (a.device, cpu without one)."""
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return {"nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "torch": torch.__version__, "python": platform.python_version(),
            "threads": a.threads, "device": getattr(a, "device", "cpu"),
            "load_average_at_start": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def format_loads(xs):
    """Load averages as `0.5, 0.7, 0.9`."""
    return ", ".join(f"{x:.1f}" for x in xs)
