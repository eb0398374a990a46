"""One exception hierarchy for the whole library.

Every error the library raises on purpose derives from :class:`AppariementError`.
Messages say what was wrong, where (table, column, row count) and what to do.
They never contain a NIR value, a key or any other secret.
"""

from __future__ import annotations

__all__ = [
    "AppariementError",
    "ConfigError",
    "InputError",
    "SchemaError",
    "KeyUniquenessError",
    "ReferentialIntegrityError",
    "InvalidValueError",
    "IdentityError",
    "InvalidNIRError",
    "DateParseError",
    "CryptoError",
    "KeyFileError",
    "DecryptionError",
    "LinkageError",
    "BlockingBudgetError",
    "DisclosureError",
    "SystemFault",
]


class AppariementError(Exception):
    """Base class of every error raised by appariement."""

    #: process exit code used by the command line for this family of errors
    exit_code = 1


class ConfigError(AppariementError):
    """A configuration value is missing or not allowed."""

    exit_code = 2


class InputError(AppariementError):
    """An input table breaks the data contract.

    Attributes:
        table: name of the table (canonical name, e.g. ``candidats``).
        column: offending column, when there is one.
        n_rows: number of offending rows.
        examples: a few row keys (never identifying values such as a NIR).
    """

    exit_code = 3

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None,
                 n_rows: int | None = None, examples: list | None = None):
        self.table = table
        self.column = column
        self.n_rows = n_rows
        self.examples = list(examples or [])
        super().__init__(message)


class SchemaError(InputError):
    """A required column is missing or has a type that cannot be converted."""


class KeyUniquenessError(InputError):
    """A table's key is duplicated or null."""


class ReferentialIntegrityError(InputError):
    """A foreign key points to a row that does not exist."""


class InvalidValueError(InputError):
    """Values of a column are outside what the contract allows."""


class IdentityError(AppariementError):
    """An identity value (NIR, date, sex...) could not be understood."""

    exit_code = 3


class InvalidNIRError(IdentityError, ValueError):
    """A NIR is malformed. The message never repeats the value."""


class DateParseError(IdentityError, ValueError):
    """A date string matches none of the accepted formats."""


class CryptoError(AppariementError):
    """A key could not be used, or a ciphertext failed authentication."""

    exit_code = 4


class KeyFileError(CryptoError):
    """A key file is missing, malformed or readable by others."""


class DecryptionError(CryptoError):
    """Decryption failed: wrong key, tampered or truncated file."""


class LinkageError(AppariementError):
    """The linkage could not be run as configured."""

    exit_code = 5


class BlockingBudgetError(LinkageError):
    """A set of blocking rules would generate more comparisons than the budget allows."""


class DeliveryError(InputError):
    """A delivery cannot follow the series it names: the previous delivery is missing,
    incomplete, tampered with, or belongs to another project (exit 3)."""


class DisclosureError(AppariementError):
    """A table would leave the library without disclosure control."""

    exit_code = 6


class SystemFault(AppariementError):
    """The operating system refused a read or a write: disk full, quota exceeded, permission
    denied, read-only volume, a file that vanished. Not a bug and not bad data: completed stages
    are kept and the failed one left no output, so fixing the cause and rerunning is enough.

    The message names the path and the system's reason, never what was being written.

    Examples:
        >>> SystemFault("the system refused a write: No space left on device (out/x)").exit_code
        7
    """

    exit_code = 7


# --- identity: precise kinds of NIR errors (appended by the identity subpackage) ---

class InvalidNIRLength(InvalidNIRError):
    """A NIR does not have 15 characters once separators are removed."""


class InvalidNIRFormat(InvalidNIRError):
    """A NIR holds characters not allowed at their position (only digits, 2A/2B for Corsica)."""


class InvalidNIRKey(InvalidNIRError):
    """A NIR's two-digit control key does not match its first 13 characters."""


class InvalidNIRComponent(InvalidNIRError):
    """A NIR part is impossible: sex digit, month, department, commune or order number."""


__all__ += ["InvalidNIRLength", "InvalidNIRFormat", "InvalidNIRKey", "InvalidNIRComponent"]
__all__ += ["DeliveryError"]
