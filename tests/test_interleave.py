"""Groups interleaved on one device (runners/interleave.py): the same records as serial training,
time shares that add up, ineligible groups and out-of-memory groups trained on their own after."""
from __future__ import annotations

import json

import pytest
import torch

from models.transformer import ModelConfig
from runners import interleave
from runners.backends import BackendOptions
from runners.config import RunConfig, TrainConfig
from runners.records import read_final, run_dir
from runners.sweep import make_groups, run_sweep


def tiny_runs():
    train = TrainConfig(steps=10, batch_size=8, lr=3e-3, eval_size=16, log_every=3)
    short = TrainConfig(steps=4, batch_size=8, lr=3e-3, eval_size=16, log_every=3)
    runs = [RunConfig("s5", {"length": 4}, "direct", ModelConfig(n_layer=L, d_model=16, n_head=2), train, seed=s)
            for L in (1, 2) for s in (0, 1)]
    runs += [RunConfig("khop", {}, "cot", ModelConfig(n_layer=1, d_model=16, n_head=2), short, seed=s) for s in (0, 1)]
    return runs


def records(runs, root):
    out = {}
    for r in runs:
        rec = read_final(root, r.run_id)
        log = [json.loads(line) for line in (run_dir(root, r.run_id) / "metrics.jsonl").read_text().splitlines()]
        out[r.run_id] = (rec["metrics"], log, rec["group_size"])
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    runs, root = tiny_runs(), tmp_path_factory.mktemp("serial")
    run_sweep(runs, root=root, backend="serial", progress=False)
    return records(runs, root)


@pytest.mark.parametrize("width", [2, 3])
def test_same_records_as_serial(tmp_path, serial, width):
    runs = tiny_runs()
    counts = run_sweep(runs, root=tmp_path, backend="serial", progress=False,
                       options=BackendOptions(interleave=width))
    assert counts["trained"] == len(runs) and counts["groups"] == 3
    assert records(runs, tmp_path) == serial  # metrics and loss logs, bit for bit on the CPU


def test_wall_shares_add_up_to_the_elapsed_time(tmp_path):
    import time
    runs = tiny_runs()
    start = time.time()
    recs = interleave.train_interleaved(make_groups(runs), "cpu", tmp_path, width=3)
    elapsed = time.time() - start
    assert len(recs) == len(runs)
    total = sum(r["wall_s"] / r["group_size"] for r in recs)  # runners.aggregate's sum
    assert 0.5 * elapsed < total <= elapsed + 1e-6


def test_ineligible_and_oom_groups_train_alone_after(tmp_path, monkeypatch, capsys):
    runs = tiny_runs()
    groups = make_groups(runs)
    alone = []
    real_fitted = interleave.train_fitted

    def fitted(group, device, root, cap=64):
        alone.append(sorted(r.run_id for r in group))
        return real_fitted(group, device, root)

    monkeypatch.setattr(interleave, "train_fitted", fitted)
    khop = next(g for g in groups if g[0].task == "khop")
    monkeypatch.setattr(interleave, "joinable", lambda g, d, w: g[0].task != "khop")
    real_step = interleave.Slot.step

    def step(self):  # the 2-layer group runs out of memory at its third step
        if self.runs[0].model.n_layer == 2 and self.i == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return real_step(self)

    monkeypatch.setattr(interleave.Slot, "step", step)
    recs = interleave.train_interleaved(groups, "cpu", tmp_path, width=3)
    assert sorted(r["run_id"] for r in recs) == sorted(r.run_id for r in runs)  # no run lost
    deep = sorted(r.run_id for r in runs if r.model.n_layer == 2)
    assert alone == [sorted(r.run_id for r in khop), deep]
    assert "out of memory with 2 groups training at once" in capsys.readouterr().err


def test_bad_interleave_is_refused():
    with pytest.raises(ValueError, match="--interleave must be >= 1"):
        BackendOptions(interleave=0)


def test_suite_interleaves_only_the_listed_experiments():
    from runners.suite import suite_experiments, suite_interleave
    from runners.suites import compositional
    for preset in ("smoke", "full"):
        exps = suite_experiments(preset, ["compositional", "groups"])
        listed = {r.run_id for name in compositional.INTERLEAVE for r in exps[name]}
        widths = suite_interleave(preset, ["compositional", "groups"])
        assert set(widths) == listed and listed
        assert set(widths.values()) == set(compositional.INTERLEAVE.values())
        rest = {r.run_id for name, runs in exps.items() if name not in compositional.INTERLEAVE for r in runs}
        assert not rest & listed


def test_bench_trains_the_listed_experiments_interleaved_on_a_gpu_only():
    from runners.bench import train_passes
    from runners.suite import suite_interleave, suite_runs
    runs, widths = suite_runs("smoke", ["compositional"]), suite_interleave("smoke", ["compositional"])
    passes = train_passes(runs, widths, "cuda", "serial", BackendOptions())
    assert sorted((o.interleave, len(rs)) for rs, o in passes) == [(1, len(runs) - len(widths)), (4, len(widths))]
    assert all(widths.get(r.run_id, 1) == o.interleave for rs, o in passes for r in rs)
    for device, backend, opts in [("cpu", "serial", BackendOptions()), ("cuda", "local", BackendOptions()),
                                  ("cuda", "serial", BackendOptions(interleave=2))]:  # asked for: as asked
        assert train_passes(runs, widths, device, backend, opts) == [(runs, opts)]


def test_interleaved_pass_gives_the_serial_records(tmp_path, serial):
    """The passes a GPU bench would make, trained here on the CPU (where groups take turns): the same records."""
    from runners.bench import train_passes
    runs = tiny_runs()
    widths = {r.run_id: 2 for r in runs if r.task == "s5"}
    for part, opts in train_passes(runs, widths, "cuda", "serial", BackendOptions()):
        run_sweep(part, root=tmp_path, backend="serial", options=opts, progress=False)
    assert records(runs, tmp_path) == serial
