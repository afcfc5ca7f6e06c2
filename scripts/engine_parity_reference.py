"""Reference for test/engine-parity.test.ts: a small CNN (conv, batch norm in train mode,
relu, maxpool, a residual add, global average pooling, linear) trained for 3 SGD-momentum
steps with torch, in float64 (the reference) and float32 (to show torch's own fp32 error).
Prints one JSON object on stdout. Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 3, 2, 1)
        y = self.bn2(self.conv2(x))
        x = F.relu(x + y)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def flat(t):
    return t.detach().double().reshape(-1).tolist()


def run(dtype, init, inputs, labels, lr, momentum, weight_decay):
    net = SmallCNN().to(dtype)
    net.load_state_dict({k: v.to(dtype) for k, v in init.items()}, strict=False)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = []
    for x, y in zip(inputs, labels):
        opt.zero_grad()
        loss = F.cross_entropy(net(x.to(dtype)), y)
        loss.backward()
        grads = {n: flat(p.grad) for n, p in net.named_parameters()}
        running = {n: flat(b) for n, b in net.named_buffers() if "running" in n}
        opt.step()
        params = {n: flat(p) for n, p in net.named_parameters()}
        steps.append({"loss": loss.item(), "grads": grads, "running": running, "params": params})
    return steps


def main():
    torch.manual_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    net = SmallCNN().double()
    with torch.no_grad():
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
        for name, p in net.named_parameters():
            if ".bias" in name or name.startswith("bn"):
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.3, 0.3)
    init = {k: v.clone() for k, v in net.state_dict().items() if "num_batches" not in k}
    inputs = [torch.randn(4, 3, 8, 8, dtype=torch.float64) for _ in range(3)]
    labels = [torch.randint(0, 4, (4,)) for _ in range(3)]
    cfg = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)
    out = {
        "config": cfg,
        "init": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in init.items()},
        "inputs": [flat(x.float()) for x in inputs],
        "labels": [y.tolist() for y in labels],
        "float64": run(torch.float64, init, [x.float().double() for x in inputs], labels, **cfg),
        "float32": run(torch.float32, init, inputs, labels, **cfg),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
