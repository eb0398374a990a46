"""Input data contract: read Parquet/CSV/DataFrames, map columns, validate, set rows aside.

The contract itself (tables, columns, types, keys, references) is declared in
:mod:`appariement.io.contract`. Typical use::

    from appariement.io import load_tables, RejectPolicy
    ds = load_tables(con, "extract/", side="platform", rejects=RejectPolicy.SET_ASIDE,
                     rejects_dir="out/")
    candidats = ds.tables["candidats"]
"""

from .contract import ALL_TABLES, PLATFORM_TABLES, SOURCE_TABLES, table_spec
from .load import REJECTS_TABLE, Dataset, RejectPolicy, find_table_files, load_tables
from .encoding import MIXED_ENCODING_POLICIES, EncodingScan, scan_encoding
from .guard import (NIR_SCIENTIFIC_POLICIES, describe_columns, read_text_table,
                    reader_errors)
from .read import detect_encoding, detect_separator, read_table
from .validate import DATE_ORDER_RULES, DATE_RULES, REASONS, Problem, validate_tables

__all__ = [
    "read_table", "load_tables", "validate_tables", "Dataset", "RejectPolicy", "Problem",
    "find_table_files", "detect_encoding", "detect_separator", "REASONS", "DATE_RULES",
    "DATE_ORDER_RULES", "REJECTS_TABLE", "ALL_TABLES", "PLATFORM_TABLES", "SOURCE_TABLES",
    "table_spec", "read_text_table", "reader_errors", "describe_columns", "scan_encoding",
    "EncodingScan", "MIXED_ENCODING_POLICIES", "NIR_SCIENTIFIC_POLICIES",
]
