"""`depthbench perf` (`make perf`): how close the sweep engine runs to the GPU's limit.

For each shape (d 128 L 2, d 256 L 4, d 512 L 8; S5 word problem, tagging view, length 64,
batch 256) it measures model-steps per second of
  loop              the common per-model loop, as the papers' code trains (runners/perf_loop.py)
  ours_1            depthbench's Trainer with one run
  stacked           depthbench's Trainer with m runs stacked (m per shape, 32/32/8)
  stacked_compiled  the same with DEPTHBENCH_COMPILE=1 (only with --compile)
(our paths with the suite's fp32 residual stream; --residual bf16 measures ModelConfig.residual bf16)
with the ratio to the loop, the achieved model FLOP/s (runners.capacity.step_flops: 6 x
parameters x tokens plus attention) over the bf16 matmul peak measured in the same run (MFU),
host synchronisations per step (runners/hostsync.py: counted by CUDA's sync debug mode; on
a CPU, the Python-level host reads that would synchronise), and the peak memory against
capacity's estimate. Then the continuous-thought step (runners/perf_latent.py, the full suite's
ProsQA runs: 2 layers, its width, seeds and batch): a latent step against a direct step of the
same stack (`vs_direct`; the note gives the passes and the eager ratio; --no-latent skips it).
Then rotary positions (runners/perf_pos.py, the full suite's connectivity runs): a rope step against a
learned-position step of the same stack (`vs_learned`), with the Triton kernels on and off (--no-pos
skips it).
Then, per registered token task (cot view, default knobs, d 128 L 2 stacked): the raw cost of generating
data, one refill (sample + render) made synchronously and timed alone, over the step (data_share),
and what training actually loses to it: the step with the real DataStream (prefetching the next
chunk, as it does by default on a GPU) against the same step with data already made (data_overhead).

Timing: warm-up (graph capture, compilation) excluded; steps in windows of the data chunk (one
data refill each) between torch.cuda.synchronize() calls, until --min-seconds. The loop is
CPU-bound (Python data, a host read per step) and its rate moves from window to window (32.8-44.0
model-steps/s over nine windows at d 256 L 4 on an H100: results/perf-h100.csv), so it is timed
--loop-windows times and the median kept; the note gives the range. Every row is
written to the CSV as soon as it is measured. Targets (README) are printed, never asserted.
"""
from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from models.transformer import RESIDUALS
from runners.hostsync import count_host_syncs

SHAPES = [(128, 2, 32), (256, 4, 32), (512, 8, 8)]  # (d_model, n_layer, stacked m)
QUICK_SHAPES = [(32, 1, 2), (64, 2, 2)]
COLUMNS = ["section", "path", "task", "view", "d_model", "n_layer", "n_head", "seq_len", "batch_size", "m",
           "step_ms", "model_steps_per_s", "vs_loop", "vs_direct", "vs_learned", "tflops", "mfu", "host_syncs_per_step",
           "peak_mem_gb", "est_mem_gb", "data_ms_per_model_step", "data_share", "data_overhead", "note",
           "peak_tflops", "peak_dtype", "device", "torch", "git_sha"]
INT_COLUMNS = ["d_model", "n_layer", "n_head", "seq_len", "batch_size", "m"]
TARGETS = ("stacked >= 15x loop at d 256 L 4; MFU >= 35% at d 512 L 8; data_overhead <= 5% for every task; "
           "a continuous-thought step near its number of passes x a direct one; a rotary step near a learned one")


def n_head_for(d: int) -> int:
    return max(4, d // 64)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device, warmup: int, window: int, min_steps: int, min_s: float) -> float:
    """Seconds per step of step(i), after warmup steps; windows of `window` steps."""
    for i in range(warmup):
        step(i)
    sync(device)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(window):
            step(warmup + n)
            n += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if n >= min_steps and elapsed >= min_s:
            return elapsed / n


def matmul_peak(device, quick: bool) -> tuple[float, str]:
    """Measured matmul TFLOP/s: bf16 on a GPU, fp32 on the CPU (where bf16 is emulated)."""
    cuda = torch.device(device).type == "cuda"
    n, dtype = (8192, torch.bfloat16) if cuda else ((512 if quick else 1024), torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if cuda else 3
    sec = time_steps(lambda i: a @ b, device, warmup=3, window=reps, min_steps=reps, min_s=0.5 if cuda else 0)
    return 2 * n ** 3 / sec / 1e12, str(dtype).replace("torch.", "")


def _mem_reset(device):
    if torch.device(device).type == "cuda":
        torch._dynamo.reset()  # compiled steps hold their trainer (and its CUDA graph pool) alive
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _mem_peak_gb(device):
    return torch.cuda.max_memory_allocated(device) / 2 ** 30 if torch.device(device).type == "cuda" else None


def run_config(task, knobs, view, d, L, batch, seed, residual="fp32"):
    from models.transformer import ModelConfig
    from runners.config import RunConfig, TrainConfig
    return RunConfig(task, knobs, view, ModelConfig(n_layer=L, d_model=d, n_head=n_head_for(d), residual=residual),
                     TrainConfig(steps=10 ** 6, batch_size=batch, eval_size=64, log_every=10 ** 6), seed=seed)


class Perf:
    def __init__(self, args):
        from runners.records import git_sha
        from runners.train import device_name
        self.args, self.device, self.quick = args, args.device, args.quick
        self.out, self.rows, self.start = Path(args.out), [], time.time()
        self.common = {"device": device_name(self.device), "torch": torch.__version__, "git_sha": git_sha()}
        self.peak, self.peak_dtype = matmul_peak(self.device, self.quick)
        self.common.update(peak_tflops=_sig(self.peak), peak_dtype=self.peak_dtype)
        self.add({"section": "peak", "path": "matmul", "tflops": _sig(self.peak)})
        # quick: a few steps, to exercise every path (no full data chunk: not a measurement)
        self.timing = dict(window=4, min_steps=4, min_s=0.0) if self.quick else \
            dict(window=64, min_steps=64, min_s=args.min_seconds)  # a window: >= one refill at S5 length 64
        self.warmup = 1 if self.quick else 32  # full: CUDA graph capture, compilation, a data refill

    def add(self, row: dict) -> None:
        self.rows.append({**{c: None for c in COLUMNS}, **row, **self.common})
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(self.out, index=False)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS).astype({c: "Int64" for c in INT_COLUMNS})

    def over_budget(self, what: str) -> bool:
        if time.time() - self.start > self.args.budget_s:
            print(f"  skipped {what}: past --budget-s {self.args.budget_s:.0f}s", flush=True)
            return True
        return False

    # -- the three paths at one shape
    def shape(self, d, L, m, loop_rate=None) -> float | None:
        from runners.capacity import is_oom, model_bytes, step_flops
        a = self.args
        run = run_config("s5", {"length": a.length}, "tagging", d, L, a.batch_size, 0)
        flops = step_flops(run)
        base = {"section": "throughput", "task": "s5", "view": "tagging", "d_model": d, "n_layer": L,
                "n_head": n_head_for(d), "seq_len": a.length, "batch_size": a.batch_size}
        paths = [p for p in ("loop", "ours_1", "stacked", "stacked_compiled") if p in a.paths]
        for path in paths:
            if self.over_budget(f"{path} at d {d} L {L}"):
                continue
            _mem_reset(self.device)
            n = m if path.startswith("stacked") else 1
            try:
                if path == "loop":
                    sec, syncs, note = self._loop_path(d, L)
                else:
                    sec, syncs, note = self._trainer_path(d, L, n, compiled=path == "stacked_compiled")
            except Exception as err:  # noqa: BLE001 - an OOM is a result; anything else is raised
                if not is_oom(err):
                    raise
                sec = None
            if sec is None:
                self.add({**base, "path": path, "m": n, "note": "out of memory"})
                print(f"  d {d:4d} L {L}  {path:<17} m {n:3d}  out of memory", flush=True)
                _mem_reset(self.device)
                continue
            rate = n / sec
            loop_rate = rate if path == "loop" else loop_rate
            tflops = rate * flops / 1e12
            row = {**base, "path": path, "m": n, "step_ms": round(sec * 1e3, 3),
                   "model_steps_per_s": _sig(rate), "tflops": _sig(tflops),
                   "mfu": _sig(tflops / self.peak), "host_syncs_per_step": syncs,
                   "vs_loop": round(rate / loop_rate, 2) if loop_rate else None,
                   "peak_mem_gb": _round(_mem_peak_gb(self.device)),
                   "est_mem_gb": round(n * model_bytes(run) / 2 ** 30, 3) if path != "loop" else None,
                   "note": note}
            self.add(row)
            print(f"  d {d:4d} L {L}  {path:<17} m {n:3d}  {rate:10.1f} model-steps/s  {row['step_ms']:9.2f} ms/step"
                  f"  {tflops:8.3g} TFLOP/s  MFU {100 * row['mfu']:5.1f}%"
                  + (f"  {row['vs_loop']:.1f}x loop" if row["vs_loop"] else "") + (f"  [{note}]" if note else ""),
                  flush=True)
        return loop_rate

    def _loop_path(self, d, L):
        from runners.perf_loop import PerModelLoop
        a = self.args
        loop = PerModelLoop(L, d, n_head_for(d), a.length, a.batch_size, self.device)
        secs = [time_steps(loop.step, self.device, warmup=2 if self.quick else 5, **self.timing)]
        for _ in range(a.loop_windows - 1):  # the same loop, timed again (it is CPU-bound and noisy)
            secs.append(time_steps(loop.step, self.device, warmup=0, **self.timing))
        with count_host_syncs(self.device) as box:
            for i in range(4):
                loop.step(i)
        rates = sorted(1 / s for s in secs)
        note = f"median of {len(secs)} windows, {rates[0]:.1f}-{rates[-1]:.1f} model-steps/s" if len(secs) > 1 else ""
        return statistics.median(secs), (box["n"] / 4 if box["n"] is not None else None), note

    def _trainer_path(self, d, L, m, compiled=False):
        from runners.train import Trainer
        a = self.args
        runs = [run_config("s5", {"length": a.length}, "tagging", d, L, a.batch_size, s, a.residual) for s in range(m)]
        env = {"DEPTHBENCH_COMPILE": "1"} if compiled else {}
        with _env(env):
            trainer = Trainer(runs, self.device)
        sec = time_steps(trainer.step, self.device, warmup=self.warmup, **self.timing)
        k = self.timing["window"]
        with count_host_syncs(self.device) as box:
            for i in range(k):
                trainer.step(10 ** 5 + i)
            sync(self.device)
        fn, notes = trainer.loss_fn, ["cuda graph"] if trainer.use_graph else []
        if torch.device(self.device).type == "cuda":
            notes.append(f"{a.residual} residual")
        if compiled and not hasattr(fn, "compiled"):
            notes.append("not compiled (DEPTHBENCH_COMPILE acts on CUDA only)")
        elif compiled:
            notes.append("compiled" if fn.compiled else f"compile fell back to eager: {fn.error}")
        note = "; ".join(notes)
        return sec, (box["n"] / k if box["n"] is not None else None), note

    # -- continuous thought: a latent step against a direct one (runners/perf_latent.py)
    def latent(self):
        from runners.perf_latent import latent_step_ratio
        if self.over_budget("the latent step"):
            return
        _mem_reset(self.device)
        kw = dict(d_model=16, n_head=2, m=2, batch_size=4, steps=2, warmup=1) if self.quick else {}
        r = latent_step_ratio(self.device, **kw)
        graph = "cuda graph" if r["latent_graph"] else "eager"
        base = {"section": "latent", "task": r["task"], "d_model": r["d_model"], "n_layer": r["n_layer"],
                "n_head": r["n_head"], "seq_len": r["seq_len"], "batch_size": r["batch_size"], "m": r["models"]}
        for path, view, ms, ratio, note in [
                ("direct", "direct", r["direct_ms"], 1.0, ""),
                ("latent", r["view"], r["latent_ms"], r["ratio"], f"{r['passes']} passes; {graph}; "
                                                                   f"eager {r['ratio_eager']:.2f}x direct")]:
            self.add({**base, "path": path, "view": view, "step_ms": ms, "vs_direct": ratio,
                      "model_steps_per_s": _sig(r["models"] * 1e3 / ms), "note": note})
        print(f"  {r['task']} {r['knobs']}, {r['n_layer']} layers d {r['d_model']}, {r['models']} models: latent step "
              f"{r['latent_ms']:.2f} ms = {r['ratio']:.2f}x direct ({r['direct_ms']:.2f} ms; {graph}), "
              f"{r['passes']} passes; eager {r['ratio_eager']:.2f}x", flush=True)

    # -- rotary positions: a rope step against a learned one (runners/perf_pos.py)
    def positions(self):
        from runners.perf_pos import pos_step_ratio
        if self.over_budget("the rotary step"):
            return
        _mem_reset(self.device)
        kw = dict(d_model=16, n_head=2, m=2, batch_size=4, steps=2, warmup=1) if self.quick else {}
        r = pos_step_ratio(self.device, **kw)
        base = {"section": "positions", "task": r["task"], "view": r["view"], "d_model": r["d_model"],
                "n_layer": r["n_layer"], "n_head": r["n_head"], "seq_len": r["seq_len"], "batch_size": r["batch_size"],
                "m": r["models"]}
        for off, note in (("", "kernels on"), ("_off", "kernels off (DEPTHBENCH_TRITON=0)")):
            learned = r[f"learned_ms{off}"]
            for pos in ("learned", "rope"):
                ms = r[f"{pos}_ms{off}"]
                self.add({**base, "path": pos, "step_ms": ms, "vs_learned": round(ms / learned, 2),
                          "model_steps_per_s": _sig(r["models"] * 1e3 / ms), "note": note})
        print(f"  {r['task']} {r['knobs']}, {r['n_layer']} layers d {r['d_model']}, {r['models']} models: rotary step "
              f"{r['rope_ms']:.2f} ms = {r['ratio']:.2f}x learned ({r['learned_ms']:.2f} ms); kernels off "
              f"{r['ratio_off']:.2f}x", flush=True)

    # -- the data share, per token task
    def data(self):
        from runners.capacity import fit_stack
        from runners.train import Trainer
        from tasks import TASKS
        a = self.args
        d, L, m = self.args_shapes()[0]
        names = a.tasks or sorted(TASKS)
        for name in names:
            if self.over_budget(f"data share of {name}"):
                continue
            probe = TASKS[name]()
            if a.data_view not in probe.views or probe.render(probe.sample(2, _rng(), "cpu"),
                                                               _view(a.data_view)).inputs.is_floating_point():
                continue  # not a token task in this view
            first = run_config(name, {}, a.data_view, d, L, a.batch_size, 0, a.residual)
            _mem_reset(self.device)
            n = fit_stack(first, self.device, m)  # long sequences: fewer models, never an OOM
            trainer = Trainer([run_config(name, {}, a.data_view, d, L, a.batch_size, s, a.residual) for s in range(n)],
                              self.device)
            full = time_steps(trainer.step, self.device, warmup=self.warmup, **self.timing)  # the real DataStream
            data, prefetch = trainer.data, trainer.data.thread is not None
            data.close()  # the refills below are made here, synchronously: the raw cost of generating
            with count_host_syncs(self.device) as box:  # one refill: sample + render for every run
                x0, y0 = (t[0] for t in data.make(data.start))
                sync(self.device)
            refills = 1 if self.quick else 4
            start = time.perf_counter()
            for _ in range(refills):
                data.make(data.start)
            sync(self.device)
            data_step = (time.perf_counter() - start) / refills / data.chunk  # all m runs, one step
            data.next = lambda: (x0, y0)
            nodata = time_steps(trainer.step, self.device, warmup=self.warmup // 2, **self.timing)
            share, overhead = data_step / full, max(0.0, 1 - nodata / full)
            note = "; ".join(filter(None, ["prefetch" if prefetch else "no prefetch", _sync_note(box["n"])]))
            self.add({"section": "data", "path": "stacked", "task": name, "view": a.data_view, "d_model": d,
                      "n_layer": L, "n_head": n_head_for(d), "seq_len": trainer.seq_len, "batch_size": a.batch_size,
                      "m": n, "step_ms": round(full * 1e3, 3), "model_steps_per_s": _sig(n / full),
                      "data_ms_per_model_step": _sig(data_step / n * 1e3), "data_share": round(share, 4),
                      "data_overhead": round(overhead, 4), "note": note})
            print(f"  {name:<14} T {trainer.seq_len:4d}  m {n:3d}  step {full * 1e3:8.2f} ms  data {data_step * 1e3:7.2f} ms "
                  f"(data_share: generating costs {100 * share:5.1f}% of a step; data_overhead: training loses "
                  f"{100 * overhead:5.1f}% {'with' if prefetch else 'without'} prefetch){_sync_note(box['n'], ' ')}",
                  flush=True)
            del trainer

    def args_shapes(self):
        return self.args.shapes or (QUICK_SHAPES if self.quick else SHAPES)


def _sync_note(n, sep=""):
    return f"{sep}{n} host syncs per refill" if n else ""


def _round(x, k=3):
    return None if x is None else round(x, k)


def _sig(x, digits=4):
    return float(f"{x:.{digits}g}")


def _rng():
    from tasks.rng import Rng
    return Rng(0)


def _view(text):
    from tasks import parse_view
    return parse_view(text)


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def summary(df: pd.DataFrame) -> list[str]:
    """The README targets against this run (reported, not asserted)."""
    out = [f"targets: {TARGETS}"]
    thr = df[df.section == "throughput"]
    at = thr[(thr.d_model == 256) & (thr.n_layer == 4)]
    best = at[at.path.str.startswith("stacked")].vs_loop.max() if not at.empty else float("nan")
    loop = at[at.path == "loop"]
    against = (f" (loop {loop.model_steps_per_s.iloc[0]:.1f} model-steps/s"
               + (f", {loop.note.iloc[0]})" if isinstance(loop.note.iloc[0], str) and loop.note.iloc[0] else ")")
               if not loop.empty else "")
    out.append(f"  stacked vs loop at d 256 L 4: {best:.1f}x{against}" if best == best else "  d 256 L 4 not measured")
    big = thr[(thr.d_model == 512) & (thr.n_layer == 8) & thr.path.str.startswith("stacked")]
    out.append(f"  MFU at d 512 L 8: {100 * big.mfu.max():.1f}%" if not big.empty else "  d 512 L 8 not measured")
    lat = df[(df.section == "latent") & (df.path == "latent")]
    if not lat.empty:
        row = lat.iloc[0]
        out.append(f"  continuous-thought step: {row.vs_direct:.2f}x a direct one ({row.note})")
    rot = df[(df.section == "positions") & (df.path == "rope")]
    if not rot.empty:
        on, off = rot[rot.note == "kernels on"], rot[rot.note != "kernels on"]
        out.append(f"  rotary step: {on.vs_learned.iloc[0]:.2f}x a learned one"
                   + (f" (kernels off: {off.vs_learned.iloc[0]:.2f}x)" if not off.empty else ""))
    data = df[df.section == "data"].dropna(subset=["data_overhead"])
    if not data.empty:  # the target is read from data_overhead (a choice: generation overlaps training)
        worst = data.loc[data.data_overhead.idxmax()]
        out.append(f"  data overhead: worst {worst.task} {100 * worst.data_overhead:.1f}% "
                   f"(data_share {100 * worst.data_share:.1f}%); "
                   f"{int((data.data_overhead > 0.05).sum())} of {len(data)} tasks above 5%")
    return out


def cmd_perf(args) -> int:
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        args.length = args.length or 16
        args.batch_size = args.batch_size or 16
    args.length, args.batch_size = args.length or 64, args.batch_size or 256
    if args.loop_windows < 1:
        raise ValueError(f"--loop-windows must be >= 1, got {args.loop_windows}")
    args.paths = args.paths or ["loop", "ours_1", "stacked"] + (["stacked_compiled"] if args.compile else [])
    perf = Perf(args)
    print(f"depthbench perf on {perf.common['device']} (torch {torch.__version__}): matmul peak "
          f"{perf.peak:.3g} TFLOP/s ({perf.peak_dtype}); S5 tagging, length {args.length}, batch {args.batch_size}",
          flush=True)
    for d, L, m in perf.args_shapes():
        perf.shape(d, L, m)
    if not args.no_latent:
        print("continuous thought (the full suite's ProsQA runs: a latent step against a direct one):", flush=True)
        perf.latent()
    if not args.no_pos:
        print("rotary positions (the full suite's connectivity runs: a rope step against a learned one):", flush=True)
        perf.positions()
    if not args.no_data:
        print(f"data generation per task ({args.data_view} view, default knobs, d {perf.args_shapes()[0][0]} "
              f"L {perf.args_shapes()[0][1]}, {perf.args_shapes()[0][2]} models stacked):", flush=True)
        perf.data()  # the share of a stacked step; `python -m runners.perf_data` gives a per-model view
    df = perf.frame()
    print("\n".join(summary(df)))
    print(f"wrote {perf.out} ({len(df)} rows) in {time.time() - perf.start:.0f}s")
    return 0


def _shape(text: str):
    try:
        d, L, m = (int(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--shape must look like D:L:M (e.g. 256:4:32), got {text!r}") from None
    return d, L, m


def add_perf_parser(sub) -> None:
    p = sub.add_parser("perf", help="model-steps/s of the per-model loop vs ours, MFU, data share (make perf)")
    p.add_argument("--quick", action="store_true", help="tiny shapes, a few steps: runs on a CPU in seconds")
    p.add_argument("--shape", dest="shapes", type=_shape, action="append", default=None,
                   help="D:L:M, repeatable (default 128:2:32 256:4:32 512:8:8)")
    p.add_argument("--paths", nargs="+", default=None, choices=["loop", "ours_1", "stacked", "stacked_compiled"])
    p.add_argument("--compile", action="store_true", help="also measure stacked with DEPTHBENCH_COMPILE=1")
    p.add_argument("--length", type=int, default=None, help="S5 word length (default 64; --quick 16)")
    p.add_argument("--batch-size", type=int, default=None, help="default 256; --quick 16")
    p.add_argument("--no-data", action="store_true", help="skip the per-task data share")
    p.add_argument("--no-latent", action="store_true", help="skip the continuous-thought step ratio")
    p.add_argument("--no-pos", action="store_true", help="skip the rotary-against-learned step ratio")
    p.add_argument("--tasks", nargs="+", default=None, help="data share of these tasks only")
    p.add_argument("--data-view", default="cot")
    p.add_argument("--residual", default="fp32", choices=RESIDUALS,
                   help="residual stream dtype of our paths under autocast (default fp32, the suite's; bf16: "
                        "ModelConfig.residual)")
    p.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds per measurement")
    p.add_argument("--loop-windows", type=int, default=9,
                   help="the loop baseline is timed this many times (each --min-seconds) and the median kept")
    p.add_argument("--budget-s", type=float, default=270.0, help="skip what is left after this many seconds")
    p.add_argument("--out", default="results/perf.csv")
    p.add_argument("--device", default=None)
