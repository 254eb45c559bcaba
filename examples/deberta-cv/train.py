"""A small text classifier with 5-fold cross-validation, for the Hydra + MLflow CV workflow's `hpo:` sweep.

The workflow fine-tunes DeBERTa-v3 to tell sentences that bind evidence (the rare, positive class) from those
that don't; here a bag-of-embeddings classifier in PyTorch learns the same kind of task on synthetic
sentences in about a second per fold on a CPU. Everything the sweep searches is the guide's: AdamW's learning
rate, batch size, epochs, warmup ratio, weight decay, and weighted cross-entropy or focal loss (gamma and
alpha only when the loss is focal).

`objective(params, trial)` trains one model per fold, calls `trial.report_fold(k, metrics)` after each (the
pruner sees fold k's macro F1 at step k and may stop a trial after a bad early fold), and returns nothing:
the trial's value is `metric.fold_aggregation` (mean) of its folds' macro F1. sweepkit stores every fold's
metrics and logs one MLflow grandchild run per fold.

`python train.py` runs one cross-validation with the config's defaults, without sweepkit.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

CONFIG = Path(__file__).parent / "configs" / "config.yaml"
VOCAB = 300
EVIDENCE = range(1, 16)  # token ids that tend to mark evidence sentences
N_SENTENCES = 600
POSITIVE_SHARE = 0.25  # evidence sentences are the minority class, as in the workflow
DEFAULTS = {
    "learning_rate": 0.02,
    "per_device_train_batch_size": 16,
    "num_train_epochs": 3,
    "warmup_ratio": 0.05,
    "weight_decay": 0.01,
    "loss_function": "weighted_ce",
}

torch.set_num_threads(1)  # a tiny model: threads cost more than they give, and trials share the CPU


def training_config() -> dict[str, Any]:
    """The project's own `training:` section of configs/config.yaml."""
    return dict(yaml.safe_load(CONFIG.read_text())["training"])


def make_data(seed: int, length: int) -> tuple[list[list[int]], list[int]]:
    """Synthetic sentences: an evidence sentence holds one or two evidence tokens among common words; other
    sentences hold one now and then too, and 5% of labels are wrong, so no model gets everything right."""
    rng = random.Random(seed)
    sentences, labels = [], []
    for _ in range(N_SENTENCES):
        label = int(rng.random() < POSITIVE_SHARE)
        words = [rng.randrange(16, VOCAB) for _ in range(rng.randint(length // 2, length))]
        cues = rng.randint(1, 2) if label else int(rng.random() < 0.25)
        for _ in range(cues):
            words.insert(rng.randrange(len(words) + 1), rng.choice(EVIDENCE))
        sentences.append(words[:length])
        labels.append(label if rng.random() > 0.05 else 1 - label)
    return sentences, labels


def folds(labels: list[int], n_folds: int, seed: int) -> list[list[int]]:
    """Stratified folds: each holds the same share of evidence sentences."""
    rng = random.Random(seed)
    out: list[list[int]] = [[] for _ in range(n_folds)]
    for cls in (0, 1):
        members = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(members)
        for j, i in enumerate(members):
            out[j % n_folds].append(i)
    return out


class BagOfEmbeddings(nn.Module):
    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(VOCAB, dim, mode="mean")
        self.head = nn.Linear(dim, 2)

    def forward(self, tokens: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens, offsets))


def _batch(sentences: list[list[int]], index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    chosen = [sentences[i] for i in index]
    offsets = torch.tensor([0] + [len(s) for s in chosen[:-1]]).cumsum(0)
    return torch.tensor([t for s in chosen for t in s]), offsets


def loss_fn(params: dict[str, Any], train_labels: torch.Tensor) -> Any:
    """Weighted cross-entropy (classes weighted by inverse frequency) or focal loss."""
    if params["loss_function"] == "weighted_ce":
        counts = torch.bincount(train_labels, minlength=2).float()
        return nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts))
    gamma, alpha = params["focal_gamma"], params["focal_alpha"]

    def focal(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
        a_t = torch.where(y == 1, 1 - alpha, alpha)  # alpha weighs the majority class, as in the paper's form
        return (-a_t * (1 - log_p.exp()) ** gamma * log_p).mean()

    return focal


def scores(y: list[int], prob: list[float]) -> dict[str, float]:
    """macro F1, the positive class's F1 and ROC AUC (the workflow's metrics), without scikit-learn."""
    pred = [int(p >= 0.5) for p in prob]

    def f1(cls: int) -> float:
        tp = sum(p == cls and t == cls for p, t in zip(pred, y, strict=True))
        fp = sum(p == cls and t != cls for p, t in zip(pred, y, strict=True))
        fn = sum(p != cls and t == cls for p, t in zip(pred, y, strict=True))
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    pos = [p for p, t in zip(prob, y, strict=True) if t == 1]
    neg = [p for p, t in zip(prob, y, strict=True) if t == 0]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return {"macro_f1": (f1(0) + f1(1)) / 2, "pos_f1": f1(1), "roc_auc": wins / (len(pos) * len(neg))}


def train_fold(params: dict[str, Any], sentences: list[list[int]], labels: list[int], train: list[int],
               valid: list[int], seed: int) -> dict[str, float]:  # fmt: skip
    torch.manual_seed(seed)
    model = BagOfEmbeddings()
    opt = torch.optim.AdamW(model.parameters(), lr=params["learning_rate"], weight_decay=params["weight_decay"])
    batch = int(params["per_device_train_batch_size"])
    total = math.ceil(len(train) / batch) * int(params["num_train_epochs"])
    warmup = max(1, int(total * params["warmup_ratio"]))
    # Linear warmup, then linear decay: transformers' default schedule, which the workflow uses.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / (total - warmup + 1))
    )
    y_all = torch.tensor(labels)
    criterion = loss_fn(params, y_all[train])
    rng = random.Random(seed)
    for _ in range(int(params["num_train_epochs"])):
        order = train[:]
        rng.shuffle(order)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            loss = criterion(model(*_batch(sentences, index)), y_all[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    with torch.no_grad():
        prob = torch.softmax(model(*_batch(sentences, valid)), dim=1)[:, 1].tolist()
    return scores([labels[i] for i in valid], prob)


def objective(params: dict[str, Any], trial: Any = None) -> None:
    """One trial: k-fold cross-validation, each fold reported as it ends."""
    config = training_config()
    sentences, labels = make_data(config["seed"], config["max_length"])
    splits = folds(labels, config["n_folds"], config["seed"])
    for k, valid in enumerate(splits):
        train = [i for j, split in enumerate(splits) if j != k for i in split]
        metrics = train_fold(params, sentences, labels, train, valid, seed=config["seed"] + k)
        if trial is None:
            print(f"fold {k}: " + " ".join(f"{name}={value:.4f}" for name, value in metrics.items()))
        else:
            trial.report_fold(k, metrics)  # may raise TrialPruned: the pruner stopped this trial at fold k


if __name__ == "__main__":
    objective(DEFAULTS)
