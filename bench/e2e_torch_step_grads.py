"""PyTorch side of bench/e2e-real-step-grads.ts: one training step of the twin of
mobilenet_v2_offline (BatchNorm in train mode, momentum 0.1) on headstart's batch, in float32
and float64; per parameter gradient (and running statistic) the relative max error of
headstart's and of torch fp32's from float64, worst first.

  /usr/bin/python3 bench/e2e_torch_step_grads.py WEIGHTS.safetensors OURS.safetensors THREADS
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from mobilenet_v2_offline_twin import load_into, load_safetensors, twin  # noqa: E402


def rel(a, ref):
    return ((a.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-3)).item()


def step(state, x, y, dtype):
    model = twin(state["fc.weight"].shape[0])
    load_into(model, state)
    model = model.to(dtype)
    model.train()
    loss = nn.CrossEntropyLoss()(model(x.to(dtype)), y)
    loss.backward()
    grads = {n: p.grad.detach() for n, p in model.named_parameters()}
    running = {n: b.detach() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")}
    return loss.item(), grads, running


def main(weights, ours_path, threads):
    torch.set_num_threads(int(threads))
    state = load_safetensors(weights)
    ours = load_safetensors(ours_path)
    x = ours["inputs"]
    y = ours["labels"].long()
    l32, g32, r32 = step(state, x, y, torch.float32)
    l64, g64, r64 = step(state, x, y, torch.float64)
    rows = []
    for n, ref in g64.items():
        rows.append((n, "grad", rel(ours[f"grad.{n}"], ref), rel(g32[n], ref)))
    for n, ref in r64.items():
        rows.append((n, "running", rel(ours[f"running.{n}"], ref), rel(r32[n], ref)))
    rows.sort(key=lambda r: -r[2] / max(r[3], 1e-7))
    print(f"loss: headstart {ours['loss'].item():.6f}, torch fp32 {l32:.6f}, fp64 {l64:.6f}")
    print("tensor | kind | headstart rel. err from fp64 | torch fp32 rel. err | ratio")
    for n, kind, a, b in rows[: int(os.environ.get("E2E_GRAD_ROWS", "25"))]:
        print(f"{n} | {kind} | {a:.2e} | {b:.2e} | {a / max(b, 1e-7):.1f}")
    worst = max(r[2] for r in rows if r[1] == "grad")
    worst32 = max(r[3] for r in rows if r[1] == "grad")
    print(json.dumps({"worst_grad_rel_err": worst, "worst_grad_rel_err_torch32": worst32, "worst_ratio": rows[0][2] / max(rows[0][3], 1e-7), "worst_tensor": rows[0][0]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
