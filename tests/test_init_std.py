"""ModelConfig.init_std: the initial weights' scale, outside a run's id at its default."""
import pytest
import torch

from models import build_model
from models.transformer import ModelConfig
from runners.config import RunConfig
from tasks import make_task


def weights(std):
    task = make_task("prosqa", nodes=8, edges=10, distance=2)
    model = build_model("transformer", ModelConfig(d_model=64, n_head=2, init_std=std), 1, task, 40)
    return dict(model.named_parameters())


def test_init_std_scales_every_drawn_weight():
    a, b = weights(0.02), weights(0.05)
    for name, p in a.items():
        if p.detach().std() > 0:  # drawn, not LayerNorm ones or zero biases
            assert torch.allclose(b[name], p * 2.5, rtol=1e-5, atol=1e-7), name
    assert 0.018 < float(a["wte"].detach().std()) < 0.022 and 0.045 < float(b["wte"].detach().std()) < 0.055


def test_default_stays_out_of_the_run_id():
    base = RunConfig("prosqa", {}, "direct", ModelConfig())
    same = RunConfig("prosqa", {}, "direct", ModelConfig(init_std=0.02))
    other = RunConfig("prosqa", {}, "direct", ModelConfig(init_std=0.05))
    assert "init_std" not in base.to_dict()["model"] and same.run_id == base.run_id
    assert other.to_dict()["model"]["init_std"] == 0.05 and other.run_id != base.run_id


def test_bad_init_std_is_refused():
    with pytest.raises(ValueError, match="init_std"):
        ModelConfig(init_std=0.0)
