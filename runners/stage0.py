"""Stage 0 of a curriculum trained once, for continuous thought and its pause-token control.

Stage 0 of the Coconut curriculum is the discrete CoT, whatever fills the thoughts later:
latent:SxC and pause:SxC runs of the same task, model, schedule and seeds start from the same
weights (the init stream is the run's seed) and read the same batches (the data streams too),
so they train the same stage 0, step for step. The group that trains it first leaves a snapshot
at the end of stage 0 in <root>/_stage0/<key>.pt: the stacked weights, the stage-0 rows of
metrics.jsonl and the loss sum since the last readout. A group with the same key (key(): the
runs with the pause flag dropped from the view) loads it, replays its data streams through stage
0 without training on them, so its later batches are the ones it would have read, and starts at
stage 1. With an optimizer reset per stage (train.reset_optimizer) nothing else carries over;
without one, stage 0's optimizer state would, so such runs share nothing.

Each record of a group that loaded a snapshot names it (`stage0_shared`: the key) with the wall
time stage 0 took where it was trained (`stage0_wall_s`); its own wall_s counts its later stages
and the replay, so a family's summed wall_s counts the shared training once. A group killed after stage 0
resumes there the same way. DEPTHBENCH_SHARE_STAGE0=0 turns sharing off: every group trains its
own stage 0 and leaves no snapshot.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from runners.config import SUITE_VERSION

DIR = "_stage0"


def enabled(root, train) -> bool:
    """Whether a group may load or leave a snapshot: a records root, an optimizer reset per stage,
    and DEPTHBENCH_SHARE_STAGE0 not 0."""
    return root is not None and train.reset_optimizer and os.environ.get("DEPTHBENCH_SHARE_STAGE0", "1") != "0"


def key(runs, seq_len: int, stage0_end: int) -> str:
    """The same for groups whose stage 0 trains alike: their runs in order, each with the view's
    pause flag dropped (pause:SxC -> latent:SxC), plus the padded length and stage 0's length."""
    blob = [dict(r.to_dict(), view=r.view.replace("pause:", "latent:", 1)) for r in runs]
    text = json.dumps(blob, sort_keys=True) + f"|{seq_len}|{stage0_end}|{SUITE_VERSION}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def path(root, k: str) -> Path:
    return Path(root) / DIR / f"{k}.pt"


def save(root, k: str, model, stage_log, logs, loss_sum, wall_s: float) -> None:
    """The snapshot at the end of stage 0 (written atomically)."""
    p = path(root, k)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {name: v.detach().cpu().clone() for name, v in model.state_dict().items()}
    tmp = p.with_suffix(".tmp")
    torch.save({"state": state, "stage_log": stage_log, "logs": logs, "loss_sum": loss_sum.detach().cpu(),
                "wall_s": wall_s}, tmp)
    tmp.replace(p)


def load(root, k: str):
    """The snapshot dict, or None where there is none."""
    p = path(root, k)
    if not p.exists():
        return None
    return torch.load(p, map_location="cpu", weights_only=True)
