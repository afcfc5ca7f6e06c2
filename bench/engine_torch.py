"""PyTorch side of bench/engine.ts: ResNet18 at 224x224, images/s for inference, a full
fine-tune step and a frozen-backbone step (only fc trainable, backbone in eval mode: the
same computation headstart's frozen step does). Prints one JSON object of medians."""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

batch, threads, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(batch, 3, 224, 224)
y = torch.randint(0, 1000, (batch,))


def timed(fn, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


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
print(json.dumps(result))
