"""Evaluation protocols: the image sizes under which reconstruction metrics are computed.

The same metric names hide different procedures in the literature, and numbers
computed under one are not comparable with the other's:

==============  ===================  ==================  ===========  ==============
protocol        PixCorr / SSIM       AlexNet             Inception    other networks
==============  ===================  ==================  ===========  ==============
``mindeye``     425 px               256 px              342 px       their own size
``perceptogram``  512 px             224 px              224 px       224 px
==============  ===================  ==================  ===========  ==============

``mindeye`` is the MindEye / Brain-Diffuser evaluation code (also used by ATM's
notebook); ``perceptogram`` is the reference code of the Perceptogram paper,
whose published numbers also average over several generation seeds
(``metrics.n_seeds``). The shipped EfficientNet-Lite0 keeps its own fixed
preprocessing under every protocol.

Protocols are a registry (:data:`PROTOCOLS`, entry-point group
``perceptogram.protocols``): a plugin adds one with :func:`register_protocol`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from perceptogram._registry import Registry
from perceptogram.evaluate.networks import FeatureNetwork

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "EvaluationProtocol",
    "available_protocols",
    "get_protocol",
    "register_protocol",
]


@dataclass(frozen=True)
class EvaluationProtocol:
    """Image sizes of one evaluation convention.

    Parameters
    ----------
    name : str
        Registry key, written in every metrics row.
    pixel_size : int
        Side both images are resized to for PixCorr and SSIM.
    network_sizes : mapping of str to int
        Network input side per model key (``"alexnet"``, ``"inception_v3"``,
        ``"clip"``, ``"efficientnet_b1"``, ``"swav"``); a model not named keeps
        its registered size.
    description : str
        One line for tables and ``perceptogram list``.
    """

    name: str
    pixel_size: int
    network_sizes: Mapping[str, int] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.pixel_size, int) or self.pixel_size < 16:
            raise ValueError(f"pixel_size must be an int of at least 16; got {self.pixel_size!r}")
        sizes = dict(self.network_sizes)
        for model, size in sizes.items():
            if not isinstance(size, int) or size < 16:
                raise ValueError(f"network size of {model!r} must be an int >= 16; got {size!r}")
        object.__setattr__(self, "network_sizes", MappingProxyType(sizes))

    def network(self, network: FeatureNetwork) -> FeatureNetwork:
        """The network with this protocol's input size (unchanged if none is set).

        Parameters
        ----------
        network : FeatureNetwork

        Returns
        -------
        FeatureNetwork
            A copy whose :class:`~perceptogram.evaluate.networks.Preprocess`
            resizes to ``network_sizes[network.model]``; networks that do their
            own preprocessing (``preprocess=None``) are returned as they are.
        """
        size = self.network_sizes.get(network.model)
        if size is None or network.preprocess is None or network.preprocess.size == size:
            return network
        return dataclasses.replace(
            network, preprocess=dataclasses.replace(network.preprocess, size=size)
        )


#: The evaluation protocols by name.
PROTOCOLS: Registry[EvaluationProtocol] = Registry(
    "evaluation protocol", "perceptogram.protocols",
    builtin_modules=["perceptogram.evaluate.protocols"],
)

#: The protocol used when none is named (today's numbers, as MindEye computes them).
DEFAULT_PROTOCOL = "mindeye"


def register_protocol(protocol: EvaluationProtocol, *, overwrite: bool = False
                      ) -> EvaluationProtocol:
    """Make an evaluation protocol available by its name (``metrics.protocol``).

    Parameters
    ----------
    protocol : EvaluationProtocol
    overwrite : bool
        Replace an existing protocol of the same name instead of raising.

    Returns
    -------
    protocol : EvaluationProtocol
    """
    if not isinstance(protocol, EvaluationProtocol):
        raise TypeError(f"expected an EvaluationProtocol; got {type(protocol).__name__}")
    PROTOCOLS.add(protocol.name, protocol, summary=protocol.description, overwrite=overwrite)
    return protocol


def get_protocol(name: str | EvaluationProtocol) -> EvaluationProtocol:
    """The protocol registered as ``name`` (objects are returned as they are).

    Raises
    ------
    perceptogram._registry.UnknownNameError
        Listing the registered protocols.
    """
    if isinstance(name, EvaluationProtocol):
        return name
    return PROTOCOLS.get(name)


def available_protocols() -> list[str]:
    """Names of the registered evaluation protocols, sorted."""
    return PROTOCOLS.names()


register_protocol(EvaluationProtocol(
    "mindeye", 425,
    {"alexnet": 256, "inception_v3": 342, "clip": 224, "efficientnet_b1": 255, "swav": 224},
    "MindEye / Brain-Diffuser: PixCorr and SSIM at 425 px, AlexNet 256 px, Inception 342 px",
), overwrite=True)
register_protocol(EvaluationProtocol(
    "perceptogram", 512,
    {"alexnet": 224, "inception_v3": 224, "clip": 224, "efficientnet_b1": 224, "swav": 224},
    "Perceptogram reference code: PixCorr and SSIM at 512 px, every feature network at 224 px",
), overwrite=True)
