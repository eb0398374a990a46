"""Session fixtures: one small synthetic world, standardised and linked once with the real
cascade (exact NIR stage, then probabilistic on traits), and its gold standard.

The planted linkage bias is the generator's degraded department (noisier identities), with a
stronger noise factor than the default so the flag is detectable on a few thousand candidates.
"""

from __future__ import annotations

import duckdb
import pytest

N_CANDIDATES = 3000
SEED = 11
DEGRADED_DEPT = "93"


class World:
    """Synthetic data, features on one connection, the cascade's result and its gold standard."""

    def __init__(self):
        from appariement.evaluation import (gold_standard_evaluation, stage1_gold_pairs,
                                            target_prevalence)
        from appariement.identity import standardise_identities
        from appariement.linkage import link
        from appariement.synth.config import SynthConfig
        from appariement.synth.generate import generate

        self.data = generate(SynthConfig(n_candidates=N_CANDIDATES, seed=SEED,
                                         degraded_departement=DEGRADED_DEPT,
                                         degraded_noise_factor=12.0))
        self.con = duckdb.connect()
        standardise_identities(self.con, self.data.platform["candidats"],
                               side="platform").to_table("pf")
        self.pf = self.con.table("pf")
        standardise_identities(self.con, self.data.source["personnes"],
                               side="source").to_table("sf")
        self.sf = self.con.table("sf")
        self.result = link(self.pf, self.sf, con=self.con, u_max_pairs=2e5)
        self.con.execute("SELECT 1").fetchall()  # finish any pending result (DuckDB 2)
        self.truth_links = self.data.truth["links"]
        self.gold_pairs = stage1_gold_pairs(self.result.links, con=self.con).to_table("gold")
        self.gold_pairs = self.con.table("gold")
        self.prevalence = target_prevalence(
            self.result.links, self.pf, con=self.con,
            blocking_recall=self.result.counts["blocking_recall_on_stage1"])
        self.gold = gold_standard_evaluation(self.pf, self.sf, self.gold_pairs, con=self.con,
                                             prevalence=self.prevalence, u_max_pairs=2e5)


@pytest.fixture(scope="session")
def world() -> World:
    return World()
