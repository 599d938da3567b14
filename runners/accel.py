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
"""
from __future__ import annotations

import os
import sys

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


def maybe_compile_step(step_fn, device):
    """The optimizer step the trainer calls: compiled if DEPTHBENCH_COMPILE=1 on CUDA."""
    return CompiledStep(step_fn) if compile_requested(device) else step_fn


def maybe_compile(loss_fn, params, device):
    """The loss the trainer calls: compiled if DEPTHBENCH_COMPILE=1 on CUDA, else loss_fn."""
    return CompiledLoss(loss_fn, params) if compile_requested(device) else loss_fn
