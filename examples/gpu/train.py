"""A small PyTorch regression model trained epoch by epoch on the GPU its slot was given.

sweepkit sets CUDA_VISIBLE_DEVICES per trial (`gpus_per_trial`, `--gpu-ids`), so the program just uses
`cuda` (device 0 of what it can see); without a GPU it trains on the CPU. The trial's seed comes from
SWEEPKIT_TRIAL_SEED (the GPU sweep farm's reproducibility: Python, NumPy and torch seeds, deterministic kernels).
"""

from __future__ import annotations

import argparse
import os
import random

import numpy as np
import torch

import sweepkit

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--width", type=int, default=256)
parser.add_argument("--epochs", type=int, default=8)
args, _ = parser.parse_known_args()

seed = int(os.environ.get("SWEEPKIT_TRIAL_SEED", "0"))
random.seed(seed)
np.random.seed(seed)
torch.manual_seed(seed)
torch.use_deterministic_algorithms(True, warn_only=True)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
generator = torch.Generator().manual_seed(1234)  # the same data for every trial
x = torch.randn(20_000, 64, generator=generator)
w = torch.randn(64, 1, generator=generator)
y = torch.sin(x @ w) + 0.1 * torch.randn(20_000, 1, generator=generator)
x, y = x.to(device), y.to(device)
train, val = slice(0, 16_000), slice(16_000, None)

model = torch.nn.Sequential(
    torch.nn.Linear(64, args.width), torch.nn.ReLU(), torch.nn.Linear(args.width, args.width), torch.nn.ReLU(),
    torch.nn.Linear(args.width, 1),
).to(device)  # fmt: skip
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
run = sweepkit.init()
for epoch in range(args.epochs):
    model.train()
    for batch in torch.randperm(16_000, device=device).split(256):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[train][batch]), y[train][batch])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val_loss = torch.nn.functional.mse_loss(model(x[val]), y[val]).item()
    run.log({"val_loss": val_loss, "device": str(device), "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES", "")},
            step=epoch)  # fmt: skip
