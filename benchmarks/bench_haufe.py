"""Time joint Haufe patterns against the textbook formula MNE's ``LinearModel`` uses.

Both compute ``A = Cov(X) W Cov(Yhat)^+`` for a ridge decoder of K latent dimensions
from THINGS-EEG2-sized features (17 channels x 80 samples = 1,360). The peer forms
the p x p covariance and the K x K pseudo-inverse
(``np.cov(X.T) @ W.T @ np.linalg.pinv(np.cov(Yhat.T))``, as
``mne.decoding.LinearModel.fit`` does with the targets it is given); ours
(:func:`perceptogram.linear.patterns.haufe_patterns`) inverts only a
``min(p, K)``-sized matrix after a thin SVD of the filters. Prints the time of each,
their ratio and the largest difference.

Run: ``python benchmarks/bench_haufe.py [--n 4000] [--k 512 2048]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from perceptogram.linear.patterns import haufe_patterns
from perceptogram.linear.ridge import Ridge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="training images")
    parser.add_argument("--k", type=int, nargs="+", default=[512, 2048],
                        help="latent dimensions (directions)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ch_names, times = [f"ch{i}" for i in range(17)], np.arange(80) / 100
    X = rng.standard_normal((args.n, 17 * 80))
    for k in args.k:
        Y = X[:, :64] @ rng.standard_normal((64, k)) + rng.standard_normal((args.n, k))
        decoder = Ridge(100.0, dtype="float64").fit(X, Y)
        start = time.perf_counter()
        ours = haufe_patterns(decoder, X, ch_names=ch_names, times=times).data.reshape(k, -1)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        yhat = X @ decoder.coef_.T
        peer = (np.cov(X.T) @ decoder.coef_.T @ np.linalg.pinv(np.cov(yhat.T))).T
        t_peer = time.perf_counter() - start
        diff = np.abs(ours - peer).max() / np.abs(peer).max()
        print(f"K={k:5d}  ours {t_ours:7.2f} s  textbook/MNE {t_peer:7.2f} s  "
              f"ratio {t_peer / t_ours:5.2f}x  max rel. difference {diff:.1e}")


if __name__ == "__main__":
    main()
