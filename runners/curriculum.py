"""The Coconut curriculum (Hao et al. 2024) for latent:SxC and pause:SxC runs (train.latent_curriculum).

Stage s renders the view Latent(s, C): the first s trace steps become s x C thoughts (or pause
tokens), the remaining steps stay discrete CoT. Training goes through stages 0..S in turn, S the
run's view stage capped at the task's number of trace steps:
- each stage before the last trains `stage_steps` steps (0: steps // (S + 1)); the last trains
  the rest, so the final stage can be given more (Coconut trains its last stage longest);
  `stage0_steps` gives stage 0, the discrete CoT, its own length (so the CoT can be learned
  before any step is dropped); the stages after it then share what is left;
- with probability `stage_mix` an example is drawn at a uniformly random earlier stage (per
  example, as Coconut's `uniform_prob`), from the run's own stream;
- with `reset_optimizer` each stage starts a fresh AdamW: zero moments and its own warm-up and
  cosine over the stage's steps (Coconut re-creates its optimizer per stage); without it one
  AdamW and one schedule run through all stages.
Every stage is padded on the right to the longest stage (more pads change nothing for a causal
model), so one shape serves every batch, and the passes of the latent objective are fixed per
stage (rows drawn at earlier stages have their thoughts inside them): on a GPU the step stays a
CUDA graph, recaptured after one eager step when the stage changes the passes or the optimizer.
Stage 0 is trained once for continuous thought and pause tokens of the same runs (runners/stage0.py).
Evaluation is at the final stage, the run's own view. At the end of every earlier stage the runs
are also evaluated on that stage's view (fresh held-out examples: eval_size, 512 at most), and a
row {"step", "stage", "answer_acc", "token_acc", "eval_loss"} goes to each run's metrics.jsonl:
where a curriculum stops learning shows there (Coconut reports accuracy per stage).
"""
from __future__ import annotations

import bisect
import functools
import time

import torch
import torch.nn.functional as F

from models.latent import latent_span
from runners import stage0
from runners.records import append_metrics
from runners.train import DataStream, StackedAdamW, Trainer
from tasks.base import IGNORE, PAD, Batch, Latent
from tasks.rng import Rng


def stage_starts(steps: int, n_stages: int, stage_steps: int = 0, stage0_steps: int = 0) -> list[int]:
    """First step of each stage: stage 0 gets stage0_steps, stages 1..n-2 stage_steps (either 0: an
    even share of the steps, after stage 0's where it is set), the last the rest."""
    if stage0_steps and n_stages > 1:
        per = stage_steps or (steps - stage0_steps) // (n_stages - 1)
        first = stage0_steps
    else:
        per = first = stage_steps or steps // n_stages
    if n_stages > 1 and (min(per, first) < 1 or first + per * (n_stages - 2) >= steps):
        raise ValueError(f"train.steps={steps} leaves no steps for the last of {n_stages} curriculum stages "
                         f"(stage_steps={stage_steps}, stage0_steps={stage0_steps}); raise steps or lower "
                         f"stage_steps or stage0_steps")
    return [0] + [first + s * per for s in range(n_stages - 1)]


def stage0_metrics(rows: list[dict]) -> dict:
    """A run's `stage0_answer_acc`: answer accuracy at the end of stage 0, the discrete CoT, before
    any step is dropped (from its stage rows; {} without one). Kept in final.json, so a result CSV
    tells a curriculum whose CoT was never learned from one whose later stages failed."""
    first = next((r for r in rows if r.get("stage") == 0 and "answer_acc" in r), None)
    return {"stage0_answer_acc": first["answer_acc"]} if first else {}


def stage_at(starts: list[int], step: int) -> int:
    return bisect.bisect_right(starts, step) - 1


def stage_views(view: Latent, final: int) -> list[Latent]:
    return [Latent(s, view.thoughts_per_step, view.pause) for s in range(final + 1)]


def final_stage(tasks, view: Latent, device) -> int:
    """The view's stage capped at the tasks' number of trace steps (later stages render alike)."""
    n_steps = max(t.encode(t.sample(2, Rng(0), device)).steps.shape[1] for t in tasks)
    return min(view.stage, n_steps)


def pad_right(batch: Batch, T: int) -> Batch:
    """The batch right-padded to length T: <pad> inputs, unscored targets (changes nothing before)."""
    extra = T - batch.inputs.shape[1]
    if extra <= 0:
        return batch
    pad = lambda t, v: F.pad(t, (0, extra), value=v)  # noqa: E731
    return Batch(pad(batch.inputs, PAD), pad(batch.targets, IGNORE), pad(batch.answer_mask, False),
                 pad(batch.latent_mask, False), batch.prompt_len, batch.meta)


def next_from(stage_target: str) -> int | None:
    """The first stage scored by one node of the next step (None: every stage scores the rest)."""
    return {"rest": None, "next": 0, "next_after_cot": 1}[stage_target]


def next_step_picks(task, problem, rng: Rng) -> torch.Tensor:
    """(n, S) for stage_target "next": per example and trace step, one of the step's tokens drawn
    uniformly (with the frontier trace: a random node at that BFS distance); IGNORE where a step
    is empty."""
    steps = task.encode(problem).steps  # (n, S, W) token ids, PAD where a step is shorter
    keys = torch.where(steps != PAD, rng.random(steps.shape, steps.device), -1.0)
    pick = steps.gather(2, keys.argmax(2, keepdim=True))[..., 0]
    return torch.where(pick != PAD, pick, IGNORE)


def next_step_hits(task, problem, top: torch.Tensor, stage: int) -> torch.Tensor:
    """(B,) bool for one run: is `top` (B,), the model's top token where stage_target "next"
    scores, one of the tokens of trace step `stage` (0-based: the step after the stage's thoughts)."""
    steps = task.encode(problem).steps[:, stage]  # (B, W)
    return ((steps == top[:, None]) & (steps != PAD)).any(1)


def chunk_stages(starts, chunk, batch_size, stage_mix, mix_rng: Rng, device, start: int) -> torch.Tensor:
    """(chunk * B,) the stage of each example of the chunk of steps start .. start + chunk - 1."""
    base = torch.tensor([stage_at(starts, start + i) for i in range(chunk)], device=device)
    base = base.repeat_interleave(batch_size)
    n = base.shape[0]
    earlier = mix_rng.random((n,), device) < stage_mix
    pick = mix_rng.integers(0, 1 << 30, (n,), device) % base.clamp(min=1)  # uniform in [0, base)
    return torch.where(earlier & (base > 0), pick, base)


def curriculum_chunk(tasks, views, starts, rngs, mix_rngs, pick_rngs, first_next, batch_size, chunk, seq_len,
                     stage_mix, device, start):
    """(inputs, targets), each (chunk, m, B, T): the steps start .. start + chunk - 1, each example at
    its step's stage (or, with probability stage_mix, an earlier one), right-padded to seq_len."""
    n, xs, ys = chunk * batch_size, [], []
    for j, (task, rng, mix_rng) in enumerate(zip(tasks, rngs, mix_rngs)):
        problem = task.sample(n, rng, device)
        stage = chunk_stages(starts, chunk, batch_size, stage_mix, mix_rng, device, start)
        x = torch.full((n, seq_len), PAD, dtype=torch.long, device=device)
        y = torch.full((n, seq_len), IGNORE, dtype=torch.long, device=device)
        picks = None if pick_rngs is None else next_step_picks(task, problem, pick_rngs[j])
        for s in stage.unique().tolist():
            b, rows = task.render(problem, views[s]), stage == s
            x[rows, :b.inputs.shape[1]] = b.inputs[rows]
            if picks is not None and first_next <= s < len(views) - 1:  # one node, nothing after
                y[rows, b.prompt_len - 2] = picks[rows, s]
            else:
                y[rows, :b.targets.shape[1]] = b.targets[rows]
        xs.append(x.view(chunk, batch_size, seq_len))
        ys.append(y.view(chunk, batch_size, seq_len))
    return torch.stack(xs, 1), torch.stack(ys, 1)


class CurriculumStream(DataStream):
    """Per-run training batches, data_chunk(B, T) steps at a time, from curriculum_chunk; with
    DataStream's prefetch thread (on by default on CUDA), which makes the same chunks in the same
    order from the same Rngs, so the batches do not depend on it. pick_rngs (stage_target "next" /
    "next_after_cot"): one per run, draws the scored node for the stages from first_next on."""

    def __init__(self, tasks, views, starts, rngs, mix_rngs, batch_size, seq_len, stage_mix, device, pick_rngs=None,
                 first_next=0, steps=None, prefetch=None):
        super().__init__(tasks, views[-1], rngs, batch_size, seq_len, device, steps=steps, prefetch=prefetch)
        # a partial of a module-level function: the thread holds no reference to the stream
        self.make = functools.partial(curriculum_chunk, tasks, views, starts, rngs, mix_rngs, pick_rngs, first_next,
                                      batch_size, self.chunk, seq_len, stage_mix, device)


class CurriculumTrainer(Trainer):
    """Trainer whose data follows the curriculum stages and whose optimizer may reset per stage."""

    def sequence_length(self) -> int:
        if not isinstance(self.view, Latent):
            raise ValueError(f"train.latent_curriculum needs a latent:SxC or pause:SxC view, got {self.view}")
        self.final_stage = final_stage(self.tasks, self.view, self.device)
        self.views = stage_views(self.view, self.final_stage)
        return max(t.render(t.sample(2, Rng(0), self.device), v).inputs.shape[1]
                   for t in self.tasks for v in self.views)

    def __init__(self, runs, device):
        super().__init__(runs, device)
        tc = runs[0].train
        self.first_next = next_from(tc.stage_target)
        self.starts = stage_starts(tc.steps, self.final_stage + 1, tc.stage_steps, tc.stage0_steps)
        self.data = CurriculumStream(self.tasks, self.views, self.starts, [Rng(r.seed).fork("train") for r in runs],
                                     [Rng(r.seed).fork("stage") for r in runs], tc.batch_size, self.seq_len,
                                     tc.stage_mix, self.device,
                                     None if self.first_next is None else [Rng(r.seed).fork("pick") for r in runs],
                                     self.first_next, steps=tc.steps)
        if tc.reset_optimizer:
            self.opt = self.stage_optimizer(0)
        self.stage, self.eager_steps = -1, 0
        self.root, self.stage_log = None, [[] for _ in runs]  # per run: one row per stage before the last
        self.share, self.logs, self.t0 = None, None, 0.0  # resume(): the stage-0 snapshot's key

    def eval_batch(self, task, problem):
        """The stage's view, right-padded to the group's length like training batches (the runs'
        tasks may render an earlier stage at different lengths: a frontier trace is longer)."""
        return pad_right(task.render(problem, self.view), self.seq_len)

    def resume(self, logs, root) -> int:
        """0, or stage 1's first step where a snapshot of this group's stage 0 exists (runners/stage0.py):
        its weights, stage-0 rows and loss readouts loaded, the data streams replayed through stage 0."""
        self.root, self.logs, self.t0 = root, logs, time.time()
        tc = self.runs[0].train
        self.share = None
        if not (self.final_stage >= 1 and stage0.enabled(root, tc)):
            return 0
        self.share = stage0.key(self.runs, self.seq_len, self.starts[1])
        snap = stage0.load(root, self.share)
        if snap is None:
            return 0
        self.model.load_state_dict({k: v.to(self.device) for k, v in snap["state"].items()})
        self.loss_sum.copy_(snap["loss_sum"])
        for j, run in enumerate(self.runs):
            logs[j].extend(snap["logs"][j])
            self.stage_log[j].extend(snap["stage_log"][j])
            if root is not None:
                append_metrics(root, run.run_id, snap["logs"][j] + snap["stage_log"][j])
        for _ in range(self.starts[1]):  # the batches stage 0 read, so later ones are the same
            self.data.next()
        self.record_notes = {"stage0_shared": self.share, "stage0_wall_s": snap["wall_s"]}
        return self.starts[1]

    def final_metrics(self) -> list[dict]:
        """The final evaluation and, per run, stage 0's answer accuracy (stage0_metrics)."""
        return [{**met, **stage0_metrics(rows)} for met, rows in zip(self.evaluate(), self.stage_log)]

    def evaluate_stage(self, stage: int, step: int):
        """Evaluate every run on `stage`'s view; log the row to metrics.jsonl and self.stage_log."""
        size = min(512, self.runs[0].train.eval_size)
        view, self.view = self.view, self.views[stage]
        try:
            scored_next = self.first_next is not None and stage >= self.first_next
            metrics = self.evaluate_next(stage, size) if scored_next else self.evaluate(size)
        finally:
            self.view = view
        for j, (run, met) in enumerate(zip(self.runs, metrics)):
            row = {"step": step, "stage": stage, **met}
            self.stage_log[j].append(row)
            if self.root is not None:
                append_metrics(self.root, run.run_id, [row])

    @torch.no_grad()
    def evaluate_next(self, stage: int, size: int) -> list[dict]:
        """A stage scored by one node of the next step, with self.view at `stage`: per run
        {"next_acc"}, how often the top token after the stage's thoughts is a node of the next
        trace step (any of them: the scored node is drawn at random)."""
        from runners.objective import attention_backends, autocast
        sets, chunk, tops = self.eval_set(size), self.eval_chunk(), []
        P = sets[0][2].prompt_len
        self.model.eval()
        for lo in range(0, size, chunk):
            x = torch.stack([b.inputs[lo:lo + chunk] for _, _, b in sets])
            with autocast(self.device), attention_backends():
                tops.append(self.objective.logits(x)[:, :, P - 2].argmax(-1))  # (m, chunk)
        self.model.train()
        top = torch.cat(tops, 1)
        return [{"next_acc": float(next_step_hits(t, p, top[j], stage).float().mean())}
                for j, (t, p, _) in enumerate(sets)]

    def stage_optimizer(self, stage: int) -> StackedAdamW:
        tc = self.runs[0].train
        ends = self.starts[1:] + [tc.steps]
        return StackedAdamW(self.model, [r.train.lr for r in self.runs], tc.weight_decay, tc.grad_clip,
                            ends[stage] - self.starts[stage], tc.warmup)

    def stage_span(self, stage: int):
        """Positions of the latent objective's passes at a stage (None: no thought); rows drawn at
        earlier stages have their thoughts inside it."""
        spans = [latent_span(t.render(t.sample(2, Rng(0), self.device), self.views[stage]).latent_mask[None])
                 for t in self.tasks]
        spans = [s for s in spans if s is not None]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    def step(self, i: int):
        stage = stage_at(self.starts, i)
        if stage != self.stage:
            if self.stage >= 0:
                self.evaluate_stage(self.stage, i)
            if self.stage == 0 and self.share is not None:  # the end of stage 0: leave it for a twin group
                stage0.save(self.root, self.share, self.model, self.stage_log, self.logs, self.loss_sum,
                            time.time() - self.t0)
            self.stage = stage
            if hasattr(self.objective, "span"):  # latent: the passes change with the stage
                self.objective.span = self.stage_span(stage)
                self.graph, self.eager_steps = None, 1
            if self.runs[0].train.reset_optimizer and i > 0:
                self.opt = self.stage_optimizer(stage)
                self.graph, self.eager_steps = None, 1  # a captured step holds the old optimizer's buffers
        if self.eager_steps and self.graph is None and i >= 3:  # warm the new step up before capturing it
            self.eager_steps -= 1
            use_graph, self.use_graph = self.use_graph, False
            try:
                return super().step(i)
            finally:
                self.use_graph = use_graph
        return super().step(i)
