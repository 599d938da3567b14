"""The counter-based stream: the host-side hash equals the tensor one, and forks never overflow."""
import os
import random
import subprocess
import sys

import pytest
import torch

from tasks.rng import Rng, splitmix64, splitmix64_int, triton

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_host_hash_equals_tensor_hash():
    r = random.Random(0)
    xs = [0, 1, -1, 2 ** 63 - 1, -2 ** 63] + [r.randrange(-2 ** 63, 2 ** 63) for _ in range(2000)]
    want = splitmix64(torch.tensor(xs, dtype=torch.int64)).tolist()
    assert [splitmix64_int(x % 2 ** 64) for x in xs] == want


def test_bits_are_the_hash_of_counter_xor_seed_hash():
    rng = Rng(42, counter=10)
    got = rng.bits((2, 3), "cpu").flatten().tolist()
    key = splitmix64_int(42)
    assert got == [splitmix64_int((i ^ key) % 2 ** 64) & ((1 << 62) - 1) for i in range(10, 16)]
    assert rng.counter == 16


def test_fork_of_a_fork_of_any_seed():
    # seeds are 62-bit; fork multiplies by 1_000_003, which overflowed int64 when hashed as a tensor
    for seed in (0, 7, 2 ** 62 - 1, 2 ** 40 + 3):
        a, b = Rng(seed).fork("train").fork("eval"), Rng(seed).fork("train").fork("eval")
        assert 0 <= a.seed < 2 ** 62 and a.seed == b.seed
        assert torch.equal(a.bits((4,), "cpu"), b.bits((4,), "cpu"))
    assert Rng(1).fork("train").seed != Rng(1).fork("eval").seed != Rng(2).fork("eval").seed


CASES = "[(0, 5, 0), (10, 3000, 42), (2 ** 40, 1025, -12345), (2 ** 62, 7, -2 ** 63)]"
CHECK = f"""
import torch
from tasks.rng import hashed_counters, splitmix64, _MASK62, _triton_on
dev = "{{dev}}"
assert _triton_on(dev)
for start, n, key in {CASES}:
    want = splitmix64(torch.arange(start, start + n, dtype=torch.int64) ^ key) & _MASK62
    assert torch.equal(hashed_counters(start, n, key, dev).cpu(), want), (start, n, key)
print("same bits")
"""


def _run(code, **env):
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT, **env},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "same bits" in r.stdout, r.stderr[-3000:]


@pytest.mark.skipif(triton is None, reason="Triton is not installed")
def test_triton_hash_in_the_interpreter():
    _run(CHECK.format(dev="cpu"), TRITON_INTERPRET="1")


@pytest.mark.skipif(not torch.cuda.is_available() or triton is None, reason="needs CUDA and Triton")
def test_triton_hash_on_cuda():
    _run(CHECK.format(dev="cuda"))
