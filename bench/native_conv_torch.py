"""PyTorch side of bench/native-conv.ts, driven over stdin so its rounds alternate with headstart's.
argv: batch threads size layers-json. Each stdin line is a command, each answer one JSON line:
  "layers" -> {"<name>": [forward_ms, forward_plus_backward_ms, its_process_cpu_ms], ...}: each layer's
              conv2d forward, then forward + autograd backward (input gradient except for the stem,
              weight gradient);
  "step"   -> {"step": ms, "cpu": process CPU ms}: one torchvision ResNet18 fine-tune step (forward, cross-entropy,
              backward, SGD with momentum), as bench/engine_torch.py times it;
  "quit".
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

batch, threads, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
layers = json.loads(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)

state = []
for layer in layers:
    n, c, h, w = layer["x"]
    x = torch.randn(n, c, h, w, requires_grad=layer["inputGrad"])
    weight = torch.randn(*layer["w"], requires_grad=True)
    stride, pad = layer["strides"][0], layer["pads"][0]
    with torch.no_grad():
        out = F.conv2d(x, weight, stride=stride, padding=pad)
    state.append((layer["name"], x, weight, stride, pad, torch.randn_like(out)))

net = None


def run_layers():
    result = {}
    for name, x, weight, stride, pad, dy in state:
        t = time.perf_counter()
        with torch.no_grad():
            F.conv2d(x, weight, stride=stride, padding=pad)
        fwd = time.perf_counter() - t
        x.grad = None
        weight.grad = None
        t, cpu_both = time.perf_counter(), time.process_time()
        F.conv2d(x, weight, stride=stride, padding=pad).backward(dy)
        total = time.perf_counter() - t
        result[name] = [fwd * 1000, total * 1000, (time.process_time() - cpu_both) * 1000]
    return result


def run_step():
    global net, opt, images, labels
    if net is None:
        net = torchvision.models.resnet18().train()
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        images = torch.randn(batch, 3, size, size)
        labels = torch.randint(0, 1000, (batch,))
    t, cpu = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(net(images), labels).backward()
    opt.step()
    return {"step": (time.perf_counter() - t) * 1000, "cpu": (time.process_time() - cpu) * 1000}


for line in sys.stdin:
    command = line.strip()
    if command == "quit":
        break
    answer = run_layers() if command == "layers" else run_step() if command == "step" else {"error": command}
    print(json.dumps(answer), flush=True)
