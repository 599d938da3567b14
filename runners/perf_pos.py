"""Cost of rotary positions in a training step, against learned ones (`python -m runners.perf_pos`).

Rotary positions rotate q and k in every attention layer; learned ones add one table at the input.
A stack of the full suite's rotary runs (connectivity in runners/suites/graphs.py: 3 layers, its
width, heads, seeds and batch) is timed as the trainer runs it (Trainer.step, CUDA graphs on a GPU)
with `pos` learned and rope, with the Triton kernels on (kernels.rope_heads: heads split and q, k
rotated in one pass each way) and off (DEPTHBENCH_TRITON=0: PyTorch's ops for every kernel, the
LayerNorm and bias ones too). `ratio` = rope / learned with the kernels, `ratio_off` without them.
"""
from __future__ import annotations

import argparse
import json

import torch

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.perf import _env
from runners.perf_latent import step_ms
from runners.train import MAX_CHUNK


def suite_shape() -> dict:
    """The full suite's connectivity runs at their largest n and depth (runners/suites/graphs.py)."""
    from runners.suites.graphs import SIZES
    s = SIZES["full"]
    n = max(s["conn"])  # the CoT view: the curriculum's stage 0, its longest rows
    return dict(task="connectivity", knobs={"nodes": n, "components": 2}, view="cot", n_layer=max(s["conn"][n]["depths"]),
                d_model=s["d"], n_head=s["h"], m=s["seeds"], batch_size=s["batch"])


def pos_step_ratio(device="cpu", n_layer: int | None = None, d_model: int | None = None, n_head: int | None = None,
                   m: int | None = None, batch_size: int | None = None, steps: int = 2 * MAX_CHUNK,
                   warmup: int = MAX_CHUNK) -> dict:
    """Milliseconds per step of the stack with learned and rotary positions, kernels on and off;
    what is not given is the suite's shape (suite_shape)."""
    given = dict(n_layer=n_layer, d_model=d_model, n_head=n_head, m=m, batch_size=batch_size)
    c = {**suite_shape(), **{k: v for k, v in given.items() if v is not None}}
    train = TrainConfig(steps=warmup + steps, batch_size=c["batch_size"], eval_size=64, log_every=warmup + steps)
    out = {"device": str(device), "task": c["task"], "knobs": c["knobs"], "view": c["view"], "models": c["m"],
           "batch_size": c["batch_size"], "n_layer": c["n_layer"], "d_model": c["d_model"], "n_head": c["n_head"]}
    for kernels in ("1", "0"):
        for pos in ("learned", "rope"):
            model = ModelConfig(n_layer=c["n_layer"], d_model=c["d_model"], n_head=c["n_head"], pos=pos)
            runs = [RunConfig(c["task"], c["knobs"], c["view"], model, train, seed=s) for s in range(c["m"])]
            with _env({"DEPTHBENCH_TRITON": kernels}):
                ms, trainer = step_ms(runs, device, steps, warmup)
            out[f"{pos}_ms" + ("" if kernels == "1" else "_off")] = round(ms, 3)
            out["seq_len"] = trainer.seq_len
    out["ratio"] = round(out["rope_ms"] / out["learned_ms"], 2)
    out["ratio_off"] = round(out["rope_ms_off"] / out["learned_ms_off"], 2)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--n-layer", type=int, default=None, help="default: the full suite's")
    p.add_argument("--d-model", type=int, default=None, help="default: the full suite's")
    p.add_argument("--n-head", type=int, default=None, help="default: the full suite's")
    p.add_argument("--models", type=int, default=None, help="default: the full suite's seeds")
    p.add_argument("--batch-size", type=int, default=None, help="default: the full suite's")
    p.add_argument("--steps", type=int, default=2 * MAX_CHUNK)
    args = p.parse_args(argv)
    out = pos_step_ratio(args.device, n_layer=args.n_layer, d_model=args.d_model, n_head=args.n_head,
                         m=args.models, batch_size=args.batch_size, steps=args.steps)
    print(json.dumps(out))
    print(f"rotary step {out['rope_ms']:.2f} ms = {out['ratio']:.2f} x learned ({out['learned_ms']:.2f} ms); "
          f"kernels off: {out['ratio_off']:.2f} x ({out['rope_ms_off']:.2f} / {out['learned_ms_off']:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
