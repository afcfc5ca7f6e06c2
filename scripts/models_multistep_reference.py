"""Reference for test/models-multistep-parity.test.ts: many training steps with BatchNorm in
train mode, then the running statistics, the weights and the eval-mode logits. One step
cannot catch an error in the running statistics (they do not feed that step's outputs);
twenty steps, then eval-mode logits, do (DESIGN.md, issue 9).

For each NAME=MOMENTUM given: torchvision's model of that name, or for mobilenet_v2_offline
its PyTorch twin (scripts/mobilenet_v2_offline_twin.py); random weights and kink-safe
BatchNorm parameters as in scripts/models_reference.py; every BatchNorm's momentum set to
MOMENTUM (headstart's resolved policy value; the model's own momenta are reported so the test
can check the spec declares them); dropout off, stochastic depth off unless masks are given
(below). Then STEPS steps of
SGD(lr=LR, momentum=0.9), each on a fresh random batch, in float64 and in float32 torch.
Writes to OUT_DIR:
  <name>.multistep-state.safetensors  the starting state (headstart/torchvision names)
  <name>.multistep-ref.safetensors    `eval_input`, `inputs` [STEPS, B, 3, S, S], and from the
                                      float64 run: `logits64` (eval mode, after the steps),
                                      `final64:<name>` for every running statistic and a
                                      sample of weights
Prints one JSON object: per model its labels, sampled names, the native momenta, the float64
losses, and torch float32's own error against float64 for each compared tensor.

NAME=frozen runs the steps with every BatchNorm in eval mode (headstart's --freeze-bn) and
writes <name>.frozen-bn.multistep-*.safetensors.

NAME=MOMENTUM@SIDE gives that model its own input side instead of SIZE.

NAME=MOMENTUM+MASKS.json runs torchvision's stochastic depth in train mode with the row masks headstart
drew: {"<block>": [[mask of each sample] for each step]}, <block> the module holding the StochasticDepth
(torchvision's EfficientNet: features.<s>.<k>); each StochasticDepth multiplies its input by its block's
mask of the step instead of drawing one. The script first checks the masks against torchvision's own
schedule: exactly the blocks whose StochasticDepth is applied (a residual block, p > 0), every value 0
or 1/(1-p) with that block's p; anything else exits 1 naming the block.

usage: models_multistep_reference.py OUT_DIR SIZE BATCH CLASSES SEED STEPS LR NAME=MOMENTUM|frozen[@SIDE][+MASKS]...
Run with Debian's /usr/bin/python3 (python3-torch, torchvision).
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models_reference import applied_stochastic_depth, check_masks, feed_masks, no_randomness, randomise, rel_error, sample, write_safetensors  # noqa: E402
from mobilenet_v2_offline_twin import twin  # noqa: E402

torch.set_num_threads(2)


def build(name, classes):
    if name == "mobilenet_v2_offline":
        return twin(classes)
    builder = getattr(torchvision.models, name, None)
    if builder is None or not callable(builder):
        return None
    return builder(num_classes=classes)


def run(model, dtype, inputs, labels, eval_input, steps, lr, param_names, running_names, frozen_bn=False, masks=None):
    net = copy.deepcopy(model).to(dtype)
    no_randomness(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    losses = []
    for s in range(steps):
        if masks:
            feed_masks(net, masks, s, dtype)
        net.train()
        if frozen_bn:  # headstart's --freeze-bn: BatchNorm in inference mode, its affine parameters train
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        opt.zero_grad()
        loss = F.cross_entropy(net(inputs[s].to(dtype)), labels[s])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        logits = net(eval_input.to(dtype)).double()
    params = dict(net.named_parameters())
    buffers = dict(net.named_buffers())
    final = {n: params[n].detach().double() for n in param_names}
    final.update({n: buffers[n].detach().double() for n in running_names})
    return losses, logits, final


def reference(name, momentum, out_dir, size, batch, classes, seed, steps, lr, frozen_bn=False, masks=None):
    torch.manual_seed(seed)
    model = build(name, classes)
    if model is None:
        return {"name": name, "skip": f"torchvision {torchvision.__version__} has no model `{name}`"}
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stochastic_depth = applied_stochastic_depth(model)  # before randomise() turns it off
    if masks is not None:
        check_masks(stochastic_depth, masks, steps, batch)
    native = sorted({m.momentum for m in bns})
    g = torch.Generator().manual_seed(seed + 3)
    eval_input = torch.randn(batch, 3, size, size, generator=g)
    inputs = torch.randn(steps, batch, 3, size, size, generator=g)
    labels = torch.randint(0, classes, (steps, batch), generator=g)
    randomise(model, seed + 1, eval_input, kink_safe=True)
    for m in bns:
        m.momentum = momentum
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    tag = f"{name}{'.frozen-bn' if frozen_bn else ''}"
    write_safetensors(f"{out_dir}/{tag}.multistep-state.safetensors", state)

    param_names = [n for n, _ in model.named_parameters()]
    names = sample(param_names, [0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0])
    running_names = [n for n, _ in model.named_buffers() if n.endswith("running_mean") or n.endswith("running_var")]
    t0 = time.time()
    losses64, logits64, final64 = run(model, torch.float64, inputs, labels, eval_input, steps, lr, names, running_names, frozen_bn, masks)
    t1 = time.time()
    _, logits32, final32 = run(model, torch.float32, inputs, labels, eval_input, steps, lr, names, running_names, frozen_bn, masks)
    print(f"{tag}: {steps} float64 steps {t1 - t0:.1f} s, float32 {time.time() - t1:.1f} s", file=sys.stderr)

    ref = {"eval_input": eval_input, "inputs": inputs, "logits64": logits64}
    for n, v in final64.items():
        ref[f"final64:{n}"] = v
    write_safetensors(f"{out_dir}/{tag}.multistep-ref.safetensors", ref)
    return {
        "name": tag,
        "momentum": momentum,
        "native_momenta": native,
        "labels": labels.tolist(),
        "losses64": losses64,
        "stochastic_depth": stochastic_depth if masks else None,
        "params": names,
        "running": running_names,
        "torch32": {
            "logits": rel_error(logits32, logits64),
            "final": {n: rel_error(final32[n], final64[n]) for n in final64},
        },
    }


def main():
    out_dir, size, batch, classes, seed, steps = sys.argv[1], *(int(v) for v in sys.argv[2:7])
    lr = float(sys.argv[7])
    results = []
    for arg in sys.argv[8:]:
        arg, *masks_file = arg.split("+", 1)
        name, momentum, *own_size = arg.replace("@", "=").split("=")
        frozen = momentum == "frozen"
        side = int(own_size[0]) if own_size else size
        masks = None
        if masks_file:
            with open(masks_file[0]) as f:
                masks = json.load(f)
        results.append(reference(name, 0.1 if frozen else float(momentum), out_dir, side, batch, classes, seed, steps, lr, frozen, masks))
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "models": results}, sys.stdout)


if __name__ == "__main__":
    main()
