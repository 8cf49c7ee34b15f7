#!/usr/bin/env python3
"""Writes a tiny random pi0 and pi0.5 in LeRobot's key layout, and reference outputs for the C# parity tests.

Run with Debian's PyTorch (apt-get install python3-torch), from the repository root:
    /usr/bin/python3 tests/golden/make_pi0_golden.py
The forward passes below are written out in plain PyTorch from LeRobot's modeling_pi0.py / modeling_pi05.py,
pi_gemma.py and common/{vla_utils,flow_matching}.py (huggingface/lerobot 7427f31), with openpi's pi0_pytorch.py beside
them: joint attention of the PaliGemma stream and the action expert in every layer, cumulative-sum masks with the
additive value -2.3819763e38, positions cumsum(pad) - 1, language embeddings times sqrt(width), image tokens unscaled,
the sine-cosine time embedding in float64, and adaRMS (scale, shift, gate) in pi0.5's expert. Sampling recomputes the
whole sequence at every Euler step (no key/value cache), so the C# cache is checked against the uncached forward.
Outputs (committed, about 300 kB): tests/golden/pi0-tiny/, tests/golden/pi05-tiny/ (model.safetensors, config.json)
tests/golden/pi0_reference.safetensors and tests/golden/pi0_noise.npy.
"""
import json
import math
import os

import numpy
import torch
import torch.nn.functional as F

import make_golden
from make_golden import write_safetensors

OUT = os.path.dirname(os.path.abspath(__file__))
MASK_VALUE = -2.3819763e38

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8, layer_norm_eps=1e-6)
VLM = dict(width=64, mlp_dim=128, depth=2, num_heads=4, num_kv_heads=1, head_dim=16, vocab=320)
EXPERT = dict(width=32, mlp_dim=64, depth=2, num_heads=4, num_kv_heads=1, head_dim=16)
CHUNK, MAX_STATE, MAX_ACTION, STEPS, TOKENS = 5, 8, 8, 3, 8
STATE_DIM, ACTION_DIM = 6, 6
CAMERAS, BATCH = 2, 2
EPS = 1e-6


def rand(*shape, scale=0.1):
    return torch.randn(*shape) * scale


def make_weights(pi05):
    w = {}
    d = VISION["hidden_size"]
    make_golden.siglip_weights(w, "paligemma_with_expert.paligemma.model.vision_tower.vision_model.", VISION, rand)
    pm = "paligemma_with_expert.paligemma.model."
    w[pm + "multi_modal_projector.linear.weight"] = rand(VLM["width"], d, scale=0.15)
    w[pm + "multi_modal_projector.linear.bias"] = rand(VLM["width"])
    # The released files hold the tied embedding only as lm_head (safetensors drops one of a tied pair).
    w["paligemma_with_expert.paligemma.lm_head.weight"] = rand(VLM["vocab"], VLM["width"], scale=0.05)
    for prefix, cfg, ada in ((pm + "language_model.", VLM, False),
                             ("paligemma_with_expert.gemma_expert.model.", EXPERT, pi05)):
        h, hd, heads, kv = cfg["width"], cfg["head_dim"], cfg["num_heads"], cfg["num_kv_heads"]
        for i in range(cfg["depth"]):
            q = prefix + f"layers.{i}."
            w[q + "self_attn.q_proj.weight"] = rand(heads * hd, h, scale=0.3)
            w[q + "self_attn.k_proj.weight"] = rand(kv * hd, h, scale=0.3)
            w[q + "self_attn.v_proj.weight"] = rand(kv * hd, h, scale=0.3)
            w[q + "self_attn.o_proj.weight"] = rand(h, heads * hd, scale=0.3)
            w[q + "mlp.gate_proj.weight"] = rand(cfg["mlp_dim"], h, scale=0.3)
            w[q + "mlp.up_proj.weight"] = rand(cfg["mlp_dim"], h, scale=0.3)
            w[q + "mlp.down_proj.weight"] = rand(h, cfg["mlp_dim"], scale=0.3)
            for norm in ("input_layernorm", "post_attention_layernorm"):
                add_norm(w, q + norm, h, ada)
        add_norm(w, prefix + "norm", h, ada)
    # Present in released files, never used (the expert has no vocabulary).
    w["paligemma_with_expert.gemma_expert.lm_head.weight"] = rand(VLM["vocab"], EXPERT["width"])
    e = EXPERT["width"]
    w["action_in_proj.weight"], w["action_in_proj.bias"] = rand(e, MAX_ACTION, scale=0.3), rand(e)
    w["action_out_proj.weight"], w["action_out_proj.bias"] = rand(MAX_ACTION, e, scale=0.3), rand(MAX_ACTION)
    if pi05:
        w["time_mlp_in.weight"], w["time_mlp_in.bias"] = rand(e, e, scale=0.3), rand(e)
        w["time_mlp_out.weight"], w["time_mlp_out.bias"] = rand(e, e, scale=0.3), rand(e)
    else:
        w["state_proj.weight"], w["state_proj.bias"] = rand(e, MAX_STATE, scale=0.3), rand(e)
        w["action_time_mlp_in.weight"], w["action_time_mlp_in.bias"] = rand(e, 2 * e, scale=0.3), rand(e)
        w["action_time_mlp_out.weight"], w["action_time_mlp_out.bias"] = rand(e, e, scale=0.3), rand(e)
    return w


def add_norm(w, name, h, ada):
    if ada:
        w[name + ".dense.weight"] = rand(3 * h, h, scale=0.2)
        w[name + ".dense.bias"] = rand(3 * h)
    else:
        w[name + ".weight"] = rand(h, scale=0.3)


def siglip(w, pixels):
    return make_golden.siglip(w, pixels, "paligemma_with_expert.paligemma.model.vision_tower.vision_model.", VISION)


def norm(w, name, x, cond):
    """PiGemmaRMSNorm: (normed, gate); Gemma's (1 + w) form, or adaRMS with (scale, shift, gate) from cond."""
    xf = x.float()
    normed = x * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)
    if name + ".dense.weight" not in w:
        return (normed * (1.0 + w[name + ".weight"].float())).type_as(x), None
    modulation = F.linear(cond, w[name + ".dense.weight"], w[name + ".dense.bias"])[:, None, :]
    scale, shift, gate = modulation.chunk(3, dim=-1)
    return (normed * (1 + scale) + shift).to(x.dtype), gate


def gated(x, y, gate):
    return x + y if gate is None else x + y * gate


def rope(x, positions, head_dim):
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = positions[:, :, None].float() * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def joint_forward(w, streams, mask, positions, cond):
    """streams: [(prefix-of-key, config, embeds)], each (B, L_i, W_i); mask (B, 1, L, L) additive; returns outputs and per-layer states."""
    names = {"vlm": "paligemma_with_expert.paligemma.model.language_model.",
             "expert": "paligemma_with_expert.gemma_expert.model."}
    hs = [x for _, _, x in streams]
    per_layer = []
    for i in range(VLM["depth"]):
        qs, ks, vs, gates = [], [], [], []
        for (kind, cfg, _), h in zip(streams, hs):
            p = names[kind] + f"layers.{i}."
            n, g = norm(w, p + "input_layernorm", h, cond if kind == "expert" else None)
            gates.append(g)
            b, l, _ = n.shape
            hd = cfg["head_dim"]
            qs.append(F.linear(n, w[p + "self_attn.q_proj.weight"]).view(b, l, -1, hd).transpose(1, 2))
            ks.append(F.linear(n, w[p + "self_attn.k_proj.weight"]).view(b, l, -1, hd).transpose(1, 2))
            vs.append(F.linear(n, w[p + "self_attn.v_proj.weight"]).view(b, l, -1, hd).transpose(1, 2))
        q, k, v = torch.cat(qs, 2), torch.cat(ks, 2), torch.cat(vs, 2)
        hd = VLM["head_dim"]
        q, k = rope(q, positions, hd), rope(k, positions, hd)
        groups = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
        scores = q @ k.transpose(2, 3) * hd ** -0.5 + mask
        att = torch.softmax(scores, dim=-1, dtype=torch.float32) @ v
        b = att.shape[0]
        att = att.transpose(1, 2).reshape(b, att.shape[2], -1)
        start, new = 0, []
        for (kind, cfg, _), h, g in zip(streams, hs, gates):
            p = names[kind] + f"layers.{i}."
            end = start + h.shape[1]
            out = gated(h, F.linear(att[:, start:end], w[p + "self_attn.o_proj.weight"]), g)
            n, g2 = norm(w, p + "post_attention_layernorm", out, cond if kind == "expert" else None)
            mlp = F.linear(F.gelu(F.linear(n, w[p + "mlp.gate_proj.weight"]), approximate="tanh") * F.linear(n, w[p + "mlp.up_proj.weight"]),
                           w[p + "mlp.down_proj.weight"])
            new.append(gated(out, mlp, g2))
            start = end
        hs = new
        per_layer.append([h.clone() for h in hs])
    finals = [norm(w, names[kind] + "norm", h, cond if kind == "expert" else None)[0] for (kind, _, _), h in zip(streams, hs)]
    return finals, per_layer


def make_2d(pad, ar):
    cum = torch.cumsum(ar, dim=1)
    allowed = (cum[:, None, :] <= cum[:, :, None]) & (pad[:, None, :] & pad[:, :, None])
    return torch.where(allowed[:, None], 0.0, MASK_VALUE)


def embed_prefix(w, images, image_masks, tokens, token_masks):
    embs, pads, ar = [], [], []
    for c in range(images.shape[1]):
        feats = siglip(w, images[:, c])
        pm = "paligemma_with_expert.paligemma.model."
        emb = F.linear(feats, w[pm + "multi_modal_projector.linear.weight"], w[pm + "multi_modal_projector.linear.bias"])
        embs.append(emb)
        pads.append(image_masks[:, c, None].expand(-1, emb.shape[1]))
        ar += [0] * emb.shape[1]
    lang = w["paligemma_with_expert.paligemma.lm_head.weight"][tokens] * torch.tensor(math.sqrt(VLM["width"]), dtype=torch.float32)
    embs.append(lang)
    pads.append(token_masks)
    ar += [0] * tokens.shape[1]
    b = images.shape[0]
    return torch.cat(embs, 1), torch.cat(pads, 1), torch.tensor(ar)[None].expand(b, -1)


def time_embedding(t, dim, min_period=4e-3, max_period=4.0):
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=torch.float64)
    period = min_period * (max_period / min_period) ** fraction
    x = t.to(torch.float64)[:, None] * (1.0 / period * 2 * math.pi)[None]
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1).to(torch.float32)


def embed_suffix(w, pi05, state, x_t, t):
    b = x_t.shape[0]
    temb = time_embedding(t, EXPERT["width"])
    action = F.linear(x_t, w["action_in_proj.weight"], w["action_in_proj.bias"])
    if pi05:
        cond = F.silu(F.linear(F.silu(F.linear(temb, w["time_mlp_in.weight"], w["time_mlp_in.bias"])), w["time_mlp_out.weight"], w["time_mlp_out.bias"]))
        return action, torch.ones(b, CHUNK, dtype=torch.bool), torch.tensor([1] + [0] * (CHUNK - 1))[None].expand(b, -1), cond
    st = F.linear(state, w["state_proj.weight"], w["state_proj.bias"])[:, None]
    mixed = torch.cat([action, temb[:, None].expand_as(action)], dim=2)
    mixed = F.linear(F.silu(F.linear(mixed, w["action_time_mlp_in.weight"], w["action_time_mlp_in.bias"])), w["action_time_mlp_out.weight"], w["action_time_mlp_out.bias"])
    embs = torch.cat([st, mixed], 1)
    return embs, torch.ones(b, CHUNK + 1, dtype=torch.bool), torch.tensor([1, 1] + [0] * (CHUNK - 1))[None].expand(b, -1), None


def velocity(w, pi05, prefix, state, x_t, t):
    p_embs, p_pad, p_ar = prefix
    s_embs, s_pad, s_ar, cond = embed_suffix(w, pi05, state, x_t, t)
    pad, ar = torch.cat([p_pad, s_pad], 1), torch.cat([p_ar, s_ar], 1)
    positions = torch.cumsum(pad.long(), dim=1) - 1
    finals, per_layer = joint_forward(w, [("vlm", VLM, p_embs), ("expert", EXPERT, s_embs)], make_2d(pad, ar), positions, cond)
    return F.linear(finals[1][:, -CHUNK:], w["action_out_proj.weight"], w["action_out_proj.bias"]), per_layer


def write_folder(name, w, pi05, with_prefix):
    """A LeRobot policy folder: config.json, model.safetensors and the processors' files with the statistics.

    pi0 is written as the released folders are (no model. prefix, no tokenizer), pi0.5 as LeRobot's save_pretrained
    writes a fine-tune (prefixed keys, the tokenizer under tokenizer/). config.json's test_shapes gives the tiny sizes
    (LeRobot's own configs name released variants only).
    """
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    tensors = {(("model." + k) if with_prefix else k): t for k, t in w.items()}
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors, lambda n: torch.float32)
    image = {"type": "VISUAL", "shape": [3, VISION["image_size"], VISION["image_size"]]}
    mode = "QUANTILES" if pi05 else "MEAN_STD"
    config = {"type": "pi05" if pi05 else "pi0", "n_obs_steps": 1,
              "input_features": {"observation.images.base_0_rgb": image, "observation.images.left_wrist_0_rgb": image,
                                 "observation.state": {"type": "STATE", "shape": [STATE_DIM]}},
              "output_features": {"action": {"type": "ACTION", "shape": [ACTION_DIM]}},
              "paligemma_variant": "gemma_2b", "action_expert_variant": "gemma_300m", "dtype": "float32",
              "chunk_size": CHUNK, "n_action_steps": CHUNK, "max_state_dim": MAX_STATE, "max_action_dim": MAX_ACTION,
              "num_inference_steps": STEPS, "min_period": 0.004, "max_period": 4.0, "image_resolution": [224, 224],
              "empty_cameras": 0, "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": mode, "ACTION": mode},
              "tokenizer_max_length": TOKENS, "test_shapes": {"vision": VISION, "vlm": VLM, "expert": EXPERT}}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=4)
    generator = torch.Generator().manual_seed(7 if pi05 else 5)
    stats = {}
    for feature, dim in (("observation.state", STATE_DIM), ("action", ACTION_DIM)):
        mean = torch.randn(dim, generator=generator)
        std = torch.rand(dim, generator=generator) + 0.5
        stats.update({f"{feature}.mean": mean, f"{feature}.std": std, f"{feature}.min": mean - 3 * std, f"{feature}.max": mean + 3 * std,
                      f"{feature}.q01": mean - 2 * std, f"{feature}.q99": mean + 2 * std, f"{feature}.count": torch.tensor([100.0])})
    pre_step = 3 if pi05 else 6
    pre_file = f"policy_preprocessor_step_{pre_step}_normalizer_processor.safetensors"
    post_file = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    write_safetensors(os.path.join(folder, pre_file), stats, lambda n: torch.float32)
    write_safetensors(os.path.join(folder, post_file), stats, lambda n: torch.float32)
    norm_config = {"eps": 1e-08, "features": {"observation.state": {"type": "STATE", "shape": [STATE_DIM]}, "action": {"type": "ACTION", "shape": [ACTION_DIM]}},
                   "norm_map": {"VISUAL": "IDENTITY", "STATE": mode, "ACTION": mode}}
    pre_steps = [{"registry_name": "rename_observations_processor", "config": {"rename_map": {}}}, {"registry_name": "to_batch_processor", "config": {}}]
    if pi05:
        pre_steps += [{"registry_name": "relative_actions_processor", "config": {"enabled": False}},
                      {"registry_name": "normalizer_processor", "config": norm_config, "state_file": pre_file},
                      {"registry_name": "pi05_prepare_state_tokenizer_processor_step", "config": {}}]
    else:
        pre_steps += [{"registry_name": "pi0_new_line_processor", "config": {}}]
    pre_steps += [{"registry_name": "tokenizer_processor", "config": {"max_length": TOKENS, "task_key": "task", "padding_side": "right",
                                                                      "padding": "max_length", "truncation": True, "tokenizer_name": "tokenizer"}},
                  {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}}]
    if not pi05:
        pre_steps += [{"registry_name": "relative_actions_processor", "config": {"enabled": False}},
                      {"registry_name": "normalizer_processor", "config": norm_config, "state_file": pre_file}]
    with open(os.path.join(folder, "policy_preprocessor.json"), "w") as f:
        json.dump({"name": "policy_preprocessor", "steps": pre_steps}, f, indent=4)
    post_steps = [{"registry_name": "unnormalizer_processor", "config": norm_config, "state_file": post_file},
                  {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}}]
    with open(os.path.join(folder, "policy_postprocessor.json"), "w") as f:
        json.dump({"name": "policy_postprocessor", "steps": post_steps}, f, indent=4)
    if pi05:
        os.makedirs(os.path.join(folder, "tokenizer"), exist_ok=True)
        sample = os.path.join(OUT, "..", "..", "data-samples", "tiny-paligemma", "tokenizer.model")
        with open(sample, "rb") as source, open(os.path.join(folder, "tokenizer", "tokenizer.model"), "wb") as target:
            target.write(source.read())


def main():
    torch.manual_seed(20261207)
    images = torch.rand(BATCH, CAMERAS, 3, VISION["image_size"], VISION["image_size"]) * 2 - 1
    image_masks = torch.tensor([[True, True], [True, False]])           # the second example lacks its wrist camera
    tokens = torch.randint(3, VLM["vocab"], (BATCH, TOKENS))
    tokens[:, 0] = 2
    token_masks = torch.tensor([[True] * TOKENS, [True] * 5 + [False] * (TOKENS - 5)])
    tokens[~token_masks] = 0
    state = torch.cat([torch.randn(BATCH, STATE_DIM), torch.zeros(BATCH, MAX_STATE - STATE_DIM)], 1)
    actions = torch.cat([torch.randn(BATCH, CHUNK, ACTION_DIM), torch.zeros(BATCH, CHUNK, MAX_ACTION - ACTION_DIM)], 2)
    noise = torch.randn(BATCH, CHUNK, MAX_ACTION)
    time = torch.tensor([0.3, 0.85])
    reference = {"images": images, "image_masks": image_masks.float(), "tokens": tokens.float(), "token_masks": token_masks.float(),
                 "state": state, "actions": actions, "noise": noise, "time": time}
    for name, pi05 in (("pi0", False), ("pi05", True)):
        w = make_weights(pi05)
        write_folder(f"{name}-tiny", w, pi05, with_prefix=pi05)     # pi0 as released (no prefix), pi0.5 as LeRobot saves
        with torch.no_grad():
            prefix = embed_prefix(w, images, image_masks, tokens, token_masks)
            x_t = time[:, None, None] * noise + (1 - time[:, None, None]) * actions
            v_t, per_layer = velocity(w, pi05, prefix, state, x_t, time)
            reference[f"{name}.prefix_embs"] = prefix[0]
            reference[f"{name}.loss"] = (noise - actions - v_t) ** 2
            for i, (vlm, expert) in enumerate(per_layer):
                reference[f"{name}.layer_{i}.vlm"] = vlm
                reference[f"{name}.layer_{i}.expert"] = expert
            x, dt = noise, -1.0 / STEPS
            for step in range(STEPS):
                t = torch.tensor(1.0 + step * dt, dtype=torch.float32).expand(BATCH)
                x = x + dt * velocity(w, pi05, prefix, state, x, t)[0]
            reference[f"{name}.chunk"] = x
    write_safetensors(os.path.join(OUT, "pi0_reference.safetensors"), reference, lambda n: torch.float32)
    numpy.save(os.path.join(OUT, "pi0_noise.npy"), noise[0].numpy())   # what `vla predict --noise` reads, written by NumPy itself
    print("pi0 chunk[0,0]:", reference["pi0.chunk"][0, 0].tolist())
    print("pi05 chunk[0,0]:", reference["pi05.chunk"][0, 0].tolist())


if __name__ == "__main__":
    main()
