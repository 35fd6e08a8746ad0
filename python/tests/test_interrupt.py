"""The engine works without the GIL, and Ctrl-C (KeyboardInterrupt) stops a run between two
selections without leaving the estimator broken."""

import _thread
import threading
import time

import numpy as np
import pytest

import demud


@pytest.fixture(scope="module")
def slow_items():
    # The exact path re-projects every item at every selection: about 4,000 selections of
    # O(n d k) each, far longer than the test waits.
    return np.random.default_rng(5).normal(size=(4000, 200))


def interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_stops_fit_and_leaves_the_previous_results(slow_items):
    estimator = demud.DEMUD(20, exact=True)
    small = slow_items[:100, :30]
    estimator.set_params(n_select=10).fit(small)
    before = (estimator.selections_.copy(), estimator.model_)
    estimator.set_params(n_select=None)
    started = time.monotonic()
    interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(slow_items)
    assert time.monotonic() - started < 20, "the interrupt was seen between two selections"
    np.testing.assert_array_equal(estimator.selections_, before[0])
    assert estimator.model_ == before[1]
    # Still usable.
    estimator.set_params(n_select=5).fit(small)
    assert len(estimator.selections_) == 5


def test_ctrl_c_stops_a_discovery_which_stays_consistent_and_can_go_on(slow_items):
    estimator = demud.DEMUD(20, exact=True)
    run = estimator.discover(slow_items)
    made = 0
    interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        for selection in run:
            made += 1
            assert selection.rank == made
    # Whatever step the interrupt met, what the estimator reports agrees with its model.
    selections = estimator.selections_
    assert len(selections) >= made
    assert estimator.model_.count == len(selections)
    assert len(set(selections.tolist())) == len(selections)
    # The run goes on where it stopped.
    following = [next(run) for _ in range(3)]
    assert [s.rank for s in following] == [len(selections) + 1, len(selections) + 2, len(selections) + 3]
    assert estimator.model_.count == len(selections) + 3
    # The same as an uninterrupted run of that length.
    straight = demud.DEMUD(20, exact=True, n_select=len(selections) + 3).fit(slow_items)
    np.testing.assert_array_equal(estimator.selections_, straight.selections_)


def test_the_gil_is_released_while_the_engine_works(slow_items):
    """A Python thread keeps running while another thread's fit computes: the longest pause
    it sees is a small part of the fit (with the GIL held throughout, it would be all of it)."""
    estimator = demud.DEMUD(20, exact=True, n_select=60)
    done = threading.Event()
    spans = {}

    def work():
        spans["start"] = time.perf_counter()
        estimator.fit(slow_items)
        spans["end"] = time.perf_counter()
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    last = time.perf_counter()
    longest_pause = 0.0
    while not done.is_set():
        now = time.perf_counter()
        longest_pause = max(longest_pause, now - last)
        last = now
    worker.join()
    duration = spans["end"] - spans["start"]
    assert len(estimator.selections_) == 60
    assert duration > 0.3, f"the fit took {duration:.2f} s: too short to tell"
    assert longest_pause < duration / 4, f"paused {longest_pause:.3f} s of a {duration:.3f} s fit"
