"""Linear decoders and encoders: ridge regression, cross-validated per target, and patterns.

- :mod:`~perceptogram.linear.ridge`: :class:`Ridge` (fixed alpha) and
  :class:`RidgeCV` (alpha per target by grouped K-fold or exact leave-one-out),
  scikit-learn estimators on NumPy or PyTorch (CPU/CUDA).
- :mod:`~perceptogram.linear.solvers`: the pure numerical kernels behind them.
- :mod:`~perceptogram.linear.cv`: cross-validation splits (concepts kept together).
- :mod:`~perceptogram.linear.patterns`: Haufe activation patterns and decode→encode
  projections as channel × time maps.
- :mod:`~perceptogram.linear.io`: save/load with safetensors + JSON, no pickle.

Importing this package does not import torch.
"""

from perceptogram.linear.io import load_model, save_model
from perceptogram.linear.patterns import (
    ChannelTimeMaps,
    IllConditionedSourcesWarning,
    LatentEncoder,
    decode_encode_patterns,
    haufe_patterns,
)
from perceptogram.linear.ridge import Ridge, RidgeCV

__all__ = [
    "ChannelTimeMaps",
    "IllConditionedSourcesWarning",
    "LatentEncoder",
    "Ridge",
    "RidgeCV",
    "decode_encode_patterns",
    "haufe_patterns",
    "load_model",
    "save_model",
]
