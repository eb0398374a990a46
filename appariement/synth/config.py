"""Configuration of the synthetic generator: sizes, seed, noise rates and the planted effect."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

from ..errors import ConfigError

__all__ = ["SynthConfig"]

_RATE_FIELDS = (
    "in_source_if_employed", "in_source_if_never_employed",
    "nir_missing_hired", "nir_missing_not_hired", "nir_mistyped", "nir_other_person",
    "nir_temporary", "source_nir_missing",
    "name_typo", "first_name_typo", "translit", "accents_stripped", "married_usage_name",
    "platform_uses_usage_name", "first_name_only_first", "dob_swap", "dob_year_error",
    "dob_day_error", "abroad_dob_unknown", "abroad_dob_day_unknown", "sex_error",
    "birthplace_missing", "postcode_moved", "register_name_typo", "register_dob_error",
    "no_position_share",
)


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of :func:`appariement.synth.generate`.

    Rates are probabilities in [0, 1]. Noise rates apply to the platform identity of
    candidates (``register_*`` to the source); they are multiplied by
    ``degraded_noise_factor`` (capped at 0.95) for residents of ``degraded_departement``.

    Args:
        n_candidates: number of candidates on the platform.
        source_ratio: size of the source relative to the candidate file (>= 1).
        seed: random seed; the same config gives byte-identical files.
        first_date / last_t0 / last_date: first candidatures (time zero) fall in
            ``[first_date, last_t0]``; later candidatures stop at ``last_date``.
        source_date: the day the employment source is extracted (>= ``last_date``): no spell
            starts after it and a spell still running then has no end date. Every date of the
            data set passes the input checks with ``[project] as_of`` set to it (what
            ``appariement init`` writes for synthetic data). The default, 36 months after
            ``last_t0``, observes every outcome horizon (6, 12, 24 months) of every candidate.
        grace_days: grace period of the treatment definition (hire within it after t0).
        in_source_if_employed / in_source_if_never_employed: probability that a candidate
            appears in the source, given whether they hold any employment spell.
        nir_*: platform NIR status shares (missing depends on being ever hired).
        source_nir_missing: share of source persons without NIR.
        name_typo ... register_dob_error: identity noise rates (see module docstring).
        degraded_departement / degraded_noise_factor: planted group with noisier identities.
        hire_intercept: logit intercept of being hired within the grace period.
        late_hire_shift: logit shift of being hired after the grace period (if not before).
        effect_exit_logit / effect_post_logit: the planted effect of an IAE hire on the
            probability to be employed when the IAE contract ends / in later months.
        no_position_share: share of refusals coded ``no_position`` (independent of covariates).
        unobserved_confounder: strength of a hidden binary trait (prevalence 1/2, never
            written to any table) added as ``strength * (trait - 1/2)`` to the logit of the hire
            (and of a later hire) and to the logit of finding a job each month: selection on an
            unobservable, for sensitivity analyses. 0 (default) plants none and leaves every
            output byte for byte as without the option. ``effect.json["unobserved_confounder"]``
            gives its risk ratios with the hire and the outcome and the equal-ratio E-value
            they amount to.

    Examples:
        >>> SynthConfig(n_candidates=1000, seed=1).source_ratio
        10.0
    """

    n_candidates: int = 20_000
    source_ratio: float = 10.0
    seed: int = 42
    first_date: date = date(2021, 1, 1)
    last_t0: date = date(2024, 12, 31)
    last_date: date = date(2025, 12, 31)
    source_date: date = date(2027, 12, 31)
    grace_days: int = 90
    in_source_if_employed: float = 0.99
    in_source_if_never_employed: float = 0.25
    nir_missing_hired: float = 0.03
    nir_missing_not_hired: float = 0.20
    nir_mistyped: float = 0.02
    nir_other_person: float = 0.005
    nir_temporary: float = 0.015
    source_nir_missing: float = 0.02
    name_typo: float = 0.05
    first_name_typo: float = 0.04
    translit: float = 0.5
    accents_stripped: float = 0.5
    married_usage_name: float = 0.45
    platform_uses_usage_name: float = 0.75
    first_name_only_first: float = 0.75
    dob_swap: float = 0.02
    dob_year_error: float = 0.015
    dob_day_error: float = 0.015
    abroad_dob_unknown: float = 0.15
    abroad_dob_day_unknown: float = 0.08
    sex_error: float = 0.003
    birthplace_missing: float = 0.15
    postcode_moved: float = 0.15
    register_name_typo: float = 0.005
    register_dob_error: float = 0.003
    degraded_departement: str = "93"
    degraded_noise_factor: float = 3.0
    hire_intercept: float = -1.4
    late_hire_shift: float = -1.4
    effect_exit_logit: float = 1.2
    effect_post_logit: float = 0.4
    no_position_share: float = 0.12
    unobserved_confounder: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.n_candidates, int) or self.n_candidates < 10:
            raise ConfigError(f"SynthConfig.n_candidates must be an integer >= 10, got "
                              f"{self.n_candidates!r}")
        if not (1.0 <= float(self.source_ratio) <= 1000.0):
            raise ConfigError(f"SynthConfig.source_ratio must be in [1, 1000], got "
                              f"{self.source_ratio!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"SynthConfig.seed must be a non-negative integer, got {self.seed!r}")
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not (0.0 <= float(value) <= 1.0):
                raise ConfigError(f"SynthConfig.{name} must be a probability in [0, 1], "
                                  f"got {value!r}")
        nir_total = self.nir_mistyped + self.nir_other_person + self.nir_temporary
        if nir_total + max(self.nir_missing_hired, self.nir_missing_not_hired) > 0.9:
            raise ConfigError("SynthConfig: the NIR status shares (missing + mistyped + "
                              "other_person + temporary) must leave room for valid NIRs (<= 0.9)")
        if not (self.first_date < self.last_t0 <= self.last_date <= self.source_date):
            raise ConfigError("SynthConfig: dates must satisfy first_date < last_t0 <= last_date "
                              "<= source_date")
        if not (0 < self.grace_days <= 365):
            raise ConfigError(f"SynthConfig.grace_days must be in (0, 365], got {self.grace_days}")
        if not 0.0 <= float(self.unobserved_confounder) <= 5.0:
            raise ConfigError(f"SynthConfig.unobserved_confounder must be in [0, 5], got "
                              f"{self.unobserved_confounder!r}")
        if self.degraded_noise_factor < 1.0:
            raise ConfigError("SynthConfig.degraded_noise_factor must be >= 1")

    def to_dict(self) -> dict:
        """Return the configuration as JSON-ready values (dates as ISO strings).

        ``unobserved_confounder`` is left out when 0 (its default), so ``truth/config.json``
        of a default world is byte for byte what it was before the option existed."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "unobserved_confounder" and not value:
                continue
            out[f.name] = value.isoformat() if isinstance(value, date) else value
        return out

    def replace(self, **changes) -> "SynthConfig":
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
