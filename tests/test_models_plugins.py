"""The model protocol and the ways in: the check refuses a broken model and names what is
missing; the LSTM and the linear recurrence stack like the transformer (stacked equals solo)
and decode with their cache as without; --model-file, installed entry points, and
`depthbench bench --model` end to end (the example plugin, really installed)."""
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from models import MODELS, build_model
from models.decode import _decode_recompute, greedy_decode
from models.protocol import (FILES_ENV, GROUP, REQUIRED, ModelProtocolError, check_instance, check_model,
                             load_model_file, register_model_file, resolve_model)
from models.transformer import ModelConfig
from runners.config import RunConfig, TrainConfig
from runners.results_csv import read_results, write_results
from runners.train import Trainer
from tasks import make_task, parse_view
from tasks.rng import Rng

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "plugin_example"
BAG_FILE = f"{EXAMPLE}/depthbench_bagmlp/model.py:BagMLP"
TINY = dict(d=16, h=2, steps=4, batch=8, seeds=2, lengths=[4], lr=(3e-3, 3e-3), eval_size=16)  # rnn family


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Models registered by a test (--model-file, resolved plugins) do not leak into others."""
    saved = dict(MODELS)
    monkeypatch.delenv(FILES_ENV, raising=False)
    yield
    MODELS.clear()
    MODELS.update(saved)


def _methods(skip=None):
    def __init__(self, cfg, m, task, seq_len):
        nn.Module.__init__(self)
        self.m, self.w = m, nn.Parameter(torch.zeros(m, 3))
    body = {"__init__": __init__, "init_weights": lambda self, seeds: None,
            "forward": lambda self, x: x, "n_params": lambda self: 3}
    body.pop(skip, None)
    return body


# ----------------------------------------------------------------------------- the protocol check
@pytest.mark.parametrize("missing", REQUIRED)
def test_check_refuses_a_model_missing_a_method(missing):
    broken = type("Broken", (nn.Module,), _methods(skip=missing))
    with pytest.raises(ModelProtocolError, match=f"missing {missing} from the model protocol"):
        check_model(broken)
    check_model(type("Whole", (nn.Module,), _methods()))  # the same class with every method passes


def test_check_refuses_non_modules_and_bad_signatures():
    with pytest.raises(ModelProtocolError, match="not a torch.nn.Module"):
        check_model(type("Plain", (), {"forward": lambda self, x: x}))
    with pytest.raises(ModelProtocolError, match=r"\(cfg, m, task, seq_len\)"):
        check_model(lambda cfg: None)
    with pytest.raises(ModelProtocolError, match="neither a class nor a builder"):
        check_model(42)


def test_built_model_needs_the_stack_dimension():
    whole = type("Whole", (nn.Module,), _methods())
    model = whole(None, 2, None, 4)
    check_instance(model, 2)
    model.extra = nn.Parameter(torch.zeros(5, 3))
    with pytest.raises(ModelProtocolError, match="parameter extra has shape"):
        check_instance(model, 2)
    with pytest.raises(ModelProtocolError, match=r"missing m \(= 3"):
        check_instance(whole(None, 2, None, 4), 3)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelProtocolError, match="unknown model 'nope'.*lstm.*--model-file"):
        resolve_model("nope")


# ----------------------------------------------------------------------------- recurrent baselines
def _runs(arch, seeds, n_layer, view="cot"):
    return [RunConfig("s5", {"length": 4}, view, ModelConfig(n_layer, 16, 2),
                      TrainConfig(steps=3, batch_size=8, lr=3e-3, eval_size=16, log_every=3), seed=s, arch=arch)
            for s in seeds]


@pytest.mark.parametrize("arch", ["lstm", "linrec"])
@pytest.mark.parametrize("n_layer", [1, 2])
def test_stacked_equals_solo(arch, n_layer):
    """Model 2 of a stack of 4, trained and evaluated (CoT: decoded with the cache), equals
    the same run alone."""
    stack = Trainer(_runs(arch, [0, 1, 2, 3], n_layer), "cpu")
    stack.train()
    solo = Trainer(_runs(arch, [2], n_layer), "cpu")
    solo.train()
    torch.testing.assert_close(stack.opt.flat[2:3], solo.opt.flat, rtol=0, atol=1e-5)
    got, want = stack.evaluate()[2], solo.evaluate()[0]
    assert got == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("arch", ["lstm", "linrec"])
def test_recurrent_models_are_causal_and_decode_with_their_cache(arch):
    task = make_task("s5", length=6)
    batch = task.render(task.sample(5, Rng(1), torch.device("cpu")), parse_view("cot"))
    T, P = batch.inputs.shape[1], batch.prompt_len
    model = build_model(arch, ModelConfig(2, 16, 2), 2, task, T)
    model.init_weights([3, 4])
    x = torch.stack([batch.inputs, batch.inputs.flip(0)])
    with torch.no_grad():
        full = model(x)
        changed = x.clone()
        changed[:, :, -1] = 7
        torch.testing.assert_close(model(changed)[:, :, :-1], full[:, :, :-1], rtol=0, atol=0)
        cache = model.new_cache(5)  # prefix, then the rest, continues the state
        parts = [model(x[:, :, :P], cache=cache, start=0), model(x[:, :, P:], cache=cache, start=P)]
        torch.testing.assert_close(torch.cat(parts, dim=2), full, rtol=0, atol=1e-5)
    assert torch.equal(greedy_decode(model, x[:, :, :P], T + 1 - P), _decode_recompute(model, x[:, :, :P], T + 1 - P))


@pytest.mark.parametrize("T", [1, 5, 32])
@pytest.mark.parametrize("with_state", [False, True])
def test_linrec_kernel_form_equals_scan_and_loop(T, with_state):
    """The short-sequence convolution form, the log-depth scan and a plain loop over time agree."""
    from models.rnn import diag_recurrence, diag_scan
    g = torch.Generator().manual_seed(T)
    m, B, N = 2, 3, 4
    vr, vi = torch.randn(m, B, T, N, generator=g, dtype=torch.float64), torch.randn(m, B, T, N, generator=g, dtype=torch.float64)
    rate, theta = torch.rand(m, N, generator=g, dtype=torch.float64) * 0.5, torch.rand(m, N, generator=g, dtype=torch.float64) * 3
    state = (torch.randn(m, B, N, generator=g, dtype=torch.float64), torch.randn(m, B, N, generator=g, dtype=torch.float64)) \
        if with_state else None
    a = torch.polar(torch.exp(-rate), theta)[:, None]  # (m, 1, N)
    h = torch.complex(*state) if with_state else torch.zeros(m, B, N, dtype=torch.complex128)
    loop = []
    for t in range(T):
        h = a * h + torch.complex(vr[:, :, t], vi[:, :, t])
        loop.append(h)
    loop = torch.stack(loop, dim=2)
    for fn in (diag_recurrence, diag_scan):
        hr, hi = fn(vr, vi, rate, theta, state)
        torch.testing.assert_close(torch.complex(hr, hi), loop)


def test_models_without_a_cache_decode_by_recomputing():
    bag = load_model_file(BAG_FILE)
    task = make_task("s5", length=4)
    model = bag(ModelConfig(1, 16, 2), 2, task, 16)
    prompt = task.render(task.sample(3, Rng(0), torch.device("cpu")), parse_view("cot")).inputs[None, :, :5]
    out = greedy_decode(model, prompt.expand(2, -1, -1), 4)
    assert out.shape == (2, 3, 4)


# ----------------------------------------------------------------------------- ways in
def test_model_file_loads_checks_and_registers(tmp_path):
    assert load_model_file(BAG_FILE).__name__ == "BagMLP"
    with pytest.raises(ModelProtocolError, match="defines no 'Nope'.*BagMLP"):
        load_model_file(f"{EXAMPLE}/depthbench_bagmlp/model.py:Nope")
    with pytest.raises(ModelProtocolError, match="no such file"):
        load_model_file(f"{tmp_path}/absent.py:X")
    with pytest.raises(ModelProtocolError, match="path/to/file.py:ClassName"):
        load_model_file("no_colon.py")
    half = tmp_path / "half.py"
    half.write_text("from torch import nn\nclass Half(nn.Module):\n"
                    "    def __init__(self, cfg, m, task, seq_len):\n        super().__init__()\n"
                    "    def forward(self, x):\n        return x\n")
    with pytest.raises(ModelProtocolError, match="Half is missing init_weights, n_params from the model protocol"):
        load_model_file(f"{half}:Half")
    name = register_model_file(BAG_FILE, "mybag")
    assert name == "mybag" and "mybag=" in os.environ[FILES_ENV]
    model = build_model("mybag", ModelConfig(1, 16, 2), 3, make_task("s5", length=4), 8)
    assert model.m == 3 and model.n_params() > 0
    MODELS.pop("mybag")  # a sweep worker process: found again through the environment
    assert resolve_model("mybag").__name__ == "BagMLP"
    with pytest.raises(ModelProtocolError, match="built-in"):
        register_model_file(BAG_FILE, "lstm")


def test_entry_point_loading(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    eps = [importlib.metadata.EntryPoint("toybag", "depthbench_bagmlp:BagMLP", GROUP),
           importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Thing", GROUP)]
    monkeypatch.setattr("models.protocol._entry_points", lambda: eps)
    assert resolve_model("toybag").__name__ == "BagMLP"
    with pytest.raises(ModelProtocolError, match="entry point 'no_such_module_xyz:Thing'.*failed to load"):
        resolve_model("broken")
    with pytest.raises(ModelProtocolError, match=r"installed plugins \(depthbench.models\): \['broken', 'toybag'\]"):
        resolve_model("absent")


# ----------------------------------------------------------------------------- bench --model
def _tiny_suite(monkeypatch):
    from runners.suites import rnn
    monkeypatch.setitem(rnn.SIZES, "smoke", TINY)


def test_bench_model_on_a_tiny_slice(tmp_path, monkeypatch, capsys):
    from runners.cli import main
    _tiny_suite(monkeypatch)
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "--preset", "smoke", "--family", "rnn", "--model-file", BAG_FILE, "--model", "bag",
            "--root", "runs", "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "model bag in place of the transformer" in out and "no transformer reference" in out
    df = read_results("results/bench-smoke-bag.csv")
    assert set(df["model"]) == {"bag", "lstm", "linrec"}  # the transformer runs became bag runs
    # a reference whose transformer did worse than bag everywhere: bag ranks `better`
    ref = df[df["model"] == "bag"].copy()
    ref["model"] = "transformer"
    ref[["mean", "min", "max"]] = ref[["mean", "min", "max"]] - 0.5
    ref.loc[ref["metric"] == "loss", ["mean", "min", "max"]] += 1.5
    write_results(ref, "results/leaderboard-smoke.csv")
    assert main(argv) == 0  # every run is done: nothing trains again
    out = capsys.readouterr().out
    assert "0 trained, 8 reused" in out
    assert "bag vs transformer on answer_acc, by experiment: 1 better, 0 same, 0 worse" in out
    assert (tmp_path / "paper_figs/out/illusion_of_state.png").exists()


def test_bench_model_refuses_a_broken_model_before_training(tmp_path, monkeypatch, capsys):
    from runners.cli import main
    _tiny_suite(monkeypatch)
    monkeypatch.chdir(tmp_path)
    peek = tmp_path / "peek.py"  # looks at the future: not causal
    peek.write_text((EXAMPLE / "depthbench_bagmlp/model.py").read_text().replace(
        "e.cumsum(dim=2) / count", "e.mean(dim=2, keepdim=True)"))
    code = main(["bench", "--preset", "smoke", "--family", "rnn", "--model-file", f"{peek}:BagMLP",
                 "--root", "runs", "--device", "cpu"])
    assert code == 2 and "not causal" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_installed_plugin_end_to_end(tmp_path):
    """pip-install the example plugin (into a folder on PYTHONPATH, not the shared
    environment), then `depthbench bench --preset smoke --family rnn --model bagmlp` in a fresh
    process, where only the entry point can find `bagmlp`. The smoke sizes are shrunk (TINY)
    to keep the test short."""
    src, site = tmp_path / "src", tmp_path / "site"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    driver = ("import sys\nfrom runners.suites import rnn\n"
              f"rnn.SIZES['smoke'] = {TINY!r}\n"
              "from runners.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env.pop(FILES_ENV, None)
    run = subprocess.run([sys.executable, "-c", driver, "bench", "--preset", "smoke", "--family", "rnn",
                          "--model", "bagmlp", "--root", "runs", "--device", "cpu"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    df = pd.read_csv(tmp_path / "results/bench-smoke-bagmlp.csv")
    assert "bagmlp" in set(df["model"]) and "transformer" not in set(df["model"])


def test_compare_across_models(tmp_path, capsys):
    from runners.compare import main as compare_main
    from runners.results_csv import COLUMNS

    def rows(model, mean):
        return pd.DataFrame([dict(suite_version="v1", task="s5", knobs="length=8", length=8, view="tagging",
                                  model=model, n_layer=1, d_model=32, n_head=2, n_loops=1, params=10,
                                  train_steps=60, batch_size=32, lr=3e-3, n_seeds=2, metric="token_acc",
                                  mean=mean, std=0.0, min=mean, max=mean, wall_s=1.0, device="cpu",
                                  git_sha="abc")], columns=COLUMNS)
    ref, new, both = tmp_path / "ref.csv", tmp_path / "new.csv", tmp_path / "both.csv"
    write_results(rows("transformer", 0.5), ref)
    write_results(rows("lstm", 0.9), new)
    write_results(pd.concat([rows("transformer", 0.5), rows("lstm", 0.9)]), both)
    assert compare_main([str(ref), str(new)]) == 0  # the key includes model: nothing joins
    assert "1 missing, 1 new" in capsys.readouterr().out
    assert compare_main(["--ignore-model", str(ref), str(new)]) == 0
    out = capsys.readouterr().out
    assert "1 improved" in out and "transformer" in out and "lstm" in out
    assert compare_main(["--ignore-model", str(both), str(new)]) == 2
    assert "several models for one experiment" in capsys.readouterr().err
    assert compare_main(["--ignore-model", "--ref-model", "transformer", str(both), str(new)]) == 0
    assert compare_main(["--ignore-model", "--ref-model", "rnn", str(both), str(new)]) == 2
    assert "--ref-model rnn: no such model" in capsys.readouterr().err


# ----------------------------------------------------------------------------- on a GPU only
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@gpu
@pytest.mark.parametrize("arch", ["lstm", "linrec"])
def test_recurrent_on_gpu_graph_equals_eager_and_stacked_equals_solo(arch, monkeypatch):
    """The CUDA-graph step and bf16 autocast path of the recurrent models, which the CPU
    tests do not reach."""
    def runs(seeds):
        return [RunConfig("s5", {"length": 8}, "cot", ModelConfig(2, 64, 4),
                          TrainConfig(steps=12, batch_size=32, lr=1e-3, eval_size=64, log_every=4),
                          seed=s, arch=arch) for s in seeds]
    graph = Trainer(runs([0, 1, 2, 3]), "cuda")
    graph.train()
    assert graph.graph is not None
    solo = Trainer(runs([2]), "cuda")
    solo.train()
    torch.testing.assert_close(graph.opt.flat[2:3], solo.opt.flat, rtol=0, atol=2e-2)
    monkeypatch.setenv("DEPTHBENCH_NO_GRAPH", "1")
    eager = Trainer(runs([0, 1, 2, 3]), "cuda")
    eager.train()
    torch.testing.assert_close(graph.opt.flat, eager.opt.flat, rtol=0, atol=2e-3)
    assert graph.evaluate()[2] == pytest.approx(solo.evaluate()[0], abs=0.05)
