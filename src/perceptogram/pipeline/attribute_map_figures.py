"""The interpret stage for one subject, draw step: figures of the computed maps.

Reads nothing from disk: :func:`draw_subject_maps` draws the
:class:`~perceptogram.pipeline.attribute_maps.SubjectMaps` that the compute step
returned, as PNG (and the configured extra formats) under ``interpret/sub-XX/``,
and lists every figure with its caption in ``figures.json`` (what the report
shows, in order). Map names and units come from the maps themselves; the sign
convention ("high − low") is written in every title.

Any montage draws: with at least
:data:`~perceptogram.viz.scalp.MIN_SCALP_CHANNELS` positioned channels the maps
are scalp-map grids; with fewer, time courses per channel and bar charts.
Channels without a position (e.g. ``EOG1``) are left out of scalp maps only,
with one note. The F map of each joint test of collinear attributes is drawn
as its own group, after the attributes.

Significance is marked so that it stays readable when most samples are
significant (perceptograms, whose cluster tests cover nearly everything): open
rings on scalp maps, and on channel × time maps outlines for the test EEG and
faded non-significant samples for every map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._io import write_json_atomic
from perceptogram.config import Config
from perceptogram.interpret.electrodes import pattern_energy
from perceptogram.pipeline.attribute_map_files import file_stem
from perceptogram.viz.figure import label_scaled, pyplot, save_figure
from perceptogram.viz.heatmap import plot_channel_time
from perceptogram.viz.scalp import scalp_layout
from perceptogram.viz.timecourse import plot_timecourse
from perceptogram.viz.topomap import plot_topomap, plot_topomap_grid, scalp_width_px

__all__ = ["draw_subject_maps", "FIGURE_LIST", "read_figure_list"]

#: File listing the figures of one subject: ``{"figures": [...], "notes": [...]}``.
FIGURE_LIST = "figures.json"
#: Resolution of the saved PNG files.
DPI = 150


def _unit_label(unit: str) -> str:
    return unit.split(" (")[0]


def _positions(result):
    """Sensor positions the maps carry from the recording (None: template positions)."""
    return result.positions


@dataclass
class _FigureList:
    """Saves figures and records what the report needs to show each one."""

    out: Path
    formats: list[str]
    entries: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def save(self, fig, stem: str, caption: str, section: str, group: str = "") -> None:
        save_figure(fig, self.out / f"{stem}.png", formats=self.formats, dpi=DPI)
        scalp = scalp_width_px(fig, DPI)  # after saving: the axes are where they were drawn
        pyplot().close(fig)
        full = "svg" if "svg" in self.formats else "png"
        self.entries.append({"png": f"{stem}.png", "full": f"{stem}.{full}",
                             "caption": caption, "section": section, "group": group,
                             "scalp_px": None if scalp is None else round(scalp, 1)})

    def write(self) -> None:
        write_json_atomic(self.out / FIGURE_LIST, {"figures": self.entries,
                                                   "notes": self.notes})


def read_figure_list(folder: Path) -> dict[str, Any]:
    """The figure list of one subject's ``interpret/sub-XX/`` (empty when absent)."""
    import json

    path = Path(folder) / FIGURE_LIST
    if not path.is_file():
        return {"figures": [], "notes": []}
    return json.loads(path.read_text(encoding="utf-8"))


def draw_subject_maps(config: Config, out, result) -> None:
    """Draw one subject's attribute maps, electrode preference and decoder probes.

    Parameters
    ----------
    config : Config
    out : Path
        ``interpret/sub-XX/``.
    result : SubjectMaps
    """
    figures = _FigureList(Path(out), list(config.interpretability.figure_formats))
    layout = scalp_layout(result.ch_names, _positions(result))
    if layout.missing and layout.drawable:
        figures.notes.append(
            f"{len(layout.missing)} channel(s) have no known scalp position "
            f"({', '.join(layout.missing)}): they are left out of the scalp maps only "
            "(every other figure, statistic and decoder uses them).")
    if not layout.drawable:
        figures.notes.append(
            f"Only {layout.n_placed} channel(s) have a scalp position: no scalp maps are "
            "drawn; the maps are shown as time courses per channel instead.")
    by_attribute: dict[str, list[Any]] = {}
    for m in result.maps:
        by_attribute.setdefault(m.attribute, []).append(m)
    for attribute, maps in by_attribute.items():
        _draw_attribute(config, figures, attribute, maps, result, layout)
    for test in result.joint_tests:
        _draw_joint_test(config, figures, test, result, layout)
    main = [maps[0] for maps in by_attribute.values()]
    if main:
        _draw_electrodes(figures, main, result, layout)
    _draw_probes(config, figures, result.probes, result.probe_arrays, result, layout)
    figures.write()


def _where(m) -> str:
    if m.source == "eeg":
        return "the test EEG (each test image's average over repetitions)"
    return (f"the perceptograms of the {m.space} decoder (decoded latents projected back "
            "to EEG by the encoding ridge)")


def _test_text(m, config: Config) -> str:
    """Which test marks the map, and what it found."""
    info = m.summary
    if m.mask is None:
        return "Not tested (interpretability.n_permutations is 0)."
    n = info.get("n_permutations", config.interpretability.n_permutations)
    test = ("Freedman–Lane cluster permutation test over channels × time"
            if m.kind != "group contrast" else
            "cluster permutation test over channels × time, image labels shuffled")
    found = info.get("n_significant_clusters", 0)
    text = (f"{test} ({n} permutations; cluster-forming threshold and cluster level "
            f"p < 0.05): {found} significant cluster{'s' * (found != 1)}, smallest "
            f"cluster p = {info.get('cluster_min_p', 1.0):.3f}.")
    if m.source == "perceptogram":
        share = 100.0 * float(np.mean(m.mask))
        text += (f" {share:.0f} % of the channel × time samples lie in significant "
                 "clusters. For a perceptogram the test asks whether the decoder's "
                 "projection of the test EEG differs between high and low images (the "
                 "decoder reads the attribute), not whether the brain's response does: "
                 "perceptograms are a low-rank projection whose residuals are smooth, so "
                 "clusters cover most samples whenever the decoded latents differ at all.")
    return text


def _kind_text(m) -> str:
    if m.kind == "partial effect":
        return ("partial effect (regression on all image attributes at once: the "
                "difference this attribute makes with the others held fixed)")
    if m.kind.startswith("marginal"):
        return ("marginal effect (regression on this attribute alone: it absorbs the "
                "effects of every attribute that goes with it in these pictures)")
    return "group contrast (marginal: one attribute at a time)"


def _draw_attribute(config: Config, figures: _FigureList, attribute: str, maps: list[Any],
                    result, layout) -> None:
    times = result.times
    at = [t / 1000.0 for t in config.interpretability.times_ms
          if times[0] <= t / 1000.0 <= times[-1]] or None
    unit = _unit_label(result.unit)
    positions = _positions(result)
    for m in maps:
        stem = f"map_{file_stem(m.name)}_{m.source}"
        what = (f"{m.name} ({'test EEG' if m.source == 'eeg' else m.space + ' perceptogram'}"
                "), high − low")
        caption = (f"{m.name}: {_kind_text(m)} in {_where(m)}, in {result.unit}. "
                   + _test_text(m, config))
        if layout.drawable:
            fig = plot_topomap_grid(m.effect, result.ch_names, times, positions=positions,
                                    at=at, mask=m.mask, unit=unit,
                                    title=f"{what}: {m.kind}")
            caption += " " + _scalp_legend(layout)
        else:
            curves = {ch: m.effect[i] for i, ch in enumerate(result.ch_names)}
            spans = (None if m.mask is None else
                     {ch: m.mask[i] for i, ch in enumerate(result.ch_names)})
            fig = plot_timecourse(1000 * times, curves, ylabel="effect", yunit=unit,
                                  spans=spans, title=f"{what}: {m.kind}")
            caption += (" One line per channel (too few positioned channels for a scalp "
                        "map); bars below: times inside a significant cluster, in the "
                        "channel's colour.")
        figures.save(fig, stem, caption, "perceptograms", attribute)
    rows = sorted(maps, key=lambda m: m.source != "eeg")
    tested = any(m.mask is not None for m in rows)
    masks = np.stack([np.zeros(m.effect.shape, bool) if m.mask is None else m.mask
                      for m in rows])
    sources = [_SOURCE_NAMES.get(m.source, m.source) for m in rows]
    kinds = ", ".join(dict.fromkeys(m.kind for m in rows))  # partial, and marginal beside it
    fig = plot_channel_time(np.stack([m.effect for m in rows]), result.ch_names, times,
                            names=[_label(m) for m in rows],
                            mask=masks if tested else None, unit=unit,
                            scales=sources if len(set(sources)) > 1 else None,
                            mask_style=["both" if m.source == "eeg" else "fade" for m in rows],
                            title=f"{attribute}: {kinds}, channel × time (high − low)")
    scale_text = ("one absolute colour scale for the test-EEG maps and one for the "
                  "perceptograms (which the ridge shrinks towards zero)"
                  if len(set(sources)) > 1 else "one absolute colour scale for all panels")
    marks = ("in a map with significant clusters (the test named under its scalp maps) "
             "the samples outside them are faded; test-EEG clusters are also outlined in "
             "black"
             + (" (perceptogram clusters are not: they cover most samples, see the "
                "perceptogram captions)" if "perceptogram" in sources else "") + "."
             if tested else "not tested.")
    figures.save(fig, f"heatmap_{attribute}",
                 f"{attribute}: every map of this attribute as channel × time, {scale_text}, "
                 f"in {result.unit}; {marks}", "perceptograms", attribute)


def _scalp_legend(layout) -> str:
    """What the marks of a scalp-map grid mean (sensors, colour, head)."""
    text = ("Scalp maps at the times shown, one colour scale for all of them (red: larger "
            "for the first-named group); open rings: sensors inside a significant cluster "
            "at that time; small dots: the other sensors")
    text += ("." if layout.whole_head else "; uncoloured: no sensor nearby.")
    if layout.enlarged:
        text += (" Some sensors lie below the level of the ears: the head outline is drawn "
                 "just outside the outermost sensor, so that every sensor lies on the head.")
    return text


def _draw_joint_test(config: Config, figures: _FigureList, test, result, layout) -> None:
    """The F map of one joint test of collinear attributes, with its significant clusters."""
    names = ", ".join(test.attributes)
    info = test.summary
    dof = (info.get("peak") or {}).get("unit", "F")
    title = f"joint test of {names}: F map (test EEG)"
    if test.mask is None:
        tested = "Not tested (interpretability.n_permutations is 0)."
    else:
        found = info.get("n_significant_clusters", 0)
        tested = (f"Cluster permutation test of the F map (Freedman–Lane, "
                  f"{info.get('n_permutations', config.interpretability.n_permutations)} "
                  f"permutations; clusters of F above its p < 0.05 quantile): {found} "
                  f"significant cluster{'s' * (found != 1)}, smallest cluster p = "
                  f"{info.get('cluster_min_p', 1.0):.3f}.")
    caption = (f"Joint test of {names}, which go together in these pictures: the F "
               f"statistic ({dof}) of all their design columns together at every channel and "
               "time of the test EEG, the other attributes held fixed. Large where any of "
               f"them changes the EEG; it cannot say which. {tested} "
               + info.get("sentence", ""))
    at = [t / 1000.0 for t in config.interpretability.times_ms
          if result.times[0] <= t / 1000.0 <= result.times[-1]] or None
    if layout.drawable:
        fig = plot_topomap_grid(test.statistic, result.ch_names, result.times,
                                positions=_positions(result), at=at, mask=test.mask,
                                unit="F", cmap="Reds", symmetric=False, title=title)
        caption += " " + _scalp_legend(layout).replace(" (red: larger for the first-named "
                                                       "group)", " (F ≥ 0)")
    else:
        curves = {ch: test.statistic[i] for i, ch in enumerate(result.ch_names)}
        spans = (None if test.mask is None else
                 {ch: test.mask[i] for i, ch in enumerate(result.ch_names)})
        fig = plot_timecourse(1000 * result.times, curves, ylabel="F", spans=spans,
                              title=title)
        caption += (" One line per channel; bars below: times inside a significant cluster, "
                    "in the channel's colour.")

    figures.save(fig, file_stem(f"joint {' '.join(test.attributes)}"), caption,
                 "perceptograms", f"joint test: {names}")


#: How each map source is named in figures.
_SOURCE_NAMES = {"eeg": "test EEG", "perceptogram": "perceptogram"}


def _label(m) -> str:
    where = "test EEG" if m.source == "eeg" else f"perceptogram ({m.space})"
    return f"{m.name}\n{where}"


def _draw_electrodes(figures: _FigureList, maps: list[Any], result, layout) -> None:
    plt = pyplot()
    unit = _unit_label(result.unit)
    stacked = np.stack([m.effect for m in maps])
    rms = np.sqrt(pattern_energy(stacked) / stacked.shape[-1])  # (n_maps, n_channels)
    top = float(np.max(rms[:, layout.picks])) if layout.n_placed else float(np.max(rms))
    top = top if top > 0 else 1.0
    span = f"{1000 * result.times[0]:.0f} to {1000 * result.times[-1]:.0f} ms"
    if layout.drawable:
        fig, axes = plt.subplots(1, len(maps), figsize=(2.3 * len(maps) + 0.9, 2.6),
                                 squeeze=False, layout="constrained")
        image = None
        for ax, m, values in zip(axes[0], maps, rms):
            image = plot_topomap(values, result.ch_names, ax=ax, vlim=top, cmap="viridis",
                                 symmetric=False,
                                 positions=_positions(result))
            ax.set_title(m.name, fontsize=9)
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
        label_scaled(bar, top, unit, "RMS over time")
    else:
        fig, ax = plt.subplots(figsize=(1.2 * len(result.ch_names) * len(maps) / 2 + 2.5, 2.8))
        width = 0.8 / len(maps)
        for k, (m, values) in enumerate(zip(maps, rms)):
            ax.bar(np.arange(len(values)) + k * width, values, width, label=m.name)
        ax.set_xticks(np.arange(len(result.ch_names)) + 0.4 - width / 2, result.ch_names)
        label_scaled(ax.yaxis, top, unit, "RMS over time")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Presumptive electrode preference: size of each attribute's map per "
                 "channel", fontsize=9)
    figures.save(fig, "electrode_preference",
                 f"Presumptive electrode preference: for each attribute's main map, the root "
                 f"mean square over time ({span}) of the effect at each channel, in "
                 f"{result.unit}; one colour scale for all attributes. Large where the "
                 "attribute's effect is large; a description of the map, not a test.",
                 "electrodes")
    curves = {m.name: np.sqrt(np.mean(m.effect ** 2, axis=0)) for m in maps}
    spans = {m.name: m.mask.any(axis=0) for m in maps if m.mask is not None}
    fig = plot_timecourse(1000 * result.times, curves, spans=spans,
                          ylabel="RMS over channels", yunit=unit,
                          title="Time course of each attribute's map")
    figures.save(fig, "timecourse",
                 f"Time course of each attribute's main map: root mean square over the "
                 f"{len(result.ch_names)} channels of the effect, in {result.unit}. Bars "
                 "below the curves: times with at least one channel inside a significant "
                 "cluster of that map (same test as its scalp maps). No shaded band: one map "
                 "per subject, nothing to average.",
                 "electrodes")


def _draw_probes(config: Config, figures: _FigureList, probes: dict[str, Any],
                 arrays: dict[str, np.ndarray], result, layout) -> None:
    plt = pyplot()
    space = config.interpretability.space
    quality = (f"decoding quality of the {space} latents: mean over latent dimensions of "
               "the Pearson r between decoded and true test latents")
    drop = arrays["scramble_drop"]
    if layout.drawable:
        fig, ax = plt.subplots(figsize=(3.4, 3.2), layout="constrained")
        vlim = float(np.max(np.abs(drop[layout.picks]))) or 1.0
        image = plot_topomap(drop, result.ch_names, ax=ax, vlim=vlim,
                             positions=_positions(result))
        label_scaled(fig.colorbar(image, ax=ax, shrink=0.7), vlim, "",
                     "drop in mean r")
    else:
        fig, ax = plt.subplots(figsize=(0.6 * len(drop) + 2.0, 2.8), layout="constrained")
        ax.bar(range(len(drop)), drop, color="0.4")
        ax.set_xticks(range(len(drop)), result.ch_names)
        ax.axhline(0, color="k", linewidth=0.8)
        label_scaled(ax.yaxis, float(np.max(np.abs(drop))), "", "drop in mean r")
    ax.set_title(f"{space} decoder: quality drop when one\nchannel is shuffled over test "
                 "images", fontsize=9)
    figures.save(fig, "electrode_scramble",
                 f"Decoding-quality drop per shuffled channel: {quality}, minus the same with "
                 "one channel's test EEG shuffled across test images (mean of 2 shuffles). "
                 "Large: the decoder relies on that channel.", "electrodes")

    bars = {"all channels": (probes["baseline"], "0.4")}
    if probes["mirrored"] is not None:
        bars["left/right mirrored"] = (probes["mirrored"], "tab:orange")
    bars.update({f"{name} subset": (value, "tab:blue")
                 for name, value in probes["subsets"].items()})
    fig, ax = plt.subplots(figsize=(3.8, 2.8), layout="constrained")
    ax.bar(range(len(bars)), [v for v, _ in bars.values()],
           color=[c for _, c in bars.values()])
    ax.set_xticks(range(len(bars)), list(bars), rotation=20, ha="right", fontsize=8)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_ylabel("mean r (decoded vs true)")
    ax.set_title(f"{space} decoder: mirrored EEG and channel subsets", fontsize=9)
    figures.save(fig, "electrode_subsets",
                 f"Mirrored EEG and channel subsets: {quality}, for the decoder on all "
                 "channels, on left/right mirrored test EEG, and refitted on each channel "
                 "subset whose channels were all recorded. One test set: no error bars.",
                 "electrodes")

    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.9), sharey=True, layout="constrained")
    plot_timecourse(arrays["window_end_ms"], {"first k ms": arrays["window_quality"]},
                    xlabel="window end (ms)", ylabel=f"mean r, {space} latents",
                    chance=0.0, title=f"{space} latents from the first k ms", ax=axes[0])
    width = probes["sliding_windows"]["width_ms"]
    plot_timecourse(arrays["sliding_centre_ms"],
                    {f"{width:.0f}-ms window": arrays["sliding_quality"]},
                    xlabel="window centre (ms)", chance=0.0,
                    title=f"{space} latents, sliding {width:.0f}-ms window", ax=axes[1])
    figures.save(fig, "timecourse_windows",
                 f"Decoding quality vs time window: {quality}, for a ridge refitted (the "
                 "subject's median cross-validated alpha) on the first k ms of the epoch "
                 f"(left) and on sliding {width:.0f}-ms windows (right). Dashed: r = 0, no "
                 "decoding. One test set per point: no band.", "electrodes")
