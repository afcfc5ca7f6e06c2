"""PyTorch side of bench/e2e.ts: the torchvision transfer-learning tutorial's train_model,
run on an ImageFolder dataset (train/, val/) with a given initial state dict.

  /usr/bin/python3 bench/e2e_torch.py init OUT.pth CLASSES SEED
      writes torchvision's resnet18 with Linear(512, CLASSES), randomly initialised by
      torch from SEED, as a state dict both sides load (same initial weights).
  /usr/bin/python3 bench/e2e_torch.py train DATA INIT MODE EPOCHS THREADS WORKERS SEED [MODEL] [LR] [SIZE]
      MODE finetune: every parameter trains (the tutorial's "finetuning the ConvNet");
      MODE features: requires_grad False on the backbone, only fc trains (the tutorial's
      "ConvNet as fixed feature extractor", BatchNorm still in train mode as there).
      Recipe: batch 8, SGD(lr 1e-3, momentum 0.9), StepLR(7, 0.1), cross-entropy;
      RandomResizedCrop(224) + RandomHorizontalFlip for train, Resize(256) + CenterCrop(224)
      for val, ImageNet mean/std; the best val epoch's weights are kept.
      MODE finetune_frozen_bn: every parameter trains with every BatchNorm in eval mode
      (running statistics fixed), as headstart's --freeze-bn.
      MODEL resnet18 (default; INIT a .pth) or mobilenet_v2_offline: the PyTorch twin of
      headstart's offline backbone (scripts/mobilenet_v2_offline_twin.py; INIT the
      .safetensors that scripts/export_offline_weights.ts writes, fc included), BatchNorm
      momentum torch's 0.1, its own preprocessing: RGB in [0, 1] without mean/std, and
      Resize(224) + CenterCrop(224) for val. LR default 1e-3. SIZE (offline
      only, default 224) replaces 224 in its crops.
      Prints one JSON line: per-epoch records, total seconds of train_model, best val acc.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, torchvision 0.14).
"""
import copy
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler
from torchvision import datasets, models, transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def init(out, classes, seed):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = models.resnet18()
    model.fc = nn.Linear(model.fc.in_features, classes)
    torch.save(model.state_dict(), out)
    print(json.dumps({"out": out, "classes": classes, "tensors": len(model.state_dict())}))


def offline_transforms(size):
    return {
        "train": transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor()]),
        "val": transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()]),
    }


def load_model(model_name, init_path):
    if model_name == "mobilenet_v2_offline":
        from mobilenet_v2_offline_twin import load_into, load_safetensors, twin

        state = load_safetensors(init_path)
        model = twin(state["fc.weight"].shape[0])
        load_into(model, state)
        return model
    state = torch.load(init_path)
    model = models.resnet18()
    model.fc = nn.Linear(model.fc.in_features, state["fc.weight"].shape[0])
    model.load_state_dict(state)
    return model


def train(data, init_pth, mode, epochs, threads, workers, seed, model_name="resnet18", lr=0.001, size=224):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data_transforms = offline_transforms(size) if model_name == "mobilenet_v2_offline" else {
        "train": transforms.Compose([
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]),
        "val": transforms.Compose([
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]),
    }
    image_datasets = {x: datasets.ImageFolder(f"{data}/{x}", data_transforms[x]) for x in ["train", "val"]}
    dataloaders = {
        x: torch.utils.data.DataLoader(image_datasets[x], batch_size=8, shuffle=True, num_workers=workers)
        for x in ["train", "val"]
    }
    dataset_sizes = {x: len(image_datasets[x]) for x in ["train", "val"]}

    model = load_model(model_name, init_pth)
    criterion = nn.CrossEntropyLoss()
    if mode == "features":
        for name, param in model.named_parameters():
            param.requires_grad = name.startswith("fc.")
        optimizer = optim.SGD(model.fc.parameters(), lr=lr, momentum=0.9)
    else:
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)

    records = []

    # The tutorial's train_model, with per-epoch timing added.
    since = time.time()
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0
    for epoch in range(epochs):
        epoch_start = time.time()
        rec = {"epoch": epoch + 1}
        for phase in ["train", "val"]:
            phase_start = time.time()
            if phase == "train":
                model.train()
                if mode == "finetune_frozen_bn":
                    for m in model.modules():
                        if isinstance(m, nn.BatchNorm2d):
                            m.eval()
            else:
                model.eval()
            running_loss = 0.0
            running_corrects = 0
            for inputs, labels in dataloaders[phase]:
                optimizer.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)
                    if phase == "train":
                        loss.backward()
                        optimizer.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            if phase == "train":
                scheduler.step()
            epoch_loss = running_loss / dataset_sizes[phase]
            epoch_acc = running_corrects.double().item() / dataset_sizes[phase]
            rec[f"{phase}_loss"] = epoch_loss
            rec[f"{phase}_acc"] = epoch_acc
            rec[f"{phase}_seconds"] = time.time() - phase_start
            if phase == "val" and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
        rec["seconds"] = time.time() - epoch_start
        records.append(rec)
        print(f"torch {mode} epoch {epoch + 1}/{epochs}: train acc {rec['train_acc']:.3f} val acc {rec['val_acc']:.3f} ({rec['seconds']:.1f} s)", file=sys.stderr, flush=True)
    time_elapsed = time.time() - since
    model.load_state_dict(best_model_wts)
    print(json.dumps({
        "mode": mode,
        "model": model_name,
        "lr": lr,
        "epochs": records,
        "seconds": time_elapsed,
        "best_val_acc": best_acc,
        "threads": torch.get_num_threads(),
        "workers": workers,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "init":
        init(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "train":
        data, init_pth, mode = sys.argv[2], sys.argv[3], sys.argv[4]
        epochs, threads, workers, seed = (int(v) for v in sys.argv[5:9])
        model_name = sys.argv[9] if len(sys.argv) > 9 else "resnet18"
        lr = float(sys.argv[10]) if len(sys.argv) > 10 else 0.001
        size = int(sys.argv[11]) if len(sys.argv) > 11 else 224
        train(data, init_pth, mode, epochs, threads, workers, seed, model_name, lr, size)
    else:
        raise SystemExit(f"unknown command {cmd}; see the docstring")
