"""Stable unCLIP latent spaces: the CLIP image embedding and the SD-VAE latent.

Both spaces come from one diffusers ``StableUnCLIPImg2ImgPipeline`` (by default
``stabilityai/stable-diffusion-2-1-unclip``), so that decoded vectors live exactly
where the pipeline expects them:

- ``unclip``: the 1,024-d ``image_embeds`` of the pipeline's own
  ``feature_extractor`` (CLIP preprocessing: resize, centre crop, normalise) and
  ``image_encoder`` (OpenCLIP ViT-H/14 with projection), i.e. what the pipeline
  computes from an image before it noise-augments the embedding.
- ``unclip-vae``: the pipeline's VAE latent of the image resized to 768 × 768 px,
  4 × 96 × 96 = 36,864 numbers, the low-level layout that seeds reconstruction.

Weights are read from the local Hugging Face cache or from a directory the user
names; nothing is downloaded unless ``local_files_only=False`` is passed. torch,
diffusers and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import abc
import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram import __version__
from perceptogram._hashing import array_digest, json_digest, short
from perceptogram._progress import is_quiet, track
from perceptogram.errors import DataFormatError, MissingWeightsError, PerceptogramError, require
from perceptogram.latents.base import check_images, register
from perceptogram.latents.hub import (
    download_command,
    dtype_kwargs,
    missing_weights,
    weights_missing,
)

DEFAULT_MODEL = "stabilityai/stable-diffusion-2-1-unclip"
"""The Stable unCLIP checkpoint of the published method (SD 2.1, OpenCLIP ViT-H/14)."""

DOWNLOAD_INCLUDE = ("*.json", "*.txt", "*/*.safetensors")
"""What Perceptogram loads from :data:`DEFAULT_MODEL`: configs, tokenizer, float32 weights."""

DOWNLOAD_EXCLUDE = ("*.ckpt", "*.bin", "*.fp16.*")
"""Left out: the two full ``.ckpt`` checkpoints, ``.bin`` copies, half-precision copies."""

PIPELINE_COMPONENTS = (
    "feature_extractor",
    "image_encoder",
    "image_normalizer",
    "image_noising_scheduler",
    "tokenizer",
    "text_encoder",
    "unet",
    "scheduler",
    "vae",
)
"""Component names of ``StableUnCLIPImg2ImgPipeline``."""

_PURPOSE = "the Stable unCLIP latent spaces"


def resolve_torch_dtype(dtype: Any, device: Any):
    """Turn a dtype name (or ``None``) into a ``torch.dtype``.

    ``None`` means float16 on CUDA and float32 elsewhere (half precision is slow or
    unsupported on CPUs).
    """
    torch = require("torch", purpose=_PURPOSE)
    if dtype is None:
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype):
        raise PerceptogramError(f"unknown torch dtype {dtype!r}; use e.g. 'float16' or 'float32'")
    return resolved


def default_device() -> str:
    """``"cuda"`` when a CUDA device is available, else ``"cpu"``."""
    torch = require("torch", purpose=_PURPOSE)
    return "cuda" if torch.cuda.is_available() else "cpu"


def _missing_weights(
    model: str, revision: str | None, reason: Exception | str
) -> MissingWeightsError:
    return missing_weights(model, DOWNLOAD_INCLUDE, reason, revision, DOWNLOAD_EXCLUDE)


def _is_local_path(model: str) -> bool:
    if not model:
        return False
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or "\\" in model


def _check_local_folder(model: str) -> Path:
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise MissingWeightsError(f"no such model folder: {folder}")
    if not (folder / "model_index.json").is_file():
        raise MissingWeightsError(
            f"{folder} is not a diffusers pipeline folder (it has no model_index.json); "
            "save one with pipe.save_pretrained(folder) or download the model with "
            f"`{download_command(DEFAULT_MODEL, DOWNLOAD_INCLUDE, DOWNLOAD_EXCLUDE)}`"
        )
    return folder


def load_unclip_pipeline(
    model: str = DEFAULT_MODEL,
    *,
    device: Any = None,
    dtype: Any = None,
    local_files_only: bool = True,
    revision: str | None = None,
    variant: str | None = None,
    components: Iterable[str] | None = None,
):
    """Load a ``StableUnCLIPImg2ImgPipeline`` from the local cache or a folder.

    Parameters
    ----------
    model : str
        Hugging Face model id (looked up in the local cache) or the path of a
        diffusers pipeline folder (one with ``model_index.json``).
    device : str or torch.device or None
        Where to put the modules; default ``"cuda"`` if available, else ``"cpu"``.
    dtype : str or torch.dtype or None
        Weight precision; default float16 on CUDA, float32 on CPU.
    local_files_only : bool
        If True (default) never touch the network.
    revision : str or None
        Git revision (branch, tag or commit) of a Hugging Face model.
    variant : str or None
        Weight file variant, e.g. ``"fp16"``, if the repository provides one.
    components : iterable of str or None
        Load only these components (e.g. ``("feature_extractor", "image_encoder")``
        for encoding); the others are left as ``None``. Default: all.

    Returns
    -------
    pipe : diffusers.StableUnCLIPImg2ImgPipeline

    Raises
    ------
    perceptogram.errors.MissingWeightsError
        If the weights are not available locally; the message says how to get them.
    """
    diffusers = require("diffusers", extra="diffusion", purpose=_PURPOSE)
    transformers = require("transformers", extra="diffusion", purpose=_PURPOSE)
    if is_quiet():
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
    device = default_device() if device is None else device
    torch_dtype = resolve_torch_dtype(dtype, device)
    skip: dict[str, None] = {}
    if components is not None:
        wanted = set(components)
        unknown = wanted.difference(PIPELINE_COMPONENTS)
        if unknown:
            raise PerceptogramError(
                f"unknown pipeline components {sorted(unknown)}; known: {list(PIPELINE_COMPONENTS)}"
            )
        skip = {name: None for name in PIPELINE_COMPONENTS if name not in wanted}
    source: str | Path = model
    if _is_local_path(model):
        source = _check_local_folder(model)

    cls = diffusers.StableUnCLIPImg2ImgPipeline
    try:
        with warnings.catch_warnings():
            # Older transformers inside the pipeline may still warn about torch_dtype.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = cls.from_pretrained(
                source,
                **dtype_kwargs(cls, torch_dtype),
                local_files_only=local_files_only,
                revision=revision,
                variant=variant,
                **skip,
            )
    except OSError as exc:  # huggingface_hub's LocalEntryNotFoundError is an OSError
        if isinstance(source, Path):
            raise MissingWeightsError(f"cannot load the pipeline in {source}: {exc}") from exc
        raise _missing_weights(model, revision, exc) from exc
    return pipe.to(device)


def _folder_digest(folder: Path, subfolders: Iterable[str]) -> str:
    """Cheap identity of a local pipeline folder: names, sizes and times of its files."""
    entries = [
        [path.relative_to(folder).as_posix(), path.stat().st_size, path.stat().st_mtime_ns]
        for sub in sorted(subfolders)
        for path in sorted((folder / sub).rglob("*"))
        if path.is_file()
    ]
    return short(json_digest(entries))


def _weights_digest(modules: Iterable[Any]) -> str:
    """Hash of the parameters of in-memory modules (for pipelines built in code)."""
    names, tensors = [], []
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            names.append(name)
            tensors.append(tensor.detach().float().cpu().contiguous().numpy())
    return short(json_digest([names, array_digest(*tensors)]))


class _UnCLIPComponentSpace(abc.ABC):
    """Shared plumbing: a (lazily loaded) pipeline, its device, dtype and identity.

    Subclasses set ``name``, ``_components`` (the pipeline components they need,
    the module that does the encoding last) and implement ``shape``, ``encode`` and
    ``_preprocessing``.
    """

    name: str
    _components: tuple[str, ...]
    accepts_device = True

    @classmethod
    def missing(cls, options: Mapping[str, Any]) -> str | None:
        """What this machine lacks to encode with ``options`` (the model's weights), or None."""
        if options.get("pipeline") is not None or options.get("local_files_only") is False:
            return None
        return weights_missing(str(options.get("model") or DEFAULT_MODEL),
                               ("model_index.json", f"{cls._components[-1]}/config.json"),
                               include=DOWNLOAD_INCLUDE, exclude=DOWNLOAD_EXCLUDE)

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one latent."""

    @abc.abstractmethod
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images, uint8 (n, H, W, 3) -> float32 (n, dim)."""

    @abc.abstractmethod
    def _preprocessing(self) -> dict:
        """Preprocessing settings that change the latents, for the fingerprint."""

    def __init__(
        self,
        pipeline: Any = None,
        *,
        model: str | None = None,
        revision: str | None = None,
        device: Any = None,
        dtype: Any = None,
        local_files_only: bool = True,
        batch_size: int = 8,
    ) -> None:
        if batch_size < 1:
            raise PerceptogramError(f"batch_size must be at least 1; got {batch_size}")
        if pipeline is not None:
            missing = [c for c in self._components if getattr(pipeline, c, None) is None]
            if missing:
                raise PerceptogramError(
                    f"the pipeline passed to the {self.name!r} latent space has no {missing}"
                )
        self._pipeline = pipeline
        self.model = model if model is not None else (
            DEFAULT_MODEL if pipeline is None else (pipeline.name_or_path or "")
        )
        self.revision = revision
        self.local_files_only = local_files_only
        self.batch_size = batch_size
        self._device = device
        self._dtype = dtype

    @property
    def pipeline(self):
        """The diffusers pipeline, loaded on first use with only the needed components."""
        if self._pipeline is None:
            self._pipeline = load_unclip_pipeline(
                self.model,
                device=self._device,
                dtype=self._dtype,
                local_files_only=self.local_files_only,
                revision=self.revision,
                components=self._components,
            )
        return self._pipeline

    def _module(self):
        return getattr(self.pipeline, self._components[-1])

    @property
    def device(self):
        """Device of the encoding module."""
        return self._module().device

    @property
    def torch_dtype(self):
        """Precision of the encoding module."""
        return self._module().dtype

    @property
    def dim(self) -> int:
        """Number of columns of :meth:`encode` (``prod(shape)``)."""
        return int(np.prod(self.shape))

    def _component_config(self, component: str) -> dict:
        """Config of a component, from the loaded pipeline or from its config.json."""
        if self._pipeline is not None:
            config = getattr(self._pipeline, component).config
            return config.to_dict() if hasattr(config, "to_dict") else dict(config)
        if _is_local_path(self.model):
            path = _check_local_folder(self.model) / component / "config.json"
        else:
            hub = require("huggingface_hub", extra="diffusion", purpose=_PURPOSE)
            try:
                path = Path(
                    hub.hf_hub_download(
                        self.model,
                        "config.json",
                        subfolder=component,
                        revision=self.revision,
                        local_files_only=self.local_files_only,
                    )
                )
            except OSError as exc:
                raise _missing_weights(self.model, self.revision, exc) from exc
        return json.loads(path.read_text(encoding="utf-8"))

    def _resolved_revision(self) -> str:
        """Commit of a cached Hugging Face model, a digest of a local folder, or of weights."""
        if self.model and _is_local_path(self.model):
            return "local-" + _folder_digest(_check_local_folder(self.model), self._components)
        if self.model:
            hub = require("huggingface_hub", extra="diffusion", purpose=_PURPOSE)
            try:
                snapshot = hub.snapshot_download(
                    self.model,
                    revision=self.revision,
                    local_files_only=True,
                    allow_patterns=["model_index.json"],
                )
            except OSError:
                return self.revision or "unresolved"
            return Path(snapshot).name
        modules = [getattr(self.pipeline, c) for c in self._components]
        return "weights-" + _weights_digest(m for m in modules if hasattr(m, "state_dict"))

    def _dtype_name(self) -> str:
        if self._pipeline is not None:
            return str(self.torch_dtype).removeprefix("torch.")
        device = default_device() if self._device is None else self._device
        return str(resolve_torch_dtype(self._dtype, device)).removeprefix("torch.")

    def fingerprint(self) -> str:
        """Model id, resolved revision, dtype, preprocessing and package versions.

        Returns
        -------
        fingerprint : str
            A JSON object (sorted keys) that changes whenever the features would.
        """
        from importlib.metadata import version

        identity = {
            "space": self.name,
            "model": self.model or "in-memory",
            "revision": self._resolved_revision(),
            "dtype": self._dtype_name(),
            "perceptogram": __version__,
            "diffusers": version("diffusers"),
            "transformers": version("transformers"),
            **self._preprocessing(),
        }
        return json.dumps(identity, sort_keys=True)

    def _batches(self, n_images: int, description: str):
        starts = range(0, n_images, self.batch_size)
        for start in track(starts, description, total=len(starts)):
            yield slice(start, min(start + self.batch_size, n_images))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, batch_size={self.batch_size})"


@register("unclip", availability=lambda: UnCLIPImageSpace.missing({}))
class UnCLIPImageSpace(_UnCLIPComponentSpace):
    """The CLIP image embedding that conditions Stable unCLIP (1,024-d for SD 2.1).

    Parameters
    ----------
    pipeline : diffusers.StableUnCLIPImg2ImgPipeline or None
        An already loaded pipeline (it needs ``feature_extractor`` and
        ``image_encoder``). ``None``: load ``model`` on first use.
    model : str or None
        Hugging Face model id or local folder. Default: ``pipeline.name_or_path``
        when a pipeline is given, else :data:`DEFAULT_MODEL`.
    revision : str or None
        Revision of a Hugging Face model.
    device, dtype
        See :func:`load_unclip_pipeline` (ignored when ``pipeline`` is given).
    local_files_only : bool
        Never download (default).
    batch_size : int
        Images per forward pass.

    Notes
    -----
    ``encode`` gives the ``image_embeds`` output of the pipeline's
    ``CLIPVisionModelWithProjection`` applied to the pipeline's ``CLIPImageProcessor``
    output, as ``StableUnCLIPImg2ImgPipeline`` does for an input image, before
    the noise augmentation. Pass the decoded vectors to
    :class:`perceptogram.reconstruct.unclip.UnCLIPReconstructor`.
    """

    name = "unclip"
    _components = ("feature_extractor", "image_encoder")

    @property
    def shape(self) -> tuple[int, ...]:
        """``(projection_dim,)`` of the image encoder: ``(1024,)`` for SD 2.1 unCLIP."""
        return (int(self._component_config("image_encoder")["projection_dim"]),)

    def _preprocessing(self) -> dict:
        return {"preprocessing": "pipeline feature_extractor (CLIPImageProcessor)",
                "output": "image_encoder.image_embeds"}

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images with the pipeline's CLIP image encoder.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
            RGB images of any size (the feature extractor resizes and crops).

        Returns
        -------
        embeds : ndarray of float32, shape (n_images, dim)
        """
        torch = require("torch", purpose=_PURPOSE)
        from PIL import Image

        images = check_images(images)
        pipe = self.pipeline
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for batch in self._batches(len(images), "unCLIP image embeddings"):
            pil = [Image.fromarray(image) for image in images[batch]]
            pixels = pipe.feature_extractor(images=pil, return_tensors="pt").pixel_values
            with torch.inference_mode():
                embeds = pipe.image_encoder(
                    pixels.to(device=self.device, dtype=self.torch_dtype)
                ).image_embeds
            out[batch] = embeds.float().cpu().numpy()
        return out


@register("unclip-vae", availability=lambda: UnCLIPVAESpace.missing({}))
class UnCLIPVAESpace(_UnCLIPComponentSpace):
    """The Stable unCLIP VAE latent of the image at ``image_size`` px (4 × 96 × 96 at 768).

    Parameters
    ----------
    pipeline : diffusers.StableUnCLIPImg2ImgPipeline or None
        An already loaded pipeline (it needs ``vae``). ``None``: load ``model``.
    image_size : int
        Images are resized (Lanczos, aspect ratio not kept) to ``image_size`` squared
        before encoding; must be a multiple of the VAE's downsampling factor (8).
    model, revision, device, dtype, local_files_only, batch_size
        As for :class:`UnCLIPImageSpace`.

    Notes
    -----
    Pixels are mapped to [-1, 1] (the VAE's training range); the latent is the
    mean of the encoder's Gaussian (deterministic) times
    ``vae.config.scaling_factor`` (0.18215), i.e. the units the UNet denoises.
    ``decode`` inverts the scaling and runs the VAE decoder. (The reference code fed
    [0, 1] pixels and kept unscaled latents; latents of the two conventions are not
    interchangeable.)
    """

    name = "unclip-vae"
    _components = ("vae",)

    def __init__(
        self,
        pipeline: Any = None,
        *,
        image_size: int = 768,
        model: str | None = None,
        revision: str | None = None,
        device: Any = None,
        dtype: Any = None,
        local_files_only: bool = True,
        batch_size: int = 8,
    ) -> None:
        super().__init__(pipeline, model=model, revision=revision, device=device, dtype=dtype,
                         local_files_only=local_files_only, batch_size=batch_size)
        self.image_size = int(image_size)
        factor = self.scale_factor
        if self.image_size < factor or self.image_size % factor:
            raise PerceptogramError(
                f"image_size must be a positive multiple of the VAE downsampling factor "
                f"{factor}; got {image_size}"
            )

    @property
    def scale_factor(self) -> int:
        """Downsampling factor of the VAE (8 for Stable Diffusion)."""
        return 2 ** (len(self._component_config("vae")["block_out_channels"]) - 1)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(latent_channels, image_size // f, image_size // f)``: ``(4, 96, 96)`` at 768 px."""
        channels = int(self._component_config("vae")["latent_channels"])
        side = self.image_size // self.scale_factor
        return (channels, side, side)

    def _preprocessing(self) -> dict:
        return {"image_size": self.image_size, "resample": "lanczos",
                "pixel_range": "[-1, 1]", "latent": "mean * scaling_factor"}

    def encode(self, images: np.ndarray) -> np.ndarray:
        """VAE-encode images resized to ``image_size``.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)

        Returns
        -------
        latents : ndarray of float32, shape (n_images, dim)
            Flattened ``(channels, rows, columns)`` latents, ``dim = prod(shape)``.
        """
        torch = require("torch", purpose=_PURPOSE)
        from PIL import Image

        images = check_images(images)
        vae = self.pipeline.vae
        size = (self.image_size, self.image_size)
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for batch in self._batches(len(images), "unCLIP VAE latents"):
            resized = np.stack(
                [np.asarray(Image.fromarray(im).resize(size, Image.LANCZOS))
                 for im in images[batch]]
            )
            pixels = torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            with torch.inference_mode():
                posterior = vae.encode(pixels.to(device=self.device, dtype=self.torch_dtype))
                latents = posterior.latent_dist.mean * vae.config.scaling_factor
            out[batch] = latents.float().cpu().numpy().reshape(len(resized), -1)
        return out

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Render latents with the VAE decoder.

        Parameters
        ----------
        latents : ndarray, shape (n_images, dim)
            Latents as returned by :meth:`encode` (or decoded from EEG).

        Returns
        -------
        images : ndarray of uint8, shape (n_images, image_size, image_size, 3)
        """
        torch = require("torch", purpose=_PURPOSE)

        latents = np.asarray(latents)
        if latents.ndim != 2 or latents.shape[1] != self.dim:
            raise DataFormatError(
                f"latents must have shape (n_images, {self.dim}); got {latents.shape}"
            )
        vae = self.pipeline.vae
        out = np.empty((len(latents), self.image_size, self.image_size, 3), dtype=np.uint8)
        for batch in self._batches(len(latents), "unCLIP VAE decoding"):
            z = torch.from_numpy(np.ascontiguousarray(latents[batch], dtype=np.float32))
            z = z.reshape(-1, *self.shape).to(device=self.device, dtype=self.torch_dtype)
            with torch.inference_mode():
                pixels = vae.decode(z / vae.config.scaling_factor).sample
            out[batch] = to_uint8(pixels)
        return out


def to_uint8(pixels) -> np.ndarray:
    """Convert a decoder output in [-1, 1] to RGB bytes.

    Parameters
    ----------
    pixels : torch.Tensor, shape (n_images, 3, height, width)

    Returns
    -------
    images : ndarray of uint8, shape (n_images, height, width, 3)
    """
    unit = (pixels.float() / 2 + 0.5).clamp(0, 1)
    return (unit * 255).round().permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
