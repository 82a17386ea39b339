"""Atoms: what every report is made of, and the ones too small to count (review 15).

Suppressing small cells protects one report; it does not protect two reports against each
other.  The whole region against one of its caregivers, or a year against one of its tertials,
differ by the records of the other caregivers or tertials, and when those are one patient, the
difference of the two reports is that patient: their sex, age band, condition, their answers
(through which cells change, or which numerators one report hides and the other shows).  Noise
only blurs such a difference; averaging over the pairs one may ask for takes it away.

So the report is built from **atoms**: the records of one unit in one tertial.  Every report one
may ask for (a unit with the units below it, a caregiver or the whole region; a tertial or a
year: :mod:`fhirbridge.report.filters`) is a union of whole atoms, and so is the difference of
any two of them, nested or not.  An atom that holds from 1 to ``minimum - 1`` records of a
family of figures is **left out** of that family in every report: no report counts it, so no
difference of reports can be smaller than ``minimum`` records (or zero).  The families, each
counted in its own records:

* ``contracts``: contracts (declined offers aside), for contracts by month, unit and caregiver;
  the atom sized by the patients they are for (one patient's five contracts do not fill it);
* ``declined``: declined offers, for declined offers by unit, sized by patients likewise;
* ``in_force``: patients with a contract in force, for the patient figures, the shares with a
  fixed care contact, a fixed doctor and a next time, and the time since revision;
* ``patient`` and ``staff``: responses to the seven questions, for the questions' figures.

The atoms are counted in the frozen rows (:mod:`fhirbridge.report.freeze`), so they are the
same in every report whenever it is made.  Patients are counted once per unit and tertial (their
latest contract in force there) and patients' answers once per unit and tertial (their latest),
so every count is additive over atoms: a patient with contracts at two units counts at each.

What it costs: a unit with fewer than ``minimum`` new contracts in a tertial is missing from
that tertial's figures (and the year's) everywhere, not only shown as suppressed.
"""

from __future__ import annotations

from collections import defaultdict

from fhirbridge.report import queries
from fhirbridge.report.queries import Atom, Scope

FAMILIES = ("contracts", "declined", "in_force", "patient", "staff")


async def small_atoms(scope: Scope, minimum: int) -> dict[str, frozenset[Atom]]:
    """The atoms of ``scope`` each family leaves out: those holding 1 to ``minimum - 1`` of its records."""
    sizes: dict[str, dict[Atom, int]] = {family: defaultdict(int) for family in FAMILIES}
    for unit, tertial, contracts, declined, patients in await queries.contract_atoms(scope):
        atom = (str(unit) if unit is not None else None, int(tertial))
        sizes["contracts"][atom] += int(contracts or 0)
        sizes["declined"][atom] += int(declined or 0)
        sizes["in_force"][atom] += int(patients or 0)
    for unit, respondent, tertial, responses in await queries.answer_atoms(scope):
        if str(respondent) in sizes:
            sizes[str(respondent)][(str(unit) if unit is not None else None, int(tertial))] += int(responses or 0)
    return {family: frozenset(atom for atom, n in atoms.items() if 0 < n < minimum) for family, atoms in sizes.items()}
