"""PyTorch twin of headstart's `mobilenet_v2_offline` (the Keras MobileNetV2 bundled in npm
nsfwjs@4.4.0, imported by src/models/keras-import.ts), for parity tests and bench:e2e.

The Keras topology, written out by hand (not read from the model file, so that it checks
the importer): ZeroPad2d((0, 1, 0, 1)) before each stride-2 convolution ('valid' there),
symmetric padding 1 for the stride-1 3x3 depthwise convolutions ('same'), depthwise as
grouped convolutions, no conv biases, BatchNorm eps 1e-3, ReLU6, residual adds where a
block keeps its shape, global average pooling to 1280, then the new classifier `fc`.
Parameter names are headstart's (the Keras layer names): `Conv1.weight`,
`bn_Conv1.running_mean`, `block_1_expand.weight`, ..., `Conv_1_bn.bias`, `fc.weight`.

Input: RGB in [0, 1], NCHW (no mean/std), 224x224 for the original model; any side works.

As a module: `twin(num_classes, bn_momentum=0.1)`, `load_safetensors(path)`,
`write_safetensors(path, tensors)`.
As a script (Debian's /usr/bin/python3):
  mobilenet_v2_offline_twin.py logits WEIGHTS.safetensors INPUT.safetensors OUT.safetensors
      eval-mode logits (float32 and float64) of the twin loaded with WEIGHTS (headstart's
      names, `fc` included) on INPUT's tensor `input`; prints one JSON line.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# (expansion t, output channels c, repeats n, first stride s), Keras's MobileNetV2 with alpha 1.
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
EPS = 1e-3


class Twin(nn.Module):
    def __init__(self, num_classes, bn_momentum=0.1):
        super().__init__()
        self.plan = []  # (kind, names...) executed in forward, in Keras layer order
        bn = lambda c: nn.BatchNorm2d(c, eps=EPS, momentum=bn_momentum)

        def add(name, module):
            setattr(self, name, module)

        add("Conv1", nn.Conv2d(3, 32, 3, stride=2, padding=0, bias=False))
        add("bn_Conv1", bn(32))
        self.plan.append(("stem",))
        cin = 32
        block = 0
        for t, c, n, s in SETTING:
            for i in range(n):
                stride = s if i == 0 else 1
                prefix = "expanded_conv" if block == 0 else f"block_{block}"
                hidden = cin * t
                if t != 1:
                    add(f"{prefix}_expand", nn.Conv2d(cin, hidden, 1, bias=False))
                    add(f"{prefix}_expand_BN", bn(hidden))
                add(f"{prefix}_depthwise", nn.Conv2d(hidden, hidden, 3, stride=stride, padding=0 if stride == 2 else 1, groups=hidden, bias=False))
                add(f"{prefix}_depthwise_BN", bn(hidden))
                add(f"{prefix}_project", nn.Conv2d(hidden, c, 1, bias=False))
                add(f"{prefix}_project_BN", bn(c))
                self.plan.append(("block", prefix, t != 1, stride, stride == 1 and cin == c))
                cin = c
                block += 1
        add("Conv_1", nn.Conv2d(cin, 1280, 1, bias=False))
        add("Conv_1_bn", bn(1280))
        add("fc", nn.Linear(1280, num_classes))

    def features(self, x):
        x = F.relu6(self.bn_Conv1(self.Conv1(F.pad(x, (0, 1, 0, 1)))))
        for step in self.plan[1:]:
            _, prefix, expand, stride, residual = step
            h = x
            if expand:
                h = F.relu6(getattr(self, f"{prefix}_expand_BN")(getattr(self, f"{prefix}_expand")(h)))
            if stride == 2:
                h = F.pad(h, (0, 1, 0, 1))
            h = F.relu6(getattr(self, f"{prefix}_depthwise_BN")(getattr(self, f"{prefix}_depthwise")(h)))
            h = getattr(self, f"{prefix}_project_BN")(getattr(self, f"{prefix}_project")(h))
            x = x + h if residual else h
        x = F.relu6(self.Conv_1_bn(self.Conv_1(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


def twin(num_classes, bn_momentum=0.1):
    return Twin(num_classes, bn_momentum)


DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw[base + a:base + b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def write_safetensors(path, tensors):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def load_into(model, state):
    """Loads headstart-named tensors (all of them: strict), leaving num_batches_tracked at 0."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"twin weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")


def logits_main(weights, input_path, out):
    torch.set_num_threads(2)
    state = load_safetensors(weights)
    model = twin(state["fc.weight"].shape[0])
    load_into(model, state)
    model.eval()
    x = load_safetensors(input_path)["input"]
    with torch.no_grad():
        l32 = model(x)
        l64 = model.double()(x.double())
    write_safetensors(out, {"logits32": l32, "logits64": l64})
    print(json.dumps({"torch": torch.__version__, "fp32_vs_fp64": (l32.double() - l64).abs().max().item()}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "logits":
        logits_main(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)
