"""Compositional tasks against brute force (Python loops over the tables) and networkx."""
from __future__ import annotations

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.base import EOS, PAD, SEP, parse_view, read_answer
from tasks.compositional import TASKS, KHop, TreePath, decode_combination, encode_combination
from tasks.rng import Rng

VIEWS = ["direct", "cot", "latent:1x1"]


def words(task, ids) -> list[str]:
    return [task.vocab[i] for i in ids if i != PAD]


# ----------------------------------------------------------------------------- khop
def brute_khop(task: KHop, prompt: list[str]):
    """Parse one prompt and apply the tables by hand: (chain of names, trace values)."""
    D, k = task.k["domain"], task.k["hops"]
    blocks = [prompt[j * (D + 1):(j + 1) * (D + 1)] for j in range(k)]
    tables = {}
    for b in blocks:
        table = [int(v) for v in b[1:]]
        assert tables.setdefault(b[0], table) == table, "a repeated name must repeat its table"
    query = prompt[k * (D + 1):]
    assert query[-1] == "?"
    chain = query[:-2] if task.k["order"] == "shuffled" else [b[0] for b in blocks]
    assert len(chain) == k
    y, ys = int(query[-2]), []
    for name in chain:
        y = tables[name][y]
        ys.append(y)
    return chain, ys, tables


@settings(max_examples=40, deadline=None)
@given(F=st.integers(2, 6), D=st.integers(2, 7), k=st.integers(1, 5), seed=st.integers(0, 2**40),
       kind=st.sampled_from(["function", "permutation"]), order=st.sampled_from(["listed", "shuffled"]),
       split=st.sampled_from(["train", "test"]))
def test_khop_brute_force(F, D, k, seed, kind, order, split):
    task = KHop(n_functions=F, domain=D, hops=k, kind=kind, order=order, split=split, holdout=0.3)
    prob = task.sample(24, Rng(seed), "cpu")
    enc, trace, ans = task.encode(prob), task.trace(prob), task.solve(prob)
    assert enc.prompt.shape == (24, k * (D + 1) + 2 + (k if order == "shuffled" else 0))
    for i in range(24):
        chain, ys, tables = brute_khop(task, words(task, enc.prompt[i].tolist()))
        assert trace[i].tolist() == ys and ans[i].item() == ys[-1]
        assert words(task, enc.steps[i].flatten().tolist()) == [str(y) for y in ys]
        assert words(task, enc.answer[i].tolist()) == [str(ys[-1])]
        assert chain == [f"f{f}" for f in prob.names[i].tolist()]
        if kind == "permutation":
            assert all(sorted(t) == list(range(D)) for t in tables.values())


def test_khop_split_disjoint_and_stable():
    for F, k, holdout in [(8, 3, 0.25), (3, 2, 3.0), (2, 1, 0.5), (5, 2, 0.9), (4, 4, 1.0)]:
        train, test = KHop(n_functions=F, hops=k, holdout=holdout), KHop(n_functions=F, hops=k, holdout=holdout,
                                                                         split="test")
        tr, te = set(train.split_codes("train", "cpu").tolist()), set(test.split_codes("test", "cpu").tolist())
        assert tr and te and not tr & te and len(tr | te) == F ** k
        assert len(te) == train.n_holdout == (int(holdout) if holdout >= 1 else max(1, round(holdout * F ** k)))
        seen = {"train": set(), "test": set()}
        for seed in range(20):
            for task in (train, test):
                names = task.sample(64, Rng(seed), "cpu").names
                codes = set(encode_combination(names, F).tolist())
                assert codes <= (te if task.k["split"] == "test" else tr)
                assert not task.held_out(names).any() if task.k["split"] == "train" else task.held_out(names).all()
                seen[task.k["split"]] |= codes
        assert seen["train"] and seen["test"] and not seen["train"] & seen["test"]
        # the split is a function of the combination only: a fresh task object agrees
        assert set(KHop(n_functions=F, hops=k, holdout=holdout, domain=3, kind="permutation")
                   .split_codes("test", "cpu").tolist()) == te


def test_khop_split_golden():
    # pins the fixed hash: changing it silently would move the held-out set between versions
    assert KHop().split_codes("test", "cpu")[:8].tolist() == [1, 4, 8, 13, 24, 28, 31, 37]
    assert KHop(n_functions=3, hops=2, holdout=3).split_codes("test", "cpu").tolist() == [0, 3, 4]


def test_khop_split_large_space_by_threshold():
    # 64**4 = 16.7M combinations: not enumerated, the hash is thresholded at the fraction
    for split in ("train", "test"):
        task = KHop(n_functions=64, hops=4, domain=4, holdout=0.2, split=split)
        names = task.sample(2000, Rng(3), "cpu").names
        assert names.shape == (2000, 4)
        held = task.held_out(names)
        assert held.all() if split == "test" else not held.any()
    frac = KHop(n_functions=64, hops=4, holdout=0.2).held_out(
        torch.randint(0, 64, (20000, 4), generator=torch.Generator().manual_seed(0))).float().mean()
    assert abs(frac.item() - 0.2) < 0.02
    # every hop counts, even far past where base-F codes would overflow int64
    task = KHop(n_functions=64, hops=24, holdout=0.5)
    names = torch.zeros(200, 24, dtype=torch.long)
    names[:, -1] = torch.arange(200) % 64
    assert 0 < task.held_out(names).float().mean() < 1


def test_khop_for_eval():
    task = KHop(n_functions=5, hops=2, holdout=0.4, kind="permutation")
    ev = task.for_eval()
    assert isinstance(ev, KHop) and ev.k == {**task.k, "split": "test"}
    assert ev.for_eval().k == ev.k
    assert ev.held_out(ev.sample(100, Rng(0), "cpu").names).all()


def test_khop_no_split():
    """holdout=0: every combination is trained and tested; every name tuple can occur."""
    task = KHop(n_functions=2, hops=2, holdout=0)
    assert task.for_eval() is task
    names = task.sample(400, Rng(0), "cpu").names
    assert not task.held_out(names).any()
    assert {tuple(r) for r in names.tolist()} == {(a, b) for a in range(2) for b in range(2)}


def test_khop_curriculum_brute_force():
    """curriculum: 1..k real tables, the others the identity; answers by brute force on the text;
    for_eval draws every table (and keeps the held-out split)."""
    task = KHop(n_functions=4, domain=5, hops=4, kind="permutation", curriculum=True, holdout=0.0)
    prob = task.sample(512, Rng(3), "cpu")
    enc = task.encode(prob)
    ident = (prob.tables == torch.arange(5)).all(-1)  # (n, k) identity blocks
    real = 4 - ident.sum(1)  # a drawn permutation is the identity too, 1 time in 120
    assert set(real.tolist()) >= {1, 2, 3, 4} and (real == 0).float().mean() < 0.02
    assert ident.float().mean() > 0.3  # about 3/8 of the blocks made the identity by the curriculum
    assert len({tuple(r) for r in ident.tolist()}) > 8  # the identity hops are at random places
    for i in range(0, 512, 7):  # listed order: block j is hop j (an identity block keeps its name)
        w = words(task, enc.prompt[i].tolist())
        y = int(w[-2])
        for j in range(4):
            y = int(w[j * 6 + 1:(j + 1) * 6][y])
        assert words(task, enc.answer[i].tolist()) == [str(y)]
    ev = task.for_eval()
    assert not ev.k["curriculum"] and (ev.sample(512, Rng(3), "cpu").tables == torch.arange(5)).all(-1).float().mean() < 0.05
    held = KHop(n_functions=4, domain=5, hops=2, curriculum=True, holdout=0.25)
    assert held.for_eval().k["split"] == "test" and not held.for_eval().k["curriculum"]
    with pytest.raises(ValueError, match="curriculum needs order='listed'"):
        KHop(curriculum=True, order="shuffled")


def test_combination_codes_roundtrip():
    names = torch.randint(0, 7, (50, 4), generator=torch.Generator().manual_seed(1))
    assert torch.equal(decode_combination(encode_combination(names, 7), 7, 4), names)


# ----------------------------------------------------------------------------- treepath
def parse_tree(task: TreePath, prompt: list[str]):
    root = None
    if task.k["root"] == "given":
        assert prompt[-2] == "root:"
        prompt, root = prompt[:-2], int(prompt[-1])
    head, goal = prompt[:-3], prompt[-3:]
    assert goal[:2] == ["|", "goal:"]
    g = nx.DiGraph()
    g.add_nodes_from(range(task.k["nodes"]))
    for edge in " ".join(head).split(" , "):
        a, arrow, b = edge.split(" ")
        assert arrow == ">"
        g.add_edge(int(a), int(b))
    return g, int(goal[2]), root


@pytest.mark.parametrize("nodes,min_depth,goal,shape,root", [
    (16, 3, "leaf", "recursive", "hidden"), (16, 1, "any", "recursive", "given"), (2, 1, "any", "recursive", "hidden"),
    (7, 6, "leaf", "binary", "hidden"), (30, 5, "any", "recursive", "hidden"), (9, 4, "leaf", "recursive", "hidden"),
    (16, 3, "leaf", "binary", "given"), (30, 2, "any", "binary", "hidden"), (3, 1, "leaf", "binary", "given")])
def test_treepath_networkx(nodes, min_depth, goal, shape, root):
    task = TreePath(nodes=nodes, min_depth=min_depth, goal=goal, shape=shape, root=root)
    roots, depths, degrees = set(), [], []
    for seed in range(12):
        prob = task.sample(32, Rng(seed), "cpu")
        enc, trace, ans = task.encode(prob), task.trace(prob), task.solve(prob)
        assert enc.prompt.shape == (32, 4 * nodes - 2 + 2 * (root == "given")) and enc.answer.shape == (32, nodes)
        assert enc.steps.shape == (32, nodes - 1, 1)
        for i in range(32):
            g, tgt, given = parse_tree(task, words(task, enc.prompt[i].tolist()))
            assert g.number_of_edges() == nodes - 1 and nx.is_tree(g) and nx.is_arborescence(g)
            r = next(v for v in g if g.in_degree(v) == 0)
            assert given == (r if root == "given" else None)
            path = nx.shortest_path(g, r, tgt)
            degrees += [d for _, d in g.out_degree()]
            assert len(path) - 1 >= min_depth
            if goal == "leaf":
                assert g.out_degree(tgt) == 0
            assert words(task, enc.answer[i].tolist()) == [str(v) for v in path]
            assert enc.answer[i, len(path):].eq(PAD).all()  # padding only at the end
            assert [v for v in ans[i].tolist() if v >= 0] == path
            assert words(task, enc.steps[i].flatten().tolist()) == [str(v) for v in path[-2::-1]]
            assert [v for v in trace[i].tolist() if v >= 0] == path[-2::-1]
            roots.add(r)
            depths.append(len(path) - 1)
    assert len(roots) > min(nodes, 4) - 1  # the relabelling moves the root
    if min_depth < nodes - 1:
        assert len(set(depths)) > 1
    if shape == "binary":
        assert max(degrees) <= 2 and (nodes < 5 or min_depth == nodes - 1 or max(degrees) == 2)
    elif nodes >= 16:
        assert max(degrees) > 2  # recursive trees: some node has three or more children


@pytest.mark.parametrize("nodes,min_nodes,min_depth,shape", [(16, 4, 3, "recursive"), (16, 8, 3, "binary"),
                                                          (6, 2, 1, "recursive"), (12, 12, 4, "recursive")])
def test_treepath_size_mix_networkx(nodes, min_nodes, min_depth, shape):
    """min_nodes: trees of every size in [min_nodes, nodes], one prompt shape, checked by networkx;
    for_eval() samples only full-size trees."""
    task = TreePath(nodes=nodes, min_nodes=min_nodes, min_depth=min_depth, shape=shape)
    full = TreePath(nodes=nodes, min_depth=min_depth, shape=shape)
    sizes = set()
    for seed in range(8):
        prob = task.sample(64, Rng(seed), "cpu")
        enc = task.encode(prob)
        assert enc.prompt.shape[1] == full.encode(full.sample(2, Rng(0), "cpu")).prompt.shape[1]
        for i in range(64):
            g, tgt, _ = parse_tree(task, words(task, enc.prompt[i].tolist()))
            g.remove_nodes_from([v for v in list(g) if g.degree(v) == 0])
            pads = 4 * (nodes - g.number_of_nodes())  # the missing edges: <pad> first, then the tree
            assert enc.prompt[i, :pads].eq(PAD).all() and enc.prompt[i, pads:].ne(PAD).all()
            assert g.number_of_nodes() == int(prob.size[i]) and nx.is_arborescence(g)
            r = next(v for v in g if g.in_degree(v) == 0)
            path = nx.shortest_path(g, r, tgt)
            assert len(path) - 1 >= min_depth and g.out_degree(tgt) == 0
            assert words(task, enc.answer[i].tolist()) == [str(v) for v in path]
            assert words(task, enc.steps[i].flatten().tolist()) == [str(v) for v in path[-2::-1]]
            sizes.add(g.number_of_nodes())
    assert sizes == set(range(min_nodes, nodes + 1))
    assert task.for_eval().k["min_nodes"] == 0 and task.for_eval().sample(8, Rng(0), "cpu").size.eq(nodes).all()
    full_prob = full.sample(32, Rng(9), "cpu")  # a mix task encodes full-size trees as the default does
    for name, part in vars(full.encode(full_prob)).items():
        mixed = getattr(task.encode(full_prob), name)
        assert (part is None and mixed is None) or torch.equal(part, mixed), name
    with pytest.raises(ValueError, match=r"min_nodes=3 must be 0 \(off\) or in .* = \[4, 16\]"):
        TreePath(nodes=16, min_depth=3, min_nodes=3)


def test_treepath_mix_steps_switches_to_full_size():
    task = TreePath(nodes=12, min_nodes=4, min_depth=3, mix_steps=100)
    view = parse_view("direct")
    early, late = (task.train_batch(256, Rng(0), "cpu", view, step) for step in (64, 128))
    n_pad = lambda b: (b.inputs[:, :40] == PAD).sum(1)  # noqa: E731  (missing edges: 4 pads each)
    assert n_pad(early).max() > 0 and n_pad(late).max() == 0 and early.inputs.shape == late.inputs.shape
    assert task.for_eval().k == TreePath(nodes=12, min_depth=3).k
    with pytest.raises(ValueError, match="mix_steps=5 needs a size mix"):
        TreePath(mix_steps=5)


# ----------------------------------------------------------------------------- all tasks
def make(cls):
    return cls(n_functions=4, domain=5, hops=3) if cls is KHop else cls(nodes=10, min_depth=2)


@pytest.mark.parametrize("cls", TASKS)
def test_registry_attributes(cls):
    assert cls.family == "compositional" and cls.complexity and cls.name in ("khop", "treepath")
    assert "input" in cls.__doc__ and "trace" in cls.__doc__ and "answer" in cls.__doc__


@pytest.mark.parametrize("cls", TASKS)
def test_determinism(cls):
    task = make(cls)
    a, b, c = (task.sample(64, Rng(s), "cpu") for s in (7, 7, 8))
    for name, value in vars(a).items():
        assert torch.equal(value, getattr(b, name)), name
    assert any(not torch.equal(v, getattr(c, n)) for n, v in vars(a).items())
    rng = Rng(7)  # two draws from one stream differ
    assert not torch.equal(task.encode(task.sample(64, rng, "cpu")).prompt,
                           task.encode(task.sample(64, rng, "cpu")).prompt)


@pytest.mark.parametrize("cls", TASKS)
@pytest.mark.parametrize("view", VIEWS)
def test_views_render(cls, view):
    task = make(cls)
    prob = task.sample(16, Rng(5), "cpu")
    enc, batch = task.encode(prob), task.render(prob, parse_view(view))
    B, T = batch.inputs.shape
    assert B == 16 and batch.targets.shape == batch.answer_mask.shape == batch.latent_mask.shape == (B, T)
    given = 3 if view.startswith(("latent", "pause")) else 0  # <bot> <lat> <eot> are given
    assert batch.prompt_len == enc.prompt.shape[1] + 1 + given
    assert batch.inputs[:, enc.prompt.shape[1]].eq(SEP).all()
    assert torch.equal(batch.inputs[:, :enc.prompt.shape[1]], enc.prompt)
    n_lat = batch.latent_mask.sum(1)
    assert (n_lat == (1 if view.startswith("latent") else 0)).all()
    ans_len = enc.answer.ne(PAD).sum(1)
    assert torch.equal(batch.answer_mask.sum(1), ans_len)
    full = torch.cat([batch.inputs[:, :1], torch.where(batch.targets < 0, batch.inputs.roll(-1, 1), batch.targets)], 1)
    for i, row in enumerate(read_answer(full)):
        assert row == [t for t in enc.answer[i].tolist() if t != PAD]
    assert batch.targets.eq(EOS).sum(1).eq(1).all()


@pytest.mark.parametrize("cls,knobs,match", [
    (KHop, {"hops": 0}, r"\[1"), (KHop, {"domain": 1}, r"\[2"), (KHop, {"n_functions": 1}, r"\[2"),
    (KHop, {"holdout": 0.0, "split": "test"}, "holdout > 0"), (KHop, {"holdout": 512}, r"\[1, 511\]"),
    (KHop, {"holdout": 2.5}, r"\[1, 511\]"), (KHop, {"holdout": -0.1}, r"\(0, 1\)"),
    (KHop, {"n_functions": 64, "hops": 4, "holdout": 3}, r"\[0.01, 0.99\]"),
    (KHop, {"kind": "relation"}, "function"), (KHop, {"split": "val"}, "test"),
    (TreePath, {"min_depth": 16}, r"\[1, 15\]"), (TreePath, {"nodes": 5, "min_depth": 7}, r"\[1, 4\]"),
    (TreePath, {"min_depth": 0}, r"\[1"), (TreePath, {"nodes": 1}, r"\[2"), (TreePath, {"depth": 3}, "min_depth"),
])
def test_bad_knobs(cls, knobs, match):
    with pytest.raises(ValueError, match=match):
        cls(**knobs)
