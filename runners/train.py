"""train_group: same-shape runs trained stacked, each with its own data and init stream.

The step is one forward/backward of the StackedTransformer, per-model gradient clipping and
a per-model AdamW on one flat (m, P) parameter buffer. On CUDA the whole step (forward,
backward, clipping, optimizer, schedule) is captured once as a CUDA graph and replayed,
so the loop issues one copy and one replay per step and reads the loss every log_every
steps: tiny models stop being bound by kernel launches.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import queue
import sys
import threading
import time
import weakref

import torch

from models import CLOSED_FORM, build_model
from runners.accel import maybe_compile, maybe_compile_step
from runners.config import RunConfig
from runners.objective import make_objective
from runners.records import append_metrics, git_sha, run_dir, write_json_atomic
from tasks import parse_view
from tasks.base import Batch
from tasks.rng import Rng

DATA_TOKENS = 1 << 20  # tokens of one model's data sampled per call (above it only at 16 steps)
MAX_CHUNK = 128


def data_chunk(batch_size: int, seq_len: int) -> int:
    """Steps of data sampled per call: a power of two in [16, 128], about DATA_TOKENS tokens.
    It depends on the batch shape alone, so a run's data never depends on the stack size m;
    larger chunks spread the generators' per-call cost (kernel launches) over more steps."""
    n = DATA_TOKENS // max(1, batch_size * seq_len)
    return max(16, min(MAX_CHUNK, 1 << max(0, n.bit_length() - 1)))


_STREAMS: dict = {}


def cached_stream(device, role: str, priority: int = 0) -> "torch.cuda.Stream":
    """One CUDA stream per device and role, reused: cuBLAS keeps a workspace per stream it has
    seen (tens of MB each, never freed), so a fresh stream per warm-up step leaked about
    0.5 GB over two groups on an H100 and starved the out-of-memory retries."""
    index = torch.device(device).index
    key = (torch.cuda.current_device() if index is None else index, role)
    if key not in _STREAMS:
        _STREAMS[key] = torch.cuda.Stream(key[0], priority=priority)
    return _STREAMS[key]


class StackedAdamW:
    """AdamW over m models whose parameters are views of one flat (m, P) buffer.
    Per-model learning rates and per-model global-norm clipping; schedule and bias
    correction are computed on the device from a step counter (graph-capturable)."""

    def __init__(self, model, lrs, weight_decay, grad_clip, steps, warmup, betas=(0.9, 0.95), eps=1e-8):
        params = list(model.parameters())
        m, dev = model.m, params[0].device
        sizes = [p[0].numel() for p in params]
        self.flat = torch.cat([p.detach().reshape(m, -1) for p in params], dim=1).contiguous()
        off = 0
        decay = []
        for p, n in zip(params, sizes):
            p.data = self.flat[:, off:off + n].view(p.shape)
            decay.append(torch.full((n,), float(p.dim() >= 3), device=dev))
            off += n
        self.params, self.m = params, m
        self.decay = torch.cat(decay)[None]  # (1, P): weight decay on matrices only
        self.lrs = torch.as_tensor(lrs, dtype=torch.float32, device=dev)[:, None]  # (m, 1)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.t = torch.zeros((), device=dev)
        self.wd, self.clip, self.betas, self.eps = weight_decay, grad_clip, betas, eps
        self.steps, self.warm = steps, max(1, int(warmup * steps))

    def lr_scale(self):
        t = self.t
        warm = torch.clamp(t / self.warm, max=1.0)
        progress = torch.clamp((t - self.warm) / max(1, self.steps - self.warm), 0.0, 1.0)
        return warm * 0.5 * (1.0 + torch.cos(math.pi * progress))

    @torch.no_grad()
    def step(self, grads) -> torch.Tensor:
        g = torch.cat([x.reshape(self.m, -1) for x in grads], dim=1).float()  # (m, P)
        norm = g.pow(2).sum(1, keepdim=True).sqrt()
        g = g * torch.clamp(self.clip / (norm + 1e-6), max=1.0)
        b1, b2 = self.betas
        self.t += 1
        self.exp_avg.lerp_(g, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
        lr = self.lrs * self.lr_scale()  # (m, 1)
        self.flat.mul_(1 - lr * self.wd * self.decay)
        denom = (self.exp_avg_sq / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
        self.flat.sub_(lr / (1 - b1 ** self.t) * self.exp_avg / denom)
        return norm.squeeze(1)


def prefetch_default(device) -> bool:
    """On for CUDA devices, off on the CPU (the producer thread would share the cores with training);
    DEPTHBENCH_PREFETCH=1 or 0 overrides. History: in one smoke bench on an H100 (commit 31ab750) a
    group's CUDA graph capture failed with prefetch on (cudaErrorStreamCaptureInvalidated); the cause
    was not pinned down. Since then the capture runs in thread_local mode (no other thread's CUDA call
    can invalidate it), after a gc.collect (no earlier trainer is destroyed mid-capture), and only if
    the graph's pool fits (graph_fits); two smoke benches and the GPU tests then passed with it on."""
    flag = os.environ.get("DEPTHBENCH_PREFETCH")
    if flag in ("0", "1"):
        return flag == "1"
    return torch.device(device).type == "cuda"


def make_chunk(tasks, view, rngs, batch_size, chunk, device, start):
    """(inputs, targets), each (chunk, m, B, ...): the data of steps start .. start + chunk - 1."""
    xs, ys = [], []
    for task, rng in zip(tasks, rngs):
        b = task.train_batch(chunk * batch_size, rng, device, view, start)
        xs.append(b.inputs.view(chunk, batch_size, *b.inputs.shape[1:]))
        ys.append(b.targets.view(chunk, batch_size, -1))
    return torch.stack(xs, 1), torch.stack(ys, 1)


def _produce(jobs, done, make, stream):
    """The prefetch thread: make(start) for each start taken from jobs, until None or an error.
    It holds no reference to its DataStream, so a dropped stream can be collected."""
    if stream is not None:
        torch.cuda.set_device(stream.device)
    while (start := jobs.get()) is not None:
        try:
            with contextlib.nullcontext() if stream is None else torch.cuda.stream(stream):
                buf = make(start)
                event = None if stream is None else stream.record_event()
        except BaseException as err:  # noqa: BLE001 - raised again by the consumer, in next()
            done.put((None, None, err))
            return
        done.put((buf, event, None))


def graph_room(device) -> int:
    """Bytes a CUDA graph's private pool can still get: free device memory, capped by the
    per-process fraction if one is set (torch.cuda.set_per_process_memory_fraction)."""
    index = torch.device(device).index
    device = torch.cuda.current_device() if index is None else index
    free, total = torch.cuda.mem_get_info(device)
    get = getattr(torch.cuda, "get_per_process_memory_fraction", None)
    frac = get(device) if get is not None else 1.0
    if frac < 1.0:
        free = min(free, int(frac * total) - torch.cuda.memory_reserved(device))
    return free


def graph_fits(device, step_bytes: int) -> bool:
    """Whether capturing a step that peaked at step_bytes above its start fits. The graph's pool
    cannot reuse the blocks torch caches for eager steps, so those are released first if needed.
    Checked before capture because an out-of-memory error inside a capture is not a clean one in
    PyTorch: freeing cached blocks there invalidates the capture (pytorch/pytorch#159594), and
    a failed capture's pool is never given back (pytorch/pytorch#190348)."""
    need = int(1.25 * step_bytes) + (256 << 20)  # + cuBLAS workspace of the capture stream, slack
    room = graph_room(device)
    if room < need:
        torch.cuda.empty_cache()
        room = graph_room(device)
    return room >= need


class DataStream:
    """Per-run training batches from each run's own task and Rng, data_chunk(B, T) steps at a time.

    With prefetch (prefetch_default) a daemon thread makes the next chunk, on its own CUDA stream,
    while the current one trains. The thread is then the only user of the Rngs and calls
    train_batch for the same runs, in the same order, with the same start steps as the synchronous
    path, so the batches are bit-identical. No chunk starting at or after `steps` is made ahead.
    """

    def __init__(self, tasks, view, rngs, batch_size, seq_len, device, steps=None, prefetch=None):
        self.device = torch.device(device)
        self.chunk = data_chunk(batch_size, seq_len)
        self.make = functools.partial(make_chunk, tasks, view, rngs, batch_size, self.chunk, device)
        self.buf, self.pos = None, self.chunk
        self.start = 0  # first step of the next chunk to make (or to hand to the thread)
        self.steps = math.inf if steps is None else steps
        self.prefetch = prefetch_default(self.device) if prefetch is None else prefetch
        self.thread = self.stream = None
        self.jobs, self.done = queue.SimpleQueue(), queue.SimpleQueue()
        self.pending, self.ready = False, None  # a chunk handed to the thread; its result, if taken early

    def next(self):
        if self.pos == self.chunk:
            self.buf = None  # the old chunk is freed before the next one is made
            self.buf, self.pos = self.take(), 0  # (chunk, m, B, T)
        x, y = self.buf[0][self.pos], self.buf[1][self.pos]
        self.pos += 1
        return x, y

    def take(self):
        """The next chunk: the thread's, else made here; then the thread starts on the one after."""
        if self.prefetch and self.thread is None and self.start < self.steps:
            self.launch()
            self.submit()
        if self.pending:
            buf = self.receive()
        else:
            buf = self.make(self.start)
            self.start += self.chunk
        if self.thread is not None and self.start < self.steps:
            self.submit()
        return buf

    def launch(self):
        if self.device.type == "cuda":
            # high priority: the producer's many small kernels go before the step's queued ones
            high = os.environ.get("DEPTHBENCH_PREFETCH_PRIORITY", "high") == "high"
            self.stream = cached_stream(self.device, "prefetch", priority=-100 if high else 0)
            self.stream.wait_stream(torch.cuda.current_stream(self.stream.device))  # device tensors the tasks hold
        self.thread = threading.Thread(target=_produce, args=(self.jobs, self.done, self.make, self.stream),
                                       name="depthbench-prefetch", daemon=True)
        self.thread.start()
        weakref.finalize(self, self.jobs.put, None)  # dropped without close(): the thread still ends

    def submit(self):
        self.jobs.put(self.start)
        self.start += self.chunk
        self.pending = True

    def receive(self):
        buf, event, err = self.done.get() if self.ready is None else self.ready
        self.pending, self.ready = False, None
        if err is not None:
            self.close()
            raise err
        if event is not None:  # the consumer's stream waits on the device, not the host
            consumer = torch.cuda.current_stream(self.device)
            consumer.wait_event(event)
            for t in buf:
                t.record_stream(consumer)  # not reused by the allocator before the consumer has read it
        return buf

    def wait_idle(self):
        """Wait until the thread has made the chunk in flight; it starts another only at take()."""
        if self.pending and self.ready is None:
            self.ready = self.done.get()

    def close(self):
        """Stop the thread. A chunk it made is kept; later chunks are made here, synchronously."""
        self.prefetch = False
        if self.thread is None:
            return
        self.wait_idle()
        self.jobs.put(None)
        self.thread.join()
        self.thread = None
        if self.stream is not None:
            torch.cuda.current_stream(self.device).wait_stream(self.stream)  # device tensors a task cached there


class Trainer:
    """Holds the stacked model, optimizer and a (possibly graph-captured) step."""
    record_notes: dict = {}  # extra fields of every final record (a shared stage 0: runners/stage0.py)

    def __init__(self, runs: list[RunConfig], device):
        first = runs[0]
        keys = {r.group_key() for r in runs}
        if len(keys) != 1:
            raise ValueError("train_group needs runs of one shape (see RunConfig.group_key)")
        self.runs, self.device = runs, torch.device(device)
        self.tasks, self.view, tc = [r.make_task() for r in runs], parse_view(first.view), first.train
        self.seq_len = self.sequence_length()
        self.model = build_model(first.arch, first.model, len(runs), self.tasks[0], self.seq_len)
        self.model.init_weights([Rng(r.seed).fork("init").seed for r in runs])
        self.model.to(self.device)
        self.objective = make_objective(self.tasks[0], self.view, self.model, self.device)
        self.opt = StackedAdamW(self.model, [r.train.lr for r in runs], tc.weight_decay, tc.grad_clip,
                                tc.steps, tc.warmup)
        self.data = DataStream(self.tasks, self.view, [Rng(r.seed).fork("train") for r in runs],
                               tc.batch_size, self.seq_len, self.device, steps=tc.steps)
        self.x = self.y = None  # static input buffers, shaped by the first batch
        self.loss_sum = torch.zeros(len(runs), device=self.device)
        self.graph, self.step_bytes = None, 0  # step_bytes: the eager warm-up steps' peak memory
        # None: torch's one capture stream. A captured cuBLAS call keeps its capture stream's workspace,
        # so graphs that replay at once (runners/interleave.py) are captured on streams of their own
        self.capture_stream = None
        self.use_graph = (self.device.type == "cuda" and self.objective.graphable
                          and os.environ.get("DEPTHBENCH_NO_GRAPH") != "1")
        # DEPTHBENCH_COMPILE=1 (the whole loss) or train.compile (its blocks), on CUDA
        self.loss_fn = maybe_compile(self.objective.loss, self.opt.params, self.device, self.model, tc.compile)
        # through self.opt at each call: the curriculum replaces the optimizer per stage
        self.opt_step = maybe_compile_step(lambda grads: self.opt.step(grads), self.device, tc.compile)

    def sequence_length(self) -> int:
        """Positions of a training sequence (the model's max_len); the curriculum's is its longest stage."""
        return self.tasks[0].render(self.tasks[0].sample(2, Rng(0), self.device), self.view).inputs.shape[1]

    def _step(self):
        loss = self.loss_fn(self.x, self.y)
        grads = torch.autograd.grad(loss.sum(), self.opt.params)
        self.opt_step(grads)
        self.loss_sum += loss.detach()

    def step(self, i: int):
        x, y = self.data.next()
        if self.x is None:
            self.x, self.y = torch.empty_like(x), torch.empty_like(y)
        self.x.copy_(x)
        self.y.copy_(y)
        if not self.use_graph:
            return self._step()
        if self.graph is None and i >= 3 and not graph_fits(self.device, self.step_bytes):
            print(f"depthbench: a CUDA graph of this stack ({len(self.runs)} models) would not fit in "
                  "memory; its steps run eagerly", file=sys.stderr, flush=True)
            self.use_graph = False
            return self._step()
        if self.graph is None and i >= 3:  # warm up eagerly on a side stream, then capture
            self.graph = torch.cuda.CUDAGraph()
            self.data.wait_idle()  # the producer idles until the next refill
            gc.collect()  # an earlier group's trainer (a reference cycle) is not destroyed mid-capture
            torch.cuda.synchronize()
            # thread_local: another thread's CUDA calls (the producer, a collector) cannot invalidate it
            with torch.cuda.graph(self.graph, stream=self.capture_stream, capture_error_mode="thread_local"):
                self._step()
            return self.graph.replay()
        if self.graph is None:
            side = cached_stream(self.device, "warm-up")
            side.wait_stream(torch.cuda.current_stream())
            torch.cuda.reset_peak_memory_stats(self.device)  # host-side counters: no sync
            base = torch.cuda.memory_allocated(self.device)
            with torch.cuda.stream(side):
                self._step()
            torch.cuda.current_stream().wait_stream(side)
            self.step_bytes = max(self.step_bytes, torch.cuda.max_memory_allocated(self.device) - base)
            return None
        self.graph.replay()

    def resume(self, logs: list[list[dict]], root) -> int:
        """The first step to train (0); the curriculum starts later where stage 0 is shared
        (runners/stage0.py), with its logs filled in."""
        return 0

    def train(self, root=None, progress=None) -> list[list[dict]]:
        logs = [[] for _ in self.runs]
        first = self.resume(logs, root)
        if progress is not None and first:
            progress(first)
        try:
            for i in range(first, self.runs[0].train.steps):
                self.train_step(i, logs, root)
                if progress is not None:
                    progress(1)
        finally:
            self.data.close()  # the prefetch thread, if any
        return logs

    def train_step(self, i: int, logs: list[list[dict]], root=None) -> None:
        """Optimizer step i; every log_every steps (and the last) the mean loss goes to logs and
        metrics.jsonl. runners.interleave calls this for several trainers in turn."""
        tc = self.runs[0].train
        self.step(i)
        if (i + 1) % tc.log_every == 0 or i + 1 == tc.steps:
            since = (i + 1) - (logs[0][-1]["step"] if logs[0] else 0)
            mean = (self.loss_sum / since).tolist()  # the only host sync in the loop
            self.loss_sum.zero_()
            for j, run in enumerate(self.runs):
                row = {"step": i + 1, "loss": mean[j]}
                logs[j].append(row)
                if root is not None:
                    append_metrics(root, run.run_id, [row])

    def eval_batch(self, task, problem):
        return task.render(problem, self.view)

    def final_metrics(self) -> list[dict]:
        """Per run, the metrics its record keeps: the final evaluation."""
        return self.evaluate()

    def eval_set(self, size: int) -> list[tuple]:
        """Per run (eval task, held-out problem, its Batch in self.view): fresh examples from the
        run's own "eval" stream (the task's for_eval split if it has one)."""
        out = []
        for run, task in zip(self.runs, self.tasks):
            task = task.for_eval()
            problem = task.sample(size, Rng(run.seed).fork("eval"), self.device)
            out.append((task, problem, self.eval_batch(task, problem)))
        return out

    def eval_chunk(self) -> int:
        # examples per model per call: at most 8 training batches, so a stack that trained also
        # evaluates (no activations kept); 8192 // m alone let one model take 8192 at once
        return max(64, min(8192 // len(self.runs), 8 * self.runs[0].train.batch_size))

    @torch.no_grad()
    def evaluate(self, size: int | None = None) -> list[dict]:
        """Answer and token accuracy on fresh held-out examples (for_eval split if the task has one)."""
        size = size or self.runs[0].train.eval_size
        batches = [b for _, _, b in self.eval_set(size)]
        self.model.eval()
        totals, chunk = {}, self.eval_chunk()
        for lo in range(0, size, chunk):
            part = [_slice(b, lo, lo + chunk) for b in batches]
            n = part[0].inputs.shape[0]
            for key, val in self.objective.evaluate(part).items():
                totals[key] = totals.get(key, 0) + val.float() * n
        self.model.train()
        return [{k: float(v[j] / size) for k, v in totals.items()} for j in range(len(self.runs))]


def _slice(batch, lo, hi):
    """Rows lo:hi of a Batch, meta tensors included."""
    meta = {k: v[lo:hi] if isinstance(v, torch.Tensor) else v for k, v in batch.meta.items()}
    return Batch(batch.inputs[lo:hi], batch.targets[lo:hi], batch.answer_mask[lo:hi],
                 batch.latent_mask[lo:hi], batch.prompt_len, meta)


def use_determinism(device) -> bool:
    """With DEPTHBENCH_DETERMINISTIC=1 on a CUDA device: torch's deterministic algorithms (an op
    without one raises, naming itself), under which models.transformer.attend keeps to one
    attention kernel (DETERMINISTIC_ORDER), so a run repeated with the same seed on the same
    machine and software is bit-identical.
    Off by default: the reference leaderboard was made without it."""
    if os.environ.get("DEPTHBENCH_DETERMINISTIC") != "1" or torch.device(device).type != "cuda":
        return False
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
        raise RuntimeError("DEPTHBENCH_DETERMINISTIC=1 needs CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) set "
                           "before CUDA starts; `import runners` sets it when the variable is set first")
    torch.use_deterministic_algorithms(True)
    return True


def train_group(runs: list[RunConfig], device="cpu", root=None, progress=None) -> list[dict]:
    """Train same-shape runs stacked; write and return one final record per run."""
    deterministic = use_determinism(device)
    if runs[0].arch in CLOSED_FORM:  # zero-parameter models (regression baselines): evaluated, not trained
        from runners.regression_objective import evaluate_closed_form_group
        return evaluate_closed_form_group(runs, device, root)
    start = time.time()
    if runs[0].train.latent_curriculum:  # the Coconut stages (runners/curriculum.py)
        from runners.curriculum import CurriculumTrainer as trainer_class
    else:
        trainer_class = Trainer
    trainer = trainer_class(runs, device)
    start_records(runs, root)
    logs = trainer.train(root, progress)
    return finish_records(trainer, logs, trainer.final_metrics(), time.time() - start, deterministic, root)


def start_records(runs: list[RunConfig], root) -> None:
    if root is not None:
        for run in runs:  # a run retrained after a kill starts its log afresh
            write_json_atomic(run_dir(root, run.run_id) / "config.json", run.to_dict())
            (run_dir(root, run.run_id) / "metrics.jsonl").unlink(missing_ok=True)


def finish_records(trainer, logs, metrics, wall: float, deterministic: bool, root) -> list[dict]:
    """One final record per run of the trainer (written under root, final.json last)."""
    runs = trainer.runs
    if root is not None and os.environ.get("DEPTHBENCH_SAVE_MODEL") == "1":  # opt-in weights for `depthbench eval`
        from runners.checkpoint import save_models
        save_models(trainer.model, runs, root)
    records = []
    for run, met, log in zip(runs, metrics, logs):
        rec = {"run_id": run.run_id, "config": run.to_dict(), "metrics": {**met, "loss": log[-1]["loss"]},
               "params": trainer.model.n_params(), "wall_s": wall, "group_size": len(runs),
               "device": device_name(trainer.device), "git_sha": git_sha(), "seq_len": trainer.seq_len,
               "deterministic": deterministic or trainer.device.type == "cpu",
               **trainer.record_notes}
        if root is not None:
            write_json_atomic(run_dir(root, run.run_id) / "final.json", rec)
        records.append(rec)
    return records


def device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
