"""Stable unCLIP encoding and reconstruction throughput, real architecture, random weights.

Builds a ``StableUnCLIPImg2ImgPipeline`` whose components have the sizes of
``stabilityai/stable-diffusion-2-1-unclip`` (UNet 320-640-1280-1280 with a 2,048-d
projection class embedding; SD VAE 128-256-512-512; OpenCLIP ViT-H/14 image
encoder, 32 layers of width 1,280, 1,024-d projection; 23-layer OpenCLIP text
encoder of width 1,024) from hard-coded configs and random weights: compute
cost is that of the real model, and nothing is downloaded. Then times, at each
batch size:

- ``unclip`` encoding (CLIP preprocessing + ViT-H/14), images/s;
- ``unclip-vae`` encoding (768 px resize + VAE encoder), images/s;
- :class:`perceptogram.reconstruct.unclip.UnCLIPReconstructor` from an embedding
  alone (``strength=1``: all steps) and from embedding + VAE latent
  (``strength``, default 0.75: 75 % of the steps), images/s;
- the peer: diffusers' own ``StableUnCLIPImg2ImgPipeline.__call__`` with
  ``image_embeds`` at the same settings as the pure-noise reconstruction, and
  the ratio of our loop's time to it (1.0 = no overhead).

Usage::

    python benchmarks/bench_unclip.py --device cuda --dtype float16      # real sizes, GPU
    python benchmarks/bench_unclip.py --tiny --threads 1                 # test-sized, CPU

``--tiny`` uses the random-weight test pipeline (tests/unclip_tiny.py, 32 px)
to check the script quickly on a CPU; its numbers say nothing about the real model.

``--generators unclip kandinsky22 sdxl-ip-adapter`` then times every registered
generator (``generate`` from decoded embeddings, pure-noise start) at real size with
random weights (tests/generators_real.py; tiny ones with ``--tiny``), at each batch
size, with memory options off and on (attention + VAE slicing, plus model CPU
offload on CUDA), and prints images/s and the peak GPU memory::

    python benchmarks/bench_unclip.py --device cuda --dtype float16 --generators \
        unclip kandinsky22 sdxl-ip-adapter --skip-unclip-details
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from perceptogram._progress import set_quiet
from perceptogram.latents.unclip import UnCLIPImageSpace, UnCLIPVAESpace, resolve_torch_dtype
from perceptogram.reconstruct.unclip import UnCLIPReconstructor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from unclip_tiny import (  # noqa: E402
    UNCLIP_SCHEDULER_CONFIG,
    make_tiny_unclip_pipeline,
    write_tiny_clip_tokenizer,
)

# Published component configs of stabilityai/stable-diffusion-2-1-unclip (the
# Stability "v2-1-stable-unclip-h" model: model_channels 320, channel_mult 1-2-4-4,
# 64-d attention heads, context 1024, adm_in_channels 2048; KL-f8 VAE ch 128 1-2-4-4).
UNET_CONFIG = {
    "sample_size": 96,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
    "upcast_attention": True,
    "class_embed_type": "projection",
    "projection_class_embeddings_input_dim": 2048,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
}
VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 768,
    "scaling_factor": 0.18215,
}
IMAGE_ENCODER_CONFIG = {  # OpenCLIP ViT-H/14
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 16,
    "num_hidden_layers": 32,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
TEXT_ENCODER_CONFIG = {  # OpenCLIP ViT-H/14 text tower, penultimate layer (23 of 24)
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "max_position_embeddings": 77,
    "projection_dim": 512,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}


def build_real_size_pipeline(device: str, dtype, scratch: Path):
    """Random-weight pipeline with the SD 2.1 unCLIP component sizes."""
    from diffusers import (
        AutoencoderKL,
        DDPMScheduler,
        PNDMScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor

    # The prompt is always empty: a byte-level vocabulary costs the same per token.
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_tokenizer(scratch)))
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**UNET_CONFIG)
        vae = AutoencoderKL(**VAE_CONFIG)
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**IMAGE_ENCODER_CONFIG))
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=49408,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                **TEXT_ENCODER_CONFIG,
            )
        )
        normalizer = StableUnCLIPImageNormalizer(embedding_dim=1024)
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=ImageProcessor(),  # defaults: 224 px, OpenAI CLIP mean/std
        image_encoder=image_encoder.eval(),
        image_normalizer=normalizer.eval(),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        unet=unet.eval(),
        scheduler=PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG),  # the real one
        vae=vae.eval(),
    )
    return pipe.to(device=device, dtype=dtype)


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def throughput(func, n_images: int, device: str, repeats: int) -> float:
    """Images per second: ``n_images`` over the median wall time of ``func()``."""
    func()  # warm-up (kernel selection, allocator)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        func()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return n_images / statistics.median(times)


GENERATOR_SIZES = {"unclip": (768, 1024), "kandinsky22": (768, 1280),
                   "sdxl-ip-adapter": (1024, 1024)}
"""Real image side and embedding dimension of each generator."""


def build_generator_pipeline(name: str, tiny: bool, device: str, dtype, scratch: Path):
    """A random-weight pipeline for generator ``name``; returns (pipeline, side, dim)."""
    from generators_real import (
        build_real_kandinsky22,
        build_real_sdxl_ip_adapter,
        default_dtype,
    )
    from generators_tiny import (
        EMBED_DIM,
        ip_adapter_state_dict,
        make_tiny_kandinsky22_decoder,
        make_tiny_sdxl,
    )

    if not tiny:
        side, dim = GENERATOR_SIZES[name]
        with default_dtype(dtype):
            if name == "unclip":
                return build_real_size_pipeline(device, dtype, scratch), side, dim
            if name == "kandinsky22":
                return build_real_kandinsky22(dtype, device), side, dim
            return build_real_sdxl_ip_adapter(dtype, scratch, device), side, dim
    if name == "unclip":
        pipe = make_tiny_unclip_pipeline(scratch)
        pipe.scheduler = unclip_scheduler()
        return pipe.to(device=device, dtype=dtype), 32, EMBED_DIM
    if name == "kandinsky22":
        return make_tiny_kandinsky22_decoder().to(device=device, dtype=dtype), 64, EMBED_DIM
    pipe = make_tiny_sdxl(scratch)
    tensors = ip_adapter_state_dict(pipe.unet)
    state = {part: {k[len(part) + 1:]: v for k, v in tensors.items() if k.startswith(part + ".")}
             for part in ("image_proj", "ip_adapter")}
    pipe.load_ip_adapter(state, subfolder="", weight_name="", image_encoder_folder=None)
    return pipe.to(device=device, dtype=dtype), 64, EMBED_DIM


def unclip_scheduler():
    """The real SD 2.1 unCLIP scheduler."""
    from diffusers import PNDMScheduler

    return PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)


def bench_generators(args, dtype) -> None:
    """images/s and peak GPU memory of each generator, memory options off and on."""
    from perceptogram.reconstruct.base import GENERATORS, get_generator

    cuda = torch.device(args.device).type == "cuda"
    memory_sets = {"off": {}, "on": {"attention_slicing": True, "vae_slicing": True}}
    if cuda:
        memory_sets["on"]["offload"] = "model"
    print(f"\n{'generator':<16} {'memory':<7} {'batch':>5}  {'images/s':>9}  peak GPU GiB")
    for name in args.generators:
        with tempfile.TemporaryDirectory() as scratch:
            pipe, side, dim = build_generator_pipeline(name, args.tiny, args.device, dtype,
                                                       Path(scratch))
        rng = np.random.default_rng(0)
        supported = GENERATORS.get(name).memory_options
        for label, memory in memory_sets.items():  # "on" last: offload hooks stay
            memory = {k: v for k, v in memory.items() if k == "offload" or k in supported}
            for batch in args.batch_sizes:
                options = {"steps": args.steps, "size": side, "seed": 0}
                if name == "kandinsky22":
                    options["negative"] = "zero"
                gen = get_generator(name, pipeline=pipe, device=args.device,
                                    memory={**memory, "batch_size": batch}, **options)
                embeds = rng.normal(size=(batch, dim)).astype(np.float32)
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(args.device)
                rate = throughput(lambda g=gen, e=embeds: g.generate({name: e}), batch,
                                  args.device, args.repeats)
                peak = torch.cuda.max_memory_allocated(args.device) / 1024**3 if cuda else \
                    float("nan")
                print(f"{name:<16} {label:<7} {batch:>5}  {rate:>9.3f}  {peak:.2f}")
        del pipe
        if cuda:
            torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="default: float16 on cuda, float32 on cpu")
    parser.add_argument("--tiny", action="store_true", help="test-sized pipeline (32 px)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--strength", type=float, default=0.75)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--generators", nargs="*", default=[],
                        help="also time these generators (unclip kandinsky22 sdxl-ip-adapter)")
    parser.add_argument("--skip-unclip-details", action="store_true",
                        help="only the generator table")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    set_quiet(True)
    dtype = resolve_torch_dtype(args.dtype, args.device)
    if not args.skip_unclip_details:
        bench_unclip_details(args, dtype)
    if args.generators:
        bench_generators(args, dtype)


def bench_unclip_details(args, dtype) -> None:
    """Encoding, reconstruction and the diffusers peer for Stable unCLIP."""
    with tempfile.TemporaryDirectory() as scratch:
        if args.tiny:
            pipe = make_tiny_unclip_pipeline(scratch).to(device=args.device, dtype=dtype)
            image_size = 32
        else:
            pipe = build_real_size_pipeline(args.device, dtype, Path(scratch))
            image_size = 768
    pipe.set_progress_bar_config(disable=True)
    n_params = {name: sum(p.numel() for p in getattr(pipe, name).parameters()) / 1e6
                for name in ("unet", "vae", "image_encoder", "text_encoder")}
    if torch.device(args.device).type == "cuda":
        device_name = torch.cuda.get_device_name(args.device)
    else:
        device_name = f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {device_name}, dtype {str(dtype).removeprefix('torch.')}, "
          f"{'tiny test pipeline' if args.tiny else 'SD 2.1 unCLIP sizes'}, image {image_size} px")
    print("parameters (M): " + ", ".join(f"{k} {v:.1f}" for k, v in n_params.items()))
    print(f"reconstruction: {args.steps} PNDM steps (img2img: DDIM from its config), "
          f"guidance 7.5, img2img strength {args.strength}")

    rng = np.random.default_rng(0)
    rows = []
    for batch in args.batch_sizes:
        images = rng.integers(0, 256, size=(batch, 500, 500, 3), dtype=np.uint8)
        clip = UnCLIPImageSpace(pipe, batch_size=batch)
        vae = UnCLIPVAESpace(pipe, image_size=image_size, batch_size=batch)
        embeds, latents = clip.encode(images), vae.encode(images)
        common = {"num_inference_steps": args.steps, "image_size": image_size,
                  "batch_size": batch}
        pure = UnCLIPReconstructor(pipe, strength=1.0, **common)
        img2img = UnCLIPReconstructor(pipe, strength=args.strength, **common)

        def diffusers_call():
            pipe(
                image_embeds=torch.from_numpy(embeds).to(args.device, dtype),
                prompt=[""] * batch,
                num_inference_steps=args.steps,
                guidance_scale=7.5,
                height=image_size,
                width=image_size,
                generator=[torch.Generator().manual_seed(i) for i in range(batch)],
                output_type="np",
            )

        def rate(func):
            return throughput(func, batch, args.device, args.repeats)

        measured = {
            "encode unclip": rate(lambda: clip.encode(images)),
            "encode unclip-vae": rate(lambda: vae.encode(images)),
            "reconstruct strength=1": rate(lambda: pure.reconstruct(embeds)),
            f"reconstruct strength={args.strength}": rate(
                lambda: img2img.reconstruct(embeds, latents)),
            "diffusers __call__ (peer)": rate(diffusers_call),
        }
        ratio = measured["diffusers __call__ (peer)"] / measured["reconstruct strength=1"]
        rows += [(batch, name, f"{value:.3f} images/s") for name, value in measured.items()]
        rows.append((batch, "time ours / time diffusers (strength=1)", f"{ratio:.3f}"))

    print(f"\n{'batch':>5}  {'measurement':<42} value")
    for batch, name, value in rows:
        print(f"{batch:>5}  {name:<42} {value}")

if __name__ == "__main__":
    main()
