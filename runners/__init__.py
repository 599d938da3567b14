"""Runners: training, sweeps, the suite, results.

DEPTHBENCH_DETERMINISTIC=1 asks for bit-identical GPU runs (runners.train.use_determinism); cuBLAS
reads its workspace setting when it starts, so it is set here, on the first import of runners,
before any CUDA work."""
import os

if os.environ.get("DEPTHBENCH_DETERMINISTIC") == "1":
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
