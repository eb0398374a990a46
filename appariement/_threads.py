"""Thread control for the small numerical problems of the library (threadpoolctl)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

__all__ = ["single_blas_thread"]


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (OpenBLAS, MKL...), then restore the previous counts.

    The problems solved here are small (the counterfactual's models: hundreds of columns at most;
    the output checker's systems of published cells): threads cost more than they bring, and on
    a busy machine they thrash (a 130 x 130 solve went from 0.1 ms to 7 ms; the output checker of
    a small report from 2.7 s to 25 s). Nothing global is left changed.

    Examples:
        >>> import numpy as np
        >>> with single_blas_thread():
        ...     float(np.linalg.solve(np.eye(2), np.ones(2)).sum())
        2.0
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
