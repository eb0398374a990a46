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
    "INSCRIPTION_TYPES", "LACK_OF_NIR_REASONS", "PLATFORM_NIR_FIRST_DIGITS", "PLATFORM_NIR_MONTHS",
    "OPAQUE_KEY_PATTERN", "table_spec",
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
#: the 34 prescriber organisation kinds of les-emplois (``itou/prescribers/enums.py``,
#: ``PrescriberOrganizationKind``, commit 543eae8d). The first eleven are the original codes of
#: this contract; the platform's ``Autre`` is ``OTHER`` here and ``Orienteur`` is ``ORIENTEUR``.
#: France Travail was stored as ``PE`` until 2025-02-06 (commit 887f37b84): profiles recode it.
ORGANISATION_TYPES = ("FT", "ML", "CAP_EMPLOI", "DEPT", "SPIP", "PJJ", "CHRS", "CCAS", "PLIE",
                      "CAF", "OTHER",
                      "AFPA", "ASE", "ORIENTEUR", "CAARUD", "CADA", "CAVA", "CHU", "CIDFF", "CPH",
                      "CSAPA", "E2C", "EPIDE", "HUDA", "MSA", "OACAS", "OIL", "ODC", "OHPD",
                      "OCASF", "PENSION", "PIJ_BIJ", "RS_FJT", "PREVENTION")
#: how the candidate signed up. ``autonome`` / ``tiers`` are the original coarse codes; the
#: platform's warehouse says who the third party was (``itou/metabase/tables/job_seekers.py``,
#: ``get_user_signup_kind``: "autonome", "par professionnel", "par administrateur").
INSCRIPTION_TYPES = ("autonome", "tiers", "par_professionnel", "par_administrateur")
#: ``JobSeekerProfile.lack_of_nir_reason`` (``itou/users/enums.py``, ``LackOfNIRReason``); a DB
#: constraint forbids a NIR and a reason together.
LACK_OF_NIR_REASONS = ("NO_NIR", "NIR_ASSOCIATED_TO_OTHER")
#: the NIRs the platform accepts (``itou/utils/validators.py``, ``validate_nir``): first digit
#: 1/2/3/4/7/8 and any month but 13-19 and 43-49 (so 00-12, 20-42, 50-99). People without a NIR,
#: or with a 7/8 one, get an NTT temporary number at the ASP. Declared here for identity/.
PLATFORM_NIR_FIRST_DIGITS = ("1", "2", "3", "4", "7", "8")
PLATFORM_NIR_MONTHS = tuple(f"{m:02d}" for m in range(100) if not (13 <= m <= 19 or 43 <= m <= 49))
#: an opaque pre-hashed key as the platform's warehouse writes it: hex SHA-256 of the value and
#: one global salt (``itou/metabase/tables/utils.py``, ``hash_content``)
OPAQUE_KEY_PATTERN = r"[0-9a-f]{64}"


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
        opaque_key: True for a pre-hashed join key that both producers computed alike
            (``hash_nir``, ``hash_numero_pass``): usable only for exact equality, in a key class
            of its own, never checked or parsed as a NIR or PASS number.
    """

    name: str
    type: str = "VARCHAR"
    nullable: bool = True
    identifying: bool = False
    allowed: tuple[str, ...] | None = None
    opaque_key: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: its columns, key and references to other tables.

    ``references`` maps a column (or tuple of columns) of this table to ``(table, column)``.
    ``optional`` tables may be absent from an extract.

    ``names_or_key`` is ``(names, keys)``: a row is identified by all of ``names`` or by one
    of ``keys`` (the platform's warehouse has no names but a pre-hashed ``hash_nir``). The
    name columns are then nullable; a table holding neither all the names nor a key column is
    a :class:`~appariement.errors.SchemaError` (:meth:`missing_identity`), and a row with
    neither is rejected as ``null``.

    ``extensions`` are optional columns that only import profiles supply (``hash_nir``,
    ``lack_of_nir_reason`` ...). They are declared apart from ``columns`` so that code written
    for the canonical columns (the synthetic generator, readers of ``column_names``) is
    unchanged; the profile layer (:mod:`appariement.io.profiles`) converts and checks them, and
    they reach the loaded tables as pass-through columns after the canonical ones.
    """

    name: str
    side: str  # "platform" or "source"
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    optional: bool = False
    extensions: tuple[Column, ...] = ()
    names_or_key: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def extension_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.extensions)

    def missing_identity(self, present) -> str | None:
        """What is wrong when a table with columns ``present`` has neither all its names nor a
        key (None when it has one or the other, or the rule does not apply)."""
        if self.names_or_key is None:
            return None
        names, keys = self.names_or_key
        present = set(present)
        if set(names) <= present or present & set(keys):
            return None
        absent = [n for n in names if n not in present]
        return (f"table {self.name!r} has neither its name column(s) {', '.join(absent)} nor a "
                f"key ({' or '.join(keys)}): a row is identified by its names or by a key. "
                "Give the names, a NIR or a pre-hashed key (map your column to one of them)")

    def any_column(self, name: str) -> Column:
        """A canonical or extension column by name (KeyError when neither)."""
        for col in (*self.columns, *self.extensions):
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
        # names OR a key (names_or_key below): the warehouse's candidats_v0 has only hash_nir
        _c("nom", identifying=True),
        _c("nom_naissance", identifying=True),
        _c("prenoms", identifying=True),
        _c("sexe"),
        _c("date_naissance", identifying=True),  # raw text, may be partial
        _c("commune_naissance"),                 # INSEE commune code (COG), when born in France
        _c("pays_naissance"),                    # INSEE country code (99xxx), when born abroad
        _c("code_postal"),
        _c("adresse", identifying=True),         # street address of residence (free text)
        _c("commune_residence", identifying=True),  # town of residence (name)
        _c("date_inscription", "DATE", nullable=False),
        _c("type_inscription", allowed=INSCRIPTION_TYPES),
        *_CRITERIA,
        _c("date_diagnostic", "DATE"),
        _c("auteur_diagnostic", allowed=("prescripteur", "employeur")),
    ), extensions=(
        _c("lack_of_nir_reason", allowed=LACK_OF_NIR_REASONS),
        _c("hash_nir", identifying=True, opaque_key=True),
    ), names_or_key=(("nom", "prenoms"), ("nir", "hash_nir"))),
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
    ), extensions=(
        # the warehouse's "Prescripteur habilité" vs "Orienteur" (both origine prescripteur),
        # and the planned contract start (JobApplication.hiring_start_at)
        _c("prescripteur_habilite", "BOOLEAN"),
        _c("date_debut_contrat", "DATE"),
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
    ), extensions=(
        # PASS IAE (prefix 99999) or France Travail agrément, and the hashed number
        _c("type_agrement", allowed=("pass_iae", "agrement_pe")),
        _c("hash_numero_pass", identifying=True, opaque_key=True),
    ), references={"candidat_id": ("candidats", "candidat_id"),
                   "structure_id": ("structures", "structure_id")}),
    TableSpec("flux_iae_salarie", "platform", ("salarie_id",), (
        _c("salarie_id", nullable=False),
        _c("numero_pass"),
        _c("siret"),
        _c("date_debut", "DATE"),
        _c("date_fin", "DATE"),
    ), extensions=(
        # what the pilotage pipeline keeps of the ASP's person (dags/common/flux_iae.py)
        _c("hash_nir", identifying=True, opaque_key=True),
        _c("hash_numero_pass", identifying=True, opaque_key=True),
        _c("sexe"),
        _c("annee_naissance", "INTEGER"),
        _c("id_structure_asp"),
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
    ), extensions=(
        _c("hash_nir", identifying=True, opaque_key=True),  # a pre-hashed NIR
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
