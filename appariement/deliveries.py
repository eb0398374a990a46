"""Quarterly deliveries: a project as an ordered series of extracts, linked with a frozen model.

The DARES request plans a first delivery, then regular ones. Each brings a full extract (new
candidates and candidatures, identities completed or corrected, a longer employment
follow-up). With ``[delivery] name = "2026T3"`` in the config (or ``appariement run CONFIG
--delivery 2026T3``) a run is one delivery of the project's series:

- its outputs go to ``<outputs.dir>/deliveries/<name>/`` (the usual stage folders with their
  markers, ``manifest.json``, ``run.log``): interrupting it and running it again resumes it as
  a full run resumes;
- the **first** delivery links as a full run does and freezes its model
  (``link/model.json``); a **later** delivery reuses the model of the delivery it follows
  (``[delivery] previous``, default the last one completed) and scores only what changed
  (:mod:`appariement.linkage.incremental`): links of unchanged records are copied, new and
  changed candidates are blocked against the whole source, unchanged unlinked candidates
  against new and changed persons;
- **retraining** is explicit (``[delivery] retrain = true`` or ``--retrain``): the delivery
  trains a new model on its whole extract, and ``link/drift.json`` compares it with the frozen
  one (m / u of every level, the match-weight distribution of the same pairs under both) and
  says how many links of unchanged records the new model changes;
- every link change is listed with its reason in ``link/delivery_diff.parquet`` (enclave),
  and counted in ``link/delivery_summary.json`` (export: small counts suppressed, checked by
  the run's output checker); ``link/delivery.json`` records the project, the delivery, the one
  it follows and the SHA-256 of the frozen model;
- ``<outputs.dir>/deliveries/series.json`` lists the completed deliveries in order, with the
  SHA-256 of each one's link marker: a previous delivery that is missing, incomplete, edited,
  from another project, or linked with other ``[linkage]`` settings is refused
  (:class:`~appariement.errors.DeliveryError`), never silently used. Only the last delivery of
  a series can be run again (an earlier one would rewrite the history its successors built
  on).

The evaluation dataset (stage ``counterfactual``) of a delivery is built from its whole extract
and links: new candidatures are new trials, the follow-up is the delivery's;
:func:`compare_evaluation` checks that earlier trials are unchanged but for outcomes at
horizons newly reached.

Examples:
    >>> # run_delivery("projet.toml", "2026T3")                 # the next delivery
    >>> # run_delivery("projet.toml", "2026T4", retrain=True)   # with a new model and drift.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ._atomic import atomic_path, write_json
from ._log import get_logger
from .errors import ConfigError, DeliveryError
from .manifest import RunManifest, file_fingerprint

__all__ = ["run_delivery", "plan_delivery", "read_series", "delivery_folder", "drift_report",
           "compare_evaluation", "SERIES_FILE", "DELIVERY_FILE"]

log = get_logger(__name__)

#: the project's list of completed deliveries, in ``<outputs.dir>/deliveries/``
SERIES_FILE = "series.json"
#: what a delivery's link stage records about itself
DELIVERY_FILE = "delivery.json"
_FORMAT = "appariement-delivery-1"
_MARKER = "_SUCCESS.json"


def deliveries_root(config) -> Path:
    """``<outputs.dir>/deliveries``."""
    return Path(config.outputs.dir) / "deliveries"


def delivery_folder(config, name: str) -> Path:
    """The outputs folder of one delivery: ``<outputs.dir>/deliveries/<name>``."""
    return deliveries_root(config) / name


def read_series(config) -> list[dict]:
    """The completed deliveries of a project, in order (``[]`` before the first).

    Raises:
        DeliveryError: ``series.json`` is unreadable or belongs to another project.
    """
    path = deliveries_root(config) / SERIES_FILE
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = list(data["deliveries"])
        project = data["project"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DeliveryError(f"{path} is not a series file written by appariement (unreadable "
                            "or edited); restore it from a backup, or start the series again "
                            "in another outputs.dir", table="deliveries") from None
    if project != config.project.name:
        raise DeliveryError(f"{path} belongs to project {project!r}, not "
                            f"{config.project.name!r}: this outputs.dir holds another "
                            "project's deliveries", table="deliveries")
    return entries


def _delivery_config(config, name: str):
    from .config import OutputsConfig

    return dataclasses.replace(
        config, outputs=OutputsConfig(dir=delivery_folder(config, name)),
        delivery=dataclasses.replace(config.delivery, name=name))


def _sha256_file(path: Path) -> str:
    return file_fingerprint(path)


def _linkage_hash(config) -> str:
    """What a frozen model depends on: ``[linkage]``, ``[identity]``, the project's name and
    seed (not ``as_of``, which moves with every delivery)."""
    full = config.to_dict()
    text = json.dumps({"linkage": full["linkage"], "identity": full["identity"],
                       "name": config.project.name, "seed": config.project.seed},
                      sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class DeliveryLink:
    """The link stage of one delivery (given to :func:`~appariement.pipeline.run_pipeline`).

    Args:
        config: the project's config (``outputs.dir`` the project's, not the delivery's).
        name: this delivery.
        previous: the delivery it follows (None: the first).
        retrain: train a new model instead of reusing the previous delivery's.
    """

    def __init__(self, config, name: str, previous: str | None, retrain: bool):
        self.config = config
        self.name = name
        self.previous = previous
        self.retrain = bool(retrain)
        self.index = 1
        self._previous_marker: str | None = None
        if previous is not None:
            self._previous_marker = self._check_previous()

    # -- the previous delivery --------------------------------------------------------------
    def previous_link_dir(self) -> Path:
        return delivery_folder(self.config, self.previous) / "link"

    def _check_previous(self) -> str:
        """Verify the previous delivery's link stage; return the SHA-256 of its marker."""
        folder = self.previous_link_dir()
        where = f"delivery {self.previous!r} (the one {self.name!r} follows)"
        marker_path = folder / _MARKER
        if not marker_path.is_file():
            raise DeliveryError(f"{where}: {folder} is missing or incomplete (no {_MARKER}); "
                                f"run that delivery first (appariement run CONFIG --delivery "
                                f"{self.previous})", table="deliveries")
        try:
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
            outputs = dict(marker["outputs"])
        except (OSError, ValueError, KeyError, TypeError):
            raise DeliveryError(f"{where}: its link marker {marker_path} is unreadable",
                                table="deliveries") from None
        changed = [n for n, digest in sorted(outputs.items())
                   if not (folder / n).is_file() or _sha256_file(folder / n) != digest]
        if changed:
            raise DeliveryError(f"{where}: {len(changed)} of its link files differ from the "
                                f"SHA-256 recorded when it completed (first: {changed[0]}): "
                                "modified, truncated or deleted since. Restore them, or run "
                                "that delivery again if it is the last one",
                                table="deliveries")
        for needed in (DELIVERY_FILE, "model.json", "links.parquet",
                       "fingerprints_platform.parquet", "fingerprints_source.parquet"):
            if needed not in outputs:
                raise DeliveryError(f"{where}: {folder} has no {needed}; it was not written "
                                    "by a delivery run", table="deliveries")
        info = json.loads((folder / DELIVERY_FILE).read_text(encoding="utf-8"))
        if info.get("format") != _FORMAT:
            raise DeliveryError(f"{where}: {DELIVERY_FILE} has an unknown format",
                                table="deliveries")
        if info.get("project") != self.config.project.name:
            raise DeliveryError(f"{where} belongs to project {info.get('project')!r}, not "
                                f"{self.config.project.name!r}", table="deliveries")
        if info.get("delivery") != self.previous:
            raise DeliveryError(f"{where}: its folder holds delivery {info.get('delivery')!r}",
                                table="deliveries")
        if info.get("model") != outputs["model.json"]:
            raise DeliveryError(f"{where}: its model.json is not the model it recorded",
                                table="deliveries")
        if not self.retrain and info.get("linkage") != _linkage_hash(self.config):
            raise DeliveryError(
                f"{where} was linked with other [linkage] / [identity] settings (or project "
                "name / seed); "
                "a frozen model cannot follow them. Restore the settings, or retrain "
                "(--retrain, or [delivery] retrain = true)", table="deliveries")
        digest = _sha256_file(marker_path)
        recorded = {e["name"]: e for e in read_series(self.config)}
        entry = recorded.get(self.previous)
        if entry is None or entry.get("link_marker") != digest:
            raise DeliveryError(f"{where} is not the delivery recorded in "
                                f"{deliveries_root(self.config) / SERIES_FILE} under that "
                                "name (its link stage was replaced since)", table="deliveries")
        self.index = int(info.get("index", 1)) + 1
        return digest

    # -- the pipeline's hooks ---------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """What the link stage depends on besides its config and upstream stages."""
        return {"delivery": self.name, "previous": self.previous,
                "previous_link_marker": self._previous_marker, "retrain": self.retrain}

    def link_stage(self, run, out: Path) -> dict:
        """The link stage of a delivery: full (first, or retrain) or incremental."""
        from .linkage import Linkage, LinkageModel
        from .linkage.incremental import (PreviousLinks, link_incremental,
                                          record_fingerprints)
        from .pipeline import _link_key

        pf, sf = run.features("pivot")
        lk = run.cfg.linkage_config(_link_key(pf, sf))
        salt = run.cfg.project.name
        con = run.con
        previous = (PreviousLinks.read(con, self.previous_link_dir())
                    if self.previous is not None else None)
        if previous is None or self.retrain:
            result = Linkage(lk, con=con).run(pf, sf)
            result.write(out)
            run.manifest.timings.update({f"link: {k}": v for k, v in result.timings.items()})
            counts = dict(result.counts)
            for side, rel in (("platform", pf), ("source", sf)):
                _write(con, record_fingerprints(con, rel, salt=salt, model=result.model),
                       out / f"fingerprints_{side}.parquet")
            diff_counts = self._full_diff(con, out, previous, result)
            counts["changes"] = diff_counts
            if previous is not None:
                old = LinkageModel.load(self.previous_link_dir() / "model.json")
                drift = drift_report(con, old, result.model, result.pairs, lk, pf, sf,
                                     diff_counts)
                write_json(out / "drift.json", drift)
                counts["drift_links_changed_unchanged_records"] = \
                    drift["links"]["changed_for_unchanged_records"]
        else:
            model = LinkageModel.load(self.previous_link_dir() / "model.json")
            result = link_incremental(con, pf, sf, previous, lk, model, salt=salt)
            result.write(out)
            # the frozen model, byte for byte
            shutil.copyfile(self.previous_link_dir() / "model.json", out / "model.json")
            write_json(out / "linkage_counts.json", {"counts": result.counts,
                                                     "config": lk.to_dict()})
            run.manifest.timings.update({f"link: {k}": v for k, v in result.timings.items()})
            counts = dict(result.counts)
        summary = _write_summary(con, out, run.cfg.quality.min_cell)
        write_json(out / DELIVERY_FILE, {
            "format": _FORMAT, "project": run.cfg.project.name, "delivery": self.name,
            "index": self.index, "previous": self.previous,
            "previous_link_marker": self._previous_marker, "retrained": self.retrain,
            "model": _sha256_file(out / "model.json"), "linkage": _linkage_hash(self.config),
            "fingerprints": "sha256 of the standardised features, salted with the project "
                            "name (enclave only)"})
        counts["delivery"] = {"name": self.name, "index": self.index,
                              "previous": self.previous, "retrained": self.retrain,
                              "changes_published": summary}
        return counts

    def _full_diff(self, con, out: Path, previous, result) -> dict:
        """The diff of a full link stage: against the previous delivery (retrain), or every
        link new (the first delivery)."""
        from ._tables import temp_table
        from .linkage.incremental import delivery_diff

        temp_table(result.links, "_dl_links")
        fp = {s: con.read_parquet(str(out / f"fingerprints_{s}.parquet"))
              for s in ("platform", "source")}
        if previous is None:
            empty = "SELECT NULL::VARCHAR AS record_id, NULL::VARCHAR AS fingerprint LIMIT 0"
            prev_fp = {s: con.sql(empty) for s in ("platform", "source")}
            prev_links = "(SELECT * FROM _dl_links LIMIT 0)"
        else:
            prev_fp = {"platform": previous.fingerprints_platform,
                       "source": previous.fingerprints_source}
            con.execute("CREATE OR REPLACE TEMP TABLE _dl_prev_links AS SELECT * FROM "
                        "read_parquet(?)", [str(self.previous_link_dir() / "links.parquet")])
            prev_links = "_dl_prev_links"
        for side, s in (("platform", "p"), ("source", "s")):
            con.register(f"_dl_fpc_{s}", fp[side].to_arrow_table())
            con.register(f"_dl_fpo_{s}", prev_fp[side].to_arrow_table())
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _dl_status_{s} AS
                SELECT coalesce(c.record_id, o.record_id) AS record_id,
                       CASE WHEN o.record_id IS NULL THEN 'new'
                            WHEN c.record_id IS NULL THEN 'removed'
                            WHEN c.fingerprint = o.fingerprint THEN 'unchanged'
                            ELSE 'changed' END AS status
                FROM _dl_fpc_{s} c FULL JOIN _dl_fpo_{s} o ON o.record_id = c.record_id""")
        diff = delivery_diff(con, prev_links, "_dl_links", "_dl_status_p", "_dl_status_s",
                             retrained=previous is not None, table="_inc_diff")
        _write(con, diff, out / "delivery_diff.parquet")
        return {f"{c}|{r}": int(n) for c, r, n in con.execute(
            "SELECT change, reason, count(*) FROM _inc_diff GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()}


def _write(con, rel, path: Path) -> None:
    import pyarrow.parquet as pq

    from ._tables import to_arrow

    with atomic_path(path) as tmp:
        pq.write_table(to_arrow(rel), tmp)


def _write_summary(con, out: Path, min_cell: int) -> int:
    """``delivery_summary.json``: link changes by kind and reason, small counts suppressed
    (``quality.min_cell``), with the disclosure spec the run's output checker reads."""
    from .evaluation.disclosure import suppress
    from .evaluation.output_check import TableSpec, write_spec
    from .linkage.incremental import CHANGES, REASONS

    diff = out / "delivery_diff.parquet"
    if not diff.exists():  # incremental: written by the result with the other tables
        raise DeliveryError("delivery: the diff was not written; this is a bug")
    found = {(c, r): int(n) for c, r, n in con.execute(
        "SELECT change, reason, count(*) FROM read_parquet(?) GROUP BY 1, 2",
        [str(diff)]).fetchall()}
    rows = [{"change": c, "reason": r, "n": found.get((c, r), 0)}
            for c in CHANGES for r in REASONS if (c, r) in found]
    table = suppress(rows or [{"change": "none", "reason": "none", "n": 0}], ["n"],
                     threshold=min_cell, secondary=False)
    published = [{**r, "n": None if r["n"] is None else int(r["n"])}
                 for r in table.records() if rows]
    write_json(out / "delivery_summary.json", {
        "what": "link changes since the previous delivery, by kind and reason",
        "policy": f"counts below {min_cell} suppressed (null)", "rows": published})
    spec = TableSpec(name="delivery/changes", file="link/delivery_summary.json",
                     path=["rows"], key=["change", "reason"], counts=["n"],
                     exportable_files=["link/delivery_summary.json"])
    write_spec(out, [spec], threshold=min_cell)
    return sum(1 for r in published if r["n"] is not None)


def drift_report(con, old, new, pairs, config, platform, source, changes: dict) -> dict:
    """How a retrained model differs from the frozen one.

    Args:
        con: the connection.
        old, new: the frozen and the retrained :class:`~appariement.linkage.LinkageModel`.
        pairs: the pairs the new model scored (``candidat_id, person_id, match_weight``).
        config: the cascade's options (thresholds).
        platform, source: the delivery's features.
        changes: the delivery diff's counts (``change|reason`` → n).

    Returns:
        ``parameters`` (m and u of every level under both, the largest absolute
        differences), ``match_weight`` (quantiles of the same pairs' weights under both, the
        share of pairs whose decision differs) and ``links`` (links of unchanged records the
        retraining changes), with a one-line ``verdict``.
    """
    old_p = {(r["comparison"], r["level"]): r for r in old.parameters()}
    new_p = {(r["comparison"], r["level"]): r for r in new.parameters()}
    levels, dm, du = [], 0.0, 0.0
    for key in sorted(set(old_p) | set(new_p)):
        o, n = old_p.get(key, {}), new_p.get(key, {})
        row = {"comparison": key[0], "level": key[1],
               "m_frozen": o.get("m_probability"), "m_retrained": n.get("m_probability"),
               "u_frozen": o.get("u_probability"), "u_retrained": n.get("u_probability")}
        for p in ("m", "u"):
            a, b = row[f"{p}_frozen"], row[f"{p}_retrained"]
            row[f"{p}_difference"] = None if a is None or b is None else round(b - a, 6)
        dm = max(dm, abs(row["m_difference"] or 0.0))
        du = max(du, abs(row["u_difference"] or 0.0))
        levels.append(row)
    temp = "_dl_drift_pairs"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT candidat_id AS record_id_l, "
                "person_id AS record_id_r, match_weight, match_probability FROM "
                f"({pairs.sql_query()})")
    weights: dict[str, Any] = {"pairs": int(con.execute(f"SELECT count(*) FROM {temp}")
                                            .fetchall()[0][0])}
    if weights["pairs"]:
        con.execute("CREATE OR REPLACE TEMP VIEW _dl_drift_l AS SELECT * FROM "
                    f"({platform.sql_query()}) WHERE record_id IN "
                    f"(SELECT record_id_l FROM {temp})")
        con.execute("CREATE OR REPLACE TEMP VIEW _dl_drift_r AS SELECT * FROM "
                    f"({source.sql_query()}) WHERE record_id IN "
                    f"(SELECT record_id_r FROM {temp})")
        tf = old.term_frequency_tables(con, platform, source, prefix="_dl_tf")
        scored = old.predict(con.table("_dl_drift_l"), con.table("_dl_drift_r"),
                             pairs=con.table(temp).project("record_id_l, record_id_r"),
                             table_name="_dl_drift_old", tf_tables=tf, con=con)
        del scored
        th = config.thresholds
        qs = (0.05, 0.25, 0.5, 0.75, 0.95)
        q_sql = ", ".join(f"quantile_cont({{w}}, {q})" for q in qs)
        row = con.execute(f"""
            SELECT {q_sql.format(w='n.match_weight')}, {q_sql.format(w='o.match_weight')},
                   avg(n.match_weight), avg(o.match_weight),
                   avg(CASE WHEN ({th.decision_sql('n.match_probability')})
                                 <> ({th.decision_sql('o.match_probability')})
                            THEN 1.0 ELSE 0.0 END)
            FROM {temp} n JOIN _dl_drift_old o USING (record_id_l, record_id_r)""").fetchall()[0]
        k = len(qs)
        weights.update({
            "quantiles": [str(q) for q in qs],
            "retrained": [round(float(v), 4) for v in row[:k]],
            "frozen": [round(float(v), 4) for v in row[k:2 * k]],
            "mean_retrained": round(float(row[2 * k]), 4),
            "mean_frozen": round(float(row[2 * k + 1]), 4),
            "share_decision_differs": round(float(row[2 * k + 2]), 6)})
    changed = sum(n for key, n in changes.items() if key.endswith("|model_retrained"))
    verdict = (f"retraining changes {changed} link(s) of records that did not change"
               if changed else "retraining changes no link of records that did not change")
    return {"parameters": {"levels": levels, "max_abs_m_difference": round(dm, 6),
                           "max_abs_u_difference": round(du, 6)},
            "match_weight": weights,
            "links": {"changed_for_unchanged_records": changed},
            "verdict": verdict}


def plan_delivery(config, name: str | None = None, retrain: bool | None = None
                  ) -> DeliveryLink:
    """Which delivery runs and which one it follows: the series and the previous delivery are
    checked, nothing is written. ``.run_config`` is the config of the delivery's own run
    (``outputs.dir`` = its folder).

    Raises:
        ConfigError, DeliveryError: as :func:`run_delivery`.
    """
    name = name or config.delivery.name
    if name is None:
        raise ConfigError("a delivery run needs a delivery name: [delivery] name in the "
                          "config, or --delivery NAME")
    from .config import DELIVERY_HINT, DELIVERY_NAME

    if not isinstance(name, str) or not DELIVERY_NAME.match(name):
        raise ConfigError(f"delivery name is not allowed: {DELIVERY_HINT}")
    retrain = config.delivery.retrain if retrain is None else bool(retrain)
    series = read_series(config)
    names = [e["name"] for e in series]
    if name in names:
        position = names.index(name)
        if position != len(names) - 1:
            raise DeliveryError(
                f"delivery {name!r} is followed by {names[position + 1]!r}: running it again "
                "would change the history its successors were linked from. Start a new "
                "delivery instead", table="deliveries")
        previous = series[position].get("previous")
        if config.delivery.previous not in (None, previous):
            raise DeliveryError(f"delivery {name!r} was run after {previous!r}, not "
                                f"{config.delivery.previous!r}", table="deliveries")
    else:
        previous = config.delivery.previous or (names[-1] if names else None)
        if previous is not None and previous not in names:
            raise DeliveryError(
                f"delivery.previous = {previous!r} is not a completed delivery of this project "
                f"(completed: {', '.join(names) or 'none'}); run it first",
                table="deliveries")
        if names and previous != names[-1]:
            raise DeliveryError(
                f"delivery {name!r} must follow the last completed delivery {names[-1]!r}, not "
                f"{previous!r}: a series has one line", table="deliveries")
    if retrain and previous is None:
        log.info("delivery %s is the first: its model is trained anyway", name)
        retrain = False
    link = DeliveryLink(config, name, previous, retrain)
    link.run_config = _delivery_config(config, name)
    return link


def run_delivery(config, name: str | None = None, *, retrain: bool | None = None,
                 stages=None, restart: bool = False, progress: bool | None = None,
                 dry_run: bool = False, command: str = "run") -> RunManifest:
    """Run one delivery of the project's series (see the module docstring).

    Args:
        config: a :class:`~appariement.config.Config` or the path of a TOML file; its
            ``[inputs]`` are this delivery's extract.
        name: the delivery (None: ``[delivery] name``).
        retrain: train a new model (None: ``[delivery] retrain``).
        stages, restart, progress, dry_run, command: as :func:`~appariement.pipeline.run_pipeline`.

    Returns:
        The delivery's :class:`RunManifest` (``<outputs.dir>/deliveries/<name>/manifest.json``).

    Raises:
        ConfigError: no delivery name, or a bad one.
        DeliveryError: the previous delivery is missing, incomplete, edited or another
            project's; the delivery is not the next (or the last) of the series.
    """
    from ._paths import private_dir
    from .config import Config, load_config
    from .pipeline import run_pipeline

    if not isinstance(config, Config):
        config = load_config(config)
    link = plan_delivery(config, name, retrain)
    dconfig = link.run_config
    if dry_run:
        return run_pipeline(dconfig, stages, dry_run=True, progress=progress, command=command)
    private_dir(deliveries_root(config))
    manifest = run_pipeline(dconfig, stages, restart=restart, progress=progress,
                            command=command, delivery=link)
    _record(config, link)
    _evaluation_growth(config, link)
    return manifest


def _record(config, link: DeliveryLink) -> None:
    """Append (or confirm) the delivery in ``series.json`` once its link stage completed."""
    marker = delivery_folder(config, link.name) / "link" / _MARKER
    if not marker.is_file():
        return  # a --stage run that did not reach the link stage
    series = [e for e in read_series(config) if e["name"] != link.name]
    series.append({"name": link.name, "previous": link.previous,
                   "retrained": link.retrain, "link_marker": _sha256_file(marker)})
    write_json(deliveries_root(config) / SERIES_FILE,
               {"format": _FORMAT, "project": config.project.name, "deliveries": series})


def compare_evaluation(previous, current, *, key: str = "trial_id",
                       explained: set | None = None) -> dict:
    """How an evaluation dataset grew from one delivery to the next (counts only).

    Earlier trials (rows of ``previous``, by ``key``) should all be in ``current`` with the
    same values, except values null before and filled now (an outcome at a horizon newly
    reached). A changed value of a trial whose candidate is in ``explained`` (the delivery
    diff's candidates, those whose link was rescored and those whose identity changed) is
    counted apart. The others come from the extract itself: a candidature processed after the
    previous extraction (its state, hence the arm), a spell still open then and closed since
    (earnings, durable employment).

    Args:
        previous, current: the two datasets (Arrow tables or pandas DataFrames).
        key: the trial's key column.
        explained: candidate ids whose changes are explained (None: none).

    Returns:
        ``new_trials``, ``earlier_trials``, ``missing_trials``, ``outcomes_filled`` (values
        null before, filled now), ``values_changed`` / ``values_changed_explained``, and
        ``changed_columns`` (column → earlier values changed, unexplained ones only). No
        value of the data is returned.
    """
    import pyarrow as pa

    prev = previous if isinstance(previous, pa.Table) else pa.Table.from_pandas(previous)
    cur = current if isinstance(current, pa.Table) else pa.Table.from_pandas(current)
    explained = explained or set()
    p_rows = {r[key]: r for r in prev.to_pylist()}
    c_rows = {r[key]: r for r in cur.to_pylist()}
    filled = changed = changed_explained = 0
    columns: dict[str, int] = {}
    for k, before in p_rows.items():
        after = c_rows.get(k)
        if after is None:
            continue
        known = before.get("candidat_id") in explained
        for col, value in before.items():
            now = after.get(col)
            if value is None and now is not None:
                filled += 1
            elif value != now and not (_is_nan(value) and _is_nan(now)):
                if known:
                    changed_explained += 1
                else:
                    changed += 1
                    columns[col] = columns.get(col, 0) + 1
    return {"new_trials": len(set(c_rows) - set(p_rows)), "earlier_trials": len(p_rows),
            "missing_trials": len(set(p_rows) - set(c_rows)), "outcomes_filled": filled,
            "values_changed": changed, "values_changed_explained": changed_explained,
            "changed_columns": dict(sorted(columns.items()))}


def _evaluation_growth(config, link: DeliveryLink) -> None:
    """``deliveries/<name>/evaluation_growth.json`` (enclave): :func:`compare_evaluation` of
    this delivery's evaluation dataset against the previous one's, when both exist."""
    import pyarrow.parquet as pq

    if link.previous is None:
        return
    files = [delivery_folder(config, n) / "counterfactual" / "evaluation.parquet"
             for n in (link.previous, link.name)]
    if not all(f.is_file() for f in files):
        return
    folder = delivery_folder(config, link.name)
    diff = pq.read_table(folder / "link" / "delivery_diff.parquet", columns=["candidat_id"])
    old = pq.read_table(delivery_folder(config, link.previous) / "link" /
                        "fingerprints_platform.parquet")
    new = pq.read_table(folder / "link" / "fingerprints_platform.parquet")
    before = dict(zip(old.column("record_id").to_pylist(), old.column("fingerprint").to_pylist()))
    # a rescored link (its person re-identified, same decision) is not in the diff but its
    # probability moved: explained too
    links = {}
    for n in (link.previous, link.name):
        t = pq.read_table(delivery_folder(config, n) / "link" / "links.parquet",
                          columns=["candidat_id", "person_id", "match_probability"])
        links[n] = dict(zip(t.column("candidat_id").to_pylist(),
                            zip(t.column("person_id").to_pylist(),
                                t.column("match_probability").to_pylist())))
    rescored = {c for c, v in links[link.name].items() if links[link.previous].get(c) != v}
    explained = set(diff.column("candidat_id").to_pylist()) | rescored | {
        r for r, f in zip(new.column("record_id").to_pylist(),
                          new.column("fingerprint").to_pylist())
        if r in before and before[r] != f}
    growth = compare_evaluation(pq.read_table(files[0]), pq.read_table(files[1]),
                                explained=explained)
    write_json(folder / "evaluation_growth.json",
               {"what": f"evaluation dataset of {link.name} against {link.previous} (enclave: "
                        "counts not disclosure-controlled)", **growth})


def _is_nan(v) -> bool:
    return isinstance(v, float) and v != v
