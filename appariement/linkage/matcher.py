"""The pivot authority's probabilistic traits route, run by the same model as the cascade.

:class:`appariement.crypto.PivotAuthority` offers the rows it could not resolve (no usable NIR,
no unique exact-traits match) to an optional ``matcher``; :func:`traits_matcher` is that matcher:
the traits-only cascade (comparisons, rules and training chosen from the features at hand, see
:meth:`appariement.linkage.LinkageModel.plan`) between the unresolved rows and the reference
register. It lives here, not in ``crypto/``, because the crypto layer does not depend on the
linkage: the pivot receives it as a plain callable.
"""

from __future__ import annotations

import dataclasses

import duckdb

from .._log import get_logger
from .._tables import as_relation
from .cascade import Linkage, LinkageConfig

__all__ = ["traits_matcher"]

log = get_logger(__name__)


def traits_matcher(config: LinkageConfig | None = None):
    """A matcher ``matcher(con, unresolved, reference)`` for ``PivotAuthority(matcher=...)``.

    Args:
        config: linkage options (its ``key_column`` is ignored: the matcher links on traits
            only). The pivot's own ``min_score`` then decides which links give a code.

    Returns:
        The matcher: it returns ``record_id``, ``person_id``, ``score`` (the match probability)
        for every unresolved row the traits link to a reference person (decisions match and
        review; ties and conflicts give no row). It runs on a connection of its own, so the
        pivot's tables are never touched.

    Examples:
        >>> matcher = traits_matcher()
        >>> callable(matcher)
        True
    """
    cfg = dataclasses.replace(config or LinkageConfig(), key_column=None)

    def matcher(con: duckdb.DuckDBPyConnection, unresolved, reference):
        own = duckdb.connect()
        if as_relation(con, unresolved, "unresolved").count("*").fetchall()[0][0] == 0:
            return own.sql("SELECT NULL::VARCHAR AS record_id, NULL::VARCHAR AS person_id, "
                           "NULL::DOUBLE AS score WHERE false").to_arrow_table()
        # relations of the pivot's connection are copied to the matcher's own (as_relation)
        result = Linkage(cfg, con=own).run(unresolved, reference)
        log.info("pivot traits matcher: %d of %d unresolved rows linked by traits",
                 result.counts["links_match"] + result.counts["links_review"],
                 result.counts["platform_records"])
        return result.links.filter("decision <> 'non_match'").query(
            "_l", "SELECT candidat_id AS record_id, person_id, match_probability AS score "
                  "FROM _l ORDER BY 1").to_arrow_table()

    return matcher
