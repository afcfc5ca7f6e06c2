"""Reference for test/models-parity.test.ts: for each model name given, builds torchvision's
model with random weights, gives every BatchNorm non-trivial running statistics and affine
parameters, and writes to OUT_DIR:
  <name>.state.safetensors        the state_dict for the eval check (float32, without
                                  num_batches_tracked)
  <name>.train-state.safetensors  the same network with kink-safe BatchNorm affine
                                  parameters, for the train step (see randomise)
  <name>.ref.safetensors          the input batch, eval-mode logits (float32 and float64
                                  torch), and after one train-mode step (float64 torch) the
                                  gradients of a sample of parameters and of running stats
Prints one JSON object on stdout: per model its loss values, labels, sampled names, and
torch float32's own error against float64 (or a skip reason when torchvision has no model
of that name). Dropout and stochastic depth are set to 0 for the train step (random masks
cannot be matched), except that NAME+MASKS.json runs stochastic depth with the row masks
headstart drew for the step ({"<block>": [[mask of each sample]]}; checked against torchvision's
own blocks and p first, as scripts/models_multistep_reference.py does). Run with Debian's
/usr/bin/python3 (python3-torch, torchvision).

usage: models_reference.py OUT_DIR SIZE BATCH CLASSES SEED NAME[+MASKS]...
"""
import copy
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.set_num_threads(2)


def write_safetensors(path, tensors):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def randomise(model, gen_seed, x, kink_safe=False):
    """Non-trivial affine parameters, biases and running statistics, with activations kept
    O(1): running statistics are first calibrated on a batch holding the test input (so no
    channel with a tiny calibrated variance amplifies the gap between two random batches),
    then perturbed a little (variance x U(0.85, 1.15), mean + 0.05 sd: larger perturbations
    compound over 50 layers, e.g. 0.7-1.3 grows efficientnet_b0's eval activations ~100x
    and torch fp32's own logit error past 1e-4); the head is scaled so that the largest
    eval logit is 1, so the 1e-4 absolute check is 1e-4 relative (torch fp32 itself is
    0.5-8e-5 from float64 on these draws).

    kink_safe (for the train step): BatchNorm outputs are 1.5 +- 0.35 standard deviations,
    so their values lie ~4 deviations from the kinks of ReLU/ReLU6 (0, 6) and Hardswish
    (+-3). (A narrower spread keeps them further away but adds a common mode that costs
    precision in the next BatchNorm for every engine.) With the ordinary draw, some of the
    ~2M activation inputs of mobilenet_v2 at 64x64 lie within 1e-6 of 0; float32 rounding
    (any engine's, torch's included) then flips which side they fall on, and one flip in
    the last layers (8 values per channel at batch 2) moves gradients by ~10%: torch float32
    itself fails against float64 that way on some draws. The forward pass is continuous
    at kinks, so the eval check keeps the ordinary draw, where the activations do clip."""
    torch.manual_seed(gen_seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                if kink_safe:
                    m.weight.uniform_(0.3, 0.4)
                    m.bias.uniform_(1.4, 1.6)
                else:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
            elif isinstance(m, nn.Linear):
                bound = 1 / math.sqrt(m.in_features)
                m.weight.uniform_(-bound, bound)
                m.bias.uniform_(-bound, bound)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.2, 0.2)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batch
        model.train()
        no_randomness(model)  # stochastic depth would skew the statistics (it is identity in eval)
        model(torch.cat([x, torch.randn(4, *x.shape[1:])]))
        for m, mom in zip(bns, momenta):
            m.momentum = mom
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.85, 1.15))
            m.running_mean.add_(0.05 * torch.randn_like(m.running_mean) * m.running_var.sqrt())
            m.num_batches_tracked.zero_()
        model.eval()
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        scale = 1 / model(x).abs().max().item()
        head.weight.mul_(scale)
        head.bias.mul_(scale)


def no_randomness(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, torchvision.ops.StochasticDepth):
            m.p = 0.0


def rel_error(ours, ref):
    scale = max(ref.abs().max().item(), 1e-3)
    return (ours.double() - ref).abs().max().item() / scale


def applied_stochastic_depth(model):
    """Block name -> p of every StochasticDepth torchvision applies in train mode (residual blocks, p > 0)."""
    blocks = {}
    for name, m in model.named_modules():
        if isinstance(m, torchvision.ops.StochasticDepth) and m.p > 0:
            block = name.rsplit(".", 1)[0]
            if getattr(model.get_submodule(block), "use_res_connect", True):
                blocks[block] = m.p
    return blocks


def check_masks(expected, masks, steps, batch):
    if set(expected) != set(masks):
        sys.exit(f"stochastic depth masks for blocks {sorted(masks)}, torchvision applies it in {sorted(expected)}")
    for block, p in expected.items():
        keep = 1.0 / (1.0 - p)
        rows = masks[block]
        if len(rows) != steps or any(len(r) != batch for r in rows):
            sys.exit(f"{block}: expected {steps} masks of {batch} values")
        bad = [v for r in rows for v in r if not (v == 0 or abs(v - keep) <= 1e-6 * keep)]
        if bad:
            sys.exit(f"{block}: mask value {bad[0]} is neither 0 nor 1/(1-p) = {keep} (torchvision's p = {p})")


def feed_masks(net, masks, step, dtype):
    """Each StochasticDepth multiplies by its block's given mask of this step (row mode)."""
    for name, m in net.named_modules():
        block = name.rsplit(".", 1)[0]
        if isinstance(m, torchvision.ops.StochasticDepth) and block in masks:
            rows = torch.tensor(masks[block][step], dtype=dtype).view(-1, 1, 1, 1)
            m.forward = lambda x, rows=rows: x * rows


def train_step(model, dtype, x, y, names, bn_names, masks=None):
    net = copy.deepcopy(model).to(dtype)
    no_randomness(net)
    if masks:
        feed_masks(net, masks, 0, dtype)
    net.train()
    loss = F.cross_entropy(net(x.to(dtype)), y)
    loss.backward()
    params = dict(net.named_parameters())
    buffers = dict(net.named_buffers())
    grads = {n: params[n].grad.detach().double() for n in names}
    running = {n: buffers[n].detach().double() for n in bn_names}
    return loss.item(), grads, running


def sample(names, fractions):
    n = len(names)
    return sorted({names[min(n - 1, int(f * (n - 1)))] for f in fractions}, key=names.index)


def reference(name, out_dir, size, batch, classes, seed, masks=None):
    builder = getattr(torchvision.models, name, None)
    if builder is None or not callable(builder):
        return {"name": name, "skip": f"torchvision {torchvision.__version__} has no model `{name}`"}
    torch.manual_seed(seed)
    model = builder(num_classes=classes)
    if masks is not None:
        check_masks(applied_stochastic_depth(model), masks, 1, batch)
    trained = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(batch, 3, size, size, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    randomise(model, seed + 1, x)
    randomise(trained, seed + 1, x, kink_safe=True)
    for m, file in ((model, "state"), (trained, "train-state")):
        state = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
        write_safetensors(f"{out_dir}/{name}.{file}.safetensors", state)
    model.eval()
    with torch.no_grad():
        logits32 = model(x)
        logits64 = copy.deepcopy(model).double()(x.double())

    param_names = [n for n, _ in model.named_parameters()]
    # First layers, the middle, the last layers and the head (where fp32 noise differs most).
    names = sample(param_names, [0, 0.002, 0.01, 0.25, 0.5, 0.75, 0.97, 0.99, 1.0])
    names += [n for n in param_names[-2:] if n not in names]
    bn_names = sample([n for n, _ in model.named_buffers() if n.endswith("running_mean") or n.endswith("running_var")], [0, 0.5, 1.0])
    t0 = time.time()
    loss64, grads64, running64 = train_step(trained, torch.float64, x, y, names, bn_names, masks)
    t1 = time.time()
    loss32, grads32, running32 = train_step(trained, torch.float32, x, y, names, bn_names, masks)
    print(f"{name}: float64 step {t1 - t0:.1f} s, float32 step {time.time() - t1:.1f} s", file=sys.stderr)

    ref = {"input": x, "logits_eval32": logits32, "logits_eval64": logits64}
    for n in names:
        ref[f"grad64:{n}"] = grads64[n]
    for n in bn_names:
        ref[f"running64:{n}"] = running64[n]
    write_safetensors(f"{out_dir}/{name}.ref.safetensors", ref)
    return {
        "name": name,
        "labels": y.tolist(),
        "loss32": loss32,
        "loss64": loss64,
        "grads": names,
        "running": bn_names,
        "torch32": {
            "logits_eval": (logits32.double() - logits64).abs().max().item(),
            "loss": abs(loss32 - loss64) / abs(loss64),
            "grads": {n: rel_error(grads32[n], grads64[n]) for n in names},
            "running": {n: rel_error(running32[n], running64[n]) for n in bn_names},
        },
        "num_params": sum(p.numel() for p in model.parameters()),
    }


def main():
    out_dir, size, batch, classes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    results = []
    for arg in sys.argv[6:]:
        name, *masks_file = arg.split("+", 1)
        masks = None
        if masks_file:
            with open(masks_file[0]) as f:
                masks = json.load(f)
        results.append(reference(name, out_dir, size, batch, classes, seed, masks))
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "models": results}, sys.stdout)


if __name__ == "__main__":
    main()
