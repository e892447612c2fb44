"""PyTorch twin of `cnn_mnist --load M --predict PATH...` (src/predict/).

The same search (files, folders searched recursively in sorted order,
torchvision's ImageFolder labels), the same decoding to grey levels (Pillow for
the file formats, then the integer BT.601 formula of src/predict/decode.rs),
the same preprocessing in numpy float64 (src/predict/preprocess.rs, step for
step: lower medians, the 512-px working copy, the levelled background, Otsu's
threshold, the connected components and their selection (src/predict/ink.rs),
area-averaging resampling, centre-of-mass placement with the same rounding), the same checkpoint (safetensors, with the
config.json beside it for logit_relu, num_classes and normalize) and the same
model (parity/models.py CNN) in eval mode under no_grad.

    .venv/bin/python parity/predict.py --load runs/cnn_mnist/model.safetensors \
        --json out.json my_digits/

Known difference: Pillow reduces 16-bit colour and 16-bit alpha PNGs to 8
bits (Rust keeps 16); 16-bit grey is read in full by both.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageOps

SIDE = 28
DIGIT_BOX = 20
INK_THRESHOLD = 0.1
LIGHT_BACKGROUND = 0.5
TIE_EPSILON = 1e-9
WORK_SIDE = 512
CELLS = 8
MIN_CELL = 32
SPECK_FRACTION = 0.02
LARGE_FRACTION = 0.25
EDGE_FRACTION = 0.5
LISTED_FAILURES = 5
MAX_PIXELS = 50_000_000
MNIST_MEAN_STD = (0.1307, 0.3081)
IMAGE_EXTENSIONS = {"png", "jpg", "jpeg", "jpe", "jfif", "bmp", "dib", "gif", "tif", "tiff",
                    "pbm", "pgm", "ppm", "pnm"}
OTHER_IMAGE_EXTENSIONS = {"webp", "avif", "heic", "heif", "ico", "tga", "qoi", "exr", "hdr",
                          "dds", "jxl", "svg"}
SUPPORTED = {"PNG", "JPEG", "BMP", "GIF", "TIFF", "PPM"}

Image.MAX_IMAGE_PIXELS = None  # our own 50-megapixel check below


class InputError(Exception):
    pass


# ---------------------------------------------------------------- decoding

HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def read_grey(path):
    """(grey [h, w] float64 in [0, 1], alpha [h, w] or None, notes), as decode.rs."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        raise InputError(f"{path}: unsupported format HEIC/HEIF (no HEIC decoder is bundled); convert it to JPEG or PNG")
    try:
        im = Image.open(path)
    except Exception as e:
        raise InputError(f"{path}: unsupported format or unreadable file ({e})")
    if im.format not in SUPPORTED:
        raise InputError(f"{path}: unsupported format {im.format}")
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise InputError(f"{path}: the image is {w}×{h} pixels, larger than the 50 megapixels accepted")
    notes = []
    frames = getattr(im, "n_frames", 1) if im.format == "GIF" else 1
    if frames > 1:
        notes.append(f"animated GIF: used the first of its {frames} frames")
    try:
        im = ImageOps.exif_transpose(im)
        im.load()
    except Exception as e:
        raise InputError(f"{path}: cannot decode this image (corrupt or truncated file?): {e}")
    grey, alpha = to_grey(im)
    return grey, alpha, notes


def to_grey(im):
    if im.mode == "1":
        im = im.convert("L")
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
    if im.mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if im.mode == "L" else "RGBA")
    if im.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F"):
        im = im.convert("RGBA" if "A" in im.mode or "a" in im.mode else "RGB")
    a = np.asarray(im)
    if im.mode == "F":
        g = np.clip(a.astype(np.float64), 0.0, 1.0)
        return g, None
    full = 65535 if im.mode.startswith("I") else 255
    a = a.astype(np.int64)
    if a.ndim == 2:
        a = a[:, :, None]
    channels = a.shape[2]
    if channels < 3:
        grey = a[:, :, 0] / float(full)
    else:
        grey = (299 * a[:, :, 0] + 587 * a[:, :, 1] + 114 * a[:, :, 2]) / float(1000 * full)
    alpha = a[:, :, channels - 1] / float(full) if channels % 2 == 0 else None
    if alpha is not None and not (alpha < 1.0).any():
        alpha = None
    return grey, alpha


# ---------------------------------------------------------------- preprocessing

def border(x):
    h, w = x.shape
    parts = [x[0, :]]
    if h > 1:
        parts.append(x[-1, :])
    parts.append(x[1:h - 1, 0])
    if w > 1:
        parts.append(x[1:h - 1, w - 1])
    return np.concatenate(parts)


def lower_median(values):
    values = np.sort(np.asarray(values, dtype=np.float64))
    return float(values[(len(values) - 1) // 2]) if len(values) else 0.0


def composite(grey, alpha):
    if alpha is None:
        return grey
    if lower_median(border(alpha)) < 0.5:
        ink = grey[alpha > 0.0]
        backdrop = 0.0 if ink.size and lower_median(ink) >= 0.5 else 1.0
    else:
        backdrop = lower_median(border(grey)[border(alpha) >= 0.5])
    return alpha * grey + (1.0 - alpha) * backdrop


def orient(grey):
    bg = lower_median(border(grey))
    if bg > LIGHT_BACKGROUND:
        return 1.0 - grey, 1.0 - bg
    return grey, bg


def fit_size(w, h, side):
    def scaled(short, long):
        return max(1, (2 * side * short + long) // (2 * long))
    return (side, scaled(h, w)) if w >= h else (scaled(w, h), side)


def overlap_weights(m, n):
    """[n, m]: output pixel i covers [i*m/n, (i+1)*m/n) of the m source pixels."""
    wt = np.zeros((n, m))
    for i in range(n):
        lo, hi = i * m, (i + 1) * m
        for k in range(lo // n, -(-hi // n)):
            overlap = min(hi, (k + 1) * n) - max(lo, k * n)
            if overlap > 0:
                wt[i, k] = overlap / m
    return wt


def resample(src, to):
    h, w = src.shape
    nw, nh = to
    rows = src @ overlap_weights(w, nw).T
    return overlap_weights(h, nh) @ rows


def place_by_mass(img):
    h, w = img.shape
    total = sx = sy = 0.0
    for y in range(h):
        for x in range(w):
            v = float(img[y, x])
            total += v
            sx += v * float(x)
            sy += v * float(y)

    def offset(s, length):
        mass = s / total if total > 0.0 else (length - 1) / 2.0
        shift = math.floor(float(SIDE // 2) - mass + 0.5 + TIE_EPSILON)
        return int(min(max(shift, 0), SIDE - length))

    ox, oy = offset(sx, w), offset(sy, h)
    out = np.zeros((SIDE, SIDE))
    out[oy:oy + h, ox:ox + w] = img
    return out


def background_map(light):
    """As src/predict/ink.rs::background_map: lower quartiles of cells, bilinear between centres."""
    h, w = light.shape
    cell = max(-(-max(w, h) // CELLS), MIN_CELL)
    nx, ny = -(-w // cell), -(-h // cell)
    grid = np.zeros((ny, nx))
    for cy in range(ny):
        for cx in range(nx):
            v = np.sort(light[cy * cell:(cy + 1) * cell, cx * cell:(cx + 1) * cell].ravel())
            grid[cy, cx] = v[(len(v) - 1) // 4]
    i0x, i1x, tx = interpolation_taps(w, cell)
    i0y, i1y, ty = interpolation_taps(h, cell)
    a, b = grid[:, i0x], grid[:, i1x]
    rows = a + (b - a) * tx[None, :]
    a, b = rows[i0y, :], rows[i1y, :]
    return a + (b - a) * ty[:, None]


def interpolation_taps(length, cell):
    n = -(-length // cell)

    def centre(i):
        return (i * cell + min((i + 1) * cell, length) - 1) / 2.0

    i0, i1, t = [], [], []
    for p in range(length):
        p = float(p)
        found = next((i for i in range(n - 1) if centre(i) <= p < centre(i + 1)), None)
        if found is not None:
            i0.append(found), i1.append(found + 1)
            t.append((p - centre(found)) / (centre(found + 1) - centre(found)))
        else:
            k = 0 if p < centre(0) else n - 1
            i0.append(k), i1.append(k), t.append(0.0)
    return np.array(i0), np.array(i1), np.array(t)


def levels(ink):
    return np.clip(np.floor(ink * 255.0 + 0.5), 0, 255).astype(np.int64)


def otsu(ink):
    hist = np.bincount(levels(ink).ravel(), minlength=256)
    n, total = int(hist.sum()), int((np.arange(256) * hist).sum())
    n0 = s0 = 0
    best, best_t = -1.0, 0
    for t in range(255):
        n0 += int(hist[t])
        s0 += t * int(hist[t])
        n1, s1 = n - n0, total - s0
        if n0 == 0 or n1 == 0:
            continue
        d = float(n1) * float(s0) - float(n0) * float(s1)
        score = d * d / (float(n0) * float(n1))
        if score > best:
            best, best_t = score, t
    return best_t


def components(ink, threshold):
    """8-connected components of ink > INK_THRESHOLD in raster order of their first pixel."""
    from collections import deque
    h, w = ink.shape
    mask = ink > INK_THRESHOLD
    strong = levels(ink) > threshold
    seen = np.zeros_like(mask)
    out = []
    for start in np.flatnonzero(mask):
        y, x = divmod(int(start), w)
        if seen[y, x]:
            continue
        seen[y, x] = True
        queue = deque([(y, x)])
        c = {"area": 0, "strong": 0, "edge": 0, "bbox": [x, y, x + 1, y + 1]}
        while queue:
            y, x = queue.popleft()
            c["area"] += 1
            c["strong"] += int(strong[y, x])
            c["edge"] += int(x == 0 or y == 0 or x + 1 == w or y + 1 == h)
            b = c["bbox"]
            c["bbox"] = [min(b[0], x), min(b[1], y), max(b[2], x + 1), max(b[3], y + 1)]
            for ny in range(max(y - 1, 0), min(y + 2, h)):
                for nx in range(max(x - 1, 0), min(x + 2, w)):
                    if mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        out.append(c)
    return out


def select(comps, w, h):
    """As src/predict/ink.rs::select: (box, warnings) or None."""
    strong = [c for c in comps if c["strong"] > 0]
    inner = [c for c in strong if not c["edge"] > EDGE_FRACTION * min(w, h)]
    if not inner:
        return None
    largest = inner[0]
    for c in inner[1:]:
        if c["area"] > largest["area"]:
            largest = c
    kept = [c for c in inner if c["area"] >= SPECK_FRACTION * largest["area"]]
    box = list(largest["bbox"])
    for c in kept:
        b = c["bbox"]
        box = [min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]), max(box[3], b[3])]
    large = sum(c["area"] >= LARGE_FRACTION * largest["area"] for c in kept) - 1
    warnings = []
    if large > 0:
        warnings.append(f"{large + 1} separate large ink marks were kept together")
    if any(c["edge"] > 0 for c in kept):
        warnings.append("the ink touches the image's edge")
    return box, warnings


def working_copy(grey):
    h, w = grey.shape
    if max(w, h) <= WORK_SIDE:
        return grey
    return resample(grey, fit_size(w, h, WORK_SIDE))


def digit(grey):
    """As preprocess.rs::digit: ([28, 28], box in the image's pixels, warnings)."""
    h, w = grey.shape
    work = working_copy(grey)
    wh, ww = work.shape
    light, bg = orient(work)
    ink = light - background_map(light)
    comps = components(ink, otsu(ink))
    if not comps:
        raise InputError(f"no ink found: no pixel differs from the background by more than {INK_THRESHOLD}")
    chosen = select(comps, ww, wh)
    if chosen is None:
        raise InputError("no digit found: the only ink runs along the image's edge")
    (x0, y0, x1, y1), warnings = chosen
    crop = np.maximum(ink[y0:y1, x0:x1], 0.0)
    crop = crop / crop.max()
    ch, cw = crop.shape
    box = [x0 * w // ww, y0 * h // wh, max(x1 * w // ww, x0 * w // ww + 1),
           max(y1 * h // wh, y0 * h // wh + 1)]
    return place_by_mass(resample(crop, fit_size(cw, ch, DIGIT_BOX))), box, warnings


def preprocess(grey, alpha, mode):
    """([28, 28] float32 in [0, 1], crop box or None, warnings), as preprocess.rs::preprocess_image."""
    g = composite(grey, alpha)
    h, w = g.shape
    box, warnings = None, []
    if mode == "digit":
        out, box, warnings = digit(g)
    elif mode == "resize":
        out = resample(orient(g)[0], (SIDE, SIDE))
    else:
        if (w, h) != (SIDE, SIDE):
            raise InputError(f"the image is {w}×{h} pixels but --preprocess none needs 28×28")
        out = g
    return out.astype(np.float32), box, warnings


# ---------------------------------------------------------------- files

def find_images(paths, class_names):
    """[(path, label or None, given directly)], as src/predict/files.rs."""
    out = []
    for root in paths:
        if os.path.isdir(root):
            found = []
            for d, dirs, files in os.walk(root):
                for f in files:
                    if f.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS | OTHER_IMAGE_EXTENSIONS and "." in f:
                        found.append(os.path.join(d, f))
            if not found:
                raise InputError(f"--predict {root}: the folder holds no image file")
            found.sort(key=lambda p: os.path.relpath(p, root).split(os.sep))
            for p in found:
                parts = os.path.relpath(p, root).split(os.sep)
                label = class_names.index(parts[0]) if len(parts) > 1 and parts[0] in class_names else None
                out.append((p, label, False))
        elif os.path.exists(root):
            out.append((root, None, True))
        else:
            raise InputError(f"--predict {root}: no such file or folder")
    return out


# ---------------------------------------------------------------- model

def load_model(path, args):
    # Imported here, not at the top: --help needs no torch.
    from common import load_state_dict, read_config
    from models import CNN

    cfg = read_config(path, missing_ok=True)
    model_cfg = cfg.get("model", {})
    normalize = cfg.get("normalize", False) if args.normalize is None else args.normalize
    num_classes = model_cfg.get("num_classes", 10)
    if is_torchscript(path):
        import torch

        return torch.jit.load(path, map_location="cpu").eval(), num_classes, normalize
    model = CNN(logit_relu=model_cfg.get("logit_relu", True), num_classes=num_classes)
    load_state_dict(model, path)
    model.eval()
    return model, model.fc.out_features, normalize


def is_torchscript(path):
    """A torch.jit.save archive (a zip with a `code/` folder or `constants.pkl`), as Rust's
    checkpoint::is_torchscript decides: run with torch.jit.load, as the Rust side runs
    it through libtorch's TorchScript interpreter."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n or n.endswith("constants.pkl") for n in z.namelist())


def classify(model, inputs, normalize):
    import torch

    x = torch.from_numpy(np.stack(inputs)).view(len(inputs), 1, SIDE, SIDE)
    if normalize:
        mean, std = MNIST_MEAN_STD
        x = (x - mean) / std
    with torch.no_grad():
        return torch.softmax(model(x), dim=-1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--load", required=True,
                   help="checkpoint (safetensors; config.json beside it is read) or a TorchScript file")
    p.add_argument("--preprocess", choices=["digit", "resize", "none"], default="digit")
    p.add_argument("--class-names", help="comma-separated, in class order (default 0..n-1)")
    p.add_argument("--normalize", action="store_true", default=None, help="override config.json's normalize")
    p.add_argument("--json", help="write per-file inputs, classes and probabilities here")
    args = p.parse_args()

    model, num_classes, normalize = load_model(args.load, args)
    names = args.class_names.split(",") if args.class_names else [str(c) for c in range(num_classes)]
    try:
        files = find_images(args.paths, names)
    except InputError as e:
        sys.exit(f"error: {e}")
    kept, inputs, skipped = [], [], []
    for path, label, direct in files:
        try:
            grey, alpha, notes = read_grey(path)
            x, box, warnings = preprocess(grey, alpha, args.preprocess)
            warnings = notes + warnings
            inputs.append(x)
            kept.append((path, label, box, warnings))
        except InputError as e:
            message = str(e) if str(e).startswith(path) else f"{path}: {e}"
            if direct:
                sys.exit(f"error: {message}")
            skipped.append({"path": path, "error": message})
    if not inputs:
        listed = [s["error"] for s in skipped[:LISTED_FAILURES]]
        if len(skipped) > LISTED_FAILURES:
            listed.append(f"and {len(skipped) - LISTED_FAILURES} more")
        sys.exit(f"error: none of the {len(skipped)} image file(s) could be read:\n  " + "\n  ".join(listed))
    probs = classify(model, inputs, normalize)
    out = []
    for (path, label, box, warnings), x, pr in zip(kept, inputs, probs):
        c = int(pr.argmax())
        print(f"{path}  -> {names[c]} ({100 * float(pr[c]):.1f}%)")
        for w in warnings:
            print(f"  warning: {path}: {w}")
        out.append({"path": path, "label": label, "class": c, "probability": float(pr[c]),
                    "probabilities": [float(v) for v in pr], "input": [float(v) for v in x.ravel()],
                    "crop": box, "warnings": warnings})
    for s in skipped:
        print(f"skipped: {s['error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"preprocess": args.preprocess, "class_names": names, "predictions": out,
                       "skipped": skipped}, f)


if __name__ == "__main__":
    main()
