"""Checks that only a CUDA GPU can run (skipped elsewhere): the captured CUDA-graph step
equals the eager step, the task stream is the same on the CPU and the GPU, and stacking
on the GPU matches a solo run."""
import pytest
import torch

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.train import Trainer
from tasks import make_task, parse_view
from tasks.rng import Rng

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _runs(seeds, view="cot", steps=12):
    return [RunConfig("s5", {"length": 8}, view, ModelConfig(2, 64, 4), TrainConfig(steps=steps, batch_size=32,
                      lr=1e-3, eval_size=64, log_every=4), seed=s) for s in seeds]


def test_graph_replay_equals_eager(monkeypatch):
    # the math attention kernel: the memory-efficient kernel's backward accumulates with atomics,
    # which moved 73 of 235k parameters by up to 5e-3 between two runs on an H100; this test is
    # about the graph capture, not that kernel
    from torch.nn.attention import SDPBackend
    monkeypatch.setattr("models.transformer.SDPA_ORDER", [SDPBackend.MATH])
    graph = Trainer(_runs([0, 1]), "cuda")
    graph.train()
    assert graph.graph is not None
    monkeypatch.setenv("DEPTHBENCH_NO_GRAPH", "1")
    eager = Trainer(_runs([0, 1]), "cuda")
    eager.train()
    assert eager.graph is None
    torch.testing.assert_close(graph.opt.flat, eager.opt.flat, rtol=0, atol=2e-3)


@pytest.mark.parametrize("name", ["s5", "a5", "a4xz5", "z60", "modadd"])
def test_same_instances_on_cpu_and_gpu(name):
    task = make_task(name, length=16)
    for view in ("direct", "cot", "tagging"):
        a = task.render(task.sample(64, Rng(3), torch.device("cpu")), parse_view(view))
        b = task.render(task.sample(64, Rng(3), torch.device("cuda")), parse_view(view))
        assert torch.equal(a.inputs, b.inputs.cpu()) and torch.equal(a.targets, b.targets.cpu())


def test_stacked_equals_solo_on_gpu():
    stack = Trainer(_runs([0, 1, 2, 3]), "cuda")
    stack.train()
    solo = Trainer(_runs([2]), "cuda")
    solo.train()
    # bf16 autocast: kernels chosen for m=4 and m=1 may round differently
    torch.testing.assert_close(stack.opt.flat[2:3], solo.opt.flat, rtol=0, atol=2e-2)


def test_compiled_blocks_train_like_eager_on_gpu():
    """train.compile: the blocks compiled once (regional compilation) inside the CUDA graph, the
    optimizer step compiled; the parameters end close to the eager run's, bf16 residual included."""
    def runs(compile_):
        return [RunConfig("s5", {"length": 8}, "cot", ModelConfig(3, 64, 4, residual="bf16"),
                          TrainConfig(steps=12, batch_size=32, eval_size=64, log_every=4, compile=compile_), seed=s)
                for s in (0, 1)]
    compiled = Trainer(runs(True), "cuda")
    compiled.train()
    assert compiled.loss_fn.compiled and compiled.opt_step.compiled and compiled.graph is not None
    eager = Trainer(runs(False), "cuda")
    eager.train()
    torch.testing.assert_close(compiled.opt.flat, eager.opt.flat, rtol=0, atol=2e-2)


def test_deterministic_mode_repeats_bit_for_bit(monkeypatch):
    """DEPTHBENCH_DETERMINISTIC=1: the same stack trained twice ends with the same bits (by default
    the memory-efficient attention backward's atomics make the runs differ slightly)."""
    from runners.train import use_determinism
    monkeypatch.setenv("DEPTHBENCH_DETERMINISTIC", "1")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        assert use_determinism("cuda")
        flats = []
        for _ in range(2):
            trainer = Trainer(_runs([0, 1], steps=30), "cuda")
            trainer.train()
            flats.append(trainer.opt.flat.clone())
        assert torch.equal(flats[0], flats[1])
    finally:
        torch.use_deterministic_algorithms(False)
