"""Foundation pieces: atomic writes, manifest, contract declarations, CLI plumbing."""

from __future__ import annotations

import json

import pytest

from appariement import _atomic
from appariement.errors import AppariementError, ConfigError, InputError
from appariement.io import contract
from appariement.manifest import RunManifest, file_fingerprint


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with _atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_existing(tmp_path):
    target = tmp_path / "out.txt"
    _atomic.write_text(target, "one")
    _atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_manifest_fingerprints_and_stable_json(tmp_path):
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    m = RunManifest(command="test", config={"seed": 1})
    m.add_input("a", data)
    m.count("read", rows=1)
    path = m.write(tmp_path / "manifest.json")
    loaded = json.loads(path.read_text())
    assert loaded["inputs"]["a"] == file_fingerprint(data)
    assert loaded["inputs"]["a"].startswith("sha256:")
    assert loaded["counts"] == {"read": {"rows": 1}}
    assert loaded["versions"]["splink"] != "not installed"
    assert m.to_dict(include_volatile=False) == m.to_dict(include_volatile=False)
    assert "timings_seconds" not in m.to_dict(include_volatile=False)


def test_error_hierarchy_and_exit_codes():
    err = InputError("bad", table="candidats", column="nir", n_rows=3, examples=["c1"])
    assert isinstance(err, AppariementError)
    assert (err.table, err.column, err.n_rows, err.examples) == ("candidats", "nir", 3, ["c1"])
    assert len({ConfigError.exit_code, InputError.exit_code, AppariementError.exit_code}) == 3


def test_contract_keys_and_references_name_existing_columns():
    for spec in contract.ALL_TABLES.values():
        names = spec.column_names
        assert len(set(names)) == len(names), spec.name
        assert set(spec.key) <= set(names), spec.name
        for col, (ref_table, ref_col) in spec.references.items():
            assert col in names
            assert ref_col in contract.ALL_TABLES[ref_table].column_names


def test_unknown_table_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown table 'candidat'"):
        contract.table_spec("candidat")


def test_a_relation_of_another_connection_is_copied_not_misread():
    import duckdb

    from appariement._tables import as_relation

    mine, theirs = duckdb.connect(), duckdb.connect()
    theirs.execute("CREATE TABLE pf AS SELECT range AS record_id FROM range(5)")
    mine.execute("CREATE TABLE pf AS SELECT 'wrong' AS record_id")  # same name, other rows
    same = theirs.table("pf")
    assert as_relation(theirs, same, "x") is same
    copied = as_relation(mine, same, "x")
    assert sorted(copied.fetchall()) == [(i,) for i in range(5)]
    copied.create_view("copied_view")  # usable in SQL on ``mine``
    assert mine.execute("SELECT sum(record_id) FROM copied_view").fetchall() == [(10,)]


# --- as_relation reads paths through the guarded readers -------------------------------------

NIR = "185057800608491"


def test_a_csv_path_keeps_identifiers_as_text(tmp_path):
    """DuckDB's type guessing read ids "12.50" and "1E5" as numbers (12.5, 100000.0): a labels
    file then matched nobody."""
    from appariement._tables import as_relation, connect

    path = tmp_path / "labels.csv"
    path.write_text("record_id_l;record_id_r\n12.50;1E5\n3.0;007\n", encoding="utf-8")
    rel = as_relation(connect(), path, "labels")
    assert [str(t) for t in rel.types] == ["VARCHAR", "VARCHAR"]
    assert sorted(rel.fetchall()) == [("12.50", "1E5"), ("3.0", "007")]


@pytest.mark.parametrize("case", ["ragged", "missing_csv", "missing_parquet", "bad_parquet",
                                  "empty", "folder"])
def test_a_bad_path_is_an_input_error_that_quotes_nothing(tmp_path, case):
    from appariement._tables import as_relation, connect

    path = {"ragged": tmp_path / "l.csv", "missing_csv": tmp_path / "absent.csv",
            "missing_parquet": tmp_path / "absent.parquet", "bad_parquet": tmp_path / "l.parquet",
            "empty": tmp_path / "e.csv", "folder": tmp_path}[case]
    if case == "ragged":
        path.write_text(f"record_id_l;record_id_r\na;b\n{NIR};DUPONT;Jean\n", encoding="utf-8")
    elif case == "bad_parquet":
        path.write_bytes(f"PAR1 {NIR} DUPONT PAR1".encode())
    elif case == "empty":
        path.write_bytes(b"")
    with pytest.raises(InputError) as info:
        as_relation(connect(), path, "labels").fetchall()
    text = str(info.value)
    assert "labels" in text and NIR not in text and "DUPONT" not in text
    # raised "from None": the reader's own message is not chained into the traceback
    assert info.value.__context__ is None or info.value.__suppress_context__


# --- the system-fault class ----------------------------------------------------------------

def test_system_faults_have_their_own_class_and_the_cli_uses_it():
    from appariement import cli
    from appariement.errors import SystemFault

    assert issubclass(SystemFault, AppariementError) and SystemFault.exit_code == 7
    assert cli.EXIT_SYSTEM == SystemFault.exit_code
    codes = {c.exit_code for c in (AppariementError, ConfigError, InputError, SystemFault)}
    assert len(codes) == 4  # a family of its own


def test_the_cli_reports_an_os_refusal_as_a_system_fault(monkeypatch, capsys):
    import errno

    from appariement import cli
    from appariement.errors import SystemFault

    reported = []
    real = cli._report
    monkeypatch.setattr(cli, "_report", lambda exc: reported.append(exc) or real(exc))

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "out/links.parquet")

    monkeypatch.setattr(cli, "_configure_logging", full)  # inside main's guard, like a command
    assert cli.main(["--quiet", "synth", "--out", "x"]) == 7
    assert [type(e) for e in reported] == [SystemFault]
    assert "No space left on device (out/links.parquet)" in capsys.readouterr().err


# --- step logging ------------------------------------------------------------------------------

def test_a_step_logs_done_only_when_it_succeeded(caplog):
    import logging

    from appariement._log import get_logger, step

    logger = get_logger("test_step")
    timings: dict = {}
    with caplog.at_level(logging.INFO, logger="appariement"):
        with step(logger, "good", timings):
            pass
        with pytest.raises(RuntimeError):
            with step(logger, "bad", timings, extra={"stage": "link"}):
                raise RuntimeError(f"row {NIR} DUPONT")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("good done in") for m in messages)
    assert not any(m.startswith("bad done") for m in messages)
    failed = [r for r in caplog.records if r.getMessage().startswith("bad failed after")]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    assert failed[0].event == "failed" and failed[0].stage == "link"
    assert "RuntimeError" in failed[0].getMessage()
    assert not any(NIR in m or "DUPONT" in m for m in messages)  # the type, never the text
    assert list(timings) == ["good"]  # a failed step records no time


def test_the_pipeline_steps_are_the_library_steps(caplog):
    import logging

    from appariement import pipeline

    with caplog.at_level(logging.INFO, logger="appariement"):
        with pytest.raises(OSError):
            with pipeline._step("stage link", {}, stage="link"):
                raise OSError(28, "No space left on device")
    records = [r for r in caplog.records if r.name == "appariement.pipeline"]
    assert [r.getMessage().split(" after")[0] for r in records] == ["stage link ...",
                                                                    "stage link failed"]
    assert all(r.stage == "link" for r in records)
