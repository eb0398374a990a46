"""appariement — secure statistical record linkage for French administrative data.

Subpackages (dependencies point one way: identity ← crypto ← blocking/linkage ← evaluation ← cli):

- :mod:`appariement.identity` — traits d'identité and the NIR, standardised and checked;
- :mod:`appariement.crypto` — keys, keyed pseudonyms, the CSNS-like pivot, encrypted exchange,
  Bloom-filter encodings;
- :mod:`appariement.blocking` / :mod:`appariement.linkage` — the cascade: exact pivot, then
  probabilistic Fellegi-Sunter linkage (Splink);
- :mod:`appariement.evaluation` — match quality, disclosure control, counterfactual datasets;
- :mod:`appariement.io` — the data contract (reading, mapping, validating input tables);
- :mod:`appariement.synth` — synthetic platform extract and DARES source with ground truth.

The front door is :class:`appariement.Project` (:mod:`appariement.project`): one object whose
components (``.inputs``, ``.identities``, ``.pivot``, ``.linkage``, ``.quality``,
``.counterfactual``) run the pipeline's steps from a notebook.

Examples:
    >>> from appariement import Project
    >>> "linkage" in dir(Project)
    True
"""

from ._log import notebook_logging as _notebook_logging
from .errors import AppariementError

_notebook_logging()  # in Jupyter, appariement's progress shows under the cell; elsewhere nothing

__version__ = "0.1.0"
__all__ = ["AppariementError", "Project", "__version__"]


def __getattr__(name: str):
    # imported on first use: `import appariement` (and the command line) stays light
    if name == "Project":
        from .project import Project

        return Project
    raise AttributeError(f"module 'appariement' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"Project"})
