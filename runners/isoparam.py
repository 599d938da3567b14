"""Iso-parameter model shapes: trade depth for width at a fixed parameter count.

For each depth, pick the width whose GPT-style parameter count is nearest the budget
(Petty et al. 2023 compare depths at matched parameters). The count, for n_layer L,
width d, MLP width f, vocabulary V and context T:
    token embedding V d + learned positions T d (none for rope, sinusoidal or no positions)
    + L * (attention 4 d^2 + 4 d   [q, k, v, out projections with biases]
           + MLP 2 d f + f + d     [up and down projections with biases]
           + two LayerNorms 4 d)
    + final LayerNorm 2 d + untied output head d V (no bias)
which is StackedTransformer.n_params() with max_len = T (tested;
loops add no parameters, and the trainer builds the model with max_len = the sequence length).

Example: iso_param_configs(5_000_000, [1, 4, 16], vocab_size=32, max_len=64)
    -> d_model 640 (20 heads, 5,006,720 params), 320 (10 heads, 4,973,440), 160 (5 heads, 4,969,280).
With head_dim 32 the widths are coarse for deep, narrow models: at 1M parameters depths 2-16
miss 5% (pass a smaller head_dim, or a larger tolerance).
"""
from __future__ import annotations


def count_params(n_layer: int, d_model: int, d_ff: int, vocab_size: int, max_len: int, pos: str = "learned") -> int:
    """Parameters of the GPT-style model described in the module docstring."""
    d, f = d_model, d_ff
    per_layer = (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d
    positions = max_len * d if pos == "learned" else 0  # rope and sinusoidal tables are not parameters
    return vocab_size * d + positions + n_layer * per_layer + 2 * d + d * vocab_size


def iso_param_configs(budget: int, depths: list[int], vocab_size: int, max_len: int,
                      head_dim: int = 32, d_ff_mult: int = 4, tolerance: float = 0.05,
                      pos: str = "learned") -> list[dict]:
    """One model shape per depth, each within `tolerance` (relative) of `budget` parameters.

    d_model is a multiple of head_dim (n_head = d_model // head_dim), d_ff = d_ff_mult * d_model;
    among the widths, the one whose count is nearest the budget. Raises ValueError naming the
    depth when no width comes within tolerance.
    """
    if budget < 1 or vocab_size < 1 or max_len < 1 or head_dim < 1 or d_ff_mult < 1:
        raise ValueError("budget, vocab_size, max_len, head_dim and d_ff_mult must be >= 1, got "
                         f"{budget}, {vocab_size}, {max_len}, {head_dim}, {d_ff_mult}")
    from models.transformer import POSITIONS
    if pos not in POSITIONS:
        raise ValueError(f"unknown pos {pos!r}; valid: {POSITIONS}")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance={tolerance} must be in [0, 1)")
    if not depths or any(not isinstance(L, int) or L < 1 for L in depths):
        raise ValueError(f"depths={depths} must be a non-empty list of integers >= 1")
    configs = []
    for L in depths:
        def count(j, L=L):
            return count_params(L, j * head_dim, d_ff_mult * j * head_dim, vocab_size, max_len, pos)
        j = 1  # the count grows with the width: walk up to the first width at or past the budget
        while count(j) < budget:
            j += 1
        best = min((c for c in (j - 1, j) if c >= 1), key=lambda c: abs(count(c) - budget))
        params = count(best)
        rel_err = abs(params - budget) / budget
        if rel_err > tolerance:
            d_lo, d_hi = max(j - 1, 1) * head_dim, j * head_dim
            raise ValueError(
                f"depth {L}: no d_model (a multiple of head_dim={head_dim}) gives {budget} parameters "
                f"within tolerance {tolerance}: nearest d_model={best * head_dim} has {params} "
                f"({rel_err:.1%} off; d_model {d_lo} -> {count(max(j - 1, 1))}, {d_hi} -> {count(j)})")
        d = best * head_dim
        configs.append({"n_layer": L, "d_model": d, "n_head": best, "d_ff": d_ff_mult * d,
                        "params": params, "rel_err": rel_err})
    return configs
