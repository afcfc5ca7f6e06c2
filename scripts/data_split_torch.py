"""PIL / torchvision side of bench:data-split: CPU-ms per image per stage, in one process.

/usr/bin/python3 scripts/data_split_torch.py <rounds>   (reads JSON from stdin)

stdin: {"files": [...], "boxes": [[top, left, height, width], ...], "flips": [0|1, ...]}:
the same files and the same RandomResizedCrop boxes and flips headstart's side uses. Each
stage runs over all files one at a time (round 0 warms up; stages alternate round by round),
timed with process CPU time (time.process_time: every thread of this process). Prints one
JSON object {stage: median CPU-ms per image}. Stages:
  read file                  open + read the bytes
  decode                     Image.open(BytesIO).convert('RGB') (the DataLoader's decode)
  train crop+resize+flip     F.resized_crop(box, 224, BILINEAR) + hflip on the decoded image
  eval resize+crop           F.resize(256) + F.center_crop(224) on the decoded image
  to_tensor+normalize        F.normalize(F.to_tensor(224x224 image))
  collate (per image)        torch.stack of batches of 32 CHW tensors, divided by 32
  whole train (in process)   read + decode + crop/resize/flip + to_tensor/normalize
  whole eval (in process)    read + decode + resize/crop + to_tensor/normalize
"""
import io
import json
import sys
import time

import torch
import torchvision.transforms.functional as F
from PIL import Image

torch.set_num_threads(1)

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
BILINEAR = F.InterpolationMode.BILINEAR


def main():
    rounds = int(sys.argv[1])
    job = json.load(sys.stdin)
    files = job["files"]
    boxes = job["boxes"]
    flips = job["flips"]
    raw = [open(f, "rb").read() for f in files]
    decoded = [Image.open(io.BytesIO(b)).convert("RGB") for b in raw]
    small = [F.center_crop(F.resize(im, 256, BILINEAR), 224) for im in decoded]
    tensors = [F.normalize(F.to_tensor(im), MEAN, STD) for im in small]

    def read(i):
        with open(files[i], "rb") as f:
            return f.read()

    def decode(i):
        return Image.open(io.BytesIO(raw[i])).convert("RGB")

    def train_geom(im, i):
        t, l, h, w = boxes[i]
        out = F.resized_crop(im, t, l, h, w, [224, 224], BILINEAR)
        return F.hflip(out) if flips[i] else out

    def eval_geom(im):
        return F.center_crop(F.resize(im, 256, BILINEAR), 224)

    def norm(im):
        return F.normalize(F.to_tensor(im), MEAN, STD)

    def collate_all():
        for s in range(0, len(tensors), 32):
            torch.stack(tensors[s : s + 32])

    stages = {
        "read file": lambda: [read(i) for i in range(len(files))],
        "decode": lambda: [decode(i) for i in range(len(files))],
        "train crop+resize+flip": lambda: [train_geom(decoded[i], i) for i in range(len(files))],
        "eval resize+crop": lambda: [eval_geom(decoded[i]) for i in range(len(files))],
        "to_tensor+normalize": lambda: [norm(small[i]) for i in range(len(files))],
        "collate (per image)": collate_all,
        "whole train (in process)": lambda: [norm(train_geom(Image.open(io.BytesIO(read(i))).convert("RGB"), i)) for i in range(len(files))],
        "whole eval (in process)": lambda: [norm(eval_geom(Image.open(io.BytesIO(read(i))).convert("RGB"))) for i in range(len(files))],
    }
    cpu = {k: [] for k in stages}
    for r in range(rounds + 1):
        for name, f in stages.items():
            c = time.process_time()
            f()
            if r > 0:
                cpu[name].append((time.process_time() - c) * 1000 / len(files))
    print(json.dumps({k: sorted(v)[len(v) // 2] for k, v in cpu.items()}))


if __name__ == "__main__":
    main()
