"""Graph search: directed reachability, undirected connectivity and ProsQA-style search.

A graph is an edge list in the prompt, one edge `s t |` per three tokens (node tokens are
named by their ids), then a question `? ...`. Node ids are a random relabelling of the
generator's internal order, and the edges come in random order, so neither ids nor
positions give anything away. Answers and traces are computed from the edge list alone, by
batched BFS (one float bmm per level), never from the generator's bookkeeping.

Traces (knob `trace`), S steps of W tokens, padded with <pad> (a shorter row leaves steps empty):
    frontier  step k = the nodes at BFS distance k from the source, ascending ids (W = widest level);
              steps are separated by `;` in the rendered sequence
    path      step k = the k-th node of a shortest path source -> target (W = 1); the
              predecessor with the smallest id is taken where there are several; no path, no steps

Hard instances, reach and prosqa (`_two_sided`): the nodes are split into two halves, each
a layered graph of depth D with a root. Every non-root node has a parent one level up, and
edges never skip a level forward, so a node's BFS distance from its root is its level.
The halves are mirror images, plus some edges from the decoy half into the root half (never
back). So the root reaches exactly its own half, and the two candidate targets (one at depth
D in each half) have the same in- and out-degree distribution: telling them apart takes a
search. Edges into level D nodes and out of them never cross halves, for the same reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from tasks.base import PAD, Encoded, Knob, Problem, Task
from tasks.rng import Rng

TRACES = ("frontier", "path")


@dataclass
class GraphProblem(Problem):
    edges: torch.Tensor  # (n, E, 2) long (s, t) node ids in prompt order; -1 after the last edge
    query: torch.Tensor  # (n, 2) (source, target), or for prosqa (n, 3) (root, target, neg_target)


# ----------------------------------------------------------------------------- batched graph algorithms
def adjacency(edges: torch.Tensor, nodes: int, undirected: bool = False) -> torch.Tensor:
    """(n, E, 2) edge list -> (n, N, N) bool, adj[b, u, v] = edge u -> v."""
    n = edges.shape[0]
    flat = torch.where(edges[..., 0] >= 0, edges[..., 0] * nodes + edges[..., 1], nodes * nodes)  # (n, E)
    adj = torch.zeros(n, nodes * nodes + 1, dtype=torch.bool, device=edges.device)
    adj.scatter_(1, flat, True)  # absent edges land in the spare last slot
    adj = adj[:, :-1].reshape(n, nodes, nodes)
    return adj | adj.transpose(1, 2) if undirected else adj


def bfs_distances(adj: torch.Tensor, src: torch.Tensor, max_steps: int | None = None) -> torch.Tensor:
    """(n, N, N) bool, (n,) -> (n, N) long BFS distance from src; -1 where unreachable
    (or farther than max_steps). One (n, 1, N) x (n, N, N) bmm per level."""
    n, N, _ = adj.shape
    a = adj.float()
    frontier = torch.arange(N, device=adj.device) == src.unsqueeze(1)  # (n, N); an index_put would sync
    reached, dist = frontier.clone(), torch.where(frontier, 0, -1)
    for k in range(1, (N - 1 if max_steps is None else max_steps) + 1):
        frontier = (torch.bmm(frontier.float().unsqueeze(1), a).squeeze(1) > 0) & ~reached  # (n, N)
        if adj.device.type == "cpu" and not frontier.any():  # on a GPU the check would sync
            break
        reached |= frontier
        dist = torch.where(frontier, k, dist)
    return dist


def reachable(adj: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """(n, N, N) bool, (n,) -> (n, N) bool: reachable from src in any number of steps. Squares
    the reflexive adjacency ceil(log2(N)) times: a few (N, N) bmms in place of N - 1 BFS levels."""
    n, N, _ = adj.shape
    r = (adj | torch.eye(N, dtype=torch.bool, device=adj.device)).float()
    for _ in range(max(1, (N - 1).bit_length())):
        r = (torch.bmm(r, r) > 0).float()  # paths of up to 2^k edges
    return r.gather(1, src.view(n, 1, 1).expand(n, 1, N)).squeeze(1) > 0


def trace_distances(adj: torch.Tensor, src: torch.Tensor, steps: int) -> torch.Tensor:
    """(n, N) BFS distance from src up to `steps`; steps + 1 where a node is reachable only
    farther; -1 where unreachable. All a trace of `steps` steps and a yes/no answer need."""
    dist = bfs_distances(adj, src, steps)
    return torch.where((dist < 0) & reachable(adj, src), steps + 1, dist)


def frontier_steps(dist: torch.Tensor, steps: int, width: int) -> torch.Tensor:
    """(n, N) distances -> (n, S, W) the nodes at distance 1..S, ascending ids, -1 padded."""
    N = dist.shape[1]
    ids = torch.arange(N, device=dist.device)
    k = torch.arange(1, steps + 1, device=dist.device).view(1, steps, 1)
    key = torch.where(dist.unsqueeze(1) == k, ids, N + ids)  # (n, S, N): members first
    key = key.sort(dim=2).values[..., :width]
    return torch.where(key < N, key, -1)


def shortest_path_steps(adj: torch.Tensor, dist: torch.Tensor, tgt: torch.Tensor, steps: int) -> torch.Tensor:
    """(n, S) the nodes 1..d of a shortest path src -> tgt (d = dist[tgt] <= S), -1 elsewhere.
    Walks back from tgt, one predecessor at distance j per step (smallest id on ties)."""
    n, N = dist.shape
    rows, ids = torch.arange(n, device=dist.device), torch.arange(N, device=dist.device)
    d = dist[rows, tgt]  # (n,)
    ok = (d >= 1) & (d <= steps)
    path = torch.full((n, steps), -1, dtype=torch.long, device=dist.device)
    cur = tgt.clone()
    for j in range(steps, 0, -1):
        pred = torch.where(adj[rows, :, cur] & (dist == j), ids, N).min(1).values  # (n,)
        cur = torch.where(j < d, pred.clamp(max=N - 1), cur)
        path[:, j - 1] = torch.where(ok & (j <= d), cur, -1)
    return path


# ----------------------------------------------------------------------------- generators
def _balanced(n: int, rng: Rng, device) -> torch.Tensor:
    """(n,) bool, half True (one more either way for odd n), in random order."""
    perm = rng.permutations(1, n, device)[0]
    return (perm + rng.integers(0, 2, (1,), device)) % 2 == 0


def _pick(mask: torch.Tensor, rng: Rng) -> torch.Tensor:
    """(n, N) bool -> (n,) a uniform random True position per row (0 where none)."""
    return torch.where(mask, rng.bits(mask.shape, mask.device), -1).argmax(1)


def _edge_list(adj: torch.Tensor, perm: torch.Tensor, slots: int, rng: Rng) -> torch.Tensor:
    """(n, N, N) bool in internal ids -> (n, slots, 2) relabelled by perm, random order, -1 padded."""
    n, N, _ = adj.shape
    flat = adj.reshape(n, N * N)
    rank = flat.cumsum(1) - 1  # present edges first, by position: slot rank of each present edge
    where = torch.where(flat & (rank < slots), rank, slots)  # the rest into a spare slot, dropped
    idx = torch.arange(N * N, device=adj.device).expand(n, -1)
    at = torch.zeros(n, slots + 1, dtype=torch.long, device=adj.device).scatter_(1, where, idx)[:, :slots]
    present = torch.arange(slots, device=adj.device) < flat.sum(1, keepdim=True)  # (n, slots)
    key = torch.where(present, rng.bits(present.shape, adj.device), 1 << 62)
    pos = at.gather(1, key.argsort(1))  # (n, slots) shuffled present edges, then absent
    uv = torch.stack([perm.gather(1, pos // N), perm.gather(1, pos % N)], dim=2)
    return torch.where((key.sort(1).values < 1 << 62).unsqueeze(2), uv, -1)


def _two_sided(n: int, N: int, E: int, D: int, dag: bool, rng: Rng, device):
    """The mirrored two-halves graphs of the module docstring; at most E edges.
    Returns edges (n, E, 2), roots (n, 2), targets (n, 2): column 0 the root's half, 1 the decoy's."""
    ids = torch.arange(N, device=device)
    side = (ids >= (N + 1) // 2) ^ (rng.integers(0, 2, (n, 1), device) == 1)  # (n, N) True: decoy half
    rank = torch.where(side, side.cumsum(1), (~side).cumsum(1)) - 1  # position within the half
    level = torch.where(rank <= D, rank, rng.integers(1, D + 1, (n, N), device))  # ranks 0..D: one per level
    su, sv, lu, lv = side.unsqueeze(2), side.unsqueeze(1), level.unsqueeze(2), level.unsqueeze(1)  # (n, u, v)
    same = su == sv
    parent = torch.where(same & (lu == lv - 1), rng.bits((n, N, N), device), -1).argmax(1)  # (n, N) per v
    adj = torch.zeros(n, N, N, dtype=torch.bool, device=device)
    adj.scatter_(1, parent.unsqueeze(1), (level > 0).unsqueeze(1))  # tree edges parent[v] -> v
    if dag:  # a level feeds the next one, and later nodes of its own level
        within = same & ((lv == lu + 1) | ((lv == lu) & (ids.view(1, N, 1) < ids.view(1, 1, N))))
    else:  # any edge that does not skip a level forward (cycles allowed)
        within = same & (lv <= lu + 1) & (ids.view(1, N, 1) != ids.view(1, 1, N))
    within &= ~adj
    cross = su & ~sv & (lu < D) & (lv >= 1) & (lv < D)  # decoy half -> root half, away from level D
    extra = E - (N - 2)
    k_cross = extra // 4
    k_half = extra - k_cross  # split between the halves; a coin gives an odd one to either
    k_root = (k_half + rng.integers(0, 2, (n, 1), device)) // 2  # (n, 1)
    score = rng.bits((n, N * N), device)
    for mask, k in ((within & ~su, k_root), (within & su, k_half - k_root), (cross, k_cross)):
        k_max = min((k_half + 1) // 2 if torch.is_tensor(k) else k, N * N)
        if k_max > 0:
            top = torch.where(mask.reshape(n, -1), score, -1).topk(k_max, dim=1)
            keep = (top.values >= 0) & (torch.arange(k_max, device=device) < k)
            picked = torch.zeros(n, N * N, dtype=torch.bool, device=device)
            adj |= picked.scatter_(1, top.indices, keep).view(n, N, N)
    perm = rng.permutations(n, N, device)  # internal id -> label
    edges = _edge_list(adj, perm, E, rng)
    def label_of(r):  # (n, 2) the node of rank r in the root half, in the decoy half
        at = [((rank == r) & (side == s)).long().argmax(1, keepdim=True) for s in (False, True)]
        return perm.gather(1, torch.cat(at, 1))
    return edges, label_of(0), label_of(D)


def _cycles(n: int, N: int, c: int, rng: Rng, device):
    """A union of c disjoint cycles of random lengths >= 3 covering the N nodes.
    Returns edges (n, N, 2), component of each label (n, N)."""
    ids = torch.arange(N, device=device)
    free = N - 3 * c  # stars and bars: c - 1 bars among free + c - 1 slots
    bars = rng.permutations(n, free + c - 1, device)[:, : c - 1].sort(1).values
    stars = torch.cat([bars - torch.arange(c - 1, device=device), torch.full((n, 1), free, device=device)], 1)
    lengths = 3 + torch.diff(stars, dim=1, prepend=torch.zeros(n, 1, dtype=torch.long, device=device))  # (n, c)
    ends = lengths.cumsum(1)
    comp = (ids.view(1, N, 1) >= ends.unsqueeze(1)).sum(2)  # (n, N) internal node -> cycle
    nxt = ids + 1
    succ = torch.where(nxt == ends.gather(1, comp), (ends - lengths).gather(1, comp), nxt)  # (n, N)
    flip = rng.integers(0, 2, (n, N), device) == 1  # random orientation of each undirected edge
    flat = torch.where(flip, succ * N + ids, ids * N + succ)  # (n, N) edge u -> v at u * N + v
    adj = torch.zeros(n, N * N, dtype=torch.bool, device=device).scatter_(1, flat, True).view(n, N, N)
    perm = rng.permutations(n, N, device)
    label_comp = torch.empty_like(comp).scatter_(1, perm, comp)
    return _edge_list(adj, perm, N, rng), label_comp


# ----------------------------------------------------------------------------- tasks
class GraphTask(Task):
    family = "graphs"
    views = ("direct", "cot", "latent", "pause")
    undirected = False
    words = ["|", "?", ";", "yes", "no"]  # the task's tokens besides the node ids

    def check_knobs(self):
        N, D = self.k["nodes"], self.k.get("distance", 0)
        if "distance" in self.k and 2 * (D + 1) > N:
            raise ValueError(f"{self.name}: distance={D} needs nodes >= 2 * (distance + 1) = {2 * (D + 1)} "
                             f"(two halves of depth distance), got nodes={N}")
        self.step_sep = ";" if self.k["trace"] == "frontier" else None
        self.steps, self.width = self.trace_shape()
        if self.k["trace"] == "path":
            self.width = 1

    def trace_shape(self) -> tuple[int, int]:
        """(S, W) of the frontier trace: depth `distance`, a half's widest possible level."""
        return self.k["distance"], (self.k["nodes"] + 1) // 2 - self.k["distance"]

    def token_names(self):
        return list(self.words) + [str(i) for i in range(self.k["nodes"])]

    @property
    def node_offset(self) -> int:
        return len(self.vocab) - self.k["nodes"]

    def adjacency(self, problem: GraphProblem) -> torch.Tensor:
        return adjacency(problem.edges, self.k["nodes"], self.undirected)  # (n, N, N)

    def distances(self, problem: GraphProblem) -> torch.Tensor:
        """(n, N) from the source: trace_distances up to the trace's steps (S + 1 = farther)."""
        return trace_distances(self.adjacency(problem), problem.query[:, 0], self.steps)

    def solve(self, problem: GraphProblem, dist=None) -> torch.Tensor:
        """(n,) bool: is the target reachable from the source. `dist`: distances(problem) if known."""
        dist = self.distances(problem) if dist is None else dist
        return dist.gather(1, problem.query[:, 1:2])[:, 0] >= 0

    def trace(self, problem: GraphProblem, dist=None) -> torch.Tensor:
        """(n, S, W) node ids, -1 padded (see the module docstring)."""
        adj = self.adjacency(problem)
        dist = bfs_distances(adj, problem.query[:, 0], self.steps) if dist is None else dist
        if self.k["trace"] == "frontier":
            return frontier_steps(dist, self.steps, self.width)
        return shortest_path_steps(adj, dist, problem.query[:, 1], self.steps).unsqueeze(-1)

    def question(self, problem: GraphProblem) -> torch.Tensor:
        return problem.query  # (n, Q) node ids after `?`

    def answer_tokens(self, problem: GraphProblem, dist) -> torch.Tensor:
        return torch.where(self.solve(problem, dist), self.tok("yes"), self.tok("no")).unsqueeze(1)  # (n, 1)

    def encode(self, problem: GraphProblem) -> Encoded:
        off, e = self.node_offset, problem.edges
        n = e.shape[0]
        bar = torch.where(e[..., :1] >= 0, self.tok("|"), PAD)  # (n, E, 1)
        edge_tok = torch.cat([torch.where(e >= 0, e + off, PAD), bar], dim=2).reshape(n, -1)  # (n, 3E)
        ask = torch.full((n, 1), self.tok("?"), dtype=torch.long, device=e.device)
        prompt = torch.cat([edge_tok, ask, self.question(problem) + off], dim=1)  # (n, 3E + 1 + Q)
        dist = self.distances(problem)  # one BFS serves trace and answer
        tr = self.trace(problem, dist)  # (n, S, W)
        steps = torch.where(tr >= 0, tr + off, PAD)
        return Encoded(prompt=prompt, steps=steps, answer=self.answer_tokens(problem, dist))


_TRACE = Knob("frontier", "reasoning trace: BFS frontier per step, or a shortest path", choices=TRACES)


class Reach(GraphTask):
    """Directed s-t reachability. Two halves of depth `distance` (module docstring); the
    source is the root of one half, the target a depth-`distance` node of the same half
    (yes) or of the other half (no), 50/50. out_degree * nodes edges, cycles allowed.

    Worked example (nodes 8, out_degree 1, distance 2, Rng(0), row 3; frontier trace):
        input   5 2 | 0 4 | 4 7 | 7 0 | 0 1 | 3 5 | 5 3 | 5 6 | ? 3 6
        trace   5 ; 2 6                    (distance 1 from 3: 5; distance 2: 2 6)
        answer  yes                        (path trace: 5 | 6; the decoy half is 7 -> 0 -> 1 4 -> 7)
    """
    name = "reach"
    complexity = "NL-complete"
    knobs = {"nodes": Knob(16, "number of nodes", low=4, high=256),
             "out_degree": Knob(2, "mean out-degree: nodes * out_degree edges (fewer where a half has no room)",
                                low=1, high=16),
             "distance": Knob(4, "source-target distance of the positives (= trace steps)", low=1, high=127),
             "trace": _TRACE}

    def check_knobs(self):
        super().check_knobs()
        if self.k["out_degree"] >= self.k["nodes"]:
            raise ValueError(f"reach: out_degree={self.k['out_degree']} must be < nodes={self.k['nodes']}")

    def sample(self, n: int, rng: Rng, device) -> GraphProblem:
        N = self.k["nodes"]
        edges, roots, targets = _two_sided(n, N, N * self.k["out_degree"], self.k["distance"], False, rng, device)
        yes = _balanced(n, rng, device)
        return GraphProblem(edges, torch.stack([roots[:, 0], torch.where(yes, targets[:, 0], targets[:, 1])], 1))


class Connectivity(GraphTask):
    """Undirected s-t connectivity (Sanford et al. 2024): are s and t in the same component.
    The graph is a union of `components` disjoint cycles of random lengths (>= 3; one cycle
    vs two is the hard case conjectured to need log depth): every node has degree 2, so no
    local statistic tells; s is uniform, t is on s's cycle (yes) or another one (no), 50/50.
    Edges are listed once each, in a random orientation. S = the longest cycle's radius, W = 2.

    Worked example (nodes 7, components 2, Rng(0), row 0; frontier trace, S = 2):
        input   6 5 | 0 2 | 1 3 | 1 4 | 5 0 | 6 2 | 4 3 | ? 2 5
        trace   0 6 ; 5                    (cycles 2-0-5-6 and 1-3-4: 2's neighbours, then 5)
        answer  yes                        (path trace: 0 | 5)
    """
    name = "connectivity"
    complexity = "L-complete"
    undirected = True
    knobs = {"nodes": Knob(16, "number of nodes", low=6, high=512),
             "components": Knob(2, "number of disjoint cycles", low=2, high=128),
             "trace": _TRACE}

    def check_knobs(self):
        if 3 * self.k["components"] > self.k["nodes"]:
            raise ValueError(f"connectivity: components={self.k['components']} cycles of >= 3 nodes "
                             f"need nodes >= {3 * self.k['components']}, got nodes={self.k['nodes']}")
        super().check_knobs()

    def trace_shape(self):
        return (self.k["nodes"] - 3 * (self.k["components"] - 1)) // 2, 2

    def sample(self, n: int, rng: Rng, device) -> GraphProblem:
        N = self.k["nodes"]
        edges, comp = _cycles(n, N, self.k["components"], rng, device)
        src = rng.integers(0, N, (n,), device)
        same = comp == comp.gather(1, src.unsqueeze(1))  # (n, N)
        yes = _balanced(n, rng, device).unsqueeze(1)
        other = torch.arange(N, device=device) != src.unsqueeze(1)
        return GraphProblem(edges, torch.stack([src, _pick(torch.where(yes, same & other, ~same), rng)], 1))


class ProsQA(GraphTask):
    """ProsQA-style search (Zhu et al. 2025, Coconut's ProsQA in symbols): a DAG, a root and
    two candidates; exactly one is reachable from the root, the answer is that one. Two halves
    of depth `distance` (module docstring): the target is a depth-`distance` node of the root's
    half, the neg_target one of the decoy half, at the same depth from the decoy root. The
    candidates are asked in ascending id order. Up to `edges` edges (fewer only where the
    layered DAG has no room). The trace runs from the root; path = root -> target.

    Worked example (nodes 8, edges 8, distance 2, Rng(0), row 0; path trace):
        input   2 5 | 4 3 | 6 2 | 3 7 | 1 7 | 3 1 | 5 0 | 2 0 | ? 4 1 5
        trace   3 | 1                      (root 4 -> 3 -> 1; frontier trace: 3 ; 1 7)
        answer  1                          (5 is at depth 2 from the decoy root 6: 6 -> 2 -> 5)
    """
    name = "prosqa"
    complexity = "NL-complete"
    words = ["|", "?", ";"]
    knobs = {"nodes": Knob(24, "number of nodes", low=4, high=256),
             "edges": Knob(36, "number of edges (the prompt has room for this many)", low=2, high=32640),
             "distance": Knob(4, "root-target distance (= trace steps)", low=1, high=127),
             "trace": _TRACE}

    def check_knobs(self):
        super().check_knobs()
        N, E = self.k["nodes"], self.k["edges"]
        if not N - 2 <= E <= N * (N - 1) // 2:
            raise ValueError(f"prosqa: edges={E} must be in [nodes - 2, nodes * (nodes - 1) / 2] = "
                             f"[{N - 2}, {N * (N - 1) // 2}] for nodes={N}")

    def sample(self, n: int, rng: Rng, device) -> GraphProblem:
        edges, roots, targets = _two_sided(n, self.k["nodes"], self.k["edges"], self.k["distance"], True, rng, device)
        return GraphProblem(edges, torch.stack([roots[:, 0], targets[:, 0], targets[:, 1]], 1))

    def question(self, problem):
        cand = problem.query[:, 1:].sort(1).values  # (n, 2): the order tells nothing
        return torch.cat([problem.query[:, :1], cand], 1)  # (n, 3) root, candidate, candidate

    def solve(self, problem: GraphProblem, dist=None) -> torch.Tensor:
        """(n,) node id: the first candidate (in question order) reachable from the root."""
        cand = self.question(problem)[:, 1:]
        hit = (self.distances(problem) if dist is None else dist).gather(1, cand) >= 0  # (n, 2)
        return torch.where(hit[:, 0], cand[:, 0], cand[:, 1])

    def answer_tokens(self, problem, dist):
        return (self.solve(problem, dist) + self.node_offset).unsqueeze(1)


# ----------------------------------------------------------------------------- published ProsQA sets
def prosqa_records(problem: GraphProblem) -> list[dict]:
    """A prosqa Problem as the JSON records `load_prosqa_json` reads."""
    return [{"edges": [e for e in row if e[0] >= 0], "root": q[0], "target": q[1], "neg_target": q[2]}
            for row, q in zip(problem.edges.tolist(), problem.query.tolist())]


def _is_id(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def load_prosqa_json(path, task: ProsQA, device="cpu") -> GraphProblem:
    """Read `[{"edges": [[s, t], ...], "root": r, "target": t, "neg_target": u}, ...]` (the
    symbolic ProsQA format; other fields are ignored) into a prosqa Problem padded to the
    task's `edges`. Raises ValueError naming the record index and field of a bad record."""
    with open(path) as f:
        records = json.load(f)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    N, E = task.k["nodes"], task.k["edges"]

    def bad(i, field, why):
        raise ValueError(f"{path}: record {i}: field {field!r}: {why}")

    edges = torch.full((len(records), E, 2), -1, dtype=torch.long)
    query = torch.zeros((len(records), 3), dtype=torch.long)
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise ValueError(f"{path}: record {i}: expected an object with fields edges, root, target, neg_target")
        for j, field in enumerate(("root", "target", "neg_target")):
            if field not in r:
                bad(i, field, "missing")
            if not _is_id(r[field]):
                bad(i, field, f"expected an int node id, got {r[field]!r}")
            if not 0 <= r[field] < N:
                bad(i, field, f"node id {r[field]} out of range for the task's nodes={N}")
            query[i, j] = r[field]
        es = r.get("edges")
        if es is None:
            bad(i, "edges", "missing")
        if not isinstance(es, list):
            bad(i, "edges", f"expected a list of [s, t] pairs, got {type(es).__name__}")
        if len(es) > E:
            bad(i, "edges", f"{len(es)} edges, more than the task's edges={E}")
        for j, e in enumerate(es):
            if not (isinstance(e, list) and len(e) == 2 and all(map(_is_id, e))):
                bad(i, "edges", f"edge {j} is {e!r}, expected a pair [s, t] of int node ids")
            if not (0 <= e[0] < N and 0 <= e[1] < N):
                bad(i, "edges", f"edge {j} {e!r} has a node id out of range for the task's nodes={N}")
        if es:
            edges[i, : len(es)] = torch.tensor(es, dtype=torch.long)
    problem = GraphProblem(edges.to(device), query.to(device))
    dist = bfs_distances(task.adjacency(problem), problem.query[:, 0])  # (n, N) from the root, exact
    d_t, d_neg = dist.gather(1, problem.query[:, 1:])[:, 0], dist.gather(1, problem.query[:, 2:])[:, 0]
    width = torch.stack([(dist == k).sum(1) for k in range(1, task.steps + 1)], 1).max(1).values
    checks = [(d_t < 0, "target", "not reachable from root"),
              (d_t == 0, "target", "is the root"),
              (d_t > task.steps, "target", f"farther from root than the task's distance={task.steps} trace steps"),
              (d_neg >= 0, "neg_target", "reachable from root")]
    if task.k["trace"] == "frontier":
        checks.append((width > task.width, "edges", f"a BFS level wider than the task's frontier width "
                                                    f"{task.width} (more nodes, or trace='path')"))
    for fail, field, why in checks:
        if fail.any():
            i = int(fail.nonzero()[0, 0])
            bad(i, field, why + (f" (distance {int(d_t[i])})" if field == "target" and d_t[i] > 0 else ""))
    return problem


TASKS = [Reach, Connectivity, ProsQA]
__all__ = ["TASKS", "GraphProblem", "load_prosqa_json", "prosqa_records", "PAD"]
