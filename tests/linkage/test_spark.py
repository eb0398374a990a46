"""The Spark backend (local Spark, Java 17) gives the same links as DuckDB on a small job."""

from __future__ import annotations

import duckdb
import pytest

from appariement._tables import to_arrow
from appariement.identity import standardise_identities
from appariement.linkage import Linkage, LinkageConfig, local_spark_session
from appariement.synth import SynthConfig, generate

pytestmark = pytest.mark.spark


def test_spark_and_duckdb_give_the_same_links():
    data = generate(SynthConfig(n_candidates=300, seed=5))
    con = duckdb.connect()
    con.register("c", data.platform["candidats"])
    con.register("p", data.source["personnes"])
    pf = to_arrow(standardise_identities(con, con.table("c"), "platform"))
    sf = to_arrow(standardise_identities(con, con.table("p"), "source"))
    # a few rules: each is a Spark job on local Spark (the backends, not the rules, are compared)
    config = dict(u_max_pairs=1e4, blocking_rules=("dob", "name_yob", "phon_first_phon"))

    duck = duckdb.connect()
    Linkage(LinkageConfig(**config), con=duck).run(pf, sf, keep_tables=True)

    spark = local_spark_session(cores=2)
    try:
        on_spark = duckdb.connect()
        result = Linkage(LinkageConfig(backend="spark", **config), con=on_spark,
                         spark=spark).run(pf, sf, keep_tables=True)
    finally:
        spark.stop()

    query = "SELECT candidat_id, person_id, method, decision FROM links ORDER BY ALL"
    links_duck = duck.execute(query).fetchall()
    links_spark = on_spark.execute(query).fetchall()
    assert len(links_duck) > 250
    assert links_spark == links_duck
    assert result.counts["links_match_probabilistic"] > 0
    # weights agree in sign and rank even where EM took a slightly different path
    corr = duckdb.connect()
    corr.register("a", to_arrow(duck.table("links")))
    corr.register("b", to_arrow(on_spark.table("links")))
    rho = corr.execute("SELECT corr(a.match_weight, b.match_weight) FROM a JOIN b "
                       "USING (candidat_id, person_id)").fetchall()[0][0]
    assert rho > 0.95
