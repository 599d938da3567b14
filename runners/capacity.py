"""How many models fit in one stack, and the unit of work every backend runs.

`train_fitted(group, device, root)` trains a group of same-shape runs (runners.sweep.make_groups)
in stacks that fit the device: the stack size comes from the free memory and an estimate of
the bytes one model needs (`model_bytes`), and an out-of-memory error halves the stack and
retries. A run is never lost: runs whose record is written are skipped on a retry, and the
rest go again in smaller stacks (train_group starts each run's metrics log afresh).

The estimate, per model of the stack (bf16 autocast on a GPU; fp32 weights and AdamW):
    weights, gradients, both AdamW moments, the clipped-gradient copy, bf16 weight casts
                                                ~ 26 bytes per parameter (32 counted)
    activations kept for backward, per token and per layer (residual and LayerNorms in fp32,
    qkv, attention, MLP in bf16)                ~ 50 d bytes (64 d counted)
    logits (bf16), their fp32 copy, log-softmax and its gradient   ~ 14 V bytes (16 V counted)
    two chunks of data_chunk(B, T) batches of inputs and targets (int64): the one training and the
    one prefetched (runners.train.DataStream)      32 x chunk bytes per token
It is deliberately generous: an underestimate costs an OOM and a retry, an overestimate
only a smaller stack.
"""
from __future__ import annotations

import contextlib
import gc
import math
import sys

import torch

from runners.config import RunConfig, task_shape
from runners.records import is_done

MEMORY_FRACTION = 0.85  # of the free memory a stack may plan to use
STACK_CAP = 64          # never more models in one stack than this


def model_bytes(run: RunConfig) -> int:
    """Estimated device memory one model of a stack needs while training (see module doc)."""
    from runners.isoparam import count_params
    from runners.train import data_chunk
    seq_len, vocab, d_in = task_shape(run.task, run.knobs, run.view)
    vocab += d_in  # a float read-in costs about as much as that many embedding rows
    cfg, B = run.model, run.train.batch_size
    params = count_params(cfg.n_layer, cfg.d_model, cfg.ff, vocab, seq_len)
    tokens = B * seq_len
    per_token = 64 * cfg.d_model * cfg.n_layer * cfg.n_loops + 16 * vocab + 32 * data_chunk(B, seq_len)
    return 32 * params + tokens * per_token


def step_flops(run: RunConfig) -> float:
    """Model FLOPs of one training step of one model: 6 x parameters x tokens over the
    matmuls (blocks counted once per loop, the output head once; embedding lookups are not
    matmuls), plus attention as PaLM counts it, 12 L d T per token (causal masking not
    subtracted)."""
    from runners.isoparam import count_params
    seq_len, vocab, d_in = task_shape(run.task, run.knobs, run.view)
    vocab += d_in  # a float read-in costs about as much as that many embedding rows
    cfg = run.model
    blocks = count_params(cfg.n_layer, cfg.d_model, cfg.ff, vocab, seq_len) - count_params(
        0, cfg.d_model, cfg.ff, vocab, seq_len)
    tokens = run.train.batch_size * seq_len
    depth = cfg.n_layer * cfg.n_loops
    return tokens * (6.0 * (blocks * cfg.n_loops + cfg.d_model * vocab) + 12.0 * depth * cfg.d_model * seq_len)


def free_bytes(device) -> int | None:
    """Memory this process may still use on a CUDA device (free, plus what torch caches but
    does not use); None on the CPU, where the stack is only capped."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def fit_stack(run: RunConfig, device, cap: int = STACK_CAP) -> int:
    """Models of run's shape that fit in one stack on device (at least 1, at most cap)."""
    free = free_bytes(device)
    if free is None:
        return cap
    return max(1, min(cap, int(free * MEMORY_FRACTION // model_bytes(run))))


def split(runs: list, size: int) -> list[list]:
    """Contiguous chunks of at most size, as even as possible (9 by 4 -> 3, 3, 3)."""
    n = math.ceil(len(runs) / size)
    base, extra = divmod(len(runs), n)
    out, lo = [], 0
    for i in range(n):
        hi = lo + base + (i < extra)
        out.append(runs[lo:hi])
        lo = hi
    return out


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def _release(device) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)  # cuBLAS's per-stream workspaces
        if clear is not None:
            clear()
        torch.cuda.empty_cache()


def train_fitted(group: list[RunConfig], device="cpu", root=None, cap: int = STACK_CAP,
                 progress=None) -> list[dict]:
    """Train a group of same-shape runs in stacks that fit; return one record per run
    trained here, in the group's order. Runs already done under root are skipped."""
    from runners import train as train_mod  # looked up at call time (tests replace train_group)
    todo = [r for r in group if root is None or not is_done(root, r.run_id)]
    if not todo:
        return []
    device = torch.device(device)
    pin = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    records: dict[str, dict] = {}
    with pin:  # graph capture and streams use the current device: make it this one
        limit = fit_stack(todo[0], device, min(cap, len(todo)))
        pending = list(todo)
        while pending:
            stack = split(pending, limit)[0]
            failed = None
            try:
                for rec in train_mod.train_group(stack, device=str(device), root=root, progress=progress):
                    records[rec["run_id"]] = rec
            except Exception as err:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not is_oom(err) or len(stack) == 1:
                    raise
                failed = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            if failed:  # outside the except block: its traceback (and the stack's tensors) is gone
                _release(device)
                limit = max(1, len(stack) // 2)
                print(f"out of memory with {len(stack)} models stacked ({failed}); "
                      f"retrying in stacks of {limit}", file=sys.stderr, flush=True)
                continue
            pending = [r for r in pending if r.run_id not in records]
    return [records[r.run_id] for r in todo]

