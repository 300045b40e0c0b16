"""Encoding throughput of the offline latent spaces on this machine's CPU, against a plain
torch loop and against the machine's measured floating-point rate.

All in one process:

1. The machine: float32 matrix-product rate (``torch.mm``, 2048 x 2048) on one thread and
   on every usable core.
2. EfficientNet-Lite0's cost per picture: multiply-adds of every convolution at 224 px
   (counted from the layer shapes), as floating-point operations (2 per multiply-add).
3. The peer: a plain torch loop over the package's own module (``efficientnet-lite-pytorch``,
   channels first, batch norms, ``F.pad``), batches of ``--batch`` decoded pictures,
   ``torch.no_grad``, torch's default threads -- first with glibc's default allocator, then
   after :func:`perceptogram._threads.tune_process` (the kernel-time fix on its own).
4. Ours: ``effnet`` through :func:`~perceptogram.latents.cache.encode_cached` from JPEG files
   (decoding, resizing and the forward pass pipelined, batches encoded concurrently on
   single-threaded torch), and ``EffNetSpace.encode`` on the same decoded pictures.
5. The practical limit: pictures/s x FLOPs per picture against the measured rate.
6. ``attributes`` and ``pca`` (fit and encode; scikit-learn ``PCA`` and ``IncrementalPCA``
   beside the pixel PCA).

Each timing prints wall pictures/s, pictures/s per core, CPU ms per picture, kernel (sys)
ms per picture and minor page faults per picture.

Run: ``python benchmarks/bench_latents.py [--n-images 512] [--size 128] [--batch 32]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

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


class Meter:
    """Wall time, CPU time (user, sys) and minor page faults of a block of code."""

    def __enter__(self) -> Meter:
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.user = usage.ru_utime - self._usage.ru_utime
        self.sys = usage.ru_stime - self._usage.ru_stime
        self.faults = usage.ru_minflt - self._usage.ru_minflt

    def line(self, label: str, n: int, cores: int) -> str:
        rate = n / self.wall
        return (f"{label:<44} {rate:7.1f} pictures/s  {rate / cores:6.1f} per core  "
                f"cpu {1000 * (self.user + self.sys) / n:6.1f} ms  sys {1000 * self.sys / n:5.2f} ms"
                f"  faults {self.faults / n:7.0f} per picture")


def matmul_gflops(threads: int, size: int = 2048, repeat: int = 5) -> float:
    """Best float32 ``torch.mm`` rate (GFLOPS) on ``threads`` threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 2 * size**3 / best / 1e9


def lite0_flops(image_size: int = 224) -> tuple[float, float]:
    """EfficientNet-Lite0's feature extractor: (model FLOPs, FLOPs our graph executes) per
    picture, 2 per multiply-add, from the convolution shapes (the kernel-folded padding
    of the strided convolutions makes ours slightly larger)."""
    from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

    net = load_efficientnet_lite0()
    model, graph = net.model, net.inference
    layers = [(model._conv_stem, graph.stem)]  # (convolution, our spatial layer or None)
    for block, (expand, depthwise, _, _) in zip(model._blocks, graph.blocks):
        if expand is not None:
            layers.append((block._expand_conv, None))
        layers += [(block._depthwise_conv, depthwise), (block._project_conv, None)]
    layers.append((model._conv_head, None))
    side, model_macs, our_macs = image_size, 0, 0
    for conv, ours in layers:
        out = -(-side // conv.stride[0])
        per_output = out * out * conv.out_channels * (conv.in_channels // conv.groups)
        kernel = conv.kernel_size[0]
        our_kernel = kernel if ours is None else ours.weight.shape[-1]
        model_macs += per_output * kernel**2
        our_macs += per_output * our_kernel**2
        side = out
    return 2.0 * model_macs, 2.0 * our_macs


def plain_torch_loop(images: np.ndarray, batch: int) -> None:
    """The peer: the package's module as its README would run it, batch by batch."""
    import torch

    from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

    net = load_efficientnet_lite0()
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = net.preprocess(images[start : start + batch])
            net.model.extract_features(x).mean(dim=(2, 3)).numpy()


def write_jpegs(images: np.ndarray, folder: Path) -> list[Path]:
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths


def effnet_section(images: np.ndarray, batch: int, cores: int, folder: Path) -> None:
    import torch

    from perceptogram._threads import tune_process
    from perceptogram.data.core.image_files import resize_images
    from perceptogram.latents.cache import encode_cached
    from perceptogram.latents.effnet import EffNetSpace

    n = len(images)
    at_224 = resize_images(images, 224)
    one, every = matmul_gflops(1), matmul_gflops(cores)
    flops, flops_ours = lite0_flops()
    print(f"machine: {cores} usable cores; float32 matrix product {one:.0f} GFLOPS on one "
          f"thread, {every:.0f} GFLOPS on {cores}")
    print(f"EfficientNet-Lite0 at 224 px: {flops / 1e9:.3f} GFLOP per picture "
          f"(our graph executes {flops_ours / 1e9:.3f}: padding folded into the kernels)")
    print(f"\neffnet, {n} pictures, batches of {batch}, torch threads "
          f"{torch.get_num_threads()}:")
    plain_torch_loop(at_224[: 2 * batch], batch)  # warm-up
    with Meter() as plain:
        plain_torch_loop(at_224, batch)
    print(plain.line("plain torch loop (peer), default allocator", n, cores))
    tune_process()
    plain_torch_loop(at_224[: 2 * batch], batch)
    with Meter() as plain_tuned:
        plain_torch_loop(at_224, batch)
    print(plain_tuned.line("plain torch loop, allocator tuned", n, cores))

    space = EffNetSpace(batch_size=batch)
    space.encode(images[:batch])
    with Meter() as memory:
        space.encode(at_224)
    print(memory.line("ours: EffNetSpace.encode (decoded pictures)", n, cores))
    paths = write_jpegs(images, folder)
    with Meter() as cached:
        encode_cached(space, paths, folder / "cache", batch_size=batch)
    print(cached.line("ours: encode_cached from JPEG files", n, cores))
    print(f"  ours / plain torch loop: {plain.wall / cached.wall:.2f}x faster from files, "
          f"{plain.wall / memory.wall:.2f}x on decoded pictures; kernel time per picture "
          f"{1000 * plain.sys / n:.2f} -> {1000 * cached.sys / n:.2f} ms")
    achieved = flops * n / memory.wall / 1e9
    print(f"  practical limit: {achieved:.0f} GFLOPS achieved on decoded pictures "
          f"({flops / 1e9:.3f} GFLOP x {n / memory.wall:.0f} pictures/s) = "
          f"{100 * achieved / every:.0f}% of the measured matrix-product rate ({every:.0f} "
          f"GFLOPS); at that rate the network alone would allow {every * 1e9 / flops:.0f} "
          "pictures/s. Depthwise convolutions and activations are bound by memory traffic, "
          "not arithmetic, so the matrix-product rate is an upper bound no CNN reaches.")


def other_spaces(images: np.ndarray, args: argparse.Namespace, cores: int) -> None:
    from sklearn.decomposition import PCA, IncrementalPCA

    from perceptogram.data.core.image_files import resize_images
    from perceptogram.latents.attributes import ImageAttributes
    from perceptogram.latents.pca import PixelPCA

    n = len(images)
    print(f"\nother spaces, {n} decoded pictures of {args.size} px, batches of {args.batch}:")
    attributes = ImageAttributes()
    attributes.encode(images[:8])
    with Meter() as meter:
        for start in range(0, n, args.batch):
            attributes.encode(images[start : start + args.batch])
    print(meter.line("attributes encode", n, cores))

    pca = PixelPCA(n_components=args.pca_components, image_size=args.pca_size, batch_size=64)
    with Meter() as fit:
        pca.fit(images)
    print(fit.line(f"pca fit ({args.pca_size} px, k={pca.dim}, streaming)", n, cores))
    with Meter() as encode:
        pca.encode(images)
    print(encode.line("pca encode", n, cores))

    pixels = resize_images(images, args.pca_size).reshape(n, -1).astype(np.float64) / 255.0
    sk_full = PCA(n_components=pca.dim, svd_solver="full")
    with Meter() as sk_fit:
        sk_full.fit(pixels)
    sk_incremental = IncrementalPCA(n_components=pca.dim, batch_size=max(64, pca.dim))
    with Meter() as inc_fit:
        sk_incremental.fit(pixels)
    with Meter() as sk_encode:
        sk_full.transform(pixels)
    print(f"  vs scikit-learn PCA(full) fit: {n / sk_fit.wall:8.1f} pictures/s "
          f"(ours / sklearn = {sk_fit.wall / fit.wall:.2f}x; sklearn holds all pixels in memory)")
    print(f"  vs IncrementalPCA fit:         {n / inc_fit.wall:8.1f} pictures/s "
          f"({inc_fit.wall / fit.wall:.2f}x)")
    print(f"  vs PCA.transform (pixels already resized): {n / sk_encode.wall:8.1f} pictures/s "
          f"({sk_encode.wall / encode.wall:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=512)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--pca-size", type=int, default=64)
    parser.add_argument("--pca-components", type=int, default=128)
    parser.add_argument("--skip-effnet", action="store_true")
    args = parser.parse_args()

    from perceptogram._threads import usable_cpus

    cores = usable_cpus()
    images = make_images(args.n_images, args.size)
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute load average)")
    if not args.skip_effnet:
        with tempfile.TemporaryDirectory(prefix="bench-latents-") as tmp:
            effnet_section(images, args.batch, cores, Path(tmp))
    other_spaces(images, args, cores)


if __name__ == "__main__":
    main()
