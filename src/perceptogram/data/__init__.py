"""EEG data, in four parts that read as the architecture:

- ``core``: containers (:class:`EEGEpochs`, :class:`EEGFeatures`), channels, montages,
  MNE conversion, image files and decoder-input preparation;
- ``formats``: the dataset registry and one reader per registered format;
- ``fetch``: downloading the official release;
- ``simulate``: simulated datasets with planted ground truth.
"""

from perceptogram.data.core.containers import EEGEpochs, EEGFeatures

__all__ = ["EEGEpochs", "EEGFeatures"]
