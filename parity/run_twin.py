"""Runs a PyTorch twin and saves the final weights of the model it trained, for twins
that have no --save flag of their own.

    .venv/bin/python parity/run_twin.py --save PATH parity/rnn_series.py --epochs 2 ...

Every nn.Module class of parity/models.py is wrapped before the twin is imported, so that
the last model the twin builds at the top level (not one nested in another models.py
class) is remembered; after the twin's script has run (as __main__, with the remaining
arguments), that model's state_dict is written as safetensors, as the twins' --save does.
The twin itself is not changed and runs exactly as from the command line.
"""
import os
import runpy
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from common import save_state_dict  # noqa: E402

_built, _depth = [], [0]


def _record(cls):
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        _depth[0] += 1
        try:
            init(self, *args, **kwargs)
        finally:
            _depth[0] -= 1
        if _depth[0] == 0:
            _built.append(self)

    cls.__init__ = __init__


for _obj in list(vars(models).values()):
    if isinstance(_obj, type) and issubclass(_obj, torch.nn.Module) and _obj.__module__ == models.__name__:
        _record(_obj)


def main():
    if len(sys.argv) < 4 or sys.argv[1] != "--save":
        raise SystemExit(__doc__)
    path, script, rest = sys.argv[2], sys.argv[3], sys.argv[4:]
    sys.argv = [script] + rest
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    if not _built:
        raise SystemExit(f"{script} built no model of parity/models.py; nothing to save")
    save_state_dict(_built[-1], path)


if __name__ == "__main__":
    main()
