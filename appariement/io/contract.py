"""The data contract: canonical tables, columns, types, keys and references.

This module only *declares* the contract (see ``DESIGN.md``). Reading and validating input files
against it is done by :mod:`appariement.io.read` / :mod:`appariement.io.validate`, and the
synthetic generator writes tables that follow it.

Types are DuckDB SQL types. Identity columns (names, raw birth dates, sex codes, places) are kept
as text exactly as received: standardising them is the job of :mod:`appariement.identity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column", "TableSpec", "PLATFORM_TABLES", "SOURCE_TABLES", "ALL_TABLES",
    "ELIGIBILITY_CRITERIA_LEVEL1", "ELIGIBILITY_CRITERIA_LEVEL2", "CRITERIA_COLUMNS",
    "CANDIDATURE_STATES", "REFUSAL_REASONS", "STRUCTURE_TYPES", "ORGANISATION_TYPES",
    "table_spec",
]

ELIGIBILITY_CRITERIA_LEVEL1 = ("RSA", "ASS", "AAH", "DETLD")
ELIGIBILITY_CRITERIA_LEVEL2 = ("CAP_BEP", "SENIOR", "JEUNE", "ASE", "DELD", "TH", "PI", "PSH_PR",
                               "REF_DA", "ZRR", "QPV", "DETENTION_MJ", "FLE", "PM")
#: one boolean column per criterion on ``candidats`` (and ``diagnostics``): ``critere_rsa`` ...
CRITERIA_COLUMNS = tuple(f"critere_{c.lower()}" for c in
                         ELIGIBILITY_CRITERIA_LEVEL1 + ELIGIBILITY_CRITERIA_LEVEL2)

CANDIDATURE_STATES = ("new", "processing", "postponed", "prior_to_hire", "accepted", "refused",
                      "cancelled", "obsolete", "pool")
#: refusal reasons of both code eras (the list changed on 2022-07-26)
REFUSAL_REASONS = ("did_not_come", "did_not_come_to_interview", "unavailable", "not_interested",
                   "non_eligible", "eligibility_doubt", "incompatible", "prevent_objectives",
                   "no_position", "hired_elsewhere", "training", "lacking_skills", "not_mobile",
                   "poorly_informed", "approval_expiration_too_close", "deactivation",
                   "duplicate", "auto", "other")
STRUCTURE_TYPES = ("ACI", "AI", "EI", "ETTI", "EITI", "GEIQ", "EA", "EATT", "OPCS")
ORGANISATION_TYPES = ("FT", "ML", "CAP_EMPLOI", "DEPT", "SPIP", "PJJ", "CHRS", "CCAS", "PLIE",
                      "CAF", "OTHER")


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    Attributes:
        name: canonical name.
        type: DuckDB type the column is cast to.
        nullable: whether nulls are allowed.
        identifying: True for columns that must never appear in logs or error messages
            (NIR and other direct identifiers).
        allowed: allowed values (for codes), or None.
    """

    name: str
    type: str = "VARCHAR"
    nullable: bool = True
    identifying: bool = False
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: its columns, key and references to other tables.

    ``references`` maps a column (or tuple of columns) of this table to ``(table, column)``.
    ``optional`` tables may be absent from an extract.
    """

    name: str
    side: str  # "platform" or "source"
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    optional: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _c(name, type_="VARCHAR", nullable=True, **kw) -> Column:
    return Column(name, type_, nullable, **kw)


_CRITERIA = tuple(_c(name, "BOOLEAN") for name in CRITERIA_COLUMNS)

PLATFORM_TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("candidats", "platform", ("candidat_id",), (
        _c("candidat_id", nullable=False),
        _c("nir", identifying=True),
        _c("nom", nullable=False, identifying=True),
        _c("nom_naissance", identifying=True),
        _c("prenoms", nullable=False, identifying=True),
        _c("sexe"),
        _c("date_naissance", identifying=True),  # raw text, may be partial
        _c("commune_naissance"),                 # INSEE commune code (COG), when born in France
        _c("pays_naissance"),                    # INSEE country code (99xxx), when born abroad
        _c("code_postal"),
        _c("adresse", identifying=True),         # street address of residence (free text)
        _c("commune_residence", identifying=True),  # town of residence (name)
        _c("date_inscription", "DATE", nullable=False),
        _c("type_inscription", allowed=("autonome", "tiers")),
        *_CRITERIA,
        _c("date_diagnostic", "DATE"),
        _c("auteur_diagnostic", allowed=("prescripteur", "employeur")),
    )),
    TableSpec("diagnostics", "platform", ("diagnostic_id",), (
        _c("diagnostic_id", nullable=False),
        _c("candidat_id", nullable=False),
        _c("date_diagnostic", "DATE", nullable=False),
        _c("auteur_diagnostic", allowed=("prescripteur", "employeur")),
        *_CRITERIA,
    ), references={"candidat_id": ("candidats", "candidat_id")}, optional=True),
    TableSpec("candidatures", "platform", ("candidature_id",), (
        _c("candidature_id", nullable=False),
        _c("candidat_id", nullable=False),
        _c("structure_id", nullable=False),
        _c("date_candidature", "DATE", nullable=False),
        _c("origine", allowed=("candidat", "prescripteur", "employeur")),
        _c("organisation_id"),
        _c("etat", nullable=False, allowed=CANDIDATURE_STATES),
        _c("motif_refus", allowed=REFUSAL_REASONS),
        _c("date_embauche", "DATE"),
        _c("date_traitement", "DATE"),
    ), references={"candidat_id": ("candidats", "candidat_id"),
                   "structure_id": ("structures", "structure_id"),
                   "organisation_id": ("organisations", "organisation_id")}),
    TableSpec("fiches_de_poste", "platform", ("fiche_id",), (
        _c("fiche_id", nullable=False),
        _c("structure_id", nullable=False),
        _c("code_rome"),
        _c("type_contrat"),
        _c("active", "BOOLEAN"),
    ), references={"structure_id": ("structures", "structure_id")}),
    TableSpec("fiches_de_poste_par_candidature", "platform", ("candidature_id", "fiche_id"), (
        _c("candidature_id", nullable=False),
        _c("fiche_id", nullable=False),
    ), references={"candidature_id": ("candidatures", "candidature_id"),
                   "fiche_id": ("fiches_de_poste", "fiche_id")}),
    TableSpec("structures", "platform", ("structure_id",), (
        _c("structure_id", nullable=False),
        _c("siret"),
        _c("type", nullable=False, allowed=STRUCTURE_TYPES),
        _c("departement"),
    )),
    TableSpec("organisations", "platform", ("organisation_id",), (
        _c("organisation_id", nullable=False),
        _c("type", allowed=ORGANISATION_TYPES),
        _c("habilitee", "BOOLEAN"),
        _c("departement"),
    )),
    TableSpec("pass_agrements", "platform", ("numero",), (
        _c("numero", nullable=False),
        _c("candidat_id", nullable=False),
        _c("structure_id"),
        _c("date_debut", "DATE", nullable=False),
        _c("date_fin", "DATE"),
        _c("origine"),
    ), references={"candidat_id": ("candidats", "candidat_id"),
                   "structure_id": ("structures", "structure_id")}),
    TableSpec("flux_iae_salarie", "platform", ("salarie_id",), (
        _c("salarie_id", nullable=False),
        _c("numero_pass"),
        _c("siret"),
        _c("date_debut", "DATE"),
        _c("date_fin", "DATE"),
    ), references={"numero_pass": ("pass_agrements", "numero")}, optional=True),
]}

SOURCE_TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("personnes", "source", ("person_id",), (
        _c("person_id", nullable=False),
        _c("nir", identifying=True),          # or a pivot code, once pseudonymised
        _c("nom_naissance", nullable=False, identifying=True),
        _c("nom_usage", identifying=True),
        _c("prenoms", nullable=False, identifying=True),
        _c("sexe"),
        _c("date_naissance", identifying=True),
        _c("commune_naissance"),
        _c("pays_naissance"),
        _c("code_postal"),
        _c("adresse", identifying=True),
        _c("commune_residence", identifying=True),
    )),
    TableSpec("periodes_emploi", "source", ("person_id", "date_debut", "siret"), (
        _c("person_id", nullable=False),
        _c("date_debut", "DATE", nullable=False),
        _c("siret", nullable=False),
        _c("date_fin", "DATE"),
        _c("type_contrat", allowed=("CDI", "CDD", "INTERIM", "CDDI", "APPRENTISSAGE", "AUTRE")),
        _c("heures", "DOUBLE"),
        _c("salaire", "DOUBLE"),
    ), references={"person_id": ("personnes", "person_id")}),
]}

ALL_TABLES: dict[str, TableSpec] = {**PLATFORM_TABLES, **SOURCE_TABLES}


def table_spec(name: str) -> TableSpec:
    """Return the spec of a canonical table; raise a clear error for an unknown name."""
    from ..errors import ConfigError
    try:
        return ALL_TABLES[name]
    except KeyError:
        raise ConfigError(f"unknown table {name!r}; the contract has: "
                          f"{', '.join(sorted(ALL_TABLES))}") from None
