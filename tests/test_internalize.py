"""Stepwise internalization (pause:Sx0): stage s drops the first s trace steps with nothing in their
place; a stage with every step dropped is the direct view, token for token; the curriculum trains
through the stages and scores the direct view at the end."""
from __future__ import annotations

import json

import pytest
import torch

from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.curriculum import CurriculumTrainer
from runners.records import run_dir
from tasks import make_task, parse_view
from tasks.base import BOT, EOT, PAUSE
from tasks.rng import Rng

torch.set_num_threads(1)
TASKS = [("connectivity", dict(nodes=12, components=2)), ("prosqa", dict(nodes=8, edges=10, distance=3, trace="frontier")),
         ("reach", dict(nodes=9, distance=3)), ("khop", dict(hops=4, domain=5, holdout=0.0)), ("s5", dict(length=6))]


def _render(name, knobs, view, seed):
    task = make_task(name, **knobs)
    return task, task.render(task.sample(32, Rng(seed), "cpu"), parse_view(view))


@pytest.mark.parametrize("name,knobs", TASKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_step_dropped_is_direct(name, knobs, seed):
    _, direct = _render(name, knobs, "direct", seed)
    _, gone = _render(name, knobs, "pause:99x0", seed)
    for field in ("inputs", "targets", "answer_mask", "latent_mask"):
        torch.testing.assert_close(getattr(gone, field), getattr(direct, field), rtol=0, atol=0)
    assert gone.prompt_len == direct.prompt_len


@pytest.mark.parametrize("name,knobs", TASKS)
def test_stage_s_is_cot_without_its_first_s_steps(name, knobs):
    """Row by row, the stage-s tokens are the CoT tokens with the first s trace steps (and their
    separators) cut out after the prompt's '='; nothing is added (no <bot>, fillers or <eot>)."""
    task, cot = _render(name, knobs, "cot", 3)
    steps = task.encode(task.sample(32, Rng(3), "cpu")).steps  # (n, S, W)
    S, P = steps.shape[1], cot.prompt_len
    sep = task.tok(task.step_sep) if task.step_sep is not None else None
    for s in range(1, S):
        _, staged = _render(name, knobs, f"pause:{s}x0", 3)
        assert staged.prompt_len == P and not staged.latent_mask.any()
        assert not torch.isin(staged.inputs, torch.tensor([BOT, EOT, PAUSE])).any()
        for i in range(32):
            row = cot.inputs[i].tolist()
            dropped = [t for t in steps[i, :s].flatten().tolist() if t != 0]  # PAD is 0
            cut = len(dropped) + (s if sep is not None else 0)  # each dropped step's separator goes too
            strip = lambda r: r[:max(j + 1 for j, t in enumerate(r) if t != 0)]  # noqa: E731 - right pads
            assert strip(staged.inputs[i].tolist()) == strip(row[:P] + row[P + cut:])


def test_bad_x0_views():
    with pytest.raises(ValueError, match="pause:Sx0"):
        parse_view("latent:2x0")
    assert parse_view("pause:2x0").drops and not parse_view("pause:2x1").drops
    with pytest.raises(ValueError, match="stage_target"):
        RunConfig("connectivity", dict(nodes=8), "pause:2x0", train=TrainConfig(latent_curriculum=True, stage_target="next"))


def test_curriculum_ends_on_the_direct_view(tmp_path):
    """pause:2x0 through the curriculum: stage rows logged for stages 0 and 1, the final
    evaluation scores direct-view batches (no trace), and the group's length is the CoT's."""
    tc = TrainConfig(steps=12, batch_size=8, lr=3e-3, eval_size=16, log_every=4, latent_curriculum=True, stage_steps=4)
    runs = [RunConfig("connectivity", dict(nodes=8, components=2), "pause:2x0", ModelConfig(2, 32, 4), tc, seed=s)
            for s in (0, 1)]
    tr = CurriculumTrainer(runs, "cpu")
    task = tr.tasks[0]
    p = task.sample(4, Rng(0), "cpu")
    assert tr.seq_len == task.render(p, parse_view("cot")).inputs.shape[1]
    torch.testing.assert_close(tr.eval_batch(task, p).inputs[:, :task.render(p, parse_view("direct")).inputs.shape[1]],
                               task.render(p, parse_view("direct")).inputs, rtol=0, atol=0)
    tr.train(tmp_path)
    for run in runs:
        rows = [json.loads(line) for line in (run_dir(tmp_path, run.run_id) / "metrics.jsonl").open()]
        assert [(r["step"], r["stage"]) for r in rows if "stage" in r] == [(4, 0), (8, 1)]


def test_min_depth_reads_internalized_rows_only():
    """graphs_depth counts models that answer without CoT: direct or pause:Sx0, never cot or pause:SxC."""
    import pandas as pd

    from paper_figs.fig_graphs_depth import min_depth_table
    from runners.suites.graphs import experiments, internalized
    rows = [dict(task="connectivity", knobs=f"components=2;nodes={n}", view=v, metric="answer_acc", n_layer=d, mean=m)
            for n, v, d, m in [(6, "pause:1x0", 1, 0.5), (6, "pause:1x0", 2, 1.0), (8, "direct", 2, 0.95),
                               (8, "cot", 1, 1.0), (8, "pause:2x1", 1, 1.0), (12, "pause:4x0", 3, 0.5)]]
    assert min_depth_table(pd.DataFrame(rows)) == [(6, 2, 2), (8, 2, 2), (12, None, 3)]
    assert internalized(6) == "pause:1x0" and internalized(12) == "pause:4x0"
    full = experiments("full")["sanford_connectivity"]
    assert {r.view for r in full} == {"pause:1x0", "pause:2x0", "pause:3x0"}
    # n 10's CoT stage gets its own 1500 steps (stage0_steps); the others split their steps evenly
    assert {dict(r.knobs)["nodes"]: r.train.stage0_steps for r in full} == {6: 0, 8: 0, 10: 1500}


def test_stage0_answer_acc_reaches_the_result_csv(tmp_path):
    """A curriculum run's record keeps stage 0's answer accuracy (its stage row's value), and the
    result CSV aggregates it; a run without a curriculum has none."""
    from runners.aggregate import aggregate
    from runners.curriculum import stage0_metrics
    from runners.train import train_group
    assert stage0_metrics([{"step": 4, "stage": 0, "answer_acc": 0.75}, {"step": 8, "stage": 1, "answer_acc": 0.5}]) \
        == {"stage0_answer_acc": 0.75}
    assert stage0_metrics([{"step": 4, "stage": 0, "next_acc": 0.2}]) == {} and stage0_metrics([]) == {}
    tc = TrainConfig(steps=8, batch_size=8, lr=3e-3, eval_size=16, log_every=4, latent_curriculum=True, stage_steps=4)
    runs = [RunConfig("connectivity", dict(nodes=6, components=2), "pause:1x0", ModelConfig(1, 32, 4), tc, seed=s)
            for s in (0, 1)]
    recs = train_group(runs, "cpu", tmp_path)
    for run, rec in zip(runs, recs):
        rows = [json.loads(line) for line in (run_dir(tmp_path, run.run_id) / "metrics.jsonl").open()]
        assert rec["metrics"]["stage0_answer_acc"] == [r for r in rows if r.get("stage") == 0][0]["answer_acc"]
    direct = [RunConfig("connectivity", dict(nodes=6, components=2), "direct", ModelConfig(1, 32, 4),
                        TrainConfig(steps=4, batch_size=8, eval_size=16, log_every=4), seed=0)]
    assert "stage0_answer_acc" not in train_group(direct, "cpu", tmp_path)[0]["metrics"]
    df = aggregate(runs + direct, tmp_path)
    got = df[df["metric"] == "stage0_answer_acc"]
    assert list(got["view"]) == ["pause:1x0"]
    assert got["mean"].iloc[0] == pytest.approx(sum(r["metrics"]["stage0_answer_acc"] for r in recs) / 2)


def _conn_rows(cells):
    """(n, S, depth, metric, mean[, max]) -> result-CSV rows of connectivity through pause:Sx0."""
    return [dict(task="connectivity", knobs=f"components=2;nodes={c[0]}", view=f"pause:{c[1]}x0", metric=c[3],
                 n_layer=c[2], mean=c[4], max=c[5] if len(c) > 5 else c[4], std=0.0) for c in cells]


def test_must_show_counts_only_clean_failures_as_depth_limits():
    """min depth 'grows' only where the failing cell below the new min depth is a clean failure:
    every seed under the threshold, and its curriculum's CoT stage learned."""
    import pandas as pd

    from paper_figs.fig_graphs_depth import unverified
    from runners.suites.graphs import must_show
    base = [(6, 1, 1, "answer_acc", 0.5), (6, 1, 2, "answer_acc", 1.0), (10, 3, 2, "answer_acc", 0.5),
            (10, 3, 3, "answer_acc", 0.6, 0.7)]
    check = lambda cells: [l for l in must_show(pd.DataFrame(_conn_rows(cells)).assign(wall_s=1.0))
                           if "min depth" in l][0]
    assert unverified(pd.DataFrame(_conn_rows(base))) == {10: "the CoT stage at 3 layers is not recorded"}
    assert check(base).startswith("FAIL") and "n=10: the CoT stage at 3 layers is not recorded" in check(base)
    low = base + [(10, 3, 3, "stage0_answer_acc", 0.55), (10, 3, 2, "stage0_answer_acc", 1.0)]
    assert check(low).startswith("FAIL") and "reached only 0.55" in check(low)
    learned = base + [(10, 3, 3, "stage0_answer_acc", 0.97), (10, 3, 2, "stage0_answer_acc", 0.5)]
    assert unverified(pd.DataFrame(_conn_rows(learned))) == {}
    assert check(learned).startswith("PASS") and "not shown" not in check(learned)
    lucky = [c if c[:3] != (10, 3, 3) or c[3] != "answer_acc" else (10, 3, 3, "answer_acc", 0.65, 0.94) for c in learned]
    assert check(lucky).startswith("FAIL") and "a seed reached 0.94 at 3 layers" in check(lucky)
    # a rise to a depth that was reached: the cell just below it must fail cleanly
    found = [(6, 1, 1, "answer_acc", 0.5), (6, 1, 2, "answer_acc", 1.0), (10, 3, 2, "answer_acc", 0.5),
             (10, 3, 3, "answer_acc", 0.95), (10, 3, 2, "stage0_answer_acc", 0.4)]
    assert unverified(pd.DataFrame(_conn_rows(found))) == {10: "the CoT stage at 2 layers reached only 0.40"}
    untried = [(6, 1, 1, "answer_acc", 0.5), (6, 1, 2, "answer_acc", 1.0), (10, 3, 3, "answer_acc", 0.95)]
    assert unverified(pd.DataFrame(_conn_rows(untried))) == {10: "2 layers were not tried"}


def test_graphs_depth_draws_an_unverified_cell(tmp_path):
    import pandas as pd

    from paper_figs.fig_graphs_depth import draw
    df = pd.DataFrame(_conn_rows([(6, 1, 1, "answer_acc", 0.5), (6, 1, 2, "answer_acc", 1.0),
                                  (10, 3, 3, "answer_acc", 0.6), (10, 3, 3, "stage0_answer_acc", 0.5)]))
    df = df.assign(suite_version="v1", device="cpu", git_sha="test")
    [path] = draw(df, tmp_path)
    assert path.exists() and path.stat().st_size > 0
