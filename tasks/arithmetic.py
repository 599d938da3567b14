"""Modular arithmetic and circuits: iterated squaring and the circuit value problem (Li et al.
2024), arithmetic expressions and linear equations over F_11 (Feng et al. 2023).

Everything is integer torch ops on the device, vectorized over the batch (Python loops run
over steps, tree nodes or gates, never over examples); randomness comes only from `Rng`.
Each task has `parse(text)`, the inverse of decoding its prompt: `parse(decode(prompt))`
gives back the same problem.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tasks.base import IGNORE, PAD, Batch, Encoded, Knob, Problem, Task
from tasks.rng import Rng

F = 11  # the field of Feng et al.
PIVOTS = ("row", "column")  # Equations: the elimination order (eliminate)


def is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p ** 0.5) + 1))


def inverse_table(p: int, device) -> torch.Tensor:
    """(p,) x -> x^-1 mod p (0 -> 0, never used as a divisor)."""
    return torch.tensor([pow(x, p - 2, p) if x else 0 for x in range(p)], device=device)


def _lines(text) -> list[list[str]]:
    return [t.split() for t in ([text] if isinstance(text, str) else text)]


def _ids(task: Task, words: list[str]) -> list[int]:
    bad = [w for w in words if w not in task.vocab]
    if bad:
        raise ValueError(f"{task.name}: unknown token(s) {bad}")
    return [task.vocab.index(w) for w in words]


# ----------------------------------------------------------------------------- squaring
@dataclass
class SquaringProblem(Problem):
    p: torch.Tensor  # (n,) prime moduli
    r: torch.Tensor  # (n,) residues mod p


class Squaring(Task):
    """Iterated squaring (Li et al. 2024): r^(2^n) mod p, one squaring per trace step.
    The prompt is p, r, then n `^2` tokens (n in unary, so the prompt grows with the work);
    tagging supervises r^(2^i) at the i-th `^2` (p and r are copied at their positions).

    The modulus is drawn per example, uniformly from the primes in [p_min, p], and written
    in the prompt, as in Li et al. (input p, r, n). With one fixed p the task is a lookup
    of r (p entries, the same for every n) that any depth solves without CoT; with p drawn
    per example the answer is the n-fold composition of the squaring table g(p, x) = x^2 mod
    p (about 1,300 entries for the default 24 primes in [11, 107]): CoT is supervised on
    each application of g, a direct model must fit the composed table of (p, r) from one
    label per example. p_min = p gives the fixed-modulus variant. (At any bounded p and n
    every such task is a finite table; Li et al.'s serial claim is asymptotic in p.)

    Worked example (n = 3; this example's modulus is 107):
        input   107 5 ^2 ^2 ^2
        trace   25 | 90 | 75          (5^2, 5^4, 5^8 mod 107)
        answer  75
    """
    name = "squaring"
    family = "arithmetic"
    complexity = "TC0 at fixed p (a lookup table); believed serial as p grows (time-lock)"
    views = ("direct", "tagging", "cot", "latent", "pause")
    knobs = {"n": Knob(16, "number of squarings", low=1, high=1024),
             "p": Knob(107, "largest prime modulus", low=2, high=10007),
             "p_min": Knob(11, "moduli are the primes in [p_min, p], one drawn per example", low=2, high=10007)}

    def check_knobs(self):
        if not is_prime(self.k["p"]):
            raise ValueError(f"squaring: knob p={self.k['p']} is not prime; use a prime in [2, 10007], "
                             "e.g. 97, 101, 107")
        if self.k["p_min"] > self.k["p"]:
            raise ValueError(f"squaring: knob p_min={self.k['p_min']} must be <= p={self.k['p']}")

    def primes(self) -> list[int]:
        return [q for q in range(self.k["p_min"], self.k["p"] + 1) if is_prime(q)]

    def token_names(self):
        return ["^2"] + [str(i) for i in range(self.k["p"] + 1)]

    def sample(self, n: int, rng: Rng, device) -> SquaringProblem:
        primes = torch.tensor(self.primes(), device=device)
        p = primes[rng.integers(0, len(primes), (n,), device)]
        return SquaringProblem(p, rng.integers(0, p, (n,), device))

    def trace(self, problem: SquaringProblem) -> torch.Tensor:
        x, p, out = problem.r, problem.p, []
        for _ in range(self.k["n"]):
            x = x * x % p
            out.append(x)
        return torch.stack(out, dim=1)  # (n, S)

    def solve(self, problem: SquaringProblem) -> torch.Tensor:
        return self.trace(problem)[:, -1]

    def encode(self, problem: SquaringProblem) -> Encoded:
        off, r, p = self.tok("0"), problem.r.unsqueeze(1), problem.p.unsqueeze(1)
        vals = self.trace(problem) + off
        sq = torch.full((len(problem), self.k["n"]), self.tok("^2"), device=r.device)
        return Encoded(prompt=torch.cat([p + off, r + off, sq], 1), steps=vals.unsqueeze(-1),
                       answer=vals[:, -1:], tags=torch.cat([p + off, r + off, vals], 1))

    def parse(self, text) -> SquaringProblem:
        rows = _lines(text)
        for w in rows:
            if w[2:] != ["^2"] * self.k["n"] or len(w) < 2 or int(w[0]) not in self.primes():
                raise ValueError(f"squaring: expected 'p r' (p a prime in [{self.k['p_min']}, {self.k['p']}]) "
                                 f"and {self.k['n']} '^2', got {' '.join(w)!r}")
        return SquaringProblem(torch.tensor([int(w[0]) for w in rows]), torch.tensor([int(w[1]) for w in rows]))


# ----------------------------------------------------------------------------- expressions
EXPR_TOKENS = ["+", "-", "*", "/", "(", ")"] + [str(d) for d in range(F)]
ADD, SUB, MUL, DIV, OPEN, CLOSE, D0 = range(7, 14)  # their ids (after the 7 specials)
_NONE = -1  # no neighbouring token


@dataclass
class ExprProblem(Problem):
    expr: torch.Tensor  # (n, 4 * ops + 1) token ids of the expression, <pad> at the end


def op_table(device) -> torch.Tensor:
    """(4, F, F) a op b over F_11 for + - * /; x / 0 is 0 and never asked for."""
    a, b = torch.arange(F, device=device)[:, None], torch.arange(F, device=device)[None, :]
    inv = inverse_table(F, device)
    return torch.stack([(a + b) % F, (a - b) % F, a * b % F, a * inv[b] % F])


def sample_expressions(n: int, ops: int, rng: Rng, device, row_ops: torch.Tensor | None = None) -> torch.Tensor:
    """Feng et al.'s generator, batched: start from a uniform value; `ops` times, replace a
    uniformly chosen leaf x by `a op b` with value x, bracketed only where the neighbouring
    tokens need it. Their rejection loop is replaced by its exact conditional law: op weights
    (+, -, *, /) = (11, 11, 10, 10) if x != 0 else (121, 121, 121, 10); operands as theirs.
    Returns (n, 4 ops + 1) token ids. Node 0 is the root; step t makes nodes 2t+1, 2t+2.
    row_ops (n,) <= ops: row i stops after row_ops[i] steps (<pad> after its expression); the
    draws are the same either way, so a row's expression is the first row_ops[i] steps of its own."""
    N, T = 2 * ops + 1, 4 * ops + 1
    live = torch.ones(n, ops, dtype=torch.bool, device=device) if row_ops is None else \
        torch.arange(ops, device=device) < row_ops[:, None]  # (n, ops) step t expands row i
    ar, inv = torch.arange(n, device=device), inverse_table(F, device)
    full = lambda v: torch.full((n, N), v, dtype=torch.long, device=device)  # noqa: E731
    val, op, br, lt, rt = full(0), full(-1), full(0), full(_NONE), full(_NONE)
    val[:, 0] = rng.integers(0, F, (n,), device)
    leaves = torch.zeros(n, ops + 1, dtype=torch.long, device=device)
    expanded = torch.zeros(n, ops, dtype=torch.long, device=device)
    for t in range(ops):
        j = rng.integers(0, t + 1, (n,), device)
        v = leaves[ar, j]
        c1, c2 = 2 * t + 1, 2 * t + 2
        leaves[ar, j], leaves[:, t + 1], expanded[:, t] = c1, c2, v
        x, zero = val[ar, v], val[ar, v] == 0
        u = rng.integers(0, torch.where(zero, 373, 42), (n,), device)
        cut = torch.where(zero[:, None], torch.tensor([121, 242, 363], device=device),
                          torch.tensor([11, 22, 32], device=device))
        o = (u[:, None] >= cut).sum(1)
        r_any, r_nz, e_any, e_nz = (rng.integers(lo, F, (n,), device) for lo in (0, 1, 0, 1))
        a = torch.where((o >= 2) & ~zero, r_nz, torch.where((o == 3) & zero, 0, r_any))
        b = torch.stack([(x - a) % F, (a - x) % F,
                         torch.where(zero, torch.where(a == 0, e_any, 0), x * inv[a] % F),
                         torch.where(zero, e_nz, a * inv[x] % F)], 1)[ar, o]
        L, R = lt[ar, v], rt[ar, v]
        need = (L == DIV) | (((L == MUL) | (R == MUL) | (R == DIV) | (L == SUB)) & (o <= 1))
        if row_ops is not None:  # a row past its own size keeps its tree: no write lands on a node of it
            keep = ~live[:, t]
            leaves[ar, j] = torch.where(keep, v, c1)
            o = torch.where(keep, op[ar, v], o)
            need = torch.where(keep, br[ar, v].bool(), need)
        val[:, c1], val[:, c2], op[ar, v], br[ar, v] = a, b, o, need.long()
        lt[:, c1], rt[:, c1] = torch.where(need, OPEN, L), o + ADD
        lt[:, c2], rt[:, c2] = o + ADD, torch.where(need, CLOSE, R)
    size = torch.ones(n, N, dtype=torch.long, device=device)  # tokens of each node's span
    for t in reversed(range(ops)):
        v = expanded[:, t]
        grown = size[:, 2 * t + 1] + size[:, 2 * t + 2] + 1 + 2 * br[ar, v]
        size[ar, v] = torch.where(live[:, t], grown, size[ar, v])
    start = torch.zeros(n, N, dtype=torch.long, device=device)
    tok = torch.full((n, T + 1), PAD, dtype=torch.long, device=device)  # column T: a sink
    for t in range(ops):
        v, c1, c2, on = expanded[:, t], 2 * t + 1, 2 * t + 2, live[:, t]
        s0, b = start[ar, v], br[ar, v]
        start[:, c1] = s0 + b
        start[:, c2] = s0 + b + size[:, c1] + 1
        tok[ar, torch.where(on, s0 + b + size[:, c1], T)] = op[ar, v] + ADD
        tok[ar, torch.where(on & (b == 1), s0, T)] = OPEN
        tok[ar, torch.where(on & (b == 1), s0 + size[ar, v] - 1, T)] = CLOSE
    node = torch.cat([live.new_ones(n, 1), live.repeat_interleave(2, dim=1)], dim=1)  # (n, N) in the tree
    tok.scatter_(1, torch.where((op < 0) & node, start, T), val + D0)
    return tok[:, :T]


def reduce_once(tok: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Evaluate one operation of each row (n, T): inside the innermost parentheses that close
    first (or the whole expression), the leftmost * or /, else the leftmost + or -; a pair
    of parentheses left around a single number goes in the same step."""
    n, T = tok.shape
    pos = torch.arange(T, device=tok.device).expand(n, T)
    close = tok == CLOSE
    first_close = torch.where(close.any(1), close.int().argmax(1), T)[:, None]
    last_open = torch.where((tok == OPEN) & (pos < first_close), pos, -1).max(1).values[:, None]
    inside = (pos > last_open) & (pos < first_close)
    md, pm = inside & ((tok == MUL) | (tok == DIV)), inside & ((tok == ADD) | (tok == SUB))
    q = torch.where(md.any(1), md.int().argmax(1), pm.int().argmax(1))[:, None]
    a, o, b = (tok.gather(1, q + d) for d in (-1, 0, 1))
    value = table[o - ADD, a - D0, b - D0] + D0
    out = tok.scatter(1, q - 1, value)
    drop = (pos == q) | (pos == q + 1)
    drop |= ((last_open == q - 2) & (first_close == q + 2)) & ((pos == last_open) | (pos == first_close))
    out = torch.where(drop, PAD, out)
    return out.gather(1, torch.argsort(drop.to(torch.int8), dim=1, stable=True))


class Expr(Task):
    """Arithmetic expressions over F_11 (Feng et al. 2023): + - * / and parentheses, size =
    number of operators; `/` multiplies by the inverse mod 11 and no divisor is ever 0.
    CoT: the expression rewritten after each evaluated operation, joined by `=`, so the
    cot view reads exactly like Feng's `expr = e1 = ... = answer`.

    Evaluation order (deterministic, so the trace is a function of the input): work inside
    the innermost pair of parentheses whose `)` comes first, or on the whole expression if
    there is none; there evaluate the leftmost * or /, else the leftmost + or -; parentheses
    around a single number are dropped in the same step. Feng's own traces undo their random
    generation order instead (e.g. their `1 * 6 * 9 * 8 * 2 = 1 * 6 * 9 * 5 = ...`); ours is
    the order of a standard left-to-right evaluator. Instances are drawn as Feng's.

    Worked example (ops = 4):
        input   ( 7 - 6 ) * 3 / 10 - 4
        trace   1 * 3 / 10 - 4 | 3 / 10 - 4 | 8 - 4
        answer  4
        cot     ( 7 - 6 ) * 3 / 10 - 4 = 1 * 3 / 10 - 4 = 3 / 10 - 4 = 8 - 4 = 4 <eos>
    """
    name = "expr"
    family = "arithmetic"
    complexity = "NC1-complete"
    step_sep = "="
    knobs = {"ops": Knob(4, "number of operators (Feng et al.: 4, 5, 6)", low=1, high=64),
             "min_ops": Knob(0, "direct view: train on a uniform random number of operators in "
                                "[min_ops, ops] (0: all `ops`); evaluation is at `ops`", low=0, high=64)}

    def check_knobs(self):
        if self.k["min_ops"] > self.k["ops"]:
            raise ValueError(f"expr: min_ops={self.k['min_ops']} must be 0 (off) or in [1, ops] = [1, {self.k['ops']}]")

    def for_eval(self) -> "Expr":
        """The task at `ops` alone (itself without a size mix)."""
        return type(self)(**{**self.k, "min_ops": 0}) if self.k["min_ops"] else self

    def render(self, problem, view):
        if self.k["min_ops"] and view.name != "direct":
            raise ValueError(f"expr: min_ops (a mix of sizes) is for the direct view only, got {view.name}: "
                             "a mix's CoT steps would differ in number")
        return super().render(problem, view)

    def token_names(self):
        return list(EXPR_TOKENS)  # '=' is the separator special, shared

    def sample(self, n: int, rng: Rng, device) -> ExprProblem:
        ops, lo = self.k["ops"], self.k["min_ops"]
        row_ops = rng.integers(lo, ops + 1, (n,), device) if lo else None
        return ExprProblem(sample_expressions(n, ops, rng, device, row_ops))

    def states(self, problem: ExprProblem) -> list[torch.Tensor]:
        """The expression after 1, 2, ..., ops evaluated operations, each (n, 4 ops + 1)."""
        table, tok, out = op_table(problem.expr.device), problem.expr, []
        if self.k["min_ops"]:  # `1 + 1`, evaluated in place of a row already finished (a smaller expression)
            spare = torch.full_like(tok[:1], PAD)
            spare[0, :3] = torch.tensor([D0 + 1, ADD, D0 + 1])
        for _ in range(self.k["ops"]):
            if self.k["min_ops"]:  # a finished row stays as it is
                done = ((tok >= ADD) & (tok <= DIV)).sum(1, keepdim=True) == 0
                tok = torch.where(done, tok, reduce_once(torch.where(done, spare, tok), table))
            else:
                tok = reduce_once(tok, table)
            out.append(tok)
        return out

    def trace(self, problem: ExprProblem) -> torch.Tensor:
        W = 4 * (self.k["ops"] - 1) + 1
        st = self.states(problem)[:-1]
        if not st:
            return problem.expr.new_zeros(len(problem), 0, W)
        return torch.stack([s[:, :W] for s in st], 1)  # (n, ops - 1, W)

    def solve(self, problem: ExprProblem) -> torch.Tensor:
        return self.states(problem)[-1][:, 0] - D0  # (n,) value in F_11

    def encode(self, problem: ExprProblem) -> Encoded:
        return Encoded(prompt=problem.expr, steps=self.trace(problem),
                       answer=(self.solve(problem) + D0).unsqueeze(1))

    def parse(self, text) -> ExprProblem:
        T, rows, lo = 4 * self.k["ops"] + 1, [], self.k["min_ops"] or self.k["ops"]
        for w in _lines(text):
            if not lo <= sum(x in "+-*/" for x in w) <= self.k["ops"] or len(w) > T:
                want = self.k["ops"] if lo == self.k["ops"] else f"{lo} to {self.k['ops']}"
                raise ValueError(f"expr: expected {want} operators, got {' '.join(w)!r}")
            rows.append(_ids(self, w) + [PAD] * (T - len(w)))
        return ExprProblem(torch.tensor(rows))


# ----------------------------------------------------------------------------- equations
@dataclass
class EquationsProblem(Problem):
    system: torch.Tensor  # (n, k, k + 1) augmented matrix [A | b] over F_11, A invertible


def eliminate(M: torch.Tensor, pivot: str = "row") -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor,
                                                         list[torch.Tensor], list[torch.Tensor]]:
    """Gauss-Jordan over F_11 on (n, k, k+1), one row j = 0..k-1 at a time.
    pivot "row" (Feng's order): the pivot column is j; swap in the first row >= j with a nonzero
    entry there. pivot "column": rows stay in place; the pivot column is the first column not yet
    used with a nonzero entry in row j. Either way row j is scaled to 1 at the pivot column and
    that column cleared in every other row.
    Returns the k + 1 systems (before, after each row), the k subtracted multiples of the pivot
    row ((n, k, k+1) each, row j zero), which systems were invertible, the k pivot rows and the
    k pivot columns ((n,) each, counted from 0: the row swapped into place j, the column used)."""
    n, k, _ = M.shape
    inv, ar, out, subtracted = inverse_table(F, M.device), torch.arange(n, device=M.device), [M], []
    rows, cols = [], []
    ok = torch.ones(n, dtype=torch.bool, device=M.device)
    used = torch.zeros(n, k, dtype=torch.bool, device=M.device)
    for j in range(k):
        if pivot == "row":
            nz = M[:, j:, j] != 0
            ok &= nz.any(1)
            piv, col = j + nz.int().argmax(1), torch.full((n,), j, device=M.device)
            perm = torch.arange(k, device=M.device).repeat(n, 1)
            perm[ar, piv] = j
            perm[:, j] = piv
            M = M.gather(1, perm[:, :, None].expand_as(M))
        else:
            nz = (M[:, j, :k] != 0) & ~used
            ok &= nz.any(1)
            piv, col = torch.full((n,), j, device=M.device), nz.int().argmax(1)
        used[ar, col] = True
        rows.append(piv)
        cols.append(col)
        M = M.clone()
        M[:, j] = M[:, j] * inv[M[ar, j, col]][:, None] % F
        f = M[ar, :, col]  # (n, k): each row's entry in the pivot column
        f[:, j] = 0
        subtracted.append(f[:, :, None] * M[:, j:j + 1] % F)
        M = (M - subtracted[-1]) % F
        out.append(M)
    return out, subtracted, ok, rows, cols


def unused_columns(cols: list[torch.Tensor], n: int, k: int, device) -> torch.Tensor:
    """(n, k - len(cols)): the columns not in cols (pivot columns so far), ascending."""
    used = torch.zeros(n, k, dtype=torch.int8, device=device)
    for c in cols:
        used[torch.arange(n, device=device), c] = 1
    return torch.sort(used, dim=1, stable=True).indices[:, :k - len(cols)]


class Equations(Task):
    """Linear systems mod 11 with a unique solution (Feng et al. 2023): k equations in k
    variables a, b, c, ...; [A | b] is uniform over the systems with A invertible.

    Text format, Feng's: an equation is `c a + c b + c c = r`, equations are joined by `,`.
    For each column s = 1..k (`eliminate`) the trace has four steps: the pivot row's number
    (counted from 1 in the system before column s; s itself unless a zero forces a swap, and
    then rows s and that row trade places); the pivot equation scaled to 1; the multiples of
    it subtracted from the other rows (`q var + ..`, from column s on); the whole system
    after column s, in Feng's format (the first s columns are unit vectors, written as the
    bare variable on its own row, zeros omitted; the other columns as `coef var`, even 0 and
    1). Feng's CoT has only the fourth step: each of its numbers is x - f * y / pivot, four
    numbers mod 11 at once, which a 3-layer model did not learn at our short budget; here
    every number is one operation on two written numbers. The pivot's number is written
    because without it 3-layer models solved every system that needed no swap and about 13%
    of those that did (H100, 2026-11-24: 0.86 overall; about 17% of 3-variable systems need a
    swap). With it, the next reference run's seeds reached 0.09 to 0.89: not yet enough.
    Steps are joined by `;`; the answer is the values of a, b, c, ...

    Knob pivot=column keeps the rows in place: row s's pivot is the first of its variables that
    no earlier row pivoted on with a nonzero coefficient, and the first step of each row names
    that variable instead of a row number. A pivoted row is then its pivot variable followed by
    the variables no row has pivoted on, ascending; every other row lists those. A swap makes a
    model find "the row numbered p" by counting positions; here every number it needs is found
    by its row and the variable letter written next to it.

    Worked example (vars = 2):
        input   3 a + 5 b = 3 , 8 a + 5 b = 6
        trace   1 | a + 9 b = 1 | 8 a + 6 b = 8 | a + 9 b = 1 , 10 b = 9 | 2 | b = 2 | 9 b = 7 | a = 5 , b = 2
        answer  5 2
    """
    name = "equations"
    family = "arithmetic"
    complexity = "NC1-hard; in NC2 (Mod_p L)"
    step_sep = ";"
    knobs = {"vars": Knob(3, "number of variables and equations (Feng et al.: 3, 4, 5)", low=2, high=8),
             "pivot": Knob("row", "elimination order (see eliminate): row swaps in Feng's order, or rows in "
                           "place and the pivot column chosen per row", choices=PIVOTS)}

    def token_names(self):
        return [str(c) for c in range(F)] + list("abcdefgh"[: self.k["vars"]]) + ["+", ",", ";"]

    def sample(self, n: int, rng: Rng, device) -> EquationsProblem:
        k, parts, need = self.k["vars"], [], n
        while need > 0:  # about 10% of uniform matrices mod 11 are singular: resample those
            M = rng.integers(0, F, (need + need // 4 + 8, k, k + 1), device)
            M = M[eliminate(M)[2]][:need]  # either pivot order finds the same singular systems
            parts.append(M)
            need -= M.shape[0]
        return EquationsProblem(torch.cat(parts))

    def system_tokens(self, M: torch.Tensor, pivots: list[torch.Tensor], rows=None) -> torch.Tensor:
        """(n, k, k+1) after len(pivots) rows, whose pivot columns are `pivots` -> (n, width) token
        ids of the equations `rows` (default all), joined by `,`."""
        n, k, _ = M.shape
        c0, var, plus, comma = self.tok("0"), self.tok("a"), self.tok("+"), self.tok(",")
        const = lambda t: torch.full((n,), t, dtype=torch.long, device=M.device)  # noqa: E731
        rest, s = unused_columns(pivots, n, k, M.device), len(pivots)
        rows, cols = list(range(k)) if rows is None else rows, []
        for r, i in enumerate(rows):
            terms = [[var + pivots[i]]] if i < s else []
            terms += [[M[:, i].gather(1, rest[:, t:t + 1])[:, 0] + c0, var + rest[:, t]] for t in range(k - s)]
            for m, term in enumerate(terms):
                cols += ([const(plus)] if m else []) + term
            cols += [const(self.tok("=")), M[:, i, k] + c0] + ([const(comma)] if r < len(rows) - 1 else [])
        return torch.stack(cols, 1)

    def states(self, problem: EquationsProblem) -> list[torch.Tensor]:
        return self.elimination(problem)[0]

    def multiple_tokens(self, Q: torch.Tensor, pivots: list[torch.Tensor]) -> torch.Tensor:
        """The multiples of pivot row s - 1 = len(pivots) subtracted from every other row, over the
        columns not among `pivots` (the earlier rows' pivot columns), ascending:
        `q var + q var .. = q`, joined by `,`."""
        n, k, _ = Q.shape
        c0, var, s = self.tok("0"), self.tok("a"), len(pivots) + 1
        const = lambda t: torch.full((n,), t, dtype=torch.long, device=Q.device)  # noqa: E731
        rest = unused_columns(pivots, n, k, Q.device)
        rows, cols = [i for i in range(k) if i != s - 1], []
        for r, i in enumerate(rows):
            for t in range(k - s + 1):
                cols += ([const(self.tok("+"))] if t else []) + [Q[:, i].gather(1, rest[:, t:t + 1])[:, 0] + c0,
                                                               var + rest[:, t]]
            cols += [const(self.tok("=")), Q[:, i, k] + c0] + ([const(self.tok(","))] if r < len(rows) - 1 else [])
        return torch.stack(cols, 1)

    def elimination(self, problem: EquationsProblem) -> tuple:
        return eliminate(problem.system, self.k["pivot"])

    def trace(self, problem: EquationsProblem, elim: tuple | None = None) -> torch.Tensor:
        """(n, 4k, W): for each row s = 1..k, four steps: the pivot row's number (from 1; with
        pivot=column, the pivot variable), the pivot equation scaled to 1 (row s - 1 of the system
        after it), the multiples of it subtracted from the other rows, the whole system after it.
        Every number written is then one operation on two numbers already written (x / pivot,
        factor * x, x - multiple). `elim`: this problem's self.elimination, if already computed."""
        states, subtracted, _, swaps, cols = elim or self.elimination(problem)
        first = [r + 1 + self.tok("0") for r in swaps] if self.k["pivot"] == "row" else [c + self.tok("a") for c in cols]
        rows = []
        for s in range(1, len(states)):
            rows += [first[s - 1][:, None], self.system_tokens(states[s], cols[:s], [s - 1]),
                     self.multiple_tokens(subtracted[s - 1], cols[:s - 1]), self.system_tokens(states[s], cols[:s])]
        W = max(r.shape[1] for r in rows)
        return torch.stack([torch.nn.functional.pad(r, (0, W - r.shape[1]), value=PAD) for r in rows], 1)

    def render(self, problem: EquationsProblem, view) -> Batch:
        """Every row has the same layout: drop the columns of padding that every row ends with."""
        b = super().render(problem, view)
        used = int((b.targets != IGNORE).any(0).nonzero().max()) + 1
        return Batch(b.inputs[:, :used], b.targets[:, :used], b.answer_mask[:, :used], b.latent_mask[:, :used],
                     b.prompt_len, b.meta)

    def solve(self, problem: EquationsProblem, elim: tuple | None = None) -> torch.Tensor:
        """(n, k): the values of a, b, c, ... (row j of the final system holds pivot column j's)."""
        states, _, _, _, cols = elim or self.elimination(problem)
        x = torch.empty_like(states[-1][:, :, -1])
        x.scatter_(1, torch.stack(cols, 1), states[-1][:, :, -1])
        return x

    def encode(self, problem: EquationsProblem) -> Encoded:
        elim = self.elimination(problem)  # once for the trace and the answer
        return Encoded(prompt=self.system_tokens(problem.system, []), steps=self.trace(problem, elim),
                       answer=self.solve(problem, elim) + self.tok("0"))

    def parse(self, text) -> EquationsProblem:
        k, out = self.k["vars"], []
        for w in _lines(text):
            eqs = [eq.partition(" = ") for eq in " ".join(w).split(" , ")]
            terms = [[t.split() for t in lhs.split(" + ")] for lhs, _, _ in eqs]
            if len(eqs) != k or any(len(ts) != k or [t[1] for t in ts] != list("abcdefgh"[:k]) for ts in terms):
                raise ValueError(f"equations: cannot parse {' '.join(w)!r} as {k} equations 'c a + c b ... = r'")
            out.append([[int(t[0]) for t in ts] + [int(rhs)] for ts, (_, _, rhs) in zip(terms, eqs)])
        return EquationsProblem(torch.tensor(out))


# ----------------------------------------------------------------------------- circuits
GATES = ["TRUE", "FALSE", "AND", "OR", "NOT"]
TRUE, FALSE, AND, OR, NOT = range(5)


@dataclass
class CircuitProblem(Problem):
    kind: torch.Tensor  # (n, G) gate type, index into GATES
    arg1: torch.Tensor  # (n, G) first argument (an earlier gate), -1 for constants
    arg2: torch.Tensor  # (n, G) second argument, -1 for constants and NOT


def eval_circuit(p: CircuitProblem) -> torch.Tensor:
    """(n, G) gate values, gate by gate."""
    n, G = p.kind.shape
    val = torch.zeros(n, G, dtype=torch.long, device=p.kind.device)
    for i in range(G):
        x = val.gather(1, p.arg1[:, i:i + 1].clamp(min=0))[:, 0]
        y = val.gather(1, p.arg2[:, i:i + 1].clamp(min=0))[:, 0]
        out = torch.stack([torch.ones_like(x), torch.zeros_like(x), x & y, x | y, 1 - x], 1)  # GATES order
        val[:, i] = out.gather(1, p.kind[:, i:i + 1])[:, 0]
    return val


class CVP(Task):
    """Circuit value problem (Li et al. 2024). Gates are listed in order, 4 tokens each:
    `g<i> TYPE arg1 arg2`; the first `inputs` gates are TRUE/FALSE constants, the rest AND,
    OR, NOT (uniform) of earlier gates; `_` marks a missing argument. arg1 is drawn from the
    previous `window` gates (so the circuit's depth grows with its size; with uniform
    arguments it would be only about log size), arg2 from all earlier gates.
    Trace: the value of every gate in order; answer: the last gate's value.

    Worked example (gates = 5, inputs = 2):
        input   g0 TRUE _ _ g1 FALSE _ _ g2 OR g1 g0 g3 NOT g2 _ g4 AND g3 g0
        trace   1 | 0 | 1 | 0 | 0
        answer  0
    """
    name = "cvp"
    family = "arithmetic"
    complexity = "P-complete"
    knobs = {"gates": Knob(32, "number of gates, constants included", low=2, high=1024),
             "inputs": Knob(4, "number of constant gates listed first", low=1, high=1023),
             "window": Knob(4, "first argument drawn from the previous `window` gates", low=1, high=1024)}

    def check_knobs(self):
        if self.k["inputs"] >= self.k["gates"]:
            raise ValueError(f"cvp: knob inputs={self.k['inputs']} must be in [1, gates - 1 = {self.k['gates'] - 1}]")

    def token_names(self):
        return GATES + ["_", "0", "1"] + [f"g{i}" for i in range(self.k["gates"])]

    def sample(self, n: int, rng: Rng, device) -> CircuitProblem:
        G, I, w = self.k["gates"], self.k["inputs"], self.k["window"]
        i = torch.arange(I, G, device=device)
        kind = torch.cat([rng.integers(TRUE, FALSE + 1, (n, I), device),
                          rng.integers(AND, NOT + 1, (n, G - I), device)], 1)
        a = i - 1 - rng.integers(0, i.clamp(max=w), (n, G - I), device)
        b = rng.integers(0, i, (n, G - I), device)
        b = torch.where(kind[:, I:] == NOT, -1, b)
        none = torch.full((n, I), -1, dtype=torch.long, device=device)
        return CircuitProblem(kind, torch.cat([none, a], 1), torch.cat([none, b], 1))

    def trace(self, problem: CircuitProblem) -> torch.Tensor:
        return eval_circuit(problem)

    def solve(self, problem: CircuitProblem) -> torch.Tensor:
        return eval_circuit(problem)[:, -1]

    def encode(self, problem: CircuitProblem) -> Encoded:
        n, G = problem.kind.shape
        g0, none, v0 = self.tok("g0"), self.tok("_"), self.tok("0")
        ids = torch.arange(G, device=problem.kind.device).expand(n, G) + g0
        arg = lambda a: torch.where(a < 0, none, a + g0)  # noqa: E731
        prompt = torch.stack([ids, problem.kind + self.tok("TRUE"), arg(problem.arg1), arg(problem.arg2)], 2)
        vals = self.trace(problem) + v0
        return Encoded(prompt=prompt.reshape(n, 4 * G), steps=vals.unsqueeze(-1), answer=vals[:, -1:])

    def parse(self, text) -> CircuitProblem:
        G, kinds, a1, a2 = self.k["gates"], [], [], []
        arg = lambda w: -1 if w == "_" else int(w[1:])  # noqa: E731
        for w in _lines(text):
            if len(w) != 4 * G or w[0::4] != [f"g{i}" for i in range(G)]:
                raise ValueError(f"cvp: expected {G} gates 'g<i> TYPE arg arg', got {' '.join(w)!r}")
            kinds.append([GATES.index(t) for t in w[1::4]])
            a1.append([arg(t) for t in w[2::4]])
            a2.append([arg(t) for t in w[3::4]])
        return CircuitProblem(torch.tensor(kinds), torch.tensor(a1), torch.tensor(a2))


TASKS = [Squaring, Expr, Equations, CVP]
