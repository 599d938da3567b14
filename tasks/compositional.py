"""Compositional tasks: k-hop function composition (with held-out combinations) and
root-to-goal paths in random trees (Brinkmann et al. 2024).

Both follow pointers serially: hop t needs the value of hop t - 1, so without CoT a
transformer must spend about one layer per hop (or log k layers by pointer doubling),
which is what the depth-versus-width experiments at a fixed parameter count measure
(Petty et al. 2023).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tasks.base import PAD, Encoded, Knob, Problem, Task
from tasks.rng import Rng, splitmix64

_ENUM_MAX = 1 << 20  # enumerate and rank the combinations up to this many; else threshold the hash
_SALT = 0x2545F4914F6CDD1D  # fixed: the split depends on the combination only, never on a seed


def combination_hash(names: torch.Tensor) -> torch.Tensor:
    """The fixed hash that decides the split: (..., k) function indices -> (...,) int64,
    chained splitmix64 over the hops (any k, no overflow; no seed involved)."""
    h = torch.full(names.shape[:-1], _SALT, dtype=torch.long, device=names.device)
    for t in range(names.shape[-1]):
        h = splitmix64(h ^ names[..., t])
    return h


def encode_combination(names: torch.Tensor, n_functions: int) -> torch.Tensor:
    """(..., k) function indices -> (...,) base-F code sum_t names[t] * F^t (exact while
    F**k < 2**63; used only when the combinations are enumerated, F**k <= 2**20)."""
    weights = n_functions ** torch.arange(names.shape[-1], device=names.device, dtype=torch.long)
    return (names * weights).sum(-1)


def decode_combination(codes: torch.Tensor, n_functions: int, hops: int) -> torch.Tensor:
    """Inverse of encode_combination: (...,) codes -> (..., k) function indices."""
    weights = n_functions ** torch.arange(hops, device=codes.device, dtype=torch.long)
    return codes.unsqueeze(-1) // weights % n_functions


# ----------------------------------------------------------------------------- k-hop
@dataclass
class KHopProblem(Problem):
    names: torch.Tensor   # (n, k) function index used at hop t (f_1 .. f_k)
    tables: torch.Tensor  # (n, k, D) lookup table of the function at hop t (same name, same table)
    x: torch.Tensor       # (n,) the query value
    order: torch.Tensor   # (n, k) hop listed in prompt block j (identity unless order="shuffled")


class KHop(Task):
    """k-hop composition: y = f_k(...f_2(f_1(x))) with the k lookup tables in the prompt.

    A pool of F functions f0..f{F-1} on the domain {0..D-1} is drawn per instance (random
    tables, or random permutations). The prompt lists, one block per hop, the function's
    name and its D values, then `x ?`. With order="listed" the blocks come in application
    order; with order="shuffled" they come in random order and the query spells the chain,
    `f_1 .. f_k x ?`, so the names must be used to route. Trace: y_1, .., y_k (the last is
    the answer); with trace_every = j the CoT writes only y_k, y_(k-j), y_(k-2j), .. (in order), so
    the CoT has ceil(k / j) steps of j hops each (the first may be shorter). With curriculum=True
    (training only, as the group word problems' knob; order="listed" only) a random number 1..k of
    the hops, at random places, keep their drawn table and the others are the identity: fewer real
    hops, one shape.

    Compositional split: the F**k name tuples (f_1..f_k) are ranked by a fixed hash of the
    tuple; the `holdout` smallest (a fraction, or a whole number of tuples) are held out.
    split="test" samples only held-out tuples, split="train" never does; `for_eval()`
    gives the test split. Above 2**20 tuples the split thresholds the hash at the fraction.

    Worked example (F = 4, D = 4, k = 2, listed):
        input   f2 3 0 0 1 f0 1 2 3 0 2 ?       (f2 = [3,0,0,1], f0 = [1,2,3,0], x = 2)
        trace   0 | 1                           (f2(2) = 0, f0(0) = 1)
        answer  1
    """
    name = "khop"
    family = "compositional"
    complexity = "TC0 per hop, k serial lookups; NC1-complete as k grows (domain >= 5 holds S5)"
    knobs = {
        "n_functions": Knob(8, "size F of the function pool", low=2, high=64),
        "domain": Knob(8, "domain size D (values 0..D-1)", low=2, high=64),
        "hops": Knob(3, "number k of functions composed", low=1, high=64),
        "kind": Knob("function", "random lookup tables or random permutations",
                     choices=("function", "permutation")),
        "order": Knob("listed", "table blocks in application order, or shuffled with the chain in the query",
                      choices=("listed", "shuffled")),
        "split": Knob("train", "which name combinations to sample", choices=("train", "test")),
        "holdout": Knob(0.25, "held-out combinations: a fraction in (0, 1), a whole number >= 1, "
                              "or 0 for no split (train and test on every combination)"),
        "trace_every": Knob(1, "the trace keeps every j-th value, counted back from the answer "
                               "(ceil(k / j) steps: a CoT of fewer, longer steps)", low=1, high=64),
        "curriculum": Knob(False, "train where a random number (1..hops) of the tables are drawn and the "
                                  "others are the identity; evaluation always draws every table"),
    }

    def check_knobs(self):
        F, k, h = self.k["n_functions"], self.k["hops"], self.k["holdout"]
        if self.k["curriculum"] and self.k["order"] != "listed":
            raise ValueError("khop: curriculum needs order='listed' (an identity block keeps its name, so "
                             "with shuffled blocks a name would stand for two tables)")
        self.n_combos = F ** k
        n = self.n_combos
        if h == 0:  # no split: every combination in training and in the test
            if self.k["split"] == "test":
                raise ValueError("khop: split='test' needs held-out combinations (holdout > 0)")
            self.n_holdout = 0
        elif self.n_combos <= _ENUM_MAX:
            if 0 < h < 1:
                self.n_holdout = min(max(round(h * n), 1), n - 1)
            elif h >= 1 and h.is_integer() and h <= n - 1:
                self.n_holdout = int(h)
            else:
                raise ValueError(f"khop: holdout={h} must be 0, a fraction in (0, 1) or a whole number "
                                 f"of combinations in [1, {n - 1}] (n_functions**hops = {n})")
        else:
            frac = h if 0 < h < 1 else h / n
            if not 0.01 <= frac <= 0.99:
                raise ValueError(f"khop: with n_functions**hops = {n} > 2**20 combinations holdout={h} "
                                 "must be 0 or a fraction in [0.01, 0.99]")
            self.n_holdout = round(frac * n)  # expected number; the threshold is on the hash
            span = float(1 << 64)
            self._threshold = int(frac * span) - (1 << 63)  # held out iff hash < threshold (signed)
        self._codes = {}

    def for_eval(self) -> "KHop":
        """The same task on the held-out combinations (itself when nothing is held out), every
        table drawn (no curriculum)."""
        if self.n_holdout == 0 and not self.k["curriculum"]:
            return self
        return type(self)(**{**self.k, "split": "test" if self.n_holdout else self.k["split"], "curriculum": False})

    def token_names(self):
        F, D = self.k["n_functions"], self.k["domain"]
        return [f"f{i}" for i in range(F)] + [str(v) for v in range(D)] + ["?"]

    # -- the split
    def held_out(self, names: torch.Tensor) -> torch.Tensor:
        """(..., k) name tuples -> (...,) bool: is the tuple held out (a test combination)?"""
        if self.n_holdout == 0:
            return torch.zeros(names.shape[:-1], dtype=torch.bool, device=names.device)
        if self.n_combos > _ENUM_MAX:
            return combination_hash(names) < self._threshold
        codes = encode_combination(names, self.k["n_functions"])
        return torch.isin(codes, self.split_codes("test", codes.device))

    def split_codes(self, split: str, device) -> torch.Tensor:
        """Sorted codes of every combination in a split (only when they can be enumerated)."""
        key = (split, str(device))
        if key not in self._codes:
            codes = torch.arange(self.n_combos, dtype=torch.long)
            held = torch.zeros(self.n_combos, dtype=torch.bool)
            names = decode_combination(codes, self.k["n_functions"], self.k["hops"])
            held[torch.argsort(combination_hash(names))[: self.n_holdout]] = True
            self._codes[key] = codes[held if split == "test" else ~held].to(device)
        return self._codes[key]

    def _sample_names(self, n: int, rng: Rng, device) -> torch.Tensor:
        F, k, test = self.k["n_functions"], self.k["hops"], self.k["split"] == "test"
        if self.n_holdout == 0:
            return rng.integers(0, F, (n, k), device)
        if self.n_combos <= _ENUM_MAX:
            codes = self.split_codes(self.k["split"], device)
            return decode_combination(codes[rng.integers(0, len(codes), (n,), device)], F, k)
        # too many to enumerate: rejection sampling, a few vectorized rounds
        p = self.n_holdout / self.n_combos
        p = p if test else 1 - p
        got, have = [], 0
        while have < n:
            cand = rng.integers(0, F, (int((n - have) / p * 1.2) + 64, k), device)
            cand = cand[self.held_out(cand) == test]
            got.append(cand)
            have += len(cand)
        return torch.cat(got)[:n]

    # -- the contract
    def sample(self, n: int, rng: Rng, device) -> KHopProblem:
        F, D, k = self.k["n_functions"], self.k["domain"], self.k["hops"]
        names = self._sample_names(n, rng, device)                                 # (n, k)
        if self.k["kind"] == "permutation":
            pool = rng.permutations(n * F, D, device).reshape(n, F, D)
        else:
            pool = rng.integers(0, D, (n, F, D), device)                          # (n, F, D)
        tables = pool.gather(1, names.unsqueeze(-1).expand(n, k, D))               # (n, k, D)
        if self.k["curriculum"]:  # keep n_active random hops, the rest become the identity
            n_active = rng.integers(1, k + 1, (n, 1), device)
            rank = torch.argsort(torch.argsort(rng.bits((n, k), device), dim=1), dim=1)
            tables = torch.where((rank < n_active).unsqueeze(-1), tables, torch.arange(D, device=device))
        x = rng.integers(0, D, (n,), device)
        if self.k["order"] == "shuffled":
            order = rng.permutations(n, k, device)
        else:
            order = torch.arange(k, device=device).expand(n, k).clone()
        return KHopProblem(names, tables, x, order)

    def trace(self, problem: KHopProblem) -> torch.Tensor:
        y, out = problem.x, []
        for t in range(problem.tables.shape[1]):  # k serial lookups, each over the whole batch
            y = problem.tables[:, t].gather(1, y.unsqueeze(1)).squeeze(1)
            out.append(y)
        return torch.stack(out, dim=1)  # (n, k)

    def solve(self, problem: KHopProblem) -> torch.Tensor:
        return self.trace(problem)[:, -1]  # (n,)

    def encode(self, problem: KHopProblem) -> Encoded:
        n, k, D = problem.tables.shape
        f0, v0 = self.tok("f0"), self.tok("0")
        blocks = torch.cat([problem.names.unsqueeze(-1) + f0, problem.tables + v0], dim=2)  # (n, k, 1+D)
        blocks = blocks.gather(1, problem.order.unsqueeze(-1).expand(n, k, D + 1))
        query = [problem.x.unsqueeze(1) + v0, torch.full((n, 1), self.tok("?"), device=blocks.device)]
        if self.k["order"] == "shuffled":
            query.insert(0, problem.names + f0)
        prompt = torch.cat([blocks.reshape(n, -1), *query], dim=1)
        ys = self.trace(problem) + v0
        kept = torch.arange(k - 1, -1, -self.k["trace_every"], device=ys.device).flip(0)  # ends at y_k
        return Encoded(prompt=prompt, steps=ys[:, kept].unsqueeze(-1), answer=ys[:, -1:])


# ----------------------------------------------------------------------------- tree path
@dataclass
class TreeProblem(Problem):
    parent: torch.Tensor  # (n, N) parent label of each node label, -1 at the root
    edges: torch.Tensor   # (n, N-1) child labels in the order the edges are listed
    goal: torch.Tensor    # (n,) goal label
    size: torch.Tensor    # (n,) nodes in the tree (N unless min_nodes)


class TreePath(Task):
    """Path from the root of a random tree to a goal node (Brinkmann et al. 2024).

    Trees (knob shape), built on canonical labels 0..N-1 with node 0 the root and a spine
    0-1-..-min_depth (so a node that deep always exists):
      recursive  parent[i] uniform in [0, i) (random recursive trees; nodes may have many children);
      binary     parent[i] uniform among the nodes j < i with fewer than two children, so every
                 node has at most two children (the paper's binary trees);
    then a random relabelling. The goal is a uniform random leaf (goal="leaf", as in the
    paper) or node (goal="any") at depth >= min_depth. The prompt lists the edges
    `parent > child` in random order, then `| goal: g`; with root="given" (the paper's
    format, where the path's first node follows the goal) it ends `| goal: g root: r`, with
    root="hidden" the root is only the one node that is never a child. The answer is the
    path root .. goal as consecutive node tokens (its first token is r), padded with <pad> to
    `nodes` tokens (the deepest a tree of n nodes can be). Trace: backward chaining, one
    ancestor of the goal per step, from its parent up to the root (<pad> rows beyond the
    goal's depth).

    min_nodes > 0 (a size curriculum for training): each tree has a uniform random number of
    nodes in [min_nodes, nodes], the first nodes of the same growth process (a prefix of a
    random recursive or binary tree is one), labelled from all `nodes` labels; a smaller tree's
    missing edges are <pad> at the start of the prompt, so every size has one shape.
    `for_eval()` is the task at `nodes` alone: a model trained on the mix is tested on the full size.
    mix_steps > 0 keeps the mix for the first mix_steps training steps only (train_batch; the
    data stream asks in chunks of steps, so the switch falls on the first chunk starting after it).

    Worked example (nodes = 5, min_depth = 2, shape = recursive, root = hidden):
        input   3 > 0 , 1 > 4 , 1 > 3 , 0 > 2 | goal: 2
        trace   0 | 3 | 1                       (parent(2) = 0, parent(0) = 3, parent(3) = 1)
        answer  1 3 0 2
    With root = given the input ends `| goal: 2 root: 1`; trace and answer are the same.
    """
    name = "treepath"
    family = "compositional"
    complexity = "L (tree path)"
    knobs = {
        "nodes": Knob(16, "number of nodes in the tree", low=2, high=256),
        "min_depth": Knob(3, "least depth of the goal (the root has depth 0)", low=1, high=255),
        "goal": Knob("leaf", "goal is a leaf, or any node", choices=("leaf", "any")),
        "shape": Knob("recursive", "random recursive trees, or binary trees (at most two children)",
                      choices=("recursive", "binary")),
        "root": Knob("hidden", "the root is given after the goal (the paper's format), or left to be found",
                     choices=("hidden", "given")),
        "min_nodes": Knob(0, "train on trees of a uniform random size in [min_nodes, nodes] (0: all of "
                             "`nodes`); evaluation is at `nodes`", low=0, high=256),
        "mix_steps": Knob(0, "with min_nodes: the size mix for the first mix_steps training steps, then "
                             "`nodes` alone (0: the mix throughout)", low=0, high=10 ** 9),
    }

    def check_knobs(self):
        N, m, lo = self.k["nodes"], self.k["min_depth"], self.k["min_nodes"]
        if m >= N:
            raise ValueError(f"treepath: min_depth={m} must be in [1, nodes - 1] = [1, {N - 1}]")
        if lo and not m < lo <= N:
            raise ValueError(f"treepath: min_nodes={lo} must be 0 (off) or in [min_depth + 1, nodes] = "
                             f"[{m + 1}, {N}] (a tree needs a node at depth min_depth)")
        if self.k["mix_steps"] and not lo:
            raise ValueError(f"treepath: mix_steps={self.k['mix_steps']} needs a size mix (min_nodes > 0)")

    def for_eval(self) -> "TreePath":
        """The task at `nodes` alone (itself without a size curriculum)."""
        return type(self)(**{**self.k, "min_nodes": 0, "mix_steps": 0}) if self.k["min_nodes"] else self

    def train_batch(self, n: int, rng: Rng, device, view, step: int):
        """The size mix until mix_steps (if set), then full-size trees; one shape throughout."""
        if self.k["mix_steps"] and step >= self.k["mix_steps"]:
            return self.for_eval().train_batch(n, rng, device, view, step)
        return super().train_batch(n, rng, device, view, step)

    def token_names(self):
        root = ["root:"] if self.k["root"] == "given" else []
        return [str(i) for i in range(self.k["nodes"])] + [">", ",", "|", "goal:"] + root

    def sample(self, n: int, rng: Rng, device) -> TreeProblem:
        N, m, lo = self.k["nodes"], self.k["min_depth"], self.k["min_nodes"]
        idx = torch.arange(N, device=device)
        size = rng.integers(lo, N + 1, (n,), device) if lo else torch.full((n,), N, device=device)
        here = idx < size.unsqueeze(1)  # (n, N) the canonical nodes in each tree
        # canonical tree: node 0 is the root, parent[i] < i
        if self.k["shape"] == "binary":
            parent = self._binary_parents(n, rng, device)
        else:
            parent = torch.cat([torch.zeros(n, 1, dtype=torch.long, device=device),
                                rng.integers(0, idx[1:], (n, N - 1), device)], dim=1)  # (n, N)
            parent[:, 1:m + 1] = idx[:m]
        depth = torch.zeros(n, N, dtype=torch.long, device=device)
        for i in range(1, N):  # parent[i] < i: one column at a time, the batch at once
            depth[:, i] = depth.gather(1, parent[:, i:i + 1]).squeeze(1) + 1
        ok = (depth >= m) & here
        if self.k["goal"] == "leaf":
            has_child = torch.zeros(n, N, dtype=torch.bool, device=device)
            has_child.scatter_(1, torch.where(here[:, 1:], parent[:, 1:], 0), here[:, 1:])
            ok &= ~has_child
        key = torch.where(ok, rng.bits((n, N), device), -1)
        goal = key.argmax(1)  # uniform among the allowed nodes
        # relabel: canonical node i gets label perm[i]
        perm = rng.permutations(n, N, device)
        parent_lab = torch.full((n, N), -1, dtype=torch.long, device=device)
        parent_lab.scatter_(1, perm[:, 1:], torch.where(here[:, 1:], perm.gather(1, parent[:, 1:]), -1))
        order = rng.permutations(n, N - 1, device)  # canonical child i + 1 listed at position j
        edges = torch.where(here[:, 1:], perm[:, 1:], -1).gather(1, order)  # -1: no such node
        return TreeProblem(parent_lab, edges, perm.gather(1, goal.unsqueeze(1)).squeeze(1), size)

    def _binary_parents(self, n: int, rng: Rng, device) -> torch.Tensor:
        """(n, N) canonical parents, parent[i] < i: the spine 0-1-..-min_depth, then each node i
        under a uniform random one of the nodes j < i that have fewer than two children."""
        N, m = self.k["nodes"], self.k["min_depth"]
        idx = torch.arange(N, device=device)
        key = rng.bits((n, N, N), device)  # column i: a key per candidate parent j
        parent = torch.zeros(n, N, dtype=torch.long, device=device)
        children = torch.zeros(n, N, dtype=torch.long, device=device)
        for i in range(1, N):  # one node at a time, the batch at once
            if i <= m:
                pick = torch.full((n,), i - 1, dtype=torch.long, device=device)
            else:
                open_ = (children < 2) & (idx < i)
                pick = torch.where(open_, key[:, i], -1).argmax(1)  # a leaf always has room
            parent[:, i] = pick
            children.scatter_add_(1, pick.unsqueeze(1), torch.ones(n, 1, dtype=torch.long, device=device))
        return parent

    def _ancestors(self, problem: TreeProblem):
        """(n, N) anc[:, t] = the ancestor of the goal at distance t (t = 0: the goal), and
        the goal's depth (n,). Repeated parent lookup; the root points to itself."""
        n, N = problem.parent.shape
        up = torch.where(problem.parent < 0, torch.arange(N, device=problem.parent.device), problem.parent)
        anc = [problem.goal]
        for _ in range(N - 1):
            anc.append(up.gather(1, anc[-1].unsqueeze(1)).squeeze(1))
        anc = torch.stack(anc, dim=1)
        depth = (anc[:, 1:] != anc[:, :-1]).sum(1)
        return anc, depth

    def trace(self, problem: TreeProblem) -> torch.Tensor:
        anc, depth = self._ancestors(problem)
        t = torch.arange(1, anc.shape[1], device=anc.device)
        return torch.where(t <= depth.unsqueeze(1), anc[:, 1:], -1)  # (n, N-1), -1 past the root

    def solve(self, problem: TreeProblem) -> torch.Tensor:
        anc, depth = self._ancestors(problem)
        j = torch.arange(anc.shape[1], device=anc.device)
        back = (depth.unsqueeze(1) - j).clamp(min=0)
        return torch.where(j <= depth.unsqueeze(1), anc.gather(1, back), -1)  # (n, N) root..goal, -1 pad

    def encode(self, problem: TreeProblem) -> Encoded:
        n, N = problem.parent.shape
        v0, dev = self.tok("0"), problem.parent.device
        col = lambda name, w=1: torch.full((n, w), self.tok(name), dtype=torch.long, device=dev)  # noqa: E731
        child = problem.edges.clamp(min=0) if self.k["min_nodes"] else problem.edges
        edge = torch.stack([problem.parent.gather(1, child) + v0, col(">", N - 1), child + v0, col(",", N - 1)],
                           dim=2)  # (n, N - 1, 4)
        if self.k["min_nodes"]:  # smaller trees: no token for a missing edge, none for the last one's ','
            edge = torch.where((problem.edges < 0)[..., None], PAD, edge)
            last = (problem.edges >= 0).long().cumsum(1).argmax(1)  # (n,) the last edge listed
            edge[torch.arange(n, device=dev), last, 3] = PAD
            edge = edge.reshape(n, -1)
            edge = edge.gather(1, torch.argsort((edge != PAD).to(torch.int8), dim=1, stable=True))[:, 1:]  # pads first
        else:
            edge = edge.reshape(n, -1)[:, :-1]  # every tree has N nodes: drop the last ','
        path = self.solve(problem)  # root .. goal
        prompt = [edge, col("|"), col("goal:"), problem.goal.unsqueeze(1) + v0]
        if self.k["root"] == "given":
            prompt += [col("root:"), path[:, :1] + v0]
        lift = lambda x: torch.where(x < 0, PAD, x + v0)  # noqa: E731
        return Encoded(prompt=torch.cat(prompt, dim=1), steps=lift(self.trace(problem)).unsqueeze(-1),
                       answer=lift(path))


TASKS = [KHop, TreePath]
__all__ = ["TASKS", "KHop", "TreePath", "combination_hash", "encode_combination", "decode_combination"]
