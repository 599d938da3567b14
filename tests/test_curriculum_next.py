"""The curriculum's stage_target "next" (Zhu et al.'s supervision): before the last stage one
node of the next BFS level is scored, right after the thoughts, and nothing else; the stage
evaluation of stacks whose tasks render a stage at different lengths; run ids of older configs."""
from __future__ import annotations

import json

import networkx as nx
import pytest
import torch

from models.transformer import ModelConfig
from runners.cli import main
from runners.config import RunConfig, TrainConfig
from runners.curriculum import CurriculumTrainer, next_step_picks
from tasks import make_task
from tasks.base import IGNORE
from tasks.rng import Rng

torch.set_num_threads(1)
KNOBS = dict(nodes=8, edges=8, distance=2, trace="frontier")


def _runs(seeds, view="latent:2x1", knobs=(KNOBS,), steps=48, **train):
    tc = TrainConfig(steps=steps, batch_size=8, lr=3e-3, eval_size=16, log_every=4, latent_curriculum=True, **train)
    return [RunConfig("prosqa", k, view, ModelConfig(2, 32, 4), tc, seed=s) for s in seeds for k in knobs]


def _levels(task, problem, i):
    """networkx: {distance: set of node tokens} from row i's root."""
    g = nx.DiGraph([tuple(e) for e in problem.edges[i].tolist() if e[0] >= 0])
    g.add_nodes_from(range(task.k["nodes"]))
    out = {}
    for node, d in nx.single_source_shortest_path_length(g, int(problem.query[i, 0])).items():
        out.setdefault(d, set()).add(node + task.node_offset)
    return out


def test_picks_are_uniform_nodes_of_each_level():
    task = make_task("prosqa", **KNOBS)
    problem = task.sample(64, Rng(3), "cpu")
    draws = torch.stack([next_step_picks(task, problem, Rng(3).fork(k)) for k in range(60)])  # (60, n, S)
    for i in range(64):
        levels = _levels(task, problem, i)
        for s in range(task.steps):
            seen = set(draws[:, i, s].tolist())
            assert seen == levels[s + 1]  # every node at distance s + 1 drawn, nothing else
    torch.testing.assert_close(next_step_picks(task, problem, Rng(5)), next_step_picks(task, problem, Rng(5)))


def test_stream_scores_one_node_right_after_the_thoughts():
    rest = CurriculumTrainer(_runs([0], stage_steps=16), "cpu")
    nxt = CurriculumTrainer(_runs([0], stage_steps=16, stage_target="next"), "cpu")
    for stage in range(3):
        for _ in range(16):
            (xr, yr), (xn, yn) = rest.data.next(), nxt.data.next()
            torch.testing.assert_close(xr, xn, rtol=0, atol=0)  # same inputs, only the targets differ
        if stage == 2:  # the last stage: the run's own view, scored as in Coconut
            torch.testing.assert_close(yr, yn, rtol=0, atol=0)
            continue
        col = nxt.tasks[0].render(nxt.tasks[0].sample(2, Rng(0), "cpu"), nxt.views[stage]).prompt_len - 2
        scored = yn != IGNORE
        assert (scored.sum(-1) == 1).all() and scored[..., col].all()  # the last thought (or <bot>)
        assert ((yr != IGNORE).sum(-1) > 1).all()  # Coconut scores the rest of the sequence


def test_next_rows_and_validation(tmp_path):
    from runners.records import run_dir
    runs = _runs([0], steps=12, stage_steps=4, stage_target="next")
    tr = CurriculumTrainer(runs, "cpu")
    tr.train(tmp_path)
    rows = [json.loads(line) for line in (run_dir(tmp_path, runs[0].run_id) / "metrics.jsonl").open()]
    staged = [r for r in rows if "stage" in r]
    assert [(r["step"], r["stage"]) for r in staged] == [(4, 0), (8, 1)]
    assert all(set(r) == {"step", "stage", "next_acc"} and 0 <= r["next_acc"] <= 1 for r in staged)
    with pytest.raises(ValueError, match=r"stage_target='last' is unknown; valid: \['rest', 'next', 'next_after_cot'\]"):
        TrainConfig(stage_target="last")


def test_next_after_cot_scores_the_cot_stage_whole_then_one_node():
    """next_after_cot: stage 0 (the discrete CoT) scored as "rest", stage 1 as "next", the last
    stage as both; the same inputs throughout."""
    trainers = {t: CurriculumTrainer(_runs([0], stage_steps=16, stage_target=t), "cpu")
                for t in ("rest", "next", "next_after_cot")}
    for stage in range(3):
        for _ in range(16):
            (xr, yr), (xn, yn), (xa, ya) = (trainers[t].data.next() for t in ("rest", "next", "next_after_cot"))
            torch.testing.assert_close(xa, xr, rtol=0, atol=0)
            torch.testing.assert_close(xa, xn, rtol=0, atol=0)
            torch.testing.assert_close(ya, yr if stage != 1 else yn, rtol=0, atol=0)
            if stage == 1:
                assert ((ya != IGNORE).sum(-1) == 1).all()
            if stage == 0:
                assert ((ya != IGNORE).sum(-1) > 1).all()


def test_next_after_cot_stage_rows(tmp_path):
    """Stage 0's row is the CoT's own evaluation (answer_acc, so stage0_answer_acc is kept); the
    later rows are next_acc."""
    runs = _runs([0], steps=12, stage_steps=4, stage_target="next_after_cot")
    tr = CurriculumTrainer(runs, "cpu")
    tr.train(tmp_path)
    assert "answer_acc" in tr.stage_log[0][0] and set(tr.stage_log[0][1]) == {"step", "stage", "next_acc"}
    assert 0 <= tr.final_metrics()[0]["stage0_answer_acc"] <= 1
    with pytest.raises(ValueError, match="next_after_cot"):
        RunConfig("connectivity", dict(nodes=8), "pause:2x0",
                  train=TrainConfig(latent_curriculum=True, stage_target="next_after_cot"))


def test_run_ids_of_configs_without_stage_target_stay():
    base = _runs([0])[0]
    assert "stage_target" not in base.to_dict()["train"]
    assert _runs([0], stage_target="rest")[0].run_id == base.run_id
    nxt = _runs([0], stage_target="next")[0]
    assert nxt.run_id != base.run_id and nxt.to_dict()["train"]["stage_target"] == "next"
    assert RunConfig.from_dict(nxt.to_dict()) == nxt
    after = _runs([0], stage_target="next_after_cot")[0]
    assert after.run_id not in (base.run_id, nxt.run_id) and RunConfig.from_dict(after.to_dict()) == after


@pytest.mark.parametrize("target", ["rest", "next"])
def test_stage_eval_of_a_stack_rendering_stages_at_two_lengths(target):
    """A frontier and a path trace stack in one group (their last stage, all steps latent, has one
    length) but render earlier stages at different lengths; the stage evaluation pads them."""
    runs = _runs([0], knobs=(KNOBS, {**KNOBS, "trace": "path"}), steps=12, stage_steps=4, stage_target=target)
    assert len({r.group_key() for r in runs}) == 1
    tr = CurriculumTrainer(runs, "cpu")
    tr.train()
    assert [[r["stage"] for r in log] for log in tr.stage_log] == [[0, 1], [0, 1]]


def test_cli_stage_target_flag(tmp_path, capsys):
    small = ["--n-layer", "1", "--d-model", "16", "--n-head", "2", "--steps", "4", "--batch-size", "4",
             "--eval-size", "8", "--device", "cpu", "--root", str(tmp_path)]
    assert main(["run", "prosqa", "--nodes", "8", "--edges", "8", "--distance", "2", "--view", "latent:2x1",
                 "--latent-curriculum", "--stage-steps", "1", "--stage-target", "next", *small]) == 0
    run_id = json.loads(capsys.readouterr().out.splitlines()[0])["run_id"]
    assert json.loads((tmp_path / run_id / "config.json").read_text())["train"]["stage_target"] == "next"
