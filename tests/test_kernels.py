"""The LayerNorm fold (models.transformer.norm_linear) and the Triton kernels (models.kernels) against
the PyTorch ops they replace: on a CPU through Triton's interpreter (a subprocess with
TRITON_INTERPRET=1), on CUDA when there is a GPU."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from models.transformer import ModelConfig, StackedTransformer, layer_norm, linear

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unfused_block(b, x):
    """A pre-norm block as written before the fold: LayerNorm with its affine, then the linear."""
    m, B, T, d = x.shape
    H = b.cfg.n_head
    qkv = linear(layer_norm(x, b.ln1_w, b.ln1_b), b.qkv_w, b.qkv_b).view(m * B, T, 3, H, d // H)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(m, B, T, d)
    x = x + linear(y, b.proj_w, b.proj_b)
    h = F.gelu(linear(layer_norm(x, b.ln2_w, b.ln2_b), b.fc_w, b.fc_b))
    return x + linear(h, b.out_w, b.out_b)


def model_and_input(device, seed=0):
    torch.manual_seed(seed)
    model = StackedTransformer(ModelConfig(n_layer=2, d_model=40, n_head=4), 3, 11, 12).to(device)
    with torch.no_grad():  # LayerNorm affines and biases away from their init, so the fold has work to do
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("ln") or name.endswith("_b"):
                p.add_(torch.randn_like(p) * 0.3)
    return model, torch.randint(0, 11, (3, 5, 12), device=device)


def check_model(device, tol):
    """The model's logits and every parameter's gradient against the unfused blocks."""
    model, idx = model_and_input(device)
    out = model(idx)
    h = model.embed_tokens(idx) + model.wpe[:, None, :12]
    for b in model.blocks:
        h = unfused_block(b, h)
    ref = model.logits(layer_norm(h, model.lnf_w, model.lnf_b))
    assert (out - ref).abs().max() <= tol * ref.abs().max()
    params = list(model.parameters())
    for (name, _), g, r in zip(model.named_parameters(), torch.autograd.grad(out.square().sum(), params),
                                torch.autograd.grad(ref.square().sum(), params)):
        assert (g - r).abs().max() <= tol * r.abs().max() + 1e-12, name


def check_kernels(device):
    """normalize and bias_act (fp32 and bf16, widths that are and are not powers of two, ragged row
    counts) forward and backward against the PyTorch ops, then a whole model."""
    from models import kernels
    assert kernels.enabled(torch.zeros(1, device=device)), "the Triton path is not taken"
    gen = torch.Generator().manual_seed(0)
    for d, n, dt in [(40, 7, torch.float32), (128, 70, torch.bfloat16), (80, 33, torch.float32), (33, 5, torch.bfloat16)]:
        x = (torch.randn(2, n, d, generator=gen) * 3 + 1).to(device).requires_grad_()
        y, ref = kernels.normalize(x, dt), F.layer_norm(x, (d,))
        assert y.dtype == dt and y.shape == x.shape
        # bf16: within one unit in the last place (Triton's interpreter truncates, the GPU rounds)
        assert ((y.float() - ref).abs() <= (2 ** -7 if dt == torch.bfloat16 else 1e-6) * ref.abs() + 1e-6).all()
        g = torch.randn(x.shape, generator=gen).to(device, dt)
        gx, = torch.autograd.grad(y, x, g)
        gr, = torch.autograd.grad(ref, x, g.float())
        assert (gx - gr).abs().max() <= 1e-5 * gr.abs().max()
        for gelu, resid in ((False, False), (True, False), (False, True)):
            o = d + 3
            yy = torch.randn(2, n, o, generator=gen).to(device, dt).requires_grad_()
            bb = torch.randn(2, o, generator=gen).to(device).requires_grad_()
            rr = torch.randn(2, n, o, generator=gen).to(device).requires_grad_() if resid else None
            out = kernels.bias_act(yy, bb, gelu, rr)
            pre = yy.float() + bb.unsqueeze(1)
            want = F.gelu(pre.to(dt).float()) if gelu else pre
            want = rr + want if resid else want
            rtol = 0.02 if dt == torch.bfloat16 else 1e-5
            assert out.dtype == (torch.float32 if resid else dt)
            assert (out.float() - want).abs().max() <= rtol * want.abs().max()
            go = torch.randn(out.shape, generator=gen).to(device, out.dtype)
            inputs = (yy, bb, rr) if resid else (yy, bb)
            got, ref = torch.autograd.grad(out, inputs, go), torch.autograd.grad(want, inputs, go.float())
            assert got[0].dtype == dt and got[1].dtype == torch.float32
            for a, r in zip(got, ref):
                assert (a.float() - r).abs().max() <= rtol * r.abs().max()
    check_rope(device)
    check_model(device, 1e-4)


def check_rope(device):
    """rope_heads (the kernel) against its fallback, rope_ref on views of qkv: q, k, v and the
    gradient of qkv, fp32 and bf16, head dims that are and are not powers of two, angles from an
    offset position (a KV-cache chunk); then a rotary model's logits and gradients with the kernels
    off (DEPTHBENCH_TRITON=0) and on."""
    from models import kernels
    gen = torch.Generator().manual_seed(1)
    for N, T, H, hd, dt in [(6, 7, 4, 8, torch.float32), (3, 5, 1, 16, torch.bfloat16), (2, 9, 3, 10, torch.float32)]:
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        ang = torch.arange(3, 3 + T, dtype=torch.float32)[:, None] * inv[None]
        cos, sin = ang.cos().to(device), ang.sin().to(device)
        x = torch.randn(N, T, 3 * H * hd, generator=gen).to(device, dt).requires_grad_()
        got = kernels.rope_heads(x, cos, sin, H)
        q, k, v = (t.transpose(1, 2) for t in x.view(N, T, 3, H, hd).unbind(2))
        want = (kernels.rope_ref(q, cos, sin), kernels.rope_ref(k, cos, sin), v)
        tol = 2 ** -7 if dt == torch.bfloat16 else 1e-6  # bf16: a unit in the last place of the largest
        gs = [torch.randn(w.shape, generator=gen).to(device, dt) for w in want]
        for a, b in [*zip(got, want), (torch.autograd.grad(got, x, gs)[0], torch.autograd.grad(want, x, gs)[0])]:
            assert a.shape == b.shape and a.dtype == dt
            assert (a.float() - b.float()).abs().max() <= tol * b.float().abs().max()
    torch.manual_seed(0)
    model = StackedTransformer(ModelConfig(n_layer=2, d_model=48, n_head=4, pos="rope"), 2, 11, 12).to(device)
    idx = torch.randint(0, 11, (2, 3, 12), device=device)
    runs = []
    for off in ("0", "1"):
        os.environ["DEPTHBENCH_TRITON"] = off
        out = model(idx)
        runs.append((out, torch.autograd.grad(out.square().sum(), list(model.parameters()))))
    del os.environ["DEPTHBENCH_TRITON"]
    (ref, ref_g), (out, out_g) = runs
    assert (out - ref).abs().max() <= 1e-4 * ref.abs().max()
    for g, r in zip(out_g, ref_g):
        assert (g - r).abs().max() <= 1e-4 * r.abs().max() + 1e-12


def test_fold_matches_unfused_blocks():
    check_model("cpu", 1e-5)  # PyTorch fallbacks on a CPU (the Triton path needs CUDA or the interpreter)


def test_kernels_in_triton_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": ROOT}
    code = "import tests.test_kernels as t; t.check_kernels('cpu'); print('ok')"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_kernels_on_cuda():
    pytest.importorskip("triton")
    check_kernels("cuda")


def test_switch_off_takes_the_pytorch_path(monkeypatch):
    from models import kernels
    monkeypatch.setenv("DEPTHBENCH_TRITON", "0")
    assert not kernels.enabled(torch.zeros(1))
