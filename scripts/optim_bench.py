"""PyTorch side of bench/optim.ts: times torch.optim's step over ResNet18's parameter shapes.

Reads JSON on stdin: {"steps": N, "warmup": W, "threads": T, "shapes": [[...], ...],
"variants": [{"name": ..., "type": "sgd"|"adam"|"adamw", "options": {torch kwargs}}]}.
Prints JSON: {"<variant>/<impl>": {"wall": [s per step, ...], "cpu": [...]}} for impl in single (foreach=False)
and foreach (torch 1.13's multi-tensor path).

Run with Debian's torch: /usr/bin/python3 scripts/optim_bench.py < spec.json
"""
import json
import sys
import time

import torch


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(*s, generator=gen).requires_grad_(True) for s in spec["shapes"]]
    grads = [torch.randn(*s, generator=gen) * 1e-2 for s in spec["shapes"]]
    for p, g in zip(params, grads):
        p.grad = g
    ctor = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    out = {}
    for v in spec["variants"]:
        for impl, foreach in (("single", False), ("foreach", True)):
            opt = ctor[v["type"]](params, foreach=foreach, **v["options"])
            for _ in range(spec["warmup"]):
                opt.step()
            wall, cpu = [], []
            for _ in range(spec["steps"]):
                c0 = time.process_time()
                t0 = time.perf_counter()
                opt.step()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            out[v["name"] + "/" + impl] = {"wall": wall, "cpu": cpu}
            del opt
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
