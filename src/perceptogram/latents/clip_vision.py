"""A CLIP image embedding read from one subfolder of a repository (or a folder).

The Kandinsky 2.2 prior and the IP-Adapter both condition their generators on the
``image_embeds`` output of a ``CLIPVisionModelWithProjection`` applied to a
``CLIPImageProcessor``'s output; :class:`CLIPVisionSpace` is that computation, with
the encoder and processor loaded from local files only. Subclasses name the
repository, subfolders and download patterns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from perceptogram import __version__
from perceptogram._progress import track
from perceptogram.errors import MissingWeightsError, PerceptogramError, require
from perceptogram.latents.base import check_images
from perceptogram.latents.hub import (
    dtype_kwargs,
    is_local_path,
    missing_weights,
    weights_missing,
)
from perceptogram.latents.unclip import (
    _folder_digest,
    _weights_digest,
    default_device,
    resolve_torch_dtype,
)

__all__ = ["CLIPVisionSpace", "image_processor_class"]


def image_processor_class():
    """transformers' torchvision-free CLIP image processor class."""
    transformers = require("transformers", extra="diffusion", purpose="CLIP image embeddings")
    return getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)


class CLIPVisionSpace:
    """``image_embeds`` of a CLIP vision encoder with projection.

    Parameters
    ----------
    model : str or None
        Hugging Face repository id (local cache only) or a folder with the same
        layout; default :attr:`default_model`.
    encoder : transformers.CLIPVisionModelWithProjection or None
        An already built encoder (then ``processor`` is needed too).
    processor : transformers.CLIPImageProcessor or None
    device : str or None
        Default CUDA when available.
    dtype : str or None
        Default float16 on CUDA, float32 elsewhere.
    batch_size : int
        Images per forward pass.
    local_files_only : bool
        Never download (default).
    """

    name: ClassVar[str]
    default_model: ClassVar[str]
    encoder_subfolder: ClassVar[str]
    processor_subfolder: ClassVar[str | None]
    """Subfolder with ``preprocessor_config.json``; None: CLIP defaults at 224 px."""
    download_include: ClassVar[tuple[str, ...]]
    accepts_device: ClassVar[bool] = True

    @classmethod
    def missing(cls, options: Mapping[str, Any]) -> str | None:
        """What this machine lacks to encode with ``options`` (the encoder's weights), or None."""
        if options.get("encoder") is not None or options.get("local_files_only") is False:
            return None
        return weights_missing(str(options.get("model") or cls.default_model),
                               (f"{cls.encoder_subfolder}/config.json",),
                               include=cls.download_include, extras=("transformers", "torch"))

    def __init__(self, model: str | None = None, *, encoder: Any = None, processor: Any = None,
                 device: Any = None, dtype: Any = None, batch_size: int = 8,
                 local_files_only: bool = True) -> None:
        if batch_size < 1:
            raise PerceptogramError(f"batch_size must be at least 1; got {batch_size}")
        if (encoder is None) != (processor is None):
            raise PerceptogramError("pass both encoder and processor, or neither")
        self.model = self.default_model if model is None else str(model)
        self._encoder = encoder
        self._processor = processor
        self._device = device
        self._dtype = dtype
        self.batch_size = int(batch_size)
        self.local_files_only = local_files_only

    def _missing(self, reason: Any) -> MissingWeightsError:
        if is_local_path(self.model):
            return MissingWeightsError(
                f"cannot load the {self.name!r} image encoder from {self.model} ({reason}); it "
                f"needs {self.encoder_subfolder}/config.json and its weights"
            )
        return missing_weights(self.model, self.download_include, reason)

    def _load(self) -> None:
        transformers = require("transformers", extra="diffusion", purpose=f"the {self.name} space")
        device = default_device() if self._device is None else self._device
        torch_dtype = resolve_torch_dtype(self._dtype, device)
        cls = transformers.CLIPVisionModelWithProjection
        try:
            encoder = cls.from_pretrained(self.model, subfolder=self.encoder_subfolder,
                                          local_files_only=self.local_files_only,
                                          **dtype_kwargs(cls, torch_dtype))
            if self.processor_subfolder is None:
                processor = image_processor_class()()
            else:
                processor = image_processor_class().from_pretrained(
                    self.model, subfolder=self.processor_subfolder,
                    local_files_only=self.local_files_only)
        except OSError as exc:
            raise self._missing(exc) from exc
        self._encoder = encoder.to(device).eval()
        self._processor = processor

    @property
    def encoder(self):
        """The CLIP vision encoder, loaded on first use."""
        if self._encoder is None:
            self._load()
        return self._encoder

    @property
    def processor(self):
        """The CLIP image processor, loaded on first use."""
        if self._processor is None:
            self._load()
        return self._processor

    @property
    def shape(self) -> tuple[int, ...]:
        """``(projection_dim,)`` of the encoder."""
        if self._encoder is not None:
            return (int(self._encoder.config.projection_dim),)
        return (int(self._encoder_config()["projection_dim"]),)

    @property
    def dim(self) -> int:
        """Number of columns of :meth:`encode`."""
        return int(np.prod(self.shape))

    def _encoder_config(self) -> dict:
        if is_local_path(self.model):
            path = Path(self.model).expanduser() / self.encoder_subfolder / "config.json"
            if not path.is_file():
                raise self._missing(f"no {path}")
        else:
            hub = require("huggingface_hub", extra="diffusion", purpose=f"the {self.name} space")
            try:
                path = Path(hub.hf_hub_download(self.model, "config.json",
                                                subfolder=self.encoder_subfolder,
                                                local_files_only=self.local_files_only))
            except OSError as exc:
                raise self._missing(exc) from exc
        return json.loads(path.read_text(encoding="utf-8"))

    def fingerprint(self) -> str:
        """Model, subfolder, dtype, processor settings and package versions."""
        from importlib.metadata import version

        identity = {
            "space": self.name,
            "model": self.model,
            "encoder": self.encoder_subfolder,
            "revision": self._revision(),
            "dtype": str(self.encoder.dtype).removeprefix("torch."),
            "processor": self.processor.to_dict() if hasattr(self.processor, "to_dict") else "",
            "output": "image_encoder.image_embeds",
            "perceptogram": __version__,
            "transformers": version("transformers"),
        }
        return json.dumps(identity, sort_keys=True, default=str)

    def _revision(self) -> str:
        """Commit of a cached repository, digest of a folder, or of in-memory weights."""
        if self._encoder is not None and self.model == self.default_model:
            return "weights-" + _weights_digest([self._encoder])
        if is_local_path(self.model):
            return "local-" + _folder_digest(Path(self.model).expanduser(),
                                             [self.encoder_subfolder])
        hub = require("huggingface_hub", extra="diffusion", purpose=f"the {self.name} space")
        try:
            snapshot = hub.snapshot_download(
                self.model, local_files_only=True,
                allow_patterns=[f"{self.encoder_subfolder}/config.json"])
        except OSError:
            return "unresolved"
        return Path(snapshot).name

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)

        Returns
        -------
        embeds : ndarray of float32, shape (n_images, dim)
        """
        torch = require("torch", extra="diffusion", purpose=f"the {self.name} space")
        from PIL import Image

        images = check_images(images)
        encoder, processor = self.encoder, self.processor
        out = np.empty((len(images), self.dim), dtype=np.float32)
        starts = range(0, len(images), self.batch_size)
        for start in track(starts, f"{self.name} image embeddings", total=len(starts)):
            batch = slice(start, min(start + self.batch_size, len(images)))
            pil = [Image.fromarray(image) for image in images[batch]]
            pixels = processor(images=pil, return_tensors="pt").pixel_values
            with torch.inference_mode():
                embeds = encoder(pixels.to(device=encoder.device, dtype=encoder.dtype)).image_embeds
            out[batch] = embeds.float().cpu().numpy()
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, batch_size={self.batch_size})"
