#!/usr/bin/env python3
"""PyTorch twin of the workbench's VLA model, for side-by-side timing (bench/README.md, "Against PyTorch").

Same configuration, same layer math as src/Vla.Core/Model: SigLIP (conv patches, pre-LN encoder, GELU-tanh
MLP, post-LN), linear projector, Gemma (embedding x sqrt(D), RMSNorm with 1 + w in float32, split-half RoPE,
grouped-query attention, GeGLU MLP), prefix attention over non-padding keys, context projector and state
token, and the flow-matching head (action MLP + horizon embedding, sinusoidal time MLP, adaLN-zero blocks
with self-attention, cross-attention to the context and a GELU MLP, modulated final norm). PyTorch 1.13 has
no scaled_dot_product_attention, so attention is written out (matmul, masked softmax, matmul), which is
what that version offers.

Precision: a config spec may carry "dtype": "float32" (the default when absent) or "bfloat16". In bfloat16 the
backbone (SigLIP, projector, Gemma) is stored and computed in bfloat16 (pixels cast at the vision tower's
input, RMSNorm in float32 and cast back, RoPE cos/sin and the sqrt(D) scales rounded to bfloat16), its final
hidden states are cast to float32 before the context projector, and the context projector, state encoder,
action head and loss stay float32. The optimizer mirrors our TrainStep: each trained bfloat16 parameter has a
float32 master copy that takes its gradient, is clipped and stepped by AdamW with the float32 parameters, and
is copied back into the bfloat16 parameter after the step.

Usage (the C# benchmark runs it): python3 vla_twin.py, then one JSON request per line on stdin, one JSON reply per
line on stdout, so the C# side can alternate its own measurements with the twin's (bench/README.md, "Against PyTorch"):
  {"op": "info", "threads": N}                 -> {"pytorch_version", "threads", "blas"}
  {"op": "matmul", "dtype": "float32"}         -> {"gflops"} (1024², median of 20)
  {"op": "load", "key": K, "config": SPEC}     -> {"params"}  (SPEC: PyTorchTwin.ConfigSpec: sizes, batch, prompt ids, dtype)
  {"op": "train", "key": K, "steps": N}        -> {"ms": [...]}
  {"op": "chunk", "key": K, "runs": N}         -> {"chunk_ms": [...], "backbone_ms": [...]}
  {"op": "drop", "key": K}                     -> {}
A request that fails is answered {"error": "..."}; the twin exits when its input ends.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def gelu(x):
    return F.gelu(x, approximate="tanh")


def attention(q, k, v, key_mask=None):
    """(B, H, T, d) x (B, H, S, d): softmax(q k^T / sqrt(d)) v, padding keys masked out."""
    scores = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    return scores.softmax(-1) @ v


class SiglipLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.heads = c["heads"]
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=c["eps"]), nn.LayerNorm(d, eps=c["eps"])
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, c["intermediate"]), nn.Linear(c["intermediate"], d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.ln1(x)
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)
        att = attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        x = x + self.o(att.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(gelu(self.fc1(self.ln2(x))))


class Siglip(nn.Module):
    def __init__(self, c):
        super().__init__()
        patches = (c["image_size"] // c["patch"]) ** 2
        self.patch = nn.Conv2d(3, c["hidden"], c["patch"], stride=c["patch"])
        self.position = nn.Parameter(torch.randn(patches, c["hidden"]) * 0.02)
        self.layers = nn.ModuleList(SiglipLayer(c) for _ in range(c["layers"]))
        self.post = nn.LayerNorm(c["hidden"], eps=c["eps"])

    def forward(self, pixels):
        x = self.patch(pixels.to(self.patch.weight.dtype)).flatten(2).transpose(1, 2) + self.position[None]
        for layer in self.layers:
            x = layer(x)
        return self.post(x)


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.zeros(d)), eps

    def forward(self, x):
        xf = x.float()
        return (xf * (xf.pow(2).mean(-1, keepdim=True) + self.eps).rsqrt() * (self.weight.float() + 1)).to(x.dtype)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


class GemmaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["hidden"], c["head_dim"]
        self.heads, self.kv_heads, self.hd = c["heads"], c["kv_heads"], hd
        self.norm1, self.norm2 = RmsNorm(d, c["eps"]), RmsNorm(d, c["eps"])
        self.q = nn.Linear(d, self.heads * hd, bias=False)
        self.k = nn.Linear(d, self.kv_heads * hd, bias=False)
        self.v = nn.Linear(d, self.kv_heads * hd, bias=False)
        self.o = nn.Linear(self.heads * hd, d, bias=False)
        self.gate = nn.Linear(d, c["intermediate"], bias=False)
        self.up = nn.Linear(d, c["intermediate"], bias=False)
        self.down = nn.Linear(c["intermediate"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.norm1(x)
        q = rotate(self.q(h).view(b, t, self.heads, self.hd).transpose(1, 2), cos, sin)
        k = rotate(self.k(h).view(b, t, self.kv_heads, self.hd).transpose(1, 2), cos, sin)
        v = self.v(h).view(b, t, self.kv_heads, self.hd).transpose(1, 2)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, 1)
            v = v.repeat_interleave(self.heads // self.kv_heads, 1)
        x = x + self.o(attention(q, k, v, mask).transpose(1, 2).reshape(b, t, -1))
        h = self.norm2(x)
        return x + self.down(gelu(self.gate(h)) * self.up(h))


class Gemma(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList(GemmaLayer(c) for _ in range(c["layers"]))
        self.norm = RmsNorm(c["hidden"], c["eps"])

    def forward(self, x, positions, mask):
        hd = self.c["head_dim"]
        inverse = 1.0 / (self.c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
        angles = positions.float()[..., None] * inverse
        doubled = torch.cat([angles, angles], -1)[:, None]
        # cos/sin in float32, then in the model dtype; sqrt(D) rounded to the model dtype as Hugging Face does.
        cos, sin = doubled.cos().to(x.dtype), doubled.sin().to(x.dtype)
        x = x * torch.tensor(math.sqrt(self.c["hidden"]), dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.GELU(approximate="tanh")]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


class HeadAttention(nn.Module):
    def __init__(self, width, key_dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(width, width), nn.Linear(key_dim, width), nn.Linear(key_dim, width)
        self.o = nn.Linear(width, width)

    def forward(self, x, keys, key_mask):
        b, t, w = x.shape
        s = keys.shape[1]
        split = lambda z, n: z.view(b, n, self.heads, w // self.heads).transpose(1, 2)
        mask = None if key_mask is None else key_mask.view(b, 1, 1, s)
        att = attention(split(self.q(x), t), split(self.k(keys), s), split(self.v(keys), s), mask)
        return self.o(att.transpose(1, 2).reshape(b, t, w))


class Block(nn.Module):
    def __init__(self, width, context_dim, heads):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(width, elementwise_affine=False, eps=1e-6) for _ in range(3))
        self.self_attn = HeadAttention(width, width, heads)
        self.cross_attn = HeadAttention(width, context_dim, heads)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
        self.ada = nn.Linear(width, 9 * width)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, condition, context, mask):
        m = self.ada(F.silu(condition))[:, None].chunk(9, -1)
        h = self.norms[0](x) * (m[1] + 1) + m[0]
        x = x + m[2] * self.self_attn(h, h, None)
        x = x + m[5] * self.cross_attn(self.norms[1](x) * (m[4] + 1) + m[3], context, mask)
        return x + m[8] * self.mlp(self.norms[2](x) * (m[7] + 1) + m[6])


class Head(nn.Module):
    def __init__(self, c, context_dim):
        super().__init__()
        w = self.width = c["hidden"]
        self.encoder = mlp([c["per_action_dim"], *c["mlp_hidden"], w])
        self.horizon = nn.Parameter(torch.randn(c["horizon"], w) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(w, context_dim, c["heads"]) for _ in range(c["layers"]))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(w, 2 * w)
        nn.init.zeros_(self.final_ada.weight)
        nn.init.zeros_(self.final_ada.bias)
        self.out = nn.Linear(w, c["per_action_dim"])

    def time_embedding(self, t):
        fraction = torch.linspace(0, 1, self.width // 2)
        period = 4e-3 * (4.0 / 4e-3) ** fraction
        angle = t.float()[:, None] * (2 * math.pi / period)
        return torch.cat([angle.sin(), angle.cos()], -1)

    def forward(self, noisy, t, context, mask):
        x = self.encoder(noisy) + self.horizon[None]
        condition = self.time_mlp(self.time_embedding(t))
        for block in self.blocks:
            x = block(x, condition, context, mask)
        shift, scale = self.final_ada(F.silu(condition))[:, None].chunk(2, -1)
        return self.out(self.final_norm(x) * (scale + 1) + shift)


class Vla(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.vision = Siglip(c["vision"])
        self.projector = nn.Linear(c["vision"]["hidden"], c["text"]["hidden"])
        self.text = Gemma(c["text"])
        self.context = mlp([c["text"]["hidden"], c["context_dim"], c["context_dim"]])
        self.state = mlp([c["state_dim"], *c["head"]["mlp_hidden"], c["context_dim"]])
        self.head = Head(c["head"], c["context_dim"])

    def encode(self, images, ids, id_mask, state):
        b, cams = images.shape[:2]
        features = self.projector(self.vision(images.flatten(0, 1)))
        features = features.reshape(b, cams * features.shape[1], -1) / torch.tensor(math.sqrt(self.c["text"]["hidden"]), dtype=features.dtype)
        x = torch.cat([features, self.text.embed(ids)], 1)
        key_mask = torch.cat([torch.ones(b, features.shape[1], dtype=torch.bool), id_mask], 1)
        positions = torch.arange(1, x.shape[1] + 1)[None].expand(b, -1)
        hidden = self.text(x, positions, key_mask[:, None, None, :]).float()  # context projector onwards in float32
        context = torch.cat([self.context(hidden), self.state(state)[:, None]], 1)
        return context, torch.cat([key_mask, torch.ones(b, 1, dtype=torch.bool)], 1)

    def loss(self, images, ids, id_mask, state, actions):
        noise = torch.randn_like(actions)
        t = torch.rand(actions.shape[0]).pow(1 / 1.5) * 0.999 + 0.001
        noisy = t[:, None, None] * noise + (1 - t[:, None, None]) * actions
        context, mask = self.encode(images, ids, id_mask, state)
        return (self.head(noisy, t, context, mask) - (noise - actions)).pow(2).mean()


def init_weights(model):
    """As PaliGemmaBackbone.InitializeWeights: N(0, 0.02) weights, zero biases, LayerNorm scales 1, RMSNorm w 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not (name.startswith("vision") or name.startswith("projector") or name.startswith("text")):
                continue
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or ".post" in name:
                p.fill_(1)
            elif "norm" in name:
                p.zero_()
            else:
                p.normal_(0, 0.02)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def backbone_dtype(c):
    """The spec's "dtype" (float32 when absent; "torch." prefix accepted, as ModelDtype does) as a torch dtype."""
    name = c.get("dtype", "float32").removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"config {c['name']!r}: dtype must be float32 or bfloat16 (got {name!r})")
    return DTYPES[name]


def master_copies(model):
    """As TrainStep: the optimized parameters (float32 ones as they are, float32 masters of the others) and (parameter, master) pairs."""
    optimized, masters = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        if p.dtype == torch.float32:
            optimized.append(p)
            continue
        master = nn.Parameter(p.detach().float())
        masters.append((p, master))
        optimized.append(master)
    return optimized, masters


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def matmul_gflops(size=1024, runs=20, dtype=torch.float32):
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / median(times) / 1e9


class Twin:
    """One configuration, built once: the model (seed 1), its optimizer and a fixed batch, ready to train and sample."""

    def __init__(self, c):
        self.c = c
        torch.manual_seed(1)
        model = self.model = Vla(c)
        init_weights(model)
        dtype = backbone_dtype(c)
        for part in (model.vision, model.projector, model.text):
            part.to(dtype)
        b, cams, size = c["batch"], c["cameras"], c["vision"]["image_size"]
        self.images = torch.rand(b, cams, 3, size, size) * 2 - 1
        self.ids = torch.tensor(c["prompt_ids"])[:b]
        self.id_mask = torch.tensor(c["prompt_mask"], dtype=torch.bool)[:b]
        self.state = torch.rand(b, c["state_dim"]) * 2 - 1
        self.actions = torch.rand(b, c["head"]["horizon"], c["head"]["per_action_dim"]) * 2 - 1
        self.optimized, self.masters = master_copies(model)
        self.optimizer = torch.optim.AdamW(self.optimized, lr=1e-4)

    def train(self, steps):
        """Milliseconds of each of `steps` training steps: forward, backward, clipping, AdamW (and the master copies in bf16)."""
        model, times = self.model, []
        model.train()
        for _ in range(steps):
            start = time.perf_counter()
            loss = model.loss(self.images, self.ids, self.id_mask, self.state, self.actions)
            loss.item()
            loss.backward()
            for p, master in self.masters:  # bfloat16 gradients to the float32 masters
                if p.grad is None:
                    continue
                if master.grad is None:
                    master.grad = torch.zeros_like(master)
                master.grad.copy_(p.grad)
            torch.nn.utils.clip_grad_norm_(self.optimized, 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad()
            for p, master in self.masters:  # and the stepped masters back into the bfloat16 parameters
                if p.grad is not None:
                    p.grad.zero_()
                p.data.copy_(master)
            times.append(1000 * (time.perf_counter() - start))
        return {"ms": times}

    def chunk(self, runs):
        """Milliseconds of `runs` action chunks (batch 1: backbone once, then the Euler steps) and of their backbone part."""
        model, c = self.model, self.c
        model.eval()
        chunk_ms, backbone_ms = [], []
        with torch.no_grad():
            one = (self.images[:1], self.ids[:1], self.id_mask[:1], self.state[:1])
            for _ in range(runs):
                start = time.perf_counter()
                context, mask = model.encode(*one)
                encoded = time.perf_counter()
                x = torch.randn(1, c["head"]["horizon"], c["head"]["per_action_dim"])
                dt = -1.0 / c["euler_steps"]
                for i in range(c["euler_steps"]):
                    x = x + dt * model.head(x, torch.full((1,), 1.0 + i * dt), context, mask)
                chunk_ms.append(1000 * (time.perf_counter() - start))
                backbone_ms.append(1000 * (encoded - start))
        return {"chunk_ms": chunk_ms, "backbone_ms": backbone_ms}


def blas():
    shown = torch.__config__.show()
    return shown.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in shown else "unknown"


def serve(requests, replies):
    """Answers one JSON request per line with one JSON line, until the input ends; a failed request is answered {"error": ...}."""
    twins = {}
    for line in requests:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "info":
                torch.set_num_threads(request["threads"])
                reply = {"pytorch_version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas()}
            elif op == "matmul":
                reply = {"gflops": matmul_gflops(dtype=DTYPES[request["dtype"]])}
            elif op == "load":
                twin = twins[request["key"]] = Twin(request["config"])
                reply = {"params": sum(p.numel() for p in twin.model.parameters())}
            elif op == "train":
                reply = twins[request["key"]].train(request["steps"])
            elif op == "chunk":
                reply = twins[request["key"]].chunk(request["runs"])
            elif op == "drop":
                del twins[request["key"]]
                reply = {}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as e:  # answered, so the C# side names the request that failed
            reply = {"error": f"{type(e).__name__}: {e}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
