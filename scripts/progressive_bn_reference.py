"""Reference for test/train-progressive-bn.test.ts: the BatchNorm statistics progressive
resizing recomputes at the final size, computed independently by PyTorch.

Loads a torchvision model's state (headstart's parameters, torchvision names) and the batches
of the BatchNorm pass (the images headstart's pass ran, at the final size, in its order),
resets every BatchNorm's running statistics and sets momentum=None (torch's cumulative
average: each batch's mean and unbiased variance weigh equally), and runs the batches through
the network in train mode (no gradient, no weight update) in float64 and in float32.
Writes OUT (safetensors): `stats64:<name>` for every running_mean/running_var (float64 torch,
stored as float32). Prints one JSON object: the compared names and torch float32's own
relative error against float64 per name (the tolerance's noise floor).

usage: progressive_bn_reference.py MODEL CLASSES STATE.safetensors BATCHES.safetensors OUT.safetensors
BATCHES holds `batch:0`, `batch:1`, ... [n, 3, S, S]. Run with Debian's /usr/bin/python3.
"""
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models_reference import rel_error, write_safetensors  # noqa: E402
from mobilenet_v2_offline_twin import load_safetensors  # noqa: E402

torch.set_num_threads(2)


def stats_after_pass(model, dtype, batches):
    net = copy.deepcopy(model).to(dtype)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
            m.reset_running_stats()
    net.train()
    with torch.no_grad():
        for b in batches:
            net(b.to(dtype))
    return {k: v.detach().clone() for k, v in net.state_dict().items() if k.endswith("running_mean") or k.endswith("running_var")}


def main():
    name, classes, state_path, batches_path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    model = getattr(torchvision.models, name)(num_classes=classes)
    state = load_safetensors(state_path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The running statistics are reset before the pass: the state need not hold them.
    missing = [k for k in missing if not k.endswith(("num_batches_tracked", "running_mean", "running_var"))]
    if missing or unexpected:
        raise SystemExit(f"state does not match torchvision's {name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    raw = load_safetensors(batches_path)
    batches = [raw[f"batch:{i}"] for i in range(len(raw))]
    s64 = stats_after_pass(model, torch.float64, batches)
    s32 = stats_after_pass(model, torch.float32, batches)
    write_safetensors(out, {f"stats64:{k}": v for k, v in s64.items()})
    print(json.dumps({"names": list(s64), "torch32": {k: rel_error(s32[k], s64[k]) for k in s64}, "batches": [list(b.shape) for b in batches]}))


main()
