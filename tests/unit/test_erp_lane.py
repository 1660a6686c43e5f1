"""The poster's batch lane: records of a batch call the ERP one at a time and write in queue order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mlconnector.pipeline.lane import BatchLane, LanePlace, Turns


def test_erp_turns_follow_the_batch_order_one_at_a_time_whatever_order_records_get_ready():
    lane = BatchLane()
    order: list[int] = []
    inside = most_inside = 0
    guard = threading.Lock()

    def record(position: int) -> None:
        nonlocal inside, most_inside
        time.sleep(0.002 * (5 - position))  # later records are ready first
        with LanePlace(lane, position).erp_turn():
            with guard:
                inside += 1
                most_inside = max(most_inside, inside)
            order.append(position)
            time.sleep(0.005)
            with guard:
                inside -= 1

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(record, range(6)))
    assert order == [0, 1, 2, 3, 4, 5]
    assert most_inside == 1


def test_a_record_writes_only_after_the_records_before_it_are_finished():
    """Two versions of one order in a batch: the later one's status is the one that stays."""
    lane = BatchLane()
    written: list[int] = []

    def record(position: int) -> None:
        place = LanePlace(lane, position)
        try:
            time.sleep(0.002 * (3 - position))  # the later records are done with the ERP first
            place.wait_to_write()
            written.append(position)
            place.wait_to_write()  # a second write of the same record (a failure after partial progress)
        finally:
            place.release()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(record, range(4)))
    assert written == [0, 1, 2, 3]


def test_a_record_that_needs_no_erp_does_not_hold_up_the_ones_after_it():
    turns = Turns()
    turns.done(0)  # a duplicate or a skipped order: never waits for its turn
    turns.wait(1)
    turns.done(1)
    turns.done(1)  # done twice (the ERP turn, then the record's finally) is harmless
    turns.wait(2)


def test_a_position_done_before_its_turn_lets_the_later_ones_through_once_the_gap_closes():
    turns = Turns()
    turns.done(1)
    through = threading.Event()
    waiter = threading.Thread(target=lambda: (turns.wait(2), through.set()))
    waiter.start()
    assert not through.wait(0.05)  # position 0 is not done yet
    turns.done(0)
    waiter.join(timeout=2)
    assert through.is_set()


def test_an_erp_turn_is_released_when_the_record_fails_at_the_erp():
    lane = BatchLane()
    try:
        with LanePlace(lane, 0).erp_turn():
            raise RuntimeError("ERP answered 500")
    except RuntimeError:
        pass
    passed = threading.Event()

    def next_record() -> None:
        with LanePlace(lane, 1).erp_turn():
            passed.set()

    thread = threading.Thread(target=next_record)
    thread.start()
    thread.join(timeout=2)
    assert passed.is_set()


def test_a_record_on_its_own_has_its_own_lane():
    first, second = LanePlace(), LanePlace()
    assert first.lane is not second.lane
    with first.erp_turn(), second.erp_turn():  # neither waits for the other
        first.wait_to_write()
        second.wait_to_write()


def test_a_repeat_of_a_record_in_the_batch_starts_after_its_first_appearance_is_finished():
    lane = BatchLane(["woo|order|1", "woo|order|2", None, "woo|order|1"])
    assert lane.previous_appearance == {3: 0}
    finished: list[int] = []

    def record(position: int) -> None:
        place = LanePlace(lane, position)
        try:
            place.wait_for_previous_appearance()
            if position == 0:
                time.sleep(0.05)
            finished.append(position)
        finally:
            place.release()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(record, [3, 2, 1, 0]))
    assert finished.index(0) < finished.index(3)
