"""EEG data: THINGS-EEG2 loading, preparation, MNE interop and simulation."""

from perceptogram.data.containers import EEGEpochs, EEGFeatures

__all__ = ["EEGEpochs", "EEGFeatures"]
