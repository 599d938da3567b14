"""train.compile (runners/accel.py, compile_blocks): one compiled Block forward serves every
block, only inside the training loss; config errors; run ids without the field. The CUDA path
(inductor, CUDA graph) is in tests/test_gpu.py; here dynamo runs with the aot_eager backend."""
from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from models.transformer import ModelConfig, StackedTransformer
from runners import accel
from runners.config import RunConfig, TrainConfig
from runners.objective import per_model_loss


def test_one_compiled_block_serves_every_layer_and_only_inside_the_loss(monkeypatch):
    real = torch.compile
    monkeypatch.setattr(accel.torch, "compile", lambda fn, **kw: real(fn, backend="aot_eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    model = StackedTransformer(ModelConfig(n_layer=4, d_model=16, n_head=2), 2, 11, 12)
    x = torch.randint(0, 11, (2, 3, 12), generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 11, (2, 3, 12), generator=torch.Generator().manual_seed(1))
    eager = lambda a, b: per_model_loss(model(a), b)  # noqa: E731
    loss = accel.compile_blocks(eager, model)
    got = loss(x, y)
    assert counters["stats"]["unique_graphs"] == 1  # four blocks, one graph
    assert all("forward" not in vars(b) for b in model.blocks)  # eager blocks again outside the loss
    torch.testing.assert_close(got, eager(x, y))
    grads = torch.autograd.grad(loss(x, y).sum(), list(model.parameters()))
    ref = torch.autograd.grad(eager(x, y).sum(), list(model.parameters()))
    for g, r in zip(grads, ref):
        torch.testing.assert_close(g, r)
    assert counters["stats"]["unique_graphs"] == 1


def test_compile_is_eager_on_a_cpu():
    fn = lambda x, y: x  # noqa: E731
    assert accel.maybe_compile(fn, [], "cpu", None, train_compile=True) is fn
    assert accel.maybe_compile_step(fn, "cpu", train_compile=True) is fn


@pytest.mark.parametrize("view,arch", [("latent:4x1", "transformer"), ("direct", "lstm")])
def test_compile_needs_transformer_blocks_outside_latent_views(view, arch):
    with pytest.raises(ValueError, match="train.compile compiles the transformer's blocks"):
        RunConfig("s5", {"length": 4}, view, ModelConfig(), TrainConfig(compile=True), arch=arch)


def test_run_ids_without_compile_stay():
    base = RunConfig("s5", {"length": 4}, "direct", ModelConfig(), TrainConfig())
    assert "compile" not in base.to_dict()["train"]
    on = RunConfig("s5", {"length": 4}, "direct", ModelConfig(), TrainConfig(compile=True))
    assert on.to_dict()["train"]["compile"] is True and on.run_id != base.run_id
    assert RunConfig.from_dict(on.to_dict()) == on
