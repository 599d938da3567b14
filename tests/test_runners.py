"""Training, sweeps and the CLI (runners/): stacked == solo training, per-model learning rates,
resumable sweeps (a deleted record, an interrupted sweep), spec expansion and up-front
validation, shards, the `depthbench` subcommands and CoT evaluation by greedy decoding."""
from __future__ import annotations

import json
import shutil
import textwrap

import pandas as pd
import pytest
import torch

import runners.train as rt
from models.decode import greedy_decode
from models.transformer import ModelConfig
from runners.aggregate import aggregate
from runners.cli import main
from runners.config import RunConfig, TrainConfig
from runners.records import is_done, read_final, run_dir
from runners.results_csv import KEY, read_results, write_results
from runners.suite import shard
from runners.sweep import expand, load_spec, make_groups, run_sweep
from runners.train import Trainer
from tasks import TASKS, make_task, parse_view
from tasks.base import read_answer
from tasks.rng import Rng

torch.set_num_threads(2)

TINY = ModelConfig(n_layer=1, d_model=16, n_head=2)


def tiny_train(steps=20, lr=3e-3, **kw):
    return TrainConfig(steps=steps, batch_size=8, lr=lr, eval_size=16, log_every=5, **kw)


def s5_runs(seeds, view="cot", lr=3e-3, steps=20):
    return [RunConfig("s5", {"length": 4}, view, TINY, tiny_train(steps, lr), seed=s) for s in seeds]


def live(trainer) -> torch.Tensor:
    """Columns of trainer.opt.flat (the parameters, in model.parameters() order) except the key
    biases: softmax ignores a bias added to every key, so their gradient is zero up to float noise
    and AdamW turns that noise into lr-sized steps that differ between a stack and a solo run
    (with no effect on any output)."""
    keep, d = [], trainer.model.cfg.d_model
    for name, p in trainer.model.named_parameters():
        k = torch.ones(p[0].numel(), dtype=torch.bool)
        if name.endswith("qkv_b"):
            k[d:2 * d] = False
        keep.append(k)
    return torch.cat(keep)


def assert_same_run(stack, i, solo, j=0, atol=1e-5):
    """Run i of one trainer equals run j of another: parameters and outputs."""
    keep = live(stack)
    assert keep.shape[0] == stack.opt.flat.shape[1] == solo.opt.flat.shape[1]
    torch.testing.assert_close(stack.opt.flat[i][keep], solo.opt.flat[j][keep], rtol=0, atol=atol)
    x = torch.randint(0, stack.model.vocab_size, (1, 4, stack.seq_len), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = stack.model(x.expand(stack.model.m, -1, -1).contiguous())[i]
        b = solo.model(x.expand(solo.model.m, -1, -1).contiguous())[j]
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- stacked == solo
@pytest.mark.parametrize("view", ["cot", "tagging"])
def test_stacked_training_equals_solo(view):
    stack = Trainer(s5_runs([0, 1, 2, 3], view), "cpu")
    logs = stack.train()
    solo = Trainer(s5_runs([2], view), "cpu")
    solo_logs = solo.train()
    assert stack.opt.flat.shape[0] == 4 and solo.opt.flat.shape[0] == 1
    assert_same_run(stack, 2, solo)
    assert not torch.allclose(stack.opt.flat[1], stack.opt.flat[2], atol=1e-3)  # runs differ
    assert [r["step"] for r in logs[2]] == [5, 10, 15, 20]
    assert [r["loss"] for r in logs[2]] == pytest.approx([r["loss"] for r in solo_logs[0]], rel=1e-4)
    for a, b in zip(stack.evaluate()[2].values(), solo.evaluate()[0].values()):
        assert a == pytest.approx(b, abs=1e-4)


def test_per_model_learning_rates():
    a = RunConfig("s5", {"length": 4}, "cot", TINY, tiny_train(lr=1e-3), seed=0)
    b = RunConfig("s5", {"length": 4}, "cot", TINY, tiny_train(lr=2e-2), seed=1)
    assert a.group_key() == b.group_key() and len(make_groups([a, b])) == 1
    both = Trainer([a, b], "cpu")
    both.train()
    for i, run in enumerate([a, b]):
        alone = Trainer([run], "cpu")
        alone.train()
        # at lr 2e-2 Adam magnifies the CPU matmuls' rounding, which differs with the stack size by
        # about 1e-10 at step 0 (head_w's gradient): 1.1e-5 after 20 steps with the LayerNorm fold
        assert_same_run(both, i, alone, atol=3e-5)
    # the same seed with another lr ends elsewhere
    other = Trainer([RunConfig("s5", {"length": 4}, "cot", TINY, tiny_train(lr=2e-2), seed=0)], "cpu")
    other.train()
    assert not torch.allclose(other.opt.flat[0], both.opt.flat[0], atol=1e-4)


def test_trainer_refuses_runs_of_different_shapes():
    runs = [RunConfig("s5", {"length": 4}, "cot", TINY, tiny_train(), seed=0),
            RunConfig("s5", {"length": 5}, "cot", TINY, tiny_train(), seed=0)]
    assert len(make_groups(runs)) == 2
    with pytest.raises(ValueError, match="one shape"):
        Trainer(runs, "cpu")


# ----------------------------------------------------------------------------- sweeps
SPEC = {"task": "modadd", "knobs": {"length": [2, 3], "p": 5}, "view": "cot",
        "model": {"n_layer": 1, "d_model": 16, "n_head": 2},
        "train": {"steps": 10, "batch_size": 8, "lr": 0.003, "eval_size": 16, "log_every": 5},
        "seeds": [0, 1]}


def logged_steps(root, run) -> list[int]:
    text = (run_dir(root, run.run_id) / "metrics.jsonl").read_text()
    return [json.loads(ln)["step"] for ln in text.splitlines()]


def sweep_csv(runs, root, path):
    write_results(aggregate(runs, root), path)
    return pd.read_csv(path)


def no_wall(df):
    return df.drop(columns=["wall_s"])


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The tiny 4-run sweep (2 groups of 2), trained once: (runs, root, csv frame)."""
    base = tmp_path_factory.mktemp("sweep")
    runs = expand(SPEC)
    counts = run_sweep(runs, root=base / "runs", progress=False)
    assert counts == {"runs": 4, "trained": 4, "skipped": 0, "groups": 2}
    df = sweep_csv(runs, base / "runs", base / "a.csv")
    return runs, base / "runs", df


def test_sweep_records_and_csv(swept):
    runs, root, df = swept
    for run in runs:
        rec = read_final(root, run.run_id)
        assert RunConfig.from_dict(rec["config"]).run_id == run.run_id == rec["run_id"]
        assert rec["group_size"] == 2 and set(rec["metrics"]) >= {"answer_acc", "token_acc", "loss"}
        assert (run_dir(root, run.run_id) / "config.json").exists()
        assert logged_steps(root, run) == [5, 10]
    assert len(df) == 2 * 3 and not df[KEY].duplicated().any() and set(df["n_seeds"]) == {2}
    # a second sweep finds everything done
    assert run_sweep(runs, root=root, progress=False)["trained"] == 0


def test_resume_after_a_lost_record(swept, tmp_path):
    runs, root0, df0 = swept
    root = tmp_path / "runs"
    shutil.copytree(root0, root)
    (run_dir(root, runs[1].run_id) / "final.json").unlink()  # killed before its record was written
    assert not is_done(root, runs[1].run_id)
    counts = run_sweep(runs, root=root, progress=False)
    assert counts == {"runs": 4, "trained": 1, "skipped": 3, "groups": 1}
    assert is_done(root, runs[1].run_id)
    df = sweep_csv(runs, root, tmp_path / "b.csv")
    read_results(tmp_path / "b.csv")  # valid, no duplicate keys
    assert len(df) == len(df0) and not df[KEY].duplicated().any()
    # identical (wall_s aside), although the lost run was retrained alone rather than in its stack of 2
    pd.testing.assert_frame_equal(no_wall(df), no_wall(df0), check_exact=True)
    assert (tmp_path / "b.csv").read_text().count("\n") == (swept[1].parent / "a.csv").read_text().count("\n")


def _interrupting(after_groups, after_steps=None):
    """A train_group that is killed: after `after_groups` whole groups, optionally mid-way
    (after_steps steps) through the next one."""
    real, done = rt.train_group, []

    def fake(group, device="cpu", root=None, progress=None):
        if len(done) >= after_groups:
            if after_steps is None:
                raise KeyboardInterrupt("killed between groups")
            count = []

            def tick(n):
                count.append(n)
                if len(count) == after_steps:
                    raise KeyboardInterrupt("killed mid-group")
            return real(group, device=device, root=root, progress=tick)
        done.append(group)
        return real(group, device=device, root=root, progress=progress)
    return fake


@pytest.mark.parametrize("after_steps", [None, 7], ids=["between-groups", "mid-group"])
def test_resume_after_an_interrupted_sweep(swept, tmp_path, monkeypatch, after_steps):
    runs, _, df0 = swept
    root = tmp_path / "runs"
    monkeypatch.setattr(rt, "train_group", _interrupting(1, after_steps))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(runs, root=root, progress=False)
    assert sum(is_done(root, r.run_id) for r in runs) == 2
    monkeypatch.undo()
    counts = run_sweep(runs, root=root, progress=False)
    assert counts == {"runs": 4, "trained": 2, "skipped": 2, "groups": 1}
    df = sweep_csv(runs, root, tmp_path / "b.csv")
    read_results(tmp_path / "b.csv")
    # the same groups trained in the same stacks: identical numbers
    pd.testing.assert_frame_equal(no_wall(df), no_wall(df0), check_exact=True)


def test_metrics_log_of_a_resumed_run_has_each_step_once(tmp_path, monkeypatch):
    runs = expand(SPEC)[:2]  # one group
    root = tmp_path / "runs"
    monkeypatch.setattr(rt, "train_group", _interrupting(0, after_steps=7))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(runs, root=root, progress=False)
    monkeypatch.undo()
    run_sweep(runs, root=root, progress=False)
    for run in runs:
        assert logged_steps(root, run) == [5, 10]


# ----------------------------------------------------------------------------- specs
YAML_SPEC = """\
task: [s5, a5]
knobs: {length: [4, 6]}
view: [direct, cot]
model: {n_layer: [1, 2], d_model: 16, n_head: 2}
train: {steps: 5, batch_size: 8, lr: 0.001}
seeds: [0, 1, 2]
"""


def test_yaml_and_py_specs_expand(tmp_path):
    (tmp_path / "s.yaml").write_text(YAML_SPEC)
    runs = load_spec(tmp_path / "s.yaml")
    assert len(runs) == 2 * 2 * 2 * 2 * 3 == len({r.run_id for r in runs})
    assert {r.task for r in runs} == {"s5", "a5"} and {r.seed for r in runs} == {0, 1, 2}
    assert {r.model.n_layer for r in runs} == {1, 2} and {r.train.steps for r in runs} == {5}
    # a list of grids in YAML
    (tmp_path / "l.yaml").write_text("- {task: s5, seeds: [0, 1]}\n- {task: z60, knobs: {length: [3, 4, 5]}}\n")
    assert len(load_spec(tmp_path / "l.yaml")) == 2 + 3
    # SPEC (a dict or a list of dicts) and RUNS in a .py file
    (tmp_path / "g.py").write_text(textwrap.dedent("""
        SPEC = [{"task": "modadd", "knobs": {"length": [2, 3, 4], "p": [5, 7]}, "seeds": [0, 1]},
                {"task": "s5", "view": ["cot", "tagging"]}]
    """))
    assert len(load_spec(tmp_path / "g.py")) == 3 * 2 * 2 + 2
    (tmp_path / "r.py").write_text(textwrap.dedent("""
        from runners.config import RunConfig
        RUNS = [RunConfig("s5", {"length": n}, seed=s) for n in (4, 8) for s in range(3)]
    """))
    assert len(load_spec(tmp_path / "r.py")) == 6
    (tmp_path / "n.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match="SPEC"):
        load_spec(tmp_path / "n.py")
    (tmp_path / "s.toml").write_text("task = 's5'\n")
    with pytest.raises(ValueError, match=r"\.py, \.yaml"):
        load_spec(tmp_path / "s.toml")
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.yaml")


def test_yaml_docstring_example_lr(tmp_path):
    (tmp_path / "s.yaml").write_text("task: s5\ntrain: {steps: 1000, batch_size: 128, lr: 1e-3}\n")
    (run,) = load_spec(tmp_path / "s.yaml")
    assert run.train.lr == 1e-3


@pytest.mark.parametrize("part,field,value", [("train", "steps", 2.5), ("model", "n_layer", 1.5),
                                              ("train", "lr", "fast")])
def test_wrongly_typed_config_fields_fail_up_front(part, field, value):
    spec = {**SPEC, part: {**SPEC[part], field: value}}
    with pytest.raises(ValueError, match=field):
        expand(spec)


def test_equivalent_knob_values_are_one_run():
    a, b = RunConfig("s5", {"length": 8}), RunConfig("s5", {"length": 8.0})
    assert a.make_task().k == b.make_task().k
    assert b.knobs == (("length", 8),) and a.run_id == b.run_id


TYPOS = [
    ({"task": "s6"}, ["s6"] + sorted(TASKS)),
    ({"task": ["modadd", "s6"]}, ["s6"] + sorted(TASKS)),
    ({"knobs": {"lenght": 4}}, ["lenght", "length"]),
    ({"knobs": {"length": "four"}}, ["length", "int"]),
    ({"view": ["cot", "cott"]}, ["cott", "direct", "tagging", "cot", "latent", "pause"]),
    ({"model": {"n_layers": 1}}, ["n_layers", "n_layer", "d_model", "n_head", "pos"]),
    ({"model": {"pos": "alibi"}}, ["alibi", "learned", "sinusoidal", "rope", "none"]),
    ({"train": {"step": 5}}, ["step", "steps", "batch_size", "lr"]),
    ({"seed": [0]}, ["seed", "seeds", "task", "knobs"]),
]


@pytest.mark.parametrize("change,words", TYPOS, ids=[str(c) for c, _ in TYPOS])
def test_spec_typos_fail_before_training(tmp_path, monkeypatch, capsys, change, words):
    def must_not_train(*a, **k):
        pytest.fail("train_group was called for a spec with a typo")
    monkeypatch.setattr(rt, "train_group", must_not_train)
    spec = {**SPEC, "model": dict(SPEC["model"]), "train": dict(SPEC["train"])}
    for k, v in change.items():
        if isinstance(v, dict) and k in ("model", "train"):
            spec[k].update(v)
        else:
            spec[k] = v
    with pytest.raises(ValueError) as e:
        expand(spec)
    assert all(w in str(e.value) for w in words), str(e.value)
    # and through the CLI: exit code 2, the message on stderr, nothing trained or written
    (tmp_path / "typo.py").write_text(f"SPEC = {spec!r}\n")
    code = main(["sweep", str(tmp_path / "typo.py"), "--root", str(tmp_path / "runs"), "--out",
                 str(tmp_path / "o.csv"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and all(w in err for w in words), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "o.csv").exists()


# ----------------------------------------------------------------------------- shards
def test_shard_semantics():
    groups = [[i, i + 100] for i in range(10)]
    assert shard(groups, None) == groups and shard(groups, "") == groups
    assert shard(groups, "0/1") == groups
    assert shard(groups, "1/3") == [groups[1], groups[4], groups[7]]
    assert shard(groups, "2/3") == [groups[2], groups[5], groups[8]]
    for n in (1, 2, 3, 4, 11):  # the shards partition the groups, whole groups together
        parts = [shard(groups, f"{i}/{n}") for i in range(n)]
        assert sorted(g[0] for p in parts for g in p) == list(range(10))
    assert shard([], "0/2") == []


@pytest.mark.parametrize("bad", ["3/3", "-1/3", "1/0", "0/0", "a/b", "1", "1/2/3", "1.0/2", "/", "1/"])
def test_bad_shard_strings(bad):
    with pytest.raises(ValueError, match="shard"):
        shard([[1], [2]], bad)


# ----------------------------------------------------------------------------- CLI
def test_cli_tasks(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name, cls in TASKS.items():
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [name])
        assert cls.family in line and cls.complexity in line


def test_cli_show(capsys):
    assert main(["show", "s5", "--length", "4", "--view", "cot"]) == 0
    out = capsys.readouterr().out
    assert "example 0" in out and "example 1" in out and "example 2" not in out
    assert out.count("answer") == 2 and out.count("cot:") == 2
    cot_line = next(ln for ln in out.splitlines() if ln.strip().startswith("cot:"))
    assert len(cot_line.split()) == 1 + 4 + 1 + 4 + 1 + 1 + 1  # 'cot:' prompt = trace = answer <eos>
    assert cot_line.split()[-1] == "<eos>"


def test_cli_show_unknown_task(capsys):
    assert main(["show", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and all(name in err for name in TASKS)


RUN_ARGS = ["--n-layer", "1", "--d-model", "16", "--n-head", "2", "--steps", "20", "--batch-size", "8",
            "--eval-size", "16", "--device", "cpu"]


def metric_rows(out: str) -> list[dict]:
    return [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]


def test_cli_run_prints_metrics(tmp_path, capsys):
    argv = ["run", "modadd", "--length", "3", "p=5", *RUN_ARGS, "--root", str(tmp_path)]
    assert main(argv) == 0
    rows = metric_rows(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    assert {"run_id", "seed", "params", "answer_acc", "token_acc", "eval_loss", "loss"} <= set(row)
    assert 0 <= row["answer_acc"] <= 1 and row["seed"] == 0
    assert is_done(tmp_path, row["run_id"])
    cfg = read_final(tmp_path, row["run_id"])["config"]
    assert cfg["knobs"] == {"length": 3, "p": 5} and cfg["model"]["d_model"] == 16 and cfg["train"]["steps"] == 20
    # a second call reuses the record
    assert main(argv) == 0
    assert metric_rows(capsys.readouterr().out) == rows


def test_cli_run_knob_that_prefixes_an_option(tmp_path, capsys):
    argv = ["run", "modadd", "--length", "3", "--p", "5", *RUN_ARGS, "--root", str(tmp_path)]
    assert main(argv) == 0
    (row,) = metric_rows(capsys.readouterr().out)
    assert read_final(tmp_path, row["run_id"])["config"]["knobs"] == {"length": 3, "p": 5}


def test_cli_compare_planted_regression(swept, tmp_path, capsys):
    runs, root, _ = swept
    df = aggregate(runs, root)
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_results(df, a)
    write_results(df, c)
    worse = df.copy()
    row = worse.index[worse["metric"] == "loss"][0]
    worse.loc[row, ["mean", "min", "max"]] += 1.0  # loss up by 1: a regression
    write_results(worse, b)
    assert main(["compare", str(a), str(c)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "1 regression" in out
    assert main(["compare", str(a), str(tmp_path / "missing.csv")]) == 2


# ----------------------------------------------------------------------------- evaluation
def test_cot_answer_acc_is_what_greedy_decoding_writes():
    train = TrainConfig(steps=30, batch_size=16, lr=1e-2, eval_size=64, log_every=10, warmup=0.1)
    runs = [RunConfig("modadd", {"length": 2, "p": 3}, "cot", ModelConfig(n_layer=1, d_model=32, n_head=2),
                      train, seed=s) for s in range(3)]
    trainer = Trainer(runs, "cpu")
    trainer.train()
    got = [r["answer_acc"] for r in trainer.evaluate()]
    task = make_task("modadd", length=2, p=3)
    off = task.vocab_size - task.order
    prompts, answers = [], []
    for run in runs:  # the held-out set, rebuilt
        prob = task.sample(64, Rng(run.seed).fork("eval"), "cpu")
        batch = task.render(prob, parse_view("cot"))
        prompts.append(batch.inputs[:, :batch.prompt_len])
        answers.append((task.solve(prob) + off).tolist())
    prompt = torch.stack(prompts)
    wrote = greedy_decode(trainer.model.eval(), prompt, trainer.seq_len + 1 - prompt.shape[2])
    want = []
    for j in range(len(runs)):
        read = read_answer(torch.cat([prompt[j], wrote[j]], dim=1))
        want.append(sum(r == [a] for r, a in zip(read, answers[j])) / 64)
    assert got == pytest.approx(want, abs=1e-6)
    assert any(0 < w < 1 for w in want)  # not a trivial all-right or all-wrong case


def test_bench_reference_for_a_family_subset(tmp_path):
    """A non-default family set compares with its own leaderboard where one is committed,
    else with the preset's leaderboard; the default set always with the preset's."""
    from runners.bench import reference_path
    from runners.suite import DEFAULT_FAMILIES
    plain = tmp_path / "leaderboard-full.csv"
    assert reference_path("full", None, tmp_path) == plain
    assert reference_path("full", list(reversed(DEFAULT_FAMILIES)), tmp_path) == plain
    assert reference_path("full", ["rnn"], tmp_path) == plain  # no rnn leaderboard yet
    (tmp_path / "leaderboard-full-rnn.csv").write_text("")
    assert reference_path("full", ["rnn"], tmp_path) == tmp_path / "leaderboard-full-rnn.csv"
    assert reference_path("full", ["rnn", "rnn"], tmp_path) == tmp_path / "leaderboard-full-rnn.csv"
    assert reference_path("full", ["groups"], tmp_path) == plain


def test_family_times_split_a_shared_task_by_family(tmp_path):
    """Per-family training time sums each experiment once (not once per metric row), and S5 rows
    go to groups or to compositional (serial steps) by the run they come from."""
    from runners.aggregate import aggregate
    from runners.family_time import family_times, format_times
    from runners.records import write_json_atomic
    from runners.suite import suite_runs
    runs = suite_runs("smoke", ["groups", "compositional"])
    in_groups = {r.run_id for r in suite_runs("smoke", ["groups"])}
    want = {"groups": 0.0, "compositional": 0.0}
    for i, run in enumerate({r.run_id: r for r in runs}.values()):
        wall = 1.0 + i % 5  # a group of 2: each run's share is wall / 2
        write_json_atomic(tmp_path / run.run_id / "final.json",
                          {"config": run.to_dict(), "metrics": {"answer_acc": 0.5, "token_acc": 0.5},
                           "wall_s": wall, "group_size": 2, "params": 1, "device": "cpu", "git_sha": "x"})
        fam = "groups" if run.run_id in in_groups else "compositional"
        want[fam] += wall / 2
    df = aggregate(runs, tmp_path)
    assert df["task"].eq("s5").sum() > 0 and (df["metric"] == "token_acc").any()
    got = family_times(df, "smoke")
    assert set(got) == {"groups", "compositional"}
    assert got["groups"] == pytest.approx(want["groups"], abs=0.05)
    assert got["compositional"] == pytest.approx(want["compositional"], abs=0.05)
    assert "budget" not in format_times(got, "smoke")
    assert "groups 200s (budget 120s OVER)" in format_times({"groups": 200.0}, "full")
    assert family_times(df.assign(task=df["task"] + "_renamed"), "smoke") == pytest.approx({"unmatched": sum(want.values())}, abs=0.1)


def test_determinism_is_opt_in_and_checks_cublas(monkeypatch):
    from runners.train import use_determinism
    monkeypatch.delenv("DEPTHBENCH_DETERMINISTIC", raising=False)
    assert not use_determinism("cuda")
    monkeypatch.setenv("DEPTHBENCH_DETERMINISTIC", "1")
    assert not use_determinism("cpu")  # CPU runs repeat bit for bit already
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match="CUBLAS_WORKSPACE_CONFIG=:4096:8"):
        use_determinism("cuda")
