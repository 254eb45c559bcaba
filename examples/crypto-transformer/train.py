"""A small transformer that predicts the next move of a basket of crypto prices, for sweep.yaml.

The crypto-transformer workflow feeds sequences shaped (N, 24, 10, 2): 24 hourly steps of 10 coins, two
features each (return, volume change), and a target class per sequence. Here the data is synthetic and
small, made the same way every time: the target (down / flat / up) follows a few coins' recent returns, so
there is something to learn. Training is the workflow's: AdamW with weight decay, a linear learning-rate
warmup then cosine decay, label smoothing, gradient clipping, one validation loss per epoch reported for
median pruning.

Every epoch writes a checkpoint (model, optimizer, scheduler, epoch) to `trial.checkpoint_dir`. A trial cut
short (the machine rebooted, the run was killed) runs again when the sweep is run again, in the same folder:
it loads the checkpoint and goes on from the next epoch instead of starting over.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

STEPS, COINS, FEATURES, CLASSES = 24, 10, 2, 3
N_TRAIN, N_VAL = 512, 256

torch.set_num_threads(1)  # small matrices: more threads only wait on each other (and a shared CPU thrashes)


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 24, 10, 2) sequences and their (n,) classes: the day's returns of coins 0-2 decide, with noise."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, STEPS, COINS, FEATURES, generator=gen)
    signal = x[:, :, :3, 0].mean(dim=(1, 2))  # std 1/sqrt(72)
    noisy = signal + 0.03 * torch.randn(n, generator=gen)
    y = torch.bucketize(noisy, torch.tensor([-0.05, 0.05]))  # down, flat, up: about a third each
    return x, y


# As in the workflow: a CUDA GPU when there is one (sweepkit gives each trial its own with --gpu-ids), else the CPU.
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
TRAIN = tuple(t.to(DEVICE) for t in make_data(N_TRAIN, 0))
VAL = tuple(t.to(DEVICE) for t in make_data(N_VAL, 1))


class PriceTransformer(nn.Module):
    """Coins × features → an embedding per hour, widened to d_model, a transformer encoder over the hours,
    mean-pooled into the class scores."""

    def __init__(self, p: dict[str, Any]) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(COINS * FEATURES, p["embedding_dim"]), nn.GELU())
        self.widen = nn.Linear(p["embedding_dim"], p["d_model"])
        self.position = nn.Parameter(torch.zeros(1, STEPS, p["d_model"]))
        layer = nn.TransformerEncoderLayer(
            d_model=p["d_model"],
            nhead=p["num_heads"],
            dim_feedforward=p["feedforward_dim"],
            dropout=p["dropout"],
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=p["num_layers"], enable_nested_tensor=False)
        self.head = nn.Sequential(
            nn.LayerNorm(p["d_model"]), nn.Dropout(p["dropout"]), nn.Linear(p["d_model"], CLASSES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.widen(self.embed(x.flatten(2))) + self.position
        return self.head(self.encoder(h).mean(dim=1))


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule: linear warmup over `warmup` epochs, then cosine decay to 10% by `total`."""

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate(model: nn.Module, loss_fn: nn.Module) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(VAL[0])
        return float(loss_fn(logits, VAL[1])), float((logits.argmax(1) == VAL[1]).float().mean())


def save(path: Path, state: dict[str, Any]) -> None:
    """Write then rename: a run killed while saving leaves the previous checkpoint whole."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def objective(params: dict[str, Any], trial: Any) -> dict[str, float]:
    epochs = trial.max_steps or 10  # budget.steps, or --epochs-per-trial on the command line
    torch.manual_seed(trial.number)
    model = PriceTransformer(params).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params["learning_rate"], weight_decay=params["weight_decay"])
    scheduler = warmup_cosine(optimizer, params["warmup_epochs"], epochs)
    train_loss = nn.CrossEntropyLoss(label_smoothing=params["label_smoothing"])
    val_loss_fn = nn.CrossEntropyLoss()  # judged without smoothing, so trials compare fairly

    checkpoint = trial.checkpoint_dir / "last.pt"
    start, best = 0, math.inf
    if checkpoint.exists():  # this trial was cut short before: go on from its last epoch
        state = torch.load(checkpoint, map_location=DEVICE, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best = state["epoch"] + 1, state["best"]
        trial.log({"resumed_from_epoch": start})

    x, y = TRAIN
    gen = torch.Generator().manual_seed(trial.number)
    val_loss, accuracy = evaluate(model, val_loss_fn)  # the result as saved, if no epoch is left to train
    for epoch in range(start, epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen).to(DEVICE)
        for i in range(0, len(x), params["batch_size"]):
            batch = order[i : i + params["batch_size"]]
            optimizer.zero_grad()
            loss = train_loss(model(x[batch]), y[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), params["max_grad_norm"])
            optimizer.step()
        scheduler.step()
        val_loss, accuracy = evaluate(model, val_loss_fn)
        best = min(best, val_loss)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        save(checkpoint, {**state, "scheduler": scheduler.state_dict(), "epoch": epoch, "best": best})
        trial.report(val_loss, epoch)  # median pruning may stop the trial here
    return {"val_loss": val_loss, "val_accuracy": accuracy, "best_val_loss": best}
