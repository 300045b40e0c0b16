"""Figures: each renders with the right axes and scales; topomaps put signal where it is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import DataFormatError
from perceptogram.viz import (
    mean_confidence_band,
    plot_channel_time,
    plot_image_grid,
    plot_timecourse,
    plot_topomap,
    plot_topomap_strip,
    plot_winner_take_all,
    save_figure,
)
from perceptogram.viz.figure import pyplot
from perceptogram.viz.scalp import head_sphere, scalp_layout

CH = list(THINGS_CHANNELS)
TIMES = np.round(np.arange(-20, 80) / 100, 2)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


def _red_centroid(values):
    """Centroid (head coordinates, metres) of the red pixels of a rendered topomap."""
    fig, ax = pyplot().subplots(figsize=(3, 3), dpi=100)
    plot_topomap(values, CH, ax=ax, sensors=False)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    red = (rgba[..., 0] - rgba[..., 2] > 60) & (rgba[..., 1] < 200)
    rows, cols = np.nonzero(red)
    assert len(rows) > 20, "no red pixels drawn"
    display = np.column_stack([cols + 0.5, rgba.shape[0] - rows - 0.5])
    return ax.transData.inverted().transform(display).mean(axis=0)


@pytest.mark.parametrize(
    ("channel", "side"), [("Oz", "medial"), ("POz", "medial"), ("P8", "right"), ("PO7", "left")]
)
def test_topomap_puts_a_single_channel_where_it_is(channel, side):
    values = np.zeros(len(CH))
    values[CH.index(channel)] = 1.0
    x, y = _red_centroid(values)
    assert y < -0.03  # back of the head (nose is +y)
    if side == "medial":
        assert abs(x) < 0.01
    elif side == "right":
        assert x > 0.04
    else:
        assert x < -0.04


def test_topomap_image_and_clip_match_mne_plot_topomap():
    mne = pytest.importorskip("mne")
    from perceptogram.data.core.montage import make_info

    values = np.random.default_rng(4).normal(size=len(CH))
    fig, (left, right) = pyplot().subplots(1, 2)
    reference, _ = mne.viz.plot_topomap(values, make_info(CH, 100.0), axes=left, show=False,
                                        sphere=head_sphere(), extrapolate="local",
                                        contours=0, sensors=False)
    ours = plot_topomap(values, CH, ax=right, sensors=False)
    expected = reference.get_array().filled(np.nan)
    np.testing.assert_allclose(ours.get_array(), expected, rtol=1e-6, atol=1e-7)
    assert ours.get_extent() == pytest.approx(reference.get_extent())
    clip = [im.get_clip_path().get_transformed_path_and_affine()[0].vertices
            for im in (reference, ours)]
    np.testing.assert_allclose(clip[1], clip[0])
    # many maps at once are the same matrix product
    layout = scalp_layout(CH)
    assert scalp_layout(tuple(CH)) is layout
    stacked = layout.image(np.column_stack([values, -2 * values]))
    np.testing.assert_allclose(stacked[..., 1], -2 * layout.image(values))


def test_topomap_strip_shares_one_colour_scale(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, len(CH), len(TIMES)))
    data[2] *= 5
    at = np.arange(0.0, 0.2, 0.02)
    fig = plot_topomap_strip(data, CH, TIMES, names=["a", "b", "c"], at=at, unit="z")
    topos = fig.axes[:-1]
    assert len(topos) == 3 * len(at)
    limits = {im.get_clim() for ax in topos for im in ax.get_images()}
    assert len(limits) == 1
    lo, hi = limits.pop()
    idx = np.searchsorted(TIMES, at)
    assert hi == pytest.approx(np.abs(data[:, :, idx]).max()) and lo == -hi
    assert fig.axes[-1].get_ylabel() == "z"
    assert topos[0].get_title() == "0 ms" and topos[5].get_title() == "100 ms"
    paths = save_figure(fig, tmp_path / "strip")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_topomap_strip_default_times_and_errors():
    data = np.random.default_rng(1).normal(size=(len(CH), len(TIMES)))
    fig = plot_topomap_strip(data, CH, TIMES, mask=np.abs(data) > 2)
    assert len(fig.axes) == 30 + 1  # 0..580 ms every 20 ms + colorbar
    assert fig.axes[29].get_title() == "580 ms"
    with pytest.raises(DataFormatError, match="outside the data"):
        plot_topomap_strip(data, CH, TIMES, at=[0.9])
    with pytest.raises(DataFormatError, match="shape"):
        plot_topomap_strip(data[:5], CH, TIMES)


def test_channel_time_heatmap_labels_channels_and_ms():
    data = np.zeros((2, len(CH), len(TIMES)))
    data[0, CH.index("P8"), TIMES.tolist().index(0.18)] = 3.0
    fig = plot_channel_time(data, CH, TIMES, names=["x", "y"], unit="t",
                            mask=data != 0)
    heat = fig.axes[:2]
    assert len(fig.axes) == 3
    assert [t.get_text() for t in heat[0].get_yticklabels()] == CH
    im = heat[0].get_images()[0]
    left, right, bottom, top = im.get_extent()
    assert left == pytest.approx(-205) and right == pytest.approx(795)
    # the planted sample is drawn at 180 ms on the P8 row
    row, col = np.unravel_index(np.argmax(im.get_array()), im.get_array().shape)
    assert CH[row] == "P8" and TIMES[col] == pytest.approx(0.18)
    assert heat[0].get_images()[0].get_clim() == heat[1].get_images()[0].get_clim()
    assert fig.axes[-1].get_ylabel() == "t"


def test_winner_take_all_heatmap_uses_one_colour_per_group():
    labels = np.zeros((len(CH), len(TIMES)), dtype=int)
    labels[:, 50:] = 2
    fig = plot_winner_take_all(labels, CH, TIMES, ["animate", "food", "other"])
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["animate", "food", "other"]


def test_confidence_band_is_a_student_t_interval():
    samples = np.random.default_rng(2).normal(size=(8, 5))
    mean, lower, upper = mean_confidence_band(samples, 0.9)
    for j in range(5):
        lo, hi = stats.t.interval(0.9, 7, loc=samples[:, j].mean(), scale=stats.sem(samples[:, j]))
        assert lower[j] == pytest.approx(lo) and upper[j] == pytest.approx(hi)
    fig = plot_timecourse(np.arange(5) * 10.0, {"A": samples, "B": samples[0]}, chance=0.0,
                          markers={"planted": 20.0}, ylabel="r")
    ax = fig.axes[0]
    assert len(ax.collections) == 1  # one band: curve B has a single observation
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean)


def test_image_grid_rows_and_checks():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 255, size=(4, 16, 16, 3), dtype=np.uint8)
    rec = rng.integers(0, 255, size=(4, 8, 8, 3), dtype=np.uint8)
    fig = plot_image_grid({"ground truth": gt, "reconstruction": rec},
                          column_titles=list("abcd"))
    assert len(fig.axes) == 8
    np.testing.assert_array_equal(fig.axes[4].get_images()[0].get_array(), rec[0])
    assert fig.axes[4].get_ylabel() == "reconstruction"
    with pytest.raises(DataFormatError, match="uint8"):
        plot_image_grid({"x": gt.astype(float)})
    with pytest.raises(DataFormatError, match="expected 4"):
        plot_image_grid({"a": gt, "b": rec[:3]})
