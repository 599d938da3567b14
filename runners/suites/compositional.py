"""Compositional tasks in SUITE_V1: depth against width, the exchange rate, tree paths.

depth_width      (Petty et al. 2023): k-hop composition with the blocks shuffled (the names
                 route the chain), some name combinations held out of training; one model
                 shape per depth at a fixed parameter count (runners.isoparam); the trainer
                 scores the held-out combinations (KHop.for_eval). Figure `depth_width`.
exchange         the serial-steps exchange rate: answer accuracy against the number L of
                 serial steps, on one k-hop task (permutations, blocks listed in order) and
                 the S5 word problem, in four currencies:
                   depth    L layers, direct view
                   loops    1 layer run L times (n_loops = L, input injection), direct view;
                            L = 1 is the 1-layer direct model, shared with depth
                   cot      a base model of `base_layers` layers writing L trace tokens: the
                            trace kept every K / L steps (knob trace_every), so token j holds
                            the value after j * K / L hops (prefix products); the last is the
                            answer, written again after '='. L = 1 (one trace token, the answer
                            itself) is the 1-layer direct run, shared with depth (base_layers 1)
                   latent   the same base model and the same L-step trace with every step a
                            continuous thought: view latent:Lx1 (L thoughts, no trace tokens)
                 L runs over the divisors of the task size K listed in SIZES, so every
                 currency has the same L; all currencies of a task share one training budget.
                 Every run names trace_every (1 where unused) so its rows are told apart from
                 other S5 rows in a result CSV.
                 Figure `exchange_rate`.
exchange_latent  the latent currency of `exchange`, kept apart: it trains only where the
                 `latent` objective is registered (runners.objective.OBJECTIVES).
treepath         (Brinkmann et al. 2024): root-to-goal paths in random trees of 16 nodes,
                 6 layers, 1 head, d_model 128, direct view (the answer is the path, written
                 token by token); the tree shape and root knobs at their defaults (random
                 recursive trees, root not given: see treepath()). Figure `treepath`.
"""
from __future__ import annotations

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig, task_shape
from runners.isoparam import iso_param_configs

SIZES = {  # per study: optimizer steps, batch, seeds (stacked), positions, then the study's own sizes
    # pos, from CPU checks (d 64, lr 3e-3): direct k-hop lookups stay at chance with learned (and
    # sinusoidal) positions for 1-2k steps, and are learned with rope: depth_width uses rope. A
    # 1-layer k-hop CoT (every hop written) reached 0.73 with learned positions and stayed at 0.22
    # with rope: the exchange rate keeps learned positions for every currency (one architecture).
    # Tree paths: learned (rope found the root less often). depth_width composes permutations: with
    # random maps, "the most frequent value of the last table" scores E[max count] / D (0.40 at
    # D 6, 0.32 at D 8) without composing, and 1- and 4-layer models both sat there (0.375).
    "smoke": dict(
        lr=3e-3, eval_size=64,
        dw=dict(steps=40, batch=16, seeds=2, budget=40_000, depths=[1, 2], head_dim=8, pos="rope",
                knobs=dict(n_functions=3, domain=3, hops=2, holdout=2.0)),
        ex=dict(seeds=2, d=32, h=2, base_layers=1, Ls=[1, 2], pos="learned",
                khop=dict(steps=40, batch=16, hops=2, domain=3), s5=dict(steps=40, batch=16, length=2)),
        tree=dict(steps=40, batch=16, seeds=2, nodes=6, min_depth=2, n_layer=2, d=32, h=1, pos="learned")),
    # full: 138 s of training on one H100 in the reference run at bbec9ae (115 s at 3c3d862), 54 s of
    # it treepath, 36 s depth_width (README, "Status of the families"); 141 s in `bench --family
    # compositional` (session 16; b858d6b's training code with a graph-capture lock since removed;
    # treepath 57.5 s, 0.869 / 0.954); 102 s in the reference run at 5c73c44 (the fused step of models/kernels.py:
    # treepath 32 s, depth_width 29 s). lr 1e-3 since session 11 (was 3e-3; H100 calibration, 3 seeds each:
    # exchange k-hop CoT with every hop written 0.98 / 1.00 / 1.00 against 0.94 / 0.79 / 0.24, every
    # 2nd hop 0.60 against 0.31, S5 CoT 0.41; depth, loops and continuous thought stayed at chance at
    # 1e-3 and at twice the steps; depth_width: see depth_width()). Session 14 (H100, 3 seeds): with the
    # khop / s5 knob `curriculum` (1..K real hops or elements in training) depth 2 / 4 and loops 2 / 4
    # stayed at chance (k-hop 0.24-0.30 at 1200 and 2400 steps, S5 0.006-0.018 at 1000 and 3000):
    # not used (k hops need about k + 1 layers in this format, README). 96 s in the reference run at
    # c2b5567 (the rotary kernel: depth_width 24 s; treepath 32 s, 0.956 / 0.982).
    "full": dict(
        lr=1e-3, eval_size=1024,
        dw=dict(steps=5000, batch=256, seeds=3, budget=310_000, depths=[1, 2, 4], head_dim=16, pos="rope",
                knobs=dict(n_functions=6, domain=4, hops=2, holdout=0.25, kind="permutation")),
        # S5 rows are short: a larger batch is cheap
        ex=dict(seeds=3, d=128, h=4, base_layers=1, Ls=[1, 2, 4], pos="learned",
                khop=dict(steps=1200, batch=128, hops=4, domain=4), s5=dict(steps=1000, batch=512, length=4)),
        # tree: H100 calibration (2026-11-24, 3 seeds each; see treepath() below)
        tree=dict(steps=3000, batch=512, lr=1e-3, seeds=2, nodes=16, min_depth=3, n_layer=6, d=128, h=1,
                  pos="learned")),
    "paper": dict(
        lr=3e-4, eval_size=2048,
        dw=dict(steps=20000, batch=512, seeds=3, budget=2_450_000, depths=[1, 2, 4, 8, 16], head_dim=16, pos="rope",
                knobs=dict(n_functions=8, domain=8, hops=4, holdout=0.25, kind="permutation")),
        ex=dict(seeds=3, d=256, h=8, base_layers=1, Ls=[1, 2, 4, 8, 16], pos="learned",
                khop=dict(steps=20000, batch=512, hops=8, domain=5), s5=dict(steps=20000, batch=512, length=16)),
        tree=dict(steps=20000, batch=512, seeds=3, nodes=16, min_depth=3, n_layer=6, d=128, h=1, pos="learned")),
}
CURRENCIES = ("depth", "loops", "cot", "latent")
# Experiments whose many small groups `depthbench bench` trains side by side on a GPU (runners/interleave.py),
# so many at a time: a step of these stacks is bound by kernel launches (0.7-3.6 ms on an H100,
# session 23), and the groups' kernels overlap. Each group computes what it would alone.
INTERLEAVE = {"exchange": 4, "exchange_latent": 4}


def train_config(s: dict, study: dict) -> TrainConfig:
    return TrainConfig(steps=study["steps"], batch_size=study["batch"], lr=study.get("lr", s["lr"]),
                       eval_size=s["eval_size"],
                       log_every=max(1, study["steps"] // 10))


def depth_width(s: dict) -> list[RunConfig]:
    """One iso-parameter shape per depth on held-out k-hop combinations.

    In the reference runs (domain 6, 8 functions, 2 hops, lr 3e-3, 2500 steps of 128) every depth
    sat at chance, training loss ln 6 / 2 included. H100 calibration (session 10; iso-parameter
    310k, rope, lr 1e-3, 3 seeds; held-out answer accuracy, mean over seeds, depths 1 / 2 / 4):
        domain 6, 8 functions, 5000 steps of 256      0.23 / 0.24 / 0.19   (chance 0.17)
        domain 4, 4 functions, 2500 steps of 128      0.58 / 0.60 / 0.43   (chance 0.25; seeds 0.24-0.67)
        domain 4, 6 functions, 5000 steps of 256      0.72 / 0.76 / 0.79   (seeds 0.67-0.86)
    The last is the first setting where accuracy rises with depth, by less at each doubling; its
    three groups took 36 s against 14 s. Session 11 (H100, same shapes, lr 1e-3, 3 seeds; the GPU
    shared with another sweep):
        domain 4, 6 functions, 5000 steps of 256, seeds 3-5   0.76 / 0.78 / 0.75
        domain 4, 6 functions, 3000 steps of 256              0.68 / 0.63 / 0.66
        domain 4, 6 functions, 2500 steps of 512              0.75 / 0.76 / 0.69
        domain 4, 6 functions, 5000 steps of 256, lr 2e-3     0.49 / 0.74 / 0.67
    Over the six seeds of the 5000-step setting: 0.74 / 0.77 / 0.77, a gain from 1 to 2 layers and
    none from 2 to 4 (diminishing returns, within about the seed spread). `full` uses it since
    session 11 (domain 4, 6 functions, 5000 steps of 256, lr 1e-3). Session 15 (H100, the GPU to
    itself, one command): the full groups with 3 seeds 0.72 / 0.74 / 0.77 in 11.0 / 11.1 / 17.0 s;
    with 6 seeds stacked 0.74 / 0.77 / 0.78 (seeds 0.64-0.80, 0.74-0.79, 0.70-0.94) in 12.5 / 17.0 /
    25.3 s: twice the seeds would cost the family 16 s more (it is over its budget already): not used.
    Session 16 (H100, one command, 6 seeds stacked per depth, otherwise the full recipe), looking for a
    setting where 1 layer is clearly below 2: 3 hops 0.27 / 0.25 / 0.25 (chance 0.25; 19.0 / 20.6 /
    30.2 s); domain 5 0.46 / 0.50 / 0.45 (seeds 0.29-0.62; 13.4 / 18.2 / 27.1 s). Neither is used."""
    p = s["dw"]
    knobs = {**p["knobs"], "order": "shuffled", "split": "train"}
    seq_len, vocab, _ = task_shape("khop", tuple(sorted(knobs.items())), "direct")
    shapes = iso_param_configs(p["budget"], p["depths"], vocab, seq_len, head_dim=p["head_dim"], pos=p["pos"])
    train = train_config(s, p)
    return [RunConfig(task="khop", knobs=knobs, view="direct", train=train, seed=seed,
                      model=ModelConfig(n_layer=c["n_layer"], d_model=c["d_model"], n_head=c["n_head"],
                                        d_ff=c["d_ff"], pos=p["pos"]))
            for c in shapes for seed in range(p["seeds"])]


def exchange_tasks(s: dict) -> list[tuple[str, dict, int]]:
    """(task, knobs, K): the tasks of the exchange rate and their number K of serial steps. k-hop
    lists its blocks in order (the names do not matter), so every hop is one serial lookup; nothing
    is held out (holdout=0): the names carry no meaning here, and an unseen name tuple would only
    test the embeddings of rarely seen names."""
    p = s["ex"]
    khop = dict(hops=p["khop"]["hops"], domain=p["khop"]["domain"], kind="permutation", order="listed",
                n_functions=4, holdout=0.0)
    return [("khop", khop, p["khop"]["hops"]), ("s5", {"length": p["s5"]["length"]}, p["s5"]["length"])]


def exchange(s: dict, currencies=("depth", "loops", "cot")) -> list[RunConfig]:
    """Each currency at every L in SIZES (those dividing the task's K).

    Depth and loops train on the direct view and stay at chance on k-hop (4 hops). Session 19 (H100,
    sweeps sharing the GPU; the full k-hop knobs, d 128, 4 heads, batch 128, lr 1e-3, 3 seeds) trained
    them through stepwise internalization instead (pause:4x0 through the curriculum, stages even,
    stage_mix 0.3, optimizer reset per stage): no CoT answer accuracy (seed means) 0.25-0.31 at depth
    1 / 2 / 4 and loops 2 / 4, at 1200 and at 2400 steps (chance 0.25). The CoT stage itself (stage 0)
    was learned on every seed only at 2400 steps with 4 layers or 4 loops (1.00), on some seeds with 2
    layers or 2 loops (0.24-1.00), not with 1 layer (0.48-0.51), and at 1200 steps nowhere (0.21-0.54).
    Not used."""
    p = s["ex"]
    runs = []
    for task, knobs, K in exchange_tasks(s):
        train = train_config(s, p[task])  # one budget for every currency of a task
        for L in [L for L in p["Ls"] if K % L == 0]:
            every = K // L
            plan = {"depth": (dict(n_layer=L), "direct", 1),
                    "loops": (dict(n_layer=1, n_loops=L, input_injection=True), "direct", 1),
                    "cot": (dict(n_layer=p["base_layers"]), "cot", every),
                    "latent": (dict(n_layer=p["base_layers"]), f"latent:{L}x1", every)}
            for cur in currencies:
                shape, view, trace_every = plan[cur]
                if cur in ("loops", "cot") and L == 1 and (cur == "loops" or p["base_layers"] == 1):
                    continue  # one pass of one layer, answering at once: the depth-1 run
                model = ModelConfig(d_model=p["d"], n_head=p["h"], pos=p["pos"], **shape)
                runs += [RunConfig(task=task, knobs={**knobs, "trace_every": trace_every}, view=view,
                                   model=model, train=train, seed=seed) for seed in range(p["seeds"])]
    return runs


def treepath(s: dict) -> list[RunConfig]:
    """Tree paths at the paper's model. H100 calibration (2026-11-24; 16 nodes, 6 layers, 1 head,
    d 128, learned positions; answer accuracy of 3 seeds; several sweeps shared the GPU):
        recursive trees, root hidden   lr 3e-3, batch 128, 2000 steps (former full)  0.09 (reference run, 2 seeds)
                                       lr 1e-3, batch 128, 4000 steps               0.91 0.79 0.55
                                       lr 2e-3, batch 256, 3000 steps               0.73 0.28 0.44
                                       lr 1e-3, batch 256, 4000 steps               0.93 0.83 0.99
                                       lr 1e-3, batch 512, 3000 steps (full)        0.96 0.95 1.00
        recursive trees, root given    lr 1e-3, batch 128, 4000 steps               0.04 0.06 0.05
        binary trees, root hidden      lr 1e-3, batch 256, 4000 steps               0.86 0.88 0.53
        binary trees, root given       lr 1e-3, batch 128, 8000 steps               0.85 0.85 0.01
    Every run sits on a loss plateau (loss about 1.0-1.3) first; most leave it between about 800 and
    2500 steps. Giving the root (the paper's format) kept more seeds on it, not fewer.
    Session 10 (H100, batch 512, fp32 residual, stacks sharing the GPU), by seed:
        lr 1e-3, 3000 steps (full), seeds 0-2      0.95 0.99 0.85
        lr 1e-3, 4500 steps, seeds 0-2             0.81 0.98 1.00
        lr 6e-4, 3000 steps, seeds 0-2             0.997 0.991 0.993
        lr 6e-4, 3000 steps, seeds 3-5             0.97 0.79 0.86
        lr 6e-4, 2000 steps, seeds 0-2             0.59 0.94 0.61
    Session 11 (H100, lr 1e-3, batch 512, 3000 steps; the GPU shared by two sweeps), by seed:
        4 heads (head dim 32), seeds 0-5           0.61 0.46 0.50 0.54 0.50 0.52 (loss stalls at 0.17)
        2 heads, seeds 0-3                         0.997 0.845 0.951 0.952
        d 64, 1 head, seeds 0-3                    0.04 0.46 0.68 0.56
        weight decay 0.1, seeds 0-3                0.956 0.958 0.881 0.991
    Session 22 (H100, batch 512, lr 1e-3, seeds 0-5 stacked, alone on the GPU), by seed:
        learned, 3000 steps                        0.948 0.983 0.889 0.818 0.929 0.978
        rope, 3000 steps                           0.965 0.906 0.999 0.870 0.998 0.958
        rope, 2000 steps                           0.828 0.984 0.975 0.895 0.948 0.844
        rope, 1500 steps                           0.779 0.769 0.832 0.808 0.991 0.882
        rope, 2000 steps of 256                    0.748 0.658 0.913 0.797 0.915 0.828
    Reference runs at lr 1e-3, 3000 steps: 0.956 / 0.982 (c2b5567), 0.953 / 0.944, 0.922 / 0.927, 0.881 / 0.950, 0.950 / 0.994
    (bbec9ae), 0.819 / 0.937 (be3052c), 0.957 / 0.957 (82e71e6), 0.900 / 0.951 (ac6cecb), 0.953 / 0.986
    (5c73c44, the fused step; 0.955 / 0.961 and 0.949 / 0.999 in two `bench --family` runs with it, the
    first before its residual kernel);
    0.869 / 0.954 in `bench --family compositional` (session 16, b858d6b's training code). A seed's result moves between runs;
    neither more steps, a lower lr, more heads nor weight decay made every seed reach 0.95.
    Session 14 (H100, lr 1e-3, batch 512, seeds 0-3, four stacks sharing the GPU per command), size
    curricula (knob min_nodes: trees of min_nodes..16 nodes in training, 16 in evaluation; mix_steps:
    the mix for the first steps only):
        1500 steps, no mix                          0.41 0.60 0.48 0.36
        1500 steps, 4-16 nodes                      0.87 0.77 0.51 0.87
        1500 steps, 8-16 nodes                      0.29 0.77 0.86 0.93
        3000 steps, 4-16 nodes                      0.81 0.94 0.94 0.93
        2000 steps, 4-16 nodes for 600 steps        0.97 0.96 0.69 0.82
        2000 steps, 8-16 nodes for 800 steps        0.96 0.94 0.83 0.95
        3000 steps, 4-16 nodes for 600 steps        0.81 0.81 0.97 0.96
        3000 steps, no mix (same command)           0.86 0.94 0.95 0.99
    With 4-16 nodes the training loss (on the mix) is under 0.2 by step 525-675, against step 1425 or
    not within 1500 steps without a mix; the end is no more reliable: not used."""
    p = s["tree"]
    return [RunConfig(task="treepath", knobs=dict(nodes=p["nodes"], min_depth=p["min_depth"]), view="direct",
                      model=ModelConfig(n_layer=p["n_layer"], d_model=p["d"], n_head=p["h"], pos=p["pos"]),
                      train=train_config(s, p), seed=seed) for seed in range(p["seeds"])]


def experiments(preset: str) -> dict[str, list[RunConfig]]:
    s = SIZES[preset]
    return {"depth_width": depth_width(s), "exchange": exchange(s),
            "exchange_latent": exchange(s, currencies=("latent",)), "treepath": treepath(s)}
