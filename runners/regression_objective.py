"""The float path: in-context regression trained and scored, transformers and baselines alike.

`RegressionObjective` (OBJECTIVES["regression"], for every task of family "regression"):
    loss      mean squared error at the scored positions (targets not NaN), per model (m,);
              no data-dependent host sync, so the training step is captured as a CUDA graph
    evaluate  the prediction read at x_i (position 2i) against y_i, by `tasks.regression.nmse_by_k`
              (the function `models.baselines.evaluate_baseline` uses), as metrics:
        nmse          the mean over positions of the NMSE by number of examples
        nmse@k=05     NMSE of the prediction made after 5 examples (zero-padded, so names sort)
        dist_gd, dist_ridge, dist_ols
                      mean over prompts and positions of (model - learner)^2 / nmse_dim, the
                      learner fitted on the same prompt (one GD step at 1/L, ridge with
                      lam = sigma^2, least squares): which algorithm the model is closest to
                      (Akyurek et al.)
        eval_loss     the MSE of the loss, on the eval prompts

`evaluate_closed_form_group` is train_group for the baselines as models (arch ols, ridge, gd,
knn3, averaging, phi_ols; models/baselines.py): nothing is trained; each run's model is built
from its own task and scored by this objective on the eval prompts a trained run with the same
seed and eval_size sees (task.for_eval(), Rng(seed).fork("eval"), as Trainer.evaluate).
"""
from __future__ import annotations

import time

import torch

from models.baselines import PrefixSpectrum, reference_baselines
from tasks.regression import nmse_by_k


def nmse_key(i: int, k: int) -> str:
    """Metric name of the NMSE after i examples in prompts of k: 'nmse@k=05' for i = 5, k = 21."""
    return f"nmse@k={i:0{max(2, len(str(k - 1)))}d}"


def per_model_mse(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the scored (non-NaN) targets, per model: (m, B, T) x2 -> (m,).
    NaN targets are masked with torch.where, never indexed out, so nothing syncs the host."""
    scored = ~torch.isnan(targets)
    err = torch.where(scored, pred.float() - torch.nan_to_num(targets.float()), 0.0)
    return err.pow(2).flatten(1).sum(1) / scored.flatten(1).sum(1).clamp(min=1)


class RegressionObjective:
    graphable = True  # the training step can be captured as a CUDA graph

    def __init__(self, model, view, device):
        self.model, self.view, self.device = model, view, torch.device(device)
        # the float path leaves the token table and head unused; a zero-weighted term keeps them
        # in the autograd graph (the trainer differentiates with respect to every parameter)
        self.unused = [p for p in (getattr(model, "wte", None), getattr(model, "head_w", None)) if p is not None]

    def loss(self, x, y) -> torch.Tensor:
        from runners.objective import attention_backends, autocast
        with autocast(self.device), attention_backends():
            loss = per_model_mse(self.model(x), y)  # (m, B, T, d) float -> (m, B, T) -> (m,)
        for p in self.unused:
            loss = loss + 0.0 * p.flatten(1).sum(1)
        return loss

    @torch.no_grad()
    def evaluate(self, part) -> dict[str, torch.Tensor]:
        """part: one Batch per model (same rows count). Returns (m,) means over the rows."""
        from runners.objective import attention_backends, autocast
        x = torch.stack([b.inputs for b in part])   # (m, n, 2k, d)
        y = torch.stack([b.targets for b in part])  # (m, n, 2k)
        with autocast(self.device), attention_backends():
            pred = self.model(x).double()           # (m, n, 2k)
        at_x = pred[:, :, 0::2]                     # (m, n, k): y_i predicted at x_i
        k = at_x.shape[-1]
        nmse = torch.stack([nmse_by_k(at_x[j], b.meta["y"], b.meta["nmse_dim"]) for j, b in enumerate(part)])
        out = {"eval_loss": per_model_mse(pred, y), "nmse": nmse.mean(1)}
        out.update({nmse_key(i, k): nmse[:, i] for i in range(k)})
        out.update(self.distances(at_x, part))
        return out

    def distances(self, at_x: torch.Tensor, part) -> dict[str, torch.Tensor]:
        """dist_<learner> (m,): the model's predictions against each reference learner's on the
        same prompts. Every model's prompts go through one PrefixSpectrum (one eigendecomposition
        for the three learners and the m models); a learner shared by models is applied once."""
        refs = [reference_baselines(b.meta["sigma"]) for b in part]
        m, n, k = at_x.shape
        xs = torch.cat([b.inputs[:, 0::2] for b in part])   # (m n, k, d)
        ys = torch.cat([b.meta["y"] for b in part])         # (m n, k)
        spectrum = PrefixSpectrum(xs, ys)
        out = {}
        for name in refs[0]:
            dist = torch.zeros(m, dtype=torch.float64, device=at_x.device)
            done = {}
            for j, r in enumerate(refs):
                if r[name] not in done:
                    done[r[name]] = spectrum.predict(r[name].coef).view(m, n, k)
                dist[j] = (at_x[j] - done[r[name]][j]).pow(2).mean() / part[j].meta["nmse_dim"]
            out[f"dist_{name}"] = dist
        return out


def evaluate_closed_form_group(runs, device="cpu", root=None) -> list[dict]:
    """Records for zero-parameter models, in train_group's format: no training, no `loss`."""
    from models import build_model
    from runners.objective import make_objective
    from runners.records import git_sha, run_dir, write_json_atomic
    from runners.train import device_name
    from tasks import parse_view
    from tasks.rng import Rng

    start, device = time.time(), torch.device(device)
    metrics, seq_lens = [], []
    for run in runs:
        task, view = run.make_task(), parse_view(run.view)
        if root is not None:
            write_json_atomic(run_dir(root, run.run_id) / "config.json", run.to_dict())
        ev = task.for_eval()
        batch = ev.render(ev.sample(run.train.eval_size, Rng(run.seed).fork("eval"), device), view)
        model = build_model(run.arch, run.model, 1, task, batch.inputs.shape[1]).to(device)
        met = make_objective(task, view, model, device).evaluate([batch])
        metrics.append({key: float(val[0]) for key, val in met.items()})
        seq_lens.append(batch.inputs.shape[1])
    wall = time.time() - start
    records = []
    for run, met, seq_len in zip(runs, metrics, seq_lens):
        rec = {"run_id": run.run_id, "config": run.to_dict(), "metrics": met, "params": 0, "wall_s": wall,
               "group_size": len(runs), "device": device_name(device), "git_sha": git_sha(), "seq_len": seq_len}
        if root is not None:
            write_json_atomic(run_dir(root, run.run_id) / "final.json", rec)
        records.append(rec)
    return records
