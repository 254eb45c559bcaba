"""Train a small classifier on scikit-learn's digits, logging to Weights & Biases.

A stand-in for the sweep guide's scripts/train_multihead.py, written as any W&B sweep script is:
`wandb.init()`, hyperparameters from `wandb.config`, `wandb.log()` once per epoch. Nothing in it knows
about sweepkit. The model is a NumPy MLP (`num_layers` hidden layers of `d_model / 8` units: digits are
8x8 pixels, and a trial should take seconds) with dropout, label smoothing, gradient clipping and
Adam/AdamW/SGD, so that the sweep's parameters mean what they say; `nhead` and `command_weight` belong to
the guide's multi-head transformer and are only recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import wandb
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

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


def init_params(sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    return params


def forward(
    params: list[np.ndarray], x: np.ndarray, *, dropout: float = 0.0, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray | None]]]:
    """Logits, and what backward() needs: each layer's input and dropout mask."""
    cache = []
    for i in range(0, len(params) - 2, 2):
        h = np.maximum(x @ params[i] + params[i + 1], 0.0)
        mask = None
        if dropout > 0.0:
            assert rng is not None
            mask = (rng.random(h.shape) >= dropout) / (1.0 - dropout)
            h = h * mask
        cache.append((x, mask))
        x = h
    cache.append((x, None))
    return x @ params[-2] + params[-1], cache


def loss_and_grads(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray, config: Any, rng: np.random.Generator
) -> tuple[float, list[np.ndarray]]:
    logits, cache = forward(params, x, dropout=config.dropout, rng=rng)
    classes = params[-1].shape[0]
    target = np.full((len(y), classes), config.label_smoothing / classes)
    target[np.arange(len(y)), y] += 1.0 - config.label_smoothing
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = float(-(target * np.log(probs + 1e-12)).sum(axis=1).mean())
    delta = (probs - target) / len(y)
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    for layer in range(len(cache) - 1, -1, -1):
        x_in, _ = cache[layer]
        grads[2 * layer] = x_in.T @ delta
        grads[2 * layer + 1] = delta.sum(axis=0)
        if layer:
            delta = delta @ params[2 * layer].T * (x_in > 0)
            mask = cache[layer - 1][1]
            if mask is not None:
                delta = delta * mask
    return loss, grads


class Optimizer:
    """SGD with momentum, Adam (L2 in the gradient) or AdamW (decoupled weight decay)."""

    def __init__(self, kind: str, params: list[np.ndarray], lr: float, weight_decay: float) -> None:
        self.kind, self.lr, self.wd, self.t = kind, lr, weight_decay, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if self.kind != "adamw":
                g = g + self.wd * p
            if self.kind == "sgd":
                self.m[i] = 0.9 * self.m[i] + g
                p -= self.lr * self.m[i]
                continue
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            m_hat = self.m[i] / (1 - 0.9**self.t)
            v_hat = self.v[i] / (1 - 0.999**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            if self.kind == "adamw":
                p -= self.lr * self.wd * p


def main() -> None:
    wandb.init(project="gcode-fingerprinting", config=DEFAULTS)
    config = wandb.config

    rng = np.random.default_rng(0)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    params = init_params([X.shape[1]] + [config.d_model // 8] * config.num_layers + [10], rng)
    optimizer = Optimizer(config.optimizer, params, config.learning_rate, config.weight_decay)

    best = 0.0
    for epoch in range(config.max_epochs):
        order = rng.permutation(len(X_train))
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            x = X_train[batch]
            noisy = rng.random(len(x)) < config.augmentation_prob  # augmentation: pixel noise
            x = np.where(noisy[:, None], np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1), x)
            loss, grads = loss_and_grads(params, x, y_train[batch], config, rng)
            norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
            if norm > config.grad_clip:
                grads = [g * (config.grad_clip / norm) for g in grads]
            optimizer.step(params, grads)
            losses.append(loss)

        logits, _ = forward(params, X_val)
        val_acc = float((logits.argmax(axis=1) == y_val).mean())
        best = max(best, val_acc)
        wandb.log({"epoch": epoch, "train/loss": float(np.mean(losses)), "val/gcode_acc": val_acc})

    wandb.run.summary["best_val_acc"] = best
    wandb.finish()


if __name__ == "__main__":
    main()
