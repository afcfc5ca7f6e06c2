"""PyTorch side of bench/native-step.ts: a full fine-tune step (SGD, momentum 0.9) of a torchvision
model, argv: batch, threads, reps, warm-ups[, model (resnet18), input size (224)]. Prints one JSON
line: images/s (median step) and the process CPU milliseconds of the median step."""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

batch, threads, reps, warmups = (int(a) for a in sys.argv[1:5])
name = sys.argv[5] if len(sys.argv) > 5 else "resnet18"
size = int(sys.argv[6]) if len(sys.argv) > 6 else 224
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, 1000, (batch,))
model = getattr(torchvision.models, name)().train()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)


def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


for _ in range(warmups):
    step()
walls, cpus = [], []
for _ in range(reps):
    t, c = time.perf_counter(), time.process_time()
    step()
    walls.append(time.perf_counter() - t)
    cpus.append(time.process_time() - c)
print(json.dumps({"rate": batch / statistics.median(walls), "cpuMs": 1000 * statistics.median(cpus)}))
