"""transformer_lm (issue 20): training steps/s, generation tokens/s and cold start, Rust against
its PyTorch twin parity/transformer_lm.py, side by side in one run.

The "lm" part of parity/bench.py (`bench.py --models lm`, or `--only lm`):

  training    the default baby GPT (4 layers, 4 heads, 128 wide, block 64, batch 12, AdamW,
              dropout 0) on the default text, `--lm-steps` optimizer steps (100; 50 with
              --quick) in one process per run, Rust and twin rotated over `--repeats`. The
              figure is each report's own `training.train_seconds / steps` (the step loop:
              windows, forward, backward, clipping, AdamW, reading the loss; the evaluations at
              step 0 and at the end excluded). `--val-fraction 0.001` and `--eval-batches 2`
              only shorten what the run does around the loop (the whole-text scoring after
              training); the vocabulary and the step are the default's. The Rust runs --save
              the checkpoint the other two rows load.
  generation  batch 1, greedy (--temperature 0, so both write the same text), prompt "\\n",
              `--generate 200` from that checkpoint, with the key/value cache. Both sides stream
              each character to stdout as it is drawn; the driver reads the pipe and stamps each
              character's arrival, so process start, loading, scoring and the prompt's forward
              are outside the figure. Two phases: "cached" = tokens 1..block-1 (each one
              1-token forward over the cache), "past the block" = the rest (the context is full,
              so each step reruns the cropped 64-token context, as nanoGPT's generate does).
              The figure is the median over the runs of the cold-start cases below.
  cold start  whole process, start to exit, `transformer_lm --load M --generate 200 --temperature
              0 --quiet` against the twin with the same flags: without --text (the command as a
              user types it: load, 200 tokens, no text read or scored), on a 20 000-character
              text (start, load, a small scoring, 200 tokens), and "start only" (`--help` against
              `import torch, safetensors.torch`). Each runs once untimed, then `--use-repeats`
              timed runs, alternated (ABBA).

Device: the CPU on both sides, whatever --device says (the twin runs on the CPU only; the Rust
runs get --device cpu, so its default `auto` cannot pick a GPU the twin does not use).
Threads: training at --threads, generation and cold start at --use-threads (both sides:
OMP_NUM_THREADS/MKL_NUM_THREADS and each side's --threads flag). Ratios: Rust time / PyTorch
time; TARGETS are issue 20's.
"""
import json
import os
import subprocess
import time

from bench_use import _cmd_text, _verdict
from bench_workers import PY, ROOT, format_loads, median
from side_by_side import run_measured, thread_env

LM_NAMES = {"lm", "transformer_lm"}  # the --models values that select this part
TARGETS = {"train_step": 0.8, "generate_cached": 0.5, "cold_start": 0.3}
GENERATE = 200
PROMPT = "\n"  # both sides' default
SMALL_TEXT_CHARS = 20000
TWIN = os.path.join(ROOT, "parity", "transformer_lm.py")


def wanted(a):
    """Whether this part runs: not --no-lm, and --models (if given) names it."""
    return not a.no_lm and (not a.models or bool(LM_NAMES & set(a.models)))


def train_flags(a):
    return ["--max-steps", str(a.lm_steps), "--eval-every", str(a.lm_steps), "--eval-batches", "2",
            "--val-fraction", "0.001", "--seed", "1337", "--quiet", "--threads", str(a.threads),
            "--device", "cpu"]


def generate_flags(a, ckpt):
    return ["--load", ckpt, "--generate", str(GENERATE), "--temperature", "0", "--quiet",
            "--threads", str(a.use_threads), "--device", "cpu"]


# --------------------------------------------------------------------------- training

def run_training(a, out, ckpt):
    env = thread_env(a.threads)
    flags = train_flags(a)
    rust_bin = os.path.join(a.bin_dir, "transformer_lm")
    variants = [("rust", lambda rep: [rust_bin] + flags + ["--save", ckpt, "--metrics-json", rep]),
                ("pytorch", lambda rep: [PY, TWIN] + flags + ["--metrics-json", rep])]
    got = {side: [] for side, _ in variants}
    for r in range(a.repeats):
        order = variants if r % 2 == 0 else variants[::-1]
        for side, cmd in order:
            rep, log = (os.path.join(out, f"train{r}_{side}.{x}") for x in ("json", "log"))
            rc, wall, rss = run_measured(cmd(rep), env, log)
            if rc != 0:
                raise RuntimeError(f"transformer_lm training, {side}: exit {rc}, see {log}")
            with open(rep) as f:
                t = json.load(f)["training"]
            got[side].append({"ms_per_step": 1e3 * t["train_seconds"] / t["steps"], "steps": t["steps"],
                              "wall_seconds": wall, "peak_rss_mb": rss})
            print(f"  lm training {side:<8} {got[side][-1]['ms_per_step']:8.2f} ms/step  "
                  f"wall {wall:6.2f} s  RSS {rss:5.0f} MiB", flush=True)
    row = {"steps": a.lm_steps, "flags": flags, "all": got}
    for s in got:
        ms = [g["ms_per_step"] for g in got[s]]
        row[s] = {"ms_per_step": median(ms), "best_ms_per_step": min(ms),
                  "peak_rss_mb": median([g["peak_rss_mb"] for g in got[s]])}
    row["ratio"] = row["rust"]["ms_per_step"] / row["pytorch"]["ms_per_step"]
    row["ratio_best"] = row["rust"]["best_ms_per_step"] / row["pytorch"]["best_ms_per_step"]
    row["met"] = row["ratio"] <= TARGETS["train_step"]
    print(f"  lm training ratio {row['ratio']:.2f} (best {row['ratio_best']:.2f})", flush=True)
    return row


# --------------------------------------------------------------------------- generation

def run_streamed(cmd, env, log_path):
    """Runs `cmd` reading its stdout as it comes; returns (exit code, wall seconds, peak RSS
    MiB, stdout bytes, [(perf_counter time, bytes read so far)]). stdout and stderr go to
    the log after the run."""
    t0 = time.perf_counter()
    with open(log_path + ".stderr", "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        fd, data, stamps = proc.stdout.fileno(), b"", []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            stamps.append((time.perf_counter(), len(data)))
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.stdout.close()
    wall = time.perf_counter() - t0
    with open(log_path, "wb") as f:
        f.write(data)
    return os.waitstatus_to_exitcode(status), wall, rusage.ru_maxrss / 1024.0, data, stamps


def sample_timing(data, stamps, n, cached):
    """The sample after `sample:\\n` (n characters) and the arrival time of each character:
    (text, seconds for tokens 1..cached, seconds for tokens cached+1..n-1)."""
    start = data.find(b"sample:\n")
    if start < 0:
        raise RuntimeError("no 'sample:' line in the output")
    start += len(b"sample:\n")
    text = data[start:].decode("utf-8")[:n]
    if len(text) != n:
        raise RuntimeError(f"expected {n} generated characters, read {len(text)}")
    arrival, end, k = [], start, 0
    for c in text:
        end += len(c.encode("utf-8"))
        while stamps[k][1] < end:
            k += 1
        arrival.append(stamps[k][0])
    return text, arrival[cached] - arrival[0], arrival[n - 1] - arrival[cached]


# --------------------------------------------------------------------------- cold start

def small_text(out):
    """The first SMALL_TEXT_CHARS characters of the default text (its first play)."""
    plays = os.path.join(ROOT, "data", "text", "shakespeare")
    first = sorted(n for n in os.listdir(plays) if n.endswith(".txt"))[0]
    with open(os.path.join(plays, first), encoding="utf-8") as f:
        text = f.read(SMALL_TEXT_CHARS)
    path = os.path.join(out, "small.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def cold_cases(a, ckpt, small):
    """(label, {side: command}, generates, timed repeats, untimed first run)."""
    rust = [os.path.join(a.bin_dir, "transformer_lm")]
    twin = [PY, TWIN]
    flags = generate_flags(a, ckpt)
    return [
        (f"{GENERATE} tokens, {SMALL_TEXT_CHARS // 1000} 000-character text",
         {"rust": rust + flags + ["--text", small], "pytorch": twin + flags + ["--text", small]},
         True, a.use_repeats, True),
        ("start only", {"rust": rust + ["--help"], "pytorch": [PY, "-c", "import torch, safetensors.torch"]},
         False, a.use_repeats, True),
        (f"{GENERATE} tokens, no --text (generation only)",
         {"rust": rust + flags, "pytorch": twin + flags}, True, a.use_repeats, True),
    ]


def run_cold(a, out, ckpt, cached):
    env = thread_env(a.use_threads)
    small = small_text(out)
    rows, gen = [], {"rust": [], "pytorch": []}
    texts = {}
    for c, (label, commands, generates, repeats, untimed) in enumerate(cold_cases(a, ckpt, small)):
        variants = list(commands.items())
        got = {side: [] for side, _ in variants}
        for r in range(-1 if untimed else 0, repeats):
            order = variants if (r + c) % 2 == 0 else variants[::-1]
            for side, cmd in order:
                log = os.path.join(out, f"cold{c}_{side}_{r + 1}.log")
                rc, wall, rss, data, stamps = run_streamed(cmd, env, log)
                if rc != 0:
                    raise RuntimeError(f"transformer_lm cold start {label}, {side}: exit {rc}, see {log}")
                if r < 0:
                    continue
                got[side].append({"wall_seconds": wall, "peak_rss_mb": rss})
                if generates:
                    text, t_cached, t_past = sample_timing(data, stamps, GENERATE, cached)
                    texts.setdefault(side, text)
                    gen[side].append({"cached_s": t_cached, "past_s": t_past, "case": label})
        row = {"case": label, "generates": generates, "commands": commands, "all": got}
        for s in got:
            walls = [g["wall_seconds"] for g in got[s]]
            row[s] = {"median_s": median(walls), "min_s": min(walls), "max_s": max(walls),
                      "peak_rss_mb": median([g["peak_rss_mb"] for g in got[s]])}
        row["ratio"] = row["rust"]["median_s"] / row["pytorch"]["median_s"]
        row["ratio_best"] = row["rust"]["min_s"] / row["pytorch"]["min_s"]
        row["met"] = row["ratio"] <= TARGETS["cold_start"] if generates else None
        print(f"  lm cold start {label[:34]:<34} rust {row['rust']['median_s']:6.3f} s  pytorch "
              f"{row['pytorch']['median_s']:6.3f} s  ratio {row['ratio']:.2f} (best {row['ratio_best']:.2f})",
              flush=True)
        rows.append(row)
    return rows, gen, texts


def generation_rows(gen, texts, cached):
    """Tokens/s of the two phases, median over the runs, Rust against PyTorch."""
    rows = []
    for key, label, tokens in (("cached_s", "cached", cached),
                               ("past_s", "past the block", GENERATE - 1 - cached)):
        row = {"phase": label, "tokens": tokens}
        for s in ("rust", "pytorch"):
            secs = [g[key] for g in gen[s]]
            row[s] = {"ms_per_token": 1e3 * median(secs) / tokens, "best_ms_per_token": 1e3 * min(secs) / tokens,
                      "runs": len(secs)}
            row[s]["tokens_per_sec"] = 1e3 / row[s]["ms_per_token"]
        row["ratio"] = row["rust"]["ms_per_token"] / row["pytorch"]["ms_per_token"]
        row["ratio_best"] = row["rust"]["best_ms_per_token"] / row["pytorch"]["best_ms_per_token"]
        row["met"] = row["ratio"] <= TARGETS["generate_cached"] if key == "cached_s" else None
        print(f"  lm generation {label:<15} rust {row['rust']['ms_per_token']:6.3f} ms/token  pytorch "
              f"{row['pytorch']['ms_per_token']:6.3f} ms/token  ratio {row['ratio']:.2f}", flush=True)
        rows.append(row)
    r, p = texts["rust"], texts["pytorch"]
    agree = next((i for i, (x, y) in enumerate(zip(r, p)) if x != y), min(len(r), len(p)))
    return rows, {"same_text": r == p, "agreeing_prefix": agree, "rust_sample": r}


def run_lm(a):
    """The three tables; returns the dict bench.py stores under "lm" in bench.json."""
    out = os.path.join(a.out, "lm")
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    ckpt = os.path.join(out, "model", "m.safetensors")
    if getattr(a, "device", "cpu") != "cpu":
        print("  (transformer_lm part: on the CPU, both sides; parity/transformer_lm.py has no GPU path)",
              flush=True)
    load_start = os.getloadavg()
    training = run_training(a, out, ckpt)
    with open(os.path.join(out, "model", "config.json")) as f:
        block = json.load(f)["model"]["block_size"]
    cached = block - len(PROMPT)  # tokens 1..cached extend the cache; then the context is full
    cold, gen, texts = run_cold(a, out, ckpt, cached)
    generation, agreement = generation_rows(gen, texts, cached)
    return {"threads": a.threads, "use_threads": a.use_threads, "repeats": a.repeats,
            "use_repeats": a.use_repeats, "block_size": block, "generate": GENERATE,
            "load_average_start": load_start, "load_average_end": os.getloadavg(), "targets": TARGETS,
            "training": training, "generation": generation, "agreement": agreement, "cold_start": cold}


# --------------------------------------------------------------------------- output

def markdown_lm(lm):
    t, tr = lm["targets"], lm["training"]
    L = ["### transformer_lm: training, generation, cold start (issue 20)\n",
         f"CPU (`--device cpu`) on both sides. Training at {lm['threads']} intra-op thread(s), generation "
         f"and cold start at {lm['use_threads']}, both sides; load average {format_loads(lm['load_average_start'])} at the start of this part, "
         f"{format_loads(lm['load_average_end'])} at its end. Ratio = Rust time / PyTorch time.\n",
         f"**Training** (default baby GPT: 4 layers × 4 heads × 128 wide, block 64, batch 12, AdamW): "
         f"each report's training seconds / steps over {tr['steps']} steps, median of "
         f"{len(tr['all']['rust'])} run(s) per side (rotated).\n",
         "| Rust ms/step | PyTorch ms/step | Rust steps/s | PyTorch steps/s | ratio | ratio of fastest runs "
         "| target | peak RSS MiB Rust / PyTorch |",
         "|---:|---:|---:|---:|---:|---:|---|---:|",
         f"| {tr['rust']['ms_per_step']:.1f} | {tr['pytorch']['ms_per_step']:.1f} | "
         f"{1e3 / tr['rust']['ms_per_step']:.1f} | {1e3 / tr['pytorch']['ms_per_step']:.1f} | {tr['ratio']:.2f} | "
         f"{tr['ratio_best']:.2f} | {_verdict(tr['met'], t['train_step'])} | "
         f"{tr['rust']['peak_rss_mb']:.0f} / {tr['pytorch']['peak_rss_mb']:.0f} |", ""]
    ag = lm["agreement"]
    same = ("the same text on both sides" if ag["same_text"]
            else f"texts agree on the first {ag['agreeing_prefix']} of {lm['generate']} characters")
    runs = lm["generation"][0]["rust"]["runs"]
    L += [f"**Generation**, batch 1, greedy, {lm['generate']} tokens after the prompt \"\\n\", key/value cache "
          f"(block {lm['block_size']}): time between the arrival of streamed characters on stdout (process "
          f"start, loading, scoring and the first token excluded); median of the {runs} timed run(s) per "
          f"side of the cold-start rows below; {same}.\n",
          "| phase | tokens timed | Rust tokens/s | PyTorch tokens/s | Rust ms/token | PyTorch ms/token | ratio "
          "| ratio of fastest runs | target |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in lm["generation"]:
        target = _verdict(r["met"], t["generate_cached"]) if r["met"] is not None else "(no target)"
        L.append(f"| {r['phase']} | {r['tokens']} | {r['rust']['tokens_per_sec']:.0f} | "
                 f"{r['pytorch']['tokens_per_sec']:.0f} | {r['rust']['ms_per_token']:.3f} | "
                 f"{r['pytorch']['ms_per_token']:.3f} | {r['ratio']:.2f} | {r['ratio_best']:.2f} | {target} |")
    L += ["", "**Cold start**: whole process, start to exit (wall seconds: median, and fastest–slowest, of "
          "the timed runs).\n",
          "| case | runs | Rust s | PyTorch s | ratio | ratio of fastest runs | target | peak RSS MiB Rust / PyTorch |",
          "|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in lm["cold_start"]:
        ru, pt = r["rust"], r["pytorch"]
        target = _verdict(r["met"], t["cold_start"]) if r["generates"] else "(no target)"
        L.append(f"| {r['case']} | {len(r['all']['rust'])} | {ru['median_s']:.3f} ({ru['min_s']:.3f}–"
                 f"{ru['max_s']:.3f}) | {pt['median_s']:.3f} ({pt['min_s']:.3f}–{pt['max_s']:.3f}) | "
                 f"{r['ratio']:.2f} | {r['ratio_best']:.2f} | {target} | "
                 f"{ru['peak_rss_mb']:.0f} / {pt['peak_rss_mb']:.0f} |")
    L.append("")
    c = lm["cold_start"][-1]["commands"]
    L.append(f"Training flags (both sides, Rust adding `--save M`): `{' '.join(tr['flags'])}`. Cold start "
             f"commands: `{_cmd_text(c['rust'])}` and `{_cmd_text(c['pytorch'])}` (and the same with "
             f"`--text` of the small text).\n")
    return "\n".join(L)
