"""Reference trajectories from torch.optim for test/optim-torch-parity.test.ts.

Reads a JSON spec on stdin, runs torch's optimiser (+ scheduler) over a fixed sequence of
gradients, and prints JSON: the parameters, learning rates and momenta after every step.

Spec (names as in src/optim; scheduler sizes are in scheduler steps, stepped once per
optimiser step):
  {
    "params":    [{"name": "w", "data": [...]}, ...],             # flat float32 values
    "groups":    [{"params": ["w", ...], "lr": 0.1, ...}, ...],    # per-group overrides
    "optimizer": {"type": "sgd"|"adam"|"adamw", "lr": ..., "momentum": ..., "dampening": ...,
                  "nesterov": ..., "weightDecay": ..., "betas": [b1, b2], "eps": ..., "amsgrad": ...},
    "scheduler": null | {"type": "fixed"|"step"|"cosine"|"onecycle", ...options,
                         "warmup": {"steps": W, "startFactor": s}},
    "grads":     [{"w": [...], ...}, ...]                          # one map per step; absent = no grad
  }
A JSON list of specs gives a list of outputs.
Output: {"initial": {"lr": [...], "momentum": [...]},
         "steps": [{"params": {"w": [...]}, "lr": [...], "momentum": [...]}, ...]}

Run with Debian's torch: /usr/bin/python3 scripts/optim_reference.py < spec.json
"""
import json
import sys
import warnings

import torch

torch.set_num_threads(1)
# SequentialLR's step(0) at the milestone warns about the deprecated epoch argument.
warnings.filterwarnings("ignore")

OPT_KEYS = {
    "lr": "lr",
    "momentum": "momentum",
    "dampening": "dampening",
    "nesterov": "nesterov",
    "weightDecay": "weight_decay",
    "betas": "betas",
    "eps": "eps",
    "amsgrad": "amsgrad",
}


def torch_options(o):
    out = {}
    for k, v in o.items():
        if k in ("type", "params"):
            continue
        out[OPT_KEYS[k]] = tuple(v) if k == "betas" else v
    return out


def make_optimizer(spec, tensors):
    o = spec["optimizer"]
    groups = []
    for g in spec["groups"]:
        group = torch_options(g)
        group["params"] = [tensors[n] for n in g["params"]]
        groups.append(group)
    defaults = torch_options(o)
    if o["type"] == "sgd":
        if "lr" not in defaults:
            defaults["lr"] = groups[0].get("lr", 0.0)
        return torch.optim.SGD(groups, foreach=False, **defaults)
    if o["type"] == "adam":
        return torch.optim.Adam(groups, foreach=False, **defaults)
    if o["type"] == "adamw":
        return torch.optim.AdamW(groups, foreach=False, **defaults)
    raise ValueError("unknown optimizer " + o["type"])


def make_inner(s, opt, lrs):
    sched = torch.optim.lr_scheduler
    t = s["type"]
    if t == "fixed":
        return sched.LambdaLR(opt, lambda _: 1.0)
    if t == "step":
        return sched.StepLR(opt, step_size=s["stepSize"], gamma=s.get("gamma", 0.1))
    if t == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=s["tMax"], eta_min=s.get("etaMin", 0.0))
    if t == "onecycle":
        # Default peak: each group's configured lr (read before a warm-up scaled it).
        max_lr = s.get("maxLr", lrs)
        return sched.OneCycleLR(
            opt,
            max_lr=max_lr,
            total_steps=s["totalSteps"],
            pct_start=float(s.get("pctStart", 0.3)),
            anneal_strategy=s.get("anneal", "cos"),
            cycle_momentum=s.get("cycleMomentum", True),
            base_momentum=s.get("baseMomentum", 0.85),
            max_momentum=s.get("maxMomentum", 0.95),
            div_factor=float(s.get("divFactor", 25.0)),
            final_div_factor=float(s.get("finalDivFactor", 1e4)),
            three_phase=s.get("threePhase", False),
        )
    raise ValueError("unknown scheduler " + t)


def make_scheduler(spec, opt):
    s = spec.get("scheduler")
    if s is None:
        return None
    lrs = [g["lr"] for g in opt.param_groups]
    w = s.get("warmup")
    if w is None:
        if s["type"] == "fixed":
            return None
        return make_inner(s, opt, lrs)
    sched = torch.optim.lr_scheduler
    warm = sched.LinearLR(opt, start_factor=w.get("startFactor", 1.0 / 3), end_factor=1.0, total_iters=w["steps"])
    inner = make_inner(s, opt, lrs)
    return sched.SequentialLR(opt, [warm, inner], milestones=[w["steps"]])


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def run(spec):
    tensors = {p["name"]: torch.tensor(p["data"], dtype=torch.float32).requires_grad_(True) for p in spec["params"]}
    opt = make_optimizer(spec, tensors)
    scheduler = make_scheduler(spec, opt)
    out = {"initial": {"lr": [g["lr"] for g in opt.param_groups], "momentum": momenta(opt)}, "steps": []}
    for grads in spec["grads"]:
        for name, t in tensors.items():
            t.grad = torch.tensor(grads[name], dtype=torch.float32) if name in grads else None
        opt.step()
        if scheduler is not None:
            scheduler.step()
        out["steps"].append(
            {
                "params": {n: t.tolist() for n, t in tensors.items()},
                "lr": [g["lr"] for g in opt.param_groups],
                "momentum": momenta(opt),
            }
        )
    return out


def main():
    spec = json.load(sys.stdin)
    # A list of specs runs them all in one process (torch's import dominates a small case).
    json.dump([run(s) for s in spec] if isinstance(spec, list) else run(spec), sys.stdout)


if __name__ == "__main__":
    main()
