"""The interpret stage for one subject, draw step: figures of the computed maps.

Reads nothing from disk: :func:`draw_subject_maps` draws the
:class:`~perceptogram.pipeline.attribute_maps.SubjectMaps` that the compute step
returned, as PNG (and the configured extra formats) under ``interpret/sub-XX/``.
Map names and units come from the maps themselves; the sign convention ("high
− low") is written in every title.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perceptogram.config import Config

__all__ = ["draw_subject_maps"]


def _unit_label(unit: str) -> str:
    return unit.split(" (")[0]


def draw_subject_maps(config: Config, out, result) -> None:
    """Draw one subject's attribute maps, electrode preference and decoder probes.

    Parameters
    ----------
    config : Config
    out : Path
        ``interpret/sub-XX/``.
    result : SubjectMaps
    """
    by_attribute: dict[str, list[Any]] = {}
    for m in result.maps:
        by_attribute.setdefault(m.attribute, []).append(m)
    for attribute, maps in by_attribute.items():
        _draw_attribute(config, out, attribute, maps, result)
    main = [maps[0] for maps in by_attribute.values()]
    if main:
        _draw_electrodes(config, out, main, result)
    _draw_probes(config, out, result.probes, result.probe_arrays, result)


def _label(m) -> str:
    where = "test EEG" if m.source == "eeg" else f"perceptogram ({m.space})"
    return f"{m.name}\n{where}"


def _draw_attribute(config: Config, out, attribute: str, maps: list[Any], result) -> None:
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.heatmap import plot_channel_time
    from perceptogram.viz.topomap import plot_topomap_strip

    plt = pyplot()
    formats = config.interpretability.figure_formats
    times = result.times
    at = [t / 1000.0 for t in config.interpretability.times_ms
          if times[0] <= t / 1000.0 <= times[-1]]
    unit = _unit_label(result.unit)
    kind = ", ".join(dict.fromkeys(m.kind for m in maps))  # partial, and marginal beside it
    masks = [np.zeros(m.effect.shape, bool) if m.mask is None else m.mask for m in maps]
    tested = any(m.mask is not None for m in maps)
    sources: dict[str, list[Any]] = {}
    for m, mask in zip(maps, masks):
        sources.setdefault(m.source, []).append((m, mask))
    rows = [m for group in sources.values() for m, _ in group]
    # test-EEG maps and (shrunken) perceptogram maps get one strip and scale each
    figs = []
    for source, group in sources.items():
        data = np.stack([m.effect for m, _ in group])
        mask = np.stack([k for _, k in group]) if tested else None
        figs.append(plot_topomap_strip(
            data, result.ch_names, times, names=[_label(m) for m, _ in group], at=at,
            mask=mask, unit=unit,
            title=f"{attribute}: {', '.join(dict.fromkeys(m.kind for m, _ in group))}, "
                  "high − low "
                  f"({'marked: significant clusters' if tested else 'not tested'})"))
    for k, fig in enumerate(figs):
        suffix = "" if k == 0 else f"_{list(sources)[k]}"
        save_figure(fig, out / f"topomap_{attribute}{suffix}.png", formats=formats)
        plt.close(fig)
    data = np.stack([m.effect / (np.max(np.abs(m.effect)) or 1.0) for m in rows])
    fig = plot_channel_time(data, result.ch_names, times,
                            names=[_label(m) for m in rows],
                            mask=np.stack(masks) if tested else None,
                            unit="relative to each map's largest |value|",
                            title=f"{attribute}: {kind}, channel × time (high − low)")
    save_figure(fig, out / f"heatmap_{attribute}.png", formats=formats)
    plt.close(fig)


def _draw_electrodes(config: Config, out, maps: list[Any], result) -> None:
    from perceptogram.interpret.electrodes import pattern_energy
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.timecourse import plot_timecourse
    from perceptogram.viz.topomap import plot_topomap

    plt = pyplot()
    stacked = np.stack([m.effect for m in maps])
    energy = pattern_energy(stacked)
    fig, axes = plt.subplots(1, len(maps), figsize=(2.2 * len(maps), 2.4), squeeze=False)
    for ax, m, values in zip(axes[0], maps, energy):
        plot_topomap(values / (values.max() or 1.0), result.ch_names, ax=ax, vlim=1.0,
                     cmap="viridis")
        ax.set_title(m.name, fontsize=8)
    fig.suptitle("Presumptive electrode preference (map energy per channel, "
                 "relative to the strongest)", fontsize=9)
    formats = config.interpretability.figure_formats
    save_figure(fig, out / "electrode_preference.png", formats=formats)
    plt.close(fig)
    curves = {m.name: np.abs(m.effect) for m in maps}
    fig = plot_timecourse(1000 * result.times, curves,
                          ylabel=f"|effect| ({_unit_label(result.unit)}), mean over channels",
                          title="Time course of each attribute's map")
    save_figure(fig, out / "timecourse.png", formats=formats)
    plt.close(fig)


def _draw_probes(config: Config, out, probes: dict[str, Any], arrays: dict[str, np.ndarray],
                 result) -> None:
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.timecourse import plot_timecourse
    from perceptogram.viz.topomap import plot_topomap

    plt = pyplot()
    formats = config.interpretability.figure_formats
    drop = arrays["scramble_drop"]
    fig, ax = plt.subplots(figsize=(3.2, 3.0))
    vlim = float(np.max(np.abs(drop))) or 1.0
    image = plot_topomap(drop, result.ch_names, ax=ax, vlim=vlim)
    fig.colorbar(image, ax=ax, shrink=0.7, label="drop in mean r")
    ax.set_title("Quality drop when one channel is\nshuffled over test images", fontsize=9)
    save_figure(fig, out / "electrode_scramble.png", formats=formats)
    plt.close(fig)

    bars = {"all channels": (probes["baseline"], "0.4")}
    if probes["mirrored"] is not None:
        bars["left/right mirrored"] = (probes["mirrored"], "tab:orange")
    bars.update({f"{name} subset": (value, "tab:blue")
                 for name, value in probes["subsets"].items()})
    labels = list(bars)
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    ax.bar(range(len(bars)), [v for v, _ in bars.values()],
           color=[c for _, c in bars.values()])
    ax.set_xticks(range(len(bars)), labels, rotation=20, ha="right", fontsize=8)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_ylabel("mean r (decoded vs true)")
    ax.set_title("Mirrored test EEG and channel subsets", fontsize=9)
    save_figure(fig, out / "electrode_subsets.png", formats=formats)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True)
    plot_timecourse(arrays["window_end_ms"], {"first k ms": arrays["window_quality"]},
                    xlabel="window end (ms)", ylabel="mean r (decoded vs true)", chance=0.0,
                    title="Decoding from the first k ms", ax=axes[0])
    width = probes["sliding_windows"]["width_ms"]
    plot_timecourse(arrays["sliding_centre_ms"],
                    {f"{width:.0f}-ms window": arrays["sliding_quality"]},
                    xlabel="window centre (ms)", chance=0.0,
                    title=f"Sliding {width:.0f}-ms window", ax=axes[1])
    save_figure(fig, out / "timecourse_windows.png", formats=formats)
    plt.close(fig)
