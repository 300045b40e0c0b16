"""Save and load fitted ridge models: safetensors weights + JSON metadata, no pickle.

A model saved to ``decoder.safetensors`` is two files written atomically:

- ``decoder.safetensors``: the learned arrays (``coef_``, ``intercept_``,
  ``alpha_``, target and prediction statistics, ``cv_errors_``) and, when given,
  the z-score statistics of the EEG features (``feature_mean``, ``feature_scale``);
- ``decoder.json``: the estimator class and parameters (alpha grid, CV mode,
  rescaling), channel names, sample times, latent space name, package version
  and any user metadata.

Loading checks the channel names and times the caller expects against the saved
ones and raises :class:`~perceptogram.errors.ChannelMismatchError` on a mismatch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram import __version__
from perceptogram._io import write_bytes_atomic, write_json_atomic
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.pooled import PooledRidgeCV
from perceptogram.linear.ridge import Ridge, RidgeCV

FORMAT = "perceptogram.linear/1"
_CLASSES = {"Ridge": Ridge, "RidgeCV": RidgeCV, "PooledRidgeCV": PooledRidgeCV}
_ARRAYS = ("coef_", "intercept_", "alpha_", "target_mean_", "target_scale_",
           "train_pred_mean_", "train_pred_scale_", "cv_errors_", "alphas_")
_TIME_TOL = 1e-6


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    return path, path.with_suffix(".json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def save_model(model: Ridge | RidgeCV, path: str | os.PathLike, *,
               ch_names: Sequence[str] | None = None, times: Any = None,
               latent_space: str | None = None, feature_mean: Any = None,
               feature_scale: Any = None, **metadata: Any) -> Path:
    """Save a fitted :class:`Ridge`, :class:`RidgeCV` or :class:`PooledRidgeCV`.

    Parameters
    ----------
    model : Ridge or RidgeCV
        A fitted estimator.
    path : path-like
        Weights file; ``.safetensors`` is appended if missing. The metadata go
        to the same name with suffix ``.json``.
    ch_names : sequence of str, optional
        Channel names of the EEG features (decoder input or encoder output).
    times : array-like, shape (n_times,), optional
        Sample times of the features in seconds.
    latent_space : str, optional
        Name of the latent space (e.g. ``"unclip"``).
    feature_mean, feature_scale : array-like, shape (n_channels * n_times,), optional
        Z-score statistics of the EEG features (training mean and standard
        deviation).
    **metadata
        Any JSON-serialisable user metadata (subject, config hash, ...).

    Returns
    -------
    Path
        The weights file.
    """
    from safetensors.numpy import save

    if type(model).__name__ not in _CLASSES or not hasattr(model, "coef_"):
        raise TypeError(f"save_model needs a fitted Ridge, RidgeCV or PooledRidgeCV, got "
                        f"{model!r}")
    weights_path, meta_path = _paths(path)
    tensors = {name: np.ascontiguousarray(np.atleast_1d(getattr(model, name)))
               for name in _ARRAYS if hasattr(model, name)}
    for name, value in (("feature_mean", feature_mean), ("feature_scale", feature_scale)):
        if value is not None:
            tensors[name] = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    n_targets = np.atleast_2d(model.coef_).shape[0]
    if ch_names is not None and times is not None:
        n_eeg = len(ch_names) * len(times)
        if n_eeg not in (model.n_features_in_, n_targets):
            raise ChannelMismatchError(
                f"{len(ch_names)} channels x {len(times)} times = {n_eeg} EEG features match "
                f"neither the model's {model.n_features_in_} inputs nor its {n_targets} outputs"
            )
    meta = {
        "format": FORMAT,
        "class": type(model).__name__,
        "params": {k: _jsonable(v) for k, v in model.get_params().items()},
        "n_features_in": int(model.n_features_in_),
        "single_target": bool(np.ndim(model.coef_) == 1),
        "n_splits": int(getattr(model, "n_splits_", 0)) or None,
        "ch_names": None if ch_names is None else [str(c) for c in ch_names],
        "times": None if times is None else [float(t) for t in np.asarray(times)],
        "latent_space": latent_space,
        "perceptogram_version": __version__,
        "metadata": {k: _jsonable(v) for k, v in metadata.items()},
    }
    write_bytes_atomic(weights_path, save(tensors, metadata={"format": FORMAT}))
    write_json_atomic(meta_path, meta)
    return weights_path


def _check_axes(meta: dict, ch_names: Sequence[str] | None, times: Any, where: Path) -> None:
    if ch_names is not None:
        saved = meta.get("ch_names")
        if saved is None:
            raise ChannelMismatchError(f"{where} was saved without channel names; "
                                       "cannot check them against the data")
        if list(saved) != [str(c) for c in ch_names]:
            raise ChannelMismatchError(
                f"{where} was fitted on channels {saved}, the data have {list(ch_names)}"
            )
    if times is not None:
        saved = meta.get("times")
        if saved is None:
            raise ChannelMismatchError(f"{where} was saved without sample times; "
                                       "cannot check them against the data")
        times = np.asarray(times, dtype=float)
        if len(saved) != times.size or not np.allclose(saved, times, atol=_TIME_TOL, rtol=0):
            raise ChannelMismatchError(
                f"{where} was fitted on {len(saved)} samples from {saved[0]:.3f} to "
                f"{saved[-1]:.3f} s; the data have {times.size} samples"
                + (f" from {times[0]:.3f} to {times[-1]:.3f} s" if times.size else "")
            )


def load_model(path: str | os.PathLike, ch_names: Sequence[str] | None = None,
               times: Any = None) -> Ridge | RidgeCV:
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The weights file (``.safetensors``; the ``.json`` beside it is read too).
    ch_names : sequence of str, optional
        Channel names of the data the model will be applied to; must equal the
        saved ones.
    times : array-like, optional
        Sample times (seconds) of that data; must equal the saved ones (within 1 µs).

    Returns
    -------
    Ridge or RidgeCV
        The fitted estimator. Its ``metadata_`` attribute holds the saved
        metadata (``ch_names``, ``times``, ``latent_space``,
        ``perceptogram_version``, user ``metadata``, and ``feature_mean`` /
        ``feature_scale`` arrays when saved).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    weights_path, meta_path = _paths(path)
    for p in (weights_path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"no saved model at {p} (expected {weights_path.name} "
                                    f"and {meta_path.name})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load(weights_path.read_bytes())
    except (json.JSONDecodeError, SafetensorError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read the saved model {weights_path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or meta.get("class") not in _CLASSES:
        raise DataFormatError(f"{meta_path} is not a Perceptogram ridge model ({FORMAT})")
    _check_axes(meta, ch_names, times, weights_path)
    params = dict(meta["params"])
    if isinstance(params.get("alphas"), list):
        params["alphas"] = tuple(params["alphas"])
    model = _CLASSES[meta["class"]](**params)
    if "coef_" not in tensors or "intercept_" not in tensors:
        raise DataFormatError(f"{weights_path} has no coef_/intercept_ arrays")
    for name in _ARRAYS:
        if name in tensors:
            setattr(model, name, tensors[name])
    if meta["single_target"]:
        model.intercept_ = model.intercept_.dtype.type(model.intercept_[0])
        model.alpha_ = float(model.alpha_[0])
    model.n_features_in_ = int(meta["n_features_in"])
    if meta.get("n_splits"):
        model.n_splits_ = int(meta["n_splits"])
    model.metadata_ = {k: meta.get(k) for k in ("ch_names", "times", "latent_space",
                                               "perceptogram_version", "metadata")}
    for name in ("feature_mean", "feature_scale"):
        if name in tensors:
            model.metadata_[name] = tensors[name]
    return model
