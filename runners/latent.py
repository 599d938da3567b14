"""The continuous-thought objective (Coconut), registered as OBJECTIVES["latent"].

Training: the sequential passes of models/latent.py on one differentiable KV cache (prompt,
`=` and `<bot>` in one chunk, one pass per thought whose input is the previous position's last
hidden state, then the remainder in one chunk), gradients through every thought; the loss is
the per-model cross-entropy on the scored targets (trace steps left, answer, `<eos>`).
Latent positions are read off the inputs (`<lat>` tokens), so `loss(x, y)` keeps the token
objective's signature and a batch mixing curriculum stages needs nothing more.
Evaluation: the same passes over the given prefix (up to `<eot>`), then greedy decoding on the
cache; the answer is read from what the model wrote (tasks.base.read_answer).
A batch without thoughts (stage 0, or a direct/CoT batch) takes exactly the token path.
Pause tokens (`pause:SxC`) are ordinary learned tokens and train with the token objective.
"""
from __future__ import annotations

import os

import torch

from models.decode import _cache_dtype
from models.latent import AUTO, latent_generate, latent_hidden, latent_span
from runners.objective import OBJECTIVES, answer_acc, attention_backends, autocast, per_model_loss
from tasks.base import IGNORE, LAT


class LatentObjective:
    """`span`: the positions of the sequential passes (models/latent.py). Every training batch of a
    run has its thoughts at the same positions (prompts are left-padded), so the span is read off
    the first batch (an eager warm-up step) and then fixed; the curriculum sets it per stage. With
    it fixed the step has no host sync and is captured as a CUDA graph like the token step
    (DEPTHBENCH_LATENT_GRAPH=0 keeps latent steps eager)."""

    def __init__(self, model, view, device):
        self.model, self.view, self.device = model, view, torch.device(device)
        self.span = AUTO
        self.graphable = os.environ.get("DEPTHBENCH_LATENT_GRAPH", "1") != "0"

    def logits(self, x, span=AUTO) -> torch.Tensor:
        return self.model.logits(latent_hidden(self.model, x, span=span))  # (m, B, T, V)

    def loss(self, x, y) -> torch.Tensor:
        if self.span == AUTO:
            self.span = latent_span(x == LAT)
        with autocast(self.device), attention_backends():
            return per_model_loss(self.logits(x, self.span), y)

    @torch.no_grad()
    def evaluate(self, part) -> dict[str, torch.Tensor]:
        """part: one Batch per model (same rows). Returns (m,) means over the rows."""
        x = torch.stack([b.inputs for b in part])  # (m, B, T)
        y = torch.stack([b.targets for b in part])
        with autocast(self.device), attention_backends():
            logits = self.logits(x)
        scored = y != IGNORE
        token_acc = ((logits.argmax(-1) == y) & scored).flatten(1).sum(1) / scored.flatten(1).sum(1).clamp(min=1)
        return {"answer_acc": self.decode_acc(part), "token_acc": token_acc, "eval_loss": per_model_loss(logits, y)}

    def decode_acc(self, part) -> torch.Tensor:
        P, T = part[0].prompt_len, part[0].inputs.shape[1]  # a latent view's prompt ends with `<eot>`
        prefix = torch.stack([b.inputs[:, :P] for b in part])  # (m, B, P)
        with autocast(self.device), attention_backends():
            gen = latent_generate(self.model, prefix, T + 1 - P, _cache_dtype(self.device))
        return answer_acc(prefix, gen, part, self.device)


OBJECTIVES["latent"] = LatentObjective
