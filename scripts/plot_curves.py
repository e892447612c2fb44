"""Learning curves of cnn_mnist runs: a Markdown table (validation accuracy per
epoch, final test accuracy) and a hand-written SVG line chart (no plotting
library needed).

    python3 scripts/plot_curves.py runs/optim sgd:"SGD" momentum:"SGD+momentum" adam:"Adam"
reads runs/optim/<name>.json (cnn_mnist --metrics-json), writes table.md and curves.svg there.
"""
import json
import sys

out, specs = sys.argv[1], [s.split(":", 1) for s in sys.argv[2:]]
runs = []
for name, label in specs:
    r = json.load(open(f"{out}/{name}.json"))
    accs = [dict(e["metrics"])["val acc"] for e in r["epochs"]]
    losses = [e["train_loss"] for e in r["epochs"]]
    runs.append((label, accs, losses, r["test"]["accuracy"], r))

n_epochs = max(len(a) for _, a, _, _, _ in runs)
head = "| optimizer | " + " | ".join(f"epoch {i + 1}" for i in range(n_epochs)) + " | test (end) |"
rows = [head, "|---" * (n_epochs + 2) + "|"]
for label, accs, losses, test, _ in runs:
    cells = [f"{100 * a:.2f} % (loss {l:.3f})" for a, l in zip(accs, losses)]
    rows.append(f"| {label} | " + " | ".join(cells) + f" | {100 * test:.2f} % |")
r0 = runs[0][4]
note = (f"Validation accuracy per epoch (training loss in brackets); {r0['train_images'] - r0['val_images']} "
        f"training / {r0['val_images']} validation images, batch {r0['config']['train']['batch_size']}, "
        f"seed {r0['config']['train']['seed']}; test accuracy on {r0['test']['macro_avg']['support']} test images.\n\n")
open(f"{out}/table.md", "w").write(note + "\n".join(rows) + "\n")
print(note + "\n".join(rows))

# SVG: validation accuracy against epoch.
W, H, L, R, T, B = 640, 400, 60, 200, 30, 50
lo = min(min(a) for _, a, _, _, _ in runs)
lo = max(0.0, (int(lo * 20) / 20.0))
hi = 1.0
def x(e):
    return L + (W - L - R) * (e - 1) / max(n_epochs - 1, 1)
def y(v):
    return T + (H - T - B) * (hi - v) / (hi - lo)
colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">CNN on MNIST: validation accuracy per epoch</text>']
steps = 5
for i in range(steps + 1):
    v = lo + (hi - lo) * i / steps
    svg.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{100 * v:.0f}%</text>')
for e in range(1, n_epochs + 1):
    svg.append(f'<text x="{x(e):.1f}" y="{H - B + 18}" text-anchor="middle">{e}</text>')
svg.append(f'<text x="{(L + W - R) / 2:.1f}" y="{H - 12}" text-anchor="middle">epoch</text>')
svg.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
svg.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
for k, (label, accs, _, _, _) in enumerate(runs):
    c = colors[k % len(colors)]
    pts = " ".join(f"{x(i + 1):.1f},{y(a):.1f}" for i, a in enumerate(accs))
    svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
    for i, a in enumerate(accs):
        svg.append(f'<circle cx="{x(i + 1):.1f}" cy="{y(a):.1f}" r="3" fill="{c}"/>')
    ly = T + 20 + 20 * k
    svg.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 30}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
    svg.append(f'<text x="{W - R + 35}" y="{ly + 4}">{label}</text>')
svg.append("</svg>")
open(f"{out}/curves.svg", "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/table.md and {out}/curves.svg")
