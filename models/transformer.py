"""StackedTransformer: m independent GPT-style models trained as one.

Every weight carries a leading dimension m, matmuls are batched over it (bmm), and
attention folds m into the batch dimension of scaled_dot_product_attention. m = 1 is the
plain model. Model i is initialised from its own seed, so a run inside a stack matches
the same run alone.

Shapes: m models, B sequences, T positions, d width, H heads, V vocabulary.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from models import kernels

POSITIONS = ("learned", "sinusoidal", "rope", "none")
NORMS = ("pre", "post")
RESIDUALS = ("fp32", "bf16")


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int = 2            # distinct blocks
    d_model: int = 128          # residual width
    n_head: int = 4             # attention heads (d_model % n_head == 0)
    d_ff: int = 0               # MLP hidden width; 0 means 4 * d_model
    pos: str = "learned"        # learned | sinusoidal | rope | none
    norm: str = "pre"           # pre | post LayerNorm
    n_loops: int = 1            # the stack of blocks runs n_loops times (weight tied)
    input_injection: bool = False  # add the input embedding again before every loop
    dropout: float = 0.0
    residual: str = "fp32"      # the residual stream's dtype under bf16 autocast (CUDA): fp32 | bf16
    init_std: float = 0.02      # std of the initial weights (GPT-2's 0.02; the residual projections scaled down)

    def __post_init__(self):
        from runners.config import check_types
        check_types(self)
        if self.n_layer < 1 or self.n_loops < 1:
            raise ValueError(f"n_layer and n_loops must be >= 1, got {self.n_layer}, {self.n_loops}")
        if self.d_model < 1 or self.n_head < 1 or self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of n_head ({self.n_head})")
        if self.pos not in POSITIONS:
            raise ValueError(f"unknown pos {self.pos!r}; valid: {POSITIONS}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; valid: {NORMS}")
        if self.pos == "rope" and (self.d_model // self.n_head) % 2:
            raise ValueError("rope needs an even head dimension")
        if self.residual not in RESIDUALS:
            raise ValueError(f"unknown residual {self.residual!r}; valid: {RESIDUALS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")

    @property
    def ff(self) -> int:
        return self.d_ff or 4 * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


def _stacked(m, *shape) -> nn.Parameter:
    return nn.Parameter(torch.empty(m, *shape))


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, gelu: bool = False,
           resid: torch.Tensor | None = None) -> torch.Tensor:
    """(m, ..., i) @ (m, i, o) + (m, o) -> (m, ..., o), then GELU if asked; with resid (m, ..., o),
    resid + that, in resid's dtype."""
    m, shape, o = x.shape[0], x.shape[1:-1], w.shape[-1]
    x2 = x.reshape(m, -1, x.shape[-1])
    y = torch.bmm(x2, w.to(x2.dtype))
    if b is not None:  # a separate add, not baddbmm: baddbmm first copies the broadcast bias into its
        # output with a slow strided kernel (H100, d 256 L 4, 32 models, compiled: 14% of the step);
        # on CUDA one Triton pass with the GELU or the residual add (models.kernels.bias_act); under
        # torch.compile the add fuses into the next elementwise kernel
        y = kernels.bias_act(y, b, gelu, None if resid is None else resid.reshape(m, -1, o))
    else:
        y = F.gelu(y) if gelu else y
        y = y if resid is None else resid.reshape(m, -1, o) + y
    return y.reshape(m, *shape, o)


def normalize(x):
    """LayerNorm without its affine, written in the dtype the next matmul reads: bf16 under autocast
    (from an fp32 or a bf16 residual, ModelConfig.residual), else x's. On CUDA one Triton kernel
    (models.kernels)."""
    dt = x.dtype
    if dt == torch.float32 and torch.is_autocast_enabled(x.device.type):
        dt = torch.get_autocast_dtype(x.device.type)
    return kernels.normalize(x, dt)


def norm_linear(x, ln_w, ln_b, w, b, gelu=False):
    """linear(layer_norm(x, ln_w, ln_b), w, b) with the LayerNorm's affine folded into the linear:
    (x_hat * g + beta) @ W + c = x_hat @ (g[:, None] * W) + (beta @ W + c), the same function and
    gradients up to rounding. The folded weights are (m, d, o), computed in fp32 each call; what it
    saves is the affine's passes over the (tokens x d) activations, forward and backward (the
    per-model weight gradients of g and beta were sums over every token)."""
    w_eff = ln_w.unsqueeze(-1) * w
    b_eff = (ln_b.unsqueeze(-1) * w).sum(1) + b
    return linear(normalize(x), w_eff, b_eff, gelu)


def layer_norm(x, w, b):
    """LayerNorm with per-model affine (m, d) weights. A bf16 x (ModelConfig.residual) is normalised
    outside autocast, which would return fp32: the kernel computes in fp32 and writes bf16, and the
    affine runs in bf16, so the stream stays bf16 and no fp32 copy of it is written."""
    if x.dtype == torch.bfloat16:
        with torch.autocast(x.device.type, enabled=False):
            y = F.layer_norm(x, x.shape[-1:])
        return y * w.to(x.dtype)[:, None, None, :] + b.to(x.dtype)[:, None, None, :]
    y = F.layer_norm(x, x.shape[-1:])
    return y * w[:, None, None, :] + b[:, None, None, :]


# On CUDA the memory-efficient kernel goes first: at this suite's short sequences it ran
# forward + backward 2.7x faster than flash on an H100 (N 8192, 4 heads, T 64, hd 64: 1.79 vs
# 4.89 ms; N 2048, 8 heads: 0.92 vs 2.48 ms); the others remain as fallbacks.
SDPA_ORDER = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
# With torch's deterministic algorithms on (DEPTHBENCH_DETERMINISTIC=1: runners.train.use_determinism):
# the memory-efficient kernel alone, the math kernel where it cannot run. Two runs of an equations CoT
# stack were bit-identical on an H100 with it (or flash) alone, but not with SDPA_ORDER (README, "Determinism").
DETERMINISTIC_ORDER = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def attend(q, k, v, **kw):
    """scaled_dot_product_attention with SDPA_ORDER's kernel preference on CUDA."""
    if not q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, **kw)
    order = DETERMINISTIC_ORDER if torch.are_deterministic_algorithms_enabled() else SDPA_ORDER
    with sdpa_kernel(order, set_priority=True):
        return F.scaled_dot_product_attention(q, k, v, **kw)


def sinusoid(max_len: int, d: int) -> torch.Tensor:
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(max_len, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table


class KVCache:
    """Keys and values of every (loop, layer) for incremental decoding."""

    def __init__(self, n_slots: int, n: int, n_head: int, max_len: int, head_dim: int, device, dtype):
        shape = (n, n_head, max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_slots)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_slots)]
        self.len = 0  # positions filled


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, m: int):
        super().__init__()
        d, ff = cfg.d_model, cfg.ff
        self.cfg = cfg
        self.ln1_w, self.ln1_b = _stacked(m, d), _stacked(m, d)
        self.ln2_w, self.ln2_b = _stacked(m, d), _stacked(m, d)
        self.qkv_w, self.qkv_b = _stacked(m, d, 3 * d), _stacked(m, 3 * d)
        self.proj_w, self.proj_b = _stacked(m, d, d), _stacked(m, d)
        self.fc_w, self.fc_b = _stacked(m, d, ff), _stacked(m, ff)
        self.out_w, self.out_b = _stacked(m, ff, d), _stacked(m, d)

    def attention(self, x, rot, cache: KVCache | None, slot: int, start: int, ln=None, resid=None):
        """ln: the (weight, bias) of a pre-norm LayerNorm that x has not been through yet (norm_linear);
        resid: a residual stream the output is added to (in the projection's bias pass)."""
        m, B, T, d = x.shape
        H = self.cfg.n_head
        qkv = norm_linear(x, *ln, self.qkv_w, self.qkv_b) if ln else linear(x, self.qkv_w, self.qkv_b)
        if rot is not None:  # one pass each way: split into heads, q and k rotated (kernels.rope_heads)
            q, k, v = kernels.rope_heads(qkv.view(m * B, T, 3 * d), *rot, H)
        else:  # each (m*B, H, T, hd), views of qkv: the backward stacks dq, dk, dv straight into qkv's
            # layout (a permute before the unbind made it stack, then copy again for the view; H100,
            # equations CoT, d 256: 4.1 of 52 ms per step)
            q, k, v = (t.transpose(1, 2) for t in qkv.view(m * B, T, 3, H, d // H).unbind(2))
        if cache is None:
            y = attend(q, k, v, is_causal=True)
        else:
            cache.k[slot][:, :, start:start + T] = k
            cache.v[slot][:, :, start:start + T] = v
            k, v = cache.k[slot][:, :, :start + T], cache.v[slot][:, :, :start + T]
            if T == 1:
                y = attend(q, k, v)
            elif start == 0:
                y = attend(q, k, v, is_causal=True)
            else:  # a chunk after a prefix: row i sees keys up to start + i
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(start)
                y = attend(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(m, B, T, d)
        return linear(y, self.proj_w, self.proj_b, resid=resid)

    def mlp(self, x, ln=None, resid=None):
        h = norm_linear(x, *ln, self.fc_w, self.fc_b, gelu=True) if ln else linear(x, self.fc_w, self.fc_b, gelu=True)
        return linear(h, self.out_w, self.out_b, resid=resid)

    def forward(self, x, rot=None, cache=None, slot=0, start=0):
        p = self.cfg.dropout if self.training else 0.0
        ln1, ln2 = (self.ln1_w, self.ln1_b), (self.ln2_w, self.ln2_b)
        if self.cfg.norm == "pre" and not p:  # LayerNorm then linear, the affine folded in (norm_linear);
            # each branch's last linear adds the residual in its bias pass
            x = self.attention(x, rot, cache, slot, start, ln=ln1, resid=x)
            return self.mlp(x, ln=ln2, resid=x)
        if self.cfg.norm == "pre":
            x = x + F.dropout(self.attention(x, rot, cache, slot, start, ln=ln1), p)
            return x + F.dropout(self.mlp(x, ln=ln2), p)
        x = layer_norm(x + F.dropout(self.attention(x, rot, cache, slot, start), p), self.ln1_w, self.ln1_b)
        return layer_norm(x + F.dropout(self.mlp(x), p), self.ln2_w, self.ln2_b)


class StackedTransformer(nn.Module):
    """m same-shape models. Token path: (m, B, T) long -> (m, B, T, V) logits.
    Float path (d_in set): (m, B, T, d_in) float -> (m, B, T) predictions; both share the trunk."""

    def __init__(self, cfg: ModelConfig, m: int, vocab_size: int, max_len: int, d_in: int | None = None):
        super().__init__()
        self.cfg, self.m, self.vocab_size, self.max_len, self.d_in = cfg, m, vocab_size, max_len, d_in
        d = cfg.d_model
        self.wte = _stacked(m, vocab_size, d)
        if cfg.pos == "learned":
            self.wpe = _stacked(m, max_len, d)
        if cfg.pos == "sinusoidal":
            self.register_buffer("sin_table", sinusoid(max_len, d), persistent=False)
        if cfg.pos == "rope":
            hd = d // cfg.n_head
            inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
            ang = torch.arange(max_len, dtype=torch.float32)[:, None] * inv[None]
            self.register_buffer("rope_cos", ang.cos(), persistent=False)
            self.register_buffer("rope_sin", ang.sin(), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg, m) for _ in range(cfg.n_layer))
        self.lnf_w, self.lnf_b = _stacked(m, d), _stacked(m, d)
        self.head_w = _stacked(m, d, vocab_size)
        if d_in is not None:
            self.read_in_w, self.read_in_b = _stacked(m, d_in, d), _stacked(m, d)
            self.read_out_w, self.read_out_b = _stacked(m, d, 1), _stacked(m, 1)
        self.init_weights(list(range(m)))

    def init_weights(self, seeds: list[int]):
        """Model i drawn from its own CPU generator seeded with seeds[i] (same on any device).
        Weights N(0, 0.02^2) (GPT-2; ModelConfig.init_std), the residual projections scaled by
        1/sqrt(2 layers), except
        the float read-in (d_in -> d_model), N(0, 1/d_in) as Garg et al.'s nn.Linear read-in is
        of that order: at 0.02 an x's embedding was as small as the position's and in-context
        regression (d 5, 2 layers of width 64, batch 128, 1,500 steps, on a CPU) stayed on the
        plateau (NMSE after 10 examples 0.79) where at 1/sqrt(d_in) it left it (0.35)."""
        if len(seeds) != self.m:
            raise ValueError(f"need {self.m} seeds, got {len(seeds)}")
        std0 = self.cfg.init_std
        resid_std = std0 / math.sqrt(2 * self.cfg.n_layer * self.cfg.n_loops)
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                for name, p in self.named_parameters():
                    leaf = name.rsplit(".", 1)[-1]
                    if leaf.startswith("ln"):
                        val = torch.ones(p.shape[1:]) if leaf.endswith("_w") else torch.zeros(p.shape[1:])
                    elif leaf.endswith("_b"):
                        val = torch.zeros(p.shape[1:])
                    else:
                        std = resid_std if leaf in ("proj_w", "out_w") else std0
                        if leaf == "read_in_w":  # float path: x's embedding at unit scale, see below
                            std = 1.0 / math.sqrt(p.shape[1])
                        val = torch.randn(p.shape[1:], generator=gen) * std
                    p[i].copy_(val)

    def n_params(self) -> int:
        """Parameters of one model of the stack."""
        return sum(p.numel() for p in self.parameters()) // self.m

    # -- pieces
    def embed_tokens(self, idx: torch.Tensor) -> torch.Tensor:
        # one lookup into the (m * V, d) table: F.embedding's backward is a segmented sum,
        # where advanced indexing's index_put backward serialises the many repeated ids
        m, V = idx.shape[0], self.vocab_size
        offset = torch.arange(m, device=idx.device).view(m, 1, 1) * V
        return F.embedding(idx + offset, self.wte.reshape(m * V, -1))  # (m, B, T, d)

    def embed_floats(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.read_in_w, self.read_in_b)

    def trunk(self, h: torch.Tensor, cache: KVCache | None = None, start: int = 0) -> torch.Tensor:
        """(m, B, T, d) input embeddings at positions start.. -> final hidden states."""
        T = h.shape[2]
        if start + T > self.max_len:
            raise ValueError(f"sequence of {start + T} positions exceeds max_len {self.max_len}")
        if self.cfg.pos == "learned":
            h = h + self.wpe[:, None, start:start + T]
        elif self.cfg.pos == "sinusoidal":
            h = h + self.sin_table[start:start + T].to(h.dtype)
        if self.cfg.residual == "bf16" and torch.is_autocast_enabled(h.device.type):
            h = h.to(torch.bfloat16)  # every block then adds its bf16 output in bf16
        rot = None
        if self.cfg.pos == "rope":
            rot = (self.rope_cos[start:start + T], self.rope_sin[start:start + T])
        x, slot = h, 0
        for loop in range(self.cfg.n_loops):
            if loop and self.cfg.input_injection:
                x = x + h
            for block in self.blocks:
                x = block(x, rot, cache, slot, start)
                slot += 1
        return layer_norm(x, self.lnf_w, self.lnf_b)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        V = self.vocab_size
        if hidden.is_cuda and V % 8:  # padded to a multiple of 8 columns, then sliced: an unaligned
            # vocabulary sent cuBLAS to slow kernels (H100, m 3, 16896 x 128 @ 128 x 123, forward and
            # backward: 0.46 ms; 128 columns: 0.16 ms)
            return linear(hidden, F.pad(self.head_w, (0, -V % 8)), None)[..., :V]
        return linear(hidden, self.head_w, None)

    def read_out(self, hidden: torch.Tensor) -> torch.Tensor:
        return linear(hidden, self.read_out_w, self.read_out_b).squeeze(-1)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, start: int = 0) -> torch.Tensor:
        if x.dtype.is_floating_point:
            return self.read_out(self.trunk(self.embed_floats(x), cache, start))
        return self.logits(self.trunk(self.embed_tokens(x), cache, start))

    def new_cache(self, batch: int, max_len: int | None = None, dtype=None) -> KVCache:
        cfg = self.cfg
        return KVCache(cfg.n_layer * cfg.n_loops, self.m * batch, cfg.n_head, max_len or self.max_len,
                       cfg.d_model // cfg.n_head, self.wte.device, dtype or self.wte.dtype)
