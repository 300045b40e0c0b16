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
    plot_topomap_grid,
    plot_topomap_strip,
    plot_winner_take_all,
    save_figure,
)
from perceptogram.viz.figure import pyplot
from perceptogram.viz.scalp import head_sphere, scalp_layout
from perceptogram.viz.topomap import SCALP_GID, scalp_width_px

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


def _inside_hull(layout, X, Y):
    from matplotlib.path import Path
    from scipy.spatial import ConvexHull

    hull = layout.pos[ConvexHull(layout.pos).vertices]
    return Path(hull).contains_points(np.column_stack([X.ravel(), Y.ravel()]))


def test_topomap_positions_and_image_agree_with_mne_plot_topomap():
    mne = pytest.importorskip("mne")
    from mne.channels.layout import _find_topomap_coords
    from scipy.interpolate import RegularGridInterpolator

    from perceptogram.data.core.montage import make_info

    layout = scalp_layout(CH)
    assert scalp_layout(tuple(CH)) is layout
    # the same projection as MNE's topomaps
    reference = _find_topomap_coords(make_info(CH, 100.0), picks=list(range(len(CH))),
                                     sphere=np.array(head_sphere()))
    np.testing.assert_allclose(layout.pos, reference, atol=1e-9)
    values = np.random.default_rng(4).normal(size=len(CH))
    fig, (left, right) = pyplot().subplots(1, 2)
    drawn, _ = mne.viz.plot_topomap(values, make_info(CH, 100.0), axes=left, show=False,
                                    sphere=head_sphere(), extrapolate="local", contours=0,
                                    sensors=False)
    ours = plot_topomap(values, CH, ax=right, sensors=False)
    # inside the sensors' hull the two interpolations agree (they differ in the border
    # points outside it)
    image = drawn.get_array().filled(np.nan)
    xmin, xmax, ymin, ymax = drawn.get_extent()
    theirs = RegularGridInterpolator((np.linspace(ymin, ymax, image.shape[0]),
                                      np.linspace(xmin, xmax, image.shape[1])), image,
                                     bounds_error=False)
    X, Y = layout.grid
    a = theirs(np.column_stack([Y.ravel(), X.ravel()]))
    b = ours.get_array().filled(np.nan).ravel()
    keep = _inside_hull(layout, X, Y) & np.isfinite(a) & np.isfinite(b)
    assert keep.sum() > 300
    assert np.corrcoef(a[keep], b[keep])[0, 1] > 0.98
    # the map passes through the channel values and many maps are one matrix product
    at_sensors = [layout.weights[np.unravel_index(np.argmin(np.hypot(X - x, Y - y)),
                                                  X.shape)] for x, y in layout.pos]
    assert np.all(np.isfinite(at_sensors))
    stacked = layout.image(np.column_stack([values, -2 * values]))
    np.testing.assert_allclose(stacked[..., 1], -2 * layout.image(values))


def test_whole_head_is_drawn_whatever_the_sensors():
    fig, ax = pyplot().subplots()
    plot_topomap(np.arange(len(CH), dtype=float), CH, ax=ax)
    layout = scalp_layout(CH)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for name, (xs, ys) in layout.outlines.items():  # nose and ears inside the axes
        assert x0 <= xs.min() and xs.max() <= x1 and y0 <= ys.min() and ys.max() <= y1, name
    nose_tip = layout.outlines["nose"][1].max()
    assert nose_tip > layout.centre[1] + layout.radius  # the nose points to +y
    assert not any(line.get_clip_on() and line.get_clip_path() is not None
                   for line in ax.get_lines())


@pytest.mark.parametrize("names", [["TP9", "AF7", "AF8", "TP10"],  # Muse: on a circle
                                   ["O1", "Oz", "O2", "POz"],
                                   ["Fp1", "FPz", "Fp2", "Cz", "EOG1", "EOG2"]])
def test_any_montage_of_four_positioned_channels_draws(names):
    layout = scalp_layout(names)
    placed = [n for n in names if not n.startswith("EOG")]
    assert layout.placed_names == tuple(placed) and layout.drawable
    assert layout.missing == tuple(n for n in names if n.startswith("EOG"))
    data = np.random.default_rng(0).normal(size=(len(names), len(TIMES)))
    fig = plot_topomap_grid(data, names, TIMES, at=[0.1, 0.2], unit="µV")
    im = fig.axes[0].get_images()[0].get_array()
    assert np.isfinite(im.filled(np.nan)).sum() > 100
    assert fig.axes[-1].get_ylabel() == "µV"


#: THINGS-EEG2's 63 channels (a 64-channel easycap; TP9/TP10 and FT9/FT10 lie below the
#: level of the ears).
CH63 = ("Fp1 Fz F3 F7 FT9 FC5 FC1 C3 T7 TP9 CP5 CP1 Pz P3 P7 O1 Oz O2 P4 P8 TP10 CP6 CP2 Cz "
        "C4 T8 FT10 FC6 FC2 F4 F8 Fp2 AF7 AF3 AFz F1 F5 FT7 FC3 C1 C5 TP7 CP3 P1 P5 PO7 PO3 "
        "POz PO4 PO8 P6 P2 CPz CP4 TP8 C6 C2 FC4 FT8 F6 AF8 AF4 F2").split()


def _eeglab_montage():
    mne = pytest.importorskip("mne")
    from pathlib import Path

    path = Path(__file__).parent / "data" / "eeglab-sample" / "eeglab_sample_120s.set"
    raw = mne.io.read_raw_eeglab(path, verbose="error")
    stored = raw.get_montage().get_positions()["ch_pos"]
    return list(raw.ch_names), np.array([stored[c] for c in raw.ch_names])


def _coloured_outside_head(names, positions=None):
    """Pixels of a rendered scalp map coloured outside its head outline, and all coloured."""
    fig, ax = pyplot().subplots(figsize=(3, 3), dpi=100)
    plot_topomap(np.linspace(-1, 1, len(names)), names, positions=positions, ax=ax,
                 sensors=False, cmap="autumn")  # red to yellow: no white, no grey
    layout = scalp_layout(names, positions)
    for line in ax.get_lines():  # only the image is left
        line.remove()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    coloured = (rgba[..., 0] > 200) & (rgba[..., 2] < 120)
    rows, cols = np.nonzero(coloured)
    x, y = ax.transData.inverted().transform(
        np.column_stack([cols + 0.5, rgba.shape[0] - rows - 0.5])).T
    distance = np.hypot(x - layout.centre[0], y - layout.centre[1])
    pixel = np.diff(ax.transData.inverted().transform([[0, 0], [1, 0]])[:, 0])[0]
    return int(np.sum(distance > layout.radius + 1.5 * abs(pixel))), int(coloured.sum())


@pytest.mark.parametrize(("montage", "whole", "enlarged"), [
    ("muse", True, True), ("things17", False, False), ("cap63", True, True),
    ("eeglab", True, True)])
def test_every_sensor_and_all_colour_lie_on_the_drawn_head(montage, whole, enlarged):
    """Sensors below the ears (Muse TP9/TP10, FT9/TP10 of a 63-channel cap, EEGLAB's EOG
    electrodes) enlarge the drawn head instead of spilling colour outside it; sensors
    around the head colour all of it, a posterior cap only its own region."""
    names, positions = {"muse": (["TP9", "AF7", "AF8", "TP10"], None),
                        "things17": (CH, None), "cap63": (CH63, None)}.get(montage, (None, None))
    if montage == "eeglab":
        names, positions = _eeglab_montage()
    layout = scalp_layout(names, positions)
    distance = np.hypot(*(layout.pos - layout.centre).T)
    if enlarged:  # every sensor inside the outline, the outermost just inside
        assert distance.max() == pytest.approx(layout.radius / 1.04)
        assert montage == "eeglab" or layout.radius > 1.25 * head_sphere()[3]
    else:  # the 10-20 circumference on the outline, as in MNE's maps
        assert layout.radius == pytest.approx(head_sphere()[3])
        assert distance.max() == pytest.approx(1.02 * layout.radius, abs=0.01 * layout.radius)
    assert layout.whole_head is whole and layout.enlarged is enlarged
    clip = np.hypot(*(layout.clip - layout.centre).T)
    assert clip.max() <= layout.radius * (1 + 1e-9)
    if whole:
        np.testing.assert_allclose(clip, layout.radius)
    # nose and ears sit on the drawn head
    ear = layout.outlines["ear_right"][0].min() - layout.centre[0]
    assert ear == pytest.approx(layout.radius, rel=0.01)
    outside, coloured = _coloured_outside_head(names, positions)
    assert coloured > 500 and outside == 0


@pytest.mark.parametrize("names", [["Oz"], ["O1", "O2"], ["Oz", "EOG1", "x", "y"], ["a", "b"]])
def test_fewer_than_four_positioned_channels_refuse_a_scalp_map_clearly(names):
    layout = scalp_layout(names)  # never raises for a montage
    assert not layout.drawable
    with pytest.raises(DataFormatError, match="scalp map needs at least 4"):
        plot_topomap(np.ones(len(names)), names)


def test_recording_positions_come_before_the_template():
    from perceptogram.viz.scalp import sensor_positions

    template, source = sensor_positions(CH)
    assert source == "easycap-M1"
    moved = template.copy()
    moved[:, 0] *= -1  # a recording whose left and right are swapped
    positions, source = sensor_positions(CH, moved)
    assert source == "recording"
    layout = scalp_layout(CH, moved)
    assert layout.source == "recording"
    assert layout.pos[CH.index("P8"), 0] < 0 < scalp_layout(CH).pos[CH.index("P8"), 0]
    far = np.full_like(template, 5.0)  # not on a head: the template is used
    assert sensor_positions(CH, far)[1] == "easycap-M1"


def test_recording_positions_on_their_own_sphere_are_projected_on_it():
    """EEGLAB exports positions on a sphere of 8.5 cm centred at the origin."""
    from perceptogram.viz.scalp import sensor_positions

    names = ["Fz", "Cz", "Pz", "Oz", "T7", "T8", "C3", "C4", "F7", "F8", "O1", "O2"]
    template, _ = sensor_positions(names)
    x0, y0, z0, _ = head_sphere()
    unit = template - (x0, y0, z0)
    eeglab = 0.085 * unit / np.linalg.norm(unit, axis=1, keepdims=True)
    layout = scalp_layout(names, eeglab)
    assert layout.radius == pytest.approx(0.085, abs=1e-6)
    assert np.hypot(*(layout.pos[names.index("Cz")] - layout.centre)) < 0.01  # the vertex
    # T7 and T8 lie on the equator: on the head outline, as on the template's head
    for name in ("T7", "T8"):
        ours = np.hypot(*(layout.pos[names.index(name)] - layout.centre)) / layout.radius
        ref = scalp_layout(names)
        theirs = np.hypot(*(ref.pos[names.index(name)] - ref.centre)) / ref.radius
        assert ours == pytest.approx(theirs, abs=0.02)


def _rings(ax):
    """Lines of open rings: the marked (significant) sensors of a scalp map."""
    return [line for line in ax.get_lines()
            if line.get_marker() == "o" and line.get_markerfacecolor() == "none"]


def test_topomap_grid_has_large_heads_a_unit_and_marks_significant_sensors(tmp_path):
    data = np.zeros((len(CH), len(TIMES)))
    data[CH.index("P8")] = 2.0
    mask = np.zeros(data.shape, bool)
    mask[CH.index("P8"), TIMES.tolist().index(0.2)] = True
    fig = plot_topomap_grid(data, CH, TIMES, mask=mask, unit="µV", title="t")
    # one axes holds the 30 maps (an axes per map would cost most of the drawing time)
    (scalp,) = [ax for ax in fig.axes if ax.get_gid() == SCALP_GID]
    titles = scalp.texts
    assert len(titles) == 30 and titles[10].get_text() == "200 ms"
    assert fig.axes[-1].get_ylabel() == "µV"
    assert len(scalp.get_images()) == 30
    assert {im.get_clim() for im in scalp.get_images()} == {(-2.0, 2.0)}
    heads = [line for line in scalp.get_lines() if line.get_gid() == SCALP_GID]
    spans = [(line.get_xdata().min(), line.get_xdata().max()) for line in heads]
    low, high = scalp.get_xlim()
    assert len(spans) == 30 and all(low <= a < b <= high for a, b in spans)
    assert all(spans[k][1] < spans[k + 1][0] for k in range(4))  # side by side, apart
    width = scalp_width_px(fig, dpi=150)
    assert width >= 150  # >= 120 px once the report scales the figure to the page
    assert fig.get_size_inches()[0] * 150 < 1.3 * 1116
    shift = titles[10].xy[0] - titles[0].xy[0]  # map 10 sits that far right of map 0
    rings = _rings(scalp)
    assert len(rings) == 1 and list(rings[0].get_xdata()) == [pytest.approx(
        scalp_layout(CH).pos[CH.index("P8"), 0] + shift)]
    # the other sensors are small dots, every one drawn once per map
    dots = [line for line in scalp.get_lines() if line.get_markerfacecolor() == "k"]
    assert [len(line.get_xdata()) for line in dots] == [len(CH)] * 10 + [len(CH) - 1] + [
        len(CH)] * 19
    paths = save_figure(fig, tmp_path / "grid", formats=("png",))
    assert paths[0].stat().st_size > 10_000


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
    # the significant sample is outlined by its four cell edges, at 180 ms on P8
    (outline,) = heat[0].collections
    segments = np.concatenate(outline.get_segments())
    assert len(outline.get_segments()) == 4
    assert segments[:, 0].min() == pytest.approx(175) and segments[:, 0].max() == pytest.approx(185)
    assert segments[:, 1].min() == pytest.approx(CH.index("P8") - 0.5)
    assert not heat[1].collections


def test_channel_time_heatmap_scales_are_absolute_and_shared_by_key():
    data = np.ones((3, len(CH), len(TIMES)))
    data[0] *= 2.0
    data[2] *= 3e-6  # a perceptogram's size: the scale goes into the unit
    fig = plot_channel_time(data, CH, TIMES, scales=["EEG", "EEG", "perceptogram"], unit="µV")
    clims = [ax.get_images()[0].get_clim() for ax in fig.axes[:3]]
    assert clims == [(-2.0, 2.0), (-2.0, 2.0), (-3e-6, 3e-6)]
    assert [ax.get_ylabel() for ax in fig.axes[3:]] == ["µV", "×10⁻⁶ µV"]
    fig.canvas.draw()
    bar = fig.axes[4]
    assert bar.yaxis.get_offset_text().get_text() == ""  # no "1e−6" over the title
    ticks = [float(t.get_text().replace("−", "-")) for t in bar.get_yticklabels()]
    assert max(ticks) == pytest.approx(3.0, abs=0.5) and min(ticks) == pytest.approx(-3, abs=.5)


@pytest.mark.parametrize(("limit", "expected"), [
    (3.2e-6, (1e-6, "×10⁻⁶ µV")), (0.04, (1.0, "µV")), (2500.0, (1.0, "µV")),
    (4.1e9, (1e9, "×10⁹ µV")), (0.0, (1.0, "µV")), (float("nan"), (1.0, "µV"))])
def test_unit_scale_writes_powers_of_ten_in_the_unit(limit, expected):
    from perceptogram.viz.figure import unit_scale

    factor, unit = unit_scale(limit, "µV")
    assert factor == pytest.approx(expected[0]) and unit == expected[1]
    assert unit_scale(5e-7)[1] == "×10⁻⁷"


def test_scalp_grid_and_time_course_of_tiny_values_have_no_offset_text():
    data = 4e-6 * np.tanh(np.random.default_rng(0).standard_normal((len(CH), len(TIMES))))
    fig = plot_topomap_grid(data, CH, TIMES, at=[0.1, 0.2], unit="µV", title="tiny")
    fig.canvas.draw()
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "×10⁻⁶ µV" and bar.yaxis.get_offset_text().get_text() == ""
    fig = plot_timecourse(TIMES * 1000, {"a": data[0]}, ylabel="effect", yunit="µV")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "effect (×10⁻⁶ µV)"
    assert ax.yaxis.get_offset_text().get_text() == ""


def test_heatmap_fades_samples_outside_the_mask():
    data = np.ones((2, len(CH), len(TIMES)))
    mask = np.zeros(data.shape, bool)
    mask[:, 3, 10:20] = True
    fig = plot_channel_time(data, CH, TIMES, mask=mask, mask_style=["fade", "outline"])
    faded, outlined = fig.axes[:2]
    (heat, veil) = faded.get_images()
    alpha = veil.get_array()[..., 3]
    assert alpha[3, 15] == 0 and alpha[0, 0] > 0.5 and not faded.collections
    assert len(outlined.get_images()) == 1 and len(outlined.collections) == 1
    nothing = plot_channel_time(data[:1], CH, TIMES, mask=np.zeros(data[:1].shape, bool),
                                mask_style="fade")
    assert len(nothing.axes[0].get_images()) == 1  # nothing significant: nothing faded
    with pytest.raises(DataFormatError, match="mask_style"):
        plot_channel_time(data, CH, TIMES, mask=mask, mask_style="dots")


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


def test_timecourse_marks_significant_points_below_the_curves():
    x = np.arange(6) * 10.0
    flags = np.array([0, 1, 1, 0, 0, 1], bool)
    fig = plot_timecourse(x, {"A": np.zeros(6), "B": np.ones(6)}, spans={"B": flags})
    ax = fig.axes[0]
    bars = [line for line in ax.lines if line.get_linewidth() == 3]
    assert len(bars) == 3 and all(b.get_color() == ax.lines[1].get_color() for b in bars)
    assert all(b.get_ydata()[0] < 0 for b in bars)  # below both curves
    assert sorted(round(float(np.mean(b.get_xdata()))) for b in bars) == [10, 20, 50]


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
