"""Fused Triton kernels for the memory-bound pieces of a training step, with PyTorch fallbacks.

`normalize(x, out_dtype)`: LayerNorm without affine over the last dim (the affine is folded into
the next linear: models.transformer.norm_linear), reading fp32 and writing the matmul's dtype
(bf16 under autocast) in one pass; PyTorch's kernel writes fp32 and a second kernel casts it, and
at this suite's widths (d 32-512) runs one row per thread block.
`bias_act(y, b, gelu, resid)`: a linear's bias add, with the MLP's GELU or with the residual add
after a branch's last linear, forward and backward (the bias gradient included) in one pass each.
`rope_heads(qkv, cos, sin)`: the attention's q, k, v split into heads from the packed qkv
projection, q and k rotated (rotary positions), in one pass per tensor forward and backward; the
PyTorch ops it replaces (rope_ref) run several elementwise kernels per tensor each way, through
fp32 intermediates (H100, tree paths at 6 layers: with them rotary positions cost a 6-seed sweep
132 s against 87 s with learned ones).

Triton compiles each kernel on first use in a process. Widths are runtime arguments, not
compile-time constants, so a new width compiles again only where its power-of-two block (or
Triton's own specialisation of integers divisible by 16) differs.

Used on CUDA when Triton imports, outside torch.compile (where Inductor fuses on its own), unless
DEPTHBENCH_TRITON=0. On a CPU the kernels run in Triton's interpreter when TRITON_INTERPRET=1 is
set before this module is imported (the tests do that).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

try:
    import triton
    import triton.language as tl
except ImportError:  # the CPU wheels of torch come without Triton
    triton = None

EPS = 1e-5  # F.layer_norm's default
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def enabled(x: torch.Tensor) -> bool:
    """Whether the ops on x take the Triton kernels (normalize, bias_act)."""
    if triton is None or os.environ.get("DEPTHBENCH_TRITON", "1") == "0" or torch.compiler.is_compiling():
        return False
    return x.is_cuda or INTERPRET


if triton is not None:
    @triton.jit
    def _norm_fwd(X, Y, MEAN, RSTD, n_rows, D, BLOCK_D: tl.constexpr, ROWS: tl.constexpr,
                  eps: tl.constexpr):
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        cols = tl.arange(0, BLOCK_D)
        mask = (rows[:, None] < n_rows) & (cols[None, :] < D)
        offs = rows[:, None].to(tl.int64) * D + cols[None, :]
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(x, axis=1) / D
        xc = tl.where(mask, x - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=1) / D + eps)
        tl.store(Y + offs, (xc * rstd[:, None]).to(Y.dtype.element_ty), mask=mask)
        tl.store(MEAN + rows, mean, mask=rows < n_rows)
        tl.store(RSTD + rows, rstd, mask=rows < n_rows)

    @triton.jit
    def _norm_bwd(DY, X, MEAN, RSTD, DX, n_rows, D, BLOCK_D: tl.constexpr, ROWS: tl.constexpr):
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        cols = tl.arange(0, BLOCK_D)
        mask = (rows[:, None] < n_rows) & (cols[None, :] < D)
        offs = rows[:, None].to(tl.int64) * D + cols[None, :]
        x = tl.load(X + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(DY + offs, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(MEAN + rows, mask=rows < n_rows, other=0.0)
        rstd = tl.load(RSTD + rows, mask=rows < n_rows, other=0.0)
        xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
        c1 = tl.sum(xhat * dy, axis=1) / D
        c2 = tl.sum(dy, axis=1) / D
        dx = (dy - xhat * c1[:, None] - c2[:, None]) * rstd[:, None]
        tl.store(DX + offs, dx.to(DX.dtype.element_ty), mask=mask)

    @triton.jit
    def _gelu(x):
        return 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))

    @triton.jit
    def _bias_fwd(Y, B, R, OUT, N, O, GELU: tl.constexpr, RESID: tl.constexpr, ROWS: tl.constexpr,
                  BLOCK_O: tl.constexpr):
        """OUT = gelu(y + b) (GELU), r + (y + b) (RESID, in r's dtype), else y + b."""
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        cols = tl.program_id(1) * BLOCK_O + tl.arange(0, BLOCK_O)
        model = tl.program_id(2).to(tl.int64)
        mask = (rows[:, None] < N) & (cols[None, :] < O)
        offs = model * N * O + rows[:, None].to(tl.int64) * O + cols[None, :]
        b = tl.load(B + model * O + cols, mask=cols < O, other=0.0).to(tl.float32)
        v = tl.load(Y + offs, mask=mask, other=0.0).to(tl.float32) + b[None, :]
        if GELU:
            v = _gelu(v.to(Y.dtype.element_ty).to(tl.float32))
        if RESID:
            v += tl.load(R + offs, mask=mask, other=0.0).to(tl.float32)
        tl.store(OUT + offs, v.to(OUT.dtype.element_ty), mask=mask)

    @triton.jit
    def _bias_bwd(G, Y, B, DY, PART, N, O, GELU: tl.constexpr, WRITE: tl.constexpr, ROWS: tl.constexpr,
                  BLOCK_O: tl.constexpr):
        """dy = g * gelu'(pre) (GELU; pre = y + b rounded as in the forward), else g; written to DY
        in its dtype if WRITE, with this tile's column sums of dy (the bias gradient) in
        PART[model, row block, :]."""
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        cols = tl.program_id(1) * BLOCK_O + tl.arange(0, BLOCK_O)
        model = tl.program_id(2).to(tl.int64)
        mask = (rows[:, None] < N) & (cols[None, :] < O)
        offs = model * N * O + rows[:, None].to(tl.int64) * O + cols[None, :]
        g = tl.load(G + offs, mask=mask, other=0.0).to(tl.float32)
        if GELU:
            b = tl.load(B + model * O + cols, mask=cols < O, other=0.0).to(tl.float32)
            pre = tl.load(Y + offs, mask=mask, other=0.0).to(tl.float32) + b[None, :]
            pre = pre.to(Y.dtype.element_ty).to(tl.float32)
            cdf = 0.5 * (1.0 + tl.math.erf(pre * 0.7071067811865476))
            pdf = tl.exp(-0.5 * pre * pre) * 0.3989422804014327
            g = tl.where(mask, (g * (cdf + pre * pdf)).to(DY.dtype.element_ty).to(tl.float32), 0.0)
        if WRITE:
            tl.store(DY + offs, g.to(DY.dtype.element_ty), mask=mask)
        n_blocks = tl.num_programs(0)
        tl.store(PART + (model * n_blocks + tl.program_id(0)) * O + cols, tl.sum(g, axis=0), mask=cols < O)

    @triton.jit
    def _rope(SRC, DST, COS, SIN, n_rows, T, H, PS, HD: tl.constexpr, TO_HEADS: tl.constexpr,
              ROTATE: tl.constexpr, SIGN: tl.constexpr, ROWS: tl.constexpr, BLOCK: tl.constexpr):
        """Head program_id(1) of one of q, k, v between the packed layout (row r = n * T + t, row
        stride PS, head h at columns h * HD..) and the head layout (N, H, T, HD), TO_HEADS or back.
        ROTATE: pairs (2i, 2i + 1) of the head rotated by the angle at (t, i) (COS, SIN: (T, HD / 2),
        fp32), forward (SIGN 1) or inverse (SIGN -1, the backward). In fp32, stored in DST's dtype."""
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        h = tl.program_id(1)
        cols = tl.arange(0, BLOCK)
        mask = (rows[:, None] < n_rows) & (cols[None, :] < HD)
        r = rows.to(tl.int64)
        packed = r * PS + h * HD
        heads = ((r // T) * H + h) * T * HD + (r % T) * HD
        src, dst = (packed, heads) if TO_HEADS else (heads, packed)
        x = tl.load(SRC + src[:, None] + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        if ROTATE:
            xe, xo = tl.split(tl.reshape(x, (ROWS, BLOCK // 2, 2)))
            half = tl.arange(0, BLOCK // 2)
            hmask = (rows[:, None] < n_rows) & (half[None, :] < HD // 2)
            ang = (r % T)[:, None] * (HD // 2) + half[None, :]
            cos = tl.load(COS + ang, mask=hmask, other=1.0)
            sin = tl.load(SIN + ang, mask=hmask, other=0.0) * SIGN
            x = tl.reshape(tl.join(xe * cos - xo * sin, xo * cos + xe * sin), (ROWS, BLOCK))
        tl.store(DST + dst[:, None] + cols[None, :], x.to(DST.dtype.element_ty), mask=mask)


def _launch(d: int, n_rows: int):
    block_d = triton.next_power_of_2(d)
    rows = max(1, min(64, 4096 // block_d))  # about 4096 elements per program
    return block_d, rows, (triton.cdiv(n_rows, rows),)


class _Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, out_dtype):
        d = x.shape[-1]
        x2 = x.reshape(-1, d).contiguous()
        n = x2.shape[0]
        y = torch.empty(x2.shape, dtype=out_dtype, device=x.device)
        mean = torch.empty(n, dtype=torch.float32, device=x.device)
        rstd = torch.empty_like(mean)
        block_d, rows, grid = _launch(d, n)
        _norm_fwd[grid](x2, y, mean, rstd, n, D=d, BLOCK_D=block_d, ROWS=rows, eps=EPS)
        ctx.save_for_backward(x2, mean, rstd)
        ctx.shape = x.shape
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        x2, mean, rstd = ctx.saved_tensors
        d, n = x2.shape[1], x2.shape[0]
        dy2 = dy.reshape(-1, d).contiguous()
        dx = torch.empty_like(x2)
        block_d, rows, grid = _launch(d, n)
        _norm_bwd[grid](dy2, x2, mean, rstd, dx, n, D=d, BLOCK_D=block_d, ROWS=rows)
        return dx.view(ctx.shape), None


def normalize(x: torch.Tensor, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """(x - mean) / sqrt(var + 1e-5) over the last dim, in out_dtype (default x's), computed in fp32."""
    out_dtype = out_dtype or x.dtype
    if enabled(x):
        return _Normalize.apply(x, out_dtype)
    with torch.autocast(x.device.type, enabled=False):
        return F.layer_norm(x, x.shape[-1:]).to(out_dtype)


def _bias_launch(y):
    m, n, o = y.shape
    block_o = min(128, triton.next_power_of_2(o))
    rows = 4096 // block_o
    return rows, block_o, (triton.cdiv(n, rows), triton.cdiv(o, block_o), m)


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, b, gelu, resid):
        y = y.contiguous()
        r = y if resid is None else resid.contiguous()
        out = torch.empty_like(r)
        rows, block_o, grid = _bias_launch(y)
        _bias_fwd[grid](y, b, r, out, y.shape[1], y.shape[2], GELU=gelu, RESID=resid is not None, ROWS=rows,
                        BLOCK_O=block_o)
        ctx.save_for_backward(y if gelu else None, b)
        ctx.gelu, ctx.resid, ctx.y_dtype = gelu, resid is not None, y.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        y, b = ctx.saved_tensors
        g = g.contiguous()
        m, n, o = g.shape
        rows, block_o, grid = _bias_launch(g)
        write = ctx.gelu or g.dtype != ctx.y_dtype
        dy = torch.empty(g.shape, dtype=ctx.y_dtype, device=g.device) if write else g
        part = torch.empty(m, grid[0], o, dtype=torch.float32, device=g.device)
        _bias_bwd[grid](g, g if y is None else y, b, dy, part, n, o, GELU=ctx.gelu, WRITE=write, ROWS=rows,
                        BLOCK_O=block_o)
        return dy, part.sum(1).to(b.dtype), None, g if ctx.resid else None


def bias_act(y: torch.Tensor, b: torch.Tensor, gelu: bool = False, resid: torch.Tensor | None = None) -> torch.Tensor:
    """y (m, N, o) + b (m, o), then GELU if asked, in y's dtype; with resid (m, N, o), resid + that,
    in resid's dtype (a residual branch's last linear). One pass forward, and one backward that
    also sums the bias gradient (per row block, then over the blocks: no atomics, so
    deterministic). The fallback rounds the bias to y's dtype first, as the ops it replaces did."""
    if enabled(y):
        return _BiasAct.apply(y, b, gelu, resid)
    y = y + b.unsqueeze(1).to(y.dtype)
    y = F.gelu(y) if gelu else y
    return y if resid is None else resid + y


class _RopeHeads(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv, cos, sin, n_head):
        N, T, D3 = qkv.shape
        d = D3 // 3
        qkv = qkv.contiguous()
        out = torch.empty(3, N, n_head, T, d // n_head, dtype=qkv.dtype, device=qkv.device)
        _rope_launch(qkv, out, cos, sin, N * T, T, n_head, d // n_head, True)
        ctx.save_for_backward(cos, sin)
        return out[0], out[1], out[2]

    @staticmethod
    def backward(ctx, dq, dk, dv):
        cos, sin = ctx.saved_tensors
        N, H, T, hd = dq.shape
        dqkv = torch.empty(N, T, 3 * H * hd, dtype=dq.dtype, device=dq.device)
        _rope_launch(dqkv, (dq.contiguous(), dk.contiguous(), dv.contiguous()), cos, sin, N * T, T, H, hd, False)
        return dqkv, None, None, None


def _rope_launch(packed, heads, cos, sin, n_rows, T, H, hd, to_heads):
    """q, k, v (slot s of the packed (N, T, 3d) tensor, heads[s] in the (N, H, T, hd) layout) one
    launch each, a program per block of rows and head."""
    block = triton.next_power_of_2(hd)
    rows = max(1, min(64, 4096 // block))
    grid = (triton.cdiv(n_rows, rows), H)
    d = H * hd
    for s in range(3):
        src, dst = (packed[..., s * d:], heads[s]) if to_heads else (heads[s], packed[..., s * d:])
        _rope[grid](src, dst, cos, sin, n_rows, T, H, 3 * d, HD=hd, TO_HEADS=to_heads, ROTATE=s < 2,
                    SIGN=1 if to_heads else -1, ROWS=rows, BLOCK=block)


def rope_ref(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1, x2) of the head dim; x (N, H, T, hd), cos/sin (T, hd/2) fp32."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


def rope_heads(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int):
    """qkv (N, T, 3d), the packed projection -> q, k, v, each (N, H, T, d / H), q and k rotated by
    the angles cos, sin (T, d / H / 2, fp32). The kernel writes them contiguous; the fallback
    rotates views of qkv (rope_ref)."""
    if enabled(qkv):
        return _RopeHeads.apply(qkv, cos.contiguous(), sin.contiguous(), n_head)
    N, T, D3 = qkv.shape
    d = D3 // 3
    q, k, v = (t.transpose(1, 2) for t in qkv.view(N, T, 3, n_head, d // n_head).unbind(2))
    return rope_ref(q, cos, sin), rope_ref(k, cos, sin), v
