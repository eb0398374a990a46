"""Benchmark the synthetic generator: seconds and peak RSS for a given size.

Usage:
    .venv/bin/python benchmarks/bench_synth.py --candidates 100000 [--source-ratio 10]
        [--seed 1] [--out DIR]

Without ``--out`` the data are generated in memory only; with it they are also written.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--source-ratio", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the files to this folder")
    parser.add_argument("--write", action="store_true", help="write to a temporary folder")
    args = parser.parse_args(argv)

    from appariement.synth import SynthConfig, generate

    start = time.perf_counter()
    data = generate(SynthConfig(n_candidates=args.candidates, source_ratio=args.source_ratio,
                                seed=args.seed))
    gen_s = time.perf_counter() - start
    write_s = None
    if args.out or args.write:
        out = args.out or tempfile.mkdtemp(prefix="bench_synth_")
        t = time.perf_counter()
        data.write(out)
        write_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"candidates={args.candidates} source_persons={data.source['personnes'].num_rows} "
          f"spells={data.source['periodes_emploi'].num_rows} generate_s={gen_s:.1f} "
          f"write_s={write_s if write_s is None else round(write_s, 1)} peak_rss_mb={peak_mb:.0f}")
    for name, seconds in data.timings.items():
        print(f"  {name}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
