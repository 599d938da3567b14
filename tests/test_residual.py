"""ModelConfig.residual: a bf16 residual stream under bf16 autocast (an option; the suite trains
fp32), fp32 otherwise; run ids of configs without the field are unchanged."""
from __future__ import annotations

import pytest
import torch

from models.transformer import ModelConfig, StackedTransformer
from runners.config import RunConfig, TrainConfig
from runners.suite import suite_runs

V, T = 13, 12


def make(residual, norm="pre", n_loops=1, inj=False, pos="learned"):
    cfg = ModelConfig(n_layer=2, d_model=16, n_head=2, norm=norm, n_loops=n_loops, input_injection=inj, pos=pos,
                      residual=residual)
    model = StackedTransformer(cfg, 2, V, T)
    model.init_weights([3, 4])
    return model.eval()


def block_output_dtypes(model, x):
    seen = []
    hooks = [b.register_forward_hook(lambda mod, args, out: seen.append(out.dtype)) for b in model.blocks]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    for h in hooks:
        h.remove()
    return seen, out


@pytest.mark.parametrize("norm,n_loops,inj,pos", [("pre", 1, False, "learned"), ("post", 1, False, "learned"),
                                                 ("pre", 2, True, "learned"), ("pre", 1, False, "rope")])
def test_bf16_residual_stays_bf16_under_autocast_and_agrees_with_fp32(norm, n_loops, inj, pos):
    x = torch.randint(0, V, (2, 3, T), generator=torch.Generator().manual_seed(0))
    dtypes16, out16 = block_output_dtypes(make("bf16", norm, n_loops, inj, pos), x)
    dtypes32, out32 = block_output_dtypes(make("fp32", norm, n_loops, inj, pos), x)
    assert set(dtypes16) == {torch.bfloat16} and len(dtypes16) == 2 * n_loops
    assert set(dtypes32) == {torch.float32}
    assert (out16.float() - out32.float()).abs().max() < 0.05 * out32.float().abs().max()
    assert not torch.equal(out16.float(), out32.float())  # the cast did change the numerics


def test_bf16_residual_has_no_effect_without_autocast():
    x = torch.randint(0, V, (2, 3, T), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(make("bf16")(x), make("fp32")(x))


def test_unknown_residual_is_refused():
    with pytest.raises(ValueError, match=r"unknown residual 'fp16'; valid: \('fp32', 'bf16'\)"):
        ModelConfig(residual="fp16")


def test_run_ids_of_configs_without_residual_stay():
    train = TrainConfig(steps=10)
    base = RunConfig("s5", {"length": 4}, "direct", ModelConfig(), train)
    assert "residual" not in base.to_dict()["model"]
    assert RunConfig("s5", {"length": 4}, "direct", ModelConfig(residual="fp32"), train).run_id == base.run_id
    bf16 = RunConfig("s5", {"length": 4}, "direct", ModelConfig(residual="bf16"), train)
    assert bf16.to_dict()["model"]["residual"] == "bf16" and bf16.run_id != base.run_id
    assert RunConfig.from_dict(bf16.to_dict()) == bf16 and RunConfig.from_dict(base.to_dict()) == base


def test_suite_trains_with_the_fp32_residual():
    """The bf16 residual is an option, not the suite's numerics (README, "Performance")."""
    runs = suite_runs("full", ["groups", "arithmetic", "graphs", "compositional", "regression"])
    assert {r.model.residual for r in runs} == {"fp32"}


def test_bf16_residual_gradients_agree_with_fp32():
    """Every parameter gets a gradient in fp32 (the optimizer's dtype), close to the fp32 stream's."""
    x = torch.randint(0, V, (2, 4, T), generator=torch.Generator().manual_seed(2))
    grads = {}
    for residual in ("bf16", "fp32"):
        model = make(residual).train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(x).float().logsumexp(-1).mean().backward()
        grads[residual] = {n: p.grad for n, p in model.named_parameters()}
    for name, g in grads["bf16"].items():
        ref = grads["fp32"][name]
        assert g is not None and g.dtype == torch.float32, name
        assert (g - ref).norm() <= 0.05 * ref.norm() + 1e-6, name
