"""The pivot's probabilistic traits route runs the linkage's own model, on files with or
without postcode and birth place, and gives rows the pivot code of their true person."""

from __future__ import annotations

import duckdb
import pytest

from appariement.crypto import generate_key
from appariement.crypto.pivot import PivotAuthority
from appariement.linkage import traits_matcher
from appariement.synth import SynthConfig, generate


@pytest.mark.parametrize("drop", [(), ("code_postal", "commune_naissance", "pays_naissance")],
                         ids=["all traits", "no postcode or birth place"])
def test_traits_matcher_resolves_rows_without_nir(drop):
    data = generate(SynthConfig(n_candidates=600, seed=41))
    cand = data.platform["candidats"]
    cand = cand.drop([c for c in ("nir", *drop) if c in cand.column_names])
    pers = data.source["personnes"].drop([c for c in drop if c in
                                          data.source["personnes"].column_names])
    key = generate_key()
    pivot = PivotAuthority(key, project="t", reference=pers, matcher=traits_matcher(),
                           con=duckdb.connect())
    out = pivot.transcode(cand)
    ref_codes = pivot.transcode(pers, side="source")
    con = duckdb.connect()
    con.register("out", out)
    con.register("ref", ref_codes)
    con.register("truth", data.truth["links"])
    quality = dict(con.execute("SELECT quality, count(*) FROM out GROUP BY 1").fetchall())
    assert quality.get("traits_probable", 0) > 50, quality
    # a probable code is the code the true person gets through its own NIR
    right, total = con.execute("""
        SELECT count(*) FILTER (WHERE o.pivot_code = r.pivot_code), count(*)
        FROM out o JOIN truth t ON t.candidat_id = o.row_id
        JOIN ref r ON r.row_id = t.person_id
        WHERE o.quality = 'traits_probable' AND r.pivot_code IS NOT NULL""").fetchall()[0]
    assert right / total >= 0.98, (right, total)
