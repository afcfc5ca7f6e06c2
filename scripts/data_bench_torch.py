"""PyTorch side of bench:data: torchvision's train and eval transforms through DataLoaders.

/usr/bin/python3 scripts/data_bench_torch.py <image_dir> <batch_size> <workers>

ImageFolder-style dataset of every file in <image_dir>, PIL decode; train:
RandomResizedCrop(224) + RandomHorizontalFlip, eval: Resize(256) + CenterCrop(224), both
then ToTensor + Normalize(ImageNet), shuffled, one DataLoader per transform with persistent
workers (so epochs after the first pay no start-up). It waits on stdin: each line
"epoch train" or "epoch eval" ("epoch" alone is train) runs one full epoch and prints
{"images": n, "seconds": s}; "quit" ends.
"""
import json
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

torch.set_num_threads(1)


class Files(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.paths = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".jpg"))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            img = Image.open(f).convert("RGB")
        return self.transform(img), 0


def main():
    root, batch, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    norm = [T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    tfs = {
        "train": T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), *norm]),
        "eval": T.Compose([T.Resize(256), T.CenterCrop(224), *norm]),
    }
    loaders = {
        k: torch.utils.data.DataLoader(Files(root, tf), batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
        for k, tf in tfs.items()
    }
    print(json.dumps({"ready": len(loaders["train"].dataset)}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "epoch":
            break
        dl = loaders[words[1] if len(words) > 1 else "train"]
        t = time.perf_counter()
        n = 0
        for x, _ in dl:
            n += x.shape[0]
        print(json.dumps({"images": n, "seconds": time.perf_counter() - t}), flush=True)


if __name__ == "__main__":
    main()
