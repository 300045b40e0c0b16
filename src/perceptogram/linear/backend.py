"""Array backends for the ridge solvers: NumPy (default) and PyTorch (CPU or CUDA).

The solvers in :mod:`perceptogram.linear.solvers` are written once against the
small set of operations below plus the operators both libraries share (``@``,
``*``, ``+``, slicing, in-place updates). PyTorch is imported only when the torch
backend is requested, so the NumPy path never loads it.

Two precisions are used: the *working* dtype (float32 by default, float64 on
request) for the products whose size grows with the number of targets, and
float64 for the small matrix decompositions (Gram matrices, eigendecompositions),
which keeps the selected regularisation stable on ill-conditioned EEG.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from perceptogram._threads import limited_threads, thread_share, usable_cpus
from perceptogram.errors import require

T = TypeVar("T")
R = TypeVar("R")

_DTYPES = {"float32": np.float32, "float64": np.float64}

#: Smallest factor for which the NumPy backend uses a BLAS triangular product.
TRMM_MIN_SIZE = 1024


def zero_small_eigvals(eigvals: Any) -> Any:
    """Set eigenvalues below the numerical rank tolerance to exactly zero.

    An eigenvalue below ``max(eigvals) * r * eps`` (``r`` the matrix size, ``eps``
    the float64 machine epsilon, the tolerance of :func:`numpy.linalg.matrix_rank`)
    is rounding noise of a zero eigenvalue, e.g. the constant direction of a
    centred kernel matrix; left in place it shifts leave-one-out errors.

    Parameters
    ----------
    eigvals : array, shape (r,)
        Non-negative eigenvalues (NumPy array or torch tensor).

    Returns
    -------
    array, shape (r,)
        The same array, modified in place.
    """
    if eigvals.shape[0] == 0:
        return eigvals
    tol = float(eigvals.max()) * eigvals.shape[0] * np.finfo(np.float64).eps
    eigvals[eigvals <= tol] = 0.0
    return eigvals


class NumpyBackend:
    """NumPy (and SciPy BLAS) implementation of the solver operations.

    Parameters
    ----------
    dtype : {"float32", "float64"}
        Working precision of target-sized products.
    """

    name = "numpy"

    def __init__(self, dtype: str = "float32") -> None:
        self.dtype = _DTYPES[dtype]
        self.float64 = np.float64

    def asarray(self, x: Any, dtype: Any = None) -> np.ndarray:
        """Convert ``x`` to an array of ``dtype`` (default: the working dtype)."""
        return np.asarray(x, dtype=self.dtype if dtype is None else dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Return ``x`` as a NumPy array."""
        return np.asarray(x)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype if dtype is None else dtype)

    def eye(self, n: int, dtype: Any = None) -> np.ndarray:
        return np.eye(n, dtype=self.dtype if dtype is None else dtype)

    def eigh(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigendecomposition of a symmetric matrix, eigenvalues clipped at 0.

        Runs single-threaded: LAPACK's tridiagonal reduction is a long chain of
        small BLAS-2 calls whose thread synchronisation costs more than it gains
        (up to 10x slower on a busy machine).
        """
        with threadpool_limits(1):
            eigvals, eigvecs = np.linalg.eigh(a)
        return zero_small_eigvals(np.clip(eigvals, 0.0, None)), eigvecs

    def eigh_many(self, matrices: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`eigh` of several matrices, one single-threaded LAPACK call per core."""
        return self.map_single_threaded(self.eigh, matrices)

    def workers(self) -> int:
        """Items :meth:`map_single_threaded` runs at once now: this process's thread share."""
        return max(1, thread_share())

    def map_single_threaded(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, items in parallel, each on single-threaded BLAS.

        As many items at once as this process's share of threads
        (:func:`perceptogram._threads.thread_share`, read again as items finish:
        a unit left alone by the executor takes over the cores handed back).
        Independent medium-sized products run faster this way than one after
        another on multi-threaded BLAS: OpenBLAS's threads synchronise on every
        call, and right after a large multi-threaded product they run a triangular
        product of a 1,360 x 1,360 factor up to 3x slower than one thread does.
        """
        items = list(items)
        if len(items) <= 1 or usable_cpus() <= 1:
            return [fn(item) for item in items]
        results: list[Any] = [None] * len(items)
        queue = list(enumerate(items))[::-1]
        with limited_threads(1), ThreadPoolExecutor(usable_cpus()) as pool:
            running: dict[Any, int] = {}
            while queue or running:
                while queue and len(running) < max(1, thread_share()):
                    index, item = queue.pop()
                    running[pool.submit(fn, item)] = index
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    results[running.pop(future)] = future.result()
        return results

    def square_factor(self, q: np.ndarray) -> tuple[np.ndarray, bool]:
        """Return ``(F, upper)`` with ``F.T @ F == q`` for a PSD matrix ``q``.

        ``F`` is the upper Cholesky factor when ``q`` is positive definite
        (``upper=True``), otherwise ``sqrt(lambda) * eigvecs.T`` of its
        eigendecomposition.
        """
        try:
            with threadpool_limits(1):
                return np.asfortranarray(np.linalg.cholesky(q).T), True
        except np.linalg.LinAlgError:
            eigvals, eigvecs = self.eigh(q)
            return np.sqrt(eigvals)[:, None] * eigvecs.T, False

    def cho_factor(self, a: np.ndarray, shift: float) -> np.ndarray | None:
        """Lower Cholesky factor of ``a + shift * I``, overwriting ``a``.

        Returns ``None`` when the shifted matrix is not numerically positive definite.
        """
        from scipy.linalg import cho_factor

        a.flat[::a.shape[0] + 1] += shift
        try:
            return cho_factor(a, lower=True, overwrite_a=True, check_finite=False)[0]
        except np.linalg.LinAlgError:
            return None

    def cho_solve(self, factor: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Solve ``L L^T x = b`` for the lower factor ``L`` of :meth:`cho_factor`."""
        from scipy.linalg import cho_solve

        return cho_solve((factor, True), b, check_finite=False)

    def factor_matmul(self, factor: np.ndarray, upper: bool, b: np.ndarray,
                      scratch: bool = False) -> np.ndarray:
        """Compute ``factor @ b``.

        With an upper-triangular ``factor`` of at least :data:`TRMM_MIN_SIZE` rows
        the BLAS triangular product is used (half the work of a general product;
        OpenBLAS's is slower than a general product below that size). Pass
        Fortran-ordered ``factor`` and ``b`` of the same dtype to avoid copies;
        ``scratch=True`` lets the product overwrite ``b`` (no new allocation).
        """
        if upper and factor.shape[0] >= TRMM_MIN_SIZE and factor.dtype == b.dtype:
            from scipy.linalg import blas

            trmm = blas.strmm if factor.dtype == np.float32 else blas.dtrmm
            return trmm(1.0, factor, b, side=0, lower=0, trans_a=0, diag=0,
                        overwrite_b=scratch)
        return factor @ b

    def col_sumsq(self, x: np.ndarray) -> np.ndarray:
        """Sum of squares of each column, shape ``(x.shape[1],)``."""
        return np.einsum("ij,ij->j", x, x)

    def argmin(self, x: np.ndarray, axis: int) -> np.ndarray:
        """Index of the first minimum along ``axis``."""
        return np.argmin(x, axis=axis)


class TorchBackend:
    """PyTorch implementation of the solver operations (CPU or CUDA).

    Parameters
    ----------
    dtype : {"float32", "float64"}
        Working precision of target-sized products.
    device : str or None
        Torch device, e.g. ``"cpu"`` (default) or ``"cuda"``.
    """

    name = "torch"

    def __init__(self, dtype: str = "float32", device: str | None = None) -> None:
        self.torch = require("torch", purpose="the torch ridge backend")
        self.dtype = getattr(self.torch, dtype)
        self.float64 = self.torch.float64
        self.device = self.torch.device(device or "cpu")

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        dtype = self.dtype if dtype is None else dtype
        if isinstance(x, np.ndarray):
            if not x.flags.writeable or x.dtype.byteorder not in ("=", "|"):
                x = np.array(x)
            x = self.torch.from_numpy(x)
        return self.torch.as_tensor(x, dtype=dtype, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self.torch.zeros(shape, dtype=self.dtype if dtype is None else dtype,
                                device=self.device)

    def eye(self, n: int, dtype: Any = None) -> Any:
        return self.torch.eye(n, dtype=self.dtype if dtype is None else dtype,
                              device=self.device)

    def eigh(self, a: Any) -> tuple[Any, Any]:
        eigvals, eigvecs = self.torch.linalg.eigh(a)
        return zero_small_eigvals(eigvals.clamp(min=0.0)), eigvecs

    def eigh_many(self, matrices: list[Any]) -> list[tuple[Any, Any]]:
        return [self.eigh(m) for m in matrices]

    def workers(self) -> int:
        return 1

    def map_single_threaded(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]`` in order (torch parallelises inside each call)."""
        return [fn(item) for item in items]

    def square_factor(self, q: Any) -> tuple[Any, bool]:
        chol, info = self.torch.linalg.cholesky_ex(q)
        if int(info) == 0:
            return chol.T.contiguous(), True
        eigvals, eigvecs = self.eigh(q)
        return eigvals.sqrt()[:, None] * eigvecs.T, False

    def cho_factor(self, a: Any, shift: float) -> Any:
        a.diagonal().add_(shift)
        chol, info = self.torch.linalg.cholesky_ex(a)
        return chol if int(info) == 0 else None

    def cho_solve(self, factor: Any, b: Any) -> Any:
        return self.torch.cholesky_solve(b, factor)

    def factor_matmul(self, factor: Any, upper: bool, b: Any, scratch: bool = False) -> Any:
        return factor @ b

    def col_sumsq(self, x: Any) -> Any:
        return (x * x).sum(0)

    def argmin(self, x: Any, axis: int) -> Any:
        return self.torch.argmin(x, dim=axis)


Backend = NumpyBackend | TorchBackend


def get_backend(backend: str = "numpy", dtype: str = "float32",
                device: str | None = None) -> Backend:
    """Return the backend object for ``backend`` in precision ``dtype``.

    Parameters
    ----------
    backend : {"numpy", "torch"}
    dtype : {"float32", "float64"}
    device : str or None
        Only for ``backend="torch"`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(
                f"device={device!r} needs backend='torch'; the numpy backend runs on the CPU"
            )
        return NumpyBackend(dtype)
    if backend == "torch":
        return TorchBackend(dtype, device)
    raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
