"""Montages, cluster adjacency and topomaps for any channel set with template positions:
the 63 channels of the NICE data, and a cap that is not easycap-M1."""

from __future__ import annotations

import numpy as np
import pytest

from datasets_fixtures import NICE_CHANNELS
from perceptogram.data.core.montage import channel_positions, find_montage_name, make_info
from perceptogram.errors import ChannelMismatchError
from perceptogram.interpret.significance import channel_time_adjacency
from perceptogram.viz.figure import pyplot
from perceptogram.viz.scalp import head_sphere, scalp_layout

CH = list(NICE_CHANNELS)


def _mne_positions(names, template):
    """Head-coordinate positions MNE gives ``names`` on ``template`` (the reference)."""
    import mne

    info = mne.create_info(list(names), 100.0, "eeg")
    info.set_montage(mne.channels.make_standard_montage(template))
    return np.array([ch["loc"][:3] for ch in info["chs"]])


def test_all_63_channels_are_placed_on_easycap_m1():
    assert find_montage_name(CH) == "easycap-M1"
    np.testing.assert_allclose(channel_positions(CH), _mne_positions(CH, "easycap-M1"))


def test_other_caps_use_the_first_template_holding_every_name():
    names = ["E1", "E2", "E10", "E100"]
    name = find_montage_name(names)
    assert name.startswith(("GSN", "EGI"))
    np.testing.assert_allclose(channel_positions(names), _mne_positions(names, name))
    with pytest.raises(ChannelMismatchError, match=r"\['Nope'\] are not in the easycap-M1"):
        find_montage_name(["Cz", "Nope"])


def test_adjacency_over_63_channels_joins_scalp_neighbours_only():
    adj = channel_time_adjacency(CH, 2).toarray().astype(bool)
    n = len(CH)
    assert adj.shape == (2 * n, 2 * n) and (adj == adj.T).all()
    space = adj[:n, :n]
    degree = space.sum(axis=1) - 1  # the diagonal is set
    assert degree.min() >= 2 and degree.max() <= 10
    idx = CH.index
    for a, b in (("Oz", "O1"), ("Oz", "POz"), ("Cz", "C1"), ("Fz", "F1"), ("Cz", "CPz")):
        assert space[idx(a), idx(b)], (a, b)
    for a, b in (("Fp1", "Oz"), ("T7", "T8"), ("C3", "C4"), ("F7", "P7")):
        assert not space[idx(a), idx(b)], (a, b)
    # brute force: every kept edge is shorter than the distance limit
    pos = channel_positions(CH)
    rows, cols = np.nonzero(space & ~np.eye(n, dtype=bool))
    assert np.linalg.norm(pos[rows] - pos[cols], axis=1).max() <= 0.07


def test_topomap_of_63_channels_matches_mne_plot_topomap():
    import mne

    from perceptogram.viz import plot_topomap

    values = np.random.default_rng(5).normal(size=len(CH))
    fig, (left, right) = pyplot().subplots(1, 2)
    try:
        reference, _ = mne.viz.plot_topomap(values, make_info(CH, 100.0), axes=left,
                                            show=False, sphere=head_sphere(),
                                            extrapolate="local", contours=0, sensors=False)
        ours = plot_topomap(values, CH, ax=right, sensors=False)
    finally:
        pyplot().close(fig)
    # inside the sensors' hull both interpolations agree (they differ beyond it)
    from matplotlib.path import Path
    from scipy.interpolate import RegularGridInterpolator
    from scipy.spatial import ConvexHull

    layout = scalp_layout(CH)
    image = reference.get_array().filled(np.nan)
    xmin, xmax, ymin, ymax = reference.get_extent()
    theirs = RegularGridInterpolator((np.linspace(ymin, ymax, image.shape[0]),
                                      np.linspace(xmin, xmax, image.shape[1])), image,
                                     bounds_error=False)
    points = np.column_stack([g.ravel() for g in layout.grid])
    a, b = theirs(points[:, ::-1]), ours.get_array().filled(np.nan).ravel()
    inside = Path(layout.pos[ConvexHull(layout.pos).vertices]).contains_points(points)
    keep = inside & np.isfinite(a) & np.isfinite(b)
    assert keep.sum() > 1000 and np.corrcoef(a[keep], b[keep])[0, 1] > 0.98
    front, back = layout.pos[CH.index("Fz"), 1], layout.pos[CH.index("Oz"), 1]
    assert front > 0 > back  # nose is +y
