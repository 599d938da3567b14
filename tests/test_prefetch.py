"""Prefetching the training data (runners.train.DataStream): with and without the producer
thread, the same calls to train_batch, the same batches, weights and losses; its errors are
raised in the caller of next(), and no thread outlives train_group."""
from __future__ import annotations

import threading

import pytest
import torch

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.train import MAX_CHUNK, Trainer, prefetch_default, train_group
from tasks import TASKS

torch.set_num_threads(2)

TINY = ModelConfig(n_layer=1, d_model=16, n_head=2)
STEPS = 2 * MAX_CHUNK + 4  # data_chunk <= MAX_CHUNK: at least 3 refills (steps 0, chunk, 2 chunk)
S5 = TASKS["s5"]
TRAIN_BATCH = S5.train_batch  # unpatched


def runs(steps=STEPS, batch_size=4):
    return [RunConfig("s5", {"length": 4}, "tagging", TINY,
                      TrainConfig(steps=steps, batch_size=batch_size, lr=3e-3, eval_size=16, log_every=steps // 4),
                      seed=s) for s in (0, 1)]


def prefetch_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "depthbench-prefetch"]


def spy_on_train_batch(monkeypatch) -> list:
    """Record (seed, counter, n, step, thread) of every S5.train_batch call."""
    calls = []

    def spy(self, n, rng, device, view, step):
        calls.append((rng.seed, rng.counter, n, step, threading.current_thread().name))
        return TRAIN_BATCH(self, n, rng, device, view, step)
    monkeypatch.setattr(S5, "train_batch", spy)
    return calls


def trained(monkeypatch, flag, device="cpu"):
    """A Trainer trained with DEPTHBENCH_PREFETCH=flag, its logs, the batch of every step, the calls."""
    monkeypatch.setenv("DEPTHBENCH_PREFETCH", flag)
    calls = spy_on_train_batch(monkeypatch)
    trainer = Trainer(runs(), device)
    batches, step = [], trainer.step

    def recording_step(i):
        step(i)
        batches.append((trainer.x.clone(), trainer.y.clone()))  # (m, B, T): this step's batch
    trainer.step = recording_step
    logs = trainer.train()
    return trainer, logs, batches, calls


def test_prefetch_default(monkeypatch):
    monkeypatch.delenv("DEPTHBENCH_PREFETCH", raising=False)
    assert prefetch_default("cuda") and prefetch_default("cuda:1") and not prefetch_default("cpu")
    monkeypatch.setenv("DEPTHBENCH_PREFETCH", "1")
    assert prefetch_default("cpu")
    monkeypatch.setenv("DEPTHBENCH_PREFETCH", "0")
    assert not prefetch_default("cuda")


def test_prefetch_changes_nothing(monkeypatch):
    sync, sync_logs, sync_batches, sync_calls = trained(monkeypatch, "0")
    pre, pre_logs, pre_batches, pre_calls = trained(monkeypatch, "1")
    chunk = pre.data.chunk
    assert STEPS > 2 * chunk and len(pre_calls) == 2 * (1 + (STEPS - 1) // chunk) >= 6  # 3+ refills, 2 runs
    assert [c[:4] for c in pre_calls] == [c[:4] for c in sync_calls]  # same runs, order, Rng state, step
    assert [c[3] for c in pre_calls[::2]] == list(range(0, STEPS, chunk))  # step = the chunk's first step
    assert {c[4] for c in sync_calls} == {"MainThread"} and {c[4] for c in pre_calls} == {"depthbench-prefetch"}
    assert len(pre_batches) == len(sync_batches) == STEPS
    for (x, y), (x0, y0) in zip(pre_batches, sync_batches):
        assert torch.equal(x, x0) and torch.equal(y, y0)
    assert torch.equal(pre.opt.flat, sync.opt.flat)
    assert pre_logs == sync_logs
    assert not prefetch_threads()


def test_producer_error_is_raised_by_next(monkeypatch):
    monkeypatch.setenv("DEPTHBENCH_PREFETCH", "1")

    def broken(self, n, rng, device, view, step):
        if step > 0:
            raise ValueError(f"no data at step {step}")
        return TRAIN_BATCH(self, n, rng, device, view, step)
    monkeypatch.setattr(S5, "train_batch", broken)
    trainer = Trainer(runs(), "cpu")
    chunk, done = trainer.data.chunk, []
    with pytest.raises(ValueError, match=f"no data at step {chunk}") as info:
        for i in range(STEPS):
            trainer.step(i)
            done.append(i)
    assert len(done) == chunk  # raised at the first refill the thread made
    names = [entry.name for entry in info.traceback]
    assert "next" in names and "broken" in names  # the caller's frames, then the producer's
    assert trainer.data.thread is None and not prefetch_threads()
    with pytest.raises(ValueError, match="no data"):
        train_group(runs(), "cpu")
    assert not prefetch_threads()


def test_no_thread_outlives_train_group(monkeypatch):
    monkeypatch.setenv("DEPTHBENCH_PREFETCH", "1")
    calls = spy_on_train_batch(monkeypatch)
    for _ in range(5):
        records = train_group(runs(steps=40), "cpu")
        assert len(records) == 2 and not prefetch_threads()
    assert {c[4] for c in calls} == {"depthbench-prefetch"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_prefetch_gives_the_same_batches(monkeypatch):
    """On CUDA (the producer on its own stream, the step a CUDA graph captured at step 3), over 3+
    refills: the same batches, and no host sync in the step loop after the capture."""
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("DEPTHBENCH_PREFETCH", flag)
        trainer, batches = Trainer(runs(), "cuda"), []
        try:
            for i in range(STEPS):
                if i == 8:  # after the warm-up and the capture, which may synchronise
                    torch.cuda.synchronize()
                    torch.cuda.set_sync_debug_mode("error")
                trainer.step(i)
                batches.append((trainer.x.clone(), trainer.y.clone()))
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert trainer.graph is not None and (trainer.data.thread is not None) == (flag == "1")
        trainer.data.close()
        out[flag] = batches
    assert STEPS > 2 * trainer.data.chunk
    for (x, y), (x0, y0) in zip(out["1"], out["0"]):
        assert torch.equal(x, x0) and torch.equal(y, y0)
    assert not prefetch_threads()


def test_curriculum_prefetch_changes_nothing(monkeypatch):
    """The curriculum's stream (runners.curriculum.CurriculumStream) through the same producer thread:
    over stage boundaries (mixed earlier stages, next-node targets), the same batches, stage rows
    and weights with the thread as without."""
    from runners.curriculum import CurriculumTrainer
    tc = TrainConfig(steps=STEPS, batch_size=4, lr=3e-3, eval_size=16, log_every=STEPS // 2, latent_curriculum=True,
                     stage0_steps=STEPS // 3, stage_steps=STEPS // 4, stage_mix=0.3, reset_optimizer=True,
                     stage_target="next_after_cot")
    curriculum = [RunConfig("prosqa", {"nodes": 8, "edges": 10, "distance": 2, "trace": "frontier"}, "latent:2x1",
                            TINY, tc, seed=s) for s in (0, 1)]
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("DEPTHBENCH_PREFETCH", flag)
        trainer, batches = CurriculumTrainer(curriculum, "cpu"), []
        step = trainer.step

        def recording_step(i, trainer=trainer, step=step, batches=batches):
            step(i)
            batches.append((trainer.x.clone(), trainer.y.clone()))
        trainer.step = recording_step
        threads = []
        trainer.data.launch = (lambda launch=trainer.data.launch: (launch(), threads.append(1)))
        trainer.train()
        assert bool(threads) == (flag == "1")
        out[flag] = trainer, batches
    (pre, pre_batches), (sync, sync_batches) = out["1"], out["0"]
    assert len(pre_batches) == len(sync_batches) == STEPS and STEPS > 2 * pre.data.chunk
    for (x, y), (x0, y0) in zip(pre_batches, sync_batches):
        assert torch.equal(x, x0) and torch.equal(y, y0)
    assert pre.stage_log == sync.stage_log and len(pre.stage_log[0]) == 2  # stages 0 and 1 logged
    assert torch.equal(pre.opt.flat, sync.opt.flat)
    assert not prefetch_threads()
