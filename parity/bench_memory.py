"""Peak RSS of a deployed binary against the test set's size (issue 22, item 5).

    .venv/bin/python parity/bench_memory.py                  # make bench-memory
    .venv/bin/python parity/bench_memory.py --repeats 1 --test-limits 100,10000

`cnn_mnist` trains 1 epoch on 100 images, then evaluates 100 / 2,000 / 10,000 test images,
three ways, run one after another per size and repeat (so machine load hits all alike):
  Rust              the binary as shipped: src/malloc.rs returns free memory to the system
                    (malloc_trim) after each evaluation batch
  Rust, glibc as is the same binary with TCHPORT_NO_MALLOC_TRIM=1 (no malloc_trim: glibc's
                    arenas keep what the batches freed)
  PyTorch           parity/cnn_mnist.py with the same flags
Peak RSS is each process's own (os.wait4); wall seconds include start-up. Medians.
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import ROOT, run_measured, thread_env  # noqa: E402

PY = os.path.join(ROOT, ".venv", "bin", "python")
GLIBC_DEFAULTS = {"TCHPORT_NO_MALLOC_TRIM": "1"}


def commands(n, bin_dir):
    flags = ["--train-limit", "100", "--epochs", "1", "--test-limit", str(n)]
    rust = [os.path.join(bin_dir, "cnn_mnist"), *flags, "--quiet", "--device", "cpu"]
    torch = [PY, os.path.join(ROOT, "parity", "cnn_mnist.py"), *flags]
    return [("Rust", rust, {}), ("Rust, glibc as is", rust, GLIBC_DEFAULTS), ("PyTorch", torch, {})]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test-limits", default="100,2000,10000")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release", "examples"))
    p.add_argument("--markdown", help="write the table here too")
    a = p.parse_args()
    if not os.path.exists(os.path.join(a.bin_dir, "cnn_mnist")):
        sys.exit(f"error: no {a.bin_dir}/cnn_mnist; run: cargo build --release --examples")
    env = thread_env(a.threads)
    rows = {}
    log = tempfile.NamedTemporaryFile(prefix="bench-memory-", suffix=".log", delete=False).name
    for n in [int(v) for v in a.test_limits.split(",")]:
        for rep in range(a.repeats):
            for label, cmd, extra in commands(n, a.bin_dir):
                rc, wall, rss = run_measured(cmd, {**env, **extra}, log)
                if rc != 0:
                    sys.exit(f"error: {' '.join(cmd)} exited {rc}; see {log}")
                rows.setdefault((n, label), []).append((rss, wall))
                print(f"{n:6d} test images  {label:<18} rep {rep}: RSS {rss:6.0f} MiB  wall {wall:6.2f} s",
                      flush=True)
    lines = ["| test images | Rust peak RSS MiB | Rust, glibc as is | PyTorch | Rust wall s | "
             "Rust, glibc as is wall s | PyTorch wall s |", "|---|---|---|---|---|---|---|"]
    for n in sorted({k[0] for k in rows}):
        med = {label: (statistics.median(r for r, _ in v), statistics.median(w for _, w in v))
               for (m, label), v in rows.items() if m == n}
        order = ["Rust", "Rust, glibc as is", "PyTorch"]
        lines.append(f"| {n:,} | " + " | ".join(f"{med[k][0]:.0f}" for k in order) + " | "
                     + " | ".join(f"{med[k][1]:.2f}" for k in order) + " |")
    table = "\n".join(lines)
    print(f"\n1 epoch of 100 training images, then evaluation; {a.threads} threads, "
          f"medians of {a.repeats}\n\n{table}")
    if a.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(a.markdown)), exist_ok=True)
        with open(a.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
