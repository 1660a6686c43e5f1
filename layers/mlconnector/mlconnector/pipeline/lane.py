"""The lane of one poster invocation: its records run side by side and take turns only where they must.

What a record does in DynamoDB (the idempotency claim, reading its id bindings, writing its audit
entries and status, completing the claim) and on its own CPU (mapping, building and reading SOAP
or JSON) needs no ERP, so the records of a batch run side by side. The ERP clients send one request
at a time per container (``mlconnector.http.new_session(one_request_at_a_time=True)``), so the ERP
never sees more concurrent calls than ``ErpMaxConcurrency`` containers; while one record waits on
the ERP, the others prepare their next request or read their last answer, and the ERP waits on the
connector only at the start and the end of a batch.

Records behave as they did one after another:

- records that share a *subject* (a customer, by store id, e-mail or name; a posting reference,
  an order and its refund) hold their ERP conversations in batch order, one after the other, so a
  customer created by one is found by the next, never created twice; a record's conversation
  starts once every earlier record has either said which subjects it touches (none of ours) or is
  done with the ERP;
- bindings a record makes are shared with the records after it (``bindings``: an order and its
  refund, or two orders of one new customer, in one batch);
- a record's outcome is written after the outcomes of the records before it (two versions of one
  order end with the later one's status);
- a record that appears twice in a batch (a webhook delivered twice, a webhook and a poll) starts
  only once its first appearance is finished, so the second finds the first's outcome instead of
  its idempotency claim still in progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
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


class ErpConversations:
    """Who may talk to the ERP: a record whose subjects no earlier record still talking or about to talk shares.

    ``None`` as a record's subjects means "any subject": it waits for every record before it and every
    record after it waits for it (a record that cannot say what it touches is taken one at a time).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._subjects: dict[int, frozenset[str] | None] = {}
        self._done: set[int] = set()

    def declare(self, position: int, subjects: frozenset[str] | None) -> None:
        with self._condition:
            self._subjects[position] = subjects
            self._condition.notify_all()

    def wait(self, position: int) -> None:
        """Return once no earlier record may touch what this one touches before it is done with the ERP."""
        with self._condition:
            if position not in self._subjects:
                self._subjects[position] = None
            self._condition.wait_for(lambda: not self._blocked(position))

    def _blocked(self, position: int) -> bool:
        ours = self._subjects[position]
        for earlier in range(position):
            if earlier in self._done:
                continue
            if earlier not in self._subjects:
                return True  # not yet known what it touches
            theirs = self._subjects[earlier]
            if ours is None or theirs is None or not ours.isdisjoint(theirs):
                return True
        return False

    def done(self, position: int) -> None:
        """Idempotent; a record may be done without ever talking to the ERP."""
        with self._condition:
            self._done.add(position)
            self._condition.notify_all()


class BatchLane:
    def __init__(self, record_keys: Sequence[str | None] = ()) -> None:
        """``record_keys``: each position's record (None if unknown), to find repeats in the batch."""
        self.erp = ErpConversations()
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

    def will_talk_about(self, subjects: Iterable[str]) -> None:
        """Say early what the record's ERP conversation touches, so that later records need not wait to know."""
        self.lane.erp.declare(self.position, frozenset(subjects))

    @contextmanager
    def erp_turn(self) -> Iterator[None]:
        """Talk to the ERP once no earlier record touching the same subjects still may."""
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
