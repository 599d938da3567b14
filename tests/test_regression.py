"""In-context regression tasks (tasks/regression.py) and their baselines (models/baselines.py)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.baselines import (BASELINES, Averaging, GradientDescent, LeastSquares, NearestNeighbours,
                              PhiLeastSquares, Ridge, PrefixSpectrum, evaluate_baseline, make_baseline)
from tasks.base import CoT, Direct
from tasks.regression import (TASKS, LinReg, NoisyLinReg, RegressionProblem, ReprReg, SparseLinReg,
                              curriculum, nmse_by_k)
from tasks.rng import Rng

SMALL = {"d": 5, "k": 12}


def random_prompts(n=6, k=12, d=5, seed=0):
    return LinReg(d=d, k=k).sample(n, Rng(seed), "cpu")


def per_position(fit, xs, ys):
    """Brute force: for each prompt and position i, fit on examples < i, predict at x_i."""
    xs, ys = xs.double().numpy(), ys.double().numpy()
    n, k, _ = xs.shape
    out = np.zeros((n, k))
    for b in range(n):
        for i in range(1, k):
            out[b, i] = fit(xs[b, :i], ys[b, :i], xs[b, i])
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- tasks
@pytest.mark.parametrize("cls", TASKS)
def test_registry_contract(cls):
    task = cls(**SMALL)
    assert task.family == "regression" and task.complexity == "n/a (real-valued)"
    assert task.views == ("direct",) and "y_0" in cls.__doc__
    p = task.sample(7, Rng(1), "cpu")
    assert p.xs.shape == (7, 12, 5) and p.ys.shape == (7, 12) and len(p) == 7
    assert p.w.shape == (7, task.k.get("rep_dim", 5))
    assert torch.equal(task.solve(p), p.ys) and task.trace(p).shape == (7, 0)
    with pytest.raises(NotImplementedError):
        task.encode(p)
    with pytest.raises(ValueError, match="valid"):
        task.render(p, CoT())
    assert set(task.describe(p)) == {"input", "trace", "answer"}


@pytest.mark.parametrize("cls", TASKS)
def test_determinism(cls):
    task = cls(**SMALL)
    a, b, c = (task.sample(5, Rng(s), "cpu") for s in (3, 3, 4))
    for f in ("xs", "ys", "w"):
        assert torch.equal(getattr(a, f), getattr(b, f))
        assert not torch.equal(getattr(a, f), getattr(c, f))
    ra, rb = task.render(a, Direct()), task.render(b, Direct())
    assert torch.equal(ra.inputs, rb.inputs) and torch.equal(ra.targets.nan_to_num(), rb.targets.nan_to_num())


def test_labels_follow_the_definitions():
    p = LinReg(**SMALL).sample(50, Rng(0), "cpu")
    assert torch.allclose(torch.einsum("nkd,nd->nk", p.xs, p.w), p.ys, atol=1e-5)
    noisy = NoisyLinReg(**SMALL, sigma=0.3).sample(4000, Rng(0), "cpu")
    resid = noisy.ys - torch.einsum("nkd,nd->nk", noisy.xs, noisy.w)
    assert abs(resid.std().item() - 0.3) < 0.01
    sparse = SparseLinReg(d=10, k=4, s=3).sample(200, Rng(0), "cpu")
    support = sparse.w != 0
    assert (support.sum(1) == 3).all() and len({tuple(r.tolist()) for r in support}) > 50
    assert torch.allclose(torch.einsum("nkd,nd->nk", sparse.xs, sparse.w), sparse.ys, atol=1e-5)


def test_reprreg_phi_is_fixed_by_phi_seed():
    a, b, c = ReprReg(**SMALL, phi_seed=7), ReprReg(**SMALL, phi_seed=7), ReprReg(**SMALL, phi_seed=8)
    x = Rng(9).normal((100, 5), "cpu")
    assert torch.equal(a.phi(x), b.phi(x)) and not torch.allclose(a.phi(x), c.phi(x))
    # one Phi for every prompt and every sample: y = w . Phi(x) with the task's Phi
    for seed in (0, 1):
        p = a.sample(64, Rng(seed), "cpu")
        assert torch.allclose(torch.einsum("nkr,nr->nk", a.phi(p.xs.double()), p.w.double()),
                              p.ys.double(), atol=1e-4)
    shapes = [tuple(w.shape) for w in ReprReg(d=3, width=7, rep_dim=4, phi_depth=3).phi_weights("cpu")]
    assert shapes == [(7, 3), (7, 7), (4, 7)]
    assert ReprReg(d=3, rep_dim=4).nmse_dim == 4 and LinReg(d=3).nmse_dim == 3


@pytest.mark.parametrize("cls,knobs,pattern", [
    (SparseLinReg, {"d": 4, "s": 5}, r"s=5 is outside \[1, d=4\]"),
    (LinReg, {"k": 0}, r"k=0 is outside \[1, 4096\]"),
    (NoisyLinReg, {"sigma": -0.1}, r"sigma=-0.1 is outside \[0.0, 100.0\]"),
    (ReprReg, {"width": 0}, r"width=0 is outside \[1, 4096\]"),
    (LinReg, {"n": 3}, r"unknown knob"),
])
def test_bad_knobs_raise(cls, knobs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(**knobs)


def test_docstring_worked_example():
    task = LinReg(d=2, k=2)
    xs = torch.tensor([[[0.5, 1.0], [-1.0, 0.0]]])
    w = torch.tensor([[1.0, -2.0]])
    p = RegressionProblem(xs, torch.einsum("nkd,nd->nk", xs, w), w)
    b = task.render(p, Direct())
    assert b.inputs.tolist() == [[[0.5, 1.0], [-1.5, 0.0], [-1.0, 0.0], [-1.0, 0.0]]]
    assert b.targets.nan_to_num(99).tolist() == [[-1.5, 99, -1.0, 99]]
    assert b.answer_mask.tolist() == [[True, False, True, False]]
    assert b.meta["n_examples"].tolist() == [[0, 0, 1, 1]] and task.solve(p).tolist() == [[-1.5, -1.0]]


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 6), k=st.integers(1, 9), seed=st.integers(0, 2**30))
def test_render_layout(d, k, seed):
    task = NoisyLinReg(d=d, k=k)
    p = task.sample(3, Rng(seed), "cpu")
    b = task.render(p, Direct())
    assert b.inputs.shape == (3, 2 * k, d) and b.inputs.dtype == torch.float32
    assert b.targets.shape == (3, 2 * k) and b.prompt_len == 2 * k
    assert torch.equal(b.inputs[:, 0::2], p.xs)                     # x_i at 2i
    assert torch.equal(b.inputs[:, 1::2, 0], p.ys)                  # (y_i, 0, .., 0) at 2i + 1
    assert not b.inputs[:, 1::2, 1:].any()
    assert torch.equal(b.targets[:, 0::2], p.ys) and b.targets[:, 1::2].isnan().all()
    assert torch.equal(b.answer_mask, ~b.targets.isnan()) and not b.latent_mask.any()
    assert torch.equal(b.meta["y"], p.ys)
    assert b.meta["n_examples"].dtype == torch.long
    assert b.meta["n_examples"][0].tolist() == [t // 2 for t in range(2 * k)]


def test_curriculum():
    garg = [curriculum(2000 * j, 30_000, 20, 41, 5, 11) for j in range(20)]
    assert garg[:3] == [(5, 11), (6, 13), (7, 15)] and garg[15:] == [(20, 41)] * 5
    assert curriculum(10, 0, 8, 9, 2, 3) == (8, 9)
    with pytest.raises(ValueError, match="d_start <= d_final"):
        curriculum(0, 10, 4, 9, 5, 3)
    task = LinReg(d=8, k=10)
    p = task.sample(4, Rng(0), "cpu", d_active=3, k_active=6)
    assert p.xs.shape == (4, 6, 8) and not p.xs[..., 3:].any() and p.xs[..., :3].all()
    assert torch.allclose(torch.einsum("nkd,nd->nk", p.xs, p.w), p.ys, atol=1e-5)
    with pytest.raises(ValueError, match=r"d_active must be in \[1, 8\]"):
        task.sample(4, Rng(0), "cpu", d_active=9)
    # the baselines cope with the zeroed coordinates: exact from i = d_active examples on
    nmse = evaluate_baseline(LeastSquares(), task, task.sample(200, Rng(1), "cpu", d_active=3))["nmse"]
    assert max(nmse[3:]) < 1e-8


def test_nmse_by_k():
    pred, ys = torch.zeros(4, 3), torch.ones(4, 3) * 2
    assert nmse_by_k(pred, ys, 2).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="one shape"):
        nmse_by_k(pred, ys[:, :2], 2)


# ----------------------------------------------------------------------------- baselines
def test_ols_matches_numpy_lstsq():
    p = random_prompts(n=5, k=12, d=5)
    ref = per_position(lambda X, y, x: x @ np.linalg.lstsq(X, y, rcond=None)[0], p.xs, p.ys)
    pred = LeastSquares().predict(p.xs, p.ys)
    assert pred.dtype == torch.float64 and (pred[:, 0] == 0).all()
    assert torch.allclose(pred, ref, atol=1e-8, rtol=1e-6)


def test_ridge_limits():
    p = random_prompts(n=5, k=12, d=5)
    ols = LeastSquares().predict(p.xs, p.ys)
    assert torch.allclose(Ridge(1e-9).predict(p.xs, p.ys), ols, atol=1e-4)
    assert Ridge(1e9).predict(p.xs, p.ys).abs().max() < 1e-6
    lam = 0.7
    ref = per_position(lambda X, y, x: x @ np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y),
                       p.xs, p.ys)
    assert torch.allclose(Ridge(lam).predict(p.xs, p.ys), ref, atol=1e-8)


def gd_loop(X, y, x, steps):
    w, i = np.zeros(X.shape[1]), X.shape[0]
    lr = i / np.linalg.norm(X, 2) ** 2  # 1 / L, L = largest eigenvalue of X^T X / i
    for _ in range(steps):
        w = w - lr * X.T @ (X @ w - y) / i
    return x @ w


def test_gd_equals_explicit_iterations_and_converges_to_ols():
    p = random_prompts(n=4, k=12, d=5)
    for steps in (0, 1, 3, 10):
        ref = per_position(lambda X, y, x: gd_loop(X, y, x, steps), p.xs, p.ys)
        assert torch.allclose(GradientDescent(steps).predict(p.xs, p.ys), ref, atol=1e-8)
    p = random_prompts(n=20, k=24, d=4)
    ols, gd = LeastSquares().predict(p.xs, p.ys), GradientDescent(steps=5000).predict(p.xs, p.ys)
    assert torch.allclose(gd[:, 12:], ols[:, 12:], atol=1e-6)   # k >= 3d examples
    assert not torch.allclose(GradientDescent(1).predict(p.xs, p.ys)[:, 12:], ols[:, 12:], atol=1e-2)
    fixed = GradientDescent(steps=1, lr=0.5).predict(p.xs, p.ys)
    assert torch.allclose(fixed, 0.5 * Averaging().predict(p.xs, p.ys), atol=1e-10)


def test_one_spectrum_serves_ols_ridge_and_gd():
    p = random_prompts(n=6, k=12, d=5)
    spectrum = PrefixSpectrum(p.xs, p.ys)  # what the runner's dist_* metrics share between learners
    for learner in (LeastSquares(), Ridge(0.3), GradientDescent(2)):
        assert torch.equal(spectrum.predict(learner.coef), learner.predict(p.xs, p.ys)), learner.name


def test_averaging_closed_form():
    p = random_prompts()
    ref = per_position(lambda X, y, x: x @ (y[:, None] * X).mean(0), p.xs, p.ys)
    assert torch.allclose(Averaging().predict(p.xs, p.ys), ref, atol=1e-10)


@pytest.mark.parametrize("kk", [1, 3, 20])
def test_knn_brute_force(kk):
    p = random_prompts(n=5, k=15, d=3)
    ref = per_position(lambda X, y, x: y[np.argsort(np.linalg.norm(X - x, axis=1))[:kk]].mean(), p.xs, p.ys)
    assert torch.allclose(NearestNeighbours(kk).predict(p.xs, p.ys), ref, atol=1e-10)


def test_ols_nmse_curve_on_linreg():
    d, n = 8, 3000
    task = LinReg(d=d, k=12)
    p = task.sample(n, Rng(5), "cpu")
    res = evaluate_baseline(LeastSquares(), task, p)
    assert res["n_examples"] == list(range(12)) and res["baseline"] == "ols" and res["task"] == "linreg"
    err = (LeastSquares().predict(p.xs, p.ys) - p.ys.double()) ** 2 / d  # (n, k)
    assert torch.allclose(err.mean(0), torch.tensor(res["nmse"], dtype=torch.float64))
    # E = (d - i) / d below d (the part of w outside the span of i examples), within 4 std errors
    for i in range(d):
        se = err[:, i].std().item() / math.sqrt(n)
        assert abs(res["nmse"][i] - (d - i) / d) < 4 * se, (i, res["nmse"][i], se)
    assert max(res["nmse"][d:]) < 1e-8  # float32 labels: ~1e-10 at i = d, where X is square


def test_ridge_sigma2_beats_ols_near_d():
    d, sigma = 8, 0.5
    task = NoisyLinReg(d=d, k=2 * d, sigma=sigma)
    p = task.sample(2000, Rng(2), "cpu")
    ols = evaluate_baseline(LeastSquares(), task, p)["nmse"]
    ridge = evaluate_baseline(Ridge(sigma ** 2), task, p)["nmse"]
    for i in range(d - 2, d + 3):
        assert ridge[i] < ols[i], (i, ridge[i], ols[i])
    assert sum(ridge) < sum(ols)


def test_oracle_beats_ols_on_reprreg():
    task = ReprReg(d=6, k=24, width=16, rep_dim=8)
    p = task.sample(400, Rng(3), "cpu")
    oracle = evaluate_baseline(PhiLeastSquares(task.phi), task, p)["nmse"]
    ols = evaluate_baseline(LeastSquares(), task, p)["nmse"]
    assert oracle[0] == ols[0] and all(o < l for o, l in zip(oracle[1:], ols[1:]))
    assert max(oracle[16:]) < 0.01 and min(ols[16:]) > 0.3  # Phi is not linear: OLS on x stays off


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_registry_baselines(name):
    task = ReprReg(**SMALL)
    kwargs = {"phi": task.phi} if name == "phi_ols" else {}
    baseline = make_baseline(name, **kwargs)
    p = task.sample(9, Rng(4), "cpu")
    pred = baseline.predict(p.xs, p.ys)
    assert pred.shape == (9, 12) and (pred[:, 0] == 0).all() and pred.isfinite().all()
    # causal: changing the last example does not change any earlier prediction
    xs2, ys2 = p.xs.clone(), p.ys.clone()
    xs2[:, -1], ys2[:, -1] = 5.0, -3.0
    assert torch.allclose(baseline.predict(xs2, ys2)[:, :-1], pred[:, :-1])
    res = evaluate_baseline(baseline, task, p)
    assert len(res["nmse"]) == 12 and res["baseline"] == baseline.name


def test_bad_baselines_raise():
    with pytest.raises(ValueError, match="known: averaging, gd, knn, ols, phi_ols, ridge"):
        make_baseline("lasso")
    for bad in (lambda: Ridge(-1.0), lambda: GradientDescent(-1), lambda: NearestNeighbours(0)):
        with pytest.raises(ValueError):
            bad()
