"""PyTorch side of bench/models.ts, driven line by line so that the two engines' runs
interleave (a shared machine's load then weighs on both alike).

Builds torchvision's NAME with random weights whose BatchNorm running statistics are
calibrated on the benchmark batch (so activations have realistic magnitudes, as with
pretrained weights; torchvision's bare init shrinks MobileNetV2's features to ~1e-9), writes
that state_dict to STATE_OUT (safetensors, for the ONNX Runtime side to run the very same
weights), and runs it (eval, torch.no_grad) at batch B, 224x224, with T threads, in the
requested variants: 'eager' (the plain module), 'channels_last', and 'jit'
(torch.jit.trace + torch.jit.optimize_for_inference: BatchNorm folded into the convs,
oneDNN layouts). Prints one JSON line {"ready": ...} (or {"skip": reason}); then for each
line read from stdin naming a variant, runs one forward pass and prints
{"seconds": wall, "cpu": process CPU seconds}. Stops at end of input.
Run with Debian's /usr/bin/python3; bench/models.ts sets the tuned-malloc environment.

usage: models_bench.py NAME BATCH THREADS STATE_OUT VARIANT...
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models_reference import write_safetensors  # noqa: E402


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    name, batch, threads, state_out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    variants = sys.argv[5:] or ["eager"]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    builder = getattr(torchvision.models, name, None)
    if builder is None:
        say({"skip": f"torchvision {torchvision.__version__} has no model `{name}`"})
        return
    x = torch.randn(batch, 3, 224, 224)
    base = builder()
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative: the statistics of this one batch
        base.train()
        base(x)
    base.eval()
    write_safetensors(state_out, {k: v for k, v in base.state_dict().items() if not k.endswith("num_batches_tracked")})
    models = {}
    with torch.no_grad():
        for variant in variants:
            model = copy.deepcopy(base).eval()
            inp = x
            if variant == "channels_last":
                model = model.to(memory_format=torch.channels_last)
                inp = x.contiguous(memory_format=torch.channels_last)
            elif variant == "jit":
                model = torch.jit.optimize_for_inference(torch.jit.trace(model, x))
            elif variant != "eager":
                raise SystemExit(f"unknown variant {variant}")
            models[variant] = (model, inp)
        say({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
        for line in sys.stdin:
            model, inp = models[line.strip()]
            c0 = time.process_time()
            t0 = time.perf_counter()
            model(inp)
            say({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0})


if __name__ == "__main__":
    main()
