"""Evaluate identity standardisation on the synthetic data (needs appariement.synth).

Two measurements on the true pairs (truth/links) of a synthetic extract:

1. share of true pairs that agree EXACTLY on (surname, first name, birth date), with
   (a) naive features: upper-cased, trimmed raw fields (surname vs birth or usage name, whole
   first-names field, raw date text), and (b) the standardised features of
   ``standardise_identities`` (birth or usage name, first name or its canonical spelling,
   year/month/day);
2. phonetic encodings of the standardised birth names: Soundex2 (ours, 4 letters and
   unlimited) vs jellyfish's Soundex and Metaphone: agreement rate on true pairs whose names
   differ (recall gained over exact), and false agreement rate on random non-pairs born the same
   year (a blocking-like negative set). Score = recall - false agreement rate.

Usage:
    .venv/bin/python benchmarks/eval_identity.py --candidates 5000 --seed 1
"""

from __future__ import annotations

import argparse
import time

import duckdb
import jellyfish
import numpy as np

from appariement.identity import standardise_identities
from appariement.identity.phonetic import soundex2


def _per_word(encode):
    def run(name):
        if name is None:
            return None
        return " ".join(encode(w) for w in name.split(" "))
    return run


ENCODINGS = {
    "soundex2 (4 letters/word)": lambda n: soundex2(n, 4),
    "soundex2 (unlimited)": lambda n: soundex2(n, None),
    "jellyfish.soundex": _per_word(jellyfish.soundex),
    "jellyfish.metaphone": _per_word(jellyfish.metaphone),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from appariement.synth import SynthConfig, generate

    start = time.perf_counter()
    data = generate(SynthConfig(n_candidates=args.candidates, seed=args.seed))
    con = duckdb.connect()
    con.register("cand", data.platform["candidats"])
    con.register("pers", data.source["personnes"])
    con.register("links", data.truth["links"])
    standardise_identities(con, con.table("cand"), "platform").to_table("fc")
    standardise_identities(con, con.table("pers"), "source").to_table("fp")
    n_links = con.sql("SELECT count(*) FROM links").fetchall()[0][0]

    naive = con.sql("""
        SELECT avg(CAST(
            upper(trim(c.nom)) IN (upper(trim(p.nom_naissance)), upper(trim(p.nom_usage)))
            AND upper(trim(c.prenoms)) = upper(trim(p.prenoms))
            AND trim(c.date_naissance) = trim(p.date_naissance) AS INTEGER)),
            avg(CAST(upper(trim(c.nom)) IN (upper(trim(p.nom_naissance)),
                                            upper(trim(p.nom_usage))) AS INTEGER)),
            avg(CAST(upper(trim(c.prenoms)) = upper(trim(p.prenoms)) AS INTEGER)),
            avg(CAST(trim(c.date_naissance) = trim(p.date_naissance) AS INTEGER))
        FROM links l JOIN cand c USING (candidat_id) JOIN pers p USING (person_id)
    """).fetchall()[0]
    std = con.sql("""
        WITH m AS (
            SELECT coalesce(list_has_any([c.birth_name, c.usage_name],
                                         [p.birth_name, p.usage_name]), false) AS name_ok,
                   coalesce(c.first_name = p.first_name
                            OR c.first_name_canon = p.first_name_canon, false) AS first_ok,
                   coalesce(c.birth_year = p.birth_year
                            AND c.birth_month IS NOT DISTINCT FROM p.birth_month
                            AND c.birth_day IS NOT DISTINCT FROM p.birth_day, false) AS date_ok
            FROM links l JOIN fc c ON c.record_id = l.candidat_id
                         JOIN fp p ON p.record_id = l.person_id)
        SELECT avg(CAST(name_ok AND first_ok AND date_ok AS INTEGER)),
               avg(CAST(name_ok AS INTEGER)), avg(CAST(first_ok AS INTEGER)),
               avg(CAST(date_ok AS INTEGER))
        FROM m
    """).fetchall()[0]
    print(f"synthetic: {args.candidates} candidates, seed {args.seed}, {n_links} true pairs "
          f"(generated + standardised in {time.perf_counter() - start:.1f} s)")
    print("exact agreement on (surname, first name, birth date) among true pairs:")
    print(f"  naive upper-casing : {naive[0]:.1%}  (surname {naive[1]:.1%}, first names "
          f"{naive[2]:.1%}, date {naive[3]:.1%})")
    print(f"  standardised       : {std[0]:.1%}  (surname {std[1]:.1%}, first name "
          f"{std[2]:.1%}, date {std[3]:.1%})")

    positives = con.sql("""
        SELECT c.birth_name, p.birth_name FROM links l
        JOIN fc c ON c.record_id = l.candidat_id JOIN fp p ON p.record_id = l.person_id
        WHERE c.birth_name IS NOT NULL AND p.birth_name IS NOT NULL
          AND c.birth_name <> p.birth_name""").fetchall()
    rng = np.random.default_rng(args.seed)
    negatives = con.sql(f"""
        SELECT c.birth_name, p.birth_name FROM fc c JOIN fp p USING (birth_year)
        WHERE c.birth_name IS NOT NULL AND p.birth_name IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM links l WHERE l.candidat_id = c.record_id
                          AND l.person_id = p.record_id)
        USING SAMPLE 20000 ROWS (reservoir, {int(rng.integers(1 << 30))})""").fetchall()
    print(f"phonetic codes of birth names: {len(positives)} true pairs whose normalised names "
          f"differ, {len(negatives)} random same-year non-pairs")
    best = None
    for label, encode in ENCODINGS.items():
        recall = np.mean([encode(a) == encode(b) for a, b in positives]) if positives else 0.0
        false = np.mean([encode(a) == encode(b) for a, b in negatives]) if negatives else 0.0
        score = recall - false
        print(f"  {label:28s} recall {recall:6.1%}  false agreement {false:6.2%}  "
              f"score {score:.3f}")
        if best is None or score > best[1]:
            best = (label, score)
    print(f"best: {best[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
