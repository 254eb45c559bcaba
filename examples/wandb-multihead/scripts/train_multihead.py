"""Train a small multi-head model, logging to Weights & Biases: the W&B multi-head workflow's training script.

Written as any W&B sweep script is (`wandb.init()`, hyperparameters from `wandb.config`, `wandb.log()` once per
epoch) and nothing in it knows about sweepkit. A stand-in for the guide's transformer on G-code sequences:
synthetic sequences (N, 8 tokens, 6 features), a shared transformer trunk and two heads, the G-code head
(8 classes) and the command head (4 classes), trained on `gcode_loss + command_weight * command_loss`. The
trunk is `d_model / 8` wide so a trial takes seconds on a CPU; `nhead` divides every width the sweep offers.
"""

from __future__ import annotations

import torch
import wandb
from torch import nn

DEFAULTS = {
    "learning_rate": 1e-3,
    "batch_size": 32,
    "d_model": 128,
    "nhead": 4,
    "num_layers": 2,
    "dropout": 0.2,
    "weight_decay": 1e-4,
    "augmentation_prob": 0.2,
    "max_epochs": 50,
    "label_smoothing": 0.1,
    "grad_clip": 1.0,
    "optimizer": "adamw",
    "command_weight": 1.0,
}
TOKENS, FEATURES, GCODES, COMMANDS = 8, 6, 8, 4


def synthetic(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences whose G-code class is the sign pattern of three features' sums over the sequence, and whose
    command class that of two others: two tasks that compete for the trunk's few units."""
    x = torch.randn(n, TOKENS, FEATURES, generator=generator)
    signs = (x.sum(dim=1) > 0).long()
    gcode = signs[:, 0] * 4 + signs[:, 1] * 2 + signs[:, 2]
    command = signs[:, 3] * 2 + signs[:, 4]
    return x, gcode, command


class MultiHead(nn.Module):
    def __init__(self, width: int, nhead: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Linear(FEATURES, width)
        self.position = nn.Parameter(torch.zeros(1, TOKENS, width))
        layer = nn.TransformerEncoderLayer(width, nhead, 2 * width, dropout, batch_first=True)
        self.trunk = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.gcode_head = nn.Linear(width * TOKENS, GCODES)
        self.command_head = nn.Linear(width, COMMANDS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(self.embed(x) + self.position)
        return self.gcode_head(h.flatten(1)), self.command_head(h.mean(dim=1))


def main() -> None:
    wandb.init(project="gcode-fingerprinting", config=DEFAULTS)
    config = wandb.config
    torch.manual_seed(0)
    torch.set_num_threads(1)  # several trials share the CPU
    data = torch.Generator().manual_seed(0)
    x_train, g_train, c_train = synthetic(128, data)
    x_val, g_val, c_val = synthetic(128, data)

    model = MultiHead(config.d_model // 8, config.nhead, config.num_layers, config.dropout)
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    optimizer = kinds[config.optimizer](model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    size = sum(p.numel() for p in model.parameters())

    for epoch in range(config.max_epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(x_train)).split(config.batch_size):
            x = x_train[batch]
            noisy = torch.rand(len(x)) < config.augmentation_prob  # augmentation: jitter some sequences
            x = torch.where(noisy[:, None, None], x + 0.1 * torch.randn_like(x), x)
            gcode, command = model(x)
            loss = criterion(gcode, g_train[batch]) + config.command_weight * criterion(command, c_train[batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            total += float(loss.detach()) * len(batch)

        model.eval()
        with torch.no_grad():
            gcode, command = model(x_val)
            val_loss = float(criterion(gcode, g_val) + criterion(command, c_val))
        wandb.log(
            {
                "epoch": epoch,
                "train/loss": total / len(x_train),
                "val/loss": val_loss,
                "val/gcode_acc": float((gcode.argmax(1) == g_val).float().mean()),
                "val/command_acc": float((command.argmax(1) == c_val).float().mean()),
                "model/params": size,
            }
        )
    wandb.finish()


if __name__ == "__main__":
    main()
