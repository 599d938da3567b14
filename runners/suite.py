"""SUITE_V1: the frozen experiments behind every figure and leaderboard row.

Presets: `smoke` (CPU, minutes, tiny models: CI and a laptop), `full` (one GPU, every
figure, well under 10 minutes), `paper` (the papers' longer budgets; hours; shard it with
--shard i/n). Each family lists its experiments in runners/suites/<family>.py.
"""
from __future__ import annotations

from runners.config import SUITE_VERSION, RunConfig
from runners.suites import arithmetic, compositional, graphs, groups, regression, rnn

PRESETS = ("smoke", "full", "paper")
FAMILIES = {"groups": groups, "graphs": graphs, "arithmetic": arithmetic, "compositional": compositional,
            "regression": regression, "rnn": rnn}
# Families whose `full` part was timed on a GPU within its budget (README, "Status of the families",
# says which of the papers' claims each one re-measures at that budget); the reference leaderboard
# is made from these. `rnn` (880 s of training on an H100 at d 1024: its recurrences run position
# by position) runs with `--family rnn` (or `--family all`); its reference is leaderboard-full-rnn.csv.
DEFAULT_FAMILIES = ("groups", "arithmetic", "graphs", "regression", "compositional")
# Each default family's share of the `full` preset's 10 minutes on one H100, in seconds of training
# (the issues' budgets); `python -m runners.family_time CSV` sums a result CSV per family.
FAMILY_BUDGET_S = {"groups": 120, "arithmetic": 120, "graphs": 150, "regression": 90, "compositional": 90}


def suite_experiments(preset: str, families=None) -> dict[str, list[RunConfig]]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {PRESETS}")
    out = {}
    for name in _family_names(families):
        out.update(FAMILIES[name].experiments(preset))
    return out


def _family_names(families) -> list[str]:
    names = list(families or DEFAULT_FAMILIES)
    if "all" in names:
        names = list(FAMILIES)
    bad = sorted(set(names) - set(FAMILIES))
    if bad:
        raise ValueError(f"unknown family {bad}; valid: {sorted(FAMILIES)} or all")
    return names


def suite_interleave(preset: str, families=None) -> dict[str, int]:
    """run_id -> how many groups its experiment trains at once on a GPU, for the experiments a family
    module lists in INTERLEAVE (experiment -> width): many small groups, launch-bound on a GPU."""
    widths = {}
    for name in _family_names(families):
        plan = getattr(FAMILIES[name], "INTERLEAVE", {})
        for exp, runs in FAMILIES[name].experiments(preset).items():
            widths.update({r.run_id: plan[exp] for r in runs if exp in plan})
    return widths


def suite_runs(preset: str, families=None) -> list[RunConfig]:
    runs = [r for exp in suite_experiments(preset, families).values() for r in exp]
    return list({r.run_id: r for r in runs}.values())


def shard(groups: list, spec: str | None) -> list:
    """'i/n' keeps every n-th group starting at i (0-based); whole groups stay together."""
    if not spec:
        return groups
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {spec!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {spec}: need 0 <= i < n")
    return groups[i::n]


__all__ = ["SUITE_VERSION", "PRESETS", "suite_runs", "suite_experiments", "suite_interleave", "shard"]
