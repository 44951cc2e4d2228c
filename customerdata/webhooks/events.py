"""What an endpoint subscribes to: the kinds of the change log, as a bit mask the outbox matches on."""
from sqlalchemy import case

from ..models import CHANGE_KINDS

EVERY_KIND = "*"
TEST_EVENT = "webhook.test"
BITS = {kind: 1 << index for index, kind in enumerate(CHANGE_KINDS)}
ALL = sum(BITS.values())


def mask_of(events):
    """The bit mask of a list of kinds, ["*"] being all of them."""
    return ALL if EVERY_KIND in events else sum(BITS[kind] for kind in set(events))


def bit_of(kind_column):
    """SQL: the bit of a change's kind, to AND with an endpoint's mask."""
    return case(BITS, value=kind_column, else_=0)
