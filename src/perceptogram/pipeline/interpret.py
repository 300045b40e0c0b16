"""The interpret stage for one subject: perceptograms, electrode preference, time courses.

Glue only: the maps come from :mod:`perceptogram.interpret`, the figures from
:mod:`perceptogram.viz`; this module picks the groupings the configuration asks
for, writes ``maps.npz``, ``summary.json`` and the figures (PNG + SVG).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perceptogram._io import write_json_atomic
from perceptogram.config import Config
from perceptogram.pipeline.artifacts import load_eeg_features, save_npz
from perceptogram.pipeline.rundir import RunDir

__all__ = ["interpret_subject", "attribute_groupings"]


def attribute_groupings(config: Config, images: np.ndarray, embeddings: np.ndarray,
                        concepts: tuple[str, ...]) -> dict[str, Any]:
    """The groupings of the test images named in ``config.interpretability.attributes``.

    Parameters
    ----------
    config : Config
    images : ndarray of uint8, shape (n_images, H, W, 3)
        Test images (for hue, texture and brightness descriptors).
    embeddings : ndarray, shape (n_images, n_latent)
        Latents of the same images (for the semantic clustering).
    concepts : tuple of str, length n_images

    Returns
    -------
    dict of str to Grouping
    """
    from perceptogram.interpret import groupings as g
    from perceptogram.latents.attributes import ImageAttributes

    space = ImageAttributes(image_size=min(128, images.shape[1]))
    values = dict(zip(space.feature_names, space.encode(images).T))
    out = {}
    for attribute in config.interpretability.attributes:
        if attribute == "hue":
            out[attribute] = g.hue_grouping(values["hue_deg"])
        elif attribute == "texture":
            out[attribute] = g.split_grouping(values["high_freq_fraction"], "texture",
                                              quantile=0.5, low_name="smooth",
                                              high_name="textured")
        elif attribute == "brightness":
            out[attribute] = g.split_grouping(values["luminance"], "brightness", quantile=0.5,
                                              low_name="dark", high_name="bright")
        else:
            out[attribute] = g.semantic_grouping(
                embeddings, config.interpretability.n_clusters, concepts=concepts)
    return out


def interpret_subject(config: Config, subject: int, run_dir: RunDir) -> None:
    """Compute and draw one subject's perceptograms.

    Parameters
    ----------
    config : Config
    subject : int
    run_dir : RunDir
        Reads ``features`` and ``predict`` artifacts, writes into
        ``interpret/sub-XX/``.
    """
    from perceptogram.data.images import load_images
    from perceptogram.data.things_eeg2 import load_image_metadata
    from perceptogram.interpret.electrodes import pattern_energy
    from perceptogram.interpret.perceptogram import contrast, group_means
    from perceptogram.linear.patterns import decode_encode_patterns

    settings = config.interpretability
    space = settings.space
    out = run_dir.unit_dir("interpret", subject)
    train, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    Y_train = np.load(run_dir.unit_dir("features", None, space) / "train.npy")
    Y_test = np.load(run_dir.unit_dir("features", None, space) / "test.npy")
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    patterns = decode_encode_patterns(decoded, Y_train, train,
                                      alpha=settings.encoder_alpha).data
    images = load_images(load_image_metadata(config.data_root()).image_paths("test"))
    groupings = attribute_groupings(config, images, Y_test, test.concepts)

    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {"space": space, "times_ms": settings.times_ms, "attributes": {}}
    contrasts = {}
    for attribute, grouping in groupings.items():
        counts = grouping.counts()
        names = [name for name in grouping.group_names if counts[name] >= 2]
        if len(names) < 2:
            summary["attributes"][attribute] = {"skipped": f"fewer than two groups: {counts}"}
            continue
        a, b = names[0], names[-1]
        means = group_means(patterns, grouping)
        diff = contrast(patterns, grouping, a, b)
        mask, min_p = _significance(config, patterns, grouping, a, b, train)
        arrays[f"{attribute}_means"] = means
        arrays[f"{attribute}_contrast"] = diff
        contrasts[attribute] = diff
        t_map = _welch_t(patterns[grouping.mask(a)], patterns[grouping.mask(b)])
        ch, ti = np.unravel_index(np.nanargmax(np.abs(t_map)), t_map.shape)
        summary["attributes"][attribute] = {
            "groups": list(grouping.group_names), "counts": {k: int(v) for k, v in counts.items()},
            "contrast": f"{a} − {b}", "peak_abs_t": float(abs(t_map[ch, ti])),
            "peak_time_ms": float(round(1000 * train.times[ti])),
            "peak_channel": train.ch_names[ch], "cluster_min_p": min_p,
        }
        _draw_attribute(config, out, attribute, means, diff, mask, grouping, a, b, train)
    if contrasts:
        stacked = np.stack(list(contrasts.values()))
        energy = pattern_energy(stacked)
        arrays["electrode_energy"] = energy
        _draw_electrodes(config, out, list(contrasts), energy, stacked, train)
    save_npz(out / "maps.npz", ch_names=np.array(train.ch_names), times=train.times, **arrays)
    write_json_atomic(out / "summary.json", summary)


def _welch_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.ttest_ind(a, b, axis=0, equal_var=False).statistic


def _significance(config: Config, patterns: np.ndarray, grouping, a: str, b: str, train
                  ) -> tuple[np.ndarray | None, float | None]:
    n_perm = config.interpretability.n_permutations
    if n_perm == 0:
        return None, None
    from perceptogram.interpret.significance import group_cluster_test

    result = group_cluster_test(patterns, grouping, a, b, ch_names=train.ch_names,
                                times=train.times, n_permutations=n_perm, seed=config.seed,
                                n_jobs=1)
    return result.mask, float(result.min_p)


def _draw_attribute(config: Config, out, attribute: str, means: np.ndarray, diff: np.ndarray,
                    mask: np.ndarray | None, grouping, a: str, b: str, train) -> None:
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.heatmap import plot_channel_time
    from perceptogram.viz.topomap import plot_topomap_strip

    plt = pyplot()
    formats = config.interpretability.figure_formats
    at = [t / 1000.0 for t in config.interpretability.times_ms
          if train.times[0] <= t / 1000.0 <= train.times[-1]]
    fig = plot_topomap_strip(diff, train.ch_names, train.times, names=[f"{a} − {b}"], at=at,
                             mask=mask, unit="z (EEG)", title=f"Perceptogram: {attribute}")
    save_figure(fig, out / f"topomap_{attribute}.png", formats=formats)
    plt.close(fig)
    maps = np.concatenate([means, diff[None]])
    names = [*grouping.group_names, f"{a} − {b}"]
    fig = plot_channel_time(maps, train.ch_names, train.times, names=names,
                            unit="z (EEG)", title=f"{attribute}: group means and contrast")
    save_figure(fig, out / f"heatmap_{attribute}.png", formats=formats)
    plt.close(fig)


def _draw_electrodes(config: Config, out, attributes: list[str], energy: np.ndarray,
                     contrasts: np.ndarray, train) -> None:
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.timecourse import plot_timecourse
    from perceptogram.viz.topomap import plot_topomap

    plt = pyplot()
    fig, axes = plt.subplots(1, len(attributes), figsize=(2.2 * len(attributes), 2.4),
                             squeeze=False)
    for ax, attribute, values in zip(axes[0], attributes, energy):
        plot_topomap(values / values.max(), train.ch_names, ax=ax, vlim=1.0, cmap="viridis")
        ax.set_title(attribute, fontsize=9)
    fig.suptitle("Presumptive electrode preference (contrast energy per channel, "
                 "relative to the strongest)", fontsize=9)
    formats = config.interpretability.figure_formats
    save_figure(fig, out / "electrode_preference.png", formats=formats)
    plt.close(fig)
    curves = {attribute: np.abs(c) for attribute, c in zip(attributes, contrasts)}
    fig = plot_timecourse(1000 * train.times, curves, ylabel="|contrast| (z), mean over channels",
                          title="Time course of each attribute's contrast")
    save_figure(fig, out / "timecourse.png", formats=formats)
    plt.close(fig)
