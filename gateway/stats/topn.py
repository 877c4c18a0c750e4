"""The top values of a dimension, with the k rule: every row under ``k`` visitors folded into OTHER.

The fold happens inside the query: each value keeps a mergeable partial of each
count (a ``uniqCombined64`` state, or a sum), and only the small values' partials
are merged again into the OTHER row, so its visitors are counted once each, not
summed. When the rollups show that at least ``limit`` values reach ``k`` (see
:meth:`TopN.contenders`), OTHER cannot make the top ``limit``, so the values that
can are counted straight away and no state is kept.

The query binds ``k`` and ``limit``; the caller passes them with the question's
parameters (:func:`gateway.stats.sql.parameters`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.stats.metrics import Metric, counts, formulas
from gateway.stats.properties import Dimension
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import markers
from gateway.stats.rows import rows

OTHER = "(other)"
"""The label of the row that gathers every row under ``k`` visitors."""

_RANKED_BY = "visitors"

_Final = Callable[[Metric, Dimension], str]
"""A count's final form over the partials of one value (or of OTHER)."""


@dataclass(frozen=True)
class TopN:
    """One top-``limit`` query: ``q``'s rows of ``dimension`` grouped by value, folded, ranked.

    Each row has the value under ``name`` and ``metrics`` (and the counts they
    are made of). A row shows ``shown``, the SQL of its label over the stored
    ``key`` (:meth:`gateway.stats.properties.Property.label`). With
    ``narrow``, only the values that can reach the top are merged (worth its
    extra pass where a dimension has thousands of values).
    """

    q: StatsQuery
    dimension: Dimension
    metrics: Sequence[str]
    name: str
    shown: str = "key"
    narrow: bool = False

    @property
    def label(self) -> str:
        return self.shown

    @property
    def needed(self) -> list[Metric]:
        """The counts of the metrics, and the visitors that rank and fold the rows."""
        return counts([_RANKED_BY, *self.metrics])

    def sql(self) -> str:
        """Group the rows by label, fold rows under ``k`` visitors into OTHER, best first.

        With ``narrow`` (and the rollups serving ``q``), only the contenders are
        read from the rollups; the answer is the same as merging all. When at least
        ``limit`` of them reach ``k`` visitors (``contenders.2``), the OTHER row
        would come after ``limit`` rows and be cut, so the exact branch counts
        each contender at once and drops those under ``k``; otherwise the folded
        branch keeps a state per value and merges the small ones into OTHER. Only
        one branch reads anything: the other's condition is a constant false once
        the contenders are known.
        """
        with_ = markers(self.q) if self.dimension.rolled else ""
        keep = exact = ""
        if with_ and self.narrow:
            with_ += f", {self.contenders()} AS contenders "
            keep = "WHERE NOT contenders.2 "
            exact = f"{self._exact()} UNION ALL "
        name, label, ranked = self.name, self.label, f"{_RANKED_BY}_n"
        partials = ", ".join(_folded_partial(count, self.dimension) for count in self.needed)
        folded = (
            f"SELECT if(small, '{OTHER}', value) AS {name}, {self._finals(_folded_final)} "  # noqa: S608
            f"FROM (SELECT {label} AS value, {partials}, {ranked} < {{k:UInt32}} AS small "
            f"FROM ({self._rows()}) {keep}GROUP BY value) GROUP BY {name}"
        )
        return (
            f"{with_}SELECT * FROM ({exact}{folded}) "  # noqa: S608
            f"ORDER BY {name} = '{OTHER}', {_RANKED_BY} DESC, {name} LIMIT {{limit:UInt32}}"
        )

    def contenders(self) -> str:
        """The values that may be among the top ``limit``, and whether that list is enough.

        Every part of the rows (the merged window, each later day, the raw rest)
        carries its own ``visitor_count``, so a value has between the largest part
        (``lower``) and the sum of its parts (``upper``) visitors, read without
        touching a state. When at least ``limit`` values have ``lower >= k``, the
        top ``limit`` rows all have at least ``t`` visitors, ``t`` being the
        ``limit``-th largest ``lower``, and no row of OTHER can make the cut; so only
        the values whose ``upper`` reaches ``t`` need their states merged.
        Otherwise (``enough`` is false) every value is kept.
        """
        return (
            "(SELECT (arrayFilter((v, u) -> u >= t, values, uppers), enough) FROM ("  # noqa: S608
            "SELECT countIf(lower >= {k:UInt32}) >= {limit:UInt32} AS enough, "
            "arrayReverseSort(groupArray(lower))[{limit:UInt32}] AS t, "
            "groupArray(value) AS values, groupArray(upper) AS uppers FROM ("
            f"SELECT {self.label} AS value, sum(visitor_count) AS upper, "
            "max(visitor_count) AS lower "
            f"FROM ({rows(self.q, self.dimension, ['visitor_count'])}) GROUP BY value)))"
        )

    def _exact(self) -> str:
        """The contenders' rows, each counted at once; those under ``k`` dropped."""
        label = self.label
        partials = ", ".join(_exact_partial(count, self.dimension) for count in self.needed)
        return (
            f"SELECT value AS {self.name}, {self._finals(_exact_final)} FROM ("  # noqa: S608
            f"SELECT {label} AS value, {partials} FROM ({self._rows()}) "
            f"WHERE contenders.2 AND has(contenders.1, {label}) GROUP BY value"
            f") WHERE {_RANKED_BY}_n >= {{k:UInt32}}"
        )

    def _rows(self) -> str:
        columns = [count.reads[self.dimension.source] for count in self.needed]
        return rows(self.q, self.dimension, columns)

    def _finals(self, final: _Final) -> str:
        """Each count's final form, then the formulas over them."""
        return ", ".join(
            [
                *(f"{final(count, self.dimension)} AS {count.name}" for count in self.needed),
                *(f"{m.expression()} AS {m.name}" for m in formulas(self.metrics)),
            ]
        )


# Per value, NAME_n is each count's number; a state's count also keeps NAME_state, which
# only the values folded into OTHER merge again. A value of its own keeps the number its
# state was finalised to: carrying the state itself (any(state)) copies it, which is slow.
def _folded_partial(count: Metric, dimension: Dimension) -> str:
    column = count.column(dimension.source)
    if column.state:
        state = f"{count.name}_state"
        return f"{column.partial()} AS {state}, finalizeAggregation({state}) AS {count.name}_n"
    return f"{column.partial()} AS {count.name}_n"


def _folded_final(count: Metric, dimension: Dimension) -> str:
    name = count.name
    if count.column(dimension.source).state:
        return f"if(max(small), uniqCombined64MergeIf({name}_state, small), any({name}_n))"
    return f"sum({name}_n)"


# With no row folded: one merge per value and count, finalised once.
def _exact_partial(count: Metric, dimension: Dimension) -> str:
    return f"{count.column(dimension.source).total()} AS {count.name}_n"


def _exact_final(count: Metric, dimension: Dimension) -> str:
    return f"{count.name}_n"
