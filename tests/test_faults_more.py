"""More bad inputs and faults, beyond the three batteries (test_faults, io/test_hostile_inputs,
crypto/test_pivot_authenticity): guarded readers everywhere, clear errors for missing files,
no value in any message, the same permissions from the Python API as from the CLI, and the
pivot commands' path checks.

Every CLI case runs in-process and checks the documented exit code, one ``error:`` line, no
traceback, no field value in what was printed or logged, and (for refusals) that nothing was
written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appariement.cli import main
from appariement.errors import AppariementError, DisclosureError, InputError

NIR = "185057800608491"
NAME = "DUPONT"
SECRETS = (NIR, NAME, "1985-05-12")

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


# ------------------------------------------------------------------------------ helpers

def _digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="appariement")
    return caplog


def _no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {text[:200]!r}"


def _cli(capsys, logs, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--quiet", *[str(a) for a in argv]])
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err
    _no_secret(err, captured.out, logs.text)
    return code, err


def _refused(capsys, logs, expected: int, *argv) -> str:
    code, err = _cli(capsys, logs, *argv)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == expected, err
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keys")
    out = {"secret": root / "s.key", "pivot": root / "pv.key", "stat": root / "st.key"}
    assert main(["--quiet", "keygen", "--out", str(out["secret"])]) == 0
    for name in ("pivot", "stat"):
        assert main(["--quiet", "keygen", "--type", "x25519", "--out", str(out[name])]) == 0
    out["pivot_pub"] = root / "pv.key.pub"
    out["stat_pub"] = root / "st.key.pub"
    return out


IDENTITIES = (f"candidat_id;nir;nom;prenoms;sexe;date_naissance\n"
              f"c1;{NIR};{NAME};Jean;M;1985-05-12\n"
              "c2;;MARTIN;Paul;M;1990-01-15\n")


@pytest.fixture
def ids_csv(tmp_path) -> Path:
    path = tmp_path / "in" / "candidats.csv"
    path.parent.mkdir()
    path.write_text(IDENTITIES, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ review labels

@pytest.mark.parametrize("case", ["missing", "empty", "folder", "ragged", "bad_gzip"])
def test_review_labels_are_read_by_the_guarded_reader(tmp_path, logs, case):
    """pd.read_csv was unguarded: a missing or empty file gave FileNotFoundError or
    EmptyDataError (not an InputError), a ragged line a pandas error."""
    from appariement.evaluation.quality.review import read_review_labels

    path = {"folder": tmp_path, "bad_gzip": tmp_path / "r.csv.gz"}.get(case, tmp_path / "r.csv")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "ragged":
        path.write_text(f"pair_id;label\nR0;match\nR1;{NIR};{NAME};x\n", encoding="utf-8")
    elif case == "bad_gzip":
        path.write_bytes(b"\x1f\x8b\x08\x00" + NIR.encode())
    with pytest.raises(InputError) as info:
        read_review_labels(path)
    assert "review file" in str(info.value)
    _no_secret(str(info.value), logs.text)


def test_review_labels_keep_reading_a_filled_in_file(tmp_path):
    from appariement.evaluation.quality.review import read_review_labels

    path = tmp_path / "r.csv"
    path.write_text("pair_id;stratum;weight;match_probability;label\n"
                    "R0;a;2;0.9; Match \nR1;a;2;0.4;non_match\nR2;b;1;0.5;\n", encoding="utf-8")
    out = read_review_labels(path)
    assert out["is_match"].tolist()[:2] == [True, False]
    assert out["is_match"].isna().tolist() == [False, False, True]
    assert out["weight"].tolist() == [2, 2, 1]


# ------------------------------------------------------------------------------ missing files

@pytest.mark.parametrize("function", ["is_encrypted", "read_header", "decrypt_table",
                                      "decrypt_file", "encrypt_file"])
@pytest.mark.parametrize("where", ["missing", "folder"])
def test_envelope_functions_name_a_missing_file(tmp_path, keys, function, where):
    """is_encrypted (called before the readers' own checks) gave a FileNotFoundError."""
    from appariement.crypto import envelope, load_key

    path = tmp_path / "absent.enc" if where == "missing" else tmp_path
    private = load_key(keys["pivot"])
    call = {"is_encrypted": lambda: envelope.is_encrypted(path),
            "read_header": lambda: envelope.read_header(path),
            "decrypt_table": lambda: envelope.decrypt_table(path, private),
            "decrypt_file": lambda: envelope.decrypt_file(path, tmp_path / "o.bin", private),
            "encrypt_file": lambda: envelope.encrypt_file(path, tmp_path / "o.enc",
                                                          private.public_key())}[function]
    before = _tree(tmp_path)
    with pytest.raises(InputError, match="does not exist" if where == "missing"
                       else "is a folder"):
        call()
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("argv", [
    ["pivot", "encrypt", "--recipient", "{pivot_pub}", "--project", "p", "--in", "{absent}",
     "--out", "{tmp}/x.enc"],
    ["pivot", "transcode", "--key", "{secret}", "--project", "p", "--private-key", "{pivot}",
     "--reference", "{absent}", "--in", "{absent}", "--out", "{tmp}/c.enc", "--encrypt-for",
     "{stat_pub}"],
    ["pivot", "decrypt", "--private-key", "{stat}", "--project", "p", "--in", "{absent}",
     "--out", "{tmp}/c.parquet"],
    ["pivot", "encrypt", "--recipient", "{pivot_pub}", "--project", "p", "--in", "{tmp}",
     "--out", "{tmp}/x.enc"],
], ids=["encrypt", "transcode", "decrypt", "encrypt-folder"])
def test_pivot_commands_name_a_missing_input(tmp_path, keys, capsys, logs, argv):
    names = {k: str(v) for k, v in keys.items()}
    argv = [a.format(absent=tmp_path / "absent.csv", tmp=tmp_path, **names) for a in argv]
    before = _tree(tmp_path)
    message = _refused(capsys, logs, 3, *argv)
    assert "absent.csv" in message or "is not a file" in message
    assert _tree(tmp_path) == before


# ------------------------------------------------------------------------------ pivot columns

def test_a_pivot_code_table_with_data_as_column_names_is_refused_without_them(tmp_path, keys):
    """The unexpected column names were printed: a file whose first data row became its header
    would echo a NIR and a name."""
    from appariement.crypto import encrypt_pivot_codes, load_key

    table = pa.table({"row_id": ["c1"], "pivot_code": ["X"], NIR: ["a"], NAME: ["b"],
                      "nom": ["c"]})
    with pytest.raises(DisclosureError) as info:
        encrypt_pivot_codes(table, tmp_path / "c.enc", load_key(keys["stat_pub"]),
                            project="p", side="platform")
    message = str(info.value)
    _no_secret(message)
    assert "3 column(s)" in message and "'nom'" in message
    assert not (tmp_path / "c.enc").exists()


def test_an_authentic_envelope_with_extra_columns_is_refused_without_naming_them(tmp_path,
                                                                                 keys):
    from appariement.crypto import load_key, read_pivot_codes
    from appariement.crypto.envelope import encrypt_table
    from appariement.crypto.pivot import pivot_codes_context

    path = tmp_path / "c.enc"
    encrypt_table(pa.table({"row_id": ["c1"], "pivot_code": ["X"], NIR: [NAME]}), path,
                  load_key(keys["stat_pub"]), context=pivot_codes_context("p", "platform"))
    with pytest.raises(DisclosureError) as info:
        read_pivot_codes(path, load_key(keys["stat"]), project="p", side="platform")
    _no_secret(str(info.value))
    assert "1 column(s), none shown" in str(info.value)


# ------------------------------------------------------------------------------ permissions

def _modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root.parent).as_posix(): p.stat().st_mode & 0o777
            for p in [root, *root.rglob("*")]}


def _owner_only(root: Path) -> dict[str, str]:
    return {p: oct(m) for p, m in _modes(root).items()
            if m != (0o700 if (root.parent / p).is_dir() else 0o600)}


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # the usual default: folders 0755, files 0644
    yield
    os.umask(old)


@posix_only
def test_linkage_result_write_is_owner_only(tmp_path, open_umask):
    import duckdb

    from appariement._atomic import write_json
    from appariement.linkage.cascade import LinkageConfig, LinkageResult

    class Model:  # LinkageResult.write only asks the model to save itself
        def save(self, path):
            return write_json(path, {"model": "stub"})

    con = duckdb.connect()
    rel = con.sql("SELECT 'c1' AS candidat_id, 'p1' AS person_id")
    result = LinkageResult(con=con, links=rel, unlinked_platform=rel, unlinked_source=rel,
                           set_aside=rel, pairs=rel, model=Model(), blocking=None, counts={},
                           timings={}, config=LinkageConfig())
    out = tmp_path / "new" / "link"
    written = result.write(out)
    assert {"links", "model", "counts"} <= set(written)
    assert not _owner_only(tmp_path / "new")


@posix_only
def test_quality_report_write_is_owner_only(tmp_path, open_umask):
    from appariement.evaluation.quality.report import QualityReport

    QualityReport(figures={"n": 1}, html="<p>report</p>").write(tmp_path / "new" / "report")
    modes = _modes(tmp_path / "new")
    assert {"new/report/report.html", "new/report/report.json"} <= set(modes)
    assert not _owner_only(tmp_path / "new")


@posix_only
def test_run_counterfactual_is_owner_only(tmp_path, open_umask):
    from appariement.evaluation.counterfactual.report import run_counterfactual
    from appariement.synth import SynthConfig, generate

    d = generate(SynthConfig(n_candidates=300, source_ratio=2, seed=4))
    out = tmp_path / "new" / "cf"
    run_counterfactual(d.platform, d.source["periodes_emploi"], d.truth["links"], out,
                       outcomes=("employed_12m",), n_boot=0, thresholds=())
    assert "new/cf/counterfactual.json" in _modes(tmp_path / "new")
    assert not _owner_only(tmp_path / "new")


# ------------------------------------------------------------------------------ pivot paths

@pytest.fixture(scope="module")
def made_once(tmp_path_factory, keys):
    """A producer file and a transcoded, encrypted codes file, made once by the CLI."""
    tmp_path = tmp_path_factory.mktemp("exchange")
    ids_csv = tmp_path / "in" / "candidats.csv"
    ids_csv.parent.mkdir()
    ids_csv.write_text(IDENTITIES, encoding="utf-8")
    ids_enc = tmp_path / "ids.enc"
    ref = tmp_path / "ref.csv"
    ref.write_text(IDENTITIES.replace("candidat_id", "person_id").replace("c1", "p1")
                   .replace("c2", "p2"), encoding="utf-8")
    assert main(["--quiet", "pivot", "encrypt", "--recipient", str(keys["pivot_pub"]),
                 "--project", "p", "--in", str(ids_csv), "--out", str(ids_enc)]) == 0
    codes = tmp_path / "codes.enc"
    assert main(["--quiet", "pivot", "transcode", "--key", str(keys["secret"]), "--project",
                 "p", "--private-key", str(keys["pivot"]), "--reference", str(ref), "--in",
                 str(ids_enc), "--out", str(codes), "--encrypt-for",
                 str(keys["stat_pub"])]) == 0
    (tmp_path / "codes.bin").write_bytes(codes.read_bytes())  # a name the .enc rule lets by
    return tmp_path


@pytest.fixture
def exchange(tmp_path, made_once):
    """A private copy of the exchange files in ``tmp_path``."""
    import shutil

    shutil.copytree(made_once, tmp_path, dirs_exist_ok=True)
    return {"ids_csv": tmp_path / "in" / "candidats.csv", "ids_enc": tmp_path / "ids.enc",
            "ref": tmp_path / "ref.csv", "codes": tmp_path / "codes.enc",
            "codes_bin": tmp_path / "codes.bin"}


def _pivot_argv(kind: str, keys, files, **replace) -> list[str]:
    args = {
        "encrypt": {"--recipient": keys["pivot_pub"], "--project": "p",
                    "--in": files["ids_csv"], "--out": files["ids_csv"].parent / "o.enc"},
        "transcode": {"--key": keys["secret"], "--project": "p",
                      "--private-key": keys["pivot"], "--reference": files["ref"],
                      "--in": files["ids_enc"], "--out": files["ids_csv"].parent / "c.enc",
                      "--encrypt-for": keys["stat_pub"]},
        "decrypt": {"--private-key": keys["stat"], "--project": "p", "--in": files["codes"],
                    "--out": files["ids_csv"].parent / "c.parquet"},
    }[kind]
    for option, value in replace.items():
        args["--" + option.replace("_", "-")] = value
    return ["pivot", kind, *[str(x) for kv in args.items() for x in kv]]


PIVOT_OVERLAPS = [
    ("encrypt", "--out", "ids_csv"), ("encrypt", "--out", "recipient"),
    ("transcode", "--out", "ids_enc"), ("transcode", "--out", "ref"),
    ("transcode", "--out", "secret"), ("transcode", "--out", "pivot"),
    ("transcode", "--out", "stat_pub"), ("transcode", "--manifest", "ref"),
    ("transcode", "--manifest", "ids_enc"), ("transcode", "--manifest", "out"),
    ("decrypt", "--out", "codes_bin"), ("decrypt", "--out", "stat"),
]


@pytest.mark.parametrize("kind, option, target", PIVOT_OVERLAPS,
                         ids=[f"{k}{o}={t}" for k, o, t in PIVOT_OVERLAPS])
def test_pivot_commands_refuse_an_output_over_an_input(tmp_path, keys, exchange, capsys, logs,
                                                       kind, option, target):
    paths = {**exchange, **keys, "recipient": keys["pivot_pub"],
             "out": exchange["ids_csv"].parent / "c.enc"}
    replace = {option.lstrip("-"): paths[target]}
    if target == "out" or kind == "transcode" and option == "--manifest":
        replace.setdefault("out", exchange["ids_csv"].parent / "c.enc")
    if target == "codes_bin":
        replace["in"] = exchange["codes_bin"]
    argv = _pivot_argv(kind, keys, exchange, **replace)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    before_keys = _digest(keys["secret"].parent)
    message = _refused(capsys, logs, 2, *argv)
    assert "same path" in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree
    assert _digest(keys["secret"].parent) == before_keys


@pytest.mark.parametrize("kind", ["encrypt", "transcode", "decrypt"])
@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_pivot_commands_check_their_output_before_any_work(tmp_path, keys, exchange, capsys,
                                                           logs, kind, where):
    out = {"folder": tmp_path, "under_a_file": exchange["ref"] / "x.enc"}[where]
    if kind == "decrypt" and where == "under_a_file":
        out = exchange["ref"] / "x.parquet"
    argv = _pivot_argv(kind, keys, exchange, out=out)
    before, tree = _digest(tmp_path), _tree(tmp_path)
    message = _refused(capsys, logs, 2, *argv)
    assert "--out" in message
    assert _digest(tmp_path) == before and _tree(tmp_path) == tree


def test_pivot_decrypt_still_writes_the_codes(tmp_path, keys, exchange, capsys, logs):
    argv = _pivot_argv("decrypt", keys, exchange)
    assert _cli(capsys, logs, *argv)[0] == 0
    table = pq.read_table(exchange["ids_csv"].parent / "c.parquet")
    assert table.column_names[:2] == ["row_id", "pivot_code"] and table.num_rows == 2


def test_errors_are_appariement_errors():
    assert issubclass(DisclosureError, AppariementError)


# ------------------------------------------------------------------------------ hostile: duplicated columns
# Found by trying more bad inputs on the commands: a file with two columns of the same name was
# silently accepted (DuckDB renamed the second 'nom' to 'nom_1' and the producer encrypted the
# first one for the pivot) or crashed pseudonymise with a KeyError (exit 1, "a bug").

DUPLICATED = f"candidat_id;nom;prenoms;nom\nc1;{NAME};Jean;MARTIN\nc2;LEROY;Marie;PETIT\n"


@pytest.mark.parametrize("kind", ["csv", "parquet", "arrow", "pandas", "case"])
def test_as_relation_refuses_duplicated_column_names(tmp_path, kind):
    from appariement._tables import as_relation, connect

    second = "NOM" if kind == "case" else "nom"  # DuckDB compares names case-insensitively
    table = pa.Table.from_arrays([pa.array(["c1"]), pa.array([NAME]), pa.array(["MARTIN"])],
                                 names=["candidat_id", "nom", second])
    data = {"arrow": table, "case": table, "pandas": table.to_pandas()}.get(kind)
    if kind == "csv":
        data = tmp_path / "t.csv"
        data.write_text(DUPLICATED, encoding="utf-8")
    elif kind == "parquet":
        data = tmp_path / "t.parquet"
        pq.write_table(table, data)
    with pytest.raises(InputError, match="1 column name.s. appear more than once") as info:
        as_relation(connect(), data, "candidats")
    assert "'nom'" in str(info.value)  # a contract column name may be printed
    _no_secret(str(info.value))


def test_a_value_repeated_in_a_headerless_first_row_is_not_printed():
    from appariement._tables import refuse_duplicate_columns

    with pytest.raises(InputError) as info:
        refuse_duplicate_columns(["c1", NAME, "Jean", NAME], "table 'candidats'")
    _no_secret(str(info.value))


def test_pivot_encrypt_refuses_duplicated_columns(tmp_path, keys, capsys, logs):
    src = tmp_path / "dup.csv"
    src.write_text(DUPLICATED, encoding="utf-8")
    before = _tree(tmp_path)
    message = _refused(capsys, logs, 3, "pivot", "encrypt", "--recipient", keys["pivot_pub"],
                       "--project", "p", "--in", src, "--out", tmp_path / "ids.enc")
    assert "dup.csv" in message and "more than once" in message
    assert _tree(tmp_path) == before


def test_identity_columns_refuse_duplicated_columns():
    from appariement.crypto.pivot import identity_columns

    table = pa.Table.from_arrays([pa.array(["c1"]), pa.array([NAME]), pa.array(["MARTIN"])],
                                 names=["candidat_id", "nom", "nom"])
    with pytest.raises(InputError, match="more than once"):
        identity_columns(table)


def test_pseudonymise_refuses_a_duplicated_column_instead_of_crashing(tmp_path, keys, capsys,
                                                                     logs):
    src = tmp_path / "dup.csv"
    src.write_text(DUPLICATED, encoding="utf-8")
    before = _tree(tmp_path)
    message = _refused(capsys, logs, 3, "pseudonymise", "--key", keys["secret"], "--project",
                       "p", "--in", src, "--column", "nom", "--normalise", "none", "--out",
                       tmp_path / "o.csv")
    assert "more than once" in message
    assert _tree(tmp_path) == before


# ------------------------------------------------------------------------------ hostile: log file

@posix_only
def test_a_log_file_in_a_missing_folder_is_created_like_any_output(tmp_path, capsys, logs):
    """--log-file passed the up-front check (its folder can be created) and then failed with
    'No such file or directory' (exit 7): the folder was never created."""
    log = tmp_path / "journal é ✓" / "sous" / "run.jsonl"
    code, err = _cli(capsys, logs, "--log-file", log, "keygen", "--out", tmp_path / "k.key")
    assert code == 0, err
    assert log.is_file() and log.stat().st_mode & 0o777 == 0o600
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in (log.parent, log.parent.parent))
    assert "wrote SecretKey" in log.read_text(encoding="utf-8")
