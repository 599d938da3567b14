"""One GPU sweep to choose the regression family's `full` budget (not part of SUITE_V1).

    python3 -m runners.cli sweep runners/suites/regression_calibrate.py --out results/calib-regression.csv
    python3 -m runners.suites.regression results/calib-regression.csv     # the check, per configuration

Linear regression at the full preset's d = 5 (k = 2d + 1 = 11) with the baselines the check
compares with, and transformers (d_model 128, 4 heads, batch 256): depth 4 and 8 for 2,500
steps (the full preset's budget) and depth 4 for 5,000. In each stack three learning rates,
each with and without Garg's curriculum (over the first third of training): 3 stacks of 6
models, each one shape, so one group. A stack's wall time is 6x the CSV's wall_s (which
splits a stack's time over its runs). About 2 minutes on one H100 (the step-cost estimate in
runners/suites/regression.py: 19 s, 37 s and 38 s of steps, plus overhead).
"""
from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.suites.regression import NO_NETWORK

LRS = (1e-3, 2e-3, 4e-3)
EVAL = 2048
D = 5


def stack(depth, steps=2500, batch=256, width=128, heads=4):
    train = [TrainConfig(steps=steps, batch_size=batch, lr=lr, eval_size=EVAL, log_every=steps // 20) for lr in LRS]
    return [RunConfig("linreg", {"d": D, "k": 2 * D + 1, **({"curriculum": steps // 3} if ramp else {})}, "direct",
                      ModelConfig(n_layer=depth, d_model=width, n_head=heads), tc, seed=0)
            for tc in train for ramp in (False, True)]


def baselines():
    only = TrainConfig(steps=1, batch_size=1, eval_size=EVAL, log_every=1)
    return [RunConfig("linreg", {"d": D, "k": 2 * D + 1}, "direct", NO_NETWORK, only, seed=0, arch=arch)
            for arch in ("ols", "knn3", "averaging", "gd")]


RUNS = stack(4) + stack(8) + stack(4, steps=5000) + baselines()
