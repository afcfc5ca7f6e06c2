"""Reference MixUp / CutMix outputs for test/data-mix-batch.test.ts.

torchvision 0.14 (Debian's) has no transforms.v2, so this is torchvision 0.16's v2 MixUp and
CutMix written out in torch (`_mixup_label`, CutMix._get_params / _transform), with lambda
given instead of drawn from Beta and CutMix's two randint draws (x, then y) replayed from the
words headstart drew. Same lambda and pairing (batch.roll(1, 0)) in, the same images and
soft targets out.

Run: /usr/bin/python3 scripts/mix_reference.py <cases.json> <outdir>
Each case: {kind, shape: [N, C, H, W], numClasses, labels, lambda, words?, images: file}
Writes <outdir>/<i>.images.bin and <i>.targets.bin (float32); JSON results on stdout.
"""
import json
import math
import sys

import numpy as np
import torch
from torch.nn.functional import one_hot

torch.set_num_threads(1)


def mixup_label(label, num_classes, lam):
    label = one_hot(label, num_classes=num_classes).float()
    return label.roll(1, 0).mul_(1.0 - lam).add_(label.mul(lam))


def run(case, outdir, i):
    n, c, h, w = case["shape"]
    x = torch.from_numpy(np.fromfile(case["images"], dtype=np.float32).reshape(n, c, h, w))
    labels = torch.tensor(case["labels"], dtype=torch.long)
    lam = float(case["lambda"])
    result = {}
    if case["kind"] == "mixup":
        out = x.roll(1, 0).mul_(1.0 - lam).add_(x.mul(lam))
        targets = mixup_label(labels, case["numClasses"], lam)
    else:
        words = case["words"]
        r_x = torch.tensor([words[0] % w])  # torch.randint(W, size=(1,))
        r_y = torch.tensor([words[1] % h])  # torch.randint(H, size=(1,))
        r = 0.5 * math.sqrt(1.0 - lam)
        r_w_half = int(r * w)
        r_h_half = int(r * h)
        x1 = int(torch.clamp(r_x - r_w_half, min=0))
        y1 = int(torch.clamp(r_y - r_h_half, min=0))
        x2 = int(torch.clamp(r_x + r_w_half, max=w))
        y2 = int(torch.clamp(r_y + r_h_half, max=h))
        lam_adjusted = float(1.0 - (x2 - x1) * (y2 - y1) / (w * h))
        rolled = x.roll(1, 0)
        out = x.clone()
        out[..., y1:y2, x1:x2] = rolled[..., y1:y2, x1:x2]
        targets = mixup_label(labels, case["numClasses"], lam_adjusted)
        result = {"box": [x1, y1, x2, y2], "lambda": lam_adjusted}
    out.numpy().astype(np.float32).tofile(f"{outdir}/{i}.images.bin")
    targets.numpy().astype(np.float32).tofile(f"{outdir}/{i}.targets.bin")
    return result


def main():
    cases_path, outdir = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        cases = json.load(f)
    json.dump([run(c, outdir, i) for i, c in enumerate(cases)], sys.stdout)


if __name__ == "__main__":
    main()
