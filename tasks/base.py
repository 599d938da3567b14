"""The task contract: knobs, Problem, views, Batch and the one generic renderer.

A task samples a Problem (tensors, on the device), knows its exact answer (`solve`) and
its reasoning trace (`trace`), and `encode`s both into token parts. Every view is built
from those parts by `render`, so no-CoT, tagging, discrete CoT and continuous CoT are
views of one generator, never separate code paths.

Sequence layouts (one row; `=` is the separator token, pads are <pad>):
    direct   prompt..  =  answer..  <eos>
    cot      prompt..  =  step1 [sep] step2 .. stepS  =  answer..  <eos>
    latent   prompt..  =  <bot> <lat>*(s*c) <eot>  step(s+1) .. stepS  =  answer.. <eos>
    tagging  prompt..                (a target at every prompt position: the task's tags)
The prompt is left-padded and the rest right-padded, so every row's prompt ends at the
same position: batched CoT decoding starts there for all rows at once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from tasks.rng import Rng

SPECIALS = ["<pad>", "<eos>", "=", "<bot>", "<eot>", "<lat>", "<pause>"]
PAD, EOS, SEP, BOT, EOT, LAT, PAUSE = range(len(SPECIALS))
IGNORE = -100  # target value of positions that are not scored

# role of each position in a rendered sequence
R_PAD, R_PROMPT, R_CONTROL, R_TRACE, R_LATENT, R_ANSWER, R_EOS = range(7)


# ----------------------------------------------------------------------------- views
@dataclass(frozen=True)
class Direct:
    """No CoT: the answer right after the prompt."""
    name: ClassVar[str] = "direct"


@dataclass(frozen=True)
class Tagging:
    """A label at every prompt position (e.g. every prefix product)."""
    name: ClassVar[str] = "tagging"


@dataclass(frozen=True)
class CoT:
    """Discrete chain of thought: the whole trace, then the answer."""
    name: ClassVar[str] = "cot"


@dataclass(frozen=True)
class Latent:
    """Continuous thought (Coconut): the first `stage` trace steps become
    stage * thoughts_per_step latent positions; `pause` puts learned filler tokens there.
    pause with 0 per step (`pause:Sx0`) is stepwise internalization (Deng et al. 2024): the first
    `stage` steps are dropped with nothing in their place, so a stage with every step dropped
    renders exactly as the direct view."""
    stage: int = 0
    thoughts_per_step: int = 1
    pause: bool = False
    name: ClassVar[str] = "latent"

    def __post_init__(self):
        if self.stage < 0 or self.thoughts_per_step < (0 if self.pause else 1):
            raise ValueError(f"Latent view needs stage >= 0 and thoughts_per_step >= 1 (>= 0 for pause tokens: "
                             f"pause:Sx0 drops steps), got {self}")

    @property
    def drops(self) -> bool:
        """pause:Sx0: removed steps leave nothing behind (no <bot>, fillers or <eot>)."""
        return self.thoughts_per_step == 0


VIEW_NAMES = ("direct", "tagging", "cot", "latent", "pause")


def parse_view(text: str):
    """'direct' | 'tagging' | 'cot' | 'latent[:STAGE[xC]]' | 'pause[:STAGE[xC]]'."""
    head, _, rest = text.partition(":")
    if head == "direct" and not rest:
        return Direct()
    if head == "tagging" and not rest:
        return Tagging()
    if head == "cot" and not rest:
        return CoT()
    valid = "valid: direct, tagging, cot, latent:STAGExC, pause:STAGExC (pause:STAGEx0 drops steps)"
    if head in ("latent", "pause"):
        stage, _, c = rest.partition("x")
        try:
            stage, c = int(stage or 99), int(c or 1)
        except ValueError:
            pass
        else:
            try:
                return Latent(stage, c, pause=head == "pause")
            except ValueError as err:
                raise ValueError(f"bad view {text!r}: {err}; {valid}") from None
    raise ValueError(f"unknown view {text!r}; {valid}")


def view_str(view) -> str:
    if isinstance(view, Latent):
        return f"{'pause' if view.pause else 'latent'}:{view.stage}x{view.thoughts_per_step}"
    return view.name


# ----------------------------------------------------------------------------- data
@dataclass
class Problem:
    """n sampled instances; subclasses add their tensors (leading dim n)."""

    def __len__(self) -> int:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                return v.shape[0]
        raise TypeError("a Problem needs at least one tensor field")


@dataclass
class Encoded:
    """A task's token parts (ids in the task's vocabulary, <pad> where a row is shorter).
    prompt (n, P); steps (n, S, W) the trace, one step per row of W tokens; answer (n, A);
    tags (n, P) optional per-position labels for the tagging view."""
    prompt: torch.Tensor
    steps: torch.Tensor
    answer: torch.Tensor
    tags: torch.Tensor | None = None


@dataclass
class Batch:
    inputs: torch.Tensor        # (B, T) long, or (B, T, d) float for regression
    targets: torch.Tensor       # (B, T) long; IGNORE where not scored
    answer_mask: torch.Tensor   # (B, T) bool: targets that belong to the answer
    latent_mask: torch.Tensor   # (B, T) bool: positions where continuous thoughts go
    prompt_len: int             # decoding starts after inputs[:, :prompt_len] (prompt, '=' and,
                                # in latent views, <bot> thoughts <eot>)
    meta: dict[str, Any] = field(default_factory=dict)  # answer (B, A), pause flag, ...


# ----------------------------------------------------------------------------- knobs
@dataclass(frozen=True)
class Knob:
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    def check(self, task: str, name: str, value):
        kind = type(self.default)
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"{task}: knob {name} must be {kind.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{task}: knob {name}={value!r} is not one of {list(self.choices)}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{task}: knob {name}={value!r} is outside [{self.low}, {self.high}]")
        return value


def _compact(tokens: torch.Tensor, roles: torch.Tensor, left: bool):
    """Move <pad> positions to one end of each row, keeping the order of the rest."""
    is_pad = roles == R_PAD
    key = (~is_pad if left else is_pad).to(torch.int8)
    order = torch.argsort(key, dim=1, stable=True)
    return tokens.gather(1, order), roles.gather(1, order)


class Task:
    """Base class. Subclasses set the class attributes, define `knobs`, and implement
    `sample`, `solve`, `trace`, `encode` and `token_names`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    complexity: ClassVar[str] = ""
    knobs: ClassVar[dict[str, Knob]] = {}
    views: ClassVar[tuple[str, ...]] = ("direct", "cot", "latent", "pause")
    step_sep: ClassVar[str | None] = None  # token written between trace steps, if any

    def __init__(self, **knobs):
        unknown = sorted(set(knobs) - set(self.knobs))
        if unknown:
            raise ValueError(f"{self.name}: unknown knob(s) {unknown}; valid knobs: {sorted(self.knobs)}")
        self.k = {n: kb.default for n, kb in self.knobs.items()}
        for n, v in knobs.items():
            self.k[n] = self.knobs[n].check(self.name, n, v)
        self.check_knobs()

    def check_knobs(self):
        """Cross-knob checks (impossible combinations); raise ValueError."""

    def for_eval(self) -> "Task":
        """The task evaluation samples from (a held-out split, or full words after a curriculum)."""
        return self

    def train_batch(self, n: int, rng: Rng, device, view, step: int) -> "Batch":
        """n training rows for optimizer step `step` (the trainer's data stream calls this; a
        task with a step-scheduled curriculum overrides it, keeping the shapes fixed)."""
        return self.render(self.sample(n, rng, device), view)

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.k.items())})"

    # -- vocabulary: specials first, then the task's own tokens
    def token_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def vocab(self) -> list[str]:
        if not hasattr(self, "_vocab"):
            self._vocab = SPECIALS + self.token_names()
        return self._vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tok(self, name: str) -> int:
        return self.vocab.index(name)

    def decode(self, ids) -> str:
        return " ".join(self.vocab[i] for i in ids if i != PAD)

    # -- the contract
    def sample(self, n: int, rng: Rng, device) -> Problem:
        raise NotImplementedError

    def solve(self, problem: Problem) -> torch.Tensor:
        raise NotImplementedError

    def trace(self, problem: Problem) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, problem: Problem) -> Encoded:
        raise NotImplementedError

    def render(self, problem: Problem, view) -> Batch:
        if view.name not in self.views and not (view.name == "latent" and "latent" in self.views):
            raise ValueError(f"{self.name} has no {view_str(view)} view; valid: {list(self.views)}")
        enc = self.encode(problem)
        if isinstance(view, Tagging):
            return self._render_tagging(enc)
        return self._render_seq(enc, view)

    def _render_tagging(self, enc: Encoded) -> Batch:
        if enc.tags is None:
            raise ValueError(f"{self.name} has no per-position tags")
        inputs, tags = enc.prompt, enc.tags
        targets = torch.where(inputs == PAD, IGNORE, tags)
        answer_mask = torch.zeros_like(inputs, dtype=torch.bool)
        answer_mask[:, -1] = True
        return Batch(inputs, targets, answer_mask, torch.zeros_like(answer_mask),
                     prompt_len=inputs.shape[1], meta={"answer": tags[:, -1:]})

    def _render_seq(self, enc: Encoded, view) -> Batch:
        n, dev = enc.prompt.shape[0], enc.prompt.device
        full = lambda width, value: torch.full((n, width), value, dtype=torch.long, device=dev)  # noqa: E731
        prompt, p_role = _compact(enc.prompt, torch.where(enc.prompt == PAD, R_PAD, R_PROMPT), left=True)
        parts = [(prompt, p_role), (full(1, SEP), full(1, R_CONTROL))]
        steps = enc.steps
        n_steps = steps.shape[1]
        thinks = isinstance(view, Latent) and not view.drops  # <bot> thoughts <eot>, then '=' always
        if isinstance(view, Latent):
            done = min(view.stage, n_steps)
            if thinks:
                n_lat = done * view.thoughts_per_step
                filler = PAUSE if view.pause else LAT
                parts += [(full(1, BOT), full(1, R_CONTROL)),
                          (full(n_lat, filler), full(n_lat, R_CONTROL if view.pause else R_LATENT)),
                          (full(1, EOT), full(1, R_CONTROL))]
            steps = steps[:, done:]
        if thinks or (not isinstance(view, Direct) and steps.shape[1] > 0):
            # latent views always write '=' before the answer, even with every step latent
            if self.step_sep is not None and steps.shape[1] > 0:  # sep after every step but the last
                sep = full(steps.shape[1], self.tok(self.step_sep)).unsqueeze(-1)
                sep[:, -1] = PAD
                steps = torch.cat([steps, sep], dim=2)
            flat = steps.reshape(n, -1)
            parts += [(flat, torch.where(flat == PAD, R_PAD, R_TRACE)), (full(1, SEP), full(1, R_TRACE))]
        ans = enc.answer
        parts += [(ans, torch.where(ans == PAD, R_PAD, R_ANSWER)), (full(1, EOS), full(1, R_EOS))]
        head = prompt.shape[1] + 1
        if thinks:  # <bot>, the thoughts and <eot> are given, not generated
            head += 2 + min(view.stage, n_steps) * view.thoughts_per_step
        tail_tok = torch.cat([p[0] for p in parts[2:]], dim=1)
        tail_role = torch.cat([p[1] for p in parts[2:]], dim=1)
        tail_tok, tail_role = _compact(tail_tok, tail_role, left=False)
        seq = torch.cat([prompt, parts[1][0], tail_tok], dim=1)
        role = torch.cat([p_role, parts[1][1], tail_role], dim=1)
        # next-token prediction: position t predicts seq[t + 1]
        inputs, nxt, nrole = seq[:, :-1], seq[:, 1:], role[:, 1:]
        scored = (nrole == R_TRACE) | (nrole == R_ANSWER) | (nrole == R_EOS)
        targets = torch.where(scored, nxt, IGNORE)
        return Batch(inputs, targets, answer_mask=nrole == R_ANSWER,
                     latent_mask=role[:, :-1] == R_LATENT, prompt_len=head,
                     meta={"answer": enc.answer, "view": view_str(view)})

    # -- for `depthbench show`
    def describe(self, problem: Problem, i: int = 0) -> dict[str, str]:
        enc = self.encode(problem)
        steps = [self.decode(s.tolist()) for s in enc.steps[i]]
        return {"input": self.decode(enc.prompt[i].tolist()),
                "trace": " | ".join(s for s in steps if s),
                "answer": self.decode(enc.answer[i].tolist())}


def read_answer(tokens: torch.Tensor) -> list[list[int]]:
    """The answer a model wrote: tokens after the last '=' and before the first <eos>."""
    out = []
    for row in tokens.tolist():
        if EOS in row:
            row = row[: row.index(EOS)]
        cut = len(row) - 1 - row[::-1].index(SEP) if SEP in row else -1
        out.append(row[cut + 1:])
    return out
