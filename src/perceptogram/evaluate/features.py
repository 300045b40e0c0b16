"""Batched feature extraction with an in-memory (and optional on-disk) cache.

Ground-truth features are the same for every subject and method, so an
evaluation over many subjects computes them once when it shares one
:class:`FeatureCache`. Entries are keyed by model, weights, layer and a digest
of the image bytes, so a different image set or different weights never hit a
stale entry.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._cache import ContentCache
from perceptogram._hashing import array_digest, json_digest, short
from perceptogram._progress import track
from perceptogram.errors import DataFormatError
from perceptogram.evaluate.networks import Preprocess


def image_digest(images: np.ndarray) -> str:
    """Content hash of an image batch (shape, dtype and bytes).

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width, 3)

    Returns
    -------
    digest : str
        32 hexadecimal characters.
    """
    return short(array_digest(images), 32)


class FeatureCache:
    """Store of computed features, shared across calls of the evaluator.

    Parameters
    ----------
    directory : path-like or None
        If given, features are also saved there as ``.npy`` files (atomic
        writes, after checking the free space) and memory-mapped back on later
        runs (:class:`perceptogram._cache.ContentCache`: verified against their
        recorded digest; a folder that is not Perceptogram's own is not read).
        When a file cannot be written (full disk, no permission, a folder that
        is not Perceptogram's) a warning is issued and the features stay in memory.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = None if directory is None else Path(directory)
        self._disk = None if directory is None else ContentCache(directory, "the feature cache")
        self._memory: dict[str, np.ndarray] = {}

    @staticmethod
    def _name(key: str) -> str:
        return short(json_digest(key), 32)

    def get(self, key: str) -> np.ndarray | None:
        """Features stored under ``key``, or ``None`` (also for a damaged or changed file)."""
        if key in self._memory:
            return self._memory[key]
        if self._disk is not None:
            hit = self._disk.load(self._name(key), json_digest(key), dtype=None)
            if hit is not None:
                self._memory[key] = hit[0]
                return hit[0]
        return None

    def put(self, key: str, features: np.ndarray) -> None:
        """Store ``features`` under ``key`` (in memory, and on disk if configured)."""
        self._memory[key] = features
        if self._disk is None:
            return
        try:
            self._disk.store(self._name(key), json_digest(key), np.asarray(features), {},
                             dtype=np.asarray(features).dtype)
        except OSError as exc:
            warnings.warn(f"cannot write the feature cache in {self.directory} ({exc}); "
                          "the features are kept in memory only", stacklevel=2)

    def __len__(self) -> int:
        return len(self._memory)


class _Captured(Exception):
    """Raised by a forward hook once every requested layer has been captured."""


def _has_submodules(module: Any, layers: Sequence[str]) -> bool:
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return False
    try:
        for layer in layers:
            module.get_submodule(layer)
    except AttributeError:
        return False
    return True


def _forward_layers(module: Any, layers: Sequence[str], x: Any) -> dict[str, Any]:
    """Run ``module`` on ``x`` and return the activations of ``layers``.

    Submodule outputs are read with forward hooks (the forward pass stops once
    they are all captured); otherwise the module output must be the single
    layer's tensor or a mapping that contains the layer names.
    """
    if _has_submodules(module, layers):
        captured: dict[str, Any] = {}

        def make_hook(name: str):
            def hook(_module, _inputs, output):
                captured.setdefault(name, output.detach().clone())
                if len(captured) == len(layers):
                    raise _Captured

            return hook

        handles = [
            module.get_submodule(layer).register_forward_hook(make_hook(layer)) for layer in layers
        ]
        try:
            module(x)
        except _Captured:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return captured
    return _select_outputs(module(x), layers)


def _select_outputs(out: Any, layers: Sequence[str]) -> dict[str, Any]:
    """Pick ``layers`` from a model output: a mapping of them, or one layer's array."""
    if hasattr(out, "keys"):
        missing = [layer for layer in layers if layer not in out.keys()]
        if missing:
            raise DataFormatError(
                f"the feature model returned outputs {list(out.keys())}, not {missing}"
            )
        return {layer: out[layer] for layer in layers}
    if len(layers) == 1:
        return {layers[0]: out}
    raise DataFormatError(
        f"the feature model returned one array but layers {list(layers)} were requested; "
        "return a dict {layer: activation}"
    )


def extract_features(
    model: Any,
    layers: Sequence[str],
    images: np.ndarray,
    *,
    preprocess: Preprocess | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    description: str = "features",
) -> dict[str, np.ndarray]:
    """Compute the activations of some layers of a model for a batch of images.

    Parameters
    ----------
    model : torch.nn.Module or callable
        A module fed ``preprocess(images)``; or a callable taking ``uint8``
        images ``(n, H, W, 3)`` and returning ``(n, d)`` features (one layer) or
        a dict of them.
    layers : sequence of str
        Submodule names (read with forward hooks) or output keys.
    images : ndarray of uint8, shape (n_images, height, width, 3)
    preprocess : Preprocess or None
        Required for ``torch.nn.Module`` models.
    batch_size : int
        Images per forward pass.
    device : str
        Torch device for module models, e.g. ``"cpu"`` or ``"cuda"``.
    description : str
        Progress-bar label.

    Returns
    -------
    features : dict of str to ndarray of float32, shape (n_images, n_features)
        Activations flattened per image.
    """
    import torch

    is_module = isinstance(model, torch.nn.Module)
    if is_module:
        if preprocess is None:
            raise ValueError("a torch.nn.Module feature model needs a preprocess transform")
        model = model.to(device)
        try:
            model.eval()
        except NotImplementedError:  # torch.export programs are traced in inference form
            pass
    chunks: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    starts = range(0, len(images), batch_size)
    with torch.inference_mode():
        for start in track(starts, description):
            batch = images[start : start + batch_size]
            if is_module:
                outputs = _forward_layers(model, layers, preprocess(batch).to(device))
            else:
                outputs = _select_outputs(model(batch), layers)
            for layer in layers:
                value = outputs[layer]
                if isinstance(value, torch.Tensor):
                    value = value.detach().float().cpu().numpy()
                chunks[layer].append(np.asarray(value, dtype=np.float32).reshape(len(batch), -1))
    return {layer: np.concatenate(parts) for layer, parts in chunks.items()}
