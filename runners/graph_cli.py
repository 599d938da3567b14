"""Subcommands `eval` and `min-depth` (kept out of runners/cli.py; imports stay lazy)."""
from __future__ import annotations

import json
from pathlib import Path


def cmd_eval(args, extra) -> int:
    from runners.checkpoint import evaluate_test_file
    from runners.cli import _device
    print(json.dumps(evaluate_test_file(args.test_file, args.run, args.root, _device(args.device))))
    return 0


def cmd_min_depth(args, extra) -> int:
    from models.transformer import ModelConfig
    from runners.cli import _device, _parse_knobs
    from runners.config import TrainConfig
    from runners.min_depth import MinDepthSearch, run_min_depth, size_knob
    spec = MinDepthSearch(
        task=args.task, sizes=tuple(args.sizes), size_knob=size_knob(args.task, args.size_knob),
        threshold=args.threshold, axis=args.axis, low=args.low, high=args.high, agg=args.agg,
        knobs=tuple(_parse_knobs(extra).items()), view=args.view, seeds=tuple(args.seeds),
        model=ModelConfig(n_layer=args.n_layer, d_model=args.d_model, n_head=args.n_head),
        train=TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, eval_size=args.eval_size,
                          log_every=max(1, min(100, args.steps // 10))))
    df, out = run_min_depth(spec, _device(args.device), Path(args.root), args.out)
    print(df[["size", "min_value", "tried", "probes"]].to_string(index=False))
    print(f"{int(df['models_trained'].sum())} models in {int(df['probes'].sum())} probes; wrote {out}")
    return 0


def add_curriculum_args(p) -> None:
    """`depthbench run` flags for the Coconut curriculum (TrainConfig fields; runners/curriculum.py)."""
    from runners.config import STAGE_TARGETS
    # not --curriculum: that is a knob of several tasks (a length curriculum)
    p.add_argument("--latent-curriculum", action="store_true", help="latent/pause views: train stages 0..S in turn")
    p.add_argument("--stage-steps", type=int, default=0, help="steps per stage before the last (0: split evenly)")
    p.add_argument("--stage0-steps", type=int, default=0, help="steps of stage 0, the discrete CoT (0: as the others)")
    p.add_argument("--stage-mix", type=float, default=0.0, help="chance of an example at an earlier stage")
    p.add_argument("--reset-optimizer", action="store_true", help="a fresh AdamW at each stage")
    p.add_argument("--stage-target", default="rest", choices=list(STAGE_TARGETS),
                   help="before the last stage score the rest of the sequence (Coconut) or one node of the next "
                        "trace step right after the thoughts (Zhu et al.); next_after_cot: stage 0, the discrete "
                        "CoT, scores the rest and the later stages one node")


def curriculum_fields(args) -> dict:
    return {"latent_curriculum": args.latent_curriculum, "stage_steps": args.stage_steps,
            "stage0_steps": args.stage0_steps, "stage_mix": args.stage_mix,
            "reset_optimizer": args.reset_optimizer, "stage_target": args.stage_target}


def add_parsers(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a trained prosqa run on a published ProsQA-style JSON test set")
    e.add_argument("--test-file", required=True, help="JSON list of {edges, root, target, neg_target}")
    e.add_argument("--run", required=True, help="run id; its weights results/runs/<id>/model.pt are saved "
                                                "when it trains with DEPTHBENCH_SAVE_MODEL=1")
    e.add_argument("--device", default=None)
    e.add_argument("--root", default="results/runs")
    e.set_defaults(func=cmd_eval)
    m = sub.add_parser("min-depth", help="smallest depth (or fewest loops) reaching a threshold, per size; "
                                         "task knobs as --name value")
    m.add_argument("task")
    m.add_argument("--sizes", type=int, nargs="+", required=True, help="values of the size knob")
    m.add_argument("--threshold", type=float, default=0.99, help="answer_acc to reach")
    m.add_argument("--axis", default="depth", choices=["depth", "loops"])
    m.add_argument("--size-knob", default=None, help="default: the first of length, nodes, ops, size, k")
    m.add_argument("--low", type=int, default=1)
    m.add_argument("--high", type=int, default=8)
    m.add_argument("--agg", default="max", choices=["max", "mean"], help="seeds pass by their max or mean")
    m.add_argument("--view", default="direct")
    m.add_argument("--n-layer", type=int, default=1, help="blocks per loop (axis loops)")
    m.add_argument("--d-model", type=int, default=128)
    m.add_argument("--n-head", type=int, default=4)
    m.add_argument("--steps", type=int, default=2000)
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--lr", type=float, default=1e-3)
    m.add_argument("--eval-size", type=int, default=1024)
    m.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    m.add_argument("--out", default=None, help="default results/min-depth-<task>.csv")
    m.add_argument("--device", default=None)
    m.add_argument("--root", default="results/runs")
    m.set_defaults(func=cmd_min_depth)
