#!/usr/bin/env python3
"""PyTorch twin of the workbench's pi0 chunk, for paired timing (bench part pi0, bench/README.md).

The plain-PyTorch forward of tests/golden/make_pi0_golden.py (written from LeRobot's code), made to do what the
workbench's chunk does: the prefix (three cameras through SigLIP, the prompt) runs once into a cache of each layer's
rotated keys and values, then each of the 10 Euler steps runs only the suffix (state token and action tokens) through
the expert against that cache. Dtypes as the workbench's bfloat16 (Pi0Model.StoreIn): the token table and both
transformers' projections in bfloat16, the vision tower, projector, norms and the action/state/time projections in
float32; norms compute in float32 and return the stream's dtype; softmax in float32. PyTorch 1.13 has no
scaled_dot_product_attention, so attention is written out.

One JSON request per line on stdin, one reply per line on stdout (the C# side alternates its runs with the twin's):
  {"op": "info", "threads": N} -> {"pytorch_version", "threads", "blas"}
  {"op": "load", "folder": F, "dtype": "bfloat16"|"float32", "tokens": [...], "token_mask": [...], "threads": N} -> {"params"}
  {"op": "chunk", "runs": N}   -> {"chunk_ms": [...]}
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
sys.path.insert(0, HERE)
import make_pi0_golden as ref  # noqa: E402
from pi0_check_lerobot_folder import read_safetensors  # noqa: E402
from vla_twin import blas  # noqa: E402

LM = "paligemma_with_expert.paligemma.model.language_model."
EXPERT = "paligemma_with_expert.gemma_expert.model."


def load(folder, dtype):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    ref.VISION = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=224, patch_size=14, layer_norm_eps=1e-6)
    ref.VLM = dict(width=2048, mlp_dim=16384, depth=18, num_heads=8, num_kv_heads=1, head_dim=256, vocab=257152)
    ref.EXPERT = dict(width=1024, mlp_dim=4096, depth=18, num_heads=8, num_kv_heads=1, head_dim=256)
    ref.CHUNK, ref.MAX_STATE, ref.MAX_ACTION, ref.STEPS = config["chunk_size"], config["max_state_dim"], config["max_action_dim"], config["num_inference_steps"]
    def dtype_for(name):
        half = (".self_attn." in name or ".mlp." in name or name.endswith("lm_head.weight")) and "vision_tower" not in name
        return dtype if half else torch.float32

    stored = read_safetensors(os.path.join(folder, "model.safetensors"), dtype_for)
    return {(name[len("model."):] if name.startswith("model.") else name): t for name, t in stored.items()}, config


def norm(w, name, x, cond):
    normed, gate = ref.norm(w, name, x.float(), cond)
    return normed.to(x.dtype), None if gate is None else gate.to(x.dtype)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def cos_sin(positions, dtype):
    hd = ref.VLM["head_dim"]
    inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = positions[:, :, None].float() * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None].to(dtype), emb.sin()[:, None].to(dtype)


def attend(q, k, v, mask):
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = q @ k.transpose(2, 3) * q.shape[-1] ** -0.5 + mask
    return (torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype) @ v).transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)


def layer(w, prefix, h, cos, sin, mask, cond, cache, i, store):
    """One layer of one stream (prefix: the PaliGemma or expert key prefix) against the cache; returns the new hidden states."""
    p = prefix + f"layers.{i}."
    n, g = norm(w, p + "input_layernorm", h, cond)
    b, l, _ = n.shape
    hd = ref.VLM["head_dim"]
    q = rope(F.linear(n, w[p + "self_attn.q_proj.weight"]).view(b, l, -1, hd).transpose(1, 2), cos, sin)
    k = rope(F.linear(n, w[p + "self_attn.k_proj.weight"]).view(b, l, -1, hd).transpose(1, 2), cos, sin)
    v = F.linear(n, w[p + "self_attn.v_proj.weight"]).view(b, l, -1, hd).transpose(1, 2)
    if store:
        cache[i] = (k, v)
    else:
        k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
    out = ref.gated(h, F.linear(attend(q, k, v, mask), w[p + "self_attn.o_proj.weight"]), g)
    n2, g2 = norm(w, p + "post_attention_layernorm", out, cond)
    mlp = F.linear(F.gelu(F.linear(n2, w[p + "mlp.gate_proj.weight"]), approximate="tanh") * F.linear(n2, w[p + "mlp.up_proj.weight"]), w[p + "mlp.down_proj.weight"])
    return ref.gated(out, mlp, g2)


def chunk(w, images, tokens, token_mask, state, noise, dtype):
    pi05 = "time_mlp_in.weight" in w
    embs, pad, _ = ref.embed_prefix(w, images, torch.ones(1, images.shape[1], dtype=torch.bool), tokens, token_mask)
    embs = embs.to(dtype)
    positions = torch.cumsum(pad.long(), dim=1) - 1
    allowed = pad[:, None, :] & pad[:, :, None]
    mask = torch.where(allowed[:, None], 0.0, ref.MASK_VALUE).to(dtype)
    cos, sin = cos_sin(positions, dtype)
    cache, h = {}, embs
    for i in range(ref.VLM["depth"]):
        h = layer(w, LM, h, cos, sin, mask, None, cache, i, store=True)
    offset = pad.long().sum(1, keepdim=True)
    x, dt = noise, -1.0 / ref.STEPS
    for step in range(ref.STEPS):
        t = torch.tensor(1.0 + step * dt, dtype=torch.float32).expand(1)
        s, s_pad, s_ar, cond = ref.embed_suffix(w, pi05, state, x, t)
        s = s.to(dtype)
        cum = torch.cumsum(s_ar, dim=1)
        to_suffix = (cum[:, None, :] <= cum[:, :, None]) & (s_pad[:, None, :] & s_pad[:, :, None])
        to_prefix = pad[:, None, :].expand(1, s.shape[1], -1)
        smask = torch.where(torch.cat([to_prefix, to_suffix], 2)[:, None], 0.0, ref.MASK_VALUE).to(dtype)
        scos, ssin = cos_sin(offset + torch.cumsum(s_pad.long(), dim=1) - 1, dtype)
        for i in range(ref.EXPERT["depth"]):
            s = layer(w, EXPERT, s, scos, ssin, smask, cond, cache, i, store=False)
        out, _ = norm(w, EXPERT + "norm", s, cond)
        v = F.linear(out[:, -ref.CHUNK:].float(), w["action_out_proj.weight"], w["action_out_proj.bias"])
        x = x + dt * v
    return x


def main():
    model = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "info":
                torch.set_num_threads(request["threads"])
                reply = {"pytorch_version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas()}
            elif request["op"] == "load":
                torch.set_num_threads(request.get("threads", torch.get_num_threads()))
                dtype = torch.bfloat16 if request["dtype"] == "bfloat16" else torch.float32
                w, config = load(request["folder"], dtype)
                g = torch.Generator().manual_seed(2)
                cameras = sum(1 for v in config["input_features"].values() if v["type"] == "VISUAL")
                images = torch.rand(1, cameras, 3, 224, 224, generator=g) * 2 - 1
                state = torch.randn(1, ref.MAX_STATE, generator=g)
                tokens = torch.tensor([request["tokens"]])
                token_mask = torch.tensor([request["token_mask"]], dtype=torch.bool)
                model = (w, images, tokens, token_mask, state, dtype)
                reply = {"params": sum(t.numel() for t in w.values())}
            elif request["op"] == "chunk":
                w, images, tokens, token_mask, state, dtype = model
                times = []
                with torch.no_grad():
                    for _ in range(request["runs"]):
                        noise = torch.randn(1, ref.CHUNK, ref.MAX_ACTION)
                        began = time.perf_counter()
                        chunk(w, images, tokens, token_mask, state, noise, dtype)
                        times.append((time.perf_counter() - began) * 1000)
                reply = {"chunk_ms": times}
            else:
                reply = {"error": f"unknown op {request['op']}"}
        except Exception as e:  # noqa: BLE001 (the C# side reports it)
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
