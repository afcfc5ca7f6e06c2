"""PyTorch side of bench/engine.ts: ResNet18 at 224x224, images/s for inference, a full
fine-tune step and a frozen-backbone step (only fc trainable, backbone in eval mode: the
same computation headstart's frozen step does), and a full fine-tune step of each model named in
argv[4] (comma-separated torchvision names, e.g. mobilenet_v2,efficientnet_b0). Prints one JSON
object of medians. With argv[4] == "rss": only argv[3] ResNet18 fine-tune steps, then the peak RSS."""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

batch, threads, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
extra = sys.argv[4] if len(sys.argv) > 4 else ""
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(batch, 3, 224, 224)
y = torch.randint(0, 1000, (batch,))


def timed(fn, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def finetune_step(net, inputs, optimizer):
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(net(inputs), y).backward()
    optimizer.step()


if extra == "rss":
    net = torchvision.models.resnet18().train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(reps):
        finetune_step(net, x, optimizer)
    print(json.dumps({"maxRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    sys.exit(0)

model = torchvision.models.resnet18()
model.eval()


def infer():
    with torch.no_grad():
        model(x)


result = {"inference": timed(infer)}

model.train()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)


def finetune():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


result["finetune"] = timed(finetune)

model.eval()
for name, p in model.named_parameters():
    p.requires_grad = name.startswith("fc.")
opt_fc = torch.optim.SGD(model.fc.parameters(), lr=1e-3, momentum=0.9)


def frozen():
    opt_fc.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt_fc.step()


result["frozen"] = timed(frozen)

for name in filter(None, extra.split(",")):
    net = getattr(torchvision.models, name)().train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    result[f"finetune {name}"] = timed(lambda: finetune_step(net, x, optimizer))
print(json.dumps(result))
