"""torchvision 0.14's own random draws, on torch's generator, for test/data-augment-distribution.test.ts:
RandomResizedCrop.get_params boxes and RandomHorizontalFlip decisions, so that headstart's draws
(from its keyed streams, one per seed, epoch and sample) can be compared with them *in
distribution* (the word-for-word replay is scripts/data_reference.py's crop mode).

  /usr/bin/python3 scripts/augment_distribution_reference.py '{"n": 2000, "seed": 0, "sources": [[224, 224]], "scale": [0.08, 1], "ratio": [0.75, 1.333], "p": 0.5}'

Prints JSON: {"boxes": {"WxH": [[left, top, width, height], ...]}, "flips": [0 | 1, ...]}.
"""
import json
import sys

import torch
import torchvision.transforms as T
from PIL import Image

torch.set_num_threads(1)


def main(spec):
    torch.manual_seed(spec["seed"])
    rrc = T.RandomResizedCrop(224, scale=tuple(spec["scale"]), ratio=tuple(spec["ratio"]))
    boxes = {}
    for w, h in spec["sources"]:
        img = Image.new("RGB", (w, h))
        out = []
        for _ in range(spec["n"]):
            top, left, bh, bw = rrc.get_params(img, rrc.scale, rrc.ratio)
            out.append([left, top, bw, bh])
        boxes[f"{w}x{h}"] = out
    flips = [int(torch.rand(1) < spec["p"]) for _ in range(spec["n"])]
    print(json.dumps({"boxes": boxes, "flips": flips}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
