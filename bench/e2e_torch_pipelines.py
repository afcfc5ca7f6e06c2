"""Part 1 of bench/e2e-real-pipelines.ts: headstart's training pipeline against torchvision 0.14 /
PIL on the real-data case, stage by stage and in distribution. Reads the JSON that the bench
writes (the training files, headstart's decoded pixels and tensors, every epoch's order and
crop boxes) and prints a report; each line ends with "consistent" or "DIFFERS".

  /usr/bin/python3 bench/e2e_torch_pipelines.py META.json
"""
import json
import math
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

torch.set_num_threads(1)


def load(path):
    # torchvision's ImageFolder loader (pil_loader).
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def ks(a, b):
    """Two-sample Kolmogorov-Smirnov D."""
    a = np.sort(np.asarray(a, dtype=np.float64))
    b = np.sort(np.asarray(b, dtype=np.float64))
    x = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, x, side="right") / len(a) - np.searchsorted(b, x, side="right") / len(b)).max())


def verdict(ok):
    return "consistent" if ok else "DIFFERS"


def pixel_verdict(d):
    """Bit-exact, within the tolerance decode-augmented.ts states for libvips' downscaling (~0.001 mean on [0, 1]), or not."""
    if d.max() == 0:
        return "consistent (bit-exact)"
    return "consistent (libvips downscale, within the stated tolerance)" if d.mean() <= 2e-3 else "DIFFERS"


def box_stats(boxes, source):
    w = np.array([b["width"] for b in boxes], dtype=np.float64)
    h = np.array([b["height"] for b in boxes], dtype=np.float64)
    left = np.array([b["left"] for b in boxes], dtype=np.float64)
    top = np.array([b["top"] for b in boxes], dtype=np.float64)
    return {
        "area fraction": w * h / (source["width"] * source["height"]),
        "log aspect ratio": np.log(w / h),
        "centre x": (left + w / 2) / source["width"],
        "centre y": (top + h / 2) / source["height"],
        "whole image": ((w == source["width"]) & (h == source["height"])).astype(np.float64),
    }


def main(meta_path):
    with open(meta_path) as f:
        meta = json.load(f)
    size = meta["size"]
    n = meta["checked"]
    files = meta["files"]
    src = meta["source"]
    paths = meta["paths"]
    out = []
    p = out.append

    # Stage 1: the stored images and their decode.
    first = Image.open(files[0])
    a = np.asarray(load(files[0]))
    grey = bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
    ours = np.fromfile(paths["decoded"], dtype=np.uint8).reshape(n, src["height"], src["width"], 3)
    dec = [np.abs(np.asarray(load(files[i])).astype(np.int16) - ours[i]).max() for i in range(n)]
    p(f"- stored images: {first.format} {first.mode} {first.size[0]}x{first.size[1]} (28x28 Fashion-MNIST upscaled by libvips' cubic when the case is made; grey stored as RGB: {grey})")
    p(f"- decode (headstart's libvips vs PIL's convert('RGB')), {n} files: max |diff| {max(dec)} of 255 — {verdict(max(dec) == 0)}")

    # Stage 2: crop + resize + flip + normalisation with the same boxes and flips.
    geos = meta["epochs"][0]["geos"][:n]
    ref = np.zeros((n, 3, size, size), dtype=np.float32)
    up = down = 0
    for i, g in enumerate(geos):
        img = F.resized_crop(load(files[i]), g["top"], g["left"], g["height"], g["width"], [size, size], T.InterpolationMode.BILINEAR)
        if g["flip"]:
            img = F.hflip(img)
        ref[i] = F.to_tensor(img).numpy()
        up += int(g["width"] < size) + int(g["height"] < size)
        down += int(g["width"] > size) + int(g["height"] > size)
    p(f"- training transform, the same {n} boxes and flips replayed in torchvision (F.resized_crop bilinear + hflip + ToTensor; {up} upscaled and {down} downscaled axes):")
    for name in ["default", "exact", "workers"]:
        t = np.fromfile(paths[name], dtype="<f4").reshape(n, 3, size, size)
        d = np.abs(t - ref)
        label = {"default": "default path", "exact": "exactAugment", "workers": "default path in 2 decode workers (HEADSTART_DECODE_WORKERS)"}[name]
        p(f"  - {label}: max |diff| {d.max():.2e}, mean {d.mean():.2e} (on [0, 1]) — {pixel_verdict(d)}")

    # Stage 3: the eval transform.
    val_files = meta["val_files"]
    vt = np.fromfile(paths["val"], dtype="<f4").reshape(len(val_files), 3, size, size)
    ev = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
    dv = np.stack([np.abs(ev(load(path)).numpy() - vt[i]) for i, path in enumerate(val_files)])
    p(f"- eval transform (Resize({size}) + CenterCrop({size}) + ToTensor), {len(val_files)} val images: max |diff| {dv.max():.2e}, mean {dv.mean():.2e} — {pixel_verdict(dv)}")

    # Distributions: RandomResizedCrop boxes against torchvision's sampler on torch's generator.
    all_geos = [g for e in meta["epochs"] for g in e["geos"]]
    m = len(all_geos)
    torch.manual_seed(meta["seed"])
    rrc = T.RandomResizedCrop(size)
    blank = Image.new("RGB", (src["width"], src["height"]))
    tv = []
    for _ in range(m):
        i, j, h, w = rrc.get_params(blank, rrc.scale, rrc.ratio)
        tv.append({"top": i, "left": j, "height": h, "width": w})
    flips_tv = [bool(torch.rand(1) < 0.5) for _ in range(m)]
    so, st = box_stats(all_geos, src), box_stats(tv, src)
    crit = 1.63 * math.sqrt(2 / m)  # two-sample KS, alpha = 0.01
    p(f"- RandomResizedCrop boxes, {m} of headstart's draws ({len(meta['epochs'])} epochs x {len(files)} images) vs {m} of torchvision's get_params on torch's generator (KS D, 1% critical {crit:.3f}):")
    for k in ["area fraction", "log aspect ratio", "centre x", "centre y"]:
        d = ks(so[k], st[k])
        p(f"  - {k}: mean {so[k].mean():.4f} vs {st[k].mean():.4f}, sd {so[k].std():.4f} vs {st[k].std():.4f}, KS D {d:.3f} — {verdict(d < crit)}")
    wo, wt = so["whole image"].sum(), st["whole image"].sum()
    p(f"  - whole-image boxes (the centre-crop fallback after 10 misses, for a square source): {int(wo)} vs {int(wt)} of {m} — {verdict(abs(wo - wt) <= 3 * math.sqrt(max(wo + wt, 1)))}")
    flips = np.array([g["flip"] for g in all_geos], dtype=np.float64)
    z = (flips.sum() - m / 2) / math.sqrt(m / 4)
    p(f"- horizontal flips: {flips.mean():.3f} of {m} (torchvision {np.mean(flips_tv):.3f}; z vs 0.5 = {z:+.2f}) — {verdict(abs(z) < 2.58)}")

    # Sampling: each epoch a permutation, batches of `batch`, class mix per batch.
    labels = np.array(meta["labels"])
    N = len(labels)
    batch = meta["batch"]
    perms = all(sorted(e["order"]) == list(range(N)) for e in meta["epochs"])
    classes = int(labels.max()) + 1

    def batch_counts(order):
        return np.array([np.bincount(labels[order[b:b + batch]], minlength=classes) for b in range(0, N - N % batch, batch)])

    ours_c = np.concatenate([batch_counts(np.array(e["order"])) for e in meta["epochs"]])
    g = torch.Generator()
    g.manual_seed(meta["seed"])
    tv_c = np.concatenate([batch_counts(torch.randperm(N, generator=g).numpy()) for _ in meta["epochs"]])
    pk = np.bincount(labels, minlength=classes) / N
    hyper = batch * pk * (1 - pk) * (N - batch) / (N - 1)
    p(
        f"- order: every epoch a permutation of the {N} images: {perms}; {N // batch} full batches + {N % batch} (drop_last off, as the DataLoader); "
        f"class count per batch, variance {ours_c.var(axis=0).mean():.3f} vs torch.randperm {tv_c.var(axis=0).mean():.3f} vs hypergeometric {hyper.mean():.3f} — "
        f"{verdict(perms and abs(ours_c.var(axis=0).mean() / hyper.mean() - 1) < 0.35)}"
    )

    # Independence across epochs of a sample's draws (the keyed random streams).
    E = len(meta["epochs"])
    if E > 1:
        area = np.array([[g["width"] * g["height"] for g in e["geos"]] for e in meta["epochs"]], dtype=np.float64)
        left = np.array([[g["left"] for g in e["geos"]] for e in meta["epochs"]], dtype=np.float64)
        flip = np.array([[g["flip"] for g in e["geos"]] for e in meta["epochs"]], dtype=np.float64)
        pos = np.array([np.argsort(e["order"]) for e in meta["epochs"]], dtype=np.float64)
        pairs = [(a, b) for a in range(E) for b in range(a + 1, E)]
        crit_r = 2.58 / math.sqrt(N) * 1.5  # loose: several pairs are tested
        for k, M in [("area", area), ("left", left), ("flip", flip), ("position in the epoch", pos)]:
            r = [float(np.corrcoef(M[a], M[b])[0, 1]) for a, b in pairs]
            p(f"- a sample's {k} in one epoch vs another ({len(pairs)} epoch pairs): correlation mean {np.mean(r):+.3f}, largest |r| {np.max(np.abs(r)):.3f} — {verdict(abs(np.mean(r)) < 2.58 / math.sqrt(N * len(pairs)) * 2 and np.max(np.abs(r)) < crit_r)}")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
