"""Graph tasks against networkx: answers, BFS frontiers and shortest paths; yes/no balance;
ProsQA candidates; determinism; every view; the ProsQA JSON loader and its errors."""
from __future__ import annotations

import json

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.base import IGNORE, PAD, parse_view
from tasks.graphs import (TASKS, Connectivity, ProsQA, Reach, adjacency, load_prosqa_json, prosqa_records,
                          trace_distances)
from tasks.rng import Rng

CONFIGS = [  # (class, knobs): several sizes per task, the knob `trace` is tried both ways
    (Reach, dict(nodes=4, out_degree=1, distance=1)),
    (Reach, dict(nodes=9, out_degree=2, distance=3)),
    (Reach, dict()),
    (Reach, dict(nodes=25, out_degree=3, distance=5)),
    (Connectivity, dict(nodes=6)),
    (Connectivity, dict()),
    (Connectivity, dict(nodes=23, components=3)),
    (Connectivity, dict(nodes=12, components=4)),
    (ProsQA, dict(nodes=8, edges=8, distance=2)),
    (ProsQA, dict()),
    (ProsQA, dict(nodes=17, edges=30, distance=3)),
    (ProsQA, dict(nodes=30, edges=28, distance=6)),
]
IDS = [f"{c.name}-" + "-".join(f"{k}{v}" for k, v in kn.items()) for c, kn in CONFIGS]
VIEWS = ["direct", "cot", "latent:1x1", "pause:1x1"]
N_SAMPLES = 64


def to_nx(task, problem, i):
    G = nx.Graph() if task.undirected else nx.DiGraph()
    G.add_nodes_from(range(task.k["nodes"]))
    G.add_edges_from((s, t) for s, t in problem.edges[i].tolist() if s >= 0)
    return G


def check_against_networkx(task, problem):
    """Answers, frontiers and paths of every row against networkx."""
    N, off = task.k["nodes"], task.node_offset
    enc = task.encode(problem)
    solved = task.solve(problem).tolist()
    for i in range(len(problem)):
        G, (s, t, *rest) = to_nx(task, problem, i), problem.query[i].tolist()
        valid = [e for e in problem.edges[i].tolist() if e[0] >= 0]
        assert all(0 <= u < N and 0 <= v < N for u, v in valid)
        assert all(e == [-1, -1] for e in problem.edges[i, len(valid):].tolist())  # edges first, then pads
        assert len({tuple(sorted(e)) if task.undirected else tuple(e) for e in valid}) == len(valid)
        length = nx.single_source_shortest_path_length(G, s)
        if task.name == "prosqa":
            neg = rest[0]
            assert nx.has_path(G, s, t) and not nx.has_path(G, s, neg)
            assert length[t] == task.k["distance"] and G.in_degree(neg) >= 1
            assert any(nx.shortest_path_length(G, u, neg) == task.k["distance"]  # a decoy root at equal depth
                       for u in G.nodes if u != s and nx.has_path(G, u, neg))
            assert nx.is_directed_acyclic_graph(G)
            assert solved[i] == t and enc.answer[i].tolist() == [t + off]
        else:
            assert solved[i] == nx.has_path(G, s, t)
            assert enc.answer[i].tolist() == [task.tok("yes" if solved[i] else "no")]
            if task.name == "reach" and solved[i]:
                assert length[t] == task.k["distance"]
        steps = enc.steps[i].tolist()  # (S, W) token ids
        assert len(steps) == task.steps and all(len(w) == task.width for w in steps)
        if task.k["trace"] == "frontier":
            for k, row in enumerate(steps, start=1):
                want = sorted(v for v, d in length.items() if d == k)
                assert row == [v + off for v in want] + [PAD] * (task.width - len(want))
        else:
            got = [w[0] - off for w in steps if w[0] != PAD]
            assert all(w[0] != PAD for w in steps[: len(got)])  # the path, then pad steps
            if t in length and 1 <= length[t] <= task.steps:
                assert len(got) == length[t] and got[-1] == t
                assert nx.is_path(G, [s] + got)
            else:
                assert got == []


@pytest.mark.parametrize("cls,knobs", CONFIGS, ids=IDS)
@pytest.mark.parametrize("trace", ["frontier", "path"])
def test_against_networkx(cls, knobs, trace):
    task = cls(trace=trace, **knobs)
    check_against_networkx(task, task.sample(N_SAMPLES, Rng(1 if trace == "frontier" else 2), "cpu"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**40), nodes=st.integers(4, 20), distance=st.integers(1, 9), degree=st.integers(1, 3),
       cls=st.sampled_from([Reach, ProsQA]))
def test_against_networkx_random_knobs(seed, nodes, distance, degree, cls):
    distance = min(distance, nodes // 2 - 1)
    edges = min(nodes - 2 + 4 * degree, nodes * (nodes - 1) // 2)
    knobs = dict(out_degree=degree) if cls is Reach else dict(edges=edges)
    task = cls(nodes=nodes, distance=distance, trace="path" if seed % 2 else "frontier", **knobs)
    check_against_networkx(task, task.sample(8, Rng(seed), "cpu"))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**40), nodes=st.integers(6, 30), components=st.integers(2, 5))
def test_connectivity_random_knobs(seed, nodes, components):
    task = Connectivity(nodes=max(nodes, 3 * components), components=components)
    problem = task.sample(8, Rng(seed), "cpu")
    check_against_networkx(task, problem)
    for i in range(len(problem)):  # a union of `components` cycles: every node has degree 2
        G = to_nx(task, problem, i)
        assert nx.number_connected_components(G) == components and all(d == 2 for _, d in G.degree)


@pytest.mark.parametrize("nodes,p", [(2, 0.5), (9, 0.15), (24, 0.06), (33, 0.04), (40, 0.1)])
def test_trace_distances_on_random_digraphs(nodes, p):
    """Any digraph, not the generators': BFS levels up to S, S + 1 beyond, -1 unreachable."""
    n, steps = 40, 3
    g = torch.Generator().manual_seed(nodes)
    adj = torch.rand(n, nodes, nodes, generator=g) < p
    edges = torch.stack(torch.meshgrid(torch.arange(nodes), torch.arange(nodes), indexing="ij"), -1).view(-1, 2)
    edges = torch.where(adj.view(n, -1, 1), edges, -1)  # (n, N * N, 2) edge list, -1 where absent
    assert torch.equal(adjacency(edges, nodes), adj)
    src = torch.randint(0, nodes, (n,), generator=g)
    dist = trace_distances(adj, src, steps).tolist()
    far = 0
    for i in range(n):
        G = nx.DiGraph(adj[i].nonzero().tolist())
        G.add_nodes_from(range(nodes))
        length = nx.single_source_shortest_path_length(G, int(src[i]))
        want = [-1 if v not in length else min(length[v], steps + 1) for v in range(nodes)]
        assert dist[i] == want
        far += sum(d == steps + 1 for d in want)
    assert nodes < 9 or far > 0  # the case beyond the trace is exercised


@pytest.mark.parametrize("cls", [Reach, Connectivity])
@pytest.mark.parametrize("n", [1, 2, 7, 200])
def test_yes_no_balance(cls, n):
    task = cls()
    counts = [int(task.solve(task.sample(n, Rng(seed), "cpu")).sum()) for seed in range(5)]
    assert all(n // 2 <= c <= (n + 1) // 2 for c in counts)  # exactly half, one either way for odd n


def test_prosqa_candidates_look_alike():
    """The reachable candidate is not given away by its degrees or by the question order."""
    task = ProsQA()
    p = task.sample(2000, Rng(3), "cpu")
    adj = task.adjacency(p)
    indeg, outdeg = adj.sum(1).float(), adj.sum(2).float()  # (n, N)
    tgt, neg = p.query[:, 1:2], p.query[:, 2:3]
    assert abs(indeg.gather(1, tgt).mean() - indeg.gather(1, neg).mean()) < 0.1
    assert abs(outdeg.gather(1, tgt).mean() - outdeg.gather(1, neg).mean()) < 0.1
    first = (task.solve(p) == task.question(p)[:, 1]).float().mean()
    assert 0.45 < first < 0.55
    assert ((p.edges[..., 0] >= 0).sum(1) == task.k["edges"]).all()


def test_reach_targets_look_alike():
    task = Reach()
    p = task.sample(2000, Rng(4), "cpu")
    adj, yes = task.adjacency(p), task.solve(p)
    tgt = p.query[:, 1:2]
    for deg in (adj.sum(1).float().gather(1, tgt)[:, 0], adj.sum(2).float().gather(1, tgt)[:, 0]):
        assert abs(deg[yes].mean() - deg[~yes].mean()) < 0.1


@pytest.mark.parametrize("cls,knobs", CONFIGS, ids=IDS)
def test_determinism(cls, knobs):
    task = cls(**knobs)
    a, b, c = (task.encode(task.sample(16, Rng(seed), "cpu")) for seed in (5, 5, 6))
    for field in ("prompt", "steps", "answer"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.prompt, c.prompt)


@pytest.mark.parametrize("cls,knobs", CONFIGS, ids=IDS)
@pytest.mark.parametrize("trace", ["frontier", "path"])
def test_views_render(cls, knobs, trace):
    task = cls(trace=trace, **knobs)
    p = task.sample(8, Rng(7), "cpu")
    enc = task.encode(p)
    P, S, W = enc.prompt.shape[1], task.steps, task.width + (task.step_sep is not None)
    # latent views always write "=" before the answer, even when every step is latent
    lengths = {"direct": P + 2, "cot": P + S * W + 3, "latent:1x1": P + 5 + (S - 1) * W + 1,
               "pause:1x1": P + 5 + (S - 1) * W + 1}
    for name in VIEWS:
        b = task.render(p, parse_view(name))
        assert b.inputs.shape == b.targets.shape == b.answer_mask.shape == b.latent_mask.shape == (8, lengths[name])
        assert b.prompt_len == P + 1 + (3 if name.startswith(("latent", "pause")) else 0)  # + <bot> thought <eot>
        assert (b.answer_mask.sum(1) == 1).all()
        assert torch.equal(b.targets[b.answer_mask], enc.answer[:, 0])
        assert (b.latent_mask.sum(1) == (1 if name == "latent:1x1" else 0)).all()
        assert ((b.targets == IGNORE) | (b.targets < task.vocab_size)).all() and (b.inputs < task.vocab_size).all()


def test_task_list():
    assert [c.name for c in TASKS] == ["reach", "connectivity", "prosqa"]
    assert [c.complexity for c in TASKS] == ["NL-complete", "L-complete", "NL-complete"]
    for cls in TASKS:
        assert cls.family == "graphs" and cls.views == ("direct", "cot", "latent", "pause")
        assert "input" in cls.__doc__ and "trace" in cls.__doc__ and "answer" in cls.__doc__


@pytest.mark.parametrize("cls,knobs,row,trace", [
    (Reach, dict(nodes=8, out_degree=1, distance=2), 3, "frontier"),
    (Connectivity, dict(nodes=7), 0, "frontier"),
    (ProsQA, dict(nodes=8, edges=8, distance=2), 0, "path"),
])
def test_docstring_examples(cls, knobs, row, trace):
    """Golden batch: the worked example of each docstring is what Rng(0) samples."""
    task = cls(trace=trace, **knobs)
    shown = task.describe(task.sample(4, Rng(0), "cpu"), row)
    steps = shown["trace"].replace(" | ", " ; " if trace == "frontier" else " | ")
    for line in (f"input   {shown['input']}\n", f"trace   {steps} ", f"answer  {shown['answer']} "):
        assert line in cls.__doc__, line


@pytest.mark.parametrize("cls,knobs", [
    (Reach, dict(nodes=8, distance=8)),  # distance >= nodes
    (Reach, dict(nodes=8, distance=4)),  # two halves of depth 4 need 10 nodes
    (Reach, dict(nodes=16, out_degree=16)),
    (Reach, dict(nodes=16, trace="dfs")),
    (Reach, dict(width=3)),
    (Connectivity, dict(nodes=8, components=3)),
    (Connectivity, dict(nodes=3)),
    (ProsQA, dict(nodes=10, edges=7)),  # fewer edges than a spanning forest of two halves
    (ProsQA, dict(nodes=6, edges=16)),
    (ProsQA, dict(nodes=10, distance=0)),
])
def test_bad_knobs(cls, knobs):
    with pytest.raises(ValueError):
        cls(**knobs)


@pytest.mark.parametrize("knobs", [dict(nodes=8, edges=8, distance=2), dict(), dict(nodes=30, edges=28, distance=6)])
@pytest.mark.parametrize("trace", ["frontier", "path"])
def test_loader_round_trip(tmp_path, knobs, trace):
    task = ProsQA(trace=trace, **knobs)
    p = task.sample(N_SAMPLES, Rng(11), "cpu")
    path = tmp_path / "prosqa.json"
    path.write_text(json.dumps(prosqa_records(p)))
    q = load_prosqa_json(path, task)
    assert torch.equal(p.edges, q.edges) and torch.equal(p.query, q.query)
    a, b = task.encode(p), task.encode(q)
    assert torch.equal(a.prompt, b.prompt) and torch.equal(a.steps, b.steps) and torch.equal(a.answer, b.answer)


def test_loader_accepts_shorter_published_records(tmp_path):
    """Extra fields are ignored; a target closer than `distance` leaves trailing steps empty."""
    task = ProsQA(nodes=8, edges=8, distance=3, trace="path")
    rec = {"edges": [[0, 1], [1, 2], [5, 6]], "root": 0, "target": 2, "neg_target": 6, "question": "..."}
    path = tmp_path / "short.json"
    path.write_text(json.dumps([rec]))
    p = load_prosqa_json(path, task)
    assert task.trace(p)[0, :, 0].tolist() == [1, 2, -1] and task.solve(p).tolist() == [2]


def _mutate(rec, how, N, E):
    r = dict(rec, edges=[list(e) for e in rec["edges"]])
    if how == "no_root":
        del r["root"]
    elif how == "no_edges":
        del r["edges"]
    elif how == "str_target":
        r["target"] = str(r["target"])
    elif how == "bool_root":
        r["root"] = True
    elif how == "neg_out_of_range":
        r["neg_target"] = N
    elif how == "edges_not_list":
        r["edges"] = "0 1"
    elif how == "too_many_edges":
        r["edges"] = r["edges"] + [[0, 1]] * (E + 1 - len(r["edges"]))
    elif how == "edge_out_of_range":
        r["edges"][0] = [r["edges"][0][0], N]
    elif how == "edge_not_pair":
        r["edges"][0] = [1]
    elif how == "target_unreachable":
        r["target"], r["neg_target"] = r["neg_target"], r["target"]
    elif how == "target_is_root":
        r["target"] = r["root"]
    elif how == "neg_reachable":
        r["neg_target"] = r["target"]
    return r


@pytest.mark.parametrize("how,field", [
    ("no_root", "root"), ("no_edges", "edges"), ("str_target", "target"), ("bool_root", "root"),
    ("neg_out_of_range", "neg_target"), ("edges_not_list", "edges"), ("too_many_edges", "edges"),
    ("edge_out_of_range", "edges"), ("edge_not_pair", "edges"), ("target_unreachable", "target"),
    ("target_is_root", "target"), ("neg_reachable", "neg_target"),
])
def test_loader_errors(tmp_path, how, field):
    task = ProsQA(nodes=12, edges=14, distance=3)
    records = prosqa_records(task.sample(3, Rng(2), "cpu"))
    records[1] = _mutate(records[1], how, 12, 14)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ValueError) as err:
        load_prosqa_json(path, task)
    assert "record 1" in str(err.value) and f"'{field}'" in str(err.value), str(err.value)


@pytest.mark.parametrize("records,trace,where", [
    ("not a list", "frontier", "list"),
    ([{"edges": [], "root": 0, "target": 1, "neg_target": 2}, 7], "frontier", "record 1"),
    ([{"edges": [[0, 1], [1, 2], [2, 3]], "root": 0, "target": 3, "neg_target": 5}], "path",
     "record 0: field 'target'"),  # distance 3 > 2
    ([{"edges": [[0, 1], [0, 2], [0, 3], [3, 4]], "root": 0, "target": 4, "neg_target": 5}], "frontier",
     "record 0: field 'edges'"),  # level 1 has 3 nodes, the frontier width is 2
])
def test_loader_errors_small_task(tmp_path, records, trace, where):
    task = ProsQA(nodes=8, edges=8, distance=2, trace=trace)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ValueError, match=where):
        load_prosqa_json(path, task)
    if trace == "frontier" and where.endswith("'edges'"):  # the same record loads with the path trace
        load_prosqa_json(path, ProsQA(nodes=8, edges=8, distance=2, trace="path"))


@pytest.mark.parametrize("name,knobs", [("prosqa", dict(nodes=12, edges=16, distance=3, trace="path")),
                                        ("connectivity", dict(nodes=8)), ("reach", dict(nodes=9, distance=3))])
def test_trainer_rows_against_networkx(name, knobs):
    """What the model is trained on: rows of the trainer's own data stream, read back from the
    tokens alone (edges, question), answered by networkx, equal the scored answer target."""
    from models.transformer import ModelConfig
    from runners.config import RunConfig, TrainConfig
    from runners.train import Trainer
    run = RunConfig(name, knobs, "direct", ModelConfig(n_layer=1, d_model=16, n_head=2), TrainConfig(batch_size=64))
    trainer = Trainer([run], "cpu")
    task = trainer.tasks[0]
    x, y = trainer.data.next()  # (m, B, T)
    for row, tgt in zip(x[0].tolist(), y[0].tolist()):
        words = [task.vocab[t] for t in row if t != PAD]
        ask, eq = words.index("?"), words.index("=")
        G = nx.Graph() if task.undirected else nx.DiGraph()
        G.add_edges_from((int(words[j]), int(words[j + 1])) for j in range(0, ask, 3))
        query = [int(w) for w in words[ask + 1:eq]]
        G.add_nodes_from(query)
        if name == "prosqa":
            want = [c for c in query[1:] if nx.has_path(G, query[0], c)]
            assert len(want) == 1
            want = str(want[0])
        else:
            want = "yes" if nx.has_path(G, *query) else "no"
        scored = [t for t in tgt if t != IGNORE]
        assert task.vocab[scored[0]] == want and scored[1:] == [task.tok("<eos>")]
