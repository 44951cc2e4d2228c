"""Filters and orderings on typed values, in SQL: a ValueLookup in, a clause on entry columns out.

Comparisons run on the stored typed columns (`number`, `instant`) and equality on `value_hash`,
each indexed with the owner and the key, so no query converts a value.
"""
import operator
from typing import NamedTuple

from sqlalchemy import DateTime, Double, String, and_, bindparam, case, literal, or_

from ..errors import InvalidInput
from ..listing import LIKE_ESCAPE, like_literal, like_pattern
from ..models import fold
from . import value_types
from .value_types import Refused

MAX_IN_ITEMS = 100
COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class TypedLookup(NamedTuple):
    lookup: str
    kind: str         # hash, number, instant, contains, choices or exists
    operands: tuple   # the values its clause binds

    @property
    def shape(self):
        """What the SQL of this lookup depends on (its values aside)."""
        return self.lookup, self.kind, len(self.operands)


def type_of(definition):
    return definition.type if definition is not None else "text"  # keys without a definition are text


def typed_lookup(lookup, definition):
    """The lookup with its value parsed as the key's type; a 400 on its parameter when it cannot be."""
    type_name = type_of(definition)
    raw = lookup.raw.strip()
    try:
        if lookup.lookup == "exists":
            return TypedLookup("exists", "exists", (_boolean(raw),))
        if lookup.lookup not in value_types.lookups_of(type_name):
            raise Refused(f'Not available for type "{type_name}".')
        if lookup.lookup in ("eq", "ne"):
            return TypedLookup(lookup.lookup, "hash", (_hash(type_name, raw, definition),))
        if lookup.lookup == "in":
            items = [item.strip() for item in raw.split(",")]
            if len(items) > MAX_IN_ITEMS:
                raise Refused(f"Ensure this field has no more than {MAX_IN_ITEMS} elements.")
            return TypedLookup("in", "hash", tuple(dict.fromkeys(_hash(type_name, item, definition)
                                                                  for item in items)))
        if lookup.lookup in COMPARISONS:
            typed = value_types.parse(type_name, raw, definition)
            column = value_types.compared_column(type_name)
            return TypedLookup(lookup.lookup, column, (getattr(typed, column),))
        if type_name == "multi_choice":
            return TypedLookup("contains", "choices", tuple(value_types.multi_choice_parts(raw, definition)))
        return TypedLookup("contains", "contains", (f"{like_literal(fold(lookup.key))}\n{like_pattern(fold(raw))}",))
    except Refused as refused:
        raise InvalidInput.on(lookup.param, refused.message) from None


def _hash(type_name, raw, definition):
    return value_types.value_hash(value_types.parse(type_name, raw, definition).value)


def _boolean(raw):
    word = raw.lower()
    if word not in value_types.TRUE_WORDS | value_types.FALSE_WORDS:
        raise Refused(value_types.INVALID["boolean"])
    return word in value_types.TRUE_WORDS


BIND_TYPES = {"number": Double(), "instant": DateTime()}


def lookup_clause(entries, shape, prefix):
    """The clause of a lookup of this shape (TypedLookup.shape) on the entries table (or an alias),
    its values left as parameters {prefix}0, {prefix}1, ... (lookup_parameters), so that the
    statement is built once per shape."""
    lookup, kind, count = shape
    bound = [bindparam(f"{prefix}{index}", type_=BIND_TYPES.get(kind, String())) for index in range(count)]
    if kind == "hash":
        column = entries.c.value_hash
        if lookup == "in":
            return column.in_(bound)
        return column == bound[0] if lookup == "eq" else column != bound[0]
    if kind in ("number", "instant"):
        return COMPARISONS[lookup](entries.c[kind], bound[0])
    if kind == "contains":
        return entries.c.search_text.like(bound[0], escape=LIKE_ESCAPE)
    if kind == "choices":  # holds every listed choice: ",a,b," contains ",a,"
        held = literal(",") + entries.c.value + literal(",")
        return and_(*[held.like(choice, escape=LIKE_ESCAPE) for choice in bound])
    raise ValueError(kind)


def lookup_parameters(typed, prefix):
    """The bound values of lookup_clause, for a statement built once and run again."""
    if typed.kind == "choices":
        return {f"{prefix}{index}": f"%,{like_literal(choice)},%" for index, choice in enumerate(typed.operands)}
    return {f"{prefix}{index}": value for index, value in enumerate(typed.operands)}


def value_order(entries, type_name, descending):
    """ORDER BY clauses of values of one type: typed, with empty values (and absent ones) last."""
    column_name = value_types.sort_column(type_name)
    if column_name != "value":
        column = entries.c[column_name]
        return [column.desc().nulls_last() if descending else column.asc().nulls_last()]
    value = entries.c.value
    empty_last = case((or_(value.is_(None), value == ""), 1), else_=0)
    return [empty_last.asc(), value.desc() if descending else value.asc()]
