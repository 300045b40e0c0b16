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

__all__ = ["interpret_subject", "attribute_groupings", "decoder_probes"]

#: Window lengths of the time probe (first k ms of the epoch); lengths beyond the
#: epoch are left out.
WINDOW_LENGTHS_MS = tuple(float(k) for k in range(100, 900, 100))
#: Width and step of the sliding-window time probe (adjacent windows: each one
#: costs a ridge fit).
SLIDING_WIDTH_MS = 100.0
SLIDING_STEP_MS = 100.0


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
    from perceptogram.pipeline.datasource import run_image_paths
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
    images = load_images(run_image_paths(config, "test"))
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
    probes, probe_arrays = decoder_probes(config, subject, run_dir, train, Y_train, test,
                                          Y_test)
    summary["probes"] = probes
    arrays.update(probe_arrays)
    _draw_probes(config, out, probes, probe_arrays, train)
    save_npz(out / "maps.npz", ch_names=np.array(train.ch_names), times=train.times, **arrays)
    write_json_atomic(out / "summary.json", summary)


def decoder_probes(config: Config, subject: int, run_dir: RunDir, train, Y_train: np.ndarray,
                   test, Y_test: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Presumptive electrode preference and time probes of one subject's decoder.

    Quality is the mean over latent dimensions of the correlation between
    decoded and true test latents. Refitted decoders are plain ridges with the
    median of the alphas the subject's saved decoder chose by cross-validation
    (no cross-validation is repeated).

    Parameters
    ----------
    config : Config
    subject : int
    run_dir : RunDir
        Reads ``fit/sub-XX/<space>/decoder.safetensors``.
    train, test : EEGFeatures
        The subject's training and test features.
    Y_train : ndarray, shape (n_train, n_latent)
    Y_test : ndarray, shape (n_test, n_latent)

    Returns
    -------
    summary : dict
        ``alpha``, ``baseline``; ``scramble_drop`` (channel → drop when the
        channel is shuffled over test images); ``mirrored`` (quality with
        left/right mirrored test EEG; None when the channels are not left/right
        symmetric); ``subsets`` (named subset whose channels are all recorded →
        quality of a decoder refitted on it); ``window_lengths`` and
        ``sliding_windows`` (``x_ms`` = window ends / centres, ``quality``).
    arrays : dict of str to ndarray
        ``scramble_drop`` (n_channels,), ``window_end_ms``, ``window_quality``,
        ``sliding_centre_ms``, ``sliding_quality``.
    """
    from perceptogram.interpret.electrodes import CHANNEL_SUBSETS
    from perceptogram.interpret.perturb import channel_scramble_importance, subset_quality
    from perceptogram.interpret.timecourse import sliding_window_curve, window_length_curve
    from perceptogram.linear.io import load_model
    from perceptogram.linear.ridge import Ridge

    space = config.interpretability.space
    saved = load_model(run_dir.unit_dir("fit", subject, space) / "decoder.safetensors",
                       ch_names=train.ch_names, times=train.times)
    alpha = float(np.median(saved.alpha_))

    def fit(X: np.ndarray, Y: np.ndarray, groups: np.ndarray | None = None) -> Ridge:
        return Ridge(alpha=alpha).fit(X, Y)

    decoder = fit(train.X, Y_train)
    scramble = channel_scramble_importance(decoder, test, Y_test, n_repeats=2,
                                           seed=config.seed)
    subsets = {name: name for name, channels in CHANNEL_SUBSETS.items()
               if set(channels) <= set(train.ch_names)}
    subset_scores = subset_quality(train, Y_train, test, Y_test, subsets, fit_decoder=fit)
    dt = train.times[1] - train.times[0]
    span_ms = 1000 * (train.times[-1] + dt - train.times[0])
    lengths = [k for k in WINDOW_LENGTHS_MS if k <= span_ms + 1e-6] or [span_ms]
    window = window_length_curve(train, Y_train, test, Y_test,
                                 [k / 1000 for k in lengths], start=train.times[0],
                                 fit_decoder=fit)
    sliding = sliding_window_curve(train, Y_train, test, Y_test,
                                   width=min(SLIDING_WIDTH_MS, span_ms) / 1000,
                                   step=SLIDING_STEP_MS / 1000, fit_decoder=fit)
    summary = {
        "quality": "mean correlation of decoded vs true test latents over dimensions",
        "alpha": alpha,
        "baseline": float(scramble.baseline),
        "scramble_drop": scramble.as_dict(),
        "mirrored": _mirrored_quality(decoder, test, Y_test),
        "subsets": {name: float(v) for name, v in subset_scores.items()},
        "window_lengths": {"x_ms": [float(x) for x in np.round(1000 * window.x, 3)],
                           "quality": [float(v) for v in window.values]},
        "sliding_windows": {"width_ms": min(SLIDING_WIDTH_MS, span_ms),
                            "x_ms": [float(x) for x in np.round(1000 * sliding.x, 3)],
                            "quality": [float(v) for v in sliding.values]},
    }
    arrays: dict[str, np.ndarray] = {
        "scramble_drop": scramble.drop, "window_end_ms": 1000 * window.x,
        "window_quality": np.asarray(window.values), "sliding_centre_ms": 1000 * sliding.x,
        "sliding_quality": np.asarray(sliding.values)}
    return summary, arrays


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


def _mirrored_quality(decoder, test, Y_test: np.ndarray) -> float | None:
    """Quality on left/right mirrored test EEG; None when the channels are asymmetric."""
    from perceptogram.errors import ChannelMismatchError
    from perceptogram.interpret.perturb import evaluate, mirror_features

    try:
        mirrored = mirror_features(test)
    except ChannelMismatchError:
        return None
    return float(evaluate(decoder, mirrored, Y_test))


def _draw_probes(config: Config, out, probes: dict[str, Any], arrays: dict[str, np.ndarray],
                 train) -> None:
    from perceptogram.viz.figure import pyplot, save_figure
    from perceptogram.viz.timecourse import plot_timecourse
    from perceptogram.viz.topomap import plot_topomap

    plt = pyplot()
    formats = config.interpretability.figure_formats
    drop = arrays["scramble_drop"]
    fig, ax = plt.subplots(figsize=(3.2, 3.0))
    vlim = float(np.max(np.abs(drop))) or 1.0
    image = plot_topomap(drop, train.ch_names, ax=ax, vlim=vlim)
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
