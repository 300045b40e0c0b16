"""Perceptogram: linear, interpretable decoding of seen images from EEG.

The public API is available from the top-level package and imported lazily
(PEP 562 module ``__getattr__``): ``import perceptogram as pg`` only reads the
package version, and ``pg.RidgeCV`` imports only the linear core (no torch,
diffusers or transformers; those load when a latent space or generator that
needs them is used).

Examples
--------
>>> import perceptogram as pg
>>> pg.RidgeCV.__name__
'RidgeCV'
>>> "prepare" in dir(pg)
True
"""

# No ``from __future__ import annotations`` and no module-level helper names: the
# package namespace holds only the public API (``dir(perceptogram)``).
import importlib as _importlib
import importlib.metadata as _metadata

try:
    __version__ = _metadata.version("perceptogram")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: Public name -> module that defines it (imported on first access).
_LAZY = {
    # estimators
    "Ridge": "perceptogram.linear.ridge",
    "RidgeCV": "perceptogram.linear.ridge",
    "LatentEncoder": "perceptogram.linear.patterns",
    # data
    "load_subject": "perceptogram.data.formats.things_eeg2",
    "load_image_metadata": "perceptogram.data.formats.things_eeg2",
    "prepare": "perceptogram.data.core.prepare",
    # latent spaces
    "get_latent_space": "perceptogram.latents.base",
    "encode_cached": "perceptogram.latents.cache",
    # metrics
    "pixcorr": "perceptogram.evaluate.metrics",
    "ssim": "perceptogram.evaluate.metrics",
    "two_way_identification": "perceptogram.evaluate.metrics",
    "correlation_distance": "perceptogram.evaluate.metrics",
    "retrieval_ranks": "perceptogram.evaluate.metrics",
    "retrieval_accuracy": "perceptogram.evaluate.metrics",
    "latent_correlation": "perceptogram.evaluate.metrics",
    "latent_r2": "perceptogram.evaluate.metrics",
    # across subjects, against the noise
    "evaluate_cross_subject": "perceptogram.cross_subject.evaluation",
    "SubjectEpochs": "perceptogram.cross_subject.evaluation",
    "repetition_scores": "perceptogram.cross_subject.curves",
    "split_half_reliability": "perceptogram.evaluate.noise_ceiling",
    # pipeline
    "run_pipeline": "perceptogram.pipeline.runner",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'perceptogram' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    """The public API, the subpackages already imported and the module's dunders."""
    return sorted({*__all__, *(name for name in globals() if not name.startswith("_")),
                   *(name for name in globals() if name.startswith("__"))})
