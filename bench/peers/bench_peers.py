"""The Rust alternatives side by side: this project (tch) against candle and burn, in one run.

    .venv/bin/python bench/peers/bench_peers.py                  # make bench-peers
    .venv/bin/python bench/peers/bench_peers.py --quick          # 1 repeat, short timings
    .venv/bin/python bench/peers/bench_peers.py --threads 1 --markdown runs/bench/peers.md
    .venv/bin/python bench/peers/bench_peers.py --peers candle --models cnn

Three long-lived workers answer the same JSON cases (parity/bench_workers.py): the project's
target/release/examples/bench, and bench/peers/target/release/peers --framework candle and
--framework burn-ndarray (the same three models written in candle 0.9 and burn 0.19, see
bench/peers/src). For each case the driver rotates the order of the workers over the repeats
(ABC, BCA, CAB, ...), so load from other processes hits every framework alike; the figure is the
median of the repeats.

Cases, with the shapes of the examples (synthetic inputs, SGD as the examples train):
  cnn          the tutorial CNN: training at batch 64; inference at batch 1 and 64
  rnn, lstm    rnn_series's model, hidden 64, sequence 50: the same three cases
  transformer  transformer_seq's encoder (d_model 64, 4 heads, 2 layers, feed-forward 128,
               dropout 0.1, causal), sequence 64: the same three cases

First a check that the frameworks compute the same thing: PyTorch (parity/models.py, seed 0,
every weight perturbed by 0.05 N(0, 1) so that no two layers or norms are alike) writes each
model's weights and a batch to a safetensors file; every worker loads all of it (a parameter
the model does not take is an error), runs with dropout off, and answers its loss before and
after one SGD step (lr 0.05; 0.005 for the Transformer). Each loss must be finite, fall, and be within
--check-tolerance (1e-4) of this project's; PyTorch's own two losses are printed beside them.

Threads: every worker gets --threads (default all CPUs, as parity/bench.py): tch through
tch::set_num_threads and OMP_NUM_THREADS, candle and burn through rayon's global pool
(RAYON_NUM_THREADS too) and MATMUL_NUM_THREADS (burn-ndarray's matrixmultiply).
Ratios are peer time / tch time: above 1.0 the peer is slower. Nothing here is a fixed number.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_DIR = os.path.join(ROOT, "bench", "peers")
sys.path.insert(0, os.path.join(ROOT, "parity"))
from bench_workers import Worker, default_bin_dir, format_loads, list_models, machine, median  # noqa: E402
from side_by_side import thread_env  # noqa: E402

PEERS = {"candle": "candle", "burn-ndarray": "burn (NdArray)"}
SIZES = {"cnn": {}, "rnn": {"seq": 50, "hidden": 64}, "lstm": {"seq": 50, "hidden": 64},
         "transformer": {"seq": 64, "d_model": 64}}
MODES = [("train", 64), ("infer", 1), ("infer", 64)]
CHECK_SIZES = {"cnn": {}, "rnn": {"seq": 16, "hidden": 64}, "lstm": {"seq": 16, "hidden": 64},
               "transformer": {"seq": 16, "d_model": 64}}


# --------------------------------------------------------------------------- check

# Large enough that a wrong gradient moves the loss after the step, small enough that it falls.
CHECK_LR = {"cnn": 0.05, "rnn": 0.05, "lstm": 0.05, "transformer": 0.005}
CHECK_NOISE = 0.05       # added to every initial weight: layers differ, biases and norms are not 0/1


def write_check_file(model, path, batch=8):
    """PyTorch builds the model (seed 0), perturbs every weight (CHECK_NOISE · N(0, 1)) so
    that a loader reading the wrong key (layer 0 twice, norm1 for norm2, a bias skipped)
    changes the loss, and draws a batch; both go into one safetensors file. Returns
    PyTorch's own losses before and after one SGD step at CHECK_LR[model] (dropout off)."""
    import torch
    from safetensors.torch import save_file
    import models as pt

    torch.manual_seed(0)
    sz = CHECK_SIZES[model]
    if model == "cnn":
        net = pt.CNN(logit_relu=True)
        xs, ys = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
        loss_fn = torch.nn.functional.cross_entropy
    elif model in ("rnn", "lstm"):
        net = pt.RNN(input_size=1, hidden_size=sz["hidden"], output_size=1, cell=model)
        xs, ys = torch.randn(batch, sz["seq"], 1), torch.randn(batch, 1)
        loss_fn = torch.nn.functional.mse_loss
    else:
        d = sz["d_model"]
        net = pt.SeqTransformer(10, d, 4, 2, 2 * d, 0.0, True)
        xs, ys = torch.randn(batch, sz["seq"], 10), torch.randn(batch, sz["seq"], 1)
        loss_fn = torch.nn.functional.mse_loss
    with torch.no_grad():
        for p in net.parameters():
            p.add_(CHECK_NOISE * torch.randn_like(p))
    lr = CHECK_LR[model]
    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    tensors.update({"__xs": xs.contiguous(), "__ys": ys.contiguous()})
    save_file(tensors, path)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    net.train()
    losses = []
    for _ in range(2):
        loss = loss_fn(net(xs), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def check_case(model, path):
    return dict(model=model, mode="check", batch=8, weights=path, lr=CHECK_LR[model], **CHECK_SIZES[model])


def run_check(a, workers):
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            path = os.path.join(tmp, f"{model}.safetensors")
            torch_losses = write_check_file(model, path)
            got = {name: w.ask(check_case(model, path))["losses"] for name, w in workers.items()}
            ref = got["tch"]
            row = {"model": model, "pytorch": torch_losses, "losses": got, "max_abs_diff": {}}
            for name, losses in got.items():
                sane = all(math.isfinite(x) for x in losses) and losses[1] < losses[0]
                if not sane:
                    print(f"  {model}: {name}'s losses {losses} are not finite and decreasing", flush=True)
                    ok = False
                if name == "tch":
                    continue
                diff = max(abs(x - y) for x, y in zip(losses, ref))
                row["max_abs_diff"][name] = diff
                ok &= sane and diff <= a.check_tolerance
            rows.append(row)
            print(f"  {model:<12} tch {ref[0]:.7f} -> {ref[1]:.7f}  "
                  + "  ".join(f"{n} Δ {d:.1e}" for n, d in row["max_abs_diff"].items())
                  + f"  (PyTorch {torch_losses[0]:.7f} -> {torch_losses[1]:.7f})", flush=True)
    return rows, ok


# --------------------------------------------------------------------------- timing

def run_timing(a, workers):
    names = list(workers)
    rows = []
    i = 0
    for model in a.models:
        for mode, batch in MODES:
            case = dict(model=model, mode=mode, batch=batch, warmup=a.warmup, min_steps=a.min_steps,
                        min_seconds=a.min_seconds, **SIZES[model])
            if model == "transformer" and a.transformer_dropout is not None:
                case["dropout"] = a.transformer_dropout
            times = {n: [] for n in names}
            phases = {n: [] for n in names}
            for r in range(a.repeats):
                k = (r + i) % len(names)
                for name in names[k:] + names[:k]:
                    m = workers[name].ask(case)
                    times[name].append(1.0 / m["steps_per_sec"])
                    if "phases" in m:
                        phases[name].append(m["phases"])
            i += 1
            med = {n: median(t) for n, t in times.items()}
            row = {"model": model, "mode": mode, "batch": batch, "case": case,
                   "ms_per_step": {n: 1e3 * v for n, v in med.items()},
                   "ratio": {n: med[n] / med["tch"] for n in names if n != "tch"},
                   "ratio_of_best": {n: min(times[n]) / min(times["tch"]) for n in names if n != "tch"},
                   "all_s": times,
                   # training: median ms per step of each phase (forward, backward, step)
                   "phases_ms": {n: {k: 1e3 * median([p[k] for p in ph]) for k in ph[0]}
                                 for n, ph in phases.items() if ph}}
            rows.append(row)
            print(f"  {model:<12} {mode:<5} batch {batch:<3} "
                  + "  ".join(f"{n} {1e3 * v:9.2f} ms" for n, v in med.items())
                  + "  ratios " + " ".join(f"{row['ratio'][n]:.2f}" for n in row["ratio"]), flush=True)
    return rows


# --------------------------------------------------------------------------- output

def versions():
    """Crate versions from the two lock files, torch from the .venv."""
    def read(path):
        try:
            return open(path).read()
        except OSError:
            return None

    def locked(text, crate):
        if text is None:
            return "?"
        m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(crate), text)
        return m.group(1) if m else "?"
    import torch
    peers_lock = read(os.path.join(PEERS_DIR, "Cargo.lock"))
    return {"tch": locked(read(os.path.join(ROOT, "Cargo.lock")), "tch"), "libtorch": torch.__version__,
            "candle-core": locked(peers_lock, "candle-core"), "candle-nn": locked(peers_lock, "candle-nn"),
            "burn": locked(peers_lock, "burn"), "burn-ndarray": locked(peers_lock, "burn-ndarray"),
            "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()}


def markdown(info, vers, check, timing, a):
    peers = [p for p in a.peers]
    L = [f"Machine: {info['nproc']} CPUs ({info['cpu']}); {info['date']}; load average at start "
         f"{format_loads(info['load_average_at_start'])}; {info['threads']} thread(s) "
         f"for every framework. Versions: tch {vers['tch']} (libtorch {vers['libtorch']}), candle "
         f"{vers['candle-core']}, burn {vers['burn']}; {vers['rustc']}. Medians of {a.repeats} rotated "
         f"repeat(s); ratio = peer time / tch time (> 1: the peer is slower); \"best\" divides the "
         f"fastest repeat of each.", ""]
    if check:
        L.append("**Same weights, same batch: loss before → after one SGD step (dropout off)**\n")
        L.append("| model | this project (tch) | " + " | ".join(f"{PEERS[p]}: max abs diff to tch" for p in peers)
                 + " | PyTorch (reference) |")
        L.append("|---|---|" + "---:|" * len(peers) + "---|")
        for r in check:
            t = r["losses"]["tch"]
            L.append(f"| {r['model']} | {t[0]:.7f} → {t[1]:.7f} | "
                     + " | ".join(f"{r['max_abs_diff'][p]:.1e}" for p in peers)
                     + f" | {r['pytorch'][0]:.7f} → {r['pytorch'][1]:.7f} |")
        L.append("")
    if timing:
        L.append("**Training steps / s (batch 64) and inference samples / s (batch 1 and 64)**\n")
        head = "| model | case | tch | " + " | ".join(
            f"{PEERS[p]} | ratio | best" for p in peers) + " |"
        L.append(head)
        L.append("|---|---|---:|" + "---:|---:|---:|" * len(peers))
        for r in timing:
            per = (lambda n: 1e3 / r["ms_per_step"][n]) if r["mode"] == "train" else \
                (lambda n: r["batch"] * 1e3 / r["ms_per_step"][n])
            unit = "steps/s" if r["mode"] == "train" else "samples/s"
            L.append(f"| {r['model']} | {r['mode']} b{r['batch']} ({unit}) | {per('tch'):.1f} | "
                     + " | ".join(f"{per(p):.1f} | {r['ratio'][p]:.2f} | {r['ratio_of_best'][p]:.2f}"
                                  for p in peers) + " |")
        L.append("")
        L.append("**Where a training step goes: ms per step in forward (with the loss), backward, "
                 "SGD step (medians)**\n")
        L.append("| model | " + " | ".join(["tch"] + [PEERS[p] for p in peers]) + " |")
        L.append("|---|" + "---|" * (1 + len(peers)))
        for r in timing:
            if r["mode"] != "train" or not r["phases_ms"]:
                continue
            cell = lambda n: " / ".join(f"{r['phases_ms'][n][k]:.2f}" for k in ("forward_s", "backward_s", "step_s"))
            L.append(f"| {r['model']} | " + " | ".join(cell(n) for n in ["tch"] + peers) + " |")
        L.append("")
        if a.transformer_dropout is not None:
            L.append(f"Transformer dropout: {a.transformer_dropout} (--transformer-dropout).")
        L.append("Sizes: " + "; ".join(f"{m}: " + (", ".join(f"{k} {v}" for k, v in s.items()) or "28×28 images")
                                        for m, s in SIZES.items() if m in a.models) + ".")
    return "\n".join(L)


def build(a):
    cmds = [["cargo", "build", "--release", "--quiet", "--example", "bench"],
            ["cargo", "build", "--release", "--quiet", "--locked", "--manifest-path",
             os.path.join(PEERS_DIR, "Cargo.toml")]]
    for cmd in cmds:
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads, every framework")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=1.0, help="time each case at least this long")
    p.add_argument("--min-steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--peers", action="append", choices=list(PEERS), help="only these peers (repeatable)")
    p.add_argument("--models", action="append", choices=list(SIZES), help="only these models (repeatable)")
    p.add_argument("--transformer-dropout", type=float,
                   help="the Transformer's dropout in the timed cases (default 0.1, transformer_seq's)")
    p.add_argument("--check-tolerance", type=float, default=1e-4, help="largest loss difference to tch")
    p.add_argument("--no-check", action="store_true", help="skip the same-weights loss check")
    p.add_argument("--no-timing", action="store_true", help="only the loss check")
    p.add_argument("--quick", action="store_true", help="1 repeat, 0.3 s per case, 2 steps")
    p.add_argument("--bin-dir", default=default_bin_dir(), help="the project's examples (the bench worker)")
    # bench/peers/target/release/peers, or under $CARGO_TARGET_DIR when it is set
    p.add_argument("--peers-bin", default=default_bin_dir(os.path.join(PEERS_DIR, "target"),
                                                          os.path.join("release", "peers")),
                   help="the candle/burn worker")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "bench", "peers"))
    p.add_argument("--markdown", help="also write the tables here (markdown)")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--write-check-file", nargs=2, metavar=("MODEL", "PATH"),
                   help="only write MODEL's check file to PATH and print PyTorch's two losses as JSON "
                        "(tests/bench_check.rs compares the project's worker with them)")
    a = p.parse_args()
    if a.write_check_file:
        model, path = a.write_check_file
        print(json.dumps({"losses": write_check_file(model, path),
                          "case": check_case(model, path)}))
        return
    a.peers = a.peers or list(PEERS)
    a.models = a.models or list(SIZES)
    if a.quick:
        a.repeats, a.min_seconds, a.min_steps, a.warmup = 1, 0.3, 2, 1
    if not a.no_build:
        build(a)
    env = thread_env(a.threads)
    env["RAYON_NUM_THREADS"] = env["MATMUL_NUM_THREADS"] = str(a.threads)
    cmds = {"tch": [os.path.join(a.bin_dir, "bench"), "--threads", str(a.threads)]}
    for peer in a.peers:
        cmds[peer] = [a.peers_bin, "--framework", peer, "--threads", str(a.threads)]
    for name, cmd in cmds.items():
        missing = set(a.models) - list_models(cmd, env)
        if missing:
            sys.exit(f"error: the {name} worker ({cmd[0]}) has no {sorted(missing)}")
    info, vers = machine(a), versions()
    print(f"machine: {info}\nversions: {vers}", flush=True)
    workers = {name: Worker(name, cmd, env) for name, cmd in cmds.items()}
    check, check_ok, timing = [], True, []
    try:
        if not a.no_check:
            print(f"\nsame weights, one SGD step (tolerance {a.check_tolerance:g} on the loss)", flush=True)
            check, check_ok = run_check(a, workers)
        if not a.no_timing:
            print("\ntiming (workers rotated case by case)", flush=True)
            timing = run_timing(a, workers)
    finally:
        for w in workers.values():
            w.close()
    md = markdown(info, vers, check, timing, a)
    print("\n" + md)
    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, "peers.json")
    with open(out, "w") as f:
        json.dump({"machine": info, "versions": vers, "args": vars(a), "check": check,
                   "check_ok": check_ok, "timing": timing}, f, indent=2)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md + "\n")
    print(f"(JSON: {os.path.relpath(out, ROOT)})")
    if not check_ok:
        sys.exit(f"error: a peer's loss differs from tch's by more than {a.check_tolerance:g} (see above)")


if __name__ == "__main__":
    main()
