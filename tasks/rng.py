"""A counter-based random stream: same seed, same numbers, on any device.

torch.Generator streams differ between the CPU and CUDA, so a task sampled on the GPU
would not match the same seed on a laptop. This stream hashes (seed, counter) with
splitmix64 in int64 tensor arithmetic, which is exact on every device; each call
advances the counter by the number of values drawn.

On CUDA the hash of a draw runs as one Triton kernel (same bits; the torch version takes 14
elementwise kernels, and data generation runs beside training on the same GPU). Off with
DEPTHBENCH_TRITON=0, without Triton, or on the CPU (there TRITON_INTERPRET=1 runs it in
Triton's interpreter, for the tests).
"""
from __future__ import annotations

import math
import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the CPU wheels of torch come without Triton
    triton = None

_MASK62 = (1 << 62) - 1
GAMMA, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's constants


def _shr(x: torch.Tensor, s: int) -> torch.Tensor:
    # logical right shift of int64 (torch's >> is arithmetic on negatives)
    return (x >> s) & ((1 << (64 - s)) - 1)


def _c(u: int) -> int:
    # an unsigned 64-bit constant as the int64 with the same bits
    return u - (1 << 64) if u >= 1 << 63 else u


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    x = x + _c(GAMMA)
    x = (x ^ _shr(x, 30)) * _c(MIX1)
    x = (x ^ _shr(x, 27)) * _c(MIX2)
    return x ^ _shr(x, 31)


def splitmix64_int(x: int) -> int:
    """splitmix64 of one int64 value in Python integers: the same bits as the tensor version."""
    m = (1 << 64) - 1
    x = (x + GAMMA) & m
    x = ((x ^ (x >> 30)) * MIX1) & m
    x = ((x ^ (x >> 27)) * MIX2) & m
    return _c(x ^ (x >> 31))


def _triton_on(device) -> bool:
    # the gate of models.kernels.enabled, less its torch.compile check (generation is never compiled);
    # not imported from there: tasks do not depend on models
    if triton is None or os.environ.get("DEPTHBENCH_TRITON", "1") == "0":
        return False
    return torch.device(device).type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


if triton is not None:
    @triton.jit
    def _bits_kernel(OUT, start, key, n, C0, C1, C2, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        x = ((start + offs) ^ key).to(tl.uint64, bitcast=True)  # splitmix64 in wrapping uint64
        x = x + C0.to(tl.uint64, bitcast=True)
        x = (x ^ (x >> 30)) * C1.to(tl.uint64, bitcast=True)
        x = (x ^ (x >> 27)) * C2.to(tl.uint64, bitcast=True)
        x = x ^ (x >> 31)
        tl.store(OUT + offs, x.to(tl.int64, bitcast=True) & 0x3FFFFFFFFFFFFFFF, mask=offs < n)


def hashed_counters(start: int, n: int, key: int, device) -> torch.Tensor:
    """(n,) int64: splitmix64((start + i) ^ key) & (2^62 - 1) for i < n."""
    if n and _triton_on(device):
        out = torch.empty(n, dtype=torch.int64, device=device)
        block = 1024
        _bits_kernel[(triton.cdiv(n, block),)](out, start, key, n, _c(GAMMA), _c(MIX1), _c(MIX2), BLOCK=block)
        return out
    idx = torch.arange(start, start + n, dtype=torch.int64, device=device)
    return splitmix64(idx ^ key) & _MASK62


class Rng:
    """Random stream keyed by an integer seed. `fork(tag)` derives an independent stream."""

    def __init__(self, seed: int, counter: int = 0):
        self.seed = int(seed) & _MASK62
        self.counter = int(counter)
        self.key = splitmix64_int(self.seed)  # hashed once: a host int, no kernels per draw

    def fork(self, tag: int | str) -> "Rng":
        if isinstance(tag, str):
            tag = int.from_bytes(tag.encode()[:7].ljust(7, b"\0"), "little") ^ len(tag)
        return Rng(splitmix64_int(self.seed * 1_000_003 + int(tag)) & _MASK62)

    def bits(self, shape, device) -> torch.Tensor:
        """Non-negative int64 with 62 random bits each."""
        n = math.prod(shape)
        out = hashed_counters(self.counter, n, self.key, device)
        self.counter += n
        return out.reshape(shape)

    def integers(self, low: int, high, shape, device) -> torch.Tensor:
        """Uniform integers in [low, high); `high` may be a tensor broadcast against shape."""
        span = high - low
        return self.bits(shape, device) % span + low

    def random(self, shape, device, dtype=torch.float32) -> torch.Tensor:
        """Uniform floats in [0, 1) with 24 random bits."""
        return (_shr(self.bits(shape, device), 38).to(torch.float64) / float(1 << 24)).to(dtype)

    def normal(self, shape, device, dtype=torch.float32) -> torch.Tensor:
        """Standard normal by Box-Muller, computed in float64 then cast."""
        u1 = (_shr(self.bits(shape, device), 9).to(torch.float64) + 1.0) / float(1 << 53)
        u2 = _shr(self.bits(shape, device), 9).to(torch.float64) / float(1 << 53)
        z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
        return z.to(dtype)

    def permutations(self, n: int, k: int, device) -> torch.Tensor:
        """(n, k) rows, each a uniform random permutation of range(k)."""
        return torch.argsort(self.bits((n, k), device), dim=1, stable=True)
