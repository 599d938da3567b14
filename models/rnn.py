"""Recurrent baselines, stacked like the transformer: m independent models whose weights
carry a leading dimension m, matmuls batched over it (bmm).

StackedLSTM     n_layer LSTM layers of width d_model (gates i, f, o, g), a plain Python
                loop over time with one batched matmul per step. A nonlinear RNN: it tracks
                the state of any finite automaton, S5 included, at one layer (Merrill et al.
                2024, "The Illusion of State").
StackedLinRec   n_layer pre-norm residual blocks, each a diagonal linear recurrence
                (S4D / LRU / Mamba-style, without custom kernels)
                    h_t = a * h_{t-1} + gamma * B u_t,   y_t = Re(C h_t) + D * u_t
                with complex a = exp(-exp(log_lambda) + i theta) per channel (|a| < 1) and
                gamma = sqrt(1 - |a|^2), then a GLU MLP. The recurrence is linear in h, so it
                runs as a log-depth (Hillis-Steele) scan over time. Like the transformer it is
                in TC0 at fixed depth: it cannot track S5 at every length.

Both implement the model protocol (models/protocol.py) with incremental decoding: the cache
holds each layer's last state. Shapes: m models, B sequences, T positions, d width,
N = d_model complex state channels, V vocabulary. Recurrences run in float32 (also under
bf16 autocast) so that the state does not drift over long sequences.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.protocol import task_io
from models.transformer import ModelConfig, _stacked, layer_norm, linear


class RecurrentCache:
    """The state of every layer after the positions decoded so far."""

    def __init__(self, n_layer: int):
        self.state = [None] * n_layer
        self.len = 0  # positions consumed


class _StackedRecurrent(nn.Module):
    """Shared by the recurrent models: token or float input, read-out, init, decoding."""

    def __init__(self, cfg: ModelConfig, m: int, task, seq_len: int):
        super().__init__()
        io = task_io(task)
        self.cfg, self.m, self.seq_len = cfg, m, seq_len
        self.vocab_size, self.d_in = io.vocab_size, io.d_in
        d = cfg.d_model
        if io.vocab_size is not None:
            self.wte = _stacked(m, io.vocab_size, d)
            self.head_w, self.head_b = _stacked(m, d, io.vocab_size), _stacked(m, io.vocab_size)
        else:
            self.read_in_w, self.read_in_b = _stacked(m, io.d_in, d), _stacked(m, d)
            self.read_out_w, self.read_out_b = _stacked(m, d, 1), _stacked(m, 1)

    # -- init: every parameter drawn from model i's own generator, in named_parameters order
    def init_value(self, leaf: str, shape, gen) -> torch.Tensor:
        raise NotImplementedError

    def init_weights(self, seeds: list[int]):
        if len(seeds) != self.m:
            raise ValueError(f"need {self.m} seeds, got {len(seeds)}")
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                for name, p in self.named_parameters():
                    p[i].copy_(self.init_value(name.rsplit(".", 1)[-1], p.shape[1:], gen))

    def n_params(self) -> int:
        """Parameters of one model of the stack."""
        return sum(p.numel() for p in self.parameters()) // self.m

    def new_cache(self, batch: int, max_len: int | None = None, dtype=None) -> RecurrentCache:
        return RecurrentCache(self.cfg.n_layer)  # states are made on first use, in float32

    # -- forward
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype.is_floating_point:
            return linear(x, self.read_in_w, self.read_in_b)
        m, V = x.shape[0], self.vocab_size
        offset = torch.arange(m, device=x.device).view(m, 1, 1) * V
        return F.embedding(x + offset, self.wte.reshape(m * V, -1))  # (m, B, T, d)

    def read_out(self, h: torch.Tensor, floats: bool) -> torch.Tensor:
        if floats:
            return linear(h, self.read_out_w, self.read_out_b).squeeze(-1)  # (m, B, T)
        return linear(h, self.head_w, self.head_b)  # (m, B, T, V)

    def forward(self, x: torch.Tensor, cache: RecurrentCache | None = None, start: int = 0) -> torch.Tensor:
        if cache is not None and start != cache.len:
            raise ValueError(f"recurrent cache holds {cache.len} positions, asked to continue at {start}")
        h = self.embed(x)
        for i in range(self.cfg.n_layer):
            state = cache.state[i] if cache is not None else None
            h, state = self.layer(i, h, state)
            if cache is not None:
                cache.state[i] = state
        if cache is not None:
            cache.len += x.shape[2]
        return self.read_out(self.final(h), x.dtype.is_floating_point)

    def layer(self, i: int, h: torch.Tensor, state):
        raise NotImplementedError

    def final(self, h: torch.Tensor) -> torch.Tensor:
        return h


class StackedLSTM(_StackedRecurrent):
    """n_layer LSTM layers; (m, B, T) tokens -> (m, B, T, V) logits."""

    FORGET_BIAS = 1.0  # added to the forget gate's bias at init

    def __init__(self, cfg: ModelConfig, m: int, task, seq_len: int):
        super().__init__(cfg, m, task, seq_len)
        d = cfg.d_model
        self.layers = nn.ModuleList()
        for _ in range(cfg.n_layer):
            layer = nn.Module()
            layer.w_ih, layer.w_hh, layer.bias = _stacked(m, d, 4 * d), _stacked(m, d, 4 * d), _stacked(m, 4 * d)
            self.layers.append(layer)

    def init_value(self, leaf, shape, gen):
        d = self.cfg.d_model
        bound = 1.0 / math.sqrt(d)  # torch.nn.LSTM's default
        if leaf in ("w_ih", "w_hh", "bias"):
            val = (torch.rand(shape, generator=gen) * 2 - 1) * bound
            if leaf == "bias":
                val[d:2 * d] += self.FORGET_BIAS
            return val
        if leaf in ("wte", "read_in_w"):
            return torch.randn(shape, generator=gen) / (1.0 if leaf == "wte" else math.sqrt(shape[0]))
        if leaf in ("head_w", "read_out_w"):
            return torch.randn(shape, generator=gen) * bound
        return torch.zeros(shape)  # head_b, read_in_b, read_out_b

    def layer(self, i, h, state):
        p, d = self.layers[i], self.cfg.d_model
        m, B, T, _ = h.shape
        xp = linear(h, p.w_ih, p.bias)  # (m, B, T, 4d): the input's share of every gate at once
        if state is None:
            zero = torch.zeros(m, B, d, device=h.device, dtype=torch.float32)
            state = (zero, zero)
        ht, ct = state
        w_hh = p.w_hh.to(xp.dtype)  # cast once (bf16 under autocast), not at every step
        out = []
        for t in range(T):
            gates = torch.baddbmm(xp[:, :, t], ht.to(xp.dtype), w_hh).float()  # (m, B, 4d)
            i_g, f_g, o_g = torch.sigmoid(gates[..., :3 * d]).chunk(3, dim=-1)
            ct = f_g * ct + i_g * torch.tanh(gates[..., 3 * d:])
            ht = o_g * torch.tanh(ct)
            out.append(ht)
        return torch.stack(out, dim=2), (ht, ct)  # (m, B, T, d)


KERNEL_MAX_T = 64  # up to this length the recurrence runs as one (T x T) kernel per channel


def diag_recurrence(vr, vi, rate, theta, state=None):
    """h_t = a h_{t-1} + v_t (see diag_scan). Short sequences (T <= KERNEL_MAX_T) use the
    convolution form h_t = sum_{j <= t} a^(t-j) v_j, one batched matmul per part with the
    (T x T) lower-triangular kernel of every channel, in place of the scan's log2(T) rounds
    of elementwise passes (on a CPU, forward and backward at m 2, B 64, T 32, N 256: 30 ms
    against 38 ms); longer ones use the scan, whose memory grows as T, not T^2."""
    T = vr.shape[2]
    if T > KERNEL_MAX_T:
        return diag_scan(vr, vi, rate, theta, state)
    t = torch.arange(T, device=vr.device)
    lag = (t[:, None] - t[None, :]).to(vr.dtype)  # (T, T): t - j
    causal = lag >= 0
    lag = lag.clamp(min=0)[None, None]  # (1, 1, T, T)
    mag = torch.where(causal, torch.exp(-lag * rate[..., None, None]), 0.0)  # (m, N, T, T)
    kr, ki = mag * torch.cos(lag * theta[..., None, None]), mag * torch.sin(lag * theta[..., None, None])
    conv = lambda k, v: torch.einsum("mntj,mbjn->mbtn", k, v)
    with torch.autocast(vr.device.type, enabled=False):  # in float32 under bf16 autocast, as the scan
        hr, hi = conv(kr, vr) - conv(ki, vi), conv(kr, vi) + conv(ki, vr)
    if state is not None:  # h_t += a^(t+1) h_before
        return _add_state(hr, hi, rate, theta, state)
    return hr, hi


def _add_state(vr, vi, rate, theta, state):
    T = vr.shape[2]
    rate, theta = rate[:, None, None], theta[:, None, None]  # (m, 1, 1, N)
    n = torch.arange(1, T + 1, device=vr.device, dtype=vr.dtype)[:, None]  # (T, 1)
    mag = torch.exp(-n * rate)
    ar, ai = mag * torch.cos(n * theta), mag * torch.sin(n * theta)  # (m, 1, T, N)
    sr, si = state[0][:, :, None], state[1][:, :, None]
    return vr + ar * sr - ai * si, vi + ar * si + ai * sr


def diag_scan(vr, vi, rate, theta, state=None):
    """h_t = a h_{t-1} + v_t for complex diagonal a = exp(-rate + i theta), all t at once.
    vr, vi (m, B, T, N) real and imaginary parts of v; rate, theta (m, N); state: the
    (hr, hi) before position 0, each (m, B, N), or None for zero. Hillis-Steele: after the
    pass with offset k, h_t holds sum_{j < 2k} a^j v_{t-j}; log2(T) passes."""
    T = vr.shape[2]
    rate, theta = rate[:, None, None], theta[:, None, None]  # (m, 1, 1, N)
    k = 1
    while k < T:
        mag = torch.exp(-k * rate)
        ar, ai = mag * torch.cos(k * theta), mag * torch.sin(k * theta)  # a^k
        pr, pi = F.pad(vr, (0, 0, k, 0))[:, :, :T], F.pad(vi, (0, 0, k, 0))[:, :, :T]  # v shifted by k
        vr, vi = vr + ar * pr - ai * pi, vi + ar * pi + ai * pr
        k *= 2
    if state is not None:  # h_t += a^(t+1) h_before
        return _add_state(vr, vi, rate[:, 0, 0], theta[:, 0, 0], state)
    return vr, vi


class StackedLinRec(_StackedRecurrent):
    """n_layer blocks x + LinRec(LN(x)), x + GLU(LN(x)); (m, B, T) tokens -> (m, B, T, V)."""

    RATE_RANGE = (1e-3, 0.1)  # -log|a| drawn log-uniformly: |a| in [0.905, 0.999] (as the LRU)

    def __init__(self, cfg: ModelConfig, m: int, task, seq_len: int):
        super().__init__(cfg, m, task, seq_len)
        d, ff = cfg.d_model, cfg.ff
        self.blocks = nn.ModuleList()
        for _ in range(cfg.n_layer):
            b = nn.Module()
            b.ln1_w, b.ln1_b, b.ln2_w, b.ln2_b = (_stacked(m, d) for _ in range(4))
            b.in_w = _stacked(m, d, 2 * d)        # B: real and imaginary parts of the state input
            b.log_lambda, b.theta = _stacked(m, d), _stacked(m, d)
            b.out_w = _stacked(m, 2 * d, d)       # Re(C h) as a real map of (Re h, Im h)
            b.skip_d = _stacked(m, d)             # D
            b.fc_w, b.fc_b = _stacked(m, d, 2 * ff), _stacked(m, 2 * ff)
            b.proj_w, b.proj_b = _stacked(m, ff, d), _stacked(m, d)
            self.blocks.append(b)
        self.lnf_w, self.lnf_b = _stacked(m, d), _stacked(m, d)

    def init_value(self, leaf, shape, gen):
        if leaf.startswith("ln"):
            return torch.ones(shape) if leaf.endswith("_w") else torch.zeros(shape)
        if leaf == "log_lambda":
            lo, hi = (math.log(r) for r in self.RATE_RANGE)
            return torch.rand(shape, generator=gen) * (hi - lo) + lo
        if leaf == "theta":
            return torch.rand(shape, generator=gen) * math.pi
        if leaf == "skip_d":
            return torch.ones(shape)
        if leaf.endswith("_b"):
            return torch.zeros(shape)
        if leaf in ("read_in_w", "in_w"):
            return torch.randn(shape, generator=gen) / math.sqrt(shape[0])
        std0 = self.cfg.init_std
        std = std0 / math.sqrt(2 * self.cfg.n_layer) if leaf in ("out_w", "proj_w") else std0
        return torch.randn(shape, generator=gen) * std

    def layer(self, i, h, state):
        b, d = self.blocks[i], self.cfg.d_model
        u = layer_norm(h, b.ln1_w, b.ln1_b)
        rate = torch.exp(b.log_lambda.float())  # (m, N)
        gamma = torch.sqrt(-torch.expm1(-2 * rate))[:, None, None]  # sqrt(1 - |a|^2)
        v = linear(u, b.in_w, None).float()  # (m, B, T, 2N)
        hr, hi = diag_recurrence(v[..., :d] * gamma, v[..., d:] * gamma, rate, b.theta.float(), state)
        y = linear(torch.cat([hr, hi], dim=-1).to(u.dtype), b.out_w, None) + u * b.skip_d[:, None, None]
        h = h + y
        gate, val = linear(layer_norm(h, b.ln2_w, b.ln2_b), b.fc_w, b.fc_b).chunk(2, dim=-1)
        h = h + linear(F.gelu(gate) * val, b.proj_w, b.proj_b)
        return h, (hr[:, :, -1], hi[:, :, -1])

    def final(self, h):
        return layer_norm(h, self.lnf_w, self.lnf_b)

