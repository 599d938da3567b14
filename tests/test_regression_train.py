"""The float path end to end: the regression objective, training, baselines as models and
leaderboard rows, the suite and its figures (CPU, tiny models)."""
import math

import pytest
import torch
import torch.nn.functional as F

from models import CLOSED_FORM, MODELS, build_model
from models.baselines import (Averaging, BaselineModel, LeastSquares, NearestNeighbours, Ridge,
                              evaluate_baseline)
from models.transformer import ModelConfig, StackedTransformer
from runners.aggregate import aggregate
from runners.config import RunConfig, TrainConfig
from runners.objective import OBJECTIVES, make_objective
from runners.regression_objective import RegressionObjective, nmse_key, per_model_mse
from runners.results_csv import higher_is_better, read_results, write_results
from runners.suite import suite_experiments, suite_runs
from runners.suites.regression import SIZES, step_ms
from runners.sweep import make_groups, run_sweep
from runners.train import Trainer, train_group
from tasks import Direct
from tasks.regression import LinReg, NoisyLinReg, ReprReg
from tasks.rng import Rng

TINY = ModelConfig(n_layer=1, d_model=16, n_head=2)
KNOBS = {"d": 3, "k": 5}


def net(seed=0, task="linreg", knobs=KNOBS, steps=6, model=TINY, eval_size=48):
    train = TrainConfig(steps=steps, batch_size=8, lr=3e-3, eval_size=eval_size, log_every=2)
    return RunConfig(task, knobs, "direct", model, train, seed=seed)


def baseline(arch, seed=0, task="linreg", knobs=KNOBS, eval_size=48):
    train = TrainConfig(steps=1, batch_size=1, eval_size=eval_size, log_every=1)
    return RunConfig(task, knobs, "direct", ModelConfig(1, 1, 1), train, seed=seed, arch=arch)


# ----------------------------------------------------------------------------- objective
def test_registered_and_dispatched():
    assert OBJECTIVES["regression"] is RegressionObjective and RegressionObjective.graphable
    task = LinReg(**KNOBS)
    model = build_model("transformer", TINY, 2, task, 10)
    assert model.d_in == 3 and isinstance(make_objective(task, Direct(), model, "cpu"), RegressionObjective)
    assert set(CLOSED_FORM) == {"ols", "ridge", "gd", "knn3", "averaging", "phi_ols"} <= set(MODELS)
    assert nmse_key(5, 21) == "nmse@k=05" and nmse_key(5, 200) == "nmse@k=005"
    assert not higher_is_better("nmse@k=05") and not higher_is_better("dist_ols") and not higher_is_better("nmse")


def test_loss_ignores_nan_targets():
    pred = torch.tensor([[[1.0, 5.0, 2.0, 7.0]], [[0.0, 1.0, 0.0, 1.0]]])  # (m=2, B=1, T=4)
    nan = float("nan")
    y = torch.tensor([[[0.0, nan, 0.0, nan]], [[1.0, nan, nan, nan]]])
    assert per_model_mse(pred, y).tolist() == [2.5, 1.0]
    assert per_model_mse(pred, torch.full_like(y, nan)).tolist() == [0.0, 0.0]


def test_every_parameter_gets_a_gradient():
    task = LinReg(**KNOBS)
    model = build_model("transformer", TINY, 2, task, 10)
    obj = make_objective(task, Direct(), model, "cpu")
    b = task.render(task.sample(4, Rng(0), "cpu"), Direct())
    x, y = torch.stack([b.inputs] * 2), torch.stack([b.targets] * 2)
    grads = torch.autograd.grad(obj.loss(x, y).sum(), list(model.parameters()))
    assert all(g is not None for g in grads)


# ----------------------------------------------------------------------------- model
def test_float_and_token_paths_share_the_trunk():
    V, T = 6, 7
    model = StackedTransformer(ModelConfig(n_layer=2, d_model=16, n_head=2), 2, V, T, d_in=V)
    with torch.no_grad():  # a read-in that maps the one-hot vector of token v to v's embedding
        model.read_in_w.copy_(model.wte)
        model.read_in_b.zero_()
    idx = torch.randint(0, V, (2, 3, T), generator=torch.Generator().manual_seed(0))
    x = F.one_hot(idx, V).float()
    h_tok, h_float = model.embed_tokens(idx), model.embed_floats(x)
    torch.testing.assert_close(h_float, h_tok)
    hidden = model.trunk(h_tok)
    torch.testing.assert_close(model.trunk(h_float), hidden)
    torch.testing.assert_close(model(x), model.read_out(hidden))
    torch.testing.assert_close(model(idx), model.logits(hidden))
    assert model(x).shape == (2, 3, T) and model(idx).shape == (2, 3, T, V)


def test_baseline_model_reads_the_garg_layout():
    task = NoisyLinReg(d=3, k=6, sigma=0.5)
    p = task.sample(5, Rng(2), "cpu")
    b = task.render(p, Direct())
    for learner in (LeastSquares(), Ridge(0.25), NearestNeighbours(3), Averaging()):
        out = BaselineModel(learner, 2)(torch.stack([b.inputs, b.inputs]))
        assert out.shape == (2, 5, 12) and not out[:, :, 1::2].any()
        assert torch.equal(out[1, :, 0::2], learner.predict(p.xs, p.ys))
    model = build_model("ridge", TINY, 1, task, 12)
    assert model.baseline == Ridge(lam=0.25) and model.n_params() == 0 and not list(model.parameters())
    assert build_model("phi_ols", TINY, 1, ReprReg(d=3, k=6), 12).baseline.phi is not None
    with pytest.raises(ValueError, match="reprreg"):
        build_model("phi_ols", TINY, 1, task, 12)


# ----------------------------------------------------------------------------- training
def test_training_is_deterministic():
    a, b = train_group([net(0), net(1)]), train_group([net(0), net(1)])
    assert [r["metrics"] for r in a] == [r["metrics"] for r in b]
    assert a[0]["metrics"] != a[1]["metrics"]
    m = a[0]["metrics"]
    assert {"nmse", "loss", "eval_loss", "dist_gd", "dist_ridge", "dist_ols"} <= set(m)
    assert [key for key in m if key.startswith("nmse@")] == [f"nmse@k={i:02d}" for i in range(5)]
    assert math.isclose(m["nmse"], sum(m[f"nmse@k={i:02d}"] for i in range(5)) / 5, rel_tol=1e-5)
    assert m["dist_ridge"] == m["dist_ols"]  # sigma = 0: ridge with lam = 0 is least squares


def test_stacked_equals_solo_for_the_float_path():
    stack = Trainer([net(0), net(1), net(2, "noisylinreg", {**KNOBS, "sigma": 0.5})], "cpu")
    stack.train()
    solo = Trainer([net(2, "noisylinreg", {**KNOBS, "sigma": 0.5})], "cpu")
    solo.train()
    torch.testing.assert_close(stack.opt.flat[2:3], solo.opt.flat, rtol=0, atol=1e-5)
    s, o = stack.evaluate()[2], solo.evaluate()[0]
    assert s.keys() == o.keys() and all(math.isclose(s[k], o[k], rel_tol=1e-4, abs_tol=1e-6) for k in s)


def test_curriculum_keeps_shapes_and_masks_late_examples():
    task = LinReg(d=8, k=9, curriculum=100)
    assert task.curriculum_at(0) == (2, 5) and task.curriculum_at(100) == task.curriculum_at(10**6) == (8, 9)
    b = task.train_batch(4, Rng(0), "cpu", Direct(), step=0)
    assert b.inputs.shape == (4, 18, 8) and not b.inputs[:, 0::2, 2:].any()
    assert b.targets[:, 10:].isnan().all() and not b.targets[:, 0:10:2].isnan().any()
    assert b.answer_mask.sum(1).tolist() == [5] * 4
    full = task.train_batch(4, Rng(0), "cpu", Direct(), step=100)
    assert (~full.targets.isnan()).sum().item() == 4 * 9
    # a stack trains with a curriculum in one member only; evaluation uses the full d and k
    runs = [net(0, knobs={**KNOBS, "curriculum": 4}), net(0)]
    recs = train_group(runs)
    assert recs[0]["metrics"] != recs[1]["metrics"]


# ----------------------------------------------------------------------------- rows
def test_baseline_rows_come_out_of_the_sweep(tmp_path):
    runs = [net(s) for s in (0, 1)] + [baseline(a, s) for a in ("ols", "knn3", "averaging", "gd") for s in (0, 1)]
    runs += [baseline("ridge", 0, "noisylinreg", {**KNOBS, "sigma": 0.5}), baseline("phi_ols", 0, "reprreg", KNOBS)]
    counts = run_sweep(runs, root=tmp_path, progress=False)
    assert counts["trained"] == len(runs)
    df = aggregate(runs, tmp_path)
    write_results(df, tmp_path / "out.csv")
    df = read_results(tmp_path / "out.csv")
    assert set(df["model"]) == {"transformer", "ols", "knn3", "averaging", "gd", "ridge", "phi_ols"}
    per_k = [f"nmse@k={i:02d}" for i in range(5)]
    for model, rows in df.groupby("model"):
        metrics = set(rows["metric"])
        assert {"nmse", "dist_gd", "dist_ridge", "dist_ols", *per_k} <= metrics
        assert ("loss" in metrics) == (model == "transformer")
        assert (rows["params"] == 0).all() == (model != "transformer")
    # the ols rows are least squares on the transformer's eval prompts (seed s: Rng(s).fork("eval"))
    task = LinReg(**KNOBS)
    ols = df[(df["model"] == "ols")].set_index("metric")
    direct = [evaluate_baseline(LeastSquares(), task, task.sample(48, Rng(s).fork("eval"), "cpu"))["nmse"]
              for s in (0, 1)]
    for i, key in enumerate(per_k):
        assert math.isclose(ols.loc[key, "mean"], (direct[0][i] + direct[1][i]) / 2, rel_tol=1e-6, abs_tol=1e-9)
    assert ols.loc["dist_ols", "mean"] == 0 and ols.loc["nmse@k=04", "mean"] < 1e-6  # exact from d = 3 on
    ridge = df[(df["model"] == "ridge")].set_index("metric")
    assert ridge.loc["dist_ridge", "mean"] == 0 and ridge.loc["dist_ols", "mean"] > 0


def test_suite_builds():
    for preset in ("smoke", "full", "paper"):
        exps = suite_experiments(preset, ["regression"])
        assert set(exps) == {"garg_icl", "akyurek_depth", "guo_repr"}
        runs = suite_runs(preset, ["regression"])
        for group in make_groups(runs):
            tasks = [r.make_task() for r in group]
            assert len({t.input_dim for t in tasks}) == 1  # one read-in width per stack
        nets = {r.run_id for r in exps["akyurek_depth"] if r.arch == "transformer"}
        garg_nets = [r for r in exps["garg_icl"] if r.arch == "transformer"]
        shared = SIZES[preset]["garg_steps"] == SIZES[preset]["steps"]  # then Garg's model is one of the sweep's
        assert garg_nets and ({r.run_id for r in garg_nets} <= nets) == shared
        depths = {r.model.n_layer for r in exps["akyurek_depth"] if r.arch == "transformer"}
        assert depths == {"smoke": {1, 2}, "full": {1, 2, 4, 8}, "paper": {1, 2, 4, 8, 12}}[preset]
        for r in runs:  # baselines see the transformers' eval prompts: same eval_size, seeds and tasks
            assert r.train.eval_size == garg_nets[0].train.eval_size
        d = garg_nets[0].make_task().k["d"]
        assert garg_nets[0].make_task().k["k"] >= 2 * d + 1
    smoke = suite_runs("smoke", ["regression"])
    assert max(r.train.steps for r in smoke) <= 300 and max(r.model.d_model for r in smoke) <= 32


def test_full_fits_its_budget_by_the_step_cost_model():
    groups = make_groups(suite_runs("full", ["regression"]))
    nets = [g for g in groups if g[0].arch == "transformer"]
    # 3 stacked 1-layer models over 34 positions: 1.9 ms a step on an H100 (the measured reference)
    assert math.isclose(step_ms([net(s, model=ModelConfig(1, 128, 4), knobs={"d": 3, "k": 17}) for s in range(3)]),
                        1.9, rel_tol=0.05)
    train_s = sum(step_ms(g) * g[0].train.steps for g in nets) / 1000
    assert train_s <= 60, f"full's stacks need ~{train_s:.0f} s of steps; 90 s in all leaves ~30 s for overhead"


def test_figures_draw_from_the_csv(tmp_path):
    from paper_figs import fig_akyurek, fig_garg, fig_guo
    from runners.suites.regression import check
    runs = [net(0, model=ModelConfig(n_layer=L, d_model=16, n_head=2)) for L in (1, 2)]
    runs += [net(0, "noisylinreg", {**KNOBS, "sigma": 0.5}, model=ModelConfig(n_layer=L, d_model=16, n_head=2))
             for L in (1, 2)]
    rep = {**KNOBS, "rep_dim": 2, "width": 4}
    runs += [net(0, "reprreg", rep)] + [baseline(a) for a in ("ols", "gd", "knn3", "averaging")]
    runs += [baseline(a, task="reprreg", knobs=rep) for a in ("phi_ols", "ols")]
    run_sweep(runs, root=tmp_path / "runs", progress=False)
    write_results(aggregate(runs, tmp_path / "runs"), tmp_path / "out.csv")
    df = read_results(tmp_path / "out.csv")
    for mod, name in ((fig_garg, "garg_d3.png"), (fig_akyurek, "akyurek_phase.png"), (fig_guo, "guo_d3_r2.png")):
        paths = mod.draw(df, tmp_path / "figs")
        assert [p.name for p in paths] == [name] and paths[0].stat().st_size > 0
    assert fig_garg.draw(df[df["task"] == "s5"], tmp_path) == []
    table = fig_akyurek.closest_table(df)
    assert set(table) == {(1, 0.0), (2, 0.0), (1, 0.5), (2, 0.5)} and "ridge" not in table[(1, 0.0)][0]
    lines = check(df)
    assert len(lines) == 2 and all(line.startswith(("ok", "FAIL")) for line in lines)


# ----------------------------------------------------------------------------- GPU only
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@gpu
def test_float_path_graph_replay_equals_eager(monkeypatch):
    runs = [net(s, steps=12) for s in (0, 1)]
    graph = Trainer(runs, "cuda")
    graph.train()
    assert graph.graph is not None
    monkeypatch.setenv("DEPTHBENCH_NO_GRAPH", "1")
    eager = Trainer(runs, "cuda")
    eager.train()
    torch.testing.assert_close(graph.opt.flat, eager.opt.flat, rtol=0, atol=2e-3)


@gpu
def test_baselines_on_gpu_match_cpu():
    task = NoisyLinReg(d=10, k=21, sigma=0.5)
    p = task.sample(256, Rng(0), "cpu")
    for learner in (LeastSquares(), Ridge(0.25), NearestNeighbours(3), Averaging()):
        torch.testing.assert_close(learner.predict(p.xs.cuda(), p.ys.cuda()).cpu(), learner.predict(p.xs, p.ys),
                                   rtol=1e-5, atol=1e-6)
    cpu, cuda = train_group([baseline("ols", knobs={"d": 10, "k": 21})]), \
        train_group([baseline("ols", knobs={"d": 10, "k": 21})], device="cuda")
    assert all(math.isclose(cpu[0]["metrics"][k], v, rel_tol=1e-6, abs_tol=1e-9) for k, v in cuda[0]["metrics"].items())
