"""A safetensors fixture for test/weights-safetensors.test.ts, written the way the
`safetensors` library lays files out (header keys sorted, tensors ordered by dtype
alignment then name, header padded with spaces to 8 bytes), since the library itself is
not installed here. Also writes the values each tensor must load as.

Usage: /usr/bin/python3 scripts/weights_make_safetensors.py OUT_DIR
Writes OUT_DIR/model.safetensors, OUT_DIR/manifest.json ({name, dtype, shape, file}) and OUT_DIR/ref/*.bin.
"""
import json
import os
import struct
import sys

import torch

torch.set_num_threads(1)
torch.manual_seed(1)
out = sys.argv[1]
os.makedirs(os.path.join(out, "ref"), exist_ok=True)

CODES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}

tensors = {
    "features.0.weight": torch.randn(8, 3, 3, 3),
    "features.0.bias": torch.randn(8, dtype=torch.float64),
    "head.weight": (torch.randn(4, 8) * 10).to(torch.float16),
    "head.bias": (torch.randn(4) * 1e4).to(torch.bfloat16),
    "bn.num_batches_tracked": torch.tensor(7),
    "ids": torch.tensor([1, -2, 3], dtype=torch.int32),
    "small": torch.tensor([-3, 4], dtype=torch.int8),
    "mask": torch.tensor([[True, False], [False, True]]),
    "bytes": torch.arange(5, dtype=torch.uint8),
    "empty": torch.zeros(0, 4),
}


def raw(t):
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.contiguous().numpy().tobytes()


# The library's order: larger alignment first, then by name.
order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
header, blobs, offset = {}, [], 0
for name in order:
    b = raw(tensors[name])
    header[name] = {"dtype": CODES[tensors[name].dtype], "shape": list(tensors[name].shape),
                    "data_offsets": [offset, offset + len(b)]}
    blobs.append(b)
    offset += len(b)
header["__metadata__"] = {"format": "pt", "source": "weights_make_safetensors.py"}
text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

rows = []
for i, name in enumerate(order):
    t = tensors[name]
    if t.dtype.is_floating_point:
        dtype, v = "float32", t.float()
    elif t.dtype == torch.int64:
        dtype, v = "int64", t
    elif t.dtype in (torch.int32, torch.int16, torch.int8):
        dtype, v = "int32", t.int()
    elif t.dtype == torch.bool:
        dtype, v = "bool", t.to(torch.uint8)
    else:
        dtype, v = "uint8", t
    rel = f"ref/st-{i}.bin"
    with open(os.path.join(out, rel), "wb") as f:
        f.write(v.contiguous().numpy().tobytes())
    rows.append({"name": name, "dtype": dtype, "shape": list(t.shape), "file": rel})
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(rows, f, indent=1)
