"""Cost of a continuous-thought training step against a direct one (`python -m runners.perf_latent`).

A latent step runs 1 + (thought positions) + 1 trunk passes (prefix, one per thought, the rest)
forward and backward; a direct step is one pass. On a launch-bound small model a pass over one
position costs about as much as a pass over the whole sequence, so the ratio should stay near
the number of passes (below it where the passes are cheap). Both are timed as the trainer runs
them (Trainer.step: data, forward, backward, clipping, AdamW): `ratio` with CUDA graphs on a GPU
(the latent step is captured too, its passes being fixed per stage), `ratio_eager` without.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from models.latent import n_passes
from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.train import MAX_CHUNK, Trainer
from tasks.base import LAT


def suite_shape() -> dict:
    """The full suite's zhu_graphs runs (runners/suites/graphs.py): task knobs and model."""
    from runners.suites.graphs import SIZES, ZHU_LAYERS
    s = SIZES["full"]
    return dict(knobs={**s["prosqa"], "trace": "path"}, n_layer=ZHU_LAYERS, d_model=s["d"], n_head=s["h"],
                pos=s.get("pos", "learned"), m=s["seeds"], batch_size=s["batch"])


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def step_ms(runs, device, steps: int, warmup: int, graph: bool = True) -> tuple[float, Trainer]:
    """Milliseconds per Trainer.step after `warmup` steps (a multiple of the data chunk, so data sampling
    is amortised the same way for every view)."""
    old = os.environ.get("DEPTHBENCH_NO_GRAPH")
    if not graph:
        os.environ["DEPTHBENCH_NO_GRAPH"] = "1"
    try:
        trainer = Trainer(runs, device)
    finally:
        if not graph:
            if old is None:
                os.environ.pop("DEPTHBENCH_NO_GRAPH")
            else:
                os.environ["DEPTHBENCH_NO_GRAPH"] = old
    for i in range(warmup):
        trainer.step(i)
    _sync(device)
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        trainer.step(i)
    _sync(device)
    ms = 1000 * (time.perf_counter() - start) / steps
    trainer.data.close()  # its prefetch thread: left running, it aborted the process at exit on an H100
    return ms, trainer


def latent_step_ratio(device="cpu", task: str = "prosqa", knobs: dict | None = None, thoughts_per_step: int = 1,
                      n_layer: int | None = None, d_model: int | None = None, n_head: int | None = None,
                      m: int | None = None, batch_size: int | None = None, pos: str | None = None,
                      steps: int = 2 * MAX_CHUNK, warmup: int = MAX_CHUNK) -> dict:
    """Time a latent:Sxc step (every trace step latent) against a direct step of the same task and
    model, m seeds stacked; what is not given is the full suite's zhu_graphs run (suite_shape).
    Returns the times, `ratio` = latent / direct (as trained), `ratio_eager` (both without CUDA
    graphs; the same as `ratio` on a CPU) and `passes`."""
    given = dict(knobs=knobs, n_layer=n_layer, d_model=d_model, n_head=n_head, m=m, batch_size=batch_size, pos=pos)
    c = {**suite_shape(), **{k: v for k, v in given.items() if v is not None}}
    knobs, m, batch_size = dict(c["knobs"]), c["m"], c["batch_size"]
    train = TrainConfig(steps=warmup + steps, batch_size=batch_size, eval_size=64, log_every=warmup + steps)
    model = ModelConfig(n_layer=c["n_layer"], d_model=c["d_model"], n_head=c["n_head"], pos=c["pos"])

    def runs(view):
        return [RunConfig(task, knobs, view, model, train, seed=s) for s in range(m)]

    cuda = torch.device(device).type == "cuda"
    latent_view = f"latent:99x{thoughts_per_step}"  # every step latent (the stage is capped at the trace)
    direct_ms, _ = step_ms(runs("direct"), device, steps, warmup)
    latent_ms, trainer = step_ms(runs(latent_view), device, steps, warmup)
    direct_eager_ms = step_ms(runs("direct"), device, steps, warmup, graph=False)[0] if cuda else direct_ms
    latent_eager_ms = step_ms(runs(latent_view), device, steps, warmup, graph=False)[0] if cuda else latent_ms
    return {"device": str(device), "task": task, "knobs": knobs, "view": latent_view, "models": m,
            "batch_size": batch_size, "n_layer": model.n_layer, "d_model": model.d_model, "n_head": model.n_head,
            "pos": model.pos, "seq_len": trainer.seq_len,
            "passes": n_passes(trainer.x == LAT), "latent_graph": trainer.graph is not None,
            "direct_ms": round(direct_ms, 3), "latent_ms": round(latent_ms, 3),
            "ratio": round(latent_ms / direct_ms, 2),
            "direct_eager_ms": round(direct_eager_ms, 3), "latent_eager_ms": round(latent_eager_ms, 3),
            "ratio_eager": round(latent_eager_ms / direct_eager_ms, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", type=int, default=None, help="default: the full suite's seeds")
    p.add_argument("--batch-size", type=int, default=None, help="default: the full suite's")
    p.add_argument("--d-model", type=int, default=None, help="default: the full suite's")
    p.add_argument("--steps", type=int, default=2 * MAX_CHUNK)
    args = p.parse_args(argv)
    out = latent_step_ratio(args.device, m=args.models, batch_size=args.batch_size, d_model=args.d_model,
                            steps=args.steps)
    print(json.dumps(out))
    print(f"latent step {out['latent_ms']:.2f} ms = {out['ratio']:.2f} x direct ({out['direct_ms']:.2f} ms), "
          f"as trained{' (CUDA graphs)' if out['latent_graph'] else ''}; eager {out['ratio_eager']:.2f} x; "
          f"{out['passes']} passes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
