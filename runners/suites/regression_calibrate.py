"""One GPU sweep to choose the regression family's `full` budget (not part of SUITE_V1).

    python3 -m runners.cli sweep runners/suites/regression_calibrate.py --out results/calib-regression.csv
    python3 -m runners.suites.regression results/calib-regression.csv     # the check, per configuration

Linear regression with the baselines the check compares with, and transformers (d_model 128,
4 heads, batch 256) at depth 4 (the Garg depth of `full`): at the full preset's d = 5
(k = 2d + 1 = 11) for 5,000 steps (the Garg budget of `full`) and 10,000 (does a longer budget
close the gap?), and at d = 3 (k = 7) for 5,000 (a smaller d as the fallback). In each stack
three learning rates, each with and without Garg's curriculum (over the first 40% of training,
as in `full`): 3 stacks of 6 models, each one shape, so one group. A stack's wall time is 6x
the CSV's wall_s (which splits a stack's time over its runs). About 2.5 minutes on one H100 by
the step-cost model of runners/suites/regression.py (38, 76 and 25 s of steps, plus overhead).
"""
from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.suites.regression import NO_NETWORK

LRS = (1e-3, 2e-3, 4e-3)
EVAL = 2048


def stack(d, depth, steps, batch=256, width=128, heads=4):
    train = [TrainConfig(steps=steps, batch_size=batch, lr=lr, eval_size=EVAL, log_every=steps // 20) for lr in LRS]
    return [RunConfig("linreg", {"d": d, "k": 2 * d + 1, **({"curriculum": steps * 2 // 5} if ramp else {})}, "direct",
                      ModelConfig(n_layer=depth, d_model=width, n_head=heads), tc, seed=0)
            for tc in train for ramp in (False, True)]


def baselines(d):
    only = TrainConfig(steps=1, batch_size=1, eval_size=EVAL, log_every=1)
    return [RunConfig("linreg", {"d": d, "k": 2 * d + 1}, "direct", NO_NETWORK, only, seed=0, arch=arch)
            for arch in ("ols", "knn3", "averaging", "gd")]


RUNS = stack(5, 4, 5000) + stack(5, 4, 10_000) + stack(3, 4, 5000) + baselines(5) + baselines(3)
