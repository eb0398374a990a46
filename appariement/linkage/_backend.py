"""Database backends for Splink: DuckDB in-process (default) or Spark.

The rest of the linkage code only sees :class:`Backend`: it registers the two feature tables with
Splink and brings predictions back into the library's DuckDB connection.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import duckdb

from .._tables import to_arrow, temp_view
from ..errors import ConfigError

__all__ = ["Backend", "make_backend", "BACKENDS", "local_spark_session"]

_ids = itertools.count()

BACKENDS = ("duckdb", "spark")


@dataclass
class Backend:
    """A Splink database API bound to the library's DuckDB connection.

    Attributes:
        name: ``"duckdb"`` or ``"spark"``.
        con: the library's DuckDB connection (inputs and outputs live there).
        spark: the Spark session, for the Spark backend.
    """

    name: str
    con: duckdb.DuckDBPyConnection
    spark: Any = None
    _db_api: Any = field(default=None, repr=False)

    def new_db_api(self):
        """A fresh Splink DB API (one per Linker, so table names never clash)."""
        if self.name == "duckdb":
            from splink import DuckDBAPI
            return DuckDBAPI(connection=self.con)
        from splink import SparkAPI
        return SparkAPI(spark_session=self.spark)

    def register(self, db_api, rel: duckdb.DuckDBPyRelation, name: str):
        """Register a DuckDB relation as a Splink input table named ``name``."""
        if self.name == "duckdb":
            # a view, not a copy: the features are already tables (the cascade's pools), and
            # Splink reads its inputs once to build its own concatenated table
            view = f"_app_in_{name}"
            temp_view(rel, view)
            return db_api.register(view, dataset_display_name=name)
        frame = to_arrow(rel).to_pandas()
        spark_df = self.spark.createDataFrame(frame)
        # Spark temp views live in the session: give each registration its own name (the
        # source_dataset column, not the table name, tells platform from source).
        return db_api.register(spark_df, dataset_display_name=f"{name}_{next(_ids)}")

    def to_duckdb(self, splink_df, name: str) -> duckdb.DuckDBPyRelation:
        """Bring a Splink result into the library's DuckDB connection as the session view
        ``name``: of Splink's own table on DuckDB (no copy), of its rows fetched as Arrow on
        Spark. Drop it (``DROP VIEW``) before dropping Splink's tables."""
        if self.name == "duckdb":
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS "
                             f"SELECT * FROM {splink_df.physical_name}")
        else:
            self.con.register(name, splink_df.as_pyarrow_table())
        return self.con.table(name)


def make_backend(name: str = "duckdb", con: duckdb.DuckDBPyConnection | None = None, *,
                 spark=None) -> Backend:
    """Build a backend.

    Args:
        name: ``"duckdb"`` (default) or ``"spark"``.
        con: the library's DuckDB connection (a new in-memory one if None).
        spark: a ``SparkSession`` for the Spark backend (see :func:`local_spark_session`).
    """
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    con = con or duckdb.connect()
    if name == "spark":
        if spark is None:
            spark = local_spark_session()
    return Backend(name, con, spark)


def local_spark_session(app_name: str = "appariement", *, cores: int = 2,
                        checkpoint_dir: str | None = None):
    """A local Spark session configured for Splink (its similarity UDF jar, a checkpoint dir).

    Needs the ``spark`` extra (``pip install appariement[spark]``) and Java 17.
    """
    import tempfile

    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("the Spark backend needs pyspark: pip install 'appariement[spark]'"
                          ) from exc
    from splink.backends.spark import similarity_jar_location

    spark = (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
             .config("spark.jars", similarity_jar_location())
             .config("spark.sql.shuffle.partitions", str(max(2, cores * 2)))
             .config("spark.default.parallelism", str(max(2, cores * 2)))
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(checkpoint_dir or tempfile.mkdtemp(prefix="spark-ckpt-"))
    return spark
