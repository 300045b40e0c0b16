"""Make the interpretability figures of the docs from a simulated dataset.

Simulates a small THINGS-EEG2-style dataset with planted attribute patterns,
fits a ridge decoder and the latent encoder, and writes into ``docs/figures/``:

- ``perceptograms_topomaps.png``: direction perceptograms of the five planted
  attributes, scalp maps every 20 ms from 0 to 580 ms, one shared colour scale;
- ``perceptograms_planted_vs_recovered.png``: channel × time heatmaps, planted
  vs recovered, with the animate − food cluster-test mask;
- ``time_swap.png``: the time-swap probe for the superclass latent.

It prints the recovery numbers (correlation with the planted patterns, peak
latency and channel). Usage::

    python scripts/make_figures.py [--out docs/figures] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from perceptogram.data.core.prepare import prepare
from perceptogram.data.simulate.dataset import load_ground_truth, simulate_dataset
from perceptogram.data.formats.things_eeg2 import load_subject
from perceptogram.interpret import (
    categorical_grouping,
    contrast,
    dimension_correlation,
    group_cluster_test,
    split_grouping,
    time_swap_probe,
    to_eeg_units,
)
from perceptogram.linear.patterns import LatentEncoder, haufe_patterns
from perceptogram.linear.ridge import Ridge
from perceptogram.viz import plot_channel_time, plot_timecourse, plot_topomap_strip, save_figure

PLANTED = ("brightness", "hue", "texture", "size", "superclass")


def main(out: Path, workdir: Path) -> None:
    root = simulate_dataset(
        workdir / "things", n_subjects=1, n_train_concepts=120, images_per_concept=8,
        n_test_concepts=100, n_train_repetitions=4, n_test_repetitions=20, image_size=64,
        seed=3, signal_scale=2.0, write_images=False,
    )
    truth = load_ground_truth(root)
    train, test = prepare(*load_subject(root, 1))
    names = list(PLANTED) + list(truth.null_attributes)

    def latents(split):
        a = truth.attributes[split]
        return np.column_stack([a.get(f"feature_{n}", a[n]) for n in names]).astype(float)

    Y_train, Y_test = latents("train"), latents("test")
    decoder = Ridge(alpha=3e3).fit(train.X, Y_train)
    decoded = decoder.predict(test.X)
    encoder = LatentEncoder(alpha=1e3).fit(Y_train, train)
    patterns = encoder.project(decoded)
    post = truth.times >= -1e-9
    unit = np.eye(len(names))[[names.index(name) for name in PLANTED]]
    direction_maps = to_eeg_units(encoder.direction_maps(unit, names=PLANTED), train.scale)
    haufe_maps = to_eeg_units(haufe_patterns(decoder, train, unit, names=PLANTED), train.scale)

    print("decoding (test correlation per latent):")
    for n, r in zip(names, dimension_correlation(Y_test, decoded)):
        print(f"  {n:12s} r = {r:.3f}")
    print("recovery vs planted pattern (subject 1):")
    print(f"  {'attribute':12s} {'direction':>9s} {'haufe':>6s} {'contrast':>8s} "
          f"{'peak ms':>8s} {'planted':>8s} {'peak ch':>7s} {'planted':>7s}")
    for name in PLANTED:
        j = names.index(name)
        planted = truth.subjects[1].patterns[name][:, post]
        m, h = direction_maps[name], haufe_maps[name]
        grouping = split_grouping(Y_test[:, j], name, quantile=0.5)
        c = to_eeg_units(contrast(patterns, grouping, "high", "low"), train.scale).data[0]
        ch, t = np.unravel_index(np.argmax(np.abs(m)), m.shape)
        r = [float(np.corrcoef(x.ravel(), planted.ravel())[0, 1]) for x in (m, h, c)]
        print(f"  {name:12s} {r[0]:9.3f} {r[1]:6.3f} {r[2]:8.3f} "
              f"{train.times[t] * 1000:8.0f} {truth.latencies[name] * 1000:8.0f} "
              f"{train.ch_names[ch]:>7s} {truth.peak_channels[name]:>7s}")

    out.mkdir(parents=True, exist_ok=True)
    fig = plot_topomap_strip(direction_maps.data, direction_maps.ch_names,
                             direction_maps.times, names=direction_maps.names,
                             unit="EEG change per unit attribute",
                             title="Direction perceptograms (simulated subject 1)", size=0.55)
    save_figure(fig, out / "perceptograms_topomaps", formats=("png",), dpi=110)

    sup = truth.attributes["test"]["superclass"]
    grouping = categorical_grouping(sup, "superclass", order=("animate", "food"))
    cluster = group_cluster_test(test.as_channel_time(), grouping, "animate", "food",
                                 ch_names=train.ch_names, times=train.times,
                                 n_permutations=500, seed=0)
    recovered = to_eeg_units(contrast(patterns, grouping, "animate", "food"),
                             train.scale).data[0]
    planted = 2.0 * truth.subjects[1].patterns["superclass"][:, post]  # +1 vs -1
    print(f"animate - food cluster test on test EEG: min p = {cluster.min_p:.3f}, "
          f"{cluster.mask.sum()} significant samples")
    fig = plot_channel_time(np.stack([planted, recovered]), train.ch_names, train.times,
                            names=["planted animate − food", "recovered (perceptogram)"],
                            mask=np.stack([np.ones_like(cluster.mask), cluster.mask]),
                            unit="EEG (a.u.)")
    save_figure(fig, out / "perceptograms_planted_vs_recovered", formats=("png",), dpi=110)

    animate, food = np.flatnonzero(sup == "animate"), np.flatnonzero(sup == "food")
    n = min(len(animate), len(food))
    swap = time_swap_probe(decoder, test, np.column_stack([animate[:n], food[:n]]),
                           dims=[names.index("superclass")])
    peak = swap.centres[np.argmax(swap.progress.mean(axis=0))]
    print(f"time swap: largest move at window centre {peak * 1000:.0f} ms "
          f"(planted {truth.latencies['superclass'] * 1000:.0f} ms), "
          f"mean progress {swap.progress.mean(axis=0).max():.2f}")
    fig = plot_timecourse(swap.centres * 1000, {"animate into food": swap.progress},
                          ylabel="decoded superclass moved (0 = B, 1 = A)",
                          xlabel="centre of swapped 50 ms window (ms)", chance=0.0,
                          markers={"planted": truth.latencies["superclass"] * 1000},
                          title="Time-swap probe (mean, 95% CI over image pairs)")
    save_figure(fig, out / "time_swap", formats=("png",), dpi=110)
    for path in sorted(out.glob("*.png")):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to simulate (default: a temporary folder)")
    args = parser.parse_args()
    if args.workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            main(args.out, Path(tmp))
    else:
        main(args.out, args.workdir)
