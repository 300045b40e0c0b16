"""Pretrained networks that run offline (weights shipped with installed packages)."""

from perceptogram.nets.efficientnet_lite import EfficientNetLite0, load_efficientnet_lite0

__all__ = ["EfficientNetLite0", "load_efficientnet_lite0"]
