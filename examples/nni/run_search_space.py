"""Sweep the bare NNI search space (search_space.json) from Python.

A bare search-space file holds parameters only, so the rest of the sweep is given here: the file's
contents go in as `searchSpace` of a dict spec (which makes it an NNI-style sweep: metric "default",
maximized), and the objective is passed directly.

    python run_search_space.py
"""

from __future__ import annotations

import json
from pathlib import Path

from train import objective

import sweepkit

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    space = json.loads((HERE / "search_space.json").read_text())
    spec = {"experimentName": "wine-pipeline-bare", "searchSpace": space, "maxTrialNumber": 10}
    result = sweepkit.run(spec, objective=objective, cwd=HERE)
    print(f"best accuracy {result.best_value:.4f} with {result.best_params}")
