"""Clerical review: a stratified sample of pairs across the weight range, exported without NIR,
and the reviewers' labels read back with their sampling weights.

Strata are match-probability bands; the grey zone (between the review and match thresholds) is
over-sampled. Every sampled pair carries ``weight`` = pairs in its stratum / pairs sampled from
it, so labelled estimates (:func:`appariement.evaluation.quality.thresholds.labelled_curve`) are
Horvitz-Thompson estimates over all assigned pairs. Splink's labels-based accuracy tools treat
labels as a simple sample, so they are not used on this stratified design.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from ..._atomic import atomic_path
from ..._tables import as_relation, temp_view
from ...errors import InputError

__all__ = ["draw_review_sample", "export_review_sample", "read_review_labels", "LABELS"]

#: allowed reviewer labels
LABELS = ("match", "non_match", "unsure")

_BANDS = (0.0, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0001)
#: identity columns shown to reviewers (never the NIR)
_SHOWN = ("birth_name", "usage_name", "first_names_joined", "sex", "birth_year", "birth_month",
          "birth_day", "birth_dept", "birth_country", "postcode")


def draw_review_sample(links, *, n: int = 200, review: float = 0.5, match: float = 0.9,
                       grey_share: float = 0.5, seed: int = 0,
                       con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Draw a stratified sample of assigned probabilistic pairs.

    Args:
        links: the ``links`` output of the cascade.
        n: pairs to draw.
        review, match: thresholds; pairs between them form the grey zone.
        grey_share: share of the sample drawn from the grey zone (over-sampling).
        seed: seed of the deterministic hash order.
        con: DuckDB connection.

    Returns:
        DataFrame ``pair_id, candidat_id, person_id, match_probability, match_weight, stratum,
        weight, why``.

    Examples:
        >>> import pandas as pd
        >>> links = pd.DataFrame({"candidat_id": [str(i) for i in range(50)],
        ...     "person_id": [str(i) for i in range(50)], "method": ["probabilistic"] * 50,
        ...     "match_probability": [i / 50 for i in range(50)],
        ...     "match_weight": [0.0] * 50, "why": [""] * 50})
        >>> s = draw_review_sample(links, n=20)
        >>> len(s), round(float(s.weight.sum()))
        (20, 50)
    """
    con = con or duckdb.connect()
    temp_view(as_relation(con, links, "links"), "_app_rv_links")
    cases = " ".join(f"WHEN match_probability < {hi!r} THEN 'p{lo:.2f}-{min(hi, 1):.2f}'"
                     for lo, hi in zip(_BANDS[:-1], _BANDS[1:]))
    why = "why" if "why" in con.table("_app_rv_links").columns else "NULL"
    frame = con.execute(f"""
        SELECT CAST(candidat_id AS VARCHAR) AS candidat_id, CAST(person_id AS VARCHAR)
               AS person_id, match_probability, match_weight, {why} AS why,
               CASE WHEN match_probability >= {review!r} AND match_probability < {match!r}
                    THEN 'grey_zone' ELSE CASE {cases} END END AS stratum,
               hash(candidat_id || '|' || person_id || '#{int(seed)}') AS h
        FROM _app_rv_links WHERE method = 'probabilistic'
    """).df()
    if frame.empty:
        return frame.assign(pair_id=[], weight=[])
    sizes = frame.groupby("stratum").size()
    grey = int(sizes.get("grey_zone", 0))
    n_grey = min(grey, int(round(n * grey_share)))
    others = sizes.drop("grey_zone", errors="ignore")
    rest = n - n_grey
    alloc = {"grey_zone": n_grey}
    # equal allocation over the other strata, capped by their size, leftovers redistributed
    remaining = dict(others)
    while rest > 0 and remaining:
        share = max(1, rest // len(remaining))
        for s in list(remaining):
            take = min(share, remaining[s] - alloc.get(s, 0), rest)
            alloc[s] = alloc.get(s, 0) + take
            rest -= take
            if alloc[s] >= remaining[s]:
                remaining.pop(s)
            if rest <= 0:
                break
    parts = []
    for s, k in alloc.items():
        if k <= 0:
            continue
        grp = frame[frame.stratum == s].sort_values("h").head(k).copy()
        grp["weight"] = sizes[s] / len(grp)
        parts.append(grp)
    out = pd.concat(parts, ignore_index=True).drop(columns="h")
    out.insert(0, "pair_id", [f"R{i:05d}" for i in range(len(out))])
    return out


def export_review_sample(sample: pd.DataFrame, platform_features, source_features, path, *,
                         con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Write the sample for reviewers, side by side identities, an empty ``label`` column.

    **Security.** The file is for the enclave's clerical reviewers: they must see the identity
    traits (names, first names, sex, birth date and place, postcode) to judge a pair, so the
    file is identifying and must stay inside the enclave like the inputs. The NIR is never
    exported (only the columns in ``_SHOWN``), nor any pseudonym or key. The file also carries
    ``match_probability``, ``stratum`` and ``weight`` so the labels can be read back without the
    in-memory sample. CSV (``;``) or Parquet by extension.

    Args:
        sample: :func:`draw_review_sample`.
        platform_features, source_features: standardised features.
        path: output file.
        con: DuckDB connection.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pandas as pd
        >>> s = pd.DataFrame({"pair_id": ["R00000"], "candidat_id": ["c1"], "person_id": ["p1"],
        ...     "stratum": ["grey_zone"], "weight": [3.0], "match_probability": [0.7],
        ...     "why": [""]})
        >>> f = pd.DataFrame({"record_id": ["c1"], "birth_name": ["MARTIN"], "nir": ["X"]})
        >>> path = export_review_sample(s, f, f.assign(record_id=["p1"]),
        ...                             tempfile.mkdtemp() + "/r.csv")
        >>> "nir" in path.read_text()
        False
    """
    con = con or duckdb.connect()
    con.register("_app_rv_sample", sample)
    temp_view(as_relation(con, platform_features, "pf"), "_app_rv_p")
    temp_view(as_relation(con, source_features, "sf"), "_app_rv_s")
    pcols = set(con.table("_app_rv_p").columns) & set(con.table("_app_rv_s").columns)
    shown = [c for c in _SHOWN if c in pcols]
    sel = ", ".join(f"p.{c} AS {c}_platform, s.{c} AS {c}_source" for c in shown)
    table = con.execute(f"""
        SELECT r.pair_id, r.stratum, r.weight, r.match_probability, r.why, {sel},
               NULL::VARCHAR AS label
        FROM _app_rv_sample r
        LEFT JOIN _app_rv_p p ON CAST(p.record_id AS VARCHAR) = r.candidat_id
        LEFT JOIN _app_rv_s s ON CAST(s.record_id AS VARCHAR) = r.person_id
        ORDER BY r.pair_id""").df()
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, sep=";", index=False)
    return path


def read_review_labels(path, sample: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read the reviewers' file back and join the labels to the sample.

    Args:
        path: the file written by :func:`export_review_sample`, with ``label`` filled in.
        sample: the :func:`draw_review_sample` it came from (for ids and weights); None: take
            ``stratum``, ``weight`` and ``match_probability`` from the file itself.

    Returns:
        The sample with ``label`` and ``is_match`` (None for unsure / blank).

    Raises:
        InputError: unknown pair ids or labels outside :data:`LABELS`.

    Examples:
        >>> import tempfile, pandas as pd
        >>> path = tempfile.mkdtemp() + "/r.csv"
        >>> pd.DataFrame({"pair_id": ["R0", "R1"], "stratum": ["a", "a"], "weight": [2, 2],
        ...     "match_probability": [0.9, 0.4], "label": ["match", "unsure"]}
        ...     ).to_csv(path, sep=";", index=False)
        >>> read_review_labels(path)["is_match"].tolist()
        [True, <NA>]
    """
    path = Path(path)
    from ...io.guard import read_text_table  # guarded: no field value in any read error
    labelled = read_text_table(path, what="review file", sep=";", nir_columns=()).to_pandas()
    for col in ("pair_id", "label"):
        if col not in labelled.columns:
            raise InputError(f"review file {path.name} lacks column {col!r}", table="review",
                             column=col)
    lab = labelled[["pair_id", "label"]].copy()
    lab["label"] = lab["label"].astype("string").str.strip().str.lower()
    bad = lab["label"].notna() & ~lab["label"].isin(LABELS)
    if bad.any():
        raise InputError(f"review file {path.name}: {int(bad.sum())} labels are not one of "
                         f"{', '.join(LABELS)}", table="review", column="label",
                         n_rows=int(bad.sum()), examples=lab.loc[bad, "pair_id"].head(3).tolist())
    if sample is None:
        needed = ("stratum", "weight", "match_probability")
        missing = [c for c in needed if c not in labelled.columns]
        if missing:
            raise InputError(f"review file {path.name} lacks columns {missing}; pass the sample "
                             "it was drawn from", table="review", column=missing[0])
        sample = labelled[["pair_id", *needed]].copy()
        for column in ("weight", "match_probability"):
            values = pd.to_numeric(sample[column], errors="coerce")
            bad = values.isna() & sample[column].notna()
            if bad.any():  # the values are not quoted: a shifted column may hold names
                raise InputError(f"review file {path.name}: {int(bad.sum())} value(s) of "
                                 f"{column!r} are not numbers", table="review", column=column)
            sample[column] = values
    unknown = ~lab["pair_id"].isin(sample["pair_id"])
    if unknown.any():
        raise InputError(f"review file {path.name}: {int(unknown.sum())} pair ids are not in the "
                         "sample", table="review", column="pair_id", n_rows=int(unknown.sum()))
    out = sample.merge(lab, on="pair_id", how="left")
    out["is_match"] = out["label"].map({"match": True, "non_match": False})
    return out
