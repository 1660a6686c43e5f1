"""The lane of one poster invocation: its records call the ERP one at a time, in queue order.

A poster container keeps at most one ERP conversation open, so the ERP sees no more concurrent
calls than ``ErpMaxConcurrency`` containers. What a record does in DynamoDB (the idempotency
claim, reading its id bindings, writing its audit entries and status, completing the claim)
needs no ERP, so the records of a batch run side by side and only their ERP calls take turns:
while one record talks to the ERP, the next has claimed and read what it needs and the previous
one is writing its outcome. The ERP then waits on the connector for DynamoDB only at the start
and the end of a batch, not before and after every record.

Records behave as they did one after another: ERP turns follow the batch's order, bindings a
record makes are shared with the records after it (``bindings``: an order and its refund, or two
orders of one new customer, in one batch), a record's outcome is written after the outcomes of
the records before it (two versions of one order end with the later one's status), and a record
that appears twice in a batch (a webhook delivered twice, a webhook and a poll) starts only once
its first appearance is finished, so the second finds the first's outcome instead of its
idempotency claim still in progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Turns:
    """Positions 0, 1, 2, …: a position's turn comes once every earlier position is done."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next = 0  # the first position not done
        self._done: set[int] = set()

    def wait(self, position: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._next >= position)

    def done(self, position: int) -> None:
        """Idempotent; a position may be done before its turn came (it never needed one)."""
        with self._condition:
            if position >= self._next:
                self._done.add(position)
            while self._next in self._done:
                self._done.discard(self._next)
                self._next += 1
            self._condition.notify_all()


class BatchLane:
    def __init__(self, record_keys: Sequence[str | None] = ()) -> None:
        """``record_keys``: each position's record (None if unknown), to find repeats in the batch."""
        self.erp = Turns()
        self.writes = Turns()
        #: (connection, kind, store id) → binding item, as the records of this batch made them.
        self.bindings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.previous_appearance: dict[int, int] = {}
        last: dict[str, int] = {}
        for position, key in enumerate(record_keys):
            if key is None:
                continue
            if key in last:
                self.previous_appearance[position] = last[key]
            last[key] = position


class LanePlace:
    """A record's place in its batch's lane; ``LanePlace()`` alone is a record posted on its own."""

    def __init__(self, lane: BatchLane | None = None, position: int = 0) -> None:
        self.lane = lane or BatchLane()
        self.position = position

    @contextmanager
    def erp_turn(self) -> Iterator[None]:
        """Hold the ERP once every record before this one is done with it."""
        self.lane.erp.wait(self.position)
        try:
            yield
        finally:
            self.lane.erp.done(self.position)

    def done_with_erp(self) -> None:
        """The record will not call the ERP again (it is writing its outcome): the next record's turn may come."""
        self.lane.erp.done(self.position)

    def wait_for_previous_appearance(self) -> None:
        """Return once an earlier appearance of the same record in this batch is finished."""
        earlier = self.lane.previous_appearance.get(self.position)
        if earlier is not None:
            self.lane.writes.wait(earlier + 1)

    def wait_to_write(self) -> None:
        """Return once every record before this one has written its outcome (at once if called again)."""
        self.lane.writes.wait(self.position)

    def release(self) -> None:
        """The record is finished: the records after it need not wait for it any more."""
        self.done_with_erp()
        self.lane.writes.done(self.position)
