"""Training time per family of a suite result CSV.

A row's `wall_s` is its experiment's share of the stacked groups' wall time (summed over its
seeds), repeated on each metric's row; a family's time is the sum over its experiments, each
counted once. Rows are assigned to families through the suite's own run lists, so a task that
two families use (S5 in groups and in compositional's serial-steps experiment) is counted where
each row belongs.

    python -m runners.family_time results/leaderboard-full.csv [--preset full]
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from runners.results_csv import KEY, format_knobs, read_results
from runners.suite import FAMILIES, FAMILY_BUDGET_S, PRESETS, suite_runs

EXPERIMENT = [k for k in KEY if k != "metric"]  # one experiment: its metric rows share wall_s


def _key(values) -> tuple:
    return tuple(str(v) for v in values)


def family_times(df: pd.DataFrame, preset: str) -> dict[str, float]:
    """{family: seconds} over the families with rows in df, plus 'unmatched' if some rows
    belong to no family of the preset."""
    rows = df.drop_duplicates(EXPERIMENT)
    owner = {}
    for fam in FAMILIES:
        for r in suite_runs(preset, [fam]):
            m, t = r.model, r.train
            key = _key([r.task, format_knobs(dict(r.knobs)), r.view, r.arch, m.n_layer, m.d_model, m.n_head,
                        m.n_loops, m.pos, t.steps, t.batch_size, t.lr])  # the columns of EXPERIMENT
            owner.setdefault(key, fam)
    out: dict[str, float] = {}
    for values, wall in zip(rows[EXPERIMENT].itertuples(index=False), rows["wall_s"]):
        fam = owner.get(_key(values), "unmatched")
        out[fam] = out.get(fam, 0.0) + float(wall)
    return out


def format_times(times: dict[str, float], preset: str = "full") -> str:
    """One line; budgets (FAMILY_BUDGET_S) are shown for the `full` preset, the one they are for."""
    parts = []
    for fam, sec in times.items():
        budget = FAMILY_BUDGET_S.get(fam) if preset == "full" else None
        over = " OVER" if budget is not None and sec > budget else ""
        parts.append(f"{fam} {sec:.0f}s" + (f" (budget {budget}s{over})" if budget else ""))
    return "training per family: " + ", ".join(parts) + f"; total {sum(times.values()):.0f}s"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv")
    p.add_argument("--preset", default="full", choices=PRESETS)
    a = p.parse_args(argv)
    print(format_times(family_times(read_results(a.csv), a.preset), a.preset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
