"""LeNet-5 on real CIFAR-10: tamrin's recipe vs the PyTorch tutorial's loop, in one process.

(a) tamrin: `cifar10-lenet` through the runner, exactly as a user runs it (the same code path).
(b) reference: the PyTorch CIFAR-10 tutorial as written — a Dataset whose `__getitem__` turns one
    image into a normalized tensor (ToTensor + Normalize(0.5, 0.5), done with torch ops because
    torchvision is not usable here), a DataLoader with batch 4, shuffle and 2 workers, SGD lr 0.001
    momentum 0.9; plus one validation pass per epoch so time-to-accuracy can be read.

Both train on the same 45,000 training images and are scored on the same 5,000-image
validation hold-out. Inside the timers: training steps and the per-epoch validation pass.
Outside: decoding the data set from disk (shared by both) and process start-up.
Reported: training images/s, time to first reach `--target` validation accuracy, and ratios.

    TAMRIN_DATA=../shared/datasets python benchmarks/bench_lenet_cifar10.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import tamrin
from tamrin.data.datasets import load_images
from tamrin.data.splits import stratified_holdout
from tamrin.data.store import DataStore
from tamrin.runner import git_commit
from tamrin.train.device import cpu_cores


class TutorialNet(nn.Module):
    """The tutorial's Net, verbatim in structure."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class TutorialDataset(Dataset):
    """One image per `__getitem__`: HWC uint8 -> CHW float in [0, 1] -> (x - 0.5) / 0.5."""

    def __init__(self, images_nchw: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images_nchw.permute(0, 2, 3, 1).contiguous().numpy()  # as PIL would hold it
        self.labels = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i]).permute(2, 0, 1).float().div(255)  # ToTensor
        return (x - 0.5) / 0.5, self.labels[i]  # Normalize((0.5,)*3, (0.5,)*3)


def run_reference(ds: object, target: float, max_epochs: int) -> dict:
    tr, va = stratified_holdout(ds.train_y.numpy(), 0.1, 0)  # type: ignore[attr-defined]
    train = TutorialDataset(ds.train_x[tr], ds.train_y[tr])  # type: ignore[attr-defined]
    val = TutorialDataset(ds.train_x[va], ds.train_y[va])  # type: ignore[attr-defined]
    loader = DataLoader(train, batch_size=4, shuffle=True, num_workers=2)
    val_loader = DataLoader(val, batch_size=4, shuffle=False, num_workers=2)
    torch.manual_seed(0)
    net = TutorialNet()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    elapsed, train_s, reached, epochs = 0.0, 0.0, None, []
    for epoch in range(max_epochs):
        t0 = time.perf_counter()
        for inputs, labels in loader:
            opt.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            opt.step()
        t1 = time.perf_counter()
        correct = total = 0
        with torch.no_grad():
            for inputs, labels in val_loader:
                correct += (net(inputs).argmax(1) == labels).sum().item()
                total += labels.shape[0]
        t2 = time.perf_counter()
        train_s += t1 - t0
        elapsed += t2 - t0
        acc = correct / total
        epochs.append({"epoch": epoch + 1, "val_acc": acc, "seconds": elapsed})
        print(f"  reference epoch {epoch + 1}: val acc {acc:.4f} at {elapsed:.1f} s", flush=True)
        if acc >= target:
            reached = elapsed
            break
    return {
        "images_per_s": len(train) * len(epochs) / train_s,
        "time_to_target_s": reached,
        "epochs": epochs,
        "train_s": train_s,
    }


def run_tamrin(target: float, data_dir: str | None, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        result = tamrin.run("cifar10-lenet", seed=seed, data_dir=data_dir, out=out, quiet=True)
        history = result.history  # type: ignore[union-attr]
        n_train = 45_000
        elapsed, reached, epochs = 0.0, None, []
        for row in history:
            elapsed = row["seconds"] + (epochs[-1]["seconds"] if epochs else 0.0)
            epochs.append(
                {"epoch": int(row["epoch"]), "val_acc": row["val_acc"], "seconds": elapsed}
            )
            if reached is None and row["val_acc"] >= target:
                reached = elapsed
        return {
            "images_per_s": n_train * len(history) / elapsed,
            "time_to_target_s": reached,
            "epochs": epochs,
            "train_s": elapsed,
            "test_accuracy": result.metric("test.accuracy"),
        }  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.55, help="validation accuracy to reach")
    parser.add_argument("--max-epochs", type=int, default=6, help="reference epoch cap")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results"), help="folder or .json"
    )
    args = parser.parse_args()
    torch.set_num_threads(cpu_cores())
    ds = load_images("cifar10", DataStore(args.data_dir))
    print("tamrin cifar10-lenet ...", flush=True)
    ours = run_tamrin(args.target, args.data_dir, seed=0)
    print(
        f"  tamrin: {ours['images_per_s']:.0f} img/s, {args.target:.0%} val acc at "
        f"{ours['time_to_target_s']} s",
        flush=True,
    )
    print("reference (PyTorch tutorial loop) ...", flush=True)
    ref = run_reference(ds, args.target, args.max_epochs)
    result = {
        "benchmark": "lenet-cifar10",
        "target_val_acc": args.target,
        "tamrin": ours,
        "reference": ref,
        "images_per_s_ratio": ours["images_per_s"] / ref["images_per_s"],
        "time_to_target_ratio": (
            ref["time_to_target_s"] / ours["time_to_target_s"]
            if ref["time_to_target_s"] and ours["time_to_target_s"]
            else None
        ),
        "env": {
            "torch": torch.__version__,
            "tamrin": tamrin.__version__,
            "cores": cpu_cores(),
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "host_cpu_flags_avx512_bf16": "avx512_bf16" in Path("/proc/cpuinfo").read_text()
            if Path("/proc/cpuinfo").exists()
            else None,
        },
    }
    out = Path(args.out)  # a .json file (tamrin bench), or a folder for the default name
    path = (
        out
        if out.suffix == ".json"
        else out / f"lenet-cifar10-{platform.machine()}-{cpu_cores()}cores.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("images_per_s_ratio", "time_to_target_ratio")}))
    print(f"written {path}")
    os._exit(0)  # DataLoader workers: exit without waiting on their teardown


if __name__ == "__main__":
    main()
