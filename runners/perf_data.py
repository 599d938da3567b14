"""Does data generation keep up with training? For every registered token task (default
knobs), the examples/s of `sample` + `render` on the device, and the share of a training step
that data takes at batch 256, against a forward + backward of a 2-layer, d_model 128
StackedTransformer (one model) at the task's sequence length.

Generation runs as the trainer runs it: data_chunk(B, T) steps of examples per call, on the device,
in the task's CoT view where it has one (the longest sequences), else direct. Real-valued
tasks (their `encode` raises NotImplementedError) are skipped.
`supply_ratio` is examples generated per second over examples trained per second: the issue
asks for at least 10 where generation cannot run on the device.

    python -m runners.perf_data [--device cuda] [--tasks expr lis] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from models.transformer import ModelConfig, StackedTransformer
from runners.objective import autocast, attention_backends, per_model_loss
from runners.train import data_chunk
from tasks import TASKS, make_task, parse_view
from tasks.rng import Rng

MODEL = ModelConfig(n_layer=2, d_model=128, n_head=4)


def _seconds(fn, device, repeat: int) -> float:
    """Median wall time of fn() over `repeat` calls, after one warm-up call."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _token_task(name: str):
    """The task with default knobs, or None if it is real-valued (no token encoding)."""
    task = make_task(name)
    try:
        task.encode(task.sample(2, Rng(0), torch.device("cpu")))
    except NotImplementedError:
        return None
    return task


def data_share(device, tasks=None, batch_size: int = 256, chunk: int | None = None, repeat: int = 5) -> list[dict]:
    """One dict per token task: view, seq_len, examples_per_s, data_ms and step_ms per training
    step of `batch_size`, share = data_ms / (data_ms + step_ms), supply_ratio = step_ms / data_ms."""
    device = torch.device(device)
    rows = []
    for name in tasks or list(TASKS):
        task = _token_task(name)
        if task is None:
            continue
        view = parse_view("cot" if "cot" in task.views else "direct")
        batch = task.render(task.sample(batch_size, Rng(1), device), view)
        per_call = chunk or data_chunk(batch_size, batch.inputs.shape[1])
        n, rng = per_call * batch_size, Rng(0)
        gen_s = _seconds(lambda: task.render(task.sample(n, rng, device), view), device, repeat)
        x, y = batch.inputs[None], batch.targets[None]  # (1, B, T): one model
        model = StackedTransformer(MODEL, 1, task.vocab_size, x.shape[-1])
        model.init_weights([0])
        model.to(device)

        def step():
            with autocast(device), attention_backends():
                loss = per_model_loss(model(x), y).sum()
            loss.backward()

        step_s = _seconds(step, device, repeat)
        data_s = gen_s * batch_size / n
        rows.append({"task": name, "family": task.family, "view": view.name, "seq_len": x.shape[-1],
                     "examples_per_s": n / gen_s, "data_ms": 1e3 * data_s, "step_ms": 1e3 * step_s,
                     "share": data_s / (data_s + step_s), "supply_ratio": step_s / data_s,
                     "batch_size": batch_size, "device": str(device)})
    return rows


def format_rows(rows: list[dict]) -> str:
    head = f"{'task':<14}{'view':<8}{'T':>5}{'examples/s':>13}{'data ms':>9}{'step ms':>9}{'share':>7}{'supply':>8}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['task']:<14}{r['view']:<8}{r['seq_len']:>5}{r['examples_per_s']:>13,.0f}"
                     f"{r['data_ms']:>9.2f}{r['step_ms']:>9.2f}{r['share']:>7.1%}{r['supply_ratio']:>7.1f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tasks", nargs="+", default=None, help="default: every registered token task")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    unknown = sorted(set(args.tasks or []) - set(TASKS))
    if unknown:
        print(f"error: unknown task(s) {unknown}; registered: {', '.join(sorted(TASKS))}", file=sys.stderr)
        return 2
    rows = data_share(args.device, args.tasks, args.batch_size, repeat=args.repeat)
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"data generation against a 2-layer d128 fwd+bwd step, batch {args.batch_size}, on {name}")
    print(format_rows(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
