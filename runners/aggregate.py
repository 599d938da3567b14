"""Run records -> the result CSV: one row per experiment, model config, view and metric,
aggregated over seeds (schema in runners/results_csv.py and the README)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from runners.config import SUITE_VERSION, RunConfig
from runners.records import read_final
from runners.results_csv import COLUMNS, format_knobs

METRICS = ("answer_acc", "token_acc", "loss", "stage0_answer_acc")  # the last: curriculum runs only
METRIC_PREFIXES = ("nmse", "dist_")  # regression: nmse, nmse@k=05, ..., dist_ols, ...


def aggregate(runs: list[RunConfig], root) -> pd.DataFrame:
    """Mean/std/min/max over seeds of every metric. Every run must have a record."""
    root = Path(root)
    missing = [r.run_id for r in runs if not (root / r.run_id / "final.json").exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} run(s) have no record under {root} "
                                f"(first: {missing[0]}); run the sweep first")
    groups = defaultdict(list)
    for run in {r.run_id: r for r in runs}.values():
        groups[_experiment(run)].append(read_final(root, run.run_id))
    rows = []
    for key, recs in groups.items():
        cfg = recs[0]["config"]
        model, train = cfg["model"], cfg["train"]
        knobs = cfg["knobs"]
        metrics = sorted({m for rec in recs for m in rec["metrics"] if m in METRICS or m.startswith(METRIC_PREFIXES)})
        for metric in metrics:
            vals = np.array([rec["metrics"][metric] for rec in recs], dtype=float)
            rows.append({
                "suite_version": SUITE_VERSION, "task": cfg["task"], "knobs": format_knobs(knobs),
                "length": knobs.get("length", ""), "view": cfg["view"], "model": cfg.get("arch", "transformer"),
                "n_layer": model["n_layer"], "d_model": model["d_model"], "n_head": model["n_head"],
                "n_loops": model["n_loops"], "pos": model.get("pos", "learned"), "params": recs[0]["params"],
                "train_steps": train["steps"],
                "batch_size": train["batch_size"], "lr": train["lr"], "n_seeds": len(recs), "metric": metric,
                "mean": vals.mean(), "std": vals.std(ddof=1) if len(vals) > 1 else 0.0,
                "min": vals.min(), "max": vals.max(),
                "wall_s": round(sum(rec["wall_s"] / rec["group_size"] for rec in recs), 2),
                "device": recs[0]["device"], "git_sha": recs[0]["git_sha"]})
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["task", "knobs", "view", "n_layer", "d_model", "metric"]).reset_index(drop=True)


def _experiment(run: RunConfig) -> str:
    """Everything but the seed: the rows of one experiment."""
    d = run.to_dict()
    d.pop("seed")
    return repr(sorted((k, repr(v)) for k, v in d.items()))
