"""Time the offline evaluation of 200 reconstructions on this machine.

200 generated images of 128 px against 500 px ground truths (the THINGS-EEG2
test-set size), with every metric that runs offline: PixCorr, SSIM, the shipped
EfficientNet-Lite0 (two-way identification and correlation distance) and the
latent metrics (200-way retrieval, per-dimension r / R², latent two-way). Also
compares the vectorised kernels with their naive per-image / per-pair
counterparts (skimage SSIM loop, double loop of ``np.corrcoef``).

Run: ``python benchmarks/bench_evaluate.py [--n-images 200]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("PERCEPTOGRAM_QUIET", "1")

from perceptogram.evaluate import (  # noqa: E402
    DEFAULT_NETWORKS,
    FeatureCache,
    evaluate_latents,
    evaluate_reconstructions,
    print_table,
)
from perceptogram.evaluate import metrics as M  # noqa: E402
from perceptogram.evaluate.image_pairs import resize  # noqa: E402


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _images(rng, n, size):
    coarse = rng.random((n, 8, 8, 3))
    out = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, 25):
        out[start : start + 25] = np.round(resize(coarse[start : start + 25], size) * 255)
    return out


def _naive_two_way(rec, gt):
    n = len(rec)
    scores = np.zeros(n)
    for i in range(n):
        own = np.corrcoef(rec[i], gt[i])[0, 1]
        scores[i] = sum(np.corrcoef(rec[i], gt[j])[0, 1] < own for j in range(n) if j != i)
    return scores / (n - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=200)
    args = parser.parse_args()
    n = args.n_images
    rng = np.random.default_rng(0)
    gt = _images(rng, n, 500)
    recon = np.clip(resize(gt, 128) + rng.normal(0, 0.15, (n, 128, 128, 3)), 0, 1)
    recon = np.round(recon * 255).astype(np.uint8)
    timings: list[tuple[str, float]] = []

    _, t = _timed(M.pixcorr_and_ssim, recon, gt)
    timings.append(("PixCorr + SSIM (425 px, one resize pass, vectorised)", t))

    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    def skimage_loop():
        scores = []
        for start in range(0, n, 16):
            for r, g in zip(resize(recon[start : start + 16], 425),
                            resize(gt[start : start + 16], 425)):
                scores.append(np.corrcoef(r.ravel(), g.ravel())[0, 1])
                scores.append(structural_similarity(
                    rgb2gray(r), rgb2gray(g), gaussian_weights=True, sigma=1.5,
                    use_sample_covariance=False, data_range=1.0))
        return scores

    _, t_loop = _timed(skimage_loop)
    timings.append(("PixCorr + SSIM (np.corrcoef / skimage per-image loop)", t_loop))

    cache = FeatureCache()
    rows, t = _timed(evaluate_reconstructions, recon, gt, subject=1, method="bench",
                     cache=cache)
    timings.append(("evaluate_reconstructions, default networks (1st subject)", t))
    _, t = _timed(evaluate_reconstructions, recon[::-1].copy(), gt, subject=2, method="bench",
                  cache=cache)
    timings.append(("  same, 2nd subject (ground-truth features cached)", t))

    from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

    lite = load_efficientnet_lite0()
    f_rec, f_gt = lite.embed(recon), lite.embed(gt)
    _, t_vec = _timed(M.two_way_identification, f_rec, f_gt)
    naive, t_naive = _timed(_naive_two_way, f_rec, f_gt)
    assert np.allclose(naive, M.two_way_identification(f_rec, f_gt))
    timings.append((f"two-way identification {n}x1280, vectorised", t_vec))
    timings.append((f"two-way identification {n}x1280, naive double loop", t_naive))

    true = rng.normal(size=(n, 1024)).astype(np.float32)
    decoded = 0.3 * true + rng.normal(size=true.shape).astype(np.float32)
    latent_rows, t = _timed(evaluate_latents, decoded, true, subject=1, method="bench")
    timings.append(("evaluate_latents, 1024-d (retrieval, r/R², two-way, CIs, p)", t))

    print(f"\n{n} reconstructions (128 px) vs ground truths (500 px), "
          f"{os.cpu_count()} CPU cores, torch threads {__import__('torch').get_num_threads()}")
    for name, seconds in timings:
        print(f"  {name:<62s} {seconds:8.2f} s")
    print(f"  ratio per-image loop / vectorised PixCorr + SSIM: {t_loop / timings[0][1]:.1f}")
    print(f"  ratio naive double loop / vectorised two-way: {t_naive / t_vec:.0f}")
    print("\nMetrics (networks default list:", ", ".join(DEFAULT_NETWORKS), ")")
    print_table(rows + latent_rows, title="Which metrics ran here")


if __name__ == "__main__":
    main()
