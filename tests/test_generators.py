"""The generator registry, Kandinsky 2.2 and SDXL + IP-Adapter, with tiny random weights.

Each generator is compared with its diffusers pipeline's own ``__call__`` on the same
inputs (one seeded generator per image), and must give image *i* the same pixels
whatever the batch size. Nothing is downloaded: sockets are blocked.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from generators_tiny import (  # noqa: E402
    EMBED_DIM,
    ip_adapter_state_dict,
    make_tiny_clip_vision,
    make_tiny_kandinsky22_decoder,
    make_tiny_sdxl,
)
from perceptogram.errors import DataFormatError, MissingWeightsError  # noqa: E402
from perceptogram.latents.base import LATENT_SPACES, LatentSpace  # noqa: E402
from perceptogram.latents.kandinsky22 import Kandinsky22Space  # noqa: E402
from perceptogram.latents.sdxl_ip_adapter import SDXLIPAdapterSpace  # noqa: E402
from perceptogram.reconstruct.base import GENERATORS, Generator, get_generator  # noqa: E402
from perceptogram.reconstruct.kandinsky22 import (  # noqa: E402
    Kandinsky22Generator,
    prior_zero_embedding,
)
from perceptogram.reconstruct.sdxl_ip_adapter import SDXLIPAdapterGenerator  # noqa: E402
from unclip_tiny import no_network, single_thread  # noqa: E402, F401  (autouse fixtures)

SIZE = 64
N = 3
CPU_BATCH = {"batch_size": N}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(4, 40, 48, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def embeds():
    return np.random.default_rng(1).normal(size=(N, EMBED_DIM)).astype(np.float32)


def _seeded(ids, seed=0):
    return [torch.Generator("cpu").manual_seed(seed + int(i)) for i in ids]


def _uint8(images):
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


# ----------------------------------------------------------------------- registry
def test_registry_names_protocol_and_spaces():
    assert {"unclip", "kandinsky22", "sdxl-ip-adapter"} <= set(GENERATORS.names())
    for entry in GENERATORS.entries():
        cls = entry.factory
        assert entry.summary and cls.spaces[0] in LATENT_SPACES
        assert cls.Options().model_dump()  # every option has a default
    gen = get_generator("kandinsky22", pipeline=make_tiny_kandinsky22_decoder(), device="cpu")
    assert isinstance(gen, Generator)


# ------------------------------------------------------------------ latent spaces
@pytest.mark.parametrize("space_cls, image_size, processor_folder", [
    (Kandinsky22Space, 32, "image_processor"), (SDXLIPAdapterSpace, 224, None)])
def test_clip_vision_spaces_load_from_a_folder(space_cls, image_size, processor_folder, images,
                                               tmp_path):
    encoder, processor = make_tiny_clip_vision(image_size=image_size)
    encoder.save_pretrained(tmp_path / space_cls.encoder_subfolder)
    if processor_folder:
        processor.save_pretrained(tmp_path / processor_folder)
    else:  # the IP-Adapter repository has no processor: CLIP defaults at 224 px
        from perceptogram.latents.clip_vision import image_processor_class

        processor = image_processor_class()()
    space = space_cls(str(tmp_path), device="cpu", batch_size=3)
    assert isinstance(space, LatentSpace) and space.shape == (EMBED_DIM,)  # before loading
    out = space.encode(images)
    pixels = processor(images=list(images), return_tensors="pt").pixel_values
    with torch.no_grad():
        expected = encoder(pixels).image_embeds.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert space.fingerprint() == space_cls(str(tmp_path)).fingerprint()
    assert LATENT_SPACES.get(space_cls.name) is space_cls


def test_missing_weights_name_the_repo_and_files(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"hf download kandinsky-community/kandinsky-"
                                                  r"2-2-prior --include 'image_encoder/config"):
        Kandinsky22Space(device="cpu").encode(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(MissingWeightsError, match="sdxl_models/ip-adapter_sdxl_vit-h"):
        _ = SDXLIPAdapterSpace(device="cpu").shape
    with pytest.raises(MissingWeightsError, match="kandinsky-2-2-decoder --include"):
        _ = Kandinsky22Generator(device="cpu").pipeline
    with pytest.raises(MissingWeightsError, match="stable-diffusion-xl-base-1.0 --include"):
        _ = SDXLIPAdapterGenerator(device="cpu").pipeline
    with pytest.raises(MissingWeightsError, match="cannot load"):
        _ = SDXLIPAdapterGenerator(device="cpu", model=str(tmp_path)).pipeline


# --------------------------------------------------------------------- kandinsky22
@pytest.fixture(scope="module")
def kandinsky():
    return make_tiny_kandinsky22_decoder()


def _kandinsky(pipe, **kwargs):
    options = {"steps": 3, "guidance": 4.0, "size": SIZE, "seed": 5, "negative": "zero"}
    memory = kwargs.pop("memory", CPU_BATCH)
    return Kandinsky22Generator(pipe, device="cpu", memory=memory, **{**options, **kwargs})


def _same_pixels(a, b):
    """Equal up to float rounding across batch sizes (at most 1 grey level)."""
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_kandinsky22_equals_the_diffusers_pipeline(kandinsky, embeds):
    out = _kandinsky(kandinsky).generate({"kandinsky22": embeds})
    assert out.shape == (N, SIZE, SIZE, 3) and out.dtype == np.uint8
    expected = kandinsky(
        image_embeds=torch.from_numpy(embeds), negative_image_embeds=torch.zeros(N, EMBED_DIM),
        height=SIZE, width=SIZE, num_inference_steps=3, guidance_scale=4.0,
        generator=_seeded(range(N), 5), output_type="np",
    ).images
    np.testing.assert_array_equal(out, _uint8(expected))


def test_kandinsky22_per_image_seeds_and_negative(kandinsky, embeds):
    gen = _kandinsky(kandinsky)
    together = gen.generate({"kandinsky22": embeds}, image_ids=np.array([4, 7, 9]))
    one = _kandinsky(kandinsky, memory={"batch_size": 1})
    alone = one.generate({"kandinsky22": embeds[1:2]}, image_ids=np.array([7]))
    _same_pixels(together[1:2], alone)
    assert not np.array_equal(together[0], together[1])
    negative = np.random.default_rng(3).normal(size=EMBED_DIM).astype(np.float32)
    other = _kandinsky(kandinsky, negative="prior")
    other._negative = negative
    assert not np.array_equal(other.generate({"kandinsky22": embeds[:1]}), together[:1])
    with pytest.raises(DataFormatError, match="kandinsky22"):
        gen.generate({"unclip": embeds})
    with pytest.raises(DataFormatError, match=r"\(n_images, 32\)"):
        gen.generate({"kandinsky22": embeds[:, :5]})


def test_prior_negative_is_the_prior_pipelines_zero_embedding():
    from types import SimpleNamespace

    encoder, _ = make_tiny_clip_vision(image_size=32)
    prior = SimpleNamespace(image_encoder=encoder, device=torch.device("cpu"))
    with torch.no_grad():
        expected = diffusers.KandinskyV22PriorPipeline.get_zero_embed(prior, 1)[0].numpy()
    np.testing.assert_allclose(prior_zero_embedding(encoder), expected, rtol=1e-6)


# --------------------------------------------------------------- sdxl-ip-adapter
@pytest.fixture(scope="module")
def sdxl_folders(tmp_path_factory):
    """A saved tiny SDXL pipeline and an IP-Adapter file in the h94/IP-Adapter layout."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("sdxl")
    pipe = make_tiny_sdxl(root / "tokenizer")
    pipe.save_pretrained(root / "base")
    adapter = root / "adapter" / "sdxl_models"
    adapter.mkdir(parents=True)
    save_file(ip_adapter_state_dict(pipe.unet), adapter / "ip-adapter_sdxl_vit-h.safetensors")
    return root / "base", root / "adapter"


def _sdxl(folders, **kwargs):
    base, adapter = folders
    options = {"model": str(base), "ip_adapter": str(adapter), "variant": None, "steps": 3,
               "size": SIZE, "guidance": 5.0, "seed": 2}
    memory = kwargs.pop("memory", CPU_BATCH)
    return SDXLIPAdapterGenerator(device="cpu", memory=memory, **{**options, **kwargs})


def test_sdxl_ip_adapter_equals_the_diffusers_pipeline(sdxl_folders, embeds):
    gen = _sdxl(sdxl_folders)
    out = gen.generate({"sdxl-ip-adapter": embeds})
    assert out.shape == (N, SIZE, SIZE, 3)
    pipe = gen.pipeline  # loaded from the folders, adapter in place
    assert pipe.unet.encoder_hid_proj is not None
    expected = np.concatenate([
        pipe(prompt="", ip_adapter_image_embeds=[torch.stack([torch.zeros(EMBED_DIM), e])[:, None]],
             height=SIZE, width=SIZE, num_inference_steps=3, guidance_scale=5.0,
             generator=torch.Generator("cpu").manual_seed(2 + i), output_type="np").images
        for i, e in enumerate(torch.from_numpy(embeds))])
    np.testing.assert_array_equal(out, _uint8(expected))
    # The adapter is used: another embedding, another image; scale 0 ignores it.
    moved = gen.generate({"sdxl-ip-adapter": embeds[::-1].copy()})
    assert not np.array_equal(moved[0], out[0])
    blind = _sdxl(sdxl_folders, ip_adapter_scale=0.0)
    a = blind.generate({"sdxl-ip-adapter": embeds[:1]})
    b = blind.generate({"sdxl-ip-adapter": embeds[1:2]}, image_ids=np.array([0]))
    _same_pixels(a, b)


def test_sdxl_ip_adapter_per_image_seeds(sdxl_folders, embeds):
    together = _sdxl(sdxl_folders).generate({"sdxl-ip-adapter": embeds}, image_ids=np.arange(5, 8))
    alone = _sdxl(sdxl_folders, memory={"batch_size": 1}).generate(
        {"sdxl-ip-adapter": embeds[2:]}, image_ids=np.array([7]))
    _same_pixels(together[2:], alone)


def test_sdxl_pipeline_shares_one_image_prompt_across_a_batch(sdxl_folders, embeds):
    """Why the generator calls SDXL once per image: a batch of different embeddings in
    one call does not give each image its own (same seeds -> same images)."""
    pipe = _sdxl(sdxl_folders).pipeline
    two = torch.from_numpy(embeds[:2])
    images = pipe(prompt=["", ""], ip_adapter_image_embeds=[torch.cat([0 * two, two])[:, None]],
                  height=SIZE, width=SIZE, num_inference_steps=2,
                  generator=[torch.Generator().manual_seed(0) for _ in range(2)],
                  output_type="np").images
    np.testing.assert_allclose(images[0], images[1], atol=1e-6)
