"""Arithmetic tasks against pure-Python oracles that read only the decoded text."""
from __future__ import annotations

import random
from collections import Counter

import pytest
from render_checks import check_determinism_and_round_trip, check_seq_view, steps_text, words
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.arithmetic import CVP, TASKS, Equations, Expr, Squaring, sample_expressions
from tasks.base import EOS, PAD as PAD_ID, parse_view
from tasks.rng import Rng

P = 11
INV = {x: pow(x, P - 2, P) for x in range(1, P)}
VIEWS = ["direct", "cot", "latent:1x1", "pause:2x1"]


# ----------------------------------------------------------------------------- generic checks
SMALL = [Squaring(n=5, p=97, p_min=97), Squaring(n=3, p=13, p_min=2), Expr(ops=1), Expr(ops=3), Equations(vars=2),
         Equations(vars=3, pivot="column"), CVP(gates=6, inputs=2)]


@pytest.mark.parametrize("task", list(SMALL) + [cls() for cls in TASKS], ids=repr)
@pytest.mark.parametrize("view", VIEWS + ["tagging"])
def test_views_render_consistently(task, view):
    if view == "tagging" and "tagging" not in task.views:
        with pytest.raises(ValueError, match="valid"):
            task.render(task.sample(2, Rng(0), "cpu"), parse_view(view))
        return
    if view == "tagging":
        prob = task.sample(16, Rng(3), "cpu")
        enc, b = task.encode(prob), task.render(prob, parse_view(view))
        assert b.targets.shape == b.answer_mask.shape == b.latent_mask.shape == b.inputs.shape
        assert torch.equal(b.targets[:, -1], enc.answer[:, 0])
        return
    seq = check_seq_view(task, view)
    assert (seq == EOS).sum() == seq.shape[0]


@pytest.mark.parametrize("task", list(SMALL) + [cls() for cls in TASKS], ids=repr)
def test_determinism_and_round_trip(task):
    ea = check_determinism_and_round_trip(task)
    S = {"squaring": task.k.get("n"), "expr": task.k.get("ops", 1) - 1,
         "equations": 4 * task.k.get("vars", 1), "cvp": task.k.get("gates")}[task.name]
    assert ea.steps.shape[:2] == (64, S)


@pytest.mark.parametrize("cls, knobs, match", [
    (Squaring, {"p": 91}, "prime"), (Squaring, {"p": 13, "p_min": 17}, "p_min=17 must be <= p=13"), (Squaring, {"n": 0}, r"\[1, 1024\]"), (Squaring, {"q": 1}, "valid knobs"),
    (Expr, {"ops": 0}, r"\[1, 64\]"), (Expr, {"ops": 2.5}, "int"), (Equations, {"vars": 9}, r"\[2, 8\]"),
    (CVP, {"gates": 1}, r"\[2, 1024\]"), (CVP, {"gates": 4, "inputs": 4}, r"\[1, gates - 1 = 3\]"),
    (CVP, {"window": 0}, r"\[1, 1024\]")])
def test_bad_knobs(cls, knobs, match):
    with pytest.raises(ValueError, match=match):
        cls(**knobs)


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        Expr(ops=2).parse("1 + 2")
    with pytest.raises(ValueError):
        Squaring(n=2).parse("3 ^2")
    with pytest.raises(ValueError, match="prime"):
        Squaring(n=1).parse("12 3 ^2")  # 12 is not a modulus


# ----------------------------------------------------------------------------- squaring
@pytest.mark.parametrize("n, p, p_min", [(1, 2, 2), (5, 97, 97), (16, 107, 11), (40, 10007, 9000)])
def test_squaring_oracle(n, p, p_min):
    task = Squaring(n=n, p=p, p_min=p_min)
    enc = task.encode(task.sample(200, Rng(n * p), "cpu"))
    primes = [q for q in range(p_min, p + 1) if all(q % d for d in range(2, q))]
    seen = set()
    for i in range(200):
        q, r = map(int, words(task, enc.prompt[i].tolist())[:2])
        assert q in primes and 0 <= r < q
        seen.add(q)
        want = [str(pow(r, 2 ** j, q)) for j in range(1, n + 1)]
        assert [s[0] for s in steps_text(task, enc, i)] == want
        assert words(task, enc.answer[i].tolist()) == want[-1:]
        assert words(task, enc.tags[i].tolist()) == [str(q), str(r)] + want
    assert len(seen) >= min(len(primes), 5)  # the modulus varies per example


# ----------------------------------------------------------------------------- expressions
def evaluate(tokens: list[str]) -> int:
    """Recursive descent over F_11, standard precedence, left associative."""
    pos = 0

    def atom():
        nonlocal pos
        t = tokens[pos]
        pos += 1
        if t == "(":
            v = expr()
            assert tokens[pos] == ")"
            pos += 1
            return v
        assert t.isdigit() and 0 <= int(t) < P
        return int(t)

    def term():
        nonlocal pos
        v = atom()
        while pos < len(tokens) and tokens[pos] in "*/":
            o = tokens[pos]
            pos += 1
            w = atom()
            assert o == "*" or w != 0, "division by zero"
            v = v * w % P if o == "*" else v * INV[w] % P
        return v

    def expr():
        nonlocal pos
        v = term()
        while pos < len(tokens) and tokens[pos] in "+-":
            o = tokens[pos]
            pos += 1
            v = (v + term()) % P if o == "+" else (v - term()) % P
        return v

    v = expr()
    assert pos == len(tokens)
    return v


def reduce_py(t: list[str]) -> list[str]:
    """The documented rule, by hand: first-closing parentheses (else all), leftmost * /,
    else leftmost + -; parentheses around a single number go in the same step."""
    close = t.index(")") if ")" in t else len(t)
    open_ = max((i for i in range(close) if t[i] == "("), default=-1)
    group = range(open_ + 1, close)
    q = next((i for i in group if t[i] in "*/"), None) or next(i for i in group if t[i] in "+-")
    v = evaluate(t[q - 1:q + 2])
    out = t[:q - 1] + [str(v)] + t[q + 2:]
    if open_ == q - 2 and close == q + 2:
        out = out[:open_] + [str(v)] + out[open_ + 3:]
    return out


@settings(max_examples=15, deadline=None)
@given(ops=st.integers(1, 8), seed=st.integers(0, 2 ** 40), data=st.data())
def test_expr_size_mix_oracle(ops, seed, data):
    """min_ops: every size in [min_ops, ops] drawn, each row's answer by recursive descent; a row of
    k operators is the row the generator makes at ops=k from the same draws; evaluation at ops."""
    lo = data.draw(st.integers(1, ops))
    task = Expr(ops=ops, min_ops=lo)
    prob = task.sample(400, Rng(seed), "cpu")
    batch, ans, sizes = task.render(prob, parse_view("direct")), task.solve(prob), set()
    rng = Rng(seed)
    row_ops = rng.integers(lo, ops + 1, (400,), "cpu")
    for k in range(lo, ops + 1):
        alone = sample_expressions(400, k, Rng(seed, counter=rng.counter), "cpu")  # the same draws
        rows = row_ops == k
        assert torch.equal(prob.expr[rows, :4 * k + 1], alone[rows]) and prob.expr[rows, 4 * k + 1:].eq(PAD_ID).all()
    for i in range(400):
        e = words(task, prob.expr[i].tolist())
        k = sum(x in "+-*/" for x in e)
        assert lo <= k <= ops and ans[i].item() == evaluate(e)
        assert words(task, batch.targets[i][batch.answer_mask[i]].tolist()) == [str(ans[i].item())]
        sizes.add(k)
    assert sizes == set(range(lo, ops + 1))
    assert task.for_eval().k["min_ops"] == 0
    with pytest.raises(ValueError, match="direct view only"):
        task.render(prob, parse_view("cot"))
    back = task.parse([task.decode(r) for r in prob.expr[:20].tolist()])
    assert torch.equal(back.expr, prob.expr[:20])  # parse(decode(prompt)) round-trips


@settings(max_examples=25, deadline=None)
@given(ops=st.integers(1, 8), seed=st.integers(0, 2 ** 40))
def test_expr_oracle(ops, seed):
    task = Expr(ops=ops)
    prob = task.sample(100, Rng(seed), "cpu")
    enc, ans = task.encode(prob), task.solve(prob)
    for i in range(100):
        e = words(task, enc.prompt[i].tolist())
        assert sum(x in "+-*/" for x in e) == ops and len(e) <= 4 * ops + 1
        assert "(" not in e or e.count("(") == e.count(")")
        value = evaluate(e)
        assert ans[i].item() == value and words(task, enc.answer[i].tolist()) == [str(value)]
        cur = e
        for k, step in enumerate(steps_text(task, enc, i)):
            cur = reduce_py(cur)
            assert step == cur, (e, k)
            assert sum(x in "+-*/" for x in step) == ops - 1 - k
            assert evaluate(step) == value  # every CoT step keeps the value
        assert reduce_py(cur) == [str(value)]


def feng_expression(rnd: random.Random, ops: int) -> list[str]:
    """A port of Feng et al.'s arithmetic/data.py `get` (the expression before the '=')."""
    def get_expr(x):
        while True:
            a, sign = rnd.randrange(P), rnd.choice("+-*/")
            if sign == "+":
                b = (x - a) % P
            elif sign == "-":
                b = (a - x) % P
            elif sign == "*":
                if a == 0 and x != 0:
                    continue
                b = rnd.randrange(P) if a == 0 else x * INV[a] % P
            else:
                if x == 0 and a == 0:
                    b = rnd.randrange(P)
                    if b == 0:
                        continue
                elif x == 0 or a == 0:
                    continue
                else:
                    b = a * INV[x] % P
            return ["(", str(a), sign, str(b), ")"]

    lst = [str(rnd.randrange(P))]
    for _ in range(ops):
        item = rnd.choice([i for i, t in enumerate(lst) if t.isdigit()])
        e = get_expr(int(lst[item]))
        prev, nxt = lst[item - 1] if item else None, lst[item + 1] if item + 1 < len(lst) else None
        if prev == "/":
            need = True
        elif prev == "*" or nxt in ("*", "/"):
            need = e[2] in "+-"
        else:
            need = prev == "-" and e[2] in "+-"
        lst[item:item + 1] = e if need else e[1:-1]
    return lst


@pytest.mark.parametrize("ops", [2, 3])
def test_expr_distribution_matches_feng(ops):
    """Same law as Feng's generator: the distance between our draws and the port's (shapes
    with digits masked, values, first tokens; 20k each) is at the port-vs-port noise floor."""
    n = 20000
    ours = [words(Expr(ops=ops), r) for r in sample_expressions(n, ops, Rng(ops), "cpu").tolist()]
    feng1, feng2 = ([feng_expression(random.Random(s), ops) for _ in range(n)] for s in (1, 2))
    shape = lambda e: " ".join("d" if x.isdigit() else x for x in e)  # noqa: E731
    for feat in (shape, evaluate, lambda e: e[0]):
        def tv(x, y):
            a, b = Counter(map(feat, x)), Counter(map(feat, y))
            return sum(abs(a[k] - b[k]) for k in a.keys() | b.keys()) / (2 * n)
        assert tv(ours, feng1) < 1.5 * tv(feng2, feng1) + 0.01


# ----------------------------------------------------------------------------- equations
VARS = "abcdefgh"


def feng_format(M, s, k) -> list[str]:
    """Feng et al.'s `output` for one system with s columns eliminated."""
    out = []
    for row in M:
        for j in range(k + 1):
            if j == k:
                out.pop()
                out += ["=", str(row[j])]
                continue
            if row[j] == 0 and j < s:
                continue
            out += [VARS[j]] if row[j] == 1 and j < s else [str(row[j]), VARS[j]]
            out.append("+")
        out.append(",")
    return out[:-1]


def multiples_text(rows, j, k, cols=None) -> list[str]:
    out = []
    for row in rows:
        out += sum(([str(row[c]), VARS[c], "+"] for c in cols or range(j, k)), [])[:-1] + ["=", str(row[k]), ","]
    return out[:-1]


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_equations_oracle(k):
    task = Equations(vars=k)
    enc = task.encode(task.sample(150, Rng(k), "cpu"))
    for i in range(150):
        text = " ".join(words(task, enc.prompt[i].tolist()))
        M = [[int(t.split()[0]) for t in eq.split(" = ")[0].split(" + ")] + [int(eq.split(" = ")[1])]
             for eq in text.split(" , ")]
        assert feng_format(M, 0, k) == text.split()
        steps = steps_text(task, enc, i)
        assert len(steps) == 4 * k
        for j in range(k):  # Gauss-Jordan in Feng's order, by hand
            piv = next(r for r in range(j, k) if M[r][j])  # StopIteration: singular
            assert steps[4 * j] == [str(piv + 1)]  # the pivot row's number, from 1
            M[j], M[piv] = M[piv], M[j]
            M[j] = [x * INV[M[j][j]] % P for x in M[j]]
            sub = [[row[j] * y % P for y in M[j]] for row in M]  # the multiples of the pivot row
            M = [row if r == j else [(x - y) % P for x, y in zip(row, s)] for r, (row, s) in enumerate(zip(M, sub))]
            assert steps[4 * j + 1] == feng_format([M[j]], j + 1, k)  # the pivot equation alone
            assert steps[4 * j + 2] == multiples_text([s for r, s in enumerate(sub) if r != j], j, k)
            assert steps[4 * j + 3] == feng_format(M, j + 1, k)
        x = [M[r][k] for r in range(k)]
        assert words(task, enc.answer[i].tolist()) == [str(v) for v in x]
        assert all(M[r][:k] == [int(r == c) for c in range(k)] for r in range(k))


def column_format(M, pivots, k, rows=None) -> list[str]:
    """Rows `rows` (default all) of the system after len(pivots) rows in the column order: row
    i < s is its pivot variable, then the columns no row has pivoted on, ascending (`+ c var`);
    the other rows those columns."""
    rest, out = [c for c in range(k) if c not in pivots], []
    for i in rows if rows is not None else range(len(M)):
        row = M[i]
        terms = ([[VARS[pivots[i]]]] if i < len(pivots) else []) + [[str(row[c]), VARS[c]] for c in rest]
        out += sum((t + ["+"] for t in terms), [])[:-1] + ["=", str(row[k]), ","]
    return out[:-1]


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_equations_column_pivot_oracle(k):
    """pivot=column: rows stay in place; row j's pivot is its first nonzero column that no earlier
    row used. Checked step by step against Gauss-Jordan by hand, and against the row order's
    prompt and answer (the same systems, the same solutions)."""
    task, row_task = Equations(vars=k, pivot="column"), Equations(vars=k)
    prob = task.sample(150, Rng(k), "cpu")
    enc, row_enc = task.encode(prob), row_task.encode(prob)
    assert torch.equal(enc.prompt, row_enc.prompt) and torch.equal(enc.answer, row_enc.answer)
    moved = 0
    for i in range(150):
        M, pivots = prob.system[i].tolist(), []
        steps = steps_text(task, enc, i)
        assert len(steps) == 4 * k
        for j in range(k):
            col = next(c for c in range(k) if c not in pivots and M[j][c])  # StopIteration: singular
            moved += col != j
            assert steps[4 * j] == [VARS[col]]
            M[j] = [x * INV[M[j][col]] % P for x in M[j]]
            sub = [[row[col] * y % P for y in M[j]] for row in M]
            M = [row if r == j else [(x - y) % P for x, y in zip(row, s)] for r, (row, s) in enumerate(zip(M, sub))]
            rest = [c for c in range(k) if c not in pivots]  # the columns not pivoted before this row
            pivots.append(col)
            assert steps[4 * j + 1] == column_format(M, pivots, k, rows=[j])  # the pivot equation alone
            assert steps[4 * j + 2] == multiples_text([s for r, s in enumerate(sub) if r != j], j, k, cols=rest)
            assert steps[4 * j + 3] == column_format(M, pivots, k)
        x = [0] * k
        for r, c in enumerate(pivots):
            assert M[r][:k] == [int(c == cc) for cc in range(k)]
            x[c] = M[r][k]
        assert words(task, enc.answer[i].tolist()) == [str(v) for v in x]
    assert moved > 10  # some rows did need a column other than their own


def test_equations_solution_satisfies_system():
    task = Equations(vars=5)
    prob = task.sample(500, Rng(1), "cpu")
    A, b, x = prob.system[:, :, :5], prob.system[:, :, 5], task.solve(prob)
    assert torch.equal((A @ x.unsqueeze(-1)).squeeze(-1) % P, b)
    assert len({tuple(r) for r in x.tolist()}) > 400  # solutions spread out


# ----------------------------------------------------------------------------- circuits
def eval_gates(tokens: list[str]) -> list[int]:
    vals = {}
    for g in range(len(tokens) // 4):
        name, kind, a, b = tokens[4 * g:4 * g + 4]
        assert name == f"g{g}" and all(x == "_" or int(x[1:]) < g for x in (a, b))
        x, y = vals.get(a), vals.get(b)
        vals[name] = {"TRUE": lambda: 1, "FALSE": lambda: 0, "AND": lambda: x & y,
                      "OR": lambda: x | y, "NOT": lambda: 1 - x}[kind]()
    return list(vals.values())


@pytest.mark.parametrize("G, inputs, window", [(2, 1, 1), (6, 2, 4), (32, 4, 4), (64, 8, 64)])
def test_cvp_oracle(G, inputs, window):
    task = CVP(gates=G, inputs=inputs, window=window)
    enc = task.encode(task.sample(200, Rng(G), "cpu"))
    for i in range(200):
        w = words(task, enc.prompt[i].tolist())
        vals = eval_gates(w)
        assert [s[0] for s in steps_text(task, enc, i)] == [str(v) for v in vals]
        assert words(task, enc.answer[i].tolist()) == [str(vals[-1])]
        kinds = w[1::4]
        assert all(k in ("TRUE", "FALSE") for k in kinds[:inputs])
        assert all(k in ("AND", "OR", "NOT") for k in kinds[inputs:])
        assert all(g - int(a[1:]) <= window for g, a in enumerate(w[2::4]) if a != "_")
    ans = enc.answer[:, 0] - task.tok("0")
    if G >= 32:
        assert 0.2 < ans.float().mean() < 0.8
