#!/usr/bin/env python3
"""Writes a tiny random PaliGemma in the Hugging Face layout and reference activations for the C# golden tests.

Run with Debian's PyTorch (apt-get install python3-torch), from the repository root:
    /usr/bin/python3 tests/golden/make_golden.py
The forward pass below is written out from the Hugging Face semantics (modeling_siglip.py,
modeling_gemma.py, modeling_paligemma.py) in plain PyTorch, as an independent implementation of the
operators. Outputs (committed, about 1 MB): tests/golden/tiny-paligemma-hf/ and tests/golden/reference.safetensors.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
torch.manual_seed(20261125)

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_channels=3, image_size=32, patch_size=8, layer_norm_eps=1e-6)
TEXT = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=1, head_dim=24, rms_norm_eps=1e-6, rope_theta=10000.0)
IMAGE_TOKEN = 300
EOS = 1
CAMERAS = 2
PROMPT_IDS = [2, 57, 113, 9, 250, 10]  # BOS, "prompt" ids, "\n"-like id
NEW_TOKENS = 6


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def rand(*shape, scale=0.05):
    return torch.randn(*shape) * scale


def siglip_weights(w, pre, v, rand):
    """SigLIP's tensors under `pre` for the shapes of `v`, drawn by `rand(*shape, scale=…)` (its default scale for biases)."""
    d, p = v["hidden_size"], v["patch_size"]
    n = (v["image_size"] // p) ** 2
    w[pre + "embeddings.patch_embedding.weight"] = rand(d, 3, p, p, scale=0.1)
    w[pre + "embeddings.patch_embedding.bias"] = rand(d)
    w[pre + "embeddings.position_embedding.weight"] = rand(n, d, scale=0.1)
    for i in range(v["num_hidden_layers"]):
        q = pre + f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[q + f"self_attn.{name}.weight"] = rand(d, d, scale=0.15)
            w[q + f"self_attn.{name}.bias"] = rand(d)
        for name in ("layer_norm1", "layer_norm2"):
            w[q + f"{name}.weight"] = 1 + rand(d)
            w[q + f"{name}.bias"] = rand(d)
        w[q + "mlp.fc1.weight"] = rand(v["intermediate_size"], d, scale=0.15)
        w[q + "mlp.fc1.bias"] = rand(v["intermediate_size"])
        w[q + "mlp.fc2.weight"] = rand(d, v["intermediate_size"], scale=0.15)
        w[q + "mlp.fc2.bias"] = rand(d)
    w[pre + "post_layernorm.weight"] = 1 + rand(d)
    w[pre + "post_layernorm.bias"] = rand(d)


def make_weights():
    w = {}
    v, t = VISION, TEXT
    d = v["hidden_size"]
    siglip_weights(w, "vision_tower.vision_model.", v, rand)
    w["multi_modal_projector.linear.weight"] = rand(t["hidden_size"], d, scale=0.15)
    w["multi_modal_projector.linear.bias"] = rand(t["hidden_size"])

    h, hd = t["hidden_size"], t["head_dim"]
    lm = "language_model.model."
    # The language model is stored in BF16: round it here so the reference uses what the C# side loads.
    w[lm + "embed_tokens.weight"] = bf16_round(rand(t["vocab_size"], h, scale=0.08))
    for i in range(t["num_hidden_layers"]):
        q = lm + f"layers.{i}."
        w[q + "self_attn.q_proj.weight"] = bf16_round(rand(t["num_attention_heads"] * hd, h, scale=0.35))
        w[q + "self_attn.k_proj.weight"] = bf16_round(rand(t["num_key_value_heads"] * hd, h, scale=0.35))
        w[q + "self_attn.v_proj.weight"] = bf16_round(rand(t["num_key_value_heads"] * hd, h, scale=0.35))
        w[q + "self_attn.o_proj.weight"] = bf16_round(rand(h, t["num_attention_heads"] * hd, scale=0.35))
        w[q + "mlp.gate_proj.weight"] = bf16_round(rand(t["intermediate_size"], h, scale=0.35))
        w[q + "mlp.up_proj.weight"] = bf16_round(rand(t["intermediate_size"], h, scale=0.35))
        w[q + "mlp.down_proj.weight"] = bf16_round(rand(h, t["intermediate_size"], scale=0.35))
        w[q + "input_layernorm.weight"] = bf16_round(rand(h, scale=0.3))
        w[q + "post_attention_layernorm.weight"] = bf16_round(rand(h, scale=0.3))
    w[lm + "norm.weight"] = bf16_round(rand(h, scale=0.3))
    return w


def write_safetensors(path, tensors, dtype_of):
    """Writes `tensors` as safetensors, each in dtype_of(name) (float32 or bfloat16), one tensor in memory at a time."""
    header, offset = {}, 0
    for name, t in tensors.items():
        dtype = dtype_of(name)
        size = t.numel() * {torch.float32: 4, torch.bfloat16: 2}[dtype]
        header[name] = {"dtype": {torch.float32: "F32", torch.bfloat16: "BF16"}[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name, t in tensors.items():
            data = t.to(dtype_of(name)).contiguous()
            f.write(data.view(torch.int16).numpy().tobytes() if data.dtype == torch.bfloat16 else data.numpy().tobytes())


def siglip(w, pixels, pre="vision_tower.vision_model.", v=None):
    """SigLIP over pixels (B, 3, H, W): the tensors under `pre`, the shapes of `v` (this file's VISION unless given)."""
    v = v or VISION
    x = F.conv2d(pixels, w[pre + "embeddings.patch_embedding.weight"], w[pre + "embeddings.patch_embedding.bias"],
                 stride=v["patch_size"])
    x = x.flatten(2).transpose(1, 2) + w[pre + "embeddings.position_embedding.weight"][None]
    heads = v["num_attention_heads"]
    hd = v["hidden_size"] // heads
    for i in range(v["num_hidden_layers"]):
        q = pre + f"encoder.layers.{i}."
        h = F.layer_norm(x, (x.shape[-1],), w[q + "layer_norm1.weight"], w[q + "layer_norm1.bias"], v["layer_norm_eps"])
        b, n, _ = h.shape
        proj = lambda name: F.linear(h, w[q + f"self_attn.{name}.weight"], w[q + f"self_attn.{name}.bias"]).view(b, n, heads, hd).transpose(1, 2)
        scores = proj("q_proj") @ proj("k_proj").transpose(-1, -2) * hd ** -0.5
        att = (scores.softmax(-1) @ proj("v_proj")).transpose(1, 2).reshape(b, n, heads * hd)
        x = x + F.linear(att, w[q + "self_attn.out_proj.weight"], w[q + "self_attn.out_proj.bias"])
        h = F.layer_norm(x, (x.shape[-1],), w[q + "layer_norm2.weight"], w[q + "layer_norm2.bias"], v["layer_norm_eps"])
        h = F.gelu(F.linear(h, w[q + "mlp.fc1.weight"], w[q + "mlp.fc1.bias"]), approximate="tanh")
        x = x + F.linear(h, w[q + "mlp.fc2.weight"], w[q + "mlp.fc2.bias"])
    return F.layer_norm(x, (x.shape[-1],), w[pre + "post_layernorm.weight"], w[pre + "post_layernorm.bias"], v["layer_norm_eps"])


def rms_norm(x, weight):
    xf = x.float()
    out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + TEXT["rms_norm_eps"])
    return (out * (1.0 + weight.float())).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def gemma(w, embeds, positions, allowed):
    """embeds (1, S, D) before scaling; allowed (S, S) bool: query i may attend key j."""
    t = TEXT
    lm = "language_model.model."
    heads, kv, hd = t["num_attention_heads"], t["num_key_value_heads"], t["head_dim"]
    x = embeds * torch.tensor(t["hidden_size"] ** 0.5, dtype=embeds.dtype)
    inv_freq = 1.0 / (t["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = positions[:, :, None].float() * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
    outputs = []
    for i in range(t["num_hidden_layers"]):
        q = lm + f"layers.{i}."
        h = rms_norm(x, w[q + "input_layernorm.weight"])
        b, s, _ = h.shape
        qs = F.linear(h, w[q + "self_attn.q_proj.weight"]).view(b, s, heads, hd).transpose(1, 2)
        ks = F.linear(h, w[q + "self_attn.k_proj.weight"]).view(b, s, kv, hd).transpose(1, 2)
        vs = F.linear(h, w[q + "self_attn.v_proj.weight"]).view(b, s, kv, hd).transpose(1, 2)
        qs = qs * cos + rotate_half(qs) * sin
        ks = ks * cos + rotate_half(ks) * sin
        ks = ks.repeat_interleave(heads // kv, dim=1)
        vs = vs.repeat_interleave(heads // kv, dim=1)
        scores = qs @ ks.transpose(-1, -2) * hd ** -0.5 + bias
        att = (scores.softmax(-1) @ vs).transpose(1, 2).reshape(b, s, heads * hd)
        x = x + F.linear(att, w[q + "self_attn.o_proj.weight"])
        h = rms_norm(x, w[q + "post_attention_layernorm.weight"])
        h = F.gelu(F.linear(h, w[q + "mlp.gate_proj.weight"]), approximate="tanh") * F.linear(h, w[q + "mlp.up_proj.weight"])
        x = x + F.linear(h, w[q + "mlp.down_proj.weight"])
        outputs.append(x)
    return rms_norm(x, w[lm + "norm.weight"]), outputs


def main():
    w = make_weights()
    model_dir = os.path.join(OUT, "tiny-paligemma-hf")
    os.makedirs(model_dir, exist_ok=True)
    vision_names = [n for n in w if not n.startswith("language_model.")]
    text_names = [n for n in w if n.startswith("language_model.")]
    shards = {"model-00001-of-00002.safetensors": vision_names, "model-00002-of-00002.safetensors": text_names}
    for file, names in shards.items():
        write_safetensors(os.path.join(model_dir, file), {n: w[n] for n in names},
                          lambda n: torch.bfloat16 if n.startswith("language_model.") else torch.float32)
    with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": {n: file for file, names in shards.items() for n in names}}, f, indent=1)
    config = {"model_type": "paligemma", "image_token_index": IMAGE_TOKEN, "projection_dim": TEXT["hidden_size"],
              "hidden_size": TEXT["hidden_size"], "bos_token_id": 2, "eos_token_id": EOS, "pad_token_id": 0,
              "vision_config": dict(VISION, model_type="siglip_vision_model"),
              "text_config": dict(TEXT, model_type="gemma", hidden_activation="gelu_pytorch_tanh")}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)

    pixels = torch.rand(CAMERAS, 3, VISION["image_size"], VISION["image_size"]) * 2 - 1
    vision_out = siglip(w, pixels)
    projector_out = F.linear(vision_out, w["multi_modal_projector.linear.weight"], w["multi_modal_projector.linear.bias"])
    hidden = TEXT["hidden_size"]
    image_embeds = (projector_out / hidden ** 0.5).reshape(1, -1, hidden)
    text_embeds = w["language_model.model.embed_tokens.weight"][torch.tensor(PROMPT_IDS)][None]
    prefix = torch.cat([image_embeds, text_embeds], dim=1)
    s = prefix.shape[1]
    positions = torch.arange(1, s + 1)[None]
    final, layers = gemma(w, prefix, positions, torch.ones(s, s, dtype=torch.bool))
    logits = F.linear(final[:, -1], w["language_model.model.embed_tokens.weight"])

    # Greedy decoding recomputed from scratch at every step (no cache): prefix bidirectional, new tokens causal.
    generated, embeds = [], prefix
    step_logits = logits
    for _ in range(NEW_TOKENS):
        token = int(step_logits.argmax(-1))
        generated.append(token)
        if token == EOS:
            break
        embeds = torch.cat([embeds, w["language_model.model.embed_tokens.weight"][token][None, None]], dim=1)
        total = embeds.shape[1]
        allowed = torch.ones(total, total, dtype=torch.bool)
        allowed[s:, s:] = torch.tril(torch.ones(total - s, total - s, dtype=torch.bool))
        allowed[:s, s:] = False
        out, _ = gemma(w, embeds, torch.arange(1, total + 1)[None], allowed)
        step_logits = F.linear(out[:, -1], w["language_model.model.embed_tokens.weight"])

    reference = {"pixels": pixels, "vision_out": vision_out, "projector_out": projector_out, "final_hidden": final,
                 "logits_last": logits, "prompt_ids": torch.tensor(PROMPT_IDS, dtype=torch.float32),
                 "greedy_ids": torch.tensor(generated, dtype=torch.float32)}
    for i, x in enumerate(layers):
        reference[f"layer_{i}"] = x
    write_safetensors(os.path.join(OUT, "reference.safetensors"), reference, lambda n: torch.float32)
    print("greedy ids:", generated)


if __name__ == "__main__":
    main()
