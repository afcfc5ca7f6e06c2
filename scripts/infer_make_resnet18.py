"""Fixture for test/infer-export.test.ts: a torchvision resnet18 with random weights saved by
torch.save, an input batch and torchvision's eval-mode logits for it.

usage: /usr/bin/python3 scripts/infer_make_resnet18.py OUT_DIR [SEED] [BATCH]

Writes into OUT_DIR:
  resnet18.pth   the state_dict (torch.save zip format, with num_batches_tracked)
  input.f32      the input batch [BATCH, 3, 224, 224], float32 little-endian
  logits.f32     model(input) in eval mode [BATCH, 1000], float32 little-endian
Prints one JSON line: {"batch", "classes", "max_abs_logit"}.
BatchNorm affine parameters and running statistics are randomised (torchvision's init
leaves them at 1/0/0/1, which would not test that they are loaded); the classifier is
scaled so that the largest logit is 4.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

torch.set_num_threads(2)

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 2
os.makedirs(out, exist_ok=True)

torch.manual_seed(seed)
model = torchvision.models.resnet18()
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
model.eval()
x = torch.randn(batch, 3, 224, 224)
with torch.no_grad():
    # Logits of order 4 (as a trained classifier gives): a 1e-4 tolerance then means ~2e-5 relative.
    scale = 4 / model(x).abs().max().item()
    model.fc.weight.mul_(scale)
    model.fc.bias.mul_(scale)
    logits = model(x)

torch.save(model.state_dict(), os.path.join(out, "resnet18.pth"))
x.numpy().astype("<f4").tofile(os.path.join(out, "input.f32"))
logits.numpy().astype("<f4").tofile(os.path.join(out, "logits.f32"))
print(json.dumps({"batch": batch, "classes": int(logits.shape[1]), "max_abs_logit": float(logits.abs().max())}))
