"""fastai's frozen epoch, reproduced in PyTorch on bench:recipes' case (item 3 of issue 13).

fastai's fine_tune(freeze_epochs=1) first trains with the body frozen for one epoch of
fit_one_cycle(pct_start=0.99) at base_lr 2e-3, batch 64: on 200 images that is 4 steps, whose
one-cycle lrs rise from 2e-3/25 towards 2e-3. headstart's --recipe fastai does the same schedule
on a linear head over cached features (body BatchNorm in inference mode). fastai differs in two
ways: its head (AdaptiveConcatPool, BatchNorm1d, Dropout 0.25, Linear(2*nf, 512), ReLU,
BatchNorm1d, Dropout 0.5, Linear(512, C)) and train_bn (the frozen body's BatchNorm layers stay
in train mode with their affine parameters training). This runs the four combinations from the
same weights (the offline backbone's PyTorch twin, scripts/mobilenet_v2_offline_twin.py) on the
same images and prints each one's val accuracy after the frozen epoch.

usage: fastai_head_epoch.py DATA WEIGHTS.safetensors [BATCH=64] [SEED=0] [THREADS=2]
Run with Debian's /usr/bin/python3.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import datasets, transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from mobilenet_v2_offline_twin import load_into, load_safetensors, twin  # noqa: E402


def feature_map(m, x):
    """The twin's features() without the final average pool."""
    x = F.relu6(m.bn_Conv1(m.Conv1(F.pad(x, (0, 1, 0, 1)))))
    for _, prefix, expand, stride, residual in m.plan[1:]:
        h = x
        if expand:
            h = F.relu6(getattr(m, f"{prefix}_expand_BN")(getattr(m, f"{prefix}_expand")(h)))
        if stride == 2:
            h = F.pad(h, (0, 1, 0, 1))
        h = F.relu6(getattr(m, f"{prefix}_depthwise_BN")(getattr(m, f"{prefix}_depthwise")(h)))
        h = getattr(m, f"{prefix}_project_BN")(getattr(m, f"{prefix}_project")(h))
        x = x + h if residual else h
    return F.relu6(m.Conv_1_bn(m.Conv_1(x)))


class FastaiHead(nn.Module):
    def __init__(self, nf, classes):
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm1d(2 * nf), nn.Dropout(0.25), nn.Linear(2 * nf, 512, bias=False), nn.ReLU(inplace=True),
            nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, classes, bias=False),
        )
        # fastai's init for the head's linear layers: kaiming_normal_
        for m in self.layers:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, fmap):
        pooled = torch.cat([F.adaptive_max_pool2d(fmap, 1), F.adaptive_avg_pool2d(fmap, 1)], 1).flatten(1)
        return self.layers(pooled)


class LinearHead(nn.Module):
    def __init__(self, fc):
        super().__init__()
        self.fc = fc

    def forward(self, fmap):
        return self.fc(fmap.mean(dim=(2, 3)))


def fastai_one_cycle(i, n, lr_max=2e-3, div=25.0, div_final=1e5, pct=0.99, moms=(0.95, 0.85)):
    """fastai's fit_one_cycle at iteration i of n: combined_cos at pos = i/n (lr and beta1)."""
    pos = i / n

    def cos(start, end, p):
        return start + (1 + math.cos(math.pi * (1 - p))) * (end - start) / 2

    if pos < pct:
        p = pos / pct
        return cos(lr_max / div, lr_max, p), cos(moms[0], moms[1], p)
    p = (pos - pct) / (1 - pct)
    return cos(lr_max, lr_max / div_final, p), cos(moms[1], moms[0], p)


def run(body_state, head_kind, train_bn, classes, train_set, val_set, batch, seed, schedule):
    torch.manual_seed(seed)
    body = twin(classes)
    load_into(body, body_state)
    head = LinearHead(body.fc) if head_kind == "linear" else FastaiHead(1280, classes)
    for p in body.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    bn_params = []
    if train_bn:
        for m in body.modules():
            if isinstance(m, nn.BatchNorm2d):
                for p in m.parameters():
                    p.requires_grad_(True)
                    bn_params.append(p)
    params = list(head.parameters()) + bn_params
    opt = torch.optim.AdamW(params, lr=2e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed))
    # torch's OneCycleLR (headstart's schedule) or fastai's combined_cos positions (i/n: with 4 steps the lr never anneals).
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=len(loader), pct_start=0.99, div_factor=25, final_div_factor=1e5, base_momentum=0.85, max_momentum=0.95) if schedule == "torch" else None
    body.train(train_bn)
    head.train()
    lrs = []
    for i, (x, y) in enumerate(loader):
        if sched is None:
            lr, mom = fastai_one_cycle(i, len(loader))
            for g in opt.param_groups:
                g["lr"], g["betas"] = lr, (mom, g["betas"][1])
        lrs.append(opt.param_groups[0]["lr"])
        with torch.set_grad_enabled(True):
            loss = F.cross_entropy(head(feature_map(body, x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    body.eval()
    head.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(val_set, batch_size=64):
            correct += (head(feature_map(body, x)).argmax(1) == y).sum().item()
    return correct / len(val_set), lrs


def main():
    data, weights = sys.argv[1], sys.argv[2]
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    state = load_safetensors(weights)
    classes = state["fc.weight"].shape[0]
    size = 224
    val_tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    aug_tf = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    val_set = datasets.ImageFolder(os.path.join(data, "val"), val_tf)
    results = []
    variants = [("linear", False, False, "torch"), ("linear", False, False, "fastai"), ("linear", True, True, "fastai"), ("fastai", False, True, "fastai"), ("fastai", True, True, "fastai")]
    for head_kind, train_bn, aug, schedule in variants:
        train_set = datasets.ImageFolder(os.path.join(data, "train"), aug_tf if aug else val_tf)
        acc, lrs = run(state, head_kind, train_bn, classes, train_set, val_set, batch, seed, schedule)
        bn = "train mode (fastai train_bn)" if train_bn else "inference mode (headstart: cached features)"
        label = f"{head_kind} head, body BN {bn}, {'augmented' if aug else 'un-augmented'}, {'torch OneCycleLR (headstart)' if schedule == 'torch' else 'fastai one-cycle'}"
        results.append({"variant": label, "val_acc": acc, "steps": len(lrs), "lrs": [float(f"{v:.3g}") for v in lrs]})
        print(f"| {label} | {len(lrs)}: lr {', '.join(f'{v:.2g}' for v in lrs)} | {acc:.3f} |", file=sys.stderr)
    print(json.dumps({"train": len(datasets.ImageFolder(os.path.join(data, 'train'))), "val": len(val_set), "batch": batch, "seed": seed, "results": results}))


main()
