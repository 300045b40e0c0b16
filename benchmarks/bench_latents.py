"""Encoding throughput of the offline latent spaces on this machine's CPU.

Encodes procedural stimuli (the simulator's, ``--n-images`` at ``--size`` px) with
``effnet``, ``pca`` and ``attributes``, and sets the pixel PCA beside scikit-learn
(one-shot ``PCA`` and batch ``IncrementalPCA`` fits on the same pixels).

Run: ``python benchmarks/bench_latents.py [--n-images 256] [--size 128]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("PERCEPTOGRAM_QUIET", "1")


def make_images(n_images: int, size: int, seed: int = 0) -> np.ndarray:
    """Random simulator stimuli, uint8 (n_images, size, size, 3)."""
    from perceptogram.data.simulate import stimuli

    rng = np.random.default_rng(seed)
    n_concepts = -(-n_images // 4)
    classes = stimuli.OBJECT_CLASSES
    categories = [classes[i % len(classes)].name for i in range(n_concepts)]
    attrs = stimuli.sample_attributes(categories, 4, rng)
    keys = ("category", "hue", "texture", "brightness", "size", "position_x", "orientation")
    return np.stack([
        stimuli.render_stimulus(*(attrs[k][i] for k in keys), image_size=size)
        for i in range(n_images)
    ])


def timed(function, repeat: int = 3) -> float:
    """Best wall time (s) of ``repeat`` calls."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pca-size", type=int, default=64)
    parser.add_argument("--pca-components", type=int, default=128)
    args = parser.parse_args()

    import torch
    from sklearn.decomposition import PCA, IncrementalPCA

    from perceptogram.latents.attributes import ImageAttributes
    from perceptogram.latents.effnet import EffNetSpace
    from perceptogram.latents.pca import PixelPCA

    images = make_images(args.n_images, args.size)
    n = len(images)
    print(f"{n} images of {args.size} px, torch threads: {torch.get_num_threads()}")

    effnet = EffNetSpace(batch_size=32)
    effnet.encode(images[:2])  # load the weights outside the timing
    seconds = timed(lambda: effnet.encode(images), repeat=1)
    print(f"effnet encode (224 px input, batch 32): {n / seconds:8.1f} images/s")

    attributes = ImageAttributes()
    seconds = timed(lambda: attributes.encode(images))
    print(f"attributes encode (128 px):             {n / seconds:8.1f} images/s")

    pca = PixelPCA(n_components=args.pca_components, image_size=args.pca_size, batch_size=64)
    fit_seconds = timed(lambda: pca.fit(images), repeat=1)
    encode_seconds = timed(lambda: pca.encode(images))
    print(f"pca fit ({args.pca_size} px, k={pca.dim}, streaming):  {n / fit_seconds:8.1f} images/s")
    print(f"pca encode:                             {n / encode_seconds:8.1f} images/s")

    from perceptogram.data.core.image_files import resize_images

    pixels = resize_images(images, args.pca_size).reshape(n, -1).astype(np.float64) / 255.0
    sk_full = PCA(n_components=pca.dim, svd_solver="full")
    sk_fit = timed(lambda: sk_full.fit(pixels), repeat=1)
    sk_incremental = IncrementalPCA(n_components=pca.dim, batch_size=max(64, pca.dim))
    inc_fit = timed(lambda: sk_incremental.fit(pixels), repeat=1)
    sk_encode = timed(lambda: sk_full.transform(pixels))
    print(
        f"  vs scikit-learn PCA(full) fit:  {n / sk_fit:8.1f} images/s "
        f"(perceptogram / sklearn = {sk_fit / fit_seconds:.2f}x; "
        "sklearn holds all pixels in memory)"
    )
    print(
        f"  vs IncrementalPCA fit:          {n / inc_fit:8.1f} images/s "
        f"({inc_fit / fit_seconds:.2f}x)"
    )
    print(
        f"  vs PCA.transform (pixels already resized): {n / sk_encode:8.1f} images/s "
        f"({sk_encode / encode_seconds:.2f}x)"
    )


if __name__ == "__main__":
    main()
