"""Graph search in SUITE_V1.

zhu_graphs            (Zhu et al. 2025; Hao et al. 2024) 2-layer models on the ProsQA-style task
                      (path trace: the discrete CoT is the path root -> target, one node per step),
                      four ways: no CoT (direct), discrete CoT, continuous thought latent:Dx1 and
                      pause tokens pause:Dx1 (the equal-compute control), the last two through the
                      Coconut curriculum (stages 0..D, optimizer reset per stage): stage 0 the frontier
                      CoT, then Zhu et al.'s next-node targets (stage_target next_after_cot), with
                      their own steps in `full` (SIZES[...]["zhu"]).
                      Figure graphs_methods: answer accuracy by method, with the seed spread.
sanford_connectivity  (Sanford et al. 2024) undirected connectivity (one cycle vs two), no CoT at
                      test, depths x nodes (depths per n), each model trained through stepwise
                      internalization (view pause:Sx0: CoT first, one trace step dropped per
                      curriculum stage, the last stage the direct view); figure graphs_depth reads off the smallest depth whose
                      mean answer_acc reaches 0.9 (paper_figs/fig_graphs_depth.THRESHOLD) against n,
                      with the log2(n) line. A grid rather than `depthbench min-depth`'s search, so
                      the figure reads every accuracy from the result CSV.

Budget (full preset, one H100, the lead's calibration): this family's part must take at most
2.5 minutes; `python -m runners.suites.graphs results/bench-full.csv` prints the must-show checks.
"""
from __future__ import annotations

import sys

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig

# zhu_graphs' curriculum for continuous thought and pause tokens (keys of SIZES[...]["zhu"], read by
# zhu_train): Zhu et al.'s next-node targets after a frontier-CoT stage 0 (session 20), with stage_mix
NEXT_AFTER_COT = dict(target="next_after_cot", trace="frontier", mix=0.3)
SIZES = {
    # prosqa: knobs of the Zhu task (direct and discrete CoT: the path trace); zhu: the curriculum of
    # continuous thought and pause tokens (zhu_train): its steps in all (default: the preset's `steps`),
    # stage 0's (stage0), each later stage's but the last (stage_steps), and target, trace, mix
    # (default: rest, path, 0)
    "smoke": dict(d=32, h=2, steps=60, batch=32, seeds=2, lr=3e-3, eval_size=128,
                  prosqa=dict(nodes=8, edges=10, distance=2),
                  zhu=dict(stage0=20, stage_steps=10, **NEXT_AFTER_COT),
                  conn={8: dict(steps=60, depths=[1, 2]), 12: dict(steps=60, depths=[1, 2])}),
    # full: sized to the H100 reference timings (0.045-0.055 ms per layer x token per step for a
    # stack of 3 at d 128): zhu ~47 s of steps (latent ~2x a token step), sanford ~45 s, plus ~3-4 s
    # per group (13 groups) of set-up, graph capture and evaluation: ~140 s. The former size
    # (nodes 20/30 edges/distance 4, connectivity 8/16/32 x depths 1-4) was ~330 s and was stopped.
    # Measured in the reference run (one H100, 2026-11-23): 87 s of training, every method at chance.
    # pos: rotary (H100 calibration 2026-11-24, rope vs the reference's learned positions, 2
    # seeds: ProsQA discrete CoT 0.85 at lr 1e-3 (0.52 at 3e-3; learned: chance); direct,
    # continuous thought and connectivity (n 6/12, depths 1-3) stayed at chance either way).
    # H100 calibration 2026-11-24 (session 6; 3 seeds, rope, lr 1e-3, batch 256, 5000 steps, the GPU
    # shared by 5 sweeps): discrete CoT 0.92 / 0.96 / 0.96; continuous thought with 1000 steps per
    # stage (the last 2000) 0.50 / 0.49 / 0.49, the same chance as at 300 steps per stage.
    # H100 calibration 2026-11-24 (session 7; 3 seeds each, accuracy per curriculum stage from
    # metrics.jsonl): continuous thought ended at 0.46-0.55 in every setting, its accuracy at the
    # stage ends ranged 0.37-0.66 with no rise, and the final loss sat at ln 2 / 3 (a coin flip
    # between the two candidates): latent:1x1 after a CoT stage 0 of 2000 steps (0.80 and 0.84 on
    # two seeds, 0.50 on the third) ended at 0.45-0.56 after 1000 steps of stage 1;
    # latent:3x1 with 1000 or 1500 steps per stage, learned positions, lr 3e-4 without optimizer
    # reset and stage_mix 0.1, the frontier trace (whose CoT itself reached 0.56-0.85 at 2000
    # steps), thought inputs scaled by 0.1, and thoughts not followed by <eot> (so that each
    # thought's input is the hidden state the previous stage supervised, as in Zhu et al.'s code)
    # all ended at 0.46-0.55. Pause tokens likewise. Zhu et al.'s released config trains 2 layers at
    # d 768 for 300 epochs of a fixed training set (25 epochs per stage, batch 2 x 128, lr 1e-4),
    # supervising at stage k one random node at distance k + 1 and nothing after it: a budget far
    # beyond this preset's 2000 steps.
    # H100 calibration 2026-11-24 (session 8; 3 seeds each): that supervision, train.stage_target
    # "next" with the frontier trace, optimizer reset, latent:3x1 unless said: 300 steps per stage
    # (2000 in all) 0.45-0.50 at lr 3e-3 and 0.48-0.50 at d 256; 500 per stage (3000) 0.50-0.52,
    # and without reset but with stage_mix 0.1 0.51-0.53; 800 per stage (4000) 0.49-0.52; 1500 per
    # stage (8000) 0.50-0.51; pause:3x1 0.48-0.52. Stage 0's next_acc (a node one hop from the root,
    # predicted at <bot>) stayed at 0.13-0.23 at every length. At distance 2 (nodes 8, edges 10,
    # latent:2x1, 1200 steps per stage, 5000 in all) stage 0 reached 0.88-0.92 but stage 1 (a node
    # two hops away, predicted at the first thought) 0.47-0.48, and the answer 0.48-0.50; discrete
    # CoT there 0.74-0.81 (2000 steps), no CoT 0.48-0.51, Coconut's supervision 0.47-0.50. Coconut's
    # supervision at distance 3 with 1500 steps per stage (8000 in all): 0.49-0.51. Tied input and
    # output embeddings (GPT-2's, which Zhu et al. train; a temporary ModelConfig field, removed), so
    # that a thought predicting a node lies near that node's input embedding: distance 2 with the next
    # supervision stage 0 0.89-0.93, stage 1 0.46-0.49, answer 0.48-0.50; distance 3 0.50-0.51 with it
    # (4000 steps) and 0.49-0.51 with Coconut's (2000); discrete CoT 0.49 / 0.81 / 0.83 tied.
    # H100 calibration 2026-11-25 (session 19; Zhu et al.'s supervision, stage_target "next", frontier
    # trace, latent:Dx1, 2 layers, 8 heads, learned positions, optimizer reset per stage, batch 256;
    # answer accuracy by seed; several sweeps sharing the GPU). Continuous thought leaves chance at
    # distance 2 (nodes 8, edges 10), for the first time in any setting here:
    #   d 768, lr 1e-4, 2000 steps per stage (6000)   0.74 0.75
    #   d 768, lr 3e-4, 2000 steps per stage (6000)   0.74 0.78
    #   d 768, lr 3e-4, 4000 steps per stage (12000)  0.72 0.76
    #   d 768, lr 3e-4, 1000 steps per stage (3000)   0.48 0.49
    #   d 512, lr 3e-4, 1000 / 3000 steps per stage   0.51 0.76 / 0.52 0.76 0.79
    #   d 256, lr 3e-4, 1000 / 3000 steps per stage   0.49 0.75 / 0.58 0.75 0.76
    # Stage 1's next_acc (a node two hops away, read at the first thought) ended at 0.70-0.77 in every
    # run with stage rows that reached 0.7, at 0.45-0.52 in four runs that stayed at chance, and at 0.72
    # and 0.74 in the runs that ended at 0.58 and 0.52. The same size, path trace: discrete CoT 0.75 0.76 (d 768,
    # 3000 steps) and 0.77 0.77 0.78 (d 256, 9000 steps); no CoT 0.48 0.48 and 0.48 0.49 0.51. So at
    # distance 2 continuous thought matches discrete CoT, it does not pass it, and neither reaches 0.9;
    # longer stages did not move it past 0.79. At the suite's size (nodes 12, edges 16, distance 3) d 768
    # with 1500 steps per stage (6000) stayed at chance, 0.45 and 0.49. Every generated problem has
    # exactly one reachable candidate (networkx, 4000 problems at distance 2).
    # H100 calibration 2026-11-25 (session 20; sweeps sharing the GPU; answer accuracy by seed, on 2000
    # fresh problems for the d 768 runs, the sweeps' own 1024 for d 256 / 128 and stage 0 alone; specs
    # were local calib files, settings below). Learned positions explain the 0.75: path CoT at 8/10/2 (d
    # 768, lr 3e-4, 3000 steps) learned 0.74 0.76, rope 0.99 0.97; the seed-1 learned model wrote a
    # first node on the answer's path, then the other candidate in 420 of 2000 problems, evenly over
    # root branching, prompt length (9 or 10 edges), edge order and answer position. stage_target
    # "next_after_cot" (stage 0 the whole frontier CoT, then one node per stage), rope, stage_mix 0.3,
    # reset, latent:2x1, d 768, lr 3e-4, stages 3000 / 2000 / 2000: continuous thought 1.00 1.00 at
    # 8/10/2 and 1.00 1.00 at 10/12/2 (through a monkeypatch before the commit; "next" with stage_mix
    # 0.3 but no CoT stage: 0.76 0.75 and 0.50 0.51). At 10/12/2 path CoT 0.81 (d 768, rope; 0.99 with
    # one root child, 0.73-0.76 with more) and 0.94 (d 128, lr 1e-3, 2000 steps, seeds 0.82-1.00;
    # learned positions at d 768: 0.52); no CoT 0.47-0.53. next_after_cot at d 256, lr 1e-3, stages 2000
    # / 1000 / 1000: 1.00 1.00 0.67 (read off the CSV's mean, min, max; stage 0 ended at 1.00 0.88 0.64
    # and stage 1 at 1.00 1.00 0.63); d 128 (4000 or 6000 steps): continuous 0.49-0.67 and pause
    # 0.48-0.62, stage 0 never learned (0.54-0.63). 12/16/3, d 256, lr 1e-3, stages 3000 / 1500 x 3
    # (latent:3x1): 1.00 0.79 (one seed's stages at 1.00 throughout, the other's at 0.66 0.77 0.74);
    # path CoT 3000 steps 0.84 0.91. Stage 0 alone (frontier CoT, 12/16/3, 3000 steps): d 256 lr 5e-4
    # 0.996 0.942 0.996, 1e-3 0.515 0.999 1.000, 2e-3 0.624 1.000 1.000; d 128 lr 1e-3 0.988 0.851 0.628
    # (3000) and 0.994 1.000 0.989 (6000). Next: move zhu_graphs to next_after_cot with a stage 0 long
    # enough to be learned on every seed, within the family's 150 s, and regenerate the reference
    # leaderboard in one run.
    # H100 calibration 2026-11-25 (session 21; README "Graphs and continuous thought" has the table):
    # next_after_cot in zhu_graphs, `bench --family graphs` alone on the GPU: d 128, lr 1e-3, stage 0
    # 6000 then 500 per stage: continuous 1.000 0.546 0.510, family 179 s; d 256, lr 5e-4, stage 0 3000
    # then 1000 per stage: 1.000 0.640 0.515, family 224 s (stage 1 next_acc 0.54-0.62). d 256, lr 7e-4,
    # stage 0 2500 then 1500 per stage, seeds 3-8: 0.489 1.000 1.000 0.822 1.000 1.000 (153 s for the
    # stack). Path CoT with 7500 steps (d 128): 0.967 0.900 0.877. Profile (d 256, 3 seeds): 8.9 ms per
    # stage-0 step, 11.6-15.2 per thought stage, pause 8.8-9.7. Such a recipe puts the family near 250 s,
    # so `full` keeps the reference recipe; smoke and paper use next_after_cot (NEXT_AFTER_COT).
    # H100 calibration 2026-11-24 (session 11; connectivity, rope, d 128, 4 heads, batch 256, 10000
    # steps, 2 seeds each): nodes 6 (two triangles: same component iff the edge is listed) at 2 and
    # 3 layers, lr 1e-3 and 3e-4; nodes 8 at 2 and 3 layers; nodes 12 at 3 layers, lr 1e-3: every
    # run 0.49-0.52, loss within 0.04 of ln 2 / 2 from step 2500 on. Labels re-derived from the tokens by
    # networkx agree on 2000 of 2000 6-node examples (a one-off check). The same with stepwise internalization (pause:99x0 through
    # the curriculum, stages split evenly, 3 seeds): some seeds leave chance (3 layers at 8 nodes, 3000
    # steps: 1.00 / 1.00 / 0.87; no 1-layer model did), most do not; the table is in the README
    # ("Graphs and continuous thought"). Not in `full` yet.
    # connectivity: stepwise internalization (pause:Sx0 through the curriculum, stages split evenly,
    # stage_mix conn_mix, optimizer reset per stage) since session 11: trained directly it sat at chance
    # at every size and depth (above). H100 calibration 2026-11-24 (session 11; 3000 steps, 3 seeds,
    # direct answer accuracy by seed; n 6 / 8 / 12): stage_mix 0.3 with reset: 1 layer 0.49-0.50 /
    # 0.50 / 0.45-0.50; 2 layers 1.00 1.00 1.00 / 1.00 1.00 1.00 / 0.48-0.51; 3 layers
    # 1.00 1.00 1.00 / 0.95 0.80 1.00 / 0.49-0.52. Reference run at be3052c: 1 layer 0.50 / 0.49 /
    # 0.49, 2 layers 1.00 / 0.91 / 0.50, 3 layers 1.00 / 1.00 / 0.50 (168 s for the family). Without reset: 2 layers at 8 nodes 0.83-0.86. Without
    # stage_mix (README table) the direct stage collapsed to chance on most seeds. At 12 nodes even
    # stage 0 (the CoT, 600 steps of 5 stages) stayed at chance: the 12-node cells measure that
    # budget, not a depth.
    # H100 calibration 2026-11-24 (session 12; 3 seeds; the connectivity recipe on ProsQA): latent:3x1 and
    # pause:3x1 with stage_mix 0.3, reset per stage and a 2000-step CoT stage 0 (stage0_steps) of 4500
    # steps: continuous thought 0.50 / 0.48 / 0.51 (stage 0 0.44 / 0.83 / 0.58), pause 0.49 / 0.48 / 0.49
    # (stage 0 0.83 / 0.65 / 0.86): stage 1 fell to 0.41-0.53 on every seed, as without the recipe.
    # Reference run at 82e71e6: discrete CoT 0.85, the other three 0.49-0.51 (graphs 137 s); at ac6cecb
    # (the same configuration): discrete CoT 0.86, the other three 0.49-0.50 (137 s).
    # conn: per n, the steps, stage0_steps (the CoT stage's own length; 0: an even share) and depths.
    # H100 calibration 2026-11-24 (session 12; stage_mix 0.3, reset, 3 seeds, the GPU shared by three
    # sweeps; direct answer accuracy by seed, with stage 0's CoT answer accuracy where it matters):
    # n 6, 1500 steps: 1 layer 0.51 0.49 0.48, 2 and 3 layers 1.00 x3 (as at 3000). n 8, 2000 steps,
    # stage0 800: 2 layers 0.96 0.83 0.98, 3 layers 0.50 0.82 1.00 (worse than 3000). n 10, 3000 steps,
    # stages even (750): every depth at chance, stage 0 too; stage0 1500: 1 layer chance; 2 layers
    # 0.94 / 0.52 / 0.51 (stage 0 1.00 / 0.50 / 0.55); 3 layers 0.49 / 0.93 / 0.91 (stage 0 1.00 / 1.00 / 0.99;
    # the first collapsed when the second step was dropped). n 12, stage0 1500 of 3000 or 4000: stage 0 at
    # chance at 2-4 layers (direct 0.69-0.77 at 4 layers, 4000 steps); stage0 3500 of 5000 (3 layers):
    # stage 0 1.00 x3, then 0.78-0.96 after one step dropped, direct 0.70 / 0.50 / 0.52. n 16 (3-4 layers,
    # 5000 steps, stage0 2000): chance throughout. So the CoT's own learning time grows with n (under 750
    # steps at n 6, about 1000 at 8, about 1500 at 10, 1500-3500 at 12), and every seed that learned it at
    # n 10 reached 0.91-0.94 without CoT at 2 or 3 layers, except one that collapsed. `full` trades n 12
    # (every cell at chance, CoT included, in the be3052c reference run) for n 10 with a 1500-step stage 0,
    # and gives n 6 1500 steps, so the family fits its 150 s; 1 layer is left out at n 10 (no 1-layer run
    # learned even the CoT at any n).
    # H100 session 22 (README "Graphs and continuous thought"): the rotary kernel took the family from 110
    # to 83 s (c298cd5, configuration unchanged). next_after_cot at d 128, lr 1e-3, stage 0 6000 then 1500
    # per stage (10500): seeds 0-5 stacked 1.000 0.660 1.000 1.000 1.000 1.000 (106 s), seeds 0-2 1.000
    # 0.994 0.993 (57 s); stage 0 5000 then 1000 per stage: 0.73 0.65 0.71 0.69 1.00 1.00. zhu uses the
    # first since c2b5567: reference 1.000 x3 (family 140 s); a family-alone run 0.999 1.000 0.521 (146 s).
    # H100 session 23 (README): the same recipe on seeds 6-11 lost 3 of 6 (stage 0 not learned); stage_mix
    # 0.5, 2500 steps per later stage, batch 512 and distance 2 lost 1-5 of 6 each. Kept: nothing tried won.
    # H100 session 24 (README "Graphs and continuous thought"; one command each, sweeps sharing the GPU).
    # Stage 0 alone (frontier CoT, 6000 steps, seeds 8 10 11 12 14-17), seeds ending >= 0.99 of 8: as
    # `full` 2, weight decay 0.1 3, init_std 0.05 7, init_std 0.1 2, 9000 steps 7, d 192 (6 heads) 8,
    # batch 512 7; the stuck seeds sat at loss 0.55-0.65. At init_std
    # 0.05 the whole recipe (seeds 0-11): stage 0 6000 then 1500 per stage 9 of 12 ended at 1.00 (stage 0
    # not learned on one seed, two fell at stage 2); stage 0 8000: 10 of 12 (stage 0 learned on all 12,
    # two fell at stage 2). Path CoT (2000 steps) 0.87 (0.43-0.95, 12 seeds), no CoT 0.48-0.53.
    # Connectivity at init_std 0.05 (3 seeds): n 8 2 layers 0.85 1.00 1.00, 3 layers 0.98 1.00 1.00;
    # n 10 2 layers 0.49-0.51 (CoT stage learned on one seed), 3 layers 0.50 0.54 0.64 with the CoT
    # stage learned on all three. `full` uses init_std 0.05 for the whole family since session 24, and
    # stage 0 8000; pause tokens start from the continuous-thought runs' stage 0 (runners/stage0.py).
    # Reference run at 41c7a33 (make bench): continuous thought 0.744 (stage 0 0.999; two seeds fell at a
    # later stage), pause 0.55 (24.0 s against 37.1 s), path CoT 0.71 (one seed 0.50), graphs 136 s.
    "full": dict(d=128, h=4, pos="rope", init_std=0.05, steps=2000, batch=256, seeds=3, lr=1e-3, eval_size=1024,
                 prosqa=dict(nodes=12, edges=16, distance=3),
                 zhu=dict(steps=12500, stage0=8000, stage_steps=1500, **NEXT_AFTER_COT),
                 conn={6: dict(steps=1500, depths=[1, 2, 3]), 8: dict(steps=3000, depths=[1, 2, 3]),
                       10: dict(steps=3000, stage0=1500, depths=[2, 3])}),
    "paper": dict(d=768, h=8, steps=20000, batch=256, seeds=3, lr=3e-4, eval_size=2048,
                  prosqa=dict(nodes=24, edges=36, distance=4),
                  zhu=dict(stage0=10000, stage_steps=2500, **NEXT_AFTER_COT),
                  conn={n: dict(steps=20000, depths=[1, 2, 3, 4, 5, 6]) for n in (8, 16, 32, 64)}),
}
ZHU_LAYERS = 2
CONN_MIX = 0.3  # sanford_connectivity: chance of an earlier-stage row (see the full preset's comment)


def internalized(nodes: int) -> str:
    """The view that trains connectivity without CoT through stepwise internalization: pause:Sx0,
    S the task's trace steps, so the curriculum's last stage is the direct view."""
    from tasks import make_task
    return f"pause:{make_task('connectivity', nodes=nodes, components=2).trace_shape()[0]}x0"


def conn_train(s: dict, c: dict) -> TrainConfig:
    """The training of one connectivity size: stepwise internalization (CONN_MIX, optimizer reset)."""
    return TrainConfig(steps=c["steps"], batch_size=s["batch"], lr=s["lr"], eval_size=s["eval_size"],
                       log_every=max(1, c["steps"] // 10), latent_curriculum=True, stage0_steps=c.get("stage0", 0),
                       stage_mix=CONN_MIX, reset_optimizer=True)


def zhu_views(distance: int) -> list[str]:
    return ["direct", "cot", f"latent:{distance}x1", f"pause:{distance}x1"]


def zhu_train(s: dict) -> TrainConfig:
    """Continuous thought and pause tokens: the Coconut curriculum with an optimizer reset per stage;
    `steps` in all (default: the preset's, as direct and discrete CoT), stage 0 (the discrete CoT)
    `stage0` steps (0: as the others), each later stage but the last `stage_steps`, stage_target
    `target`, stage_mix `mix` (SIZES[preset]["zhu"])."""
    z = s["zhu"]
    steps = z.get("steps", s["steps"])
    return TrainConfig(steps=steps, batch_size=s["batch"], lr=s["lr"], eval_size=s["eval_size"],
                       log_every=max(1, steps // 10), latent_curriculum=True, stage0_steps=z.get("stage0", 0),
                       stage_steps=z["stage_steps"], stage_mix=z.get("mix", 0.0), reset_optimizer=True,
                       stage_target=z.get("target", "rest"))


def experiments(preset: str) -> dict[str, list[RunConfig]]:
    s = SIZES[preset]
    plain = TrainConfig(steps=s["steps"], batch_size=s["batch"], lr=s["lr"], eval_size=s["eval_size"],
                        log_every=max(1, s["steps"] // 10))
    seeds = range(s["seeds"])
    pos = s.get("pos", "learned")
    init = s.get("init_std", 0.02)  # every model of the family, the four methods alike

    def zhu_run(view: str, seed: int) -> RunConfig:
        staged = view.split(":")[0] in ("latent", "pause")  # the curriculum's trace: its stage 0 and targets
        knobs = {**s["prosqa"], "trace": s["zhu"].get("trace", "path") if staged else "path"}
        return RunConfig("prosqa", knobs, view, ModelConfig(n_layer=ZHU_LAYERS, d_model=s["d"], n_head=s["h"], pos=pos,
                                                           init_std=init),
                         zhu_train(s) if staged else plain, seed=seed)

    zhu = [zhu_run(view, seed) for view in zhu_views(s["prosqa"]["distance"]) for seed in seeds]
    sanford = [RunConfig("connectivity", {"nodes": n, "components": 2}, internalized(n),
                         ModelConfig(n_layer=depth, d_model=s["d"], n_head=s["h"], pos=pos, init_std=init),
                         conn_train(s, c),
                         seed=seed)
               for n, c in s["conn"].items() for depth in c["depths"] for seed in seeds]
    return {"zhu_graphs": zhu, "sanford_connectivity": sanford}


def must_show(df) -> list[str]:
    """The issue's must-show, checked on a result CSV (DataFrame): lines 'PASS ...' / 'FAIL ...'."""
    from paper_figs.fig_graphs_depth import min_depth_table, unverified
    from paper_figs.fig_graphs_methods import method_rows
    lines = []
    acc = method_rows(df)
    if not acc.empty:
        by = {r.method: r for r in acc.itertuples()}
        lat = by.get("continuous thought")
        lines.append("  " + "; ".join(f"{m}: {r.mean:.3f} (min {r.min:.3f}, max {r.max:.3f})" for m, r in by.items()))
        if lat is not None:
            lines.append(f"{'PASS' if lat.mean >= 0.9 else 'FAIL'} continuous thought >= 0.90: {lat.mean:.3f}")
            for m in ("discrete CoT", "no CoT"):
                if m in by:
                    gap = lat.mean - by[m].mean
                    lines.append(f"{'PASS' if gap >= 0.1 else 'FAIL'} {m} clearly below (>= 0.10): gap {gap:.3f}")
    table = min_depth_table(df)
    if table:
        need = [d for _, d, _ in table]
        shown = ", ".join(f"n={n}: {d if d is not None else f'>{top}'}" for n, d, top in table)
        keyed = [d if d is not None else top + 1 for _, d, top in table]
        unsure = unverified(df)  # a rise that rests on a cell showing no depth limit
        grows = all(a <= b for a, b in zip(keyed, keyed[1:])) and keyed[-1] > keyed[0] and not unsure
        why = "; ".join(f"n={n}: {reason}" for n, reason in unsure.items())
        lines.append(f"{'PASS' if grows else 'FAIL'} min depth for connectivity grows with n: {shown}"
                     + ("" if all(d is not None for d in need) else " (>k: no depth tried reached it)")
                     + (f" (not shown by the cells: {why})" if unsure else ""))
    graphs = df[df["task"].isin(["prosqa", "connectivity"]) & (df["metric"] == "answer_acc")]
    if not graphs.empty:
        wall = graphs["wall_s"].sum()
        lines.append(f"{'PASS' if wall <= 150 else 'FAIL'} training time of the family <= 150 s: {wall:.0f} s "
                     "(sum of wall_s; the bench's total also counts start-up)")
    return lines


if __name__ == "__main__":
    from runners.results_csv import read_results
    print("\n".join(must_show(read_results(sys.argv[1] if len(sys.argv) > 1 else "results/bench-full.csv"))))
