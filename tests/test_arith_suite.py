"""The arithmetic family of SUITE_V1: its experiments, its figures and the data-generation probe.

The figures are drawn from a CSV made by really training the family's smoke part (tiny models
on the CPU) and aggregating the run records: no invented numbers."""
from __future__ import annotations

import pandas as pd
import pytest

from runners.suite import FAMILIES, PRESETS, suite_experiments, suite_runs
from runners.suites.arithmetic import FENG_COT_DEPTH, FENG_DIRECT_DEPTHS, FENG_KNOBS, FENG_SIZES, LI_KNOB
from runners.sweep import make_groups


def by(runs, **want):
    return [r for r in runs if all(getattr(r, k) == v for k, v in want.items())]


def depths(runs, task, knobs, view):
    return {r.model.n_layer for r in runs if r.task == task and dict(r.knobs) == knobs and r.view == view}


@pytest.mark.parametrize("preset", PRESETS)
def test_experiments_build_and_group(preset):
    exps = suite_experiments(preset, ["arithmetic"])
    assert set(exps) == {"feng_table", "li_arith"} and "arithmetic" in FAMILIES
    runs = suite_runs(preset, ["arithmetic"])
    assert len(runs) == len({r.run_id for exp in exps.values() for r in exp})
    groups = make_groups(runs)  # every run renders, so its sequence length and vocabulary are known
    assert sum(len(g) for g in groups) == len(runs)
    experiments = {(r.task, r.knobs, r.view, r.model, r.train) for r in runs}
    assert len(groups) <= len(experiments)  # the seeds of one experiment train in one stack


@pytest.mark.parametrize("preset", ["full", "paper"])
def test_feng_table_depths_and_views(preset):
    runs = suite_experiments(preset, ["arithmetic"])["feng_table"]
    cells = {(r.task, dict(r.knobs)[FENG_SIZES[r.task][0]]) for r in runs}
    must = {("expr", 4), ("equations", 3)} if preset == "full" else \
        {(task, size) for task, (_, sizes) in FENG_SIZES.items() for size in sizes}
    assert must <= cells
    for task, size in cells:
        knobs = {FENG_SIZES[task][0]: size, **FENG_KNOBS.get(task, {})}
        assert depths(runs, task, knobs, "direct") == set(FENG_DIRECT_DEPTHS) == {3, 4, 5}
        assert depths(runs, task, knobs, "cot") == {FENG_COT_DEPTH} == {3}
        seeds = {r.seed for r in runs if r.task == task and dict(r.knobs) == knobs and r.view == "cot"}
        assert len(seeds) >= 3  # the must-show is CoT >= 99%: its seed spread has to be visible
    assert {dict(r.knobs).get("pivot") for r in runs if r.task == "equations"} == {"column"}
    if preset == "paper":  # Feng et al.'s model and optimizer
        for r in runs:
            assert (r.model.d_model, r.model.n_head, r.train.lr, r.train.weight_decay) == (256, 4, 1e-4, 0.01)


def test_feng_task_lr_heads_and_direct_steps():
    """full: equations train at their own lr and heads in both views; direct models train direct_steps."""
    from runners.suites.arithmetic import SIZES
    base = SIZES["full"]["feng"]
    runs = suite_experiments("full", ["arithmetic"])["feng_table"]
    for r in runs:
        assert r.train.lr == base["task_lr"].get(r.task, base["lr"])
        assert r.model.n_head == base["task_heads"].get(r.task, base["h"])
        assert r.train.steps == (base["direct_steps"] if r.view == "direct" else base["steps"])
        assert r.train.log_every == max(1, r.train.steps // 10)
    assert {r.train.lr for r in runs} == {base["lr"], base["task_lr"]["equations"]}
    assert {r.model.n_head for r in runs if r.task == "equations"} == {8}
    assert {r.model.n_head for r in runs if r.task == "expr"} == {4}
    paper = suite_experiments("paper", ["arithmetic"])["feng_table"]  # no overrides: one budget
    assert len({(r.train.lr, r.train.steps) for r in paper}) == 1


def test_li_arith_lengths_views_depths():
    runs = suite_experiments("full", ["arithmetic"])["li_arith"]
    for task, knob in LI_KNOB.items():
        mine = by(runs, task=task)
        lengths = {dict(r.knobs)[knob] for r in mine}
        assert len(lengths) >= 2
        for n in lengths:
            d_direct = depths(mine, task, {knob: n}, "direct")
            assert d_direct == depths(mine, task, {knob: n}, "cot") and len(d_direct) >= 2


# ----------------------------------------------------------------------------- figures
@pytest.fixture(scope="module")
def smoke_csv(tmp_path_factory):
    """Train the family's smoke part for real (CPU, tiny) and aggregate it into a result CSV."""
    from runners.aggregate import aggregate
    from runners.results_csv import read_results, write_results
    from runners.sweep import run_sweep
    root = tmp_path_factory.mktemp("runs")
    runs = suite_runs("smoke", ["arithmetic"])
    counts = run_sweep(runs, device="cpu", root=root, progress=False)
    assert counts["trained"] == len(runs)
    path = root / "bench-smoke.csv"
    write_results(aggregate(runs, root), path)
    return read_results(path)  # validates the schema


def test_feng_table_figure(smoke_csv, tmp_path):
    from paper_figs import fig_feng_table
    written = fig_feng_table.draw(smoke_csv, tmp_path)
    assert [p.name for p in written] == ["feng_table.png", "feng_table.csv"]
    assert all(p.stat().st_size > 0 for p in written)
    tab = pd.read_csv(written[1])
    assert {("expr", 4), ("equations", 3)} <= set(zip(tab["task"], tab["size"]))
    for col in ("direct_L3", "direct_L4", "direct_L5", "cot_L3"):
        assert tab[f"{col}_mean"].between(0, 1).all()
    acc = smoke_csv[(smoke_csv["metric"] == "answer_acc") & (smoke_csv["task"] == "expr")
                    & (smoke_csv["view"] == "cot")]["mean"].iloc[0]
    assert tab[tab["task"] == "expr"]["cot_L3_mean"].iloc[0] == pytest.approx(acc, abs=1e-4)
    cot = smoke_csv[(smoke_csv["task"] == "expr") & (smoke_csv["view"] == "cot")].iloc[0]
    assert f"d{cot['d_model']} h{cot['n_head']} x{cot['train_steps']} steps" in tab[tab["task"] == "expr"]["budget"].iloc[0]


def test_arith_length_figure(smoke_csv, tmp_path):
    from paper_figs import fig_arith_length
    written = fig_arith_length.draw(smoke_csv, tmp_path)
    assert [p.name for p in written] == ["arith_length.png"] and written[0].stat().st_size > 0


def test_figures_skip_csvs_without_their_rows(smoke_csv, tmp_path):
    from paper_figs import fig_arith_length, fig_feng_table
    other = smoke_csv[~smoke_csv["task"].isin(["expr", "equations", "lis", "edit", "squaring", "cvp"])]
    assert fig_feng_table.draw(other, tmp_path) == [] and fig_arith_length.draw(other, tmp_path) == []


# ----------------------------------------------------------------------------- data probe
def test_perf_data_on_cpu():
    from runners.perf_data import data_share, format_rows
    rows = data_share("cpu", tasks=["squaring", "expr", "linreg"], batch_size=8, chunk=2, repeat=1)
    assert [r["task"] for r in rows] == ["squaring", "expr"]  # linreg is real-valued: skipped
    for r in rows:
        assert r["view"] == "cot" and r["examples_per_s"] > 0 and 0 < r["share"] < 1
        assert r["supply_ratio"] == pytest.approx(r["step_ms"] / r["data_ms"])
    assert "squaring" in format_rows(rows)
