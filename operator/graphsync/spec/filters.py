"""Row filters: which source rows of a mapping become graph entities.

Written as Kubernetes label selectors' match expressions are (a column, an operator, values), evaluated by the
engine on each row as the sync and the reconciliation read it, the same code for every source and capture kind:
no expression text is parsed and nothing reaches query text. A row that stops matching is deleted from the
target, as if it were deleted from the source.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class Operator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    GE = "Ge"
    LT = "Lt"
    LE = "Le"


_SETS = (Operator.IN, Operator.NOT_IN)
_PRESENCE = (Operator.EXISTS, Operator.DOES_NOT_EXIST)


class Condition(SpecModel):
    column: Identifier = Field(description="the source column (a graph source: the property) the condition reads")
    operator: Operator = Field(
        description="In, NotIn (also true for a NULL), Exists (not NULL), DoesNotExist (NULL), Gt, Ge, Lt, Le"
    )
    values: tuple[Scalar, ...] = Field(
        default=(), description="In, NotIn: one or more; Gt, Ge, Lt, Le: exactly one (a number or text); else none"
    )

    @model_validator(mode="after")
    def _values_fit(self) -> Self:
        count = len(self.values)
        if self.operator in _SETS and count == 0:
            raise ValueError(f"values: operator {self.operator.value} needs at least one value")
        if self.operator in _PRESENCE and count:
            raise ValueError(f"values: operator {self.operator.value} takes no values")
        if self.operator not in _SETS + _PRESENCE:
            if count != 1:
                raise ValueError(f"values: operator {self.operator.value} compares with exactly one value")
            if isinstance(self.values[0], bool):
                raise ValueError(f"values[0]: operator {self.operator.value} compares numbers or text, not true/false")
        return self

    def holds(self, row: Mapping[str, Any]) -> bool:
        """Whether the row meets the condition; raises ValueError for a value of another kind than the spec's."""
        value = row.get(self.column)
        if self.operator in _PRESENCE:
            return (value is None) is (self.operator is Operator.DOES_NOT_EXIST)
        if self.operator in _SETS:
            found = value is not None and any(_same(value, wanted) for wanted in self.values)
            return found is (self.operator is Operator.IN)
        if value is None:
            return False
        return self._compared(value, self.values[0])

    def _compared(self, value: Any, bound: Any) -> bool:
        if _kind(value) != _kind(bound) or _kind(value) == "other":
            raise ValueError(
                f"filter: column {self.column!r} holds {value!r}, which {self.operator.value} cannot compare "
                f"with {bound!r} (a number with a number, text with text)"
            )
        if self.operator is Operator.GT:
            return bool(value > bound)
        if self.operator is Operator.GE:
            return bool(value >= bound)
        if self.operator is Operator.LT:
            return bool(value < bound)
        return bool(value <= bound)


def admits(conditions: Sequence[Condition], row: Mapping[str, Any]) -> bool:
    """Every condition holds (none: every row)."""
    return all(condition.holds(row) for condition in conditions)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else "other"


def _same(value: Any, wanted: Any) -> bool:
    """Equal and of one kind: true is not 1, "1" is not 1."""
    return _kind(value) == _kind(wanted) and bool(value == wanted)
