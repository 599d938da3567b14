"""Several small groups training at once on one GPU, from one thread.

A small stack's step is a chain of small kernels, and another group's kernels can run beside
them. Here up to `width` groups train side by side: each has its own CUDA stream, and one Python
thread steps them in turn (each step is a CUDA graph replay, so the thread only enqueues), so
their kernels overlap on the GPU. Nothing runs in extra threads beyond each group's data
producer, as in serial training. Each group computes what it would alone: bit-identical on the
CPU (tests/test_interleave.py); on a GPU, kernel order and timing differ (README, "Scaling out",
for the runs measured).

A group joins only if it is one stack whose planned memory (runners.capacity.model_bytes) fits
in 1 / width of the memory free when it joins; the others (curriculum groups, zero-parameter
baselines included) train one at a time afterwards (runners.capacity.train_fitted). A group whose step
runs out of memory is dropped and trained that way too; its runs have no record yet, so none
is lost.

Wall time: a record's `wall_s` is the group's share of the elapsed time, each stretch of time
split evenly between the groups training in it, so the shares of all groups add up to the
time the whole set took (family times stay sums of `wall_s`).
"""
from __future__ import annotations

import contextlib
import sys
import time

import torch

from runners.capacity import MEMORY_FRACTION, STACK_CAP, free_bytes, is_oom, model_bytes, train_fitted
from runners.records import is_done


def _on(stream):
    return contextlib.nullcontext() if stream is None else torch.cuda.stream(stream)


class Slot:
    """One group training on its own stream (None on a CPU: the groups simply take turns)."""

    def __init__(self, runs, device, root, stream, capture=None):
        from runners.train import Trainer, start_records, use_determinism
        self.runs, self.device, self.root, self.stream = runs, device, root, stream
        self.deterministic = use_determinism(device)
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(device))
        with _on(stream):
            self.trainer = Trainer(runs, device)
        if capture is not None:
            self.trainer.capture_stream = capture
        start_records(runs, root)
        self.logs, self.i, self.share = [[] for _ in runs], 0, 0.0
        self.steps = runs[0].train.steps

    def step(self) -> bool:
        """One optimizer step; True when the group has trained all its steps."""
        with _on(self.stream):
            self.trainer.train_step(self.i, self.logs, self.root)
        self.i += 1
        return self.i == self.steps

    def evaluate(self) -> list[dict]:
        """The final metrics, once every step has run."""
        with _on(self.stream):
            self.trainer.data.close()
            return self.trainer.final_metrics()

    def finish(self, metrics: list[dict]) -> list[dict]:
        from runners.train import finish_records
        return finish_records(self.trainer, self.logs, metrics, self.share, self.deterministic, self.root)

    def drop(self) -> None:
        """Stop the producer and wait for this stream's work before the trainer's memory goes back
        to the allocator."""
        self.trainer.data.close()
        if self.stream is not None:  # the host waits: the graph's private pool must not go to
            self.stream.synchronize()  # another stream's allocations while its last replay runs
        self.trainer = None


def joinable(group, device, width: int) -> bool:
    """A plain group (no curriculum, trainable weights) that one stack holds, within its share
    (1 / width) of the memory free now."""
    from runners.train import CLOSED_FORM
    run = group[0]
    if run.arch in CLOSED_FORM or run.train.latent_curriculum:
        return False
    free = free_bytes(device)  # None on a CPU: only capped
    return len(group) <= STACK_CAP if free is None else len(group) * model_bytes(run) <= free * MEMORY_FRACTION / width


def train_interleaved(groups: list[list], device, root=None, width: int = 4, progress=None) -> list[dict]:
    """Train every group (lists of same-shape RunConfigs, longest first), up to `width` at a time
    on one device; the rest afterwards, one at a time. Returns the records made here."""
    device = torch.device(device)
    todo = [[r for r in g if root is None or not is_done(root, r.run_id)] for g in groups]
    todo = [g for g in todo if g]
    cuda = device.type == "cuda"
    streams = [torch.cuda.Stream(device) if cuda else None for _ in range(width)]
    captures = [torch.cuda.Stream(device) if cuda else None for _ in range(width)]
    records, later, queue = [], [], list(todo)
    with torch.cuda.device(device) if cuda else contextlib.nullcontext():
        active: list[Slot] = []
        last = time.time()

        def charge():  # split the time since the last call between the active groups
            nonlocal last
            now = time.time()
            for s in active:
                s.share += (now - last) / len(active)
            last = now

        while queue or active:
            while queue and len(active) < width:
                group = queue.pop(0)
                if not joinable(group, device, width):
                    later.append(group)
                    continue
                charge()
                k = _free_stream(active, streams)
                active.append(Slot(group, device, root, streams[k], captures[k]))
            for slot in list(active):
                metrics = None
                try:
                    done = slot.step()
                    if done:
                        metrics = slot.evaluate()
                except Exception as err:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                    if not is_oom(err):
                        raise
                    print(f"out of memory with {len(active)} groups training at once "
                          f"({type(err).__name__}); {len(slot.runs)} runs will train on their own later",
                          file=sys.stderr, flush=True)
                    later.append(slot.runs)
                    done = True
                if done:
                    charge()  # the time up to now, this group's evaluation included, shared once
                    if metrics is not None:
                        records += slot.finish(metrics)
                    slot.drop()  # no cache release here: the other groups' CUDA graphs hold cuBLAS workspaces
                    active.remove(slot)
                    if progress is not None and metrics is not None:
                        progress(len(slot.runs))
    for group in later:
        records += train_fitted(group, device, root)
        if progress is not None:
            progress(len(group))
    return records


def _free_stream(active: list[Slot], streams: list) -> int:
    """The first slot index whose stream no active group uses."""
    if streams[0] is None:
        return 0
    used = {id(s.stream) for s in active}
    return next(i for i, st in enumerate(streams) if id(st) not in used)
