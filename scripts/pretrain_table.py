"""The table of `make pretrain-experiment` (scripts/pretrain_experiment.sh), from its
--metrics-json files: test accuracy, mean ± sample standard deviation over the seeds.

    python3 scripts/pretrain_table.py OUT "100 1000 all" "1 2 3"
"""
import json
import os
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def cell(values):
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def main():
    out, sizes, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    lm = load(f"{out}/lm.json")
    steps = lm["config"]["train"]["max_steps"]
    print(
        f"Pre-training: {lm['text_chars']:,} characters of unlabelled text, {steps} steps, "
        f"block {lm['config']['model']['block_size']}; validation "
        f"{lm['val']['bits_per_char']:.3f} bits/char (bigram {lm['baselines']['bigram']['bits_per_char']:.3f}, "
        f"unigram {lm['baselines']['unigram']['bits_per_char']:.3f})."
    )
    print()
    print(f"Test accuracy (%) on the movie-review test split, mean ± std over seeds {', '.join(seeds)}:")
    print()
    print("| labelled training sentences | GPT, pre-trained | GPT, random init | majority class | bag-of-words LR |")
    print("|---|---|---|---|---|")
    for n in sizes:
        # Seeds whose two runs both finished (an interrupted experiment reports what it has).
        done = [s for s in seeds
                if all(os.path.exists(f"{out}/{k}-{n}-s{s}.json") for k in ("pretrained", "random"))]
        if not done:
            continue
        runs = {k: [load(f"{out}/{k}-{n}-s{s}.json") for s in done] for k in ("pretrained", "random")}
        acc = {k: [100 * r["test"]["accuracy"] for r in v] for k, v in runs.items()}
        base = runs["pretrained"]
        majority = [100 * r["majority"]["accuracy"] for r in base]
        bow = [100 * r["bag_of_words"]["accuracy"] for r in base]
        label = f"{base[0]['sizes'][0]:,}" + (" (all)" if n == "all" else "")
        if len(done) < len(seeds):
            label += f" ({len(done)} seed{'s' if len(done) > 1 else ''}: {', '.join(done)})"
        print(f"| {label} | {cell(acc['pretrained'])} | {cell(acc['random'])} | "
              f"{cell(majority)} | {cell(bow)} |")


if __name__ == "__main__":
    main()
