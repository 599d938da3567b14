"""Frozen run configs. A run's id is a hash of its canonical JSON and the suite version."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field

from models.transformer import ModelConfig

SUITE_VERSION = "v1"
STAGE_TARGETS = ("rest", "next", "next_after_cot")
# fields added after v1 froze, per part of the run, with their defaults: left out of a run's JSON
# while at the default, so the ids of runs that existed before them stay valid
LATER_FIELDS = {"train": {"stage_target": "rest", "compile": False, "stage0_steps": 0}, "model": {"residual": "fp32", "init_std": 0.02}}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000           # optimizer steps
    batch_size: int = 256       # sequences per step, per model
    lr: float = 1e-3            # peak learning rate (AdamW)
    weight_decay: float = 0.01  # decoupled, on weight matrices and embeddings only
    warmup: float = 0.05        # fraction of steps of linear warm-up, then cosine to 0
    grad_clip: float = 1.0      # max global grad norm, per model
    eval_size: int = 1024       # held-out examples scored at the end
    log_every: int = 100        # steps between loss readouts (the only host syncs)
    # Coconut curriculum, latent:SxC and pause:SxC views only (runners/curriculum.py)
    latent_curriculum: bool = False  # train stages 0..S in turn; stage s: s x C thoughts in place of s steps
    stage_steps: int = 0        # steps of each stage before the last; 0: `steps` split evenly over S + 1 stages
    stage0_steps: int = 0       # steps of stage 0 (the discrete CoT); 0: as the other stages
    stage_mix: float = 0.0      # chance that an example is drawn at a uniformly random earlier stage
    reset_optimizer: bool = False  # a fresh AdamW per stage (zero moments, its own warm-up and cosine)
    # before the last stage, score "rest" (Coconut) or "next": one node of the next step (Zhu et al.);
    # "next_after_cot": stage 0 (the discrete CoT) scores the rest, stages 1.. one node of the next step
    stage_target: str = "rest"
    compile: bool = False       # on a GPU, torch.compile each transformer block (once for all) and the optimizer step

    def __post_init__(self):
        check_types(self)
        for name in ("steps", "batch_size", "eval_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.warmup < 1 or self.grad_clip <= 0:
            raise ValueError(f"bad optimizer settings in {self}")
        if self.stage_steps < 0 or self.stage0_steps < 0 or not 0 <= self.stage_mix < 1:
            raise ValueError(f"train.stage_steps and train.stage0_steps must be >= 0 and train.stage_mix in [0, 1), "
                             f"got {self}")
        if self.stage_target not in STAGE_TARGETS:
            raise ValueError(f"train.stage_target={self.stage_target!r} is unknown; valid: {list(STAGE_TARGETS)}")


@functools.lru_cache(maxsize=4096)
def task_shape(name: str, knobs: tuple, view: str) -> tuple[int, int, int]:
    """(sequence length, vocabulary size, float input width) of a task's rendered batches in a
    view; the input width is 0 for token tasks and d for real-valued ones (regression)."""
    import torch

    from tasks import make_task, parse_view
    from tasks.rng import Rng
    task = make_task(name, **dict(knobs))
    batch = task.render(task.sample(2, Rng(0), torch.device("cpu")), parse_view(view))
    d_in = batch.inputs.shape[2] if batch.inputs.dtype.is_floating_point else 0
    return batch.inputs.shape[1], task.vocab_size, d_in


def check_types(cfg) -> None:
    """Coerce numeric strings (YAML reads 1e-3 as a string) and refuse wrong types up front."""
    import dataclasses
    for f in dataclasses.fields(cfg):
        val, kind = getattr(cfg, f.name), type(f.default)
        if kind is float and isinstance(val, (int, str)) and not isinstance(val, bool):
            try:
                object.__setattr__(cfg, f.name, float(val))
                continue
            except ValueError:
                pass
        if kind is int and isinstance(val, float) and val.is_integer():
            object.__setattr__(cfg, f.name, int(val))
            continue
        if not isinstance(getattr(cfg, f.name), kind) or (kind is int and isinstance(val, bool)):
            raise ValueError(f"{type(cfg).__name__}.{f.name} must be {kind.__name__}, got {val!r}")


def canon_knobs(knobs) -> tuple:
    items = knobs.items() if isinstance(knobs, dict) else knobs
    return tuple(sorted((str(k), v) for k, v in items))


@dataclass(frozen=True)
class RunConfig:
    task: str                   # registered task name
    knobs: tuple = ()           # ((name, value), ...) sorted
    view: str = "direct"        # direct | tagging | cot | latent:SxC | pause:SxC
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    arch: str = "transformer"   # model family (the stacked transformer)

    def __post_init__(self):
        object.__setattr__(self, "knobs", canon_knobs(self.knobs))
        task = self.make_task()  # unknown task, knob or value fails here, before any training
        # keep the values as the task checked them, so length=8.0 and length=8 are one run
        object.__setattr__(self, "knobs", canon_knobs({k: task.k[k] for k, _ in self.knobs}))
        from tasks import parse_view
        view = parse_view(self.view)
        if view.name not in self.make_task().views:
            raise ValueError(f"task {self.task} has no {self.view} view; valid: {list(self.make_task().views)}")
        if self.train.compile and (self.arch != "transformer" or view.name == "latent"):
            raise ValueError(f"train.compile compiles the transformer's blocks in the direct, tagging and cot views; "
                             f"got arch {self.arch!r}, view {self.view}")
        if self.train.latent_curriculum and view.name != "latent":
            raise ValueError(f"train.latent_curriculum needs a latent:SxC or pause:SxC view, got {self.view}")
        if self.train.stage_target != "rest" and view.name == "latent" and view.drops:
            raise ValueError(f"train.stage_target={self.train.stage_target!r} scores the token after a stage's "
                             f"thoughts; {self.view} "
                             "has none (pause:Sx0 drops steps): use stage_target='rest'")

    def make_task(self):
        from tasks import make_task
        return make_task(self.task, **dict(self.knobs))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["knobs"] = dict(self.knobs)
        for part, fields in LATER_FIELDS.items():
            for name, default in fields.items():
                if d[part][name] == default:
                    del d[part][name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return cls(task=d["task"], knobs=d.get("knobs", {}), view=d.get("view", "direct"),
                   model=ModelConfig(**d.get("model", {})), train=TrainConfig(**d.get("train", {})),
                   seed=d.get("seed", 0), arch=d.get("arch", "transformer"))

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True) + SUITE_VERSION
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def group_key(self) -> str:
        """Runs with equal keys train stacked in one process. They share the model shape,
        the view, the schedule and the sequence and vocabulary sizes; seeds, learning rates,
        tasks and knobs may differ (each run keeps its own task, data and init stream)."""
        seq_len, vocab, d_in = task_shape(self.task, self.knobs, self.view)
        train = asdict(self.train)
        train.pop("lr")
        return json.dumps({"model": asdict(self.model), "train": train, "arch": self.arch,
                           "view": self.view, "seq_len": seq_len, "vocab": vocab, "d_in": d_in}, sort_keys=True)

    def knob_str(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.knobs)
