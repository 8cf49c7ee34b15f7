#!/usr/bin/env python3
"""A LeRobot pi0 / pi0.5 folder the workbench wrote, loaded strictly by the plain-PyTorch reference, against `vla predict`.

Reads FOLDER's config.json (its test_shapes, or the released sizes), model.safetensors and the statistics its processors
name, and checks the tensors are exactly the key set and shapes LeRobot's PI0Pytorch / PI05Pytorch has (every key used,
none missing, none extra: the strict load of `from_pretrained`). Then it draws camera images, a state and the noise,
computes the chunk with the reference forward of tests/golden/make_pi0_golden.py (written from LeRobot's code), and
compares it with `vla predict --noise` on the same folder: max |delta| <= 1e-3 * (1 + max |reference|).
From the repository root, after `vla export --format lerobot` (or a run with training.save_lerobot: true):
    /usr/bin/python3 bench/pytorch/pi0_check_lerobot_folder.py experiments/pi0_lerobot_g1/lerobot
"""
import argparse
import json
import math
import os
import mmap
import struct
import subprocess
import sys
import warnings

import numpy
import sentencepiece
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pi0_golden as ref  # noqa: E402
import pi0_full_parity as full  # noqa: E402  (key_shapes, affine)

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64, "I64": torch.int64}


def read_safetensors(path, dtype_for=lambda name: torch.float32):
    """Every tensor of a safetensors file, each copied out of a memory map into dtype_for(its name) (float32 unless said)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # frombuffer over a read-only map: every tensor is copied out of it below
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            start, end = entry["data_offsets"]
            dtype = DTYPES[entry["dtype"]]
            count = (end - start) // torch.tensor([], dtype=dtype).element_size()
            t = torch.frombuffer(mapped, dtype=dtype, count=count, offset=8 + n + start).reshape(entry["shape"])
            out[name] = t.to(dtype_for(name), copy=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--prompt", default="pick up the box")
    parser.add_argument("--seed", type=int, default=1208)
    args = parser.parse_args()
    with open(os.path.join(args.folder, "config.json")) as f:
        config = json.load(f)
    pi05 = config["type"] == "pi05"
    shapes = config.get("test_shapes")
    if shapes:
        ref.VISION, ref.VLM, ref.EXPERT = shapes["vision"], shapes["vlm"], shapes["expert"]
    else:
        ref.VISION = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=224, patch_size=14, layer_norm_eps=1e-6)
        ref.VLM = dict(width=2048, mlp_dim=16384, depth=18, num_heads=8, num_kv_heads=1, head_dim=256, vocab=257152)
        ref.EXPERT = dict(width=1024, mlp_dim=4096, depth=18, num_heads=8, num_kv_heads=1, head_dim=256)
    ref.CHUNK, ref.MAX_STATE, ref.MAX_ACTION, ref.STEPS = config["chunk_size"], config["max_state_dim"], config["max_action_dim"], config["num_inference_steps"]

    stored = read_safetensors(os.path.join(args.folder, "model.safetensors"))
    unprefixed = {k[len("model."):] if k.startswith("model.") else k: v for k, v in stored.items()}
    expected = full.key_shapes(pi05)
    missing = sorted(set(expected) - set(unprefixed))
    extra = sorted(set(unprefixed) - set(expected))
    misshapen = sorted(k for k in expected if k in unprefixed and tuple(unprefixed[k].shape) != tuple(expected[k]))
    strict = not missing and not extra and not misshapen
    print(json.dumps({"tensors": len(unprefixed), "missing": missing[:5], "extra": extra[:5], "misshapen": misshapen[:5], "strict_load": strict}))
    if not strict:
        sys.exit(1)
    w = unprefixed

    mode = config["normalization_mapping"]["STATE"]
    with open(os.path.join(args.folder, "policy_preprocessor.json")) as f:
        state_file = next(s["state_file"] for s in json.load(f)["steps"] if s["registry_name"] == "normalizer_processor")
    stats = read_safetensors(os.path.join(args.folder, state_file))
    cameras = [k for k, v in config["input_features"].items() if v["type"] == "VISUAL"]
    state_dim = config["input_features"]["observation.state"]["shape"][0]
    action_dim = config["output_features"]["action"]["shape"][0]
    side = ref.VISION["image_size"]

    torch.manual_seed(args.seed)
    pixels = torch.randint(0, 256, (len(cameras), side, side, 3), dtype=torch.uint8)
    image_args = []
    for c in range(len(cameras)):
        path = os.path.join(args.folder, f"check-camera{c + 1}.png")
        Image.fromarray(pixels[c].numpy()).save(path)
        image_args += [f"--image{c + 1}", path]
    images = (pixels.permute(0, 3, 1, 2).float() * numpy.float32(2 / 255) - 1).unsqueeze(0)
    state_raw = stats["observation.state.mean"] + torch.randn(state_dim) * stats["observation.state.std"] * 0.5
    offset, scale, shift = full.affine(stats, "observation.state", mode)
    state = (state_raw - offset) * scale + shift
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(args.folder, "tokenizer", "tokenizer.model"))
    if pi05:
        bins = [min(max(math.floor((float(x) + 1.0) * 128), -1), 255) for x in state]
        text = f"Task: {args.prompt}, State: {' '.join(map(str, bins))};\nAction: "
    else:
        text = args.prompt + "\n"
    tokens = torch.tensor([([2] + sp.encode(text))[:config["tokenizer_max_length"]]])   # the tokenizer processor cuts at max_length
    noise = torch.randn(1, ref.CHUNK, ref.MAX_ACTION)
    noise_path = os.path.join(args.folder, "check-noise.npy")
    numpy.save(noise_path, noise[0].numpy())
    with torch.no_grad():
        prefix = ref.embed_prefix(w, images, torch.ones(1, len(cameras), dtype=torch.bool), tokens, torch.ones_like(tokens, dtype=torch.bool))
        padded_state = torch.cat([state, torch.zeros(ref.MAX_STATE - state_dim)])[None]
        x, dt = noise, -1.0 / ref.STEPS
        for step in range(ref.STEPS):
            t = torch.tensor(1.0 + step * dt, dtype=torch.float32).expand(1)
            x = x + dt * ref.velocity(w, pi05, prefix, padded_state, x, t)[0]
    a_offset, a_scale, a_shift = full.affine(stats, "action", mode)
    reference = (x[0, :, :action_dim] - a_shift) / a_scale + a_offset

    output = os.path.join(args.folder, "check-chunk.json")
    command = ["dotnet", "run", "--project", os.path.join(ROOT, "src", "Vla.Cli"), "-c", "Release", "--", "predict", "--checkpoint", args.folder,
               *image_args, "--prompt", args.prompt, "--state", *[repr(float(v)) for v in state_raw], "--noise", noise_path, "--output", output]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-2000:])
        sys.exit(run.returncode)
    with open(output) as f:
        ours = torch.tensor(json.load(f)["actions"])
    for path in [noise_path, output] + image_args[1::2]:
        os.remove(path)
    delta = (ours - reference).abs().max().item()
    bound = 1e-3 * (1 + reference.abs().max().item())
    print(json.dumps({"family": config["type"], "max_abs_delta": delta, "max_abs_reference": reference.abs().max().item(), "bound": bound, "ok": delta <= bound}))
    sys.exit(0 if delta <= bound else 1)


if __name__ == "__main__":
    main()
