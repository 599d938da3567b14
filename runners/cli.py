"""The `depthbench` command: tasks, show, run, sweep, bench, figs, leaderboard, compare, perf, eval,
min-depth."""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

RESULTS = Path("results")


def _device(arg: str | None) -> str:
    import torch
    if arg:
        if arg.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {arg}: no CUDA GPU is visible")
        return arg
    return "cuda" if torch.cuda.is_available() else "cpu"


def _knob_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_knobs(pairs: list[str]) -> dict:
    """['--length', '16', '--p', '7'] or ['length=16'] -> {'length': 16, 'p': 7}."""
    knobs, i = {}, 0
    while i < len(pairs):
        item = pairs[i]
        if "=" in item:
            key, _, val = item.lstrip("-").partition("=")
        elif item.startswith("--") and i + 1 < len(pairs):
            key, val = item[2:], pairs[i + 1]
            i += 1
        else:
            raise ValueError(f"cannot read knob {item!r}: use --name value or name=value")
        knobs[key.replace("-", "_")] = _knob_value(val)
        i += 1
    return knobs


# ----------------------------------------------------------------------------- commands
def cmd_tasks(args) -> int:
    from tasks import TASKS
    for name, cls in sorted(TASKS.items(), key=lambda kv: (kv[1].family, kv[0])):
        knobs = ", ".join(f"{k}={kb.default}" for k, kb in cls.knobs.items())
        print(f"{name:<14}{cls.family:<15}{cls.complexity}\n{'':<14}knobs: {knobs}\n{'':<14}views: "
              f"{', '.join(cls.views)}")
    return 0


def cmd_show(args, extra) -> int:
    import torch

    from tasks import make_task, parse_view
    from tasks.rng import Rng
    task = make_task(args.task, **_parse_knobs(extra))
    view = parse_view(args.view)
    problem = task.sample(args.n, Rng(args.seed), torch.device("cpu"))
    batch = task.render(problem, view)
    print(f"{task!r}  view={args.view}  vocab={task.vocab_size}  sequence length={batch.inputs.shape[1]}")
    for i in range(args.n):
        parts = task.describe(problem, i)
        print(f"\nexample {i}")
        for key, val in parts.items():
            print(f"  {key:<7}{val}")
        if not batch.inputs.dtype.is_floating_point:  # the whole sequence: inputs and the last target
            last = [t for t in batch.targets[i, -1:].tolist() if t >= 0] if view.name != "tagging" else []
            print(f"  {args.view + ':':<7}{task.decode(batch.inputs[i].tolist() + last)}")
    return 0


def cmd_run(args, extra) -> int:
    from models.transformer import ModelConfig
    from runners.config import RunConfig, TrainConfig
    from runners.records import is_done, read_final
    from runners.train import train_group
    model = ModelConfig(n_layer=args.n_layer, d_model=args.d_model, n_head=args.n_head, d_ff=args.d_ff,
                        pos=args.pos, norm=args.norm, n_loops=args.n_loops, residual=args.residual,
                        init_std=args.init_std)
    from runners.graph_cli import curriculum_fields
    train = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, eval_size=args.eval_size,
                        log_every=max(1, min(100, args.steps // 10)), **curriculum_fields(args))
    runs = [RunConfig(args.task, _parse_knobs(extra), args.view, model, train, seed=s) for s in args.seeds]
    root = Path(args.root)
    todo = [r for r in runs if not is_done(root, r.run_id)]
    if todo:
        from tqdm import tqdm
        with tqdm(total=train.steps, desc=f"{args.task} {args.view}", unit="step") as bar:
            train_group(todo, device=_device(args.device), root=root, progress=bar.update)
    for run in runs:
        rec = read_final(root, run.run_id)
        print(json.dumps({"run_id": run.run_id, "seed": run.seed, "params": rec["params"],
                          "wall_s": round(rec["wall_s"], 2), **{k: round(v, 4) for k, v in rec["metrics"].items()}}))
    return 0


def cmd_sweep(args) -> int:
    from runners.aggregate import aggregate
    from runners.backends import backend_options
    from runners.results_csv import write_results
    from runners.sweep import load_spec, run_sweep
    runs = load_spec(args.spec)  # validates every run before anything trains
    print(f"sweep {args.spec}: {len(runs)} runs")
    counts = run_sweep(runs, device=_device(args.device), root=Path(args.root), backend=args.backend,
                       options=backend_options(args))
    out = Path(args.out or RESULTS / f"sweep-{Path(args.spec).stem}.csv")
    write_results(aggregate(runs, Path(args.root)), out)
    print(f"{counts['trained']} trained, {counts['skipped']} already done; wrote {out}")
    return 0


def cmd_bench(args) -> int:
    from runners.backends import backend_options
    from runners.bench import bench
    model = args.model or "transformer"
    if args.model_file:  # registered under --model NAME, else the class name
        from models.protocol import register_model_file
        model = register_model_file(args.model_file, args.model)
    return bench(preset=args.preset, device=args.device, root=Path(args.root), shard_spec=args.shard,
                 backend=args.backend, jobs=args.jobs, families=args.family, options=backend_options(args),
                 model=model, suite_interleave=not args.no_suite_interleave)


def cmd_figs(args) -> int:
    from paper_figs import run_all
    return run_all(Path(args.csv), Path(args.out))


def cmd_compare(argv) -> int:
    from runners.compare import main as compare_main
    return compare_main(argv)


def build_parser() -> argparse.ArgumentParser:
    from runners.backends import add_backend_args
    from runners.perf import add_perf_parser
    p = argparse.ArgumentParser(prog="depthbench", description=__doc__, allow_abbrev=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)  # knobs like --p are not --pos
    sub.add_parser("tasks", help="list registered tasks")
    s = sub.add_parser("show", help="print decoded examples of a task; knobs as --name value")
    s.add_argument("task")
    s.add_argument("--view", default="cot", help="direct | tagging | cot | latent:SxC | pause:SxC")
    s.add_argument("--n", type=int, default=2)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="train one model (one per seed, stacked); knobs as --name value")
    r.add_argument("task")
    r.add_argument("--view", default="direct")
    r.add_argument("--n-layer", type=int, default=2)
    r.add_argument("--d-model", type=int, default=128)
    r.add_argument("--n-head", type=int, default=4)
    r.add_argument("--d-ff", type=int, default=0)
    r.add_argument("--pos", default="learned")
    r.add_argument("--norm", default="pre")
    r.add_argument("--n-loops", type=int, default=1)
    r.add_argument("--init-std", type=float, default=0.02, help="std of the initial weights (default 0.02, GPT-2's)")
    r.add_argument("--residual", default="fp32", help="residual stream dtype under bf16 autocast on a GPU: "
                   "fp32 | bf16 (faster; the suite trains fp32)")
    r.add_argument("--steps", type=int, default=1000)
    r.add_argument("--batch-size", type=int, default=128)
    r.add_argument("--lr", type=float, default=1e-3)
    r.add_argument("--eval-size", type=int, default=1024)
    r.add_argument("--seeds", type=int, nargs="+", default=[0])
    from runners.graph_cli import add_curriculum_args, add_parsers  # curriculum flags; eval, min-depth
    add_curriculum_args(r)
    for q in (r,):
        q.add_argument("--device", default=None)
        q.add_argument("--root", default="results/runs")
    w = sub.add_parser("sweep", help="run a grid from a .py or .yaml spec")
    w.add_argument("spec")
    add_backend_args(w)
    w.add_argument("--out", default=None)
    w.add_argument("--device", default=None)
    w.add_argument("--root", default="results/runs")
    b = sub.add_parser("bench", help="run the frozen suite, aggregate, compare, draw figures")
    b.add_argument("--preset", default=None, choices=["smoke", "full", "paper"],
                   help="default: full with a CUDA GPU, else smoke")
    b.add_argument("--shard", default=None, help="i/n: run every n-th group from i")
    b.add_argument("--family", action="append", default=None, help="only this family (repeatable)")
    b.add_argument("--no-suite-interleave", action="store_true",
                   help="train every group alone, also those of the experiments a family trains several at a "
                        "time on a GPU (its INTERLEAVE; runners/interleave.py)")
    add_backend_args(b)
    b.add_argument("--model", default=None, help="run the suite with this model in place of the transformer: "
                   "a registered name (transformer, lstm, linrec) or an installed depthbench.models plugin")
    b.add_argument("--model-file", default=None, metavar="PATH.py:CLASS",
                   help="a model class from one file (named --model NAME, else the class name)")
    b.add_argument("--device", default=None)
    b.add_argument("--root", default="results/runs")
    f = sub.add_parser("figs", help="draw every figure from a result CSV")
    f.add_argument("--csv", default="results/leaderboard-full.csv")
    f.add_argument("--out", default="paper_figs/out")
    add_perf_parser(sub)
    sub.add_parser("compare", help="compare two result CSVs (see depthbench compare -h)", add_help=False)
    sub.add_parser("leaderboard", help="compare results/bench-full.csv with the reference", add_help=False)
    add_parsers(sub)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "compare":
            return cmd_compare(argv[1:])
        if argv and argv[0] == "leaderboard":
            preset = argv[1] if len(argv) > 1 else "full"
            return cmd_compare([str(RESULTS / f"leaderboard-{preset}.csv"), str(RESULTS / f"bench-{preset}.csv")])
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.cmd not in ("show", "run", "min-depth"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        start = time.time()
        if args.cmd == "tasks":
            return cmd_tasks(args)
        if args.cmd == "show":
            return cmd_show(args, extra)
        if args.cmd == "run":
            code = cmd_run(args, extra)
            print(f"done in {time.time() - start:.1f}s")
            return code
        if hasattr(args, "func"):  # subcommands that carry their own handler
            return args.func(args, extra)
        if args.cmd == "perf":
            from runners.perf import cmd_perf
            return cmd_perf(args)
        return {"sweep": cmd_sweep, "bench": cmd_bench, "figs": cmd_figs}[args.cmd](args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `depthbench tasks | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
