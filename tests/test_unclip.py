"""Stable unCLIP latent spaces and reconstruction, with a tiny random-weight pipeline.

The pipeline (tests/unclip_tiny.py) has the real component types and wiring, so
everything here runs the same code path as ``stabilityai/stable-diffusion-2-1-unclip``
at a few thousand times less compute. Nothing is downloaded: sockets are blocked.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from perceptogram.errors import (  # noqa: E402
    DataFormatError,
    MissingWeightsError,
    PerceptogramError,
)
from perceptogram.latents.base import (  # noqa: E402
    DecodableLatentSpace,
    LatentSpace,
    get_latent_space,
)
from perceptogram.latents.unclip import (  # noqa: E402
    UnCLIPImageSpace,
    UnCLIPVAESpace,
    load_unclip_pipeline,
)
from perceptogram.reconstruct.unclip import UnCLIPReconstructor  # noqa: E402
from unclip_tiny import (  # noqa: E402
    EMBED_DIM,
    IMAGE_SIZE,
    VAE_SCALE_FACTOR,
    make_tiny_unclip_pipeline,
    no_network,  # noqa: F401  (autouse fixture)
    single_thread,  # noqa: F401  (autouse fixture)
)

LATENT_SIDE = IMAGE_SIZE // VAE_SCALE_FACTOR


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return make_tiny_unclip_pipeline(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="module")
def images():
    """Six smooth procedural RGB images with different layouts, 40 x 48 px."""
    rows, cols = np.mgrid[0:40, 0:48] / 40.0
    out = []
    for k in range(6):
        angle = k * np.pi / 6
        wave = np.sin(2 * np.pi * (1 + k % 3) * (np.cos(angle) * cols + np.sin(angle) * rows))
        blob = np.exp(-((rows - 0.2 - 0.1 * k) ** 2 + (cols - 0.9 + 0.1 * k) ** 2) / 0.05)
        rgb = np.stack([wave, blob, 0.5 * wave * blob + rows], axis=-1)
        rgb = (rgb - rgb.min()) / np.ptp(rgb)
        out.append(np.round(255 * rgb).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def embeds(pipe, images):
    return UnCLIPImageSpace(pipe).encode(images)


@pytest.fixture(scope="module")
def vae_latents(pipe, images):
    return UnCLIPVAESpace(pipe, image_size=IMAGE_SIZE).encode(images)


def _reconstructor(pipe, **kwargs):
    params = {"num_inference_steps": 3, "image_size": IMAGE_SIZE, "batch_size": 3}
    return UnCLIPReconstructor(pipe, **{**params, **kwargs})


class UNetSpy:
    """Record the inputs of every UNet call (the pipeline's module is wrapped)."""

    def __init__(self, pipe, monkeypatch):
        self.calls = []
        forward = pipe.unet.forward

        def spy(sample, timestep, **kwargs):
            self.calls.append(
                {
                    "sample": sample.clone(),
                    "timestep": int(timestep),
                    "class_labels": kwargs["class_labels"].clone(),
                    "text": kwargs["encoder_hidden_states"].clone(),
                }
            )
            return forward(sample, timestep, **kwargs)

        monkeypatch.setattr(pipe.unet, "forward", spy)


def _draws(seed, n_latent_channels=4):
    """The two random draws of one image's generator: embedding noise, latent noise."""
    generator = torch.Generator("cpu").manual_seed(seed)
    embed_noise = torch.randn((1, EMBED_DIM), generator=generator)
    shape = (1, n_latent_channels, LATENT_SIDE, LATENT_SIDE)
    latent_noise = torch.randn(shape, generator=generator)
    return embed_noise, latent_noise


# ---------------------------------------------------------------- latent spaces


def test_unclip_space_matches_pipeline_image_encoding(pipe, images, embeds):
    space = UnCLIPImageSpace(pipe, batch_size=4)
    assert isinstance(space, LatentSpace)
    assert not isinstance(space, DecodableLatentSpace)
    assert space.shape == (EMBED_DIM,) and space.dim == EMBED_DIM
    assert embeds.shape == (len(images), EMBED_DIM) and embeds.dtype == np.float32
    # Reference: what the pipeline itself computes from PIL images before noising.
    from PIL import Image

    pixels = pipe.feature_extractor(
        images=[Image.fromarray(im) for im in images], return_tensors="pt"
    ).pixel_values
    with torch.no_grad():
        expected = pipe.image_encoder(pixels).image_embeds.numpy()
    np.testing.assert_allclose(embeds, expected, rtol=1e-5, atol=1e-6)
    # Batching does not change the result.
    np.testing.assert_allclose(UnCLIPImageSpace(pipe, batch_size=1).encode(images), embeds,
                               rtol=1e-5, atol=1e-6)
    assert np.linalg.matrix_rank(embeds) == len(images)


def test_unclip_vae_space_encode_decode(pipe, images, vae_latents):
    space = UnCLIPVAESpace(pipe, image_size=IMAGE_SIZE, batch_size=4)
    assert isinstance(space, DecodableLatentSpace)
    assert space.shape == (4, LATENT_SIDE, LATENT_SIDE)
    assert vae_latents.shape == (len(images), 4 * LATENT_SIDE**2)
    assert vae_latents.dtype == np.float32
    # Reference: the VAE posterior mean of the [-1, 1] image, times the scaling factor.
    from PIL import Image

    resized = np.stack(
        [np.asarray(Image.fromarray(im).resize((IMAGE_SIZE,) * 2, Image.LANCZOS)) for im in images]
    )
    x = torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        expected = pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor
    np.testing.assert_allclose(vae_latents, expected.reshape(len(images), -1).numpy(),
                               rtol=1e-4, atol=1e-5)
    decoded = space.decode(vae_latents)
    assert decoded.shape == (len(images), IMAGE_SIZE, IMAGE_SIZE, 3)
    assert decoded.dtype == np.uint8
    with torch.no_grad():
        reference = pipe.vae.decode(expected / pipe.vae.config.scaling_factor).sample
    reference = np.round(255 * (reference / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy())
    assert np.abs(decoded.astype(int) - reference).max() <= 1
    # Another size gives another latent grid.
    assert UnCLIPVAESpace(pipe, image_size=16).encode(images[:1]).shape == (1, 4 * 8 * 8)
    with pytest.raises(PerceptogramError, match="multiple"):
        UnCLIPVAESpace(pipe, image_size=33)
    with pytest.raises(DataFormatError, match="shape"):
        space.decode(vae_latents[:, :-1])


def test_registry_and_fingerprints(pipe, images):
    space = get_latent_space("unclip", pipeline=pipe)
    vae = get_latent_space("unclip-vae", pipeline=pipe, image_size=IMAGE_SIZE)
    assert isinstance(space, UnCLIPImageSpace) and isinstance(vae, UnCLIPVAESpace)
    fp = json.loads(space.fingerprint())
    assert fp["space"] == "unclip" and fp["dtype"] == "float32"
    assert fp["revision"].startswith("weights-")
    assert space.fingerprint() == UnCLIPImageSpace(pipe).fingerprint()
    assert json.loads(vae.fingerprint())["image_size"] == IMAGE_SIZE
    assert vae.fingerprint() != UnCLIPVAESpace(pipe, image_size=16).fingerprint()
    # Other weights, other fingerprint.
    other = make_tiny_unclip_pipeline(pipe.tokenizer.name_or_path, seed=1)
    assert UnCLIPImageSpace(other).fingerprint() != space.fingerprint()
    with pytest.raises(DataFormatError):
        space.encode(images.astype(np.float32))


def test_load_from_local_folder_only_needed_components(pipe, images, embeds, tmp_path):
    folder = tmp_path / "tiny-unclip"
    pipe.save_pretrained(folder)
    loaded = load_unclip_pipeline(
        str(folder), device="cpu", components=("feature_extractor", "image_encoder")
    )
    assert loaded.unet is None and loaded.vae is None
    assert loaded.image_encoder.dtype == torch.float32
    np.testing.assert_allclose(UnCLIPImageSpace(loaded).encode(images), embeds,
                               rtol=1e-5, atol=1e-6)
    # Lazy: shape and fingerprint come from the folder's configs without loading weights.
    lazy = UnCLIPImageSpace(model=str(folder), device="cpu")
    assert lazy.shape == (EMBED_DIM,)
    assert json.loads(lazy.fingerprint())["revision"].startswith("local-")
    assert lazy._pipeline is None
    np.testing.assert_allclose(lazy.encode(images), embeds, rtol=1e-5, atol=1e-6)
    lazy_vae = UnCLIPVAESpace(model=str(folder), device="cpu", image_size=IMAGE_SIZE)
    assert lazy_vae.shape == (4, LATENT_SIDE, LATENT_SIDE)
    assert lazy_vae.pipeline.unet is None and lazy_vae.pipeline.image_encoder is None


def test_missing_weights_say_what_to_download(tmp_path):
    model = "perceptogram-tests/no-such-unclip-model"
    with pytest.raises(MissingWeightsError) as info:
        load_unclip_pipeline(model, device="cpu")
    message = str(info.value)
    assert model in message and f"hf download {model} --include '*.json'" in message
    assert "--exclude '*.ckpt'" in message  # not the two 8 GB checkpoints
    with pytest.raises(MissingWeightsError, match="hf download"):
        UnCLIPImageSpace(model=model).shape
    with pytest.raises(MissingWeightsError, match="model_index.json"):
        load_unclip_pipeline(str(tmp_path), device="cpu")
    with pytest.raises(MissingWeightsError, match="no such model folder"):
        load_unclip_pipeline(str(tmp_path / "absent"), device="cpu")


def test_import_is_lazy_and_works_without_diffusers():
    code = (
        "import sys; sys.modules['diffusers'] = None\n"
        "import perceptogram.latents.unclip as u, perceptogram.reconstruct.unclip\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from perceptogram.errors import MissingDependencyError\n"
        "try:\n    u.load_unclip_pipeline(device='cpu')\n"
        "except MissingDependencyError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "perceptogram[diffusion]" in result.stdout


# ---------------------------------------------------------------- reconstruction


def test_pure_noise_start_reproduces_the_diffusers_pipeline(pipe, embeds):
    """Without a VAE latent our loop is StableUnCLIPImg2ImgPipeline.__call__."""
    ours = _reconstructor(pipe, guidance_scale=7.5).reconstruct(embeds[:3])
    generators = [torch.Generator("cpu").manual_seed(i) for i in range(3)]
    theirs = pipe(
        image_embeds=torch.from_numpy(embeds[:3]),
        prompt=[""] * 3,
        num_inference_steps=3,
        guidance_scale=7.5,
        height=IMAGE_SIZE,
        width=IMAGE_SIZE,
        generator=generators,
        output_type="np",
    ).images
    assert ours.shape == (3, IMAGE_SIZE, IMAGE_SIZE, 3) and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - np.round(theirs * 255)).max() <= 1


def test_zero_embedding_is_the_negative(pipe, embeds, monkeypatch):
    spy = UNetSpy(pipe, monkeypatch)
    guided = _reconstructor(pipe, guidance_scale=7.5, seed=5).reconstruct(embeds[:2])
    first = spy.calls[0]
    assert len(spy.calls) == 3 and first["sample"].shape[0] == 4
    labels = first["class_labels"]
    assert torch.all(labels[:2] == 0)
    # Conditional half: the embedding noise-augmented at level 0 by the pipeline.
    for i in range(2):
        embed_noise, _ = _draws(5 + i)
        expected = pipe.noise_image_embeddings(torch.from_numpy(embeds[i : i + 1]), 0,
                                               noise=embed_noise)
        torch.testing.assert_close(labels[2 + i : 3 + i], expected)
    # Text condition: the empty prompt, for both halves.
    torch.testing.assert_close(first["text"][0], first["text"][3])

    spy.calls.clear()
    unguided = _reconstructor(pipe, guidance_scale=1.0, seed=5).reconstruct(embeds[:2])
    assert spy.calls[0]["sample"].shape[0] == 2
    assert not torch.any(torch.all(spy.calls[0]["class_labels"] == 0, dim=1))
    assert np.abs(guided.astype(int) - unguided).mean() > 5


def test_per_image_generators_batch_size_and_order(pipe, embeds, vae_latents):
    embeds, vae_latents = embeds[:4], vae_latents[:4]
    kwargs = {"strength": 0.7, "num_inference_steps": 3}
    reference = _reconstructor(pipe, batch_size=3, **kwargs).reconstruct(embeds, vae_latents)
    one_by_one = _reconstructor(pipe, batch_size=1, **kwargs).reconstruct(embeds, vae_latents)
    order = np.arange(4)[::-1]
    reversed_ = _reconstructor(pipe, batch_size=4, **kwargs).reconstruct(
        embeds[order], vae_latents[order], image_ids=order
    )
    # Float rounding may differ with the batch composition: at most one grey level.
    assert np.abs(one_by_one.astype(int) - reference).max() <= 1
    assert np.abs(reversed_[::-1].astype(int) - reference).max() <= 1
    # ... whereas the seed matters.
    reseeded = _reconstructor(pipe, seed=1, **kwargs).reconstruct(embeds[:2], vae_latents[:2])
    assert np.abs(reseeded.astype(int) - reference[:2]).mean() > 5


def test_changing_the_embedding_changes_the_image(pipe, embeds):
    same_seed = np.zeros(2, dtype=int)
    rec = _reconstructor(pipe).reconstruct(embeds[[0, 1]], image_ids=same_seed)
    assert np.abs(rec[0].astype(int) - rec[1]).mean() > 2
    again = _reconstructor(pipe).reconstruct(embeds[[0, 0]], image_ids=same_seed)
    assert np.array_equal(again[0], again[1])


def test_img2img_strength_noises_the_latent_to_the_start_timestep(pipe, embeds, vae_latents,
                                                                  monkeypatch):
    spy = UNetSpy(pipe, monkeypatch)
    _reconstructor(pipe, num_inference_steps=10, strength=0.3, guidance_scale=1.0).reconstruct(
        embeds[:2], vae_latents[:2]
    )
    scheduler = pipe.scheduler
    scheduler.set_timesteps(10)
    assert [c["timestep"] for c in spy.calls] == scheduler.timesteps[7:].tolist()
    for i in range(2):
        _, noise = _draws(i)
        init = torch.from_numpy(vae_latents[i]).reshape(1, 4, LATENT_SIDE, LATENT_SIDE)
        expected = scheduler.add_noise(init, noise, scheduler.timesteps[7:8])
        torch.testing.assert_close(spy.calls[0]["sample"][i : i + 1], expected)

    spy.calls.clear()
    _reconstructor(pipe, init_mode="mix", mix_weight=0.5, guidance_scale=1.0).reconstruct(
        embeds[:1], vae_latents[:1]
    )
    _, noise = _draws(0)
    init = torch.from_numpy(vae_latents[0]).reshape(1, 4, LATENT_SIDE, LATENT_SIDE)
    torch.testing.assert_close(spy.calls[0]["sample"], 0.5 * init + noise)
    assert len(spy.calls) == 3


def test_strength_controls_how_much_layout_survives(pipe, embeds, vae_latents):
    embeds, vae_latents = embeds[:3], vae_latents[:3]
    layout = UnCLIPVAESpace(pipe, image_size=IMAGE_SIZE).decode(vae_latents)

    def layout_similarity(strength):
        rec = _reconstructor(pipe, num_inference_steps=10, strength=strength).reconstruct(
            embeds, vae_latents
        )
        return np.mean([np.corrcoef(r.ravel(), g.ravel())[0, 1] for r, g in zip(rec, layout)])

    # strength 0: no denoising at all, the VAE rendering of the latent itself.
    np.testing.assert_array_equal(
        _reconstructor(pipe, strength=0.0).reconstruct(embeds, vae_latents), layout
    )
    low, middle, full = (layout_similarity(s) for s in (0.2, 0.5, 1.0))
    assert low > middle > full
    assert low > 0.6 and full < 0.4
    # strength 1 ignores the latent: same as starting without one.
    np.testing.assert_array_equal(
        _reconstructor(pipe, strength=1.0).reconstruct(embeds[:2], vae_latents[:2]),
        _reconstructor(pipe).reconstruct(embeds[:2]),
    )


def test_reconstructor_validates_inputs(pipe, embeds, vae_latents):
    rec = _reconstructor(pipe)
    with pytest.raises(DataFormatError, match=f"\\(n_images, {EMBED_DIM}\\)"):
        rec.reconstruct(embeds[:, :-1])
    with pytest.raises(DataFormatError, match="vae_latents"):
        rec.reconstruct(embeds, vae_latents[:-1])
    with pytest.raises(DataFormatError, match="image_ids"):
        rec.reconstruct(embeds[:2], image_ids=[0.5, 1.5])
    with pytest.raises(PerceptogramError, match="init_mode"):
        _reconstructor(pipe, init_mode="blend")
    with pytest.raises(PerceptogramError, match="strength"):
        _reconstructor(pipe, strength=1.5)


# ---------------------------------------------------------------- end to end


def test_eeg_to_pixels_end_to_end(pipe, tmp_path):
    """Simulated EEG -> ridge decoder -> unCLIP: decoded information reaches the pixels."""
    try:
        from perceptogram.linear.ridge import Ridge
    except ImportError:  # the linear core is developed in parallel
        from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    n_train, n_test = 60, 6
    # Procedural images: smooth random colour fields (upsampled 4 x 4 noise).
    coarse = rng.uniform(0, 255, size=(n_train + n_test, 4, 4, 3))
    images = np.kron(coarse, np.ones((1, 10, 10, 1))).round().astype(np.uint8)
    space = UnCLIPImageSpace(pipe, batch_size=16)
    vae_space = UnCLIPVAESpace(pipe, image_size=IMAGE_SIZE, batch_size=16)
    Y = space.encode(images)
    Z = vae_space.encode(images)
    # EEG features depend linearly on both latents (the image embedding carrying
    # most of the variance), plus noise: 17 channels x 10 times.
    latents = np.hstack(
        [Y / Y.std() / np.sqrt(Y.shape[1]), 0.3 * Z / Z.std() / np.sqrt(Z.shape[1])]
    )
    X = latents @ rng.normal(size=(latents.shape[1], 170))
    X += 0.1 * rng.normal(size=X.shape)
    train, test = slice(0, n_train), slice(n_train, None)

    decoded_y = Ridge(alpha=1.0).fit(X[train], Y[train]).predict(X[test]).astype(np.float32)
    decoded_z = Ridge(alpha=1.0).fit(X[train], Z[train]).predict(X[test]).astype(np.float32)
    assert decoded_y.shape == (n_test, EMBED_DIM) and decoded_z.shape == Z[test].shape
    # Decoded embeddings identify their images (correlation around the training mean).
    centre = Y[train].mean(axis=0)
    r = np.corrcoef(decoded_y - centre, Y[test] - centre)[:n_test, n_test:]
    assert np.array_equal(r.argmax(axis=1), np.arange(n_test))

    # Same seed for every image: differences between pictures come from the latents only.
    same_seed = np.zeros(n_test, dtype=int)
    rec = _reconstructor(pipe, num_inference_steps=4, strength=0.5)
    from_eeg = rec.reconstruct(decoded_y, decoded_z, image_ids=same_seed).astype(float)
    from_truth = rec.reconstruct(Y[test], Z[test], image_ids=same_seed).astype(float)
    assert from_eeg.shape == (n_test, IMAGE_SIZE, IMAGE_SIZE, 3)
    distance = ((from_eeg[:, None] - from_truth[None]) ** 2).mean(axis=(2, 3, 4))
    # Two-way identification in pixel space (chance 0.5): each reconstruction is
    # closer to the one from its own true latents than to the others.
    closer = distance < np.diag(distance)[None, :].T
    two_way = 1 - closer.sum(axis=1) / (n_test - 1)
    assert two_way.mean() > 0.85


def test_benchmark_configs_have_the_published_sizes():
    """The real-size configs of benchmarks/bench_unclip.py (built on the meta device)."""
    from pathlib import Path

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import bench_unclip
    finally:
        sys.path.pop(0)
    with torch.device("meta"):
        unet = UNet2DConditionModel(**bench_unclip.UNET_CONFIG)
        vae = AutoencoderKL(**bench_unclip.VAE_CONFIG)
        vit = CLIPVisionModelWithProjection(CLIPVisionConfig(**bench_unclip.IMAGE_ENCODER_CONFIG))
        # SD 2.x UNet (865,910,724) + the 2048 -> 1280 -> 1280 class-embedding MLP.
        class_mlp = 2048 * 1280 + 1280 + 1280 * 1280 + 1280
        assert sum(p.numel() for p in unet.parameters()) == 865_910_724 + class_mlp
        assert sum(p.numel() for p in vae.parameters()) == 83_653_863
        assert round(sum(p.numel() for p in vit.parameters()) / 1e6) == 632  # OpenCLIP ViT-H/14
        out = unet(torch.empty(2, 4, 96, 96), 500, encoder_hidden_states=torch.empty(2, 77, 1024),
                   class_labels=torch.empty(2, 2048)).sample
        assert out.shape == (2, 4, 96, 96)
        assert vit(torch.empty(1, 3, 224, 224)).image_embeds.shape == (1, 1024)
