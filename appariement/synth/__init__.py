"""Synthetic platform extract + DARES-like source with ground truth.

``generate(SynthConfig(...))`` draws a world of people (true identities, unique valid NIRs
consistent with sex, birth year/month and place — département 99 + country code when born
abroad, 2A/2B for Corsica), then renders (1) the platform extract (every table of
:mod:`appariement.io.contract`, identities as a messy platform holds them: mixed date formats,
partial dates for people born abroad, day/month swaps, year errors, sex coded 1/2, M/F, H/F,
HOMME/FEMME, usage names of married women or "X épouse Y" / "Y née X", first names partial or
all, compound names split or cut, transliteration variants, typos and phonetic errors, accents
and case noise; NIR valid, missing — more often for never-hired candidates —, mistyped,
someone else's, or temporary 7/8-prefixed) and (2) the source (``personnes``: register quality,
upper case without accents, birth + usage names, all first names, ISO dates with 01/01 or day-01
placeholders for unknown dates of people born abroad, NIR mostly present; ``periodes_emploi``).
The source is ``source_ratio`` (default 10) times the candidate file and holds many
non-candidates; candidates with no employment spell are mostly absent from it.
``periodes_emploi.heures`` / ``salaire`` are monthly paid hours / monthly gross wage (EUR).
Eligibility criteria: ``diagnostics`` holds the dated history (the first diagnosis, 0-120 days
before t0, carries the t0 covariates; later ones may flip criteria); ``candidats`` holds the
LATEST diagnosis, as the platform does — rebuild t0 covariates from ``diagnostics``.
States, processing dates, refusal reasons, PASS and diagnoses follow the platform's rules, dated
as its public code introduced them (``_platform_rules``: prior_to_hire for GEIQ from 2023-03-15,
pool from 2025-08-21, refusal reasons by era, the auto-refusal job from 2025-03-10 after 60 idle
days unless archived after 180, obsolete only from pending states at a hire, ``date_traitement``
empty for unprocessed states, no PASS for a cancelled hire, an employer's diagnosis with its
criteria, every IAE hire covered by a valid diagnosis); ``_platform_rules.rule_violations``
counts the rows that break them.

Design of the planted effect. Each candidate has covariates at time zero t0 (date of the first
candidature): age, sex, RSA and CAP_BEP (first diagnosis, dated just before t0), département of
residence (a random labour-market effect per département), prescriber type of the first
candidature ("none" when not prescribed) and prior employment. A monthly employment chain
runs from 24 months before t0 (prior employment = share of those months employed, with a
dip at t0) to 36 months after; its entry/stay probabilities are logistic in the covariates.
Being hired within the grace period (``grace_days``, default 90) has a probability logistic in
the SAME covariates (selection on observables only; hired people have more prior employment,
are younger, less often on RSA, so the naive difference is biased upwards). A hire produces an
IAE contract (CDDI in an SIAE — or CDD/apprenticeship for EA/GEIQ — of 4–24 months, at the
hiring structure's SIRET) and, after it, a higher probability of employment
(``effect_exit_logit`` at exit, ``effect_post_logit`` later). Both potential paths (y0: not hired
within the grace period, possibly hired later; y1: hired after a delay within the grace period)
use common random numbers. Some non-treated are hired later through a later accepted
candidature (so "ever hired" is biased by immortal time). Among refusals, ``no_position`` is
drawn independently of covariates; ``lacking_skills`` / ``incompatible`` depend on prior
employment. Spells are aligned so that a date t0 + k months is covered by a periodes_emploi
spell exactly when the path says employed in month k (for candidates in the source).

Truth (``DIR/truth/``). ``links.parquet``: candidat_id, person_id for exactly the candidates
present in the source. ``candidats.parquet``: one row per candidate with candidat_id, person_id
(null when absent), in_source, nir_status (valid / missing / mistyped / other_person /
temporary), true_nir, the noise applied (name_form: birth / usage / birth_epouse_usage /
usage_nee_birth, usage_name, name_typo, name_translit, first_name_form: first / all / second /
hyphen_lost / compound_truncated, first_name_partial, first_name_translit, first_name_typo,
accents_stripped, sex_code_style 0-4, sex_error, birthplace_missing, dob_format 0-8,
dob_swapped, dob_partial, year_error, day_error), born_abroad, dob_quality (full / day_unknown /
unknown), origin_group, departement, degraded_group (residents of ``degraded_departement``,
whose identity noise is ``degraded_noise_factor`` times higher), sexe (1/2), age, rsa, cap_bep,
prescriber_type, prior_employment, p_treated, treated, hired_ever, hired_late, hire_date,
time_zero, y0_6/y0_12/y0_24, y1_6/y1_12/y1_24 (potential outcomes) and y_6/y_12/y_24 (observed),
y0_never_6/y0_never_12/y0_never_24 (potential outcome if never hired: same random numbers as y0,
without the later hire y0 may contain). ``effect.json``: estimand ("ATT"), treatment, time_zero and
outcome definitions, grace_period_days, horizons_months, ``att`` (mean of y1 - y0 over the treated,
by horizon as string keys "6"/"12"/"24": hired within the grace period versus not hired within it,
a later hire allowed), ``att_vs_never`` (mean of y1 - y0_never over the treated: versus never
hired), mean_y1_treated, mean_y0_treated, naive_difference (treated minus untreated observed
means), naive_ever_hired_difference, counts (n_candidates, n_treated, n_control, n_hired_late,
n_in_source), the covariates of the selection.
``config.json`` is the SynthConfig. Note: potential outcomes are defined on the simulated
paths; for the ~1 % of employed candidates absent from the source, the source shows no spell.

Successive extracts of one world (quarterly deliveries: new candidates and candidatures,
changed identities, a longer follow-up, the truth of each): :mod:`appariement.synth.deliveries`
(``generate_deliveries``, ``write_deliveries``, ``appariement synth --deliveries N``).

Examples:
    >>> from appariement.synth import SynthConfig, generate
    >>> data = generate(SynthConfig(n_candidates=200, source_ratio=3, seed=1))
    >>> data.truth["links"].num_rows <= 200
    True
"""

from .config import SynthConfig
from .generate import SynthData, generate, write_synthetic
from .deliveries import generate_deliveries, write_deliveries

__all__ = ["SynthConfig", "SynthData", "generate", "write_synthetic", "generate_deliveries",
           "write_deliveries"]
