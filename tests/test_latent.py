"""Continuous thought: no thought is the token path; KV-cached passes equal a full recompute
(losses, gradients, decoding); stacked equals solo through the curriculum; the curriculum's
stages, mixing and optimizer reset; pause decoding; checkpoints and `depthbench eval`."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from models.latent import latent_generate, latent_hidden, latent_span, n_passes
from models.transformer import ModelConfig, StackedTransformer
from runners.cli import main
from runners.config import RunConfig, TrainConfig
from runners.curriculum import CurriculumTrainer, stage_at, stage_starts
from runners.objective import TokenObjective, make_objective
from runners.train import train_group
from tasks import make_task, parse_view
from tasks.base import EOT, LAT, PAUSE
from tasks.graphs import prosqa_records
from tasks.rng import Rng

torch.set_num_threads(1)  # tiny models: threads only contend on a shared CPU
KNOBS = dict(nodes=8, edges=8, distance=2, trace="frontier")  # 2 steps of 3 tokens + ';'


def _task(**kw):
    return make_task("prosqa", **{**KNOBS, **kw})


def _stack(task, views, n=6, seed=0, T=None):
    """(m, B, T) inputs and targets, model j rendered in views[j], right-padded to one length."""
    p = task.sample(n, Rng(seed), "cpu")
    bs = [task.render(p, parse_view(v)) for v in views]
    T = T or max(b.inputs.shape[1] for b in bs)
    pad = lambda t, v: torch.nn.functional.pad(t, (0, T - t.shape[1]), value=v)  # noqa: E731
    return torch.stack([pad(b.inputs, 0) for b in bs]), torch.stack([pad(b.targets, -100) for b in bs]), bs


def _model(task, m, T, **cfg):
    torch.manual_seed(0)
    model = StackedTransformer(ModelConfig(**{"n_layer": 2, "d_model": 32, "n_head": 4, **cfg}), m, task.vocab_size, T)
    model.init_weights(list(range(m)))
    return model


@pytest.mark.parametrize("view", ["direct", "cot", "latent:0x1", "latent:0x3", "pause:2x2"])
def test_no_thought_is_the_token_path(view):
    task = _task()
    x, y, bs = _stack(task, [view, view])
    model = _model(task, 2, x.shape[2])
    latent = make_objective(task, parse_view("latent:2x1"), model, "cpu")
    token = TokenObjective(model, parse_view(view), "cpu")
    assert torch.equal(latent.loss(x, y), token.loss(x, y))
    if view.startswith("latent"):
        a, b = latent.evaluate(bs), token.evaluate(bs)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def recompute(model, x):
    """Reference without a cache: each thought recomputes the whole prefix, then one full pass."""
    latent, emb = x == LAT, model.embed_tokens(x)
    for t in latent.flatten(0, 1).any(0).nonzero()[:, 0].tolist():
        prev = model.trunk(emb[:, :, :t])[:, :, -1:]
        here = torch.where(latent[:, :, t, None, None], prev, emb[:, :, t:t + 1])
        emb = torch.cat([emb[:, :, :t], here, emb[:, :, t + 1:]], dim=2)
    return model.trunk(emb)


@pytest.mark.parametrize("cfg", [{}, {"pos": "rope", "n_loops": 2, "input_injection": True},
                                  {"pos": "sinusoidal", "norm": "post", "n_layer": 1}])
def test_cached_passes_equal_recompute(cfg):
    task = _task()
    # model 0 at the final stage with 2 thoughts per step, model 1 at stage 1: different spans
    T = max(_stack(task, [v])[0].shape[2] for v in ("latent:2x2", "latent:1x1"))
    x, y, _ = _stack(task, ["latent:2x2", "latent:1x1"], T=T)
    x[1, ::2] = _stack(task, ["latent:2x2"], T=T)[0][0, ::2]  # and rows of mixed stages
    model = _model(task, 2, x.shape[2], **cfg)
    assert n_passes(x == LAT) == 1 + 4 + 1
    fast, slow = latent_hidden(model, x), recompute(model, x)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)
    g_fast = torch.autograd.grad(model.logits(fast).square().mean(), list(model.parameters()))
    g_slow = torch.autograd.grad(model.logits(slow).square().mean(), list(model.parameters()))
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    with torch.no_grad():  # the in-place KVCache used for decoding gives the same states
        cached = latent_hidden(model, x, model.new_cache(x.shape[1], x.shape[2]))
    torch.testing.assert_close(cached, slow.detach(), rtol=0, atol=1e-5)


def test_decoding_equals_recompute():
    task = _task()
    x, _, bs = _stack(task, ["latent:2x2", "latent:2x2"])
    model = _model(task, 2, x.shape[2])
    P = bs[0].prompt_len
    new = x.shape[2] + 1 - P  # as the objective decodes
    assert (x[:, :, P - 1] == EOT).all() and (x[:, :, P - 5:P - 1] == LAT).all()
    gen = latent_generate(model, x[:, :, :P], new, torch.float32)
    seq = x[:, :, :P]
    with torch.no_grad():
        for _ in range(new):
            seq = torch.cat([seq, model.logits(recompute(model, seq))[:, :, -1:].argmax(-1)], dim=2)
    assert torch.equal(gen, seq[:, :, P:])


def _runs(seeds, view="latent:2x1", steps=12, **train):
    tc = TrainConfig(steps=steps, batch_size=8, lr=3e-3, eval_size=16, log_every=4, latent_curriculum=True,
                     **train)
    return [RunConfig("prosqa", KNOBS, view, ModelConfig(2, 32, 4), tc, seed=s) for s in seeds]


@pytest.mark.parametrize("view", ["latent:2x1", "pause:2x2"])
def test_stacked_equals_solo(view):
    stack = CurriculumTrainer(_runs([0, 1], view, stage_mix=0.3, reset_optimizer=True), "cpu")
    stack.train()
    solo = CurriculumTrainer(_runs([1], view, stage_mix=0.3, reset_optimizer=True), "cpu")
    solo.train()
    torch.testing.assert_close(stack.opt.flat[1:2], solo.opt.flat, rtol=0, atol=1e-5)
    a, b = stack.evaluate(), solo.evaluate()
    assert a[1]["answer_acc"] == b[0]["answer_acc"] and abs(a[1]["eval_loss"] - b[0]["eval_loss"]) < 1e-4


def test_stage_rows_logged_and_leave_training_alone(tmp_path, monkeypatch):
    """Each stage before the last ends with a row in metrics.jsonl (accuracy on that stage's view);
    the evaluation draws no training data and changes no weight."""
    from runners.records import run_dir
    runs = _runs([0, 1], "latent:2x1", steps=12, stage_steps=4, reset_optimizer=True)
    logged = CurriculumTrainer(runs, "cpu")
    logged.train(tmp_path)
    for j, run in enumerate(runs):
        rows = [json.loads(line) for line in (run_dir(tmp_path, run.run_id) / "metrics.jsonl").open()]
        staged = [r for r in rows if "stage" in r]
        assert [(r["step"], r["stage"]) for r in staged] == [(4, 0), (8, 1)] == \
            [(r["step"], r["stage"]) for r in logged.stage_log[j]]
        assert all(0 <= r["answer_acc"] <= 1 and 0 <= r["token_acc"] <= 1 for r in staged)
    monkeypatch.setattr(CurriculumTrainer, "evaluate_stage", lambda self, stage, step: None)
    quiet = CurriculumTrainer(runs, "cpu")
    quiet.train()
    assert quiet.stage_log == [[], []]
    torch.testing.assert_close(logged.opt.flat, quiet.opt.flat, rtol=0, atol=0)


def test_stage_schedule():
    assert stage_starts(100, 3) == [0, 33, 66] and stage_starts(100, 3, 10) == [0, 10, 20]
    assert [stage_at([0, 10, 20], i) for i in (0, 9, 10, 19, 20, 99)] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="last of 3"):
        stage_starts(100, 3, 50)
    with pytest.raises(ValueError, match="latent_curriculum"):
        RunConfig("prosqa", KNOBS, "cot", train=TrainConfig(latent_curriculum=True))
    with pytest.raises(ValueError, match="stage_mix"):
        TrainConfig(stage_mix=1.0)


def test_stage0_steps():
    """stage0_steps lengthens stage 0 (the CoT); the later stages share the rest, the last gets the remainder."""
    assert stage_starts(100, 3, 0, 50) == [0, 50, 75] and stage_starts(100, 3, 10, 50) == [0, 50, 60]
    assert stage_starts(4000, 5, 0, 1500) == [0, 1500, 2125, 2750, 3375]
    assert stage_starts(100, 1, 0, 50) == [0]
    with pytest.raises(ValueError, match="stage0_steps=100"):
        stage_starts(100, 3, 0, 100)
    with pytest.raises(ValueError, match="stage0_steps"):
        TrainConfig(stage0_steps=-1)
    runs = _runs([0], steps=24, stage0_steps=12, reset_optimizer=True)
    assert "stage0_steps" in runs[0].to_dict()["train"]
    assert "stage0_steps" not in _runs([0], steps=24)[0].to_dict()["train"]  # old run ids stay
    tr = CurriculumTrainer(runs, "cpu")
    assert tr.starts[:2] == [0, 12]
    tr.train()
    assert [row["step"] for row in tr.stage_log[0]][:1] == [12]


@pytest.mark.parametrize("view,filler,c", [("latent:2x3", LAT, 3), ("pause:2x1", PAUSE, 1)])
def test_stream_follows_the_stages(view, filler, c):
    # 3 stages of 16 steps (one data chunk each): thoughts per row = stage * c; mixing draws earlier stages
    tr = CurriculumTrainer(_runs([0], view, steps=48, stage_steps=16, stage_mix=0.5), "cpu")
    assert tr.seq_len == max(tr.tasks[0].render(tr.tasks[0].sample(2, Rng(0), "cpu"), v).inputs.shape[1]
                             for v in tr.views)
    for stage in range(3):
        counts = torch.stack([(tr.data.next()[0] == filler).sum(-1) for _ in range(16)])  # (16, m, B)
        assert set(counts.unique().tolist()) <= {s * c for s in range(stage + 1)}
        assert (counts == stage * c).any()
        if stage == 2:
            assert 0.35 < (counts < stage * c).float().mean() < 0.65  # stage_mix


def test_passes_fixed_per_stage():
    """The curriculum fixes the latent passes per stage (so a GPU step can be a CUDA graph):
    they cover every row's thoughts and give the states read off the batch."""
    tr = CurriculumTrainer(_runs([0, 1], "latent:2x3", steps=48, stage_steps=16, stage_mix=0.5), "cpu")
    for i in range(48):
        tr.step(i)
        if i % 16 == 5:
            span, here = tr.objective.span, latent_span(tr.x == LAT)
            assert (span is None) == (i < 16) and (here is None or (span[0] <= here[0] and here[1] <= span[1]))
            torch.testing.assert_close(tr.objective.logits(tr.x, span), tr.objective.logits(tr.x), rtol=0, atol=1e-5)


def test_optimizer_resets_per_stage():
    tr = CurriculumTrainer(_runs([0], steps=12, stage_steps=4, reset_optimizer=True), "cpu")
    tr.train()
    assert tr.starts == [0, 4, 8] and int(tr.opt.t) == 4 and tr.opt.steps == 4
    keep = CurriculumTrainer(_runs([0], steps=12, stage_steps=4), "cpu")
    keep.train()
    assert int(keep.opt.t) == 12 and keep.opt.steps == 12


def test_checkpoint_and_eval_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEPTHBENCH_SAVE_MODEL", "1")
    run = _runs([0], steps=6)[0]
    rec = train_group([run], "cpu", root=tmp_path)[0]
    task = run.make_task()
    records = prosqa_records(task.sample(20, Rng(9), "cpu"))
    good = tmp_path / "test.json"
    good.write_text(json.dumps(records))
    args = ["--run", run.run_id, "--root", str(tmp_path), "--device", "cpu"]
    assert main(["eval", "--test-file", str(good), *args]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 20 and 0 <= out["answer_acc"] <= 1 and out["view"] == "latent:2x1"
    # the saved weights are the trained ones: the run's own eval set scores the same
    evalset = task.sample(16, Rng(run.seed).fork("eval"), "cpu")
    (tmp_path / "own.json").write_text(json.dumps(prosqa_records(evalset)))
    main(["eval", "--test-file", str(tmp_path / "own.json"), "--run", run.run_id, "--root", str(tmp_path)])
    assert json.loads(capsys.readouterr().out)["answer_acc"] == round(rec["metrics"]["answer_acc"], 4)
    records[3]["target"] = "7"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    assert main(["eval", "--test-file", str(bad), "--run", run.run_id, "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "record 3" in err and "'target'" in err
    assert main(["eval", "--test-file", str(good), "--run", "nosuchrun", "--root", str(tmp_path)]) == 2
    assert "no such run" in capsys.readouterr().err


def test_perf_latent_reports_passes():
    from runners.perf_latent import latent_step_ratio
    out = latent_step_ratio("cpu", knobs=KNOBS, d_model=16, n_head=2, m=2, batch_size=4, steps=2, warmup=1)
    assert out["passes"] == 1 + 2 + 1 and out["latent_ms"] > 0 and out["ratio"] == out["ratio_eager"] > 0


def test_suite_family():
    from runners.suite import suite_experiments
    for preset in ("smoke", "full", "paper"):
        exps = suite_experiments(preset, ["graphs"])
        zhu, sanford = exps["zhu_graphs"], exps["sanford_connectivity"]
        assert {r.view.split(":")[0] for r in zhu} == {"direct", "cot", "latent", "pause"}
        from runners.suites.graphs import SIZES
        size = SIZES[preset]
        for r in zhu:  # every preset: the frontier CoT as stage 0, then Zhu et al.'s next nodes
            staged = r.view.split(":")[0] in ("latent", "pause")
            assert r.model.n_layer == 2 and dict(r.knobs)["trace"] == ("frontier" if staged else "path")
            assert r.train.latent_curriculum == staged
            if staged:
                assert r.train.reset_optimizer and r.train.stage_target == "next_after_cot"
                assert 0 < r.train.stage0_steps < r.train.steps and r.train.stage_mix > 0
            # the curriculum's own total where the preset gives one (full), else the preset's, as direct and CoT
            assert r.train.steps == (size["zhu"].get("steps", size["steps"]) if staged else size["steps"])
        assert preset != "full" or size["zhu"]["steps"] > size["steps"]
        assert len({r.model.n_layer for r in sanford}) > 1 and len({dict(r.knobs)["nodes"] for r in sanford}) > 1


def _result_rows():
    """A small result CSV (DataFrame) as the aggregate writes it."""
    from runners.results_csv import COLUMNS
    base = dict(suite_version="v1", model="transformer", d_model=128, n_head=4, n_loops=1, pos="learned", params=1000,
                train_steps=100, batch_size=8, lr=1e-3, n_seeds=3, metric="answer_acc", wall_s=10.0,
                device="cpu", git_sha="abc", length="")
    base["wall_s"] = 5.0
    rows = [dict(base, task="prosqa", knobs="distance=4;edges=30;nodes=20;trace=path", view=v, n_layer=2,
                 mean=m, std=0.02, min=m - 0.03, max=min(1.0, m + 0.03))
            for v, m in [("direct", 0.52), ("cot", 0.7), ("latent:4x1", 0.96), ("pause:4x1", 0.55)]]
    for row in rows[2:]:  # the curriculum runs use the frontier trace, and record their stage 0
        row["knobs"] = row["knobs"].replace("trace=path", "trace=frontier")
    rows += [dict(rows[2], metric="stage0_answer_acc", mean=0.99), dict(rows[3], metric="stage0_answer_acc", mean=0.9)]
    rows += [dict(base, task="connectivity", knobs=f"components=2;nodes={n}", view="direct", n_layer=d,
                  mean=0.95 if d >= need else 0.6, std=0.01, min=0.93 if d >= need else 0.5,
                  max=0.97 if d >= need else 0.65)
             for n, need in [(8, 2), (16, 3), (32, 9)] for d in (1, 2, 3, 4)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_figures_and_must_show(tmp_path):
    from paper_figs import fig_graphs_depth, fig_graphs_methods
    from runners.suites.graphs import must_show
    df = _result_rows()
    assert fig_graphs_depth.min_depth_table(df) == [(8, 2, 4), (16, 3, 4), (32, None, 4)]
    for fig in (fig_graphs_methods, fig_graphs_depth):
        paths = fig.draw(df, tmp_path)
        assert len(paths) == 1 and paths[0].exists() and paths[0].stat().st_size > 0
        assert fig.draw(df[df["task"] == "s5"], tmp_path) == []
    methods = fig_graphs_methods.method_rows(df)  # one panel: the trace is not part of the size
    assert methods["size"].nunique() == 1 and list(methods["method"]) == list(fig_graphs_methods.METHODS.values())
    assert methods.set_index("method")["mean"]["its CoT stage 0"] == 0.99  # the latent run's, not pause's
    lines = must_show(df)
    assert sum(line.startswith("PASS") for line in lines) == 5, lines


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("view", ["latent:2x2", "pause:2x1"])
def test_curriculum_graph_replay_equals_eager(view, monkeypatch):
    """GPU only: the captured step (recaptured at each stage) equals the eager one."""
    def train():
        tr = CurriculumTrainer(_runs([0, 1], view, steps=48, stage_steps=16, stage_mix=0.3, reset_optimizer=True),
                               "cuda")
        tr.train()
        return tr
    graph = train()
    assert graph.graph is not None
    monkeypatch.setenv("DEPTHBENCH_NO_GRAPH", "1")
    eager = train()
    assert eager.graph is None
    torch.testing.assert_close(graph.opt.flat, eager.opt.flat, rtol=0, atol=2e-3)


def test_cli_run_curriculum_flags_leave_the_knob_alone(tmp_path, capsys):
    """--latent-curriculum sets TrainConfig.latent_curriculum; --curriculum stays a task knob (s5's)."""
    small = ["--n-layer", "1", "--d-model", "16", "--n-head", "2", "--steps", "4", "--batch-size", "4",
             "--eval-size", "8", "--device", "cpu", "--root", str(tmp_path)]
    assert main(["run", "prosqa", "--nodes", "8", "--edges", "8", "--distance", "2", "--view", "pause:2x1",
                 "--latent-curriculum", "--stage-steps", "1", "--stage0-steps", "2", "--reset-optimizer", *small]) == 0
    run_id = json.loads(capsys.readouterr().out.splitlines()[0])["run_id"]
    train = json.loads((tmp_path / run_id / "config.json").read_text())["train"]
    assert train["latent_curriculum"] and train["stage_steps"] == 1 and train["reset_optimizer"]
    assert train["stage0_steps"] == 2
    assert main(["run", "s5", "--length", "4", "--curriculum", "true", *small]) == 0
    run_id = json.loads(capsys.readouterr().out.splitlines()[0])["run_id"]
    cfg = json.loads((tmp_path / run_id / "config.json").read_text())
    assert cfg["knobs"]["curriculum"] is True and cfg["train"]["latent_curriculum"] is False
