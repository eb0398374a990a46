"""Hostile inputs to every reader: no traceback escapes, no field value in any message or log,
and every repaired or refused value is counted.

Each file plants sentinel values (a NIR, two surnames, a first name, a birth date) that no
message, log line or chained exception may repeat.
"""

from __future__ import annotations

import logging
import re
import traceback

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appariement import cli
from appariement.crypto.pivot import read_identities
from appariement.crypto.pseudonymise import Pseudonymiser
from appariement.errors import AppariementError, InputError, InvalidValueError, SchemaError
from appariement.io import detect_encoding, load_tables, read_table
from appariement.io.encoding import scan_encoding
from appariement.io.guard import (describe_columns, looks_like_column_name,
                                  nir_spreadsheet_arrow, read_text_table, reader_errors)

SENTINEL_NIR = "185057800608491"
SENTINEL_NAMES = ("QUETZALBROUK", "Zéphyrinette", "VLADOMIRESCU")
SENTINEL_DATE = "1937-11-23"
SENTINELS = (SENTINEL_NIR, *SENTINEL_NAMES, SENTINEL_DATE)
HEADER = "candidat_id;nir;nom;prenoms;sexe;date_naissance;date_inscription"
GOOD_ROW = f"c1;{SENTINEL_NIR};{SENTINEL_NAMES[0]};{SENTINEL_NAMES[1]};1;{SENTINEL_DATE};2021-03-01"
OTHER_ROW = f"c2;290017500012345;{SENTINEL_NAMES[2]};Luc;1;1990-01-01;2022-01-01"

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _assert_clean(text: str, *extra: str) -> None:
    for secret in (*SENTINELS, *extra):
        assert secret not in text, "a field value leaked into a message or log"


def _assert_error_clean(exc: BaseException, log_text: str = "", *extra: str) -> None:
    """The message, the whole formatted traceback (chained causes included) and the logs."""
    assert isinstance(exc, AppariementError), f"{type(exc).__name__} escaped"
    formatted = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    _assert_clean(str(exc), *extra)
    _assert_clean(formatted, *extra)
    _assert_clean(log_text, *extra)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="appariement")
    return caplog


def _readers():
    """Every reader a command uses: the contract reader (link, run, pprl encode) and the
    guarded Arrow reader (pivot encrypt, pivot transcode, pseudonymise)."""
    return {
        "read_table": lambda p: read_table(duckdb.connect(), p, "candidats").fetchall(),
        "read_identities": read_identities,
        "read_text_table": read_text_table,
    }


READERS = sorted(_readers())


def _read(reader: str, path):
    return _readers()[reader](path)


# --- malformed CSV -----------------------------------------------------------------------------

MALFORMED = {
    "unclosed quote": f'{HEADER}\n{GOOD_ROW}\nc2;"{SENTINEL_NIR};{SENTINEL_NAMES[2]};X;1;x;y\n',
    "extra fields": f"{HEADER}\n{GOOD_ROW};{SENTINEL_NAMES[2]};{SENTINEL_NIR}\n",
    "missing fields": f"{HEADER}\n{OTHER_ROW}\nc3;{SENTINEL_NIR};{SENTINEL_NAMES[0]}\n",
}
#: files some readers accept (a quote inside an unquoted field is only a character to pyarrow)
DUBIOUS = {
    "stray quote mid-field": f'{HEADER}\nc1;{SENTINEL_NIR};QUETZ"ALBROUK;A;1;{SENTINEL_DATE};x\n',
    "NUL byte": f"{HEADER}\nc1;{SENTINEL_NIR}\x00;{SENTINEL_NAMES[0]};A;1;{SENTINEL_DATE};x\n",
    "CR line ends": f"{HEADER}\r{GOOD_ROW}\r{OTHER_ROW}\r",
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_csv_gives_a_clean_input_error(tmp_path, logs, reader, case):
    path = tmp_path / "candidats.csv"
    path.write_text(MALFORMED[case], encoding="utf-8")
    try:
        _read(reader, path)
    except Exception as exc:  # noqa: BLE001 - the point is which kind escapes
        _assert_error_clean(exc, logs.text)
        assert exc.__cause__ is None
        assert exc.__context__ is None or exc.__suppress_context__
    else:
        pytest.fail("a malformed CSV was read without an error")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", sorted(DUBIOUS))
def test_dubious_csv_is_read_or_refused_cleanly(tmp_path, logs, reader, case):
    path = tmp_path / "candidats.csv"
    path.write_text(DUBIOUS[case], encoding="utf-8", newline="")
    try:
        _read(reader, path)
    except Exception as exc:  # noqa: BLE001
        _assert_error_clean(exc, logs.text)
    _assert_clean(logs.text)


@pytest.mark.parametrize("reader", READERS)
def test_readers_name_the_bad_lines_by_number(tmp_path, reader):
    lines = [HEADER] + [OTHER_ROW.replace("c2", f"c{i}") for i in range(2, 9)]
    lines[4] += f";{SENTINEL_NIR}"  # line 5 of the file has one field too many
    path = tmp_path / "candidats.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        _read(reader, path)
    assert "1 line(s)" in str(info.value) and "line(s) 5" in str(info.value)
    assert "the first has 8" in str(info.value)
    _assert_error_clean(info.value)


@FAST
@given(junk=st.binary(min_size=1, max_size=12), position=st.integers(0, 200),
       reader=st.sampled_from(READERS))
def test_random_bytes_in_a_line_never_leak(tmp_path_factory, logs, junk, position, reader):
    """Random bytes spliced into a data line: either the file is read, or a clean error."""
    logs.clear()
    body = f"{HEADER}\n{GOOD_ROW}\n{OTHER_ROW}\n".encode("utf-8")
    cut = len(HEADER) + 1 + position % (len(body) - len(HEADER) - 1)
    path = tmp_path_factory.mktemp("junk") / "candidats.csv"
    path.write_bytes(body[:cut] + junk + body[cut:])
    try:
        _read(reader, path)
    except Exception as exc:  # noqa: BLE001
        _assert_error_clean(exc, logs.text)
    else:
        _assert_clean(logs.text)


def test_reader_errors_scrubs_any_library_message():
    for exc in (ValueError(f"CSV parse error: Expected 3 columns, got 5: {SENTINEL_NIR};x"),
                UnicodeDecodeError("utf-8", SENTINEL_NIR.encode(), 0, 1, "bad"),
                duckdb.InvalidInputException(f"Original Line: {SENTINEL_NAMES[0]}"),
                pa.ArrowInvalid(f"In CSV column #1: {SENTINEL_DATE}")):
        with pytest.raises(InputError) as info:
            with reader_errors("identities", "ids.csv", fmt="CSV"):
                raise exc
        _assert_error_clean(info.value)
        assert type(exc).__name__ in str(info.value)
    with pytest.raises(SchemaError):  # the library's own errors pass unchanged
        with reader_errors("identities"):
            raise SchemaError("kept")


def test_corrupt_gzip_and_parquet_are_clean_errors(tmp_path, logs):
    gz = tmp_path / "candidats.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + SENTINEL_NIR.encode() * 3)
    pq_file = tmp_path / "candidats.parquet"
    pq_file.write_bytes(b"PAR1" + SENTINEL_NIR.encode() + b"PAR1")
    for path in (gz, pq_file):
        for reader in READERS:
            with pytest.raises(AppariementError) as info:
                _read(reader, path)
            _assert_error_clean(info.value, logs.text)


# --- headerless files --------------------------------------------------------------------------

@pytest.mark.parametrize("reader", ["read_table", "load_tables"])
def test_headerless_csv_never_prints_its_first_row(tmp_path, logs, reader):
    path = tmp_path / "candidats.csv"
    path.write_text(f"{GOOD_ROW}\n{OTHER_ROW}\n")
    with pytest.raises(SchemaError) as info:
        if reader == "read_table":
            read_table(duckdb.connect(), path, "candidats")
        else:
            load_tables(duckdb.connect(), {"candidats": path})
    _assert_error_clean(info.value, logs.text)
    assert "7 column(s)" in str(info.value)
    assert "header line" in str(info.value)


def test_pseudonymise_missing_column_never_prints_a_data_header(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text(f"{GOOD_ROW}\n")
    table = read_text_table(path)
    with pytest.raises(AppariementError) as info:
        Pseudonymiser(_secret_key(), project="p").pseudonymise_table(table, "nir")
    _assert_error_clean(info.value)


def test_missing_column_lists_real_column_names(tmp_path):
    path = tmp_path / "candidats.csv"
    path.write_text("candidat_id;Nom_Famille;prenoms\nc1;X;Y\n")
    with pytest.raises(SchemaError) as info:
        read_table(duckdb.connect(), path, "candidats")
    assert "'candidat_id'" in str(info.value) and "'prenoms'" in str(info.value)
    assert "Nom_Famille" not in str(info.value)  # not snake_case: counted, not printed
    assert "1 not shown" in str(info.value)


_values = st.one_of(
    st.from_regex(r"[A-Z][A-Za-zéèï\-]{1,15}", fullmatch=True),       # names
    st.from_regex(r"[12][0-9]{12}([0-9]{2})?", fullmatch=True),       # NIR-like
    st.from_regex(r"(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]", fullmatch=True),  # dates
    st.from_regex(r"[0-3][0-9]/[01][0-9]/(19|20)[0-9]{2}", fullmatch=True),
    st.from_regex(r"[a-z]{2,12}", fullmatch=True),                    # a lower-case first name
    st.from_regex(r"[a-z.]{1,10}@[a-z]{2,8}\.fr", fullmatch=True),    # e-mail
)


@FAST
@given(row=st.lists(_values, min_size=1, max_size=12))
def test_describe_columns_never_prints_a_value(row):
    text = describe_columns(row, known=["candidat_id", "nom"])
    for value in row:
        assert repr(value) not in text
    assert text.startswith(f"{len(row)} column(s)")


@FAST
@given(names=st.lists(st.from_regex(r"[a-z]{2,8}(_[a-z]{2,8}){1,3}", fullmatch=True),
                      min_size=1, max_size=8, unique=True))
def test_describe_columns_shows_snake_case_headers(names):
    text = describe_columns(names)
    assert all(repr(n) in text for n in names)
    assert all(looks_like_column_name(n) for n in names)


# --- encodings ---------------------------------------------------------------------------------

_UTF8_NAMES = ["Zoé", "Hélène", "François", "Noël", "Bérénice", "Jérôme"]


def _names_file(path, lines: list[bytes]) -> None:
    path.write_bytes(b"candidat_id;nom;prenoms;date_inscription\n" + b"".join(lines))


def _row(i: int, name: str, encoding: str) -> bytes:
    return f"c{i};{name};Jean;2021-03-01\n".encode(encoding)


@pytest.mark.parametrize("reader", READERS)
def test_one_stray_byte_is_an_error_by_default(tmp_path, logs, reader):
    path = tmp_path / "candidats.csv"
    lines = [_row(i, _UTF8_NAMES[i % 6], "utf-8") for i in range(40)]
    lines[17] = _row(17, "Zéphyrinette", "cp1252")  # one stray cp1252 line, file line 19
    _names_file(path, lines)
    with pytest.raises(InputError) as info:
        _read(reader, path)
    message = str(info.value)
    assert "mixes encodings" in message and "39 line(s) are UTF-8" in message
    assert "1 line(s) are not" in message and "line 19" in message
    _assert_error_clean(info.value, logs.text)


@FAST
@given(stray=st.sets(st.integers(0, 59), min_size=1, max_size=6),
       reader=st.sampled_from(["read_table", "read_text_table"]))
def test_mixed_encodings_warn_decodes_each_line_on_its_own(tmp_path_factory, logs, stray,
                                                           reader):
    logs.clear()
    path = tmp_path_factory.mktemp("mixed") / "candidats.csv"
    names = [_UTF8_NAMES[i % 6] for i in range(60)]
    _names_file(path, [_row(i, n, "cp1252" if i in stray else "utf-8")
                       for i, n in enumerate(names)])
    if reader == "read_table":
        rel = read_table(duckdb.connect(), path, "candidats", on_mixed_encoding="warn")
        by_id = dict(rel.select("candidat_id, nom").fetchall())
        got = [by_id[f"c{i}"] for i in range(60)]
    else:
        got = read_text_table(path, on_mixed_encoding="warn").column("nom").to_pylist()
    assert got == names  # every line decoded right, UTF-8 and cp1252 alike
    warning = [r.getMessage() for r in logs.records if "mixes encodings" in r.getMessage()]
    assert len(warning) == 1
    assert f"{60 - len(stray)} line(s) decoded as UTF-8" in warning[0]
    assert f"{len(stray)} line(s) decoded as Windows-1252" in warning[0]
    assert f"line {min(stray) + 2}" in warning[0] or f"lines {min(stray) + 2}" in warning[0]
    _assert_clean(logs.text, *_UTF8_NAMES)


@FAST
@given(kinds=st.lists(st.sampled_from(["ascii", "utf-8", "latin"]), min_size=1, max_size=40))
def test_scan_counts_each_kind_of_line(tmp_path_factory, kinds):
    text = {"ascii": "Martin", "utf-8": "Zoé", "latin": "Zoé"}
    lines = [_row(i, text[k], "latin-1" if k == "latin" else "utf-8")
             for i, k in enumerate(kinds)]
    path = tmp_path_factory.mktemp("scan") / "t.csv"
    _names_file(path, lines)
    scan = scan_encoding(path)
    assert scan.utf8_lines == kinds.count("utf-8")
    assert scan.other_lines == kinds.count("latin")
    expected = [i + 2 for i, k in enumerate(kinds) if k == "latin"][:5]
    assert list(scan.other_examples) == expected
    assert detect_encoding(path) == {"ascii": "utf-8", "utf-8": "utf-8", "latin-1": "latin-1",
                                     "mixed": "mixed"}[scan.kind]


@pytest.mark.parametrize("reader", READERS)
def test_a_genuine_latin1_file_is_read_without_complaint(tmp_path, logs, reader):
    path = tmp_path / "candidats.csv"
    names = ["Zoé", "Œuvray", "Noël"]  # Œ is 0x8C: Windows-1252
    _names_file(path, [_row(i, n, "cp1252") for i, n in enumerate(names)])
    if reader == "read_table":
        got = [r[0] for r in read_table(duckdb.connect(), path, "candidats")
               .order("candidat_id").select("nom").fetchall()]
    else:
        got = _read(reader, path).column("nom").to_pylist()
    assert got == names
    assert not [r for r in logs.records if r.levelno >= logging.WARNING]


def test_declared_utf8_with_latin_lines_is_an_error(tmp_path):
    path = tmp_path / "candidats.csv"
    _names_file(path, [_row(0, "Zoé", "utf-8"), _row(1, "Zéphyrinette", "latin-1")])
    with pytest.raises(InputError, match="declared UTF-8 but 1 line"):
        read_table(duckdb.connect(), path, "candidats", encoding="utf-8")
    with pytest.raises(InputError, match="declared UTF-8"):
        read_text_table(path, encoding="utf-8")


def test_bad_policies_are_config_errors(tmp_path):
    path = tmp_path / "candidats.csv"
    _names_file(path, [_row(0, "Zoé", "utf-8")])
    with pytest.raises(AppariementError, match="on_mixed_encoding"):
        read_table(duckdb.connect(), path, "candidats", on_mixed_encoding="guess")
    with pytest.raises(AppariementError, match="on_nir_scientific"):
        read_text_table(path, on_nir_scientific="round")


# --- NIRs damaged by a spreadsheet -------------------------------------------------------------

_nir13 = st.from_regex(r"[12][0-9]{12}", fullmatch=True)
_nir15 = st.from_regex(r"[12][0-9]{14}", fullmatch=True)
_kind = st.sampled_from(["clean", "dot_zero", "scientific", "null"])


def _damaged(nir: str, kind: str, zeros: int) -> str | None:
    if kind == "dot_zero":
        return nir + "." + "0" * zeros
    if kind == "scientific":  # what a spreadsheet shows: 3 to 6 significant digits
        digits = nir[: 3 + zeros % 4]
        return f"{digits[0]}.{digits[1:]}E+{len(nir) - 1}"
    return None if kind == "null" else nir


@FAST
@given(rows=st.lists(st.tuples(st.one_of(_nir13, _nir15), _kind, st.integers(1, 3)),
                     min_size=1, max_size=30),
       reader=st.sampled_from(["read_table", "read_text_table", "dataframe"]))
def test_nir_dot_zero_repaired_and_scientific_refused_with_counts(tmp_path_factory, logs, rows,
                                                                  reader):
    logs.clear()
    values = [_damaged(nir, kind, z) for nir, kind, z in rows]
    frame = pd.DataFrame({"candidat_id": [f"c{i}" for i in range(len(rows))], "nir": values,
                          "nom": "MARTIN", "prenoms": "Jean", "date_inscription": "2021-03-01"})
    path = tmp_path_factory.mktemp("nir") / "candidats.csv"
    frame.to_csv(path, sep=";", index=False)
    n_dot = sum(k == "dot_zero" for _, k, _ in rows)
    n_sci = sum(k == "scientific" for _, k, _ in rows)

    def read(**options):
        if reader == "read_text_table":
            return read_text_table(path, **options).column("nir").to_pylist()
        source = frame if reader == "dataframe" else path
        rel = read_table(duckdb.connect(), source, "candidats", **options)
        return [r[0] for r in rel.order("candidat_id").select("nir").fetchall()]

    if n_sci:
        with pytest.raises(InvalidValueError) as info:
            read()
        assert f"{n_sci} value(s) are in scientific notation" in str(info.value)
        assert info.value.n_rows == n_sci
        _assert_error_clean(info.value, logs.text, *(v for v in values if v))
        logs.clear()
    got = read(on_nir_scientific="null")
    if reader != "read_text_table":  # read_table's order is by key text: realign
        got = [dict(zip(sorted(frame.candidat_id), got))[c] for c in frame.candidat_id]
    expected = [nir if kind in ("clean", "dot_zero") else None for nir, kind, _ in rows]
    assert got == expected
    messages = [r.getMessage() for r in logs.records]
    assert any(f"{n_dot} value(s) ended in '.0'" in m for m in messages) == bool(n_dot)
    assert any(f"{n_sci} value(s) in scientific notation" in m for m in messages) == bool(n_sci)
    _assert_clean(logs.text, *(v for v in values if v))


def test_float_nirs_from_pandas_are_repaired_exactly(logs):
    frame = pd.DataFrame({"candidat_id": ["c1", "c2"], "nir": [185057800608491.0, None],
                          "nom": "A", "prenoms": "B", "date_inscription": "2021-03-01"})
    rel = read_table(duckdb.connect(), frame, "candidats")
    assert rel.order("candidat_id").select("nir").fetchall() == [(SENTINEL_NIR,), (None,)]
    assert "1 value(s) ended in '.0'" in logs.text
    _assert_clean(logs.text)


def test_scientific_refusal_names_row_keys_only():
    frame = pd.DataFrame({"candidat_id": ["c1", "c2", "c3"],
                          "nir": ["1.85057E+14", SENTINEL_NIR, "2,9E+14"],
                          "nom": "A", "prenoms": "B", "date_inscription": "2021-03-01"})
    with pytest.raises(InvalidValueError) as info:
        read_table(duckdb.connect(), frame, "candidats")
    assert info.value.examples == ["c1", "c3"] and info.value.table == "candidats"
    assert "c1, c3" in str(info.value)
    _assert_error_clean(info.value, "", "1.85057E+14", "2,9E+14")


@pytest.mark.parametrize("value", ["185057800608491.5", "18505780060849.0", "1850578006084910.0",
                                   "2A5057800608491.0", "185057800608491"])
def test_only_exact_13_or_15_digits_lose_their_dot_zero(value):
    got = nir_spreadsheet_arrow(pa.array([value]), "t").to_pylist()
    expected = value[:-2] if re.fullmatch(r"([0-9]{13}|[0-9]{15})\.0", value) else value
    assert got == [expected]


# --- through the command line ------------------------------------------------------------------

def _secret_key():
    from appariement.crypto import generate_key
    return generate_key()


@pytest.fixture
def keys(tmp_path):
    assert cli.main(["keygen", "--out", str(tmp_path / "k.key")]) == 0
    assert cli.main(["keygen", "--type", "x25519", "--out", str(tmp_path / "x.key"),
                     "--public-out", str(tmp_path / "x.pub")]) == 0
    return tmp_path


@pytest.mark.parametrize("content", ["malformed", "headerless", "mixed", "scientific"])
@pytest.mark.parametrize("command", ["pseudonymise", "pivot encrypt"])
def test_commands_exit_3_with_a_clean_message(tmp_path, keys, capsys, logs, content, command):
    path = tmp_path / "candidats.csv"
    _hostile_file(path, content)
    out = tmp_path / "out.parquet"
    if command == "pseudonymise":
        argv = ["pseudonymise", "--key", str(keys / "k.key"), "--project", "p", "--in",
                str(path), "--column", "nir", "--out", str(out)]
    else:
        argv = ["pivot", "encrypt", "--recipient", str(keys / "x.pub"), "--project", "p",
                "--in", str(path), "--out", str(tmp_path / "ids.enc")]
    code = cli.main(argv)
    captured = capsys.readouterr()
    if content == "headerless" and command == "pivot encrypt":
        assert code == 3  # SchemaError: no id column
    else:
        assert code in (2, 3)
    assert "error:" in captured.err
    _assert_clean(captured.out + captured.err + logs.text, "1.85057800608E+14")
    assert not out.exists()


def _hostile_file(path, content: str) -> None:
    if content == "malformed":
        path.write_text(MALFORMED["unclosed quote"])
    elif content == "headerless":
        path.write_text(f"{GOOD_ROW}\n{OTHER_ROW}\n")
    elif content == "mixed":
        path.write_bytes(f"{HEADER}\n{OTHER_ROW.replace('Luc', 'Zoé')}\n".encode()
                         + GOOD_ROW.encode("cp1252") + b"\n")
    else:
        path.write_text(f"{HEADER}\n{GOOD_ROW.replace(SENTINEL_NIR, '1.85057800608E+14')}\n")


@pytest.mark.parametrize("content", ["malformed", "headerless", "mixed", "scientific"])
@pytest.mark.parametrize("command", ["link", "pprl encode"])
def test_contract_commands_exit_3_with_a_clean_message(tmp_path, keys, capsys, logs, content,
                                                       command):
    path = tmp_path / "candidats.csv"
    _hostile_file(path, content)
    personnes = tmp_path / "personnes.csv"
    personnes.write_text("person_id;nir;nom_naissance;prenoms\np1;290017500012345;DURAND;Luc\n")
    out = tmp_path / "out"
    if command == "link":
        argv = ["link", "--platform", str(path), "--source", str(personnes), "--out", str(out)]
    else:
        argv = ["pprl", "encode", "--in", str(path), "--side", "platform", "--project", "p",
                "--key", str(keys / "k.key"), "--out", str(out / "enc.parquet")]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 3
    assert "error:" in captured.err
    _assert_clean(captured.out + captured.err + logs.text, "1.85057800608E+14")
    assert not (out / "enc.parquet").exists() and not (out / "links.parquet").exists()


def test_a_repeated_nir_column_is_refused_not_a_crash(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("candidat_id;nir;NIR;nom\n1;185057800608436;185057800608436;MARTIN\n")
    with pytest.raises(InputError, match="more than once") as err:
        read_text_table(path)
    assert "185057800608436" not in str(err.value) and "MARTIN" not in str(err.value)
