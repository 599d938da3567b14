"""Objectives: what a stacked model is trained on and how it is scored, per kind of task/view.

`token`: next-token cross-entropy; direct and tagging views are scored by teacher forcing
(exact match of every answer position, which equals greedy decoding for them), CoT views by
batched greedy decoding with a KV cache: the answer is read from what the model wrote.
Other families register their own objective in OBJECTIVES (continuous thought; `regression`:
runners/regression_objective.py, the float path).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.decode import greedy_decode
from tasks.base import IGNORE, PAD, Latent, Tagging, read_answer


def autocast(device):
    on_cuda = torch.device(device).type == "cuda"
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda, cache_enabled=False)


def attention_backends():
    """Flash / memory-efficient / math attention. cuDNN's kernel was 3-5x slower at our short
    sequences on an H100 (profiled 2026-11-23), so it is left out."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def per_model_loss(logits, targets):
    """Mean cross-entropy over scored tokens, per model: (m, B, T, V), (m, B, T) -> (m,)."""
    m = targets.shape[0]
    ce = F.cross_entropy(logits.float().flatten(0, 2), targets.flatten(), ignore_index=IGNORE,
                         reduction="none").view(m, -1)
    count = (targets != IGNORE).view(m, -1).sum(1).clamp(min=1)
    return ce.sum(1) / count


class TokenObjective:
    graphable = True  # the training step can be captured as a CUDA graph

    def __init__(self, model, view, device):
        self.model, self.view, self.device = model, view, torch.device(device)

    def logits(self, x) -> torch.Tensor:
        return self.model(x)  # (m, B, T, V)

    def loss(self, x, y) -> torch.Tensor:
        with autocast(self.device), attention_backends():
            return per_model_loss(self.model(x), y)

    @torch.no_grad()
    def evaluate(self, part) -> dict[str, torch.Tensor]:
        """part: one Batch per model (same rows count). Returns (m,) means over the rows."""
        x = torch.stack([b.inputs for b in part])
        y = torch.stack([b.targets for b in part])
        with autocast(self.device), attention_backends():
            logits = self.model(x)
        pred = logits.argmax(-1)
        scored = y != IGNORE
        token_acc = ((pred == y) & scored).flatten(1).sum(1) / scored.flatten(1).sum(1).clamp(min=1)
        if isinstance(self.view, Tagging) or self.view.name == "direct":
            ans_mask = torch.stack([b.answer_mask for b in part])
            answer_acc = ((pred == y) | ~ans_mask).all(-1).float().mean(-1)
        else:
            answer_acc = self.decode_acc(part)
        return {"answer_acc": answer_acc, "token_acc": token_acc, "eval_loss": per_model_loss(logits, y)}

    def decode_acc(self, part) -> torch.Tensor:
        P, T = part[0].prompt_len, part[0].inputs.shape[1]
        prompt = torch.stack([b.inputs[:, :P] for b in part])
        with autocast(self.device), attention_backends():
            gen = greedy_decode(self.model, prompt, T + 1 - P)
        return answer_acc(prompt, gen, part, self.device)


def answer_acc(prompt, gen, part, device) -> torch.Tensor:
    """(m,) exact-match answer accuracy of each model's decoded continuation `gen` (m, B, n)
    of `prompt` (m, B, P), read after the last `=`, against the batches' meta answers."""
    acc = []
    for j, b in enumerate(part):
        wrote = read_answer(torch.cat([prompt[j], gen[j]], dim=1))
        ref = [[t for t in row if t != PAD] for row in b.meta["answer"].tolist()]
        acc.append(sum(w == r for w, r in zip(wrote, ref)) / len(ref))
    return torch.tensor(acc, device=device)


OBJECTIVES = {"token": TokenObjective}


def objective_name(task, view) -> str:
    if task.family == "regression":
        return "regression"
    if isinstance(view, Latent) and not view.pause:
        return "latent"
    return "token"


def make_objective(task, view, model, device):
    import runners.latent  # noqa: F401  registers OBJECTIVES["latent"]
    name = objective_name(task, view)
    if name not in OBJECTIVES:
        raise ValueError(f"no objective {name!r} for {task.name} in view {view}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](model, view, device)


from runners.regression_objective import RegressionObjective  # noqa: E402  (it imports from here lazily)

OBJECTIVES["regression"] = RegressionObjective
