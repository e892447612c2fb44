"""The long-lived benchmark workers and the statistics the benchmark tables share.

A worker is target/release/examples/bench (Rust) or parity/bench_torch.py (PyTorch):
one JSON case per stdin line in, one JSON answer per stdout line out. Used by
parity/bench.py (micro-benchmarks) and parity/bench_use.py (batch-1 latency).
"""
import json
import math
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def default_bin_dir():
    """Where `cargo build --release` puts the examples: $CARGO_TARGET_DIR/release/examples,
    or target/release/examples of this checkout."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(os.path.abspath(target), "release", "examples")


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
