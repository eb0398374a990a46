"""Path guards: no output over an input, no write into a folder that cannot take it.

Every command checks its paths before it writes anything (an error half-way through must not
leave a half-written output next to a destroyed input). Messages name the *roles* of the paths
(``--out``, ``inputs.platform``) and the paths themselves, never file contents.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator, Mapping

from .errors import ConfigError

__all__ = ["same_path", "is_within", "refuse_output_over_input", "refuse_inputs_in_outputs",
           "check_output_dir",
           "check_output_file", "private_dir", "private_file", "restrict_tree", "private_outputs",
           "FILE_MODE", "DIR_MODE"]

#: mode of every file appariement writes (owner read/write only; POSIX)
FILE_MODE = 0o600
#: mode of every folder appariement creates (owner only; POSIX)
DIR_MODE = 0o700


def _canonical(path: str | os.PathLike) -> str:
    """Absolute path with symlinks resolved and, on case-insensitive systems, case folded."""
    return os.path.normcase(os.path.realpath(os.path.abspath(os.fspath(path))))


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file or folder (symlinks, ``..``, hard links and
    Windows case included when detectable)."""
    if _canonical(a) == _canonical(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: not the same existing file
        return False


def is_within(child: str | os.PathLike, parent: str | os.PathLike) -> bool:
    """True when ``child`` is ``parent`` or lies below it (after resolving symlinks)."""
    c, p = _canonical(child), _canonical(parent)
    return c == p or c.startswith(p.rstrip(os.sep) + os.sep)


def refuse_output_over_input(outputs: Mapping[str, str | os.PathLike | None],
                             inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Raise :class:`ConfigError` when an output path is an input path.

    Args:
        outputs: role (e.g. ``"--out"``) -> output file or folder.
        inputs: role (e.g. ``"--in"``) -> input file or folder.

    Examples:
        >>> refuse_output_over_input({"--out": "a.csv"}, {"--in": "./a.csv"})
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: --out is the same path as --in (a.csv): refusing to overwrite an input; choose another output path
    """
    for out_role, out in outputs.items():
        if out is None:
            continue
        for in_role, src in inputs.items():
            if src is not None and same_path(out, src):
                raise ConfigError(f"{out_role} is the same path as {in_role} ({out}): refusing "
                                  "to overwrite an input; choose another output path")


def refuse_inputs_in_outputs(out: str | os.PathLike, out_role: str,
                             inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Raise :class:`ConfigError` when an input lies inside the outputs folder (or is it), or
    the outputs folder lies inside an input folder.

    The outputs folder belongs to the command that writes it: whatever it holds may one day be
    replaced, so it may not hold what the command reads (data, keys, reference files, the
    config), and it may not sit among the inputs either.

    Args:
        out: the outputs folder.
        out_role: its option or config key (``--out``, ``outputs.dir``).
        inputs: role (``--platform``, ``keys.pivot``) -> input file or folder (None: not given).

    Examples:
        >>> refuse_inputs_in_outputs("out", "--out", {"--platform": "out/data"})
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: --platform (out/data) lies inside the outputs folder --out (out): the outputs folder may not hold the inputs (what it holds belongs to the run); move --platform out of it or choose another --out
    """
    given = [(role, src) for role, src in inputs.items() if src is not None]
    for role, src in given:
        if same_path(src, out):
            raise ConfigError(f"{role} ({src}) is the outputs folder {out_role}: the outputs "
                              "would be written among the inputs; choose another "
                              f"{out_role}")
        if is_within(src, out):
            raise ConfigError(f"{role} ({src}) lies inside the outputs folder {out_role} "
                              f"({out}): the outputs folder may not hold the inputs (what it "
                              f"holds belongs to the run); move {role} out of it or choose "
                              f"another {out_role}")
    for role, src in given:
        if Path(src).is_dir() and is_within(out, src):
            raise ConfigError(f"{out_role} {out} lies inside the input folder {role} ({src}): "
                              f"the outputs would be written among the inputs; choose an "
                              f"{out_role} outside it")


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, role: str) -> None:
    """Check that a folder can be written (or created) before anything is written.

    Raises:
        ConfigError: ``path`` is a file, lies below a file, or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{role} {path} is a file, not a folder; choose a folder")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise ConfigError(f"{role} {path} cannot be created: {existing} is a file, not a "
                          "folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{role} {path} cannot be written: {existing} is read-only for this "
                          "user; choose another folder or change its permissions")


def check_output_file(path: str | os.PathLike, role: str) -> None:
    """Check that a file can be written (or created) before anything is written."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{role} {path} is a folder, not a file; give a file name")
    check_output_dir(path.parent, f"the folder of {role}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{role} {path} is read-only for this user")


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing folders are left as
    they are: they belong to the user)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if os.name == "posix":
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` (if missing) with mode 0600, e.g. a log file a handler then appends to."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    if os.name == "posix":
        os.chmod(path, FILE_MODE)
    return path


def restrict_tree(root: str | os.PathLike) -> None:
    """Give every file below ``root`` mode 0600 and every folder (``root`` included) 0700."""
    if os.name != "posix":  # Windows: ACLs of the enclave's folders apply
        return
    root = Path(root)
    os.chmod(root, DIR_MODE)
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def _snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    if not folder.is_dir():
        return {}
    return {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in folder.rglob("*")
            if not p.is_symlink()}


@contextlib.contextmanager
def private_outputs(folder: str | os.PathLike) -> Iterator[Path]:
    """Create ``folder`` (0700) and, on exit, give what the block wrote in it the modes of
    :data:`FILE_MODE` / :data:`DIR_MODE` (files already there and untouched are left alone).
    If the block fails before writing anything, a folder it created is removed again."""
    folder = Path(folder)
    created = not folder.exists()
    before = _snapshot(folder)
    private_dir(folder)
    try:
        yield folder
    except BaseException:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    finally:
        if os.name == "posix" and folder.is_dir():
            if created:
                os.chmod(folder, DIR_MODE)
            for path, state in _snapshot(folder).items():
                if before.get(path) != state:
                    mode = DIR_MODE if stat.S_ISDIR(path.stat().st_mode) else FILE_MODE
                    os.chmod(path, mode)
