"""The poster's batch lane: records touching the same subjects talk to the ERP and write their outcomes in turn."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mlconnector.models import Customer
from mlconnector.pipeline.lane import BatchLane, LanePlace
from mlconnector.pipeline.poster import customer_subjects


def conversations(lane: BatchLane, subjects: dict[int, list[str]], ready_after: dict[int, float]) -> list[tuple]:
    """Run one record per position: it says what it touches, gets ready, talks 50 ms; (position, start, end)."""
    talks: list[tuple] = []

    def record(position: int) -> None:
        place = LanePlace(lane, position)
        try:
            if position in subjects:
                place.will_talk_about(subjects[position])
            time.sleep(ready_after.get(position, 0))
            with place.erp_turn():
                started = time.monotonic()
                time.sleep(0.05)
                talks.append((position, started, time.monotonic()))
        finally:
            place.release()

    with ThreadPoolExecutor(max_workers=len(subjects) or 4) as pool:
        list(pool.map(record, sorted(set(subjects) | set(ready_after))))
    return sorted(talks)


def returns_within(seconds: float, call) -> bool:
    """Whether ``call`` returns within ``seconds`` (in a daemon thread: a wait that never ends fails the test)."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def overlap(first: tuple, second: tuple) -> bool:
    return first[1] < second[2] and second[1] < first[2]


def test_records_about_different_customers_and_documents_talk_to_the_erp_side_by_side():
    talks = conversations(
        BatchLane(),
        {0: ["customer:1", "posting:W1"], 1: ["customer:2", "posting:W2"], 2: ["customer:3", "posting:W3"]},
        {},
    )
    assert overlap(talks[0], talks[1]) and overlap(talks[1], talks[2])


def test_records_sharing_a_subject_talk_in_batch_order_even_when_the_later_one_is_ready_first():
    """Two orders of one new customer: the second finds the customer the first created."""
    talks = conversations(
        BatchLane(),
        {0: ["customer:1", "posting:W1"], 1: ["customer:2", "posting:W2"], 2: ["customer:1", "posting:W3"]},
        {0: 0.08},
    )
    first, unrelated, same_customer = talks
    assert same_customer[1] >= first[2]
    assert unrelated[1] < first[1]  # not held up by a customer it does not share


def test_a_record_waits_for_an_earlier_one_that_has_not_yet_said_what_it_touches():
    lane = BatchLane()
    later_started = threading.Event()

    def later() -> None:
        place = LanePlace(lane, 1)
        place.will_talk_about(["customer:2"])
        with place.erp_turn():
            later_started.set()

    thread = threading.Thread(target=later)
    thread.start()
    assert not later_started.wait(0.05)  # position 0 may touch customer 2: not known yet
    LanePlace(lane, 0).will_talk_about(["customer:1"])
    thread.join(timeout=2)
    assert later_started.is_set()


def test_an_order_and_its_refund_share_the_orders_posting():
    talks = conversations(BatchLane(), {0: ["posting:W1"], 1: ["posting:W1", "posting:W1-R1"]}, {0: 0.05})
    assert talks[1][1] >= talks[0][2]


def test_a_customer_is_known_by_store_id_e_mail_and_name_in_any_case_and_spacing():
    registered = Customer(source_id="7", email="Ada@Example.com", first_name="Ada", last_name="Lovelace")
    guest = Customer(
        source_id="guest:ada@example.com", email=" ada@example.com ", first_name="ada ", last_name="lovelace"
    )
    other = Customer(source_id="8", email="grace@example.com", company="Hopper  Industries")
    assert set(customer_subjects(registered)) & set(customer_subjects(guest)) == {
        "email:ada@example.com",
        "name:ada lovelace",
    }
    assert customer_subjects(other) == ["customer:8", "email:grace@example.com", "name:hopper industries"]
    assert not set(customer_subjects(registered)) & set(customer_subjects(other))


def test_records_that_do_not_say_what_they_touch_take_turns_in_batch_order_one_at_a_time():
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


def test_records_sharing_a_subject_write_in_batch_order():
    """Two orders of one new customer: the binding the second may update is written after the first's."""
    lane = BatchLane()
    written: list[int] = []

    def record(position: int) -> None:
        place = LanePlace(lane, position)
        try:
            place.will_talk_about(["customer:1", f"posting:W{position}"])
            with place.erp_turn():
                pass
            time.sleep(0.002 * (3 - position))  # the later records are ready to write first
            place.wait_to_write()
            written.append(position)
            place.wait_to_write()  # a second write of the same record (a failure after partial progress)
        finally:
            place.release()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(record, range(4)))
    assert written == [0, 1, 2, 3]


def test_a_record_sharing_nothing_with_earlier_ones_writes_while_they_still_talk():
    """The batch's writes do not queue behind an unrelated record's ERP conversation."""
    lane = BatchLane()
    talking = LanePlace(lane, 0)
    talking.will_talk_about(["customer:1", "posting:W1"])
    with talking.erp_turn():
        other = LanePlace(lane, 1)
        other.will_talk_about(["customer:2", "posting:W2"])
        with other.erp_turn():
            pass
        assert returns_within(1, other.wait_to_write)


def test_a_record_that_never_talked_to_the_erp_writes_at_once():
    """An unpaid order is skipped: its status and trail are its own, whoever is still talking."""
    lane = BatchLane()
    LanePlace(lane, 0).will_talk_about(["customer:1"])  # still to talk
    skipped = LanePlace(lane, 1)
    skipped.done_with_erp()
    assert returns_within(1, skipped.wait_to_write)


def test_a_record_waits_to_write_until_an_earlier_one_has_said_what_it_touches():
    lane = BatchLane()
    later = LanePlace(lane, 1)
    later.will_talk_about(["customer:2"])
    assert not returns_within(0.05, later.wait_to_write)  # position 0 may touch customer 2: not known yet
    LanePlace(lane, 0).will_talk_about(["customer:1"])
    assert returns_within(1, later.wait_to_write)


def test_a_record_that_needs_no_erp_does_not_hold_up_the_ones_after_it():
    lane = BatchLane()
    skipped = LanePlace(lane, 0)
    skipped.done_with_erp()  # a duplicate or a skipped order: never waits for its turn
    with LanePlace(lane, 1).erp_turn():
        pass
    skipped.release()
    skipped.release()  # finished twice is harmless
    with LanePlace(lane, 2).erp_turn():
        pass


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
