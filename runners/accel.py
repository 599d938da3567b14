"""torch.compile for the training loss, opt-in, with a clean fallback to eager.

Set DEPTHBENCH_COMPILE=1 to compile the stacked model's training loss (forward; the
backward comes with it through AOTAutograd) and the optimizer step on a CUDA device. It is off by default: it
costs tens of seconds of compilation per shape, and whether it pays for a given shape is
measured by `depthbench perf --compile`, not assumed. The compiled loss runs inside the
trainer's CUDA graph like the eager one.

Fallback: the first call compiles, then runs one forward and backward as a probe; any error
(no Triton, an unsupported op, a compiler crash) prints one line and the eager loss is used
from then on, so a run never fails because of compilation. DEPTHBENCH_COMPILE_MODE passes a
torch.compile mode (e.g. max-autotune-no-cudagraphs: Triton matmul templates tuned per shape).
"""
from __future__ import annotations

import os
import sys

import torch


def compile_requested(device) -> bool:
    return os.environ.get("DEPTHBENCH_COMPILE") == "1" and torch.device(device).type == "cuda"


class CompiledLoss:
    """loss(x, y) -> (m,) per-model losses; compiled on first call, eager if that fails."""

    def __init__(self, loss_fn, params, compiler=None):
        self.eager, self.params = loss_fn, list(params)
        mode = os.environ.get("DEPTHBENCH_COMPILE_MODE") or None  # e.g. max-autotune-no-cudagraphs
        self.compiler = compiler or (lambda fn: torch.compile(fn, dynamic=False, mode=mode))
        self.fn, self.compiled, self.error = None, False, None

    def __call__(self, x, y):
        if self.fn is None:
            self.fn = self._first_compile(x, y)
        return self.fn(x, y)

    def _first_compile(self, x, y):
        try:
            fn = self.compiler(self.eager)
            probe = fn(x, y)
            torch.autograd.grad(probe.sum(), self.params, allow_unused=True)
        except Exception as err:  # noqa: BLE001 - any compile failure falls back to eager
            self.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            print(f"torch.compile failed, training eagerly ({self.error})", file=sys.stderr, flush=True)
            return self.eager
        self.compiled = True
        return fn


class CompiledStep:
    """The optimizer step under torch.compile (its dozen elementwise passes over the (m, P)
    buffers fuse into a few kernels); eager from the first failure on."""

    def __init__(self, step_fn, compiler=None):
        mode = os.environ.get("DEPTHBENCH_COMPILE_MODE") or None
        compiler = compiler or (lambda fn: torch.compile(fn, mode=mode))
        self.eager, self.fn, self.compiled, self.error = step_fn, compiler(step_fn), True, None

    def __call__(self, grads):
        if self.compiled:
            try:
                return self.fn(grads)
            except Exception as err:  # noqa: BLE001 - any compile failure falls back to eager
                first = str(err).splitlines()[0][:200] if str(err) else ""
                self.compiled, self.error = False, f"{type(err).__name__}: {first}"
                print(f"torch.compile of the optimizer step failed, stepping eagerly ({self.error})",
                      file=sys.stderr, flush=True)
        return self.eager(grads)


def maybe_compile_step(step_fn, device):
    """The optimizer step the trainer calls: compiled if DEPTHBENCH_COMPILE=1 on CUDA."""
    return CompiledStep(step_fn) if compile_requested(device) else step_fn


def maybe_compile(loss_fn, params, device):
    """The loss the trainer calls: compiled if DEPTHBENCH_COMPILE=1 on CUDA, else loss_fn."""
    return CompiledLoss(loss_fn, params) if compile_requested(device) else loss_fn
