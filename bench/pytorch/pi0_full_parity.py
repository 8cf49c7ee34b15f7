#!/usr/bin/env python3
"""Full-size pi0 / pi0.5 parity, once, outside CI: `vla predict --noise` against a plain-PyTorch forward.

Writes a random pi0 (or pi0.5) folder with the released key set and shapes (about 3.5 B parameters, BF16 weights:
PaliGemma-224 with a 257,152-token vocabulary and the Gemma-300M expert, three 224 px cameras) into OUT, as the released
folders are (no model. prefix, the embedding only as paligemma.lm_head, the expert's unused lm_head present, no
tokenizer), with processor files holding statistics; three random camera images, a prompt, a state and the noise; then
the chunk from the plain-PyTorch forward of tests/golden/make_pi0_golden.py (written from LeRobot's code, uncached: the
whole sequence at every Euler step) in float32 over the BF16-rounded weights, normalized and denormalized as the
workbench does. Then it runs `vla predict` on the folder and compares: max |delta| <= 1e-3 * (1 + max |reference|).

Needs about 15 GB of memory for each side (run one at a time) and 7 GB of disk in OUT. From the repository root:
    /usr/bin/python3 bench/pytorch/pi0_full_parity.py --family pi0 --out /tmp/pi0-full
It needs python3-sentencepiece (apt-get install python3-sentencepiece) to tokenize the prompt as the workbench does
(the sample tokenizer's ids, which exist in any PaliGemma vocabulary).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy
import sentencepiece
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import make_pi0_golden as ref  # noqa: E402  (the forward; its shape constants are set below)

ref.VISION = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=224,
                  patch_size=14, layer_norm_eps=1e-6)
ref.VLM = dict(width=2048, mlp_dim=16384, depth=18, num_heads=8, num_kv_heads=1, head_dim=256, vocab=257152)
ref.EXPERT = dict(width=1024, mlp_dim=4096, depth=18, num_heads=8, num_kv_heads=1, head_dim=256)
ref.CHUNK, ref.MAX_STATE, ref.MAX_ACTION, ref.STEPS = 50, 32, 32, 10
STATE_DIM, ACTION_DIM, CAMERAS = 8, 7, 3
CAMERA_KEYS = ["observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb", "observation.images.right_wrist_0_rgb"]
TOKENIZER = os.path.join(ROOT, "data-samples", "tiny-paligemma", "tokenizer.model")


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def key_shapes(pi05):
    """Every tensor of a LeRobot pi0 / pi0.5 model.safetensors (without the model. prefix) and its shape, for ref's sizes."""
    shapes = {}
    v, d = ref.VISION, ref.VISION["hidden_size"]
    pre = "paligemma_with_expert.paligemma.model.vision_tower.vision_model."
    n = (v["image_size"] // v["patch_size"]) ** 2
    shapes[pre + "embeddings.patch_embedding.weight"] = (d, 3, v["patch_size"], v["patch_size"])
    shapes[pre + "embeddings.patch_embedding.bias"] = (d,)
    shapes[pre + "embeddings.position_embedding.weight"] = (n, d)
    for i in range(v["num_hidden_layers"]):
        q = pre + f"encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[q + f"self_attn.{name}.weight"], shapes[q + f"self_attn.{name}.bias"] = (d, d), (d,)
        for name in ("layer_norm1", "layer_norm2"):
            shapes[q + f"{name}.weight"], shapes[q + f"{name}.bias"] = (d,), (d,)
        shapes[q + "mlp.fc1.weight"], shapes[q + "mlp.fc1.bias"] = (v["intermediate_size"], d), (v["intermediate_size"],)
        shapes[q + "mlp.fc2.weight"], shapes[q + "mlp.fc2.bias"] = (d, v["intermediate_size"]), (d,)
    shapes[pre + "post_layernorm.weight"], shapes[pre + "post_layernorm.bias"] = (d,), (d,)
    pm = "paligemma_with_expert.paligemma.model."
    shapes[pm + "multi_modal_projector.linear.weight"], shapes[pm + "multi_modal_projector.linear.bias"] = (ref.VLM["width"], d), (ref.VLM["width"],)
    shapes["paligemma_with_expert.paligemma.lm_head.weight"] = (ref.VLM["vocab"], ref.VLM["width"])
    for prefix, cfg, ada in ((pm + "language_model.", ref.VLM, False), ("paligemma_with_expert.gemma_expert.model.", ref.EXPERT, pi05)):
        h, hd, heads, kv = cfg["width"], cfg["head_dim"], cfg["num_heads"], cfg["num_kv_heads"]
        norms = []
        for i in range(cfg["depth"]):
            q = prefix + f"layers.{i}."
            shapes[q + "self_attn.q_proj.weight"] = (heads * hd, h)
            shapes[q + "self_attn.k_proj.weight"] = (kv * hd, h)
            shapes[q + "self_attn.v_proj.weight"] = (kv * hd, h)
            shapes[q + "self_attn.o_proj.weight"] = (h, heads * hd)
            shapes[q + "mlp.gate_proj.weight"] = shapes[q + "mlp.up_proj.weight"] = (cfg["mlp_dim"], h)
            shapes[q + "mlp.down_proj.weight"] = (h, cfg["mlp_dim"])
            norms += [q + "input_layernorm", q + "post_attention_layernorm"]
        norms.append(prefix + "norm")
        for name in norms:
            if ada:
                shapes[name + ".dense.weight"], shapes[name + ".dense.bias"] = (3 * h, h), (3 * h,)
            else:
                shapes[name + ".weight"] = (h,)
    shapes["paligemma_with_expert.gemma_expert.lm_head.weight"] = (ref.VLM["vocab"], ref.EXPERT["width"])
    e = ref.EXPERT["width"]
    shapes["action_in_proj.weight"], shapes["action_in_proj.bias"] = (e, ref.MAX_ACTION), (e,)
    shapes["action_out_proj.weight"], shapes["action_out_proj.bias"] = (ref.MAX_ACTION, e), (ref.MAX_ACTION,)
    if pi05:
        shapes["time_mlp_in.weight"], shapes["time_mlp_in.bias"] = (e, e), (e,)
        shapes["time_mlp_out.weight"], shapes["time_mlp_out.bias"] = (e, e), (e,)
    else:
        shapes["state_proj.weight"], shapes["state_proj.bias"] = (e, ref.MAX_STATE), (e,)
        shapes["action_time_mlp_in.weight"], shapes["action_time_mlp_in.bias"] = (e, 2 * e), (e,)
        shapes["action_time_mlp_out.weight"], shapes["action_time_mlp_out.bias"] = (e, e), (e,)
    return shapes


def full_weights(pi05, seed):
    """The released key set with HF-style random values (N(0, 0.02) matrices, small norms), rounded to BF16."""
    g = torch.Generator().manual_seed(seed)
    shapes = key_shapes(pi05)
    w = {}
    for name, shape in shapes.items():
        t = torch.randn(*shape, generator=g)
        if "layer_norm" in name or "post_layernorm" in name:
            t = (1 + 0.1 * t) if name.endswith(".weight") else 0.02 * t
        elif name.endswith("layernorm.weight") or name.endswith("norm.weight"):
            t = 0.1 * t                                          # Gemma's (1 + w)
        elif name.endswith(".bias"):
            t = 0.02 * t
        else:
            t = 0.02 * t
        w[name] = bf16(t)
    return w


def write_folder(out, w, pi05, stats, mode):
    os.makedirs(out, exist_ok=True)
    ref.write_safetensors(os.path.join(out, "model.safetensors"), w, lambda n: torch.bfloat16)
    image = {"type": "VISUAL", "shape": [3, 224, 224]}
    features = {k: image for k in CAMERA_KEYS}
    features["observation.state"] = {"type": "STATE", "shape": [STATE_DIM]}
    config = {"type": "pi05" if pi05 else "pi0", "n_obs_steps": 1, "input_features": features,
              "output_features": {"action": {"type": "ACTION", "shape": [ACTION_DIM]}},
              "paligemma_variant": "gemma_2b", "action_expert_variant": "gemma_300m", "dtype": "float32", "chunk_size": 50,
              "n_action_steps": 50, "max_state_dim": 32, "max_action_dim": 32, "num_inference_steps": 10, "min_period": 0.004,
              "max_period": 4.0, "image_resolution": [224, 224], "empty_cameras": 0,
              "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": mode, "ACTION": mode},
              "tokenizer_max_length": 200 if pi05 else 48}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=4)
    pre_file = f"policy_preprocessor_step_{3 if pi05 else 6}_normalizer_processor.safetensors"
    post_file = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    for file in (pre_file, post_file):
        ref.write_safetensors(os.path.join(out, file), stats, lambda n: torch.float32)
    with open(os.path.join(out, "policy_preprocessor.json"), "w") as f:
        json.dump({"name": "policy_preprocessor", "steps": [{"registry_name": "normalizer_processor", "config": {}, "state_file": pre_file}]}, f)
    with open(os.path.join(out, "policy_postprocessor.json"), "w") as f:
        json.dump({"name": "policy_postprocessor", "steps": [{"registry_name": "unnormalizer_processor", "config": {}, "state_file": post_file}]}, f)


def affine(stats, feature, mode):
    """LeRobot's normalization as the workbench computes it (Normalizer.LeRobot): (x - offset) * scale + shift in float32."""
    if mode == "MEAN_STD":
        return stats[f"{feature}.mean"], (1.0 / (stats[f"{feature}.std"].double() + 1e-8)).float(), 0.0
    lo, hi = stats[f"{feature}.q01"], stats[f"{feature}.q99"]
    spread = hi - lo
    return lo, 2 / torch.where(spread == 0, torch.tensor(1e-8), spread), -1.0   # LeRobot's zero spread is 1e-8


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", choices=["pi0", "pi05"], default="pi0")
    parser.add_argument("--out", default="/tmp/pi0-full")
    parser.add_argument("--skip-write", action="store_true", help="reuse the folder already in --out")
    args = parser.parse_args()
    pi05 = args.family == "pi05"
    mode = "QUANTILES" if pi05 else "MEAN_STD"
    torch.manual_seed(1207)
    stats = {}
    for feature, dim in (("observation.state", STATE_DIM), ("action", ACTION_DIM)):
        mean, std = torch.randn(dim), torch.rand(dim) + 0.5
        stats.update({f"{feature}.mean": mean, f"{feature}.std": std, f"{feature}.min": mean - 3 * std, f"{feature}.max": mean + 3 * std,
                      f"{feature}.q01": mean - 2 * std, f"{feature}.q99": mean + 2 * std})
    began = time.time()
    w = full_weights(pi05, 20261207)
    print(f"weights: {sum(t.numel() for t in w.values()) / 1e9:.3f} B parameters in {time.time() - began:.0f} s", flush=True)
    if not args.skip_write:
        write_folder(args.out, w, pi05, stats, mode)
        print(f"folder written: {args.out} ({time.time() - began:.0f} s)", flush=True)

    pixels = torch.randint(0, 256, (CAMERAS, 224, 224, 3), dtype=torch.uint8)
    image_paths = []
    for c in range(CAMERAS):
        path = os.path.join(args.out, f"camera{c + 1}.png")
        Image.fromarray(pixels[c].numpy()).save(path)
        image_paths.append(path)
    images = (pixels.permute(0, 3, 1, 2).float() * numpy.float32(2 / 255) - 1).unsqueeze(0)       # (1, cameras, 3, H, W)
    state_raw = torch.randn(STATE_DIM)
    offset, scale, shift = affine(stats, "observation.state", mode)
    state = (state_raw - offset) * scale + shift
    task = "pick up the red cube"
    sp = sentencepiece.SentencePieceProcessor(model_file=TOKENIZER)
    if pi05:
        bins = [min(max(math.floor((float(x) + 1.0) * 128), -1), 255) for x in state]
        text = f"Task: {task}, State: {' '.join(map(str, bins))};\nAction: "
    else:
        text = task + "\n"
    ids = [2] + sp.encode(text)
    tokens = torch.tensor([ids])
    noise = torch.randn(1, ref.CHUNK, ref.MAX_ACTION)
    noise_path = os.path.join(args.out, "noise.npy")
    numpy.save(noise_path, noise[0].numpy())

    began = time.time()
    with torch.no_grad():
        prefix = ref.embed_prefix(w, images, torch.ones(1, CAMERAS, dtype=torch.bool), tokens, torch.ones_like(tokens, dtype=torch.bool))
        padded_state = torch.cat([state, torch.zeros(ref.MAX_STATE - STATE_DIM)])[None]
        x, dt = noise, -1.0 / ref.STEPS
        for step in range(ref.STEPS):
            t = torch.tensor(1.0 + step * dt, dtype=torch.float32).expand(1)
            x = x + dt * ref.velocity(w, pi05, prefix, padded_state, x, t)[0]
            print(f"  step {step + 1}: {time.time() - began:.0f} s", flush=True)
    a_offset, a_scale, a_shift = affine(stats, "action", mode)
    expected = (x[0, :, :ACTION_DIM] - a_shift) / a_scale + a_offset
    del w
    print(f"reference chunk in {time.time() - began:.0f} s", flush=True)

    output = os.path.join(args.out, "chunk.json")
    command = ["dotnet", "run", "--project", os.path.join(ROOT, "src", "Vla.Cli"), "-c", "Release", "--", "predict", "--checkpoint", args.out,
               "--image1", image_paths[0], "--image2", image_paths[1], "--image3", image_paths[2], "--prompt", task,
               "--state", *[repr(float(v)) for v in state_raw], "--noise", noise_path, "--tokenizer", TOKENIZER, "--output", output]
    began = time.time()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-2000:])
        sys.exit(run.returncode)
    print(f"vla predict: {time.time() - began:.0f} s", flush=True)
    with open(output) as f:
        ours = torch.tensor(json.load(f)["actions"])
    delta = (ours - expected).abs().max().item()
    bound = 1e-3 * (1 + expected.abs().max().item())
    print(json.dumps({"family": args.family, "max_abs_delta": delta, "max_abs_reference": expected.abs().max().item(), "bound": bound,
                      "ok": delta <= bound}))
    sys.exit(0 if delta <= bound else 1)


if __name__ == "__main__":
    main()
