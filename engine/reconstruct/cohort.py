"""In-memory reconstructed cohort of one study arm, and the reported constraints it must meet."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Variable:
    """A categorical patient descriptor with exact level counts.

    ``codes[i]`` indexes ``levels`` (-1 = unknown, written as NULL). ``allowed`` (n x levels,
    optional) restricts which levels a patient may take (e.g. best response PD only for early
    progressors). ``column``: the patients-table column it fills, or None for an attribute row
    (``patient_attributes``: variable = ``attribute`` or the variable name).
    """

    name: str
    levels: tuple[str, ...]
    codes: np.ndarray
    column: str | None = None
    attribute: str | None = None
    allowed: np.ndarray | None = None
    free: bool = True  # may the optimiser move it
    # composite variables: output name -> {level: written value}; replaces column/attribute
    outputs: dict[str, dict[str, str | None]] | None = None

    def mask(self, level_set) -> np.ndarray:
        lut = np.zeros(len(self.levels) + 1, dtype=bool)  # last entry: unknown (-1)
        for lv in level_set:
            lut[self.levels.index(lv)] = True
        return lut[self.codes]


@dataclass(frozen=True)
class Group:
    """Patients whose ``variable`` takes one of ``levels`` (None = everybody)."""

    variable: str | None = None
    levels: tuple[str, ...] = ()

    def mask(self, cohort: "ArmCohort") -> np.ndarray:
        if self.variable is None:
            return np.ones(cohort.n, dtype=bool)
        return cohort.variables[self.variable].mask(self.levels)


@dataclass
class Constraint:
    """One reported value the reconstruction is checked (and, mostly, fitted) against."""

    study_id: str
    arm_id: str
    endpoint: str  # PFS | OS | PFS2 | DoR | ORR | DCR | baseline | best_response
    statistic: str  # median | hr | survival_rate | events | count | proportion | followup_median
    reported: float | None
    tolerance: str  # rule name, see fidelity.TOLERANCES
    subgroup: str | None = None
    level: str | None = None
    timepoint: float | None = None
    source: str | None = None
    group: Group = field(default_factory=Group)
    reference: Group | None = None  # hr: the reference group (None = the rest of the arm)
    reference_arm: str | None = None  # between-arm hr
    adjust_for: tuple[Group, ...] = ()  # multivariable hr: other covariates (each 'level' vs rest)
    reported_ci: tuple[float | None, float | None] = (None, None)
    analysis: str | None = None
    infeasible: str | None = None  # reason, when the value cannot hold together with others
    note: str | None = None  # interpretation used (shown as reason when it holds)
    fit: bool = True  # used by the optimiser (False: only checked)
    weight: float = 1.0

    @property
    def variables(self) -> set[str]:
        out = {g.variable for g in (self.group, self.reference, *self.adjust_for) if g is not None}
        out.discard(None)
        if self.endpoint in ("DoR", "ORR", "DCR"):
            out.add("best_response")
        return out


@dataclass
class ArmCohort:
    study_id: str
    arm_id: str
    n: int
    times: dict[str, np.ndarray] = field(default_factory=dict)  # endpoint -> months (NaN = none)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    ttr: np.ndarray | None = None  # time to response, months (DoR = PFS - TTR for responders)

    def add_variable(self, var: Variable) -> None:
        self.variables[var.name] = var

    def endpoint_arrays(self, endpoint: str):
        """(time, event) for the endpoint; DoR is derived from PFS for responders."""
        if endpoint == "DoR":
            resp = self.variables["best_response"].mask(("CR", "PR"))
            t = np.where(resp, self.times["PFS"] - self.ttr, np.nan)
            e = np.where(resp, self.events["PFS"], 0)
            return t, e
        return self.times[endpoint], self.events[endpoint]


def fixed_variable(name: str, n: int, level: str | None, column: str | None = None,
                   attribute: str | None = None) -> Variable:
    """Every patient at the same level (or unknown when level is None)."""
    if level is None:
        return Variable(name, (), np.full(n, -1), column, attribute, free=False)
    return Variable(name, (level,), np.zeros(n, dtype=int), column, attribute, free=False)


def counted_variable(name: str, counts: dict[str, int], n: int, rng: np.random.Generator,
                     column: str | None = None, attribute: str | None = None,
                     free: bool = True) -> Variable:
    """Exactly ``counts`` patients per level (rest unknown), in a seeded random order."""
    levels = tuple(counts)
    codes = np.full(n, -1)
    pos = 0
    for k, lv in enumerate(levels):
        codes[pos:pos + counts[lv]] = k
        pos += counts[lv]
    if pos > n:
        raise ValueError(f"{name}: level counts {counts} exceed n={n}")
    codes = codes[rng.permutation(n)]
    return Variable(name, levels, codes, column, attribute, free=free)
