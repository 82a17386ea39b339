"""Which searches are selective: found through an index by equality, so that their page costs
about what a point read costs (R4 search.html; the parameters of search.html#id, #reference and
the ``identifier`` token).

SQLite reads of that size run on the event loop's own thread, like point reads (see
:mod:`fhirbridge.storage.sqlite`): a hop to a worker thread costs more than the read.  A search
that may scan (a string, a date range, a ``:missing``, a chain) keeps its worker thread, so that
it does not hold up every other request while it runs.  What an equality finds is one patient's
resources of one type, or a few named ones: a patient with a great many of one type makes that
page's ordering cost more on the loop's thread, the one price of not hopping.
"""

from __future__ import annotations

from fhirbridge.search.query import Clause, SearchQuery

MOST_VALUES = 20
"""Values ORed in one selective clause at most: each is one index lookup."""
MOST_INLINE_INCLUDES = 50
"""Matches whose ``_include``/``_revinclude`` are read inline at most (a page's worth)."""


def _selective(clause: Clause) -> bool:
    if clause.chained is not None or clause.has_type is not None:
        return False
    if not clause.values or len(clause.values) > MOST_VALUES or any(not value for value in clause.values):
        return False
    if clause.code == "_id":
        return clause.modifier is None
    if clause.param_type == "reference":
        # a type modifier (subject:Patient) still names one resource; :missing, :above, :below do not
        return clause.modifier is None or clause.modifier[:1].isupper()
    if clause.param_type == "token" and clause.code == "identifier":
        return clause.modifier is None
    return False


def selective(query: SearchQuery) -> bool:
    """Whether one of the query's clauses picks its matches through an index by equality."""
    return any(_selective(clause) for clause in query.clauses)


def inline_includes(query: SearchQuery, matches: int) -> bool:
    """Whether what a page of ``matches`` includes is small enough to be read inline: the
    includes follow references from (or to) those matches only, one index lookup each."""
    return bool(query.includes) and matches <= MOST_INLINE_INCLUDES and not any(i.iterate for i in query.includes)
