"""`make bench`: run the frozen suite, aggregate, compare with the reference, draw figures."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

RESULTS = Path("results")
FIG_OUT = Path("paper_figs/out")


def choose_preset(preset: str | None) -> tuple[str, str]:
    import torch
    if preset:
        return preset, "asked for on the command line"
    if torch.cuda.is_available():
        return "full", f"a CUDA GPU is visible ({torch.cuda.get_device_name(0)})"
    return "smoke", "no CUDA GPU is visible (pass --preset full to force the GPU preset)"


def train_passes(runs, widths: dict[str, int], device, backend: str, options) -> list[tuple[list, object]]:
    """The runs in passes of (runs, backend options): on a CUDA device with the serial backend and no
    --interleave asked for, the runs of the experiments a family lists in INTERLEAVE (widths: run_id ->
    width, runners.suite.suite_interleave) train that many groups at a time, the rest one at a time."""
    if backend != "serial" or options.interleave > 1 or not str(device).startswith("cuda"):
        return [(runs, options)]
    by_width = {}
    for r in runs:
        by_width.setdefault(widths.get(r.run_id, 1), []).append(r)
    return [(rs, dataclasses.replace(options, interleave=w)) for w, rs in sorted(by_width.items())]


def bench(preset=None, device=None, root=Path("results/runs"), shard_spec=None, backend="serial", jobs=None,
          families=None, options=None, model="transformer", suite_interleave=True) -> int:
    import torch

    from paper_figs import run_all
    from runners.aggregate import aggregate
    from runners.bench_model import result_path, with_model
    from runners.compare import compare, format_table, summary
    from runners.family_time import family_times, format_times
    from runners.results_csv import MalformedCSV, read_results, write_results
    from runners.backends import BackendOptions
    from runners.suite import shard, suite_interleave as interleave_plan, suite_runs
    from runners.sweep import make_groups, run_sweep

    preset, why = choose_preset(preset)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"depthbench bench: preset {preset}, because {why}; device {device}", flush=True)
    start = time.time()
    runs, notes = suite_runs(preset, families), []
    if model != "transformer":  # your model in place of the transformer (runners/bench_model.py)
        runs, notes = with_model(runs, model)
        print(f"model {model} in place of the transformer" + "".join(f"; {n}" for n in notes), flush=True)
    groups = shard(make_groups(runs), shard_spec)
    mine = [r for g in groups for r in g]
    options = options or BackendOptions(jobs=jobs)
    widths = interleave_plan(preset, families) if suite_interleave else {}
    counts = {}
    for part, opts in train_passes(mine, widths, device, backend, options):
        for k, v in run_sweep(part, device=device, root=root, backend=backend, options=opts).items():
            counts[k] = counts.get(k, 0) + v
    train_s = time.time() - start
    if shard_spec:
        print(f"shard {shard_spec}: {counts['trained']} runs trained, {counts['skipped']} skipped "
              f"in {train_s:.0f}s. Run `depthbench bench --preset {preset}` once every shard is done "
              "to aggregate (done runs are skipped).")
        return 0
    df = aggregate(runs, root)
    out = result_path(RESULTS, preset, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results(df, out)
    ref_path = reference_path(preset, families)
    lines = [f"preset {preset} on {df['device'].iloc[0]}: {counts['runs']} runs in {counts['groups']} stacked "
             f"groups; {counts['trained']} trained, {counts['skipped']} reused; training {train_s:.0f}s",
             f"results: {out}"]
    status = "no reference"
    if model != "transformer":
        ref_path, status = rank_model(preset, df, model)
    elif ref_path.exists():
        try:
            table = compare(read_results(ref_path), read_results(out))
            print(format_table(table[table["metric"] == "answer_acc"]))
            status = summary(table, 0.02, 2.0)
        except MalformedCSV as err:
            status = f"reference unreadable: {err}"
    lines.append(f"against {ref_path}: {status}")
    figs = run_all(out, FIG_OUT)
    lines.append(f"figures: {FIG_OUT}/ ({'ok' if figs == 0 else 'some failed'})")
    lines += [format_times(family_times(df, preset), preset)] + headline(df)
    print("\n" + "=" * 72 + "\n" + "\n".join(lines) + f"\ntotal {time.time() - start:.0f}s\n" + "=" * 72)
    return figs


def reference_path(preset, families=None, results=None) -> Path:
    """The leaderboard a bench run compares with: for a set of families other than the
    default one, results/leaderboard-<preset>-<families>.csv where it exists (`--family rnn`:
    leaderboard-full-rnn.csv), else results/leaderboard-<preset>.csv."""
    from runners.suite import DEFAULT_FAMILIES
    results = RESULTS if results is None else Path(results)
    plain = results / f"leaderboard-{preset}.csv"
    if not families or sorted(set(families)) == sorted(DEFAULT_FAMILIES):
        return plain
    tagged = results / f"leaderboard-{preset}-{'-'.join(sorted(set(families)))}.csv"
    return tagged if tagged.exists() else plain


def rank_model(preset, df, model):
    """Print the ranking of `model` against the transformer rows of the reference."""
    from runners.bench_model import format_ranking, rank, reference_rows
    ref, where = reference_rows(RESULTS, preset)
    if ref is None:
        return "the transformer", where
    table, status = rank(ref, df, model)
    print(format_ranking(table))
    return where, status


def headline(df) -> list[str]:
    """A few rows a person checks first: best answer accuracy per task and view."""
    acc = df[df["metric"] == "answer_acc"]
    if acc.empty:
        return []
    best = acc.sort_values("mean").groupby(["task", "view"]).tail(1).sort_values(["task", "view"])
    rows = ["best answer_acc per task and view (n_layer, knobs):"]
    for _, r in best.iterrows():
        rows.append(f"  {r.task:<13}{r.view:<12}{r['mean']:.3f} ± {r['std']:.3f}  (L={r.n_layer}, {r.knobs})")
    return rows
