"""PyTorch side of bench/e2e-real-same-batches.ts: trains the twin of mobilenet_v2_offline
(scripts/mobilenet_v2_offline_twin.py) on the exact tensors headstart's loader produced, in
headstart's order, with the recipe (SGD lr momentum 0.9, StepLR(7, 0.1) per epoch,
cross-entropy, BatchNorm momentum 0.1; BatchNorm in eval mode with --freeze-bn), evaluates on
headstart's val tensors after each epoch, and prints per step both sides' losses and per
epoch both sides' accuracies, then one JSON line. With "headstart": null in META
(bench/e2e-real-pipelines.ts) only the twin trains, and only its figures are printed.

  /usr/bin/python3 bench/e2e_torch_same_batches.py META.json
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from mobilenet_v2_offline_twin import load_into, load_safetensors, twin  # noqa: E402


def batches(dump, split, sizes, side):
    images = np.memmap(f"{dump}-{split}.f32", dtype="<f4", mode="r")
    labels = np.fromfile(f"{dump}-{split}.i32", dtype="<i4")
    per = 3 * side * side
    at = 0
    for n in sizes:
        x = torch.from_numpy(np.array(images[at * per:(at + n) * per]).reshape(n, 3, side, side))
        y = torch.from_numpy(labels[at:at + n].astype(np.int64))
        at += n
        yield x, y


def main(meta_path):
    with open(meta_path) as f:
        meta = json.load(f)
    torch.set_num_threads(meta["threads"])
    side = meta["size"]
    state = load_safetensors(meta["init"])
    model = twin(meta["num_classes"])
    load_into(model, state)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=meta["lr"], momentum=0.9)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    # A float64 copy trained in lockstep on the same batches: the yardstick for both fp32 sides' drift.
    ref = None
    if meta.get("fp64"):
        ref = twin(meta["num_classes"])
        load_into(ref, state)
        ref = ref.double()
        ref_opt = optim.SGD(ref.parameters(), lr=meta["lr"], momentum=0.9)
        ref_sched = lr_scheduler.StepLR(ref_opt, step_size=7, gamma=0.1)
    hs = meta["headstart"]
    runs = meta.get("headstart_runs") or ([hs] if hs is not None else [])
    for r in runs:
        r.setdefault("engine_used", "headstart")
    drift = {}
    epochs = []
    worst_rel = []
    for e, sizes in enumerate(meta["train_sizes"]):
        for net in [model] + ([ref] if ref is not None else []):
            net.train()
            if meta["freeze_bn"]:
                for m in net.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()
        correct = 0
        total_loss = 0.0
        seen = 0
        step_losses = []
        ref_losses = []
        for i, (x, y) in enumerate(batches(meta["dump"], f"train-{e + 1}", sizes, side)):
            optimizer.zero_grad()
            out = model(x)
            loss = criterion(out, y)
            loss.backward()
            optimizer.step()
            step_losses.append(loss.item())
            if ref is not None:
                ref_opt.zero_grad()
                l64 = criterion(ref(x.double()), y)
                l64.backward()
                ref_opt.step()
                ref_losses.append(l64.item())
            correct += (out.argmax(1) == y).sum().item()
            total_loss += loss.item() * len(y)
            seen += len(y)
        scheduler.step()
        if ref is not None:
            ref_sched.step()
        model.eval()
        vc = 0
        vl = 0.0
        vn = 0
        with torch.no_grad():
            for x, y in batches(meta["dump"], "val", meta["val_sizes"], side):
                out = model(x)
                vl += criterion(out, y).item() * len(y)
                vc += (out.argmax(1) == y).sum().item()
                vn += len(y)
        if hs is None:
            rec = {"epoch": e + 1, "torch_train_loss": total_loss / seen, "torch_train_acc": correct / seen, "torch_val_loss": vl / vn, "torch_val_acc": vc / vn}
            epochs.append(rec)
            print(f"epoch {e + 1}: PyTorch on these batches: train acc {rec['torch_train_acc']:.3f} val acc {rec['torch_val_acc']:.3f}", file=sys.stderr, flush=True)
            continue
        ours = hs["losses"][e]
        rel = [abs(a - b) / max(abs(b), 1e-6) for a, b in zip(ours, step_losses)]
        worst_rel.append(max(rel))
        if ref is None:
            print(f"\nepoch {e + 1}: step | headstart loss | PyTorch loss (same batch) | rel. diff", file=sys.stderr)
            for i, (a, b) in enumerate(zip(ours, step_losses)):
                print(f"  {i + 1:3d} | {a:.5f} | {b:.5f} | {abs(a - b) / max(abs(b), 1e-6):.1e}", file=sys.stderr)
        else:
            names = [f"headstart {r['engine_used']}" for r in runs]
            print(f"\nepoch {e + 1}: step | {' | '.join(names)} | PyTorch fp32 | PyTorch fp64 | {' | '.join(n + ' - fp64' for n in names)} | fp32 - fp64 (rel.)", file=sys.stderr)
            for i, c in enumerate(ref_losses):
                ls = [r["losses"][e][i] for r in runs]
                cells = " | ".join(f"{a:.5f}" for a in ls)
                drifts = " | ".join(f"{abs(a - c) / c:.1e}" for a in ls)
                print(f"  {i + 1:3d} | {cells} | {step_losses[i]:.5f} | {c:.5f} | {drifts} | {abs(step_losses[i] - c) / c:.1e}", file=sys.stderr)
            for label, ls in [(n, r["losses"][e]) for n, r in zip(names, runs)] + [("PyTorch fp32", step_losses)]:
                drift.setdefault(label, []).extend(abs(a - c) / c for a, c in zip(ls, ref_losses))
        rec = {
            "epoch": e + 1,
            "torch_train_loss": total_loss / seen,
            "torch_train_acc": correct / seen,
            "torch_val_loss": vl / vn,
            "torch_val_acc": vc / vn,
            "hs_train_loss": hs["epochs"][e]["train_loss"],
            "hs_train_acc": hs["epochs"][e]["train_acc"],
            "hs_val_loss": hs["epochs"][e]["val_loss"],
            "hs_val_acc": hs["epochs"][e]["val_acc"],
            "worst_step_loss_rel_diff": max(rel),
            "first_step_loss": [ours[0], step_losses[0]],
        }
        if len(runs) > 1:
            rec["hs_runs"] = [{"engine_used": r["engine_used"], **r["epochs"][e]} for r in runs]
        epochs.append(rec)
        print(
            f"epoch {e + 1}: train acc headstart {rec['hs_train_acc']:.3f} PyTorch {rec['torch_train_acc']:.3f}; "
            f"val acc headstart {rec['hs_val_acc']:.3f} PyTorch {rec['torch_val_acc']:.3f}; "
            f"val loss {rec['hs_val_loss']:.4f} vs {rec['torch_val_loss']:.4f}; worst step-loss rel. diff {max(rel):.1e}",
            flush=True,
        )
        for r in runs[1:]:
            x = r["epochs"][e]
            print(f"epoch {e + 1}: headstart {r['engine_used']}: train acc {x['train_acc']:.3f} val acc {x['val_acc']:.3f} val loss {x['val_loss']:.4f}", flush=True)
    summary = {}
    if drift:
        # Per-step loss drift from the float64 twin (relative), over all steps, and over steps 7+ (after the first few, where it is tiny).
        print("\nper-step loss drift from float64 (relative): side | median all steps | median steps 7+ | mean | max", flush=True)
        for label, d in drift.items():
            later = d[6:] if len(d) > 6 else d
            summary[label] = {"median": float(np.median(d)), "median_from_7": float(np.median(later)), "mean": float(np.mean(d)), "max": float(np.max(d)), "steps": len(d)}
            x = summary[label]
            print(f"  {label} | {x['median']:.2e} | {x['median_from_7']:.2e} | {x['mean']:.2e} | {x['max']:.2e}", flush=True)
        t32 = summary["PyTorch fp32"]["median_from_7"]
        for label in summary:
            if label != "PyTorch fp32":
                print(f"  {label} / PyTorch fp32 (median steps 7+): {summary[label]['median_from_7'] / max(t32, 1e-12):.2f}", flush=True)
    print(json.dumps({"same_batches": epochs, "loss_drift_from_fp64": summary, "torch": torch.__version__}))


if __name__ == "__main__":
    main(sys.argv[1])
