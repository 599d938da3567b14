"""Sweep-engine checks only a CUDA GPU can run (skipped elsewhere): no host synchronisation
in the step loop, a real out-of-memory error halves the stack without losing a run, the
compiled loss matches the eager one, and the local backend gives every worker its own GPU."""
import pytest
import torch

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _runs(seeds, d=64, L=2, steps=40, batch=32, length=16, view="tagging"):
    return [RunConfig("s5", {"length": length}, view, ModelConfig(L, d, 4),
                      TrainConfig(steps=steps, batch_size=batch, lr=1e-3, eval_size=64, log_every=20), seed=s)
            for s in seeds]


@pytest.mark.parametrize("view", ["tagging", "cot"])
def test_no_host_sync_in_the_step_loop(view):
    from runners.train import Trainer
    trainer = Trainer(_runs(range(4), view=view), "cuda")
    chunk = trainer.data.chunk
    for i in range(2 * chunk):  # warm-up and graph capture may synchronise
        trainer.step(i)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(2 * chunk):  # two data refills included
            trainer.step(2 * chunk + i)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()


def test_compiled_loss_matches_eager(monkeypatch):
    from runners.train import Trainer
    eager = Trainer(_runs([0, 1]), "cuda")
    eager.train()
    monkeypatch.setenv("DEPTHBENCH_COMPILE", "1")
    compiled = Trainer(_runs([0, 1]), "cuda")
    compiled.train()
    assert compiled.loss_fn.compiled, compiled.loss_fn.error
    torch.testing.assert_close(compiled.opt.flat, eager.opt.flat, rtol=0, atol=2e-2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_local_backend_one_worker_per_gpu(tmp_path):
    from runners.backends import BackendOptions, dispatch
    from runners.sweep import make_groups
    groups = make_groups(_runs(range(8), steps=200), max_stack=2)
    used = dispatch(groups, "local", "cuda", tmp_path, BackendOptions(jobs=2))
    assert set(used) == {"cuda:0", "cuda:1"} and sum(used.values()) == len(groups)


# last: an out-of-memory error mid-capture is the riskiest state to leave behind
def test_real_oom_halves_the_stack(tmp_path):
    from runners.capacity import train_fitted
    from runners.records import is_done, read_final
    runs = _runs(range(16), d=256, L=4, steps=8, batch=256, length=64)
    torch.cuda.empty_cache()
    total = torch.cuda.mem_get_info()[1]
    # about 3 GB for this process: 16 such models do not fit, a few do (the estimate sees the whole GPU)
    torch.cuda.set_per_process_memory_fraction(3 * 2 ** 30 / total)
    try:
        records = train_fitted(runs, "cuda", tmp_path)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert len(records) == 16 and all(is_done(tmp_path, r.run_id) for r in runs)
    assert max(read_final(tmp_path, r.run_id)["group_size"] for r in runs) < 16
