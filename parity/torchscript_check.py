"""Runs a TorchScript file, as PyTorch users would (`torch.jit.load`), on the inputs
a Rust test wrote, and writes the outputs for the test to compare with the Rust
model's (`--export-torchscript`, issue 22).

    .venv/bin/python parity/torchscript_check.py --module m.pt \
        --inputs inputs.safetensors --out outputs.safetensors

Every tensor `NAME` of --inputs becomes `NAME` of --out: the module's output on it
(eval mode, no_grad, CPU). With --script-cnn CKPT the script instead writes
--module: parity/models.py's CNN with CKPT's weights, through torch.jit.script
(a PyTorch user's scripted model, for `--load model.pt` in Rust).
"""
import argparse
import sys

import torch
from safetensors.torch import load_file, save_file


def script_cnn(ckpt, out):
    from common import load_state_dict, read_config
    from models import CNN

    model_cfg = read_config(ckpt, missing_ok=True).get("model", {})
    model = CNN(logit_relu=model_cfg.get("logit_relu", True), num_classes=model_cfg.get("num_classes", 10))
    load_state_dict(model, ckpt)
    torch.jit.script(model.eval()).save(out)
    print(f"wrote {out} (torch.jit.script of parity/models.py CNN, torch {torch.__version__})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", required=True, help="TorchScript file")
    p.add_argument("--inputs", help="safetensors of inputs")
    p.add_argument("--out", help="safetensors of outputs")
    p.add_argument("--script-cnn", metavar="CKPT", help="write --module from this CNN checkpoint")
    args = p.parse_args()
    if args.script_cnn:
        script_cnn(args.script_cnn, args.module)
        return
    if not (args.inputs and args.out):
        sys.exit("error: --inputs and --out are needed")
    module = torch.jit.load(args.module, map_location="cpu").eval()
    outputs = {}
    with torch.no_grad():
        for name, x in load_file(args.inputs).items():
            outputs[name] = module(x).contiguous()
    save_file(outputs, args.out)
    print(f"ran {args.module} on {len(outputs)} input(s) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
