"""The sweep engine beyond one stack: memory-fitted stacks and out-of-memory halving, the
compile fallback, every backend giving the serial backend's CSV (a local Ray instance and
submitit's local executor included), resume across backends, and `depthbench perf --quick`."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch

from models.transformer import ModelConfig
from runners import backends, capacity
from runners.aggregate import aggregate
from runners.config import RunConfig, TrainConfig
from runners.records import is_done, read_final, run_dir
from runners.sweep import make_groups, run_sweep

METRIC_COLUMNS = ["task", "knobs", "view", "n_layer", "d_model", "params", "n_seeds", "metric",
                  "mean", "std", "min", "max"]


def tiny_runs(seeds=(0, 1, 2), depths=(1, 2)):
    train = TrainConfig(steps=12, batch_size=8, lr=3e-3, eval_size=16, log_every=4)
    return [RunConfig("s5", {"length": 4}, "direct", ModelConfig(n_layer=L, d_model=16, n_head=2), train, seed=s)
            for L in depths for s in seeds]


def metrics_csv(runs, root) -> pd.DataFrame:
    return aggregate(runs, root)[METRIC_COLUMNS].reset_index(drop=True)


@pytest.fixture(scope="module")
def serial_csv(tmp_path_factory):
    runs = tiny_runs()
    root = tmp_path_factory.mktemp("serial")
    run_sweep(runs, root=root, backend="serial", progress=False)
    return metrics_csv(runs, root)


# ----------------------------------------------------------------------------- capacity
def test_split_is_even_and_keeps_order():
    assert [len(c) for c in capacity.split(list(range(9)), 4)] == [3, 3, 3]
    assert [len(c) for c in capacity.split(list(range(5)), 8)] == [5]
    assert sum(capacity.split(list(range(10)), 3), []) == list(range(10))


def test_stack_size_follows_free_memory(monkeypatch):
    run = tiny_runs()[0]
    per_model = capacity.model_bytes(run)
    monkeypatch.setattr(capacity, "free_bytes", lambda device: int(10.5 * per_model / capacity.MEMORY_FRACTION))
    assert capacity.fit_stack(run, "cuda", cap=64) == 10
    assert capacity.fit_stack(run, "cuda", cap=4) == 4
    monkeypatch.setattr(capacity, "free_bytes", lambda device: 1)
    assert capacity.fit_stack(run, "cuda", cap=64) == 1
    monkeypatch.setattr(capacity, "free_bytes", lambda device: None)  # the CPU: only the cap
    assert capacity.fit_stack(run, "cpu", cap=7) == 7


def test_model_bytes_grows_with_shape():
    small, big = tiny_runs()[0], tiny_runs(depths=(2,))[0]
    assert capacity.model_bytes(big) > capacity.model_bytes(small) > 0
    assert capacity.step_flops(big) > capacity.step_flops(small) > 0


def test_oom_halves_the_stack_and_loses_no_run(tmp_path, monkeypatch):
    from runners import train as train_mod
    from runners.records import append_metrics
    real, sizes = train_mod.train_group, []

    def fake(runs, device="cpu", root=None, progress=None):
        sizes.append(len(runs))
        if len(runs) > 2:  # a partial attempt: some metrics written, then out of memory
            for run in runs:
                append_metrics(root, run.run_id, [{"step": 4, "loss": 9.9}])
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        return real(runs, device=device, root=root, progress=progress)

    monkeypatch.setattr(train_mod, "train_group", fake)
    runs = tiny_runs(seeds=(0, 1, 2, 3, 4), depths=(1,))
    (group,) = make_groups(runs)
    records = capacity.train_fitted(group, "cpu", tmp_path)
    assert sizes[0] == 5 and max(sizes[1:]) <= 2  # 5 failed, then stacks of at most 2
    assert [r["run_id"] for r in records] == [r.run_id for r in group]
    for run in group:
        assert is_done(tmp_path, run.run_id) and read_final(tmp_path, run.run_id)["group_size"] <= 2
        steps = [json.loads(line)["step"] for line in (run_dir(tmp_path, run.run_id) / "metrics.jsonl").open()]
        assert steps == sorted(set(steps)) and 9.9 not in steps  # the failed attempt's rows are gone
    # same records as an unconstrained run of stacks of 2 (stacking does not change a run on the CPU)
    monkeypatch.setattr(train_mod, "train_group", real)
    again = capacity.train_fitted(group, "cpu", tmp_path / "ref", cap=2)
    assert [r["metrics"] for r in again] == [r["metrics"] for r in records]


def test_oom_of_a_single_model_is_raised(monkeypatch):
    from runners import train as train_mod

    def fake(runs, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")

    monkeypatch.setattr(train_mod, "train_group", fake)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        capacity.train_fitted(tiny_runs(seeds=(0,), depths=(1,)), "cpu", None)


def test_other_errors_are_not_retried(monkeypatch):
    from runners import train as train_mod
    calls = []

    def fake(runs, **kw):
        calls.append(len(runs))
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(train_mod, "train_group", fake)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        capacity.train_fitted(tiny_runs(depths=(1,)), "cpu", None)
    assert calls == [3]


# ----------------------------------------------------------------------------- host syncs
@pytest.mark.parametrize("view", ["tagging", "cot"])
def test_step_loop_reads_nothing_back_to_the_host(view):
    """The CPU proxy of 'no host sync in the step loop' (tests/test_gpu_scaling.py checks CUDA)."""
    from runners.hostsync import count_host_reads
    from runners.train import Trainer
    runs = [RunConfig("s5", {"length": 6}, view, ModelConfig(n_layer=1, d_model=16, n_head=2),
                      TrainConfig(steps=100, batch_size=4, eval_size=8, log_every=100), seed=s) for s in (0, 1)]
    trainer = Trainer(runs, "cpu")
    chunk = trainer.data.chunk
    trainer.step(0)
    with count_host_reads() as box:
        for i in range(1, 2 * chunk + 1):  # two data refills included
            trainer.step(i)
    assert box["n"] == 0, box["where"]
    with count_host_reads() as box:
        trainer.loss_sum.tolist()
    assert box["n"] == 1  # the proxy sees reads


# ----------------------------------------------------------------------------- compile fallback
def test_compile_failure_falls_back_to_eager():
    from runners.accel import CompiledLoss
    w = torch.nn.Parameter(torch.ones(3))
    eager = lambda x, y: (w * x - y).pow(2).sum(-1)  # noqa: E731

    def broken_compiler(fn):
        def compiled(x, y):
            raise RuntimeError("inductor: no C++ compiler")
        return compiled

    loss = CompiledLoss(eager, [w], compiler=broken_compiler)
    x, y = torch.ones(2, 3), torch.zeros(2, 3)
    torch.testing.assert_close(loss(x, y), eager(x, y))
    assert not loss.compiled and "no C++ compiler" in loss.error
    ok = CompiledLoss(eager, [w], compiler=lambda fn: fn)
    torch.testing.assert_close(ok(x, y), eager(x, y))
    assert ok.compiled


def test_compiled_optimizer_step_falls_back_to_eager():
    from runners.accel import CompiledStep
    state = torch.zeros(3)

    def step(grads):
        state.sub_(grads[0])
        return state.clone()

    def broken_compiler(fn):
        def compiled(grads):
            raise RuntimeError("inductor: no Triton")
        return compiled

    opt = CompiledStep(step, compiler=broken_compiler)
    torch.testing.assert_close(opt([torch.ones(3)]), -torch.ones(3))  # the eager step ran, once
    assert not opt.compiled and "no Triton" in opt.error
    torch.testing.assert_close(opt([torch.ones(3)]), -2 * torch.ones(3))


def test_compile_is_opt_in(monkeypatch):
    from runners.accel import maybe_compile
    fn = lambda x, y: x  # noqa: E731
    monkeypatch.delenv("DEPTHBENCH_COMPILE", raising=False)
    assert maybe_compile(fn, [], "cuda") is fn
    monkeypatch.setenv("DEPTHBENCH_COMPILE", "1")
    assert maybe_compile(fn, [], "cpu") is fn  # CUDA only
    assert maybe_compile(fn, [], "cuda") is not fn
    from runners.accel import maybe_compile_step
    assert maybe_compile_step(fn, "cpu") is fn
    assert maybe_compile_step(fn, "cuda") is not fn


# ----------------------------------------------------------------------------- backends
def test_local_workers_lease_distinct_gpus(tmp_path):
    lock_dir = str(tmp_path)
    first = backends._lease_device(lock_dir, slots=2, n_gpus=2, device="cuda")
    held = backends._LEASES.pop(lock_dir)  # pretend to be a second worker; the first keeps its lock
    try:
        second = backends._lease_device(lock_dir, slots=2, n_gpus=2, device="cuda")
        assert {first, second} == {"cuda:0", "cuda:1"}
        backends._LEASES.pop(lock_dir)[0].close()
        with pytest.raises(RuntimeError, match="no free worker slot"):
            backends._lease_device(lock_dir, slots=1, n_gpus=2, device="cuda")
    finally:
        held[0].close()
        backends._LEASES.pop(lock_dir, None)


def test_local_backend_says_when_workers_share_a_gpu():
    """More local workers than GPUs: one line says they share (and take turns); none otherwise or on a CPU."""
    note = backends.shared_gpu_note(3, 1)
    assert "3 local workers on 1 GPU" in note and "Scaling out" in note
    for jobs, n_gpus in [(1, 1), (2, 2), (2, 4), (4, 0)]:
        assert backends.shared_gpu_note(jobs, n_gpus) is None


def test_deal_balances_shards():
    groups = make_groups(tiny_runs(seeds=(0, 1), depths=(1, 2, 3)), max_stack=1)
    shards = backends.deal(groups, 2)
    assert sorted(r.run_id for s in shards for g in s for r in g) == sorted(r.run_id for g in groups for r in g)
    cost = [sum(backends.group_cost(g) for g in s) for s in shards]
    assert max(cost) <= 1.5 * min(cost)


def test_local_backend_matches_serial(tmp_path, serial_csv):
    runs = tiny_runs()
    counts = run_sweep(runs, root=tmp_path, backend="local", jobs=2, progress=False)
    assert counts["trained"] == len(runs)
    pd.testing.assert_frame_equal(metrics_csv(runs, tmp_path), serial_csv)


def test_ray_backend_matches_serial(tmp_path, serial_csv, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a fresh local Ray instance
    runs = tiny_runs()
    run_sweep(runs, root=tmp_path, backend="ray", jobs=2, progress=False)
    pd.testing.assert_frame_equal(metrics_csv(runs, tmp_path), serial_csv)


def test_slurm_backend_local_executor_matches_serial(tmp_path, serial_csv):
    pytest.importorskip("submitit")
    runs = tiny_runs()
    options = backends.BackendOptions(jobs=2, submitit_cluster="local", time_min=10,
                                      folder=str(tmp_path / "submitit" / "%j"))
    run_sweep(runs, root=tmp_path / "runs", backend="slurm", options=options, progress=False)
    pd.testing.assert_frame_equal(metrics_csv(runs, tmp_path / "runs"), serial_csv)


def test_resume_across_backends(tmp_path, serial_csv):
    runs = tiny_runs()
    first = run_sweep(runs[:2], root=tmp_path, backend="serial", progress=False)
    rest = run_sweep(runs, root=tmp_path, backend="local", jobs=2, progress=False)
    assert first["trained"] == 2 and rest == {"runs": 6, "trained": 4, "skipped": 2, "groups": 2}
    pd.testing.assert_frame_equal(metrics_csv(runs, tmp_path), serial_csv)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: .*ray.*slurm"):
        run_sweep(tiny_runs(), backend="mpi", progress=False)


# ----------------------------------------------------------------------------- perf
def test_perf_quick_writes_the_csv(tmp_path, capsys):
    from runners.cli import main
    from runners.perf import COLUMNS
    out = tmp_path / "perf.csv"
    assert main(["perf", "--quick", "--shape", "16:1:2", "--tasks", "s5", "modadd", "--loop-windows", "3",
                 "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS
    thr = df[df.section == "throughput"].set_index("path")
    assert list(thr.index) == ["loop", "ours_1", "stacked"]
    assert (thr.model_steps_per_s > 0).all() and thr.loc["loop", "vs_loop"] == 1.0
    assert thr.loc["stacked", "m"] == 2 and (thr.mfu > 0).all()
    assert thr.loc["loop", "host_syncs_per_step"] >= 1 and thr.loc["stacked", "host_syncs_per_step"] == 0
    lo, hi = (float(v) for v in re.fullmatch(r"median of 3 windows, (\S+)-(\S+) model-steps/s",
                                             thr.loc["loop", "note"]).groups())
    assert lo <= round(thr.loc["loop", "model_steps_per_s"], 1) <= hi  # the median lies in the range
    data = df[df.section == "data"]
    assert sorted(data.task) == ["modadd", "s5"] and (data.data_share > 0).all()
    lat = df[df.section == "latent"].set_index("path")
    assert list(lat.index) == ["direct", "latent"] and lat.loc["direct", "vs_direct"] == 1.0
    assert lat.loc["latent", "vs_direct"] > 0 and lat.loc["latent", "view"].startswith("latent:")
    assert re.match(r"\d+ passes; eager", lat.loc["latent", "note"])
    pos = df[df.section == "positions"]
    assert list(pos.path) == ["learned", "rope"] * 2 and (pos.step_ms > 0).all()
    assert list(pos.note) == ["kernels on"] * 2 + ["kernels off (DEPTHBENCH_TRITON=0)"] * 2
    assert (pos[pos.path == "learned"].vs_learned == 1.0).all() and (pos.task == "connectivity").all()
    for note, rows in pos.groupby("note"):  # each ratio is its own rope step over its own learned step
        ms = rows.set_index("path").step_ms
        assert rows.set_index("path").vs_learned["rope"] == round(ms["rope"] / ms["learned"], 2)
    out = capsys.readouterr().out
    assert "targets:" in out and "continuous-thought step: " in out and "rotary step: " in out


def test_perf_summary_names_the_loop_it_divides_by():
    from runners.perf import COLUMNS, summary
    rows = [{"section": "throughput", "path": "loop", "d_model": 256, "n_layer": 4, "model_steps_per_s": 40.0,
             "vs_loop": 1.0, "note": "median of 9 windows, 33.0-44.0 model-steps/s"},
            {"section": "throughput", "path": "stacked", "d_model": 256, "n_layer": 4, "model_steps_per_s": 560.0,
             "vs_loop": 14.0, "note": "cuda graph"}]
    lines = summary(pd.DataFrame(rows, columns=COLUMNS))
    assert "  stacked vs loop at d 256 L 4: 14.0x (loop 40.0 model-steps/s, median of 9 windows, " \
           "33.0-44.0 model-steps/s)" in lines


def test_perf_refuses_no_loop_window(tmp_path, capsys):
    from runners.cli import main
    assert main(["perf", "--quick", "--loop-windows", "0", "--out", str(tmp_path / "p.csv")]) != 0
    assert "--loop-windows must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_graph_fits_releases_the_cache_then_decides(monkeypatch):
    """graph_fits (runners.train) on a faked CUDA memory state: room is the free memory, capped by
    a per-process fraction; the cache is emptied only when the room is short."""
    from runners import train
    state = {"free": 10 << 30, "total": 80 << 30, "reserved": 0, "frac": 1.0, "emptied": 0, "cached": 0}

    def empty_cache():
        state["emptied"] += 1
        state["free"] += state["cached"]
        state["reserved"] -= state["cached"]
        state["cached"] = 0

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: (state["free"], state["total"]))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: state["reserved"])
    monkeypatch.setattr(torch.cuda, "get_per_process_memory_fraction", lambda d: state["frac"], raising=False)
    monkeypatch.setattr(torch.cuda, "empty_cache", empty_cache)
    assert train.graph_fits("cuda", 1 << 30) and state["emptied"] == 0
    assert not train.graph_fits("cuda:0", 9 << 30) and state["emptied"] == 1  # 1.25 x 9 GiB > 10 GiB
    # 3 GiB allowed, 2.5 reserved of which 0.5 cached: room 0.5 GiB, then 1 GiB once the cache is gone
    state.update(frac=3 / 80, reserved=5 << 29, cached=1 << 29)
    assert not train.graph_fits("cuda", 1 << 30) and state["emptied"] == 2  # needs 1.5 GiB
    state.update(reserved=5 << 29, cached=1 << 29)
    assert train.graph_fits("cuda", 1 << 29) and state["emptied"] == 3  # needs 0.875 GiB
