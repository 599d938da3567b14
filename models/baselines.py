"""Closed-form in-context learners: the baselines a transformer's regression curve is read against.

Every baseline is a model with a `name` and `predict(xs, ys) -> (n, k)`: at each position i
it predicts y_i from x_i and the first i examples (x_j, y_j), j < i, only, and predicts 0 at
i = 0. Predictions are float64 on the inputs' device, vectorized over the batch and the
positions (ols, ridge and gd: one batched eigendecomposition of the prefix Gram matrices,
`PrefixSpectrum`, which the three can share through their `coef`). `evaluate_baseline` scores
them with `tasks.regression.nmse_by_k`, the function the runner uses for transformers.

    ols           minimum-norm least squares (the pseudo-inverse, from X^T X's eigenvectors)
    ridge(lam)    argmin_w sum_j (w.x_j - y_j)^2 + lam |w|^2 (Bayes for noise sigma, lam = sigma^2)
    gd(steps)     `steps` steps of gradient descent on (1/2i) sum_j (w.x_j - y_j)^2 from w = 0
    knn(k)        mean label of the k nearest earlier x's (Euclidean; fewer if i < k)
    averaging     w_hat = mean_j y_j x_j (Garg et al.)
    phi_ols(phi)  least squares on Phi(x): the oracle for reprreg, given the task's Phi

Step size of gd: 1/L with L = s_max^2 / i, the largest eigenvalue of the loss's Hessian
X^T X / i over the i examples (exact, from the eigendecomposition): the largest step stable for
every prompt and, from w = 0, converges to the minimum-norm least-squares solution. A fixed
`lr` can be given instead. The iterates are computed in closed form in the SVD basis: along
a singular direction (s, u, v) each step multiplies the error by rho = 1 - lr s^2 / i, so
after t steps w = sum_s (1 - rho^t) / s (u . y) v, the same w as t explicit steps.

As models of the registry (models/__init__.py) they are `BaselineModel`s: zero parameters,
nothing to train, the float path of the transformer's Batch in and predictions out, so a
RunConfig(arch="ols", ...) is scored by the runner's own objective on the transformer's eval
prompts. Arch names (`ARCHS`): ols, ridge (lam = sigma^2 of the task, the Bayes ridge on
noisylinreg; 0, i.e. ols, on a task without noise), gd (one step, lr = 1/L), knn3,
averaging, phi_ols (reprreg only).

Worked example (d = 1, one prompt, x = (1, 2, 2), y = (2, 4, 4.4)):
    position i         0    1    2       (y_i predicted at x_i from examples j < i)
    ols                0    4    4       w = 2/1, then (2 + 8) / (1 + 4) = 2
    ridge(lam=1)       0    2    3.33    w = 2/(1 + 1), then 10 / (5 + 1)
    gd(steps=1)        0    4    4       lr = 1/L: w = (i / |x|^2) mean_j y_j x_j = 2
    knn(k=3)           0    2    3       mean of all earlier labels while i < 3
    averaging          0    4    10      w_hat = 2, then (2 + 8) / 2 = 5
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from tasks.regression import nmse_by_k

EPS64 = torch.finfo(torch.float64).eps


class PrefixSpectrum:
    """The eigendecomposition every spectral estimator (ols, ridge, gd) of a set of prompts
    shares, computed once: with G_i = X_<i^T X_<i = V diag(lam) V^T (lam = s^2, the squared
    singular values of X_<i) and b_i = X_<i^T y_<i, an estimator fitted on the first i examples
    is w_i = sum_r coef(lam_r, lam_max, i) (v_r . b_i) v_r: ols coef = 1 / lam, ridge
    1 / (lam + l), t GD steps (1 - rho^t) / lam. xs (n, k, d), ys (n, k); `predict(coef)`
    -> (n, k) float64, the prediction at x_i for every i. One batched eigendecomposition of
    the (n, k, d, d) prefix Gram matrices (cumulative sums), not a solve per position.
    Eigenvalues below lam_max * 10 (d + k) eps (the rounding level of G) count as 0: the
    pseudo-inverse's cut-off (singular values below ~3e-7 s_max at d = 10, k = 21)."""

    def __init__(self, xs: torch.Tensor, ys: torch.Tensor):
        X, Y = xs.double(), ys.double()
        n, k, d = X.shape
        outer = X[..., :, None] * X[..., None, :]                            # (n, k, d, d)
        zero = torch.zeros_like(outer[:, :1])
        G = torch.cat([zero, outer[:, :-1].cumsum(1)], 1)                    # sum over j < i
        yx = Y[..., None] * X
        b = torch.cat([torch.zeros_like(yx[:, :1]), yx[:, :-1].cumsum(1)], 1)  # (n, k, d) X_<i^T y_<i
        # on the CPU: cuSOLVER's batched float64 eigh failed with CUSOLVER_STATUS_INTERNAL_ERROR on an
        # H100 (2026-11-23); these d x d systems are small, so the round trip costs little
        lam, V = (t.to(G.device) for t in torch.linalg.eigh(G.cpu()))       # ascending; v_r = V[..., :, r]
        lam_max = lam[..., -1:]
        self.keep = lam > lam_max.clamp(min=0) * 10 * (d + k) * EPS64
        self.lam = torch.where(self.keep, lam, 1.0)
        self.lam_max = torch.where(lam_max > 0, lam_max, 1.0)
        self.i = torch.arange(k, device=X.device, dtype=X.dtype).clamp(min=1).view(1, k, 1)
        # (n, k, d): (v_r . b_i)(v_r . x_i), what each direction's coefficient multiplies
        self.proj = (V * b[..., :, None]).sum(-2) * (V * X[..., :, None]).sum(-2)

    def predict(self, coef) -> torch.Tensor:
        c = torch.where(self.keep, coef(self.lam, self.lam_max, self.i), 0.0)  # (n, k, d)
        return (c * self.proj).sum(-1)


@dataclass(frozen=True)
class LeastSquares:
    """Minimum-norm least squares: w = pinv(X_<i) y_<i. Exact (error 0) once i >= d on
    noiseless linreg; below d its expected NMSE is (d - i) / d."""

    @property
    def name(self) -> str:
        return "ols"

    def coef(self, lam, lam_max, i):
        return 1.0 / lam

    def predict(self, xs, ys):
        return PrefixSpectrum(xs, ys).predict(self.coef)


@dataclass(frozen=True)
class Ridge:
    """Ridge regression, w = (X^T X + lam I)^-1 X^T y on the first i examples (a sum, not
    a mean, of squared errors): with x, w ~ N(0, I) and noise sigma, lam = sigma^2 gives the
    posterior mean. lam -> 0 is `ols`, lam -> inf predicts 0."""
    lam: float = 0.1

    def __post_init__(self):
        if not self.lam >= 0:
            raise ValueError(f"ridge needs lam >= 0, got {self.lam}")

    @property
    def name(self) -> str:
        return f"ridge(lam={self.lam:g})"

    def coef(self, lam, lam_max, i):
        return 1.0 / (lam + self.lam)

    def predict(self, xs, ys):
        return PrefixSpectrum(xs, ys).predict(self.coef)


@dataclass(frozen=True)
class GradientDescent:
    """`steps` steps of gradient descent on (1/2i) |X w - y|^2 from w = 0, step size 1/L with
    L = s_max^2 / i the largest Hessian eigenvalue (or the fixed `lr`). One step with a
    fixed lr is the estimator lr * mean_j y_j x_j, i.e. `averaging` scaled by lr."""
    steps: int = 1
    lr: float | None = None

    def __post_init__(self):
        if self.steps < 0 or (self.lr is not None and not self.lr > 0):
            raise ValueError(f"gd needs steps >= 0 and lr > 0 (or None for 1/L), got {self}")

    @property
    def name(self) -> str:
        return f"gd(steps={self.steps})" if self.lr is None else f"gd(steps={self.steps},lr={self.lr:g})"

    def coef(self, lam, lam_max, i):
        lr = i / lam_max if self.lr is None else self.lr
        rho = 1.0 - lr * lam / i
        return (1.0 - rho ** self.steps) / lam

    def predict(self, xs, ys):
        return PrefixSpectrum(xs, ys).predict(self.coef)


@dataclass(frozen=True)
class NearestNeighbours:
    """Mean label of the k nearest (Euclidean) earlier inputs; all of them while i < k."""
    k: int = 3

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"knn needs k >= 1, got {self.k}")

    @property
    def name(self) -> str:
        return f"knn(k={self.k})"

    def predict(self, xs, ys):
        X, Y = xs.double(), ys.double()
        n, k, _ = X.shape
        dist = torch.cdist(X, X, compute_mode="donot_use_mm_for_euclid_dist")  # (n, k, k): query i, example j
        later = torch.ones(k, k, dtype=torch.bool, device=X.device).triu()  # j >= i is not yet seen
        dist = dist.masked_fill(later, float("inf"))
        near, idx = dist.topk(min(self.k, k), dim=-1, largest=False)        # (n, k, m)
        seen = torch.isfinite(near)
        labels = Y[:, None, :].expand(n, k, k).gather(-1, idx)
        return (labels * seen).sum(-1) / seen.sum(-1).clamp(min=1)


@dataclass(frozen=True)
class Averaging:
    """w_hat = (1/i) sum_{j<i} y_j x_j, prediction w_hat . x_i (Garg et al.); unbiased for
    x ~ N(0, I) since E[y x] = w, but its variance does not vanish as quickly as OLS."""

    @property
    def name(self) -> str:
        return "averaging"

    def predict(self, xs, ys):
        X, Y = xs.double(), ys.double()
        yx = Y[..., None] * X                                   # (n, k, d)
        before = yx.cumsum(1) - yx                              # sum over j < i
        count = torch.arange(X.shape[1], device=X.device).clamp(min=1)
        return (before * X).sum(-1) / count


@dataclass(frozen=True)
class PhiLeastSquares:
    """The reprreg oracle: minimum-norm least squares on the features Phi(x), with the
    task's own Phi (pass `phi=task.phi`). Exact once the features of the examples so far
    span those of x_i; ReLU features can be 0 on every example so far, so this can take
    more than rep_dim examples."""
    phi: Callable[[torch.Tensor], torch.Tensor]

    @property
    def name(self) -> str:
        return "phi_ols"

    def predict(self, xs, ys):
        return LeastSquares().predict(self.phi(xs.double()), ys)


BASELINES = {"ols": LeastSquares, "ridge": Ridge, "gd": GradientDescent, "knn": NearestNeighbours,
             "averaging": Averaging, "phi_ols": PhiLeastSquares}


def make_baseline(name: str, **kwargs):
    """BASELINES[name](**kwargs), e.g. make_baseline("ridge", lam=0.25)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(sorted(BASELINES))}")
    return BASELINES[name](**kwargs)


def evaluate_baseline(baseline, task, problem) -> dict:
    """Score a baseline on a sampled problem, as a transformer is scored: NMSE (squared error
    / task.nmse_dim, d for the linear tasks) by number of in-context examples.
    Returns {"baseline", "task", "n_examples": [0..k-1], "nmse": [k floats]}."""
    pred = baseline.predict(problem.xs, problem.ys)
    nmse = nmse_by_k(pred, problem.ys, task.nmse_dim)
    return {"baseline": baseline.name, "task": task.name,
            "n_examples": list(range(problem.ys.shape[1])), "nmse": nmse.tolist()}


def reference_baselines(sigma: float = 0.0) -> dict:
    """The learners a model's predictions are compared with (Akyurek et al.): one step of GD,
    the Bayes ridge (lam = sigma^2) and least squares. name -> baseline."""
    return {"gd": GradientDescent(steps=1), "ridge": Ridge(lam=float(sigma) ** 2), "ols": LeastSquares()}


def _phi_ols(task):
    if not hasattr(task, "phi"):
        raise ValueError(f"phi_ols needs a task with a representation Phi (reprreg), got {task.name}")
    return PhiLeastSquares(phi=task.phi)


# arch name -> (task -> baseline): the baselines as registered models (models/__init__.py)
ARCHS = {
    "ols": lambda task: LeastSquares(),
    "ridge": lambda task: Ridge(lam=float(task.k.get("sigma", 0.0)) ** 2),
    "gd": lambda task: GradientDescent(steps=1),
    "knn3": lambda task: NearestNeighbours(k=3),
    "averaging": lambda task: Averaging(),
    "phi_ols": _phi_ols,
}


class BaselineModel(nn.Module):
    """A closed-form learner as a model: zero parameters, nothing to train. Float path only:
    Garg-layout inputs (m, B, 2k, d) -> (m, B, 2k) float64, the prediction of y_i at x_i's
    position 2i (where a transformer is read) and 0 at the (y_i, 0, ..) positions. It reads
    x_i from inputs[..., 2i, :] and y_i from inputs[..., 2i + 1, 0], nothing else."""

    def __init__(self, baseline, m: int = 1):
        super().__init__()
        self.baseline, self.m = baseline, m

    def init_weights(self, seeds):
        """Nothing to initialise."""

    def n_params(self) -> int:
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.dtype.is_floating_point or x.dim() != 4 or x.shape[2] % 2:
            raise ValueError(f"{self.baseline.name} reads float prompts (m, B, 2k, d), got {tuple(x.shape)} {x.dtype}")
        m, B, T, d = x.shape
        xs = x[:, :, 0::2].reshape(m * B, T // 2, d)
        ys = x[:, :, 1::2, 0].reshape(m * B, T // 2)
        out = torch.zeros(m, B, T, dtype=torch.float64, device=x.device)
        out[:, :, 0::2] = self.baseline.predict(xs, ys).view(m, B, T // 2)
        return out


__all__ = ["BASELINES", "ARCHS", "PrefixSpectrum", "make_baseline", "evaluate_baseline", "reference_baselines",
           "BaselineModel",
           "LeastSquares", "Ridge", "GradientDescent", "NearestNeighbours", "Averaging", "PhiLeastSquares"]
