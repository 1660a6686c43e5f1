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
- a record's outcome (its status, trail and the bindings it made) is written after the outcomes of
  the earlier records it shares a subject with (two orders of one customer whose details changed end
  with the later one's customer binding); records that share nothing write as soon as they are done,
  so a batch's writes do not queue behind an unrelated record still talking to the ERP;
- a record that appears twice in a batch (a webhook delivered twice, a webhook and a poll) starts
  only once its first appearance is finished, so the second finds the first's outcome instead of
  its idempotency claim still in progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Subjects:
    """What each record of a batch touches and how far it has got; records sharing a subject go in batch order.

    A record's subjects are unknown until it declares them; ``None`` means "any subject": it waits for
    every record before it and every record after it waits for it (a record that cannot say what it
    touches is taken one at a time). A record that never talked to the ERP touches nothing the others
    write: its status and trail are its own (a repeat of the same record waits for the first to finish).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._subjects: dict[int, frozenset[str] | None] = {}
        self._done_talking: set[int] = set()
        self._finished: set[int] = set()

    def declare(self, position: int, subjects: frozenset[str] | None) -> None:
        with self._condition:
            self._subjects[position] = subjects
            self._condition.notify_all()

    def wait_to_talk(self, position: int) -> None:
        """Return once no earlier record still talking, or about to, may touch what this one touches."""
        with self._condition:
            self._subjects.setdefault(position, None)
            self._condition.wait_for(lambda: not self._held_up(position, past=self._done_talking))

    def done_talking(self, position: int) -> None:
        """Idempotent; a record may be done without ever talking to the ERP."""
        with self._condition:
            self._done_talking.add(position)
            self._condition.notify_all()

    def wait_to_write(self, position: int) -> None:
        """Return once every earlier record that may write what this one writes (a binding) has finished."""
        with self._condition:
            if position in self._subjects:
                self._condition.wait_for(lambda: not self._held_up(position, past=self._finished))

    def finish(self, position: int) -> None:
        with self._condition:
            self._done_talking.add(position)
            self._finished.add(position)
            self._condition.notify_all()

    def wait_finished(self, position: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: position in self._finished)

    def _held_up(self, position: int, past: set[int]) -> bool:
        ours = self._subjects[position]
        for earlier in range(position):
            if earlier in past:
                continue
            if earlier not in self._subjects:
                if earlier in self._done_talking:
                    continue  # finished talking without ever saying what it touches: it touched nothing
                return True  # not yet known what it touches
            theirs = self._subjects[earlier]
            if ours is None or theirs is None or not ours.isdisjoint(theirs):
                return True
        return False


class BatchLane:
    def __init__(self, record_keys: Sequence[str | None] = ()) -> None:
        """``record_keys``: each position's record (None if unknown), to find repeats in the batch."""
        self.subjects = Subjects()
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
        self.lane.subjects.declare(self.position, frozenset(subjects))

    @contextmanager
    def erp_turn(self) -> Iterator[None]:
        """Talk to the ERP once no earlier record touching the same subjects still may."""
        self.lane.subjects.wait_to_talk(self.position)
        try:
            yield
        finally:
            self.lane.subjects.done_talking(self.position)

    def done_with_erp(self) -> None:
        """The record will not call the ERP again (it is writing its outcome): the next record's turn may come."""
        self.lane.subjects.done_talking(self.position)

    def wait_for_previous_appearance(self) -> None:
        """Return once an earlier appearance of the same record in this batch is finished."""
        earlier = self.lane.previous_appearance.get(self.position)
        if earlier is not None:
            self.lane.subjects.wait_finished(earlier)

    def wait_to_write(self) -> None:
        """Return once every earlier record this one shares a subject with has written its outcome."""
        self.lane.subjects.wait_to_write(self.position)

    def release(self) -> None:
        """The record is finished: the records after it need not wait for it any more."""
        self.lane.subjects.finish(self.position)
