"""Benchmark helpers for data the library was not tuned on.

- :mod:`.world`: a second synthetic generator (population, error model, NIR), written apart from
  ``appariement.synth``;
- :mod:`.datasets`: FEBRL4, the second generator's files and derived shapes, renamed to the
  library's input columns with a user-style mapping;
- :mod:`.methods`: the runs measured by ``benchmarks/bench_unseen.py`` (appariement, PPRL, a plain
  Splink 5 job).
"""
