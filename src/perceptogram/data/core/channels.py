"""Resolve requested channel names against the channels of a recording.

One rule everywhere a subset of channels is selected (decoder input in
:func:`perceptogram.data.core.prepare.prepare`, channel-subset probes in
:mod:`perceptogram.interpret`): the selection keeps the **data's channel
order**, whatever order the names were requested in, so that a channel-major
feature layout is never permuted and ``ch_names`` always lists the selected
channels as they appear in the recording.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram.errors import ChannelMismatchError


def resolve_channels(ch_names: Sequence[str], channels: str | Sequence[str] | None
                     ) -> np.ndarray:
    """Indices of the requested channels, in the data's channel order.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
        Channels of the data, in order.
    channels : str, sequence of str or None
        Channel name(s) to keep; ``None`` keeps all channels.

    Returns
    -------
    ndarray of int, shape (n_selected,)
        Increasing positions in ``ch_names``.

    Raises
    ------
    ChannelMismatchError
        A requested name is not in the data, or is requested twice.

    Examples
    --------
    >>> resolve_channels(["Pz", "P3", "Oz"], ["Oz", "Pz"])
    array([0, 2])
    """
    ch_names = [str(name) for name in ch_names]
    if channels is None:
        return np.arange(len(ch_names), dtype=np.int64)
    if isinstance(channels, str):
        channels = [channels]
    channels = list(channels)
    missing = [name for name in channels if name not in ch_names]
    if missing:
        raise ChannelMismatchError(
            f"channel(s) {missing} are not in the data; available: {', '.join(ch_names)}"
        )
    if len(set(channels)) != len(channels):
        raise ChannelMismatchError(f"the channel list {channels} names a channel twice")
    wanted = set(channels)
    return np.array([i for i, name in enumerate(ch_names) if name in wanted], dtype=np.int64)
