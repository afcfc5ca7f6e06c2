"""Reference outputs of torchvision 0.14 / PIL for headstart's data tests.

Run with Debian's interpreter: /usr/bin/python3 scripts/data_reference.py <mode> <cases.json> <outdir>

torchvision draws its random numbers from torch's generator, which JS cannot reproduce. So
the random transforms are run here with `torch` replaced, inside torchvision.transforms, by
a shim that replays the 32-bit words headstart's RandomSource produced, consuming them the
way torch's CPU generator does (uniform_: low 24 bits, float32 arithmetic; randint:
low + word % range; rand; randperm by swaps). Same words in, the same crop boxes, flips,
jitter factors and pixels out, if and only if headstart samples as torchvision does.

Modes (each case's outputs go to <outdir>/<i>.bin, results as JSON on stdout):
  crop    {width, height, scale, ratio, words}           -> {top, left, height, width, used}
  train   {path, words, size, scale, ratio, hflip, jitter, preset?, mean, std, interpolation}
                                                          -> float32 CHW tensor, {used}
  eval    {path, resizeSize, inputSize, mean, std, interpolation, uint8?} -> float32 CHW tensor
                                                          (uint8: the 8-bit HWC image before ToTensor)
  adjust  {path, op, factor}                              -> uint8 HWC image (F.adjust_<op>)
  augop   {path, op, magnitude}                           -> uint8 HWC image (autoaugment._apply_op, NEAREST)
  autoaug {path, kind: trivial|rand, words, numOps?, magnitude?} -> uint8 HWC image, {used}
  space   {kind: trivial|rand, bins, width, height}      -> {op: [magnitudes | null, signed]} in order
  decode  {path}                                          -> uint8 HWC of Image.open(path).convert("RGB"), {mode, shape}
"""
import json
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
import torchvision.transforms.transforms as TT
import torchvision.transforms.autoaugment as AA
from PIL import Image

torch.set_num_threads(1)


class Words:
    def __init__(self, words):
        self.words = [int(w) for w in words]
        self.used = 0

    def next(self):
        if self.used >= len(self.words):
            raise RuntimeError(f"torchvision drew more than the {len(self.words)} words headstart drew")
        w = self.words[self.used]
        self.used += 1
        return w


def f32(x):
    return np.float32(x)


class Uniform:
    def __init__(self, words):
        self.w = words

    def uniform_(self, low, high):
        frm = f32(float(low))
        to = f32(float(high))
        x = f32((self.w.next() & 0xFFFFFF) / 16777216.0)
        v = f32(f32(x * f32(to - frm)) + frm)
        return torch.tensor([float(v)], dtype=torch.float32)


class ShimTorch:
    """torch, except for the four random functions torchvision.transforms calls."""

    def __init__(self, words):
        self.w = words

    def __getattr__(self, name):
        return getattr(torch, name)

    def empty(self, *size, **kw):
        return Uniform(self.w)

    def rand(self, *size, **kw):
        return torch.tensor([(self.w.next() & 0xFFFFFF) / 16777216.0], dtype=torch.float32)

    def randint(self, low, high=None, size=None, **kw):
        if high is None or isinstance(high, (tuple, list)):  # randint(high, size)
            low, high = 0, low
        return torch.tensor([low + self.w.next() % (high - low)])

    def randperm(self, n, **kw):
        p = list(range(n))
        for i in range(n - 1):
            z = self.w.next() % (n - i)
            p[i], p[z + i] = p[z + i], p[i]
        return torch.tensor(p)


def interp(name):
    return {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}[name]


def load_rgb(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def run_crop(case, out):
    w = Words(case["words"])
    TT.torch = ShimTorch(w)
    img = Image.new("RGB", (case["width"], case["height"]))
    i, j, h, wd = T.RandomResizedCrop.get_params(img, tuple(case["scale"]), tuple(case["ratio"]))
    return {"top": int(i), "left": int(j), "height": int(h), "width": int(wd), "used": w.used}


def run_train(case, out):
    w = Words(case["words"])
    TT.torch = ShimTorch(w)
    steps = [T.RandomResizedCrop(case["size"], scale=tuple(case["scale"]), ratio=tuple(case["ratio"]), interpolation=interp(case["interpolation"]))]
    if case["hflip"] > 0:
        steps.append(T.RandomHorizontalFlip(case["hflip"]))
    j = case.get("jitter")
    if j:
        steps.append(T.ColorJitter(brightness=j["brightness"], contrast=j["contrast"], saturation=j["saturation"], hue=j["hue"]))
    preset = case.get("preset")
    if preset == "trivial":
        steps.append(T.TrivialAugmentWide())
    elif preset == "randaugment":
        steps.append(T.RandAugment())
    AA.torch = ShimTorch(w)
    steps += [T.ToTensor(), T.Normalize(case["mean"], case["std"])]
    try:
        x = T.Compose(steps)(load_rgb(case["path"]))
    finally:
        AA.torch = torch
    x.numpy().astype(np.float32).tofile(out)
    return {"used": w.used, "shape": list(x.shape)}


def run_eval(case, out):
    if case.get("uint8"):
        # The 8-bit image before ToTensor (HWC), to compare bytes.
        tf = T.Compose([T.Resize(case["resizeSize"], interpolation=interp(case["interpolation"])), T.CenterCrop(case["inputSize"])])
        img = np.asarray(tf(load_rgb(case["path"])), dtype=np.uint8)
        img.tofile(out)
        return {"shape": list(img.shape)}
    tf = T.Compose([
        T.Resize(case["resizeSize"], interpolation=interp(case["interpolation"])),
        T.CenterCrop(case["inputSize"]),
        T.ToTensor(),
        T.Normalize(case["mean"], case["std"]),
    ])
    x = tf(load_rgb(case["path"]))
    x.numpy().astype(np.float32).tofile(out)
    return {"shape": list(x.shape)}


def run_adjust(case, out):
    img = load_rgb(case["path"])
    fn = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast, "saturation": F.adjust_saturation, "hue": F.adjust_hue}[case["op"]]
    y = np.asarray(fn(img, case["factor"]), dtype=np.uint8)
    y.tofile(out)
    return {"shape": list(y.shape)}


def run_augop(case, out):
    img = load_rgb(case["path"])
    y = AA._apply_op(img, case["op"], float(case["magnitude"]), interpolation=T.InterpolationMode.NEAREST, fill=None)
    y = np.asarray(y, dtype=np.uint8)
    y.tofile(out)
    return {"shape": list(y.shape)}


def run_autoaug(case, out):
    w = Words(case["words"])
    AA.torch = ShimTorch(w)
    try:
        if case["kind"] == "trivial":
            tf = T.TrivialAugmentWide()
        else:
            tf = T.RandAugment(num_ops=case.get("numOps", 2), magnitude=case.get("magnitude", 9))
        y = np.asarray(tf(load_rgb(case["path"])), dtype=np.uint8)
    finally:
        AA.torch = torch
    y.tofile(out)
    return {"used": w.used, "shape": list(y.shape)}


def run_space(case, out):
    if case["kind"] == "trivial":
        sp = T.TrivialAugmentWide()._augmentation_space(case["bins"])
    else:
        sp = T.RandAugment()._augmentation_space(case["bins"], (case["height"], case["width"]))
    return [[name, m.tolist() if m.ndim > 0 else None, bool(signed)] for name, (m, signed) in sp.items()]


def run_decode(case, out):
    img = Image.open(case["path"])
    mode = img.mode
    y = np.asarray(img.convert("RGB"), dtype=np.uint8)
    y.tofile(out)
    return {"mode": mode, "shape": list(y.shape)}


def main():
    mode, cases_path, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    run = {"crop": run_crop, "train": run_train, "eval": run_eval, "adjust": run_adjust, "augop": run_augop, "autoaug": run_autoaug, "space": run_space, "decode": run_decode}[mode]
    with open(cases_path) as f:
        cases = json.load(f)
    results = [run(c, f"{outdir}/{i}.bin") for i, c in enumerate(cases)]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
