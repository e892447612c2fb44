"""What a DataLoader adds to a cnn_mnist epoch on its own: one epoch of batches (batch 64,
the Rust run's order) drawn by tensor slicing and by DataLoader(TensorDataset), with no
model. cnn_mnist's twin does exactly this around its training step.

    .venv/bin/python parity/loader_cost.py [--repeats 3] [--train-limit 60000]
"""
import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from common import epoch_order, load_mnist

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--train-limit", type=int, default=60000)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
x, y, _, _ = load_mnist(train_limit=a.train_limit, test_limit=1)
order = epoch_order(len(y), 0, 0)
batches = (len(y) + a.batch_size - 1) // a.batch_size
for rep in range(a.repeats):
    t = time.perf_counter()
    for idx in order.split(a.batch_size):
        xs, ys = x[idx], y[idx]
    sliced = time.perf_counter() - t
    t = time.perf_counter()
    for xs, ys in DataLoader(TensorDataset(x, y), batch_size=a.batch_size, sampler=order.tolist()):
        pass
    loader = time.perf_counter() - t
    print(f"{len(y)} images, {batches} batches: tensor slicing {sliced:.2f} s, DataLoader {loader:.2f} s "
          f"(+{1e3 * (loader - sliced) / batches:.2f} ms per batch)", flush=True)
