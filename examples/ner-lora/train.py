"""A tiny NER model tuned the way LoRA fine-tuning is: a frozen "pretrained" base, a low-rank adapter of rank r
on its projection, a trainable tagging head; token classification (BIO tags) on synthetic sentences, on CPU.

As a sweep's function: `sweepkit run hyperopt.yaml --function train:objective` calls `objective(params, trial)`
per trial; it reports the validation entity F1 after every epoch (`trial.report`), so `combined` can stop a
poor trial at its rungs, and returns `{"eval_f1": ...}`.

As a script, the guide's `python scripts/train.py --config best.yaml`: `python train.py --config FILE` trains
once with the values in FILE's `lora:` and `training:` sections (the copy `sweepkit best --into` wrote).
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
VOCAB, LENGTH, EMBED = 300, 16, 32
TRAIN, VALID = 800, 400
DEFAULT_EPOCHS = 9


CUES = {"PER": [1, 2, 3], "LOC": [4, 5], "ORG": [6, 7]}  # "Mr", "Dr", "Ms"; "in", "near"; "at", "by"
NAMES = {"PER": range(10, 60), "LOC": range(40, 100), "ORG": range(80, 140)}  # overlapping pools
FILLER = range(140, VOCAB)


@cache
def dataset(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentences of random filler words with 1-3 entities each. An entity's words come from a pool shared by
    two types (a place and a company can have the same name), and the word before it is a cue that says which
    ("in" + name = LOC, "at" + name = ORG; a title before a person), so the tagger must read context, not only
    the word. 8% of the cues are swapped for filler, so no model gets everything right."""
    rng = np.random.default_rng(seed)
    X = rng.choice(np.array(FILLER), size=(TRAIN + VALID, LENGTH))
    Y = np.zeros_like(X)
    for i in range(len(X)):
        at = 0
        for _ in range(rng.integers(1, 4)):
            kind = rng.choice(["PER", "LOC", "ORG"])
            span = int(rng.integers(1, 4))
            start = at + int(rng.integers(1, 3))
            if start + span >= LENGTH:
                break
            if rng.random() > 0.08:
                X[i, start - 1] = rng.choice(CUES[kind])
            X[i, start : start + span] = rng.choice(np.array(NAMES[kind]), size=span)
            begin = TAGS.index(f"B-{kind}")
            Y[i, start], Y[i, start + 1 : start + span] = begin, begin + 1
            at = start + span
    X_t, Y_t = torch.tensor(X), torch.tensor(Y)
    return X_t[:TRAIN], Y_t[:TRAIN], X_t[TRAIN:], Y_t[TRAIN:]


class LoRALinear(nn.Module):
    """A frozen linear layer W0 plus the low-rank update (alpha / r) * B @ A, only A and B trained (LoRA)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))  # zero: training starts from the base model
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * (self.dropout(x) @ self.A.T @ self.B.T)


def pretrained_embeddings(generator: torch.Generator) -> torch.Tensor:
    """What pretraining would have taught: each word's vector leans toward its word class (a person's title, a
    place cue, a name seen as a company, filler, ...), plus noise of its own."""
    weights = 0.5 * torch.randn(VOCAB, EMBED, generator=generator)
    groups = [*CUES.values(), *NAMES.values(), FILLER]
    for group in groups:
        weights[list(group)] += torch.randn(EMBED, generator=generator)
    return weights


class Tagger(nn.Module):
    """Frozen base (embeddings, a context layer over each word and its neighbours) + LoRA + a tagging head."""

    def __init__(self, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(1234)  # the "pretrained" base is the same in every trial
        self.embed = nn.Embedding(VOCAB, EMBED).requires_grad_(False)
        self.embed.weight.data = pretrained_embeddings(generator)
        context = nn.Linear(3 * EMBED, 64)
        context.weight.data = torch.randn(64, 3 * EMBED, generator=generator) / math.sqrt(3 * EMBED)
        context.bias.data.zero_()
        self.context = LoRALinear(context, r, alpha, dropout)
        self.head = nn.Linear(64, len(TAGS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x)
        pad = torch.zeros_like(e[:, :1])
        window = torch.cat([torch.cat([pad, e[:, :-1]], 1), e, torch.cat([e[:, 1:], pad], 1)], dim=-1)
        return self.head(torch.tanh(self.context(window)))


def spans(tags: list[int]) -> set[tuple[int, int, str]]:
    """Entity spans (start, end, type) of a BIO tag sequence, as seqeval reads them (written out here: ten
    lines instead of a dependency for one metric)."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, 0]):
        name = TAGS[tag]
        if start is not None and not (name.startswith("I-") and name[2:] == kind):
            out.add((start, i, kind))
            start = None
        if name.startswith("B-") or (name.startswith("I-") and start is None):
            start, kind = i, name[2:]
    return out


def entity_f1(gold: torch.Tensor, predicted: torch.Tensor) -> float:
    """Micro F1 over exact entity spans, the usual NER metric (`eval_f1`)."""
    hit = n_gold = n_pred = 0
    for g, p in zip(gold.tolist(), predicted.tolist(), strict=True):
        gs, ps = spans(g), spans(p)
        hit, n_gold, n_pred = hit + len(gs & ps), n_gold + len(gs), n_pred + len(ps)
    return 0.0 if hit == 0 else 2 * hit / (n_gold + n_pred)


def train(params: dict[str, Any], epochs: int, report: Any = None, seed: int = 0) -> float:
    """Train with `params`; after each epoch `report(f1, epoch)` (which may stop the trial). Returns the last F1."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    X, Y, X_val, Y_val = dataset()
    model = Tagger(int(params["lora_r"]), float(params["lora_alpha"]), float(params["lora_dropout"]))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=float(params["learning_rate"]), weight_decay=0.01)
    batch = int(params.get("per_device_train_batch_size", 16))
    total = epochs * math.ceil(len(X) / batch)
    warmup = int(float(params["warmup_ratio"]) * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warmup, then linear decay, as transformers does
        optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    f1 = 0.0
    for epoch in range(epochs):
        model.train()
        for rows in torch.randperm(len(X)).split(batch):
            loss = nn.functional.cross_entropy(model(X[rows]).reshape(-1, len(TAGS)), Y[rows].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            f1 = entity_f1(Y_val, model(X_val).argmax(-1))
        if report is not None:
            report(f1, epoch)
    return f1


def objective(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """One trial: `trial.max_steps` epochs (`--epochs-per-trial`), F1 reported after each."""
    epochs = trial.max_steps or DEFAULT_EPOCHS
    return {"eval_f1": train(params, epochs, trial.report, seed=trial.number)}


def main(argv: list[str] | None = None) -> int:
    """`python train.py --config best.yaml`: one training run with the config's `lora:` and `training:` values."""
    import yaml

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text())
    params = {**config["lora"], **config["training"]}
    epochs = int(params.pop("num_train_epochs", DEFAULT_EPOCHS))
    f1 = train(params, epochs)
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    print(f"trained {epochs} epochs with {shown}: eval_f1 = {f1:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
