"""PyTorch side of bench/models.ts: eval-mode inference images/s of one torchvision
architecture (random weights), batch B at 224x224, under torch.no_grad with T threads.
Variants: 'eager' (the plain module), 'channels_last', and 'jit' (torch.jit.trace +
torch.jit.optimize_for_inference: BatchNorm folded into the convs, oneDNN layouts). Each
variant: W warm-up runs, then R timed runs. Prints one JSON object on stdout.
Run with Debian's /usr/bin/python3; bench/models.ts sets the tuned-malloc environment.

usage: models_bench.py NAME BATCH THREADS WARMUP RUNS VARIANT...
"""
import json
import sys
import time

import torch
import torchvision


def main():
    name, batch, threads, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    variants = sys.argv[6:] or ["eager"]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    builder = getattr(torchvision.models, name, None)
    if builder is None:
        json.dump({"name": name, "skip": f"torchvision {torchvision.__version__} has no model `{name}`"}, sys.stdout)
        return
    x = torch.randn(batch, 3, 224, 224)
    out = {"name": name, "torch": torch.__version__, "threads": threads, "variants": {}, "cpu": {}}
    with torch.no_grad():
        for variant in variants:
            model = builder().eval()
            inp = x
            if variant == "channels_last":
                model = model.to(memory_format=torch.channels_last)
                inp = x.contiguous(memory_format=torch.channels_last)
            elif variant == "jit":
                model = torch.jit.optimize_for_inference(torch.jit.trace(model, x))
            elif variant != "eager":
                raise SystemExit(f"unknown variant {variant}")
            for _ in range(warmup):
                model(inp)
            seconds = []
            cpu = []
            for _ in range(runs):
                c0 = time.process_time()
                t0 = time.perf_counter()
                model(inp)
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            out["variants"][variant] = seconds
            out["cpu"][variant] = cpu
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
