"""Recurrent baselines in SUITE_V1: Merrill et al. 2024, "The Illusion of State".

illusion_of_state  S5 tagging (the prefix product at every position) against word length:
                   a 1-layer LSTM (a nonlinear RNN tracks any finite automaton), a diagonal
                   linear recurrence (S4D/Mamba-style) at 1 and 2 layers and a 1-layer
                   transformer (both in TC0 at fixed depth: they cannot track S5 at every
                   length). The claim the figure re-measures: the LSTM stays at about 100%
                   at every length, the other two fall as the word grows.

Every model gets the same width, budget and data (S5 words with the identity-padding
curriculum of depth_groups; evaluation on full random words). The width is the reference
config of PAPERS.md (d 512): a 1-layer LSTM must learn the 120 x 120 Cayley table in one
recurrent step, and narrow ones learn it far more slowly. On a GPU the width is nearly
free: the LSTM's cost is its sequential loop (one batched matmul and a few pointwise
kernels per position), so its time grows with steps x length, not with d or batch.

CPU calibration (2026-11-24, 1-layer LSTM, one seed, tagging accuracy by position 1..n on
full words, `curriculum` training):
    n  d    lr    batch x steps  accuracy by position
    4  128  1e-3  256 x 3000     1.00 0.17 0.04 0.03
    4  128  3e-3  256 x 1500     1.00 0.39 0.06 0.02
    4  256  3e-3  256 x 1500     1.00 0.99 0.26 0.06
    4  512  3e-3  256 x 1500     1.00 1.00 0.75 0.30
    4  256  3e-3  256 x 3000     1.00 1.00 0.92 0.43
    4  256  3e-3  128 x 6000     1.00 1.00 1.00 0.89
    8  512  3e-3  128 x 2000     1.00 1.00 0.45 0.16 0.06 0.04 0.03 0.03
The LSTM learns the composition one position after another until its state code closes
under the transition; width and the number of steps (more than the batch) speed that up.
H100 calibration (2026-11-24, 1-layer LSTM, length 32, curriculum, 2 seeds, tagging token
accuracy on full words; five variants sharing the GPU):
    d     lr    batch x steps  forget bias  curriculum  tagging accuracy (answer accuracy)
    512   1e-3  128 x 8000     1            yes         0.37 0.27 (0.04 0.10)
    512   3e-3  128 x 8000     0            yes         0.40 0.54 (0.13 0.41)
    512   3e-3   64 x 12000    1            yes         0.34 0.30 (0.19 0.09)
    512   3e-3  128 x 8000     1            no          0.48 0.37 (0.31 0.18)
    1024  1e-3  128 x 6000     1            yes         0.97 0.90 (0.92 0.78)
Width is what the 1-layer LSTM needs (its one recurrent step must hold the 120 x 120
transition table), so `full` uses d 1024 for every model, 8,000 steps of batch 128, lr 1e-3
for the recurrent models and 5e-4 for the transformer (not calibrated: half the lr it had at
d 512, as it is twice as wide).
"""
from __future__ import annotations

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig

ARCH_DEPTHS = [("lstm", [1]), ("linrec", [1, 2]), ("transformer", [1])]

SIZES = {
    # lr: recurrent models, transformer
    "smoke": dict(d=32, h=2, steps=60, batch=32, seeds=2, lengths=[4, 8], lr=(3e-3, 3e-3), eval_size=128),
    "full": dict(d=1024, h=8, steps=8000, batch=128, seeds=3, lengths=[8, 16, 32], lr=(1e-3, 5e-4),
                 eval_size=1024),
    "paper": dict(d=512, h=8, steps=20000, batch=512, seeds=3, lengths=[8, 16, 32, 64], lr=(1e-3, 3e-4),
                  eval_size=2048),
}


def experiments(preset: str) -> dict[str, list[RunConfig]]:
    s = SIZES[preset]

    def run(arch, depth, n, seed):
        lr = s["lr"][arch == "transformer"]
        train = TrainConfig(steps=s["steps"], batch_size=s["batch"], lr=lr, eval_size=s["eval_size"],
                            log_every=max(1, s["steps"] // 10))
        return RunConfig(task="s5", knobs={"length": n, "curriculum": True}, view="tagging", seed=seed,
                         train=train, arch=arch, model=ModelConfig(n_layer=depth, d_model=s["d"], n_head=s["h"]))

    runs = [run(arch, depth, n, seed) for n in s["lengths"] for arch, depths in ARCH_DEPTHS
            for depth in depths for seed in range(s["seeds"])]
    return {"illusion_of_state": runs}
