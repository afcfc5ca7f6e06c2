"""Fixtures for test/weights-pth.test.ts: checkpoints written by torch.save, and the values
each tensor must load as (raw little-endian files + manifest.json).

Usage: /usr/bin/python3 scripts/weights_make_pth.py OUT_DIR

Writes into OUT_DIR:
  plain.pth        OrderedDict: every dtype, views (offset, transpose, step), shared storage,
                   a Parameter, a 0-d and an empty tensor
  model.pth        a small nn.Module's state_dict (BatchNorm: num_batches_tracked, _metadata)
  wrapped.pth      {"state_dict": {module.<name>: ...}, "epoch": 3, "best_acc": 0.5, "arch": "x"}
  model_key.pth    {"model": state_dict, "optimizer": {...}}
  proto4.pth       model.pth's dict saved with pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL)
  legacy.pth       the legacy format (_use_new_zipfile_serialization=False)
  scripted.pt      a TorchScript archive (torch.jit.save)
  namespace.pth    {"state_dict": ..., "args": argparse.Namespace(...)}: a global to refuse
  evil_pickle.pth  torch.save of a dict holding an object whose __reduce__ is os.system(...)
  evil_os.pth      a zip laid out like torch.save's whose data.pkl calls `os system` (GLOBAL)
  evil_eval.pth    same, protocol 4, `builtins eval` via STACK_GLOBAL
  manifest.json    {fixture: [{name, dtype, shape, file}]}: expected output, values in ref/
The evil fixtures would create MARKER (argv[2], default OUT_DIR/pwned) if anything ran them.
"""
import argparse
import collections
import io
import json
import os
import pickle
import sys
import zipfile

import torch

torch.set_num_threads(1)
torch.manual_seed(0)

out = sys.argv[1]
marker = sys.argv[2] if len(sys.argv) > 2 else os.path.join(out, "pwned")
os.makedirs(os.path.join(out, "ref"), exist_ok=True)
manifest = {}


def expected_bytes(t):
    """The values headstart must produce: floats as float32, int64 kept, small ints as int32."""
    t = t.detach().contiguous()
    if t.dtype.is_floating_point:
        return "float32", t.float().numpy().tobytes()
    if t.dtype == torch.int64:
        return "int64", t.numpy().tobytes()
    if t.dtype in (torch.int32, torch.int16, torch.int8):
        return "int32", t.int().numpy().tobytes()
    if t.dtype == torch.uint8:
        return "uint8", t.numpy().tobytes()
    if t.dtype == torch.bool:
        return "bool", t.to(torch.uint8).numpy().tobytes()
    raise ValueError(t.dtype)


def record(fixture, sd, prefix_strip=""):
    rows = []
    for i, (name, t) in enumerate(sd.items()):
        dtype, raw = expected_bytes(t)
        rel = f"ref/{fixture}-{i}.bin"
        with open(os.path.join(out, rel), "wb") as f:
            f.write(raw)
        rows.append({"name": name[len(prefix_strip):] if name.startswith(prefix_strip) else name,
                     "dtype": dtype, "shape": list(t.shape), "file": rel})
    manifest[fixture] = rows


# plain.pth ------------------------------------------------------------------------------
base = torch.randn(6, 8)
shared = torch.randn(10)
plain = collections.OrderedDict()
plain["conv.weight"] = torch.randn(4, 3, 3, 3)
plain["f64"] = torch.randn(3, 5, dtype=torch.float64)
plain["f16"] = (torch.randn(7) * 100).to(torch.float16)
plain["bf16"] = (torch.randn(2, 3) * 1e3).to(torch.bfloat16)
plain["f16_special"] = torch.tensor([0.0, -0.0, 6e-8, 65504.0, float("inf"), -float("inf")], dtype=torch.float16)
plain["i64"] = torch.tensor([-(2 ** 40), -1, 0, 7, 2 ** 62])
plain["num_batches_tracked"] = torch.tensor(12345)
plain["i32"] = torch.tensor([-5, 2 ** 31 - 1], dtype=torch.int32)
plain["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
plain["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
plain["u8"] = torch.arange(0, 256, 37, dtype=torch.uint8)
plain["bool"] = torch.tensor([True, False, True])
plain["transposed"] = base.t()                 # non-contiguous
plain["offset_rows"] = base[2:5]               # storage offset, contiguous
plain["stepped"] = base[1:, ::3]               # offset + strides
plain["base"] = base                           # shares storage with the three above
plain["shared_a"] = shared[:4]
plain["shared_b"] = shared[4:].view(2, 3)
plain["param"] = torch.nn.Parameter(torch.randn(3))
plain["scalar"] = torch.tensor(3.5)
plain["empty"] = torch.zeros(0, 3)
plain["expanded"] = torch.randn(3, 1).expand(3, 4)   # stride 0
torch.save(plain, os.path.join(out, "plain.pth"))
record("plain", plain)

# model.pth, wrapped.pth, model_key.pth, proto4.pth ----------------------------------------
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
    torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
with torch.no_grad():
    model(torch.randn(2, 3, 8, 8))  # moves BN running stats
model.train(False)
sd = model.state_dict()
torch.save(sd, os.path.join(out, "model.pth"))
record("model", sd)

wrapped_sd = collections.OrderedDict((f"module.{k}", v) for k, v in sd.items())
torch.save({"epoch": 3, "best_acc": 0.5, "arch": "x", "state_dict": wrapped_sd}, os.path.join(out, "wrapped.pth"))
record("wrapped", wrapped_sd, prefix_strip="module.")

opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(2, 3, 8, 8)).sum().backward()
opt.step()
torch.save({"model": sd, "optimizer": opt.state_dict()}, os.path.join(out, "model_key.pth"))
record("model_key", sd)

torch.save(sd, os.path.join(out, "proto4.pth"), pickle_protocol=4)
record("proto4", sd)

# files to refuse --------------------------------------------------------------------------
torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(out, "scripted.pt"))
torch.save({"state_dict": sd, "args": argparse.Namespace(lr=0.1)}, os.path.join(out, "namespace.pth"))


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {marker}",))


# Real torch.save layout with a malicious object in the dict (pickled as `posix system`).
torch.save({"weight": torch.ones(2), "evil": Evil()}, os.path.join(out, "evil_pickle.pth"))


def torch_like_zip(path, pkl):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")


# `os system` by name, as a hand-written protocol-2 pickle: os.system("touch MARKER").
cmd = f"touch {marker}".encode()
evil_os = (b"\x80\x02" + b"cos\nsystem\n" + b"q\x00" + b"X" + len(cmd).to_bytes(4, "little") + cmd
           + b"\x85" + b"R" + b".")
torch_like_zip(os.path.join(out, "evil_os.pth"), evil_os)


class EvilEval:
    def __reduce__(self):
        return (eval, (f"__import__('os').system('touch {marker}')",))


torch_like_zip(os.path.join(out, "evil_eval.pth"), pickle.dumps({"w": EvilEval()}, protocol=4))

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(json.dumps({"torch": torch.__version__, "fixtures": sorted(manifest)}))
