"""Reference for test/engine-autodiff.test.ts: torch.nn.functional.cross_entropy with label
smoothing and class weights; prints loss and d(loss)/d(logits) as JSON."""
import json
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
spec = json.load(sys.stdin)
logits = torch.tensor(spec["logits"], dtype=torch.float64, requires_grad=True)
labels = torch.tensor(spec["labels"])
weight = torch.tensor(spec["weights"], dtype=torch.float64) if spec.get("weights") else None
loss = F.cross_entropy(logits, labels, weight=weight, label_smoothing=spec.get("smoothing", 0.0))
loss.backward()
print(json.dumps({"loss": loss.item(), "grad": logits.grad.reshape(-1).tolist()}))
