"""torch.compile for the training loss, opt-in, with a clean fallback to eager.

Set DEPTHBENCH_COMPILE=1 to compile the stacked model's training loss (forward; the
backward comes with it through AOTAutograd) and the optimizer step on a CUDA device. It is
off by default: it costs tens of seconds of compilation per shape, and whether it pays for a given shape is
measured by `depthbench perf --compile`, not assumed. The compiled loss runs inside the
trainer's CUDA graph like the eager one.

Fallback: the first call compiles and runs as a probe (the loss: one forward and backward);
any error (no Triton, an unsupported op, a compiler crash) prints one line and the eager
function is used from then on, so a run never fails because of compilation. DEPTHBENCH_COMPILE_MODE passes a
torch.compile mode (e.g. max-autotune-no-cudagraphs: Triton matmul templates tuned per shape).
A run's own `train.compile` compiles only its transformer block (compile_blocks) and the
optimizer step, with the same fallback.
"""
from __future__ import annotations

import os
import sys
import types

import torch


def compile_requested(device) -> bool:
    return os.environ.get("DEPTHBENCH_COMPILE") == "1" and torch.device(device).type == "cuda"


def _compile(fn, **kw):
    return torch.compile(fn, mode=os.environ.get("DEPTHBENCH_COMPILE_MODE") or None, **kw)


def _first_call(compiled, eager, probe, what: str):
    """Run probe(compiled) once; on any error print one line and return (eager, error)."""
    try:
        probe(compiled)
    except Exception as err:  # noqa: BLE001 - any compile failure falls back to eager
        first = str(err).splitlines()[0][:200] if str(err) else ""
        error = f"{type(err).__name__}: {first}"
        print(f"torch.compile of the {what} failed, running eagerly ({error})", file=sys.stderr, flush=True)
        return eager, error
    return compiled, None


class CompiledLoss:
    """loss(x, y) -> (m,) per-model losses; compiled on first call, eager if that fails."""

    def __init__(self, loss_fn, params, compiler=None):
        self.eager, self.params = loss_fn, list(params)
        self.compiler = compiler or (lambda fn: _compile(fn, dynamic=False))
        self.fn, self.compiled, self.error = None, False, None

    def __call__(self, x, y):
        if self.fn is None:  # the probe: one forward and backward
            probe = lambda fn: torch.autograd.grad(fn(x, y).sum(), self.params, allow_unused=True)  # noqa: E731
            self.fn, self.error = _first_call(self.compiler(self.eager), self.eager, probe, "loss")
            self.compiled = self.error is None
        return self.fn(x, y)


class CompiledStep:
    """The optimizer step under torch.compile (its dozen elementwise passes over the (m, P)
    buffers fuse into a few kernels). The first call is the probe (compilation happens
    before any state is touched); if it fails, that step and every later one run eagerly."""

    def __init__(self, step_fn, compiler=None):
        self.eager, self.compiler = step_fn, compiler or _compile
        self.fn, self.compiled, self.error = None, False, None

    def __call__(self, grads):
        if self.fn is not None:
            return self.fn(grads)
        out = []
        self.fn, self.error = _first_call(self.compiler(self.eager), self.eager,
                                          lambda fn: out.append(fn(grads)), "optimizer step")
        self.compiled = self.error is None
        return out[0] if out else self.eager(grads)


def compile_blocks(loss_fn, model):
    """Regional compilation (train.compile): one torch.compile of the Block class's forward, which
    every block of the model calls with its own weights as inputs, so a model of L layers compiles
    one block, not L; the rest of the loss (embedding, head, cross-entropy) stays eager. The
    compiled forward is bound to the blocks only inside this loss: evaluation and decoding
    (other shapes, a KV cache) run the eager blocks."""
    block_forward = _compile(type(model.blocks[0]).forward, dynamic=False)

    def loss(x, y):
        for block in model.blocks:
            block.forward = types.MethodType(block_forward, block)
        try:
            return loss_fn(x, y)
        finally:
            for block in model.blocks:
                del block.forward
    return loss


def maybe_compile_step(step_fn, device, train_compile: bool = False):
    """The optimizer step the trainer calls: compiled if DEPTHBENCH_COMPILE=1 or train.compile, on CUDA."""
    on = compile_requested(device) or (train_compile and torch.device(device).type == "cuda")
    return CompiledStep(step_fn) if on else step_fn


def maybe_compile(loss_fn, params, device, model=None, train_compile: bool = False):
    """The loss the trainer calls on CUDA: the whole loss compiled if DEPTHBENCH_COMPILE=1, its
    blocks compiled (compile_blocks) if train.compile, else loss_fn."""
    if compile_requested(device):
        return CompiledLoss(loss_fn, params)
    if train_compile and torch.device(device).type == "cuda":
        return CompiledLoss(loss_fn, params, compiler=lambda fn: compile_blocks(fn, model))
    return loss_fn
