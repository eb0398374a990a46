"""Throughput of keyed pseudonyms (HMAC-SHA256 -> base32), single core.

Measures ``Pseudonymiser.pseudonymise`` on an Arrow array of synthetic 15-character NIR-like
strings (target: >= 1M values/s/core), and for comparison the naive per-value paths
(``hmac.digest`` one-shot, ``cryptography``'s HMAC object) on a sample.

Usage:
    .venv/bin/python benchmarks/bench_hmac.py --n 10000000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac as std_hmac
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _nir_like(n: int, seed: int) -> pa.Array:
    """n distinct-ish 15-digit NIR-shaped strings, built in Arrow (no Python loop)."""
    rng = np.random.default_rng(seed)
    numbers = rng.integers(10**14, 3 * 10**14, size=n, dtype=np.int64)
    return pc.cast(pa.array(numbers), pa.string())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="values to pseudonymise")
    parser.add_argument("--length", type=int, default=26, help="characters per pseudonym")
    parser.add_argument("--naive-sample", type=int, default=200_000,
                        help="values for the per-value comparison paths")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import hmac as crypto_hmac

    from appariement.crypto import Pseudonymiser, generate_key

    values = _nir_like(args.n, args.seed)
    pseudonymiser = Pseudonymiser(generate_key(), project="bench", length=args.length)
    start, cpu_start = time.perf_counter(), time.process_time()
    codes = pseudonymiser.pseudonymise(values)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert len(codes) == args.n and codes.null_count == 0
    # CPU time is what the process actually got: on a shared machine, wall time also counts
    # the time other processes held the core.
    print(f"Pseudonymiser.pseudonymise: {args.n:,} values in {seconds:.2f} s wall, "
          f"{cpu:.2f} s CPU = {args.n / seconds / 1e6:.2f} M values/s wall, "
          f"{args.n / cpu / 1e6:.2f} M values/s per CPU-second (single-threaded)")

    sample = [v.encode() for v in values.slice(0, args.naive_sample).to_pylist()]
    key = b"k" * 32
    start = time.process_time()
    for v in sample:
        hashlib.sha256(v).digest()
    seconds = time.process_time() - start
    print(f"unkeyed sha256 per value (floor, NOT a pseudonym): "
          f"{len(sample) / seconds / 1e6:.2f} M values/s per CPU-second")
    from appariement.crypto._hazmat import BatchHmacSha256
    start = time.process_time()
    BatchHmacSha256(key).digest_many(sample)
    seconds = time.process_time() - start
    print(f"pre-keyed batch HMAC core:    {len(sample) / seconds / 1e6:.2f} M values/s per "
          "CPU-second (what Pseudonymiser uses)")
    start = time.process_time()
    for v in sample:
        std_hmac.digest(key, v, "sha256")
    seconds = time.process_time() - start
    print(f"hmac.digest per value:        {len(sample) / seconds / 1e6:.2f} M values/s per "
          "CPU-second")
    start = time.process_time()
    for v in sample:
        h = crypto_hmac.HMAC(key, hashes.SHA256())
        h.update(v)
        h.finalize()
    seconds = time.process_time() - start
    print(f"cryptography HMAC per value:  {len(sample) / seconds / 1e6:.2f} M values/s per "
          "CPU-second")


if __name__ == "__main__":
    main()
