"""codecs/bits.py: IEEE-754 slots, the greedy bit plan, repetition with majority vote, keyed whitening."""

import numpy as np
import pytest

from crossteg import keys
from crossteg.codecs import bits as B

rng = np.random.default_rng(0)


def test_every_20_bit_pattern_round_trips_and_stays_in_range():
    patterns = np.arange(2**20, dtype=np.uint32)
    slot_bits = ((patterns[:, None] >> np.arange(20, dtype=np.uint32)) & 1).astype(np.uint8)
    z = B.encode(slot_bits)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert ((np.abs(z) >= 0.5) & (np.abs(z) < 0.75)).all()  # sec. 4.2
    assert ((z < 0) == (slot_bits[:, -1] == 1)).all()  # beta_31 is the sign
    np.testing.assert_array_equal(B.decode(z), slot_bits)
    assert len(np.unique(z)) == 2**20


def test_fixed_bits_and_unused_low_bits():
    words = B.encode(np.zeros((1, 20), np.uint8)).view(np.uint32)[0]
    assert (words >> 22) & 0x1FF == 0b011111100  # beta_30..beta_22
    assert words & 0b111 == B.LOW_FILL
    assert B.encode(np.zeros((1, 20), np.uint8))[0] > 0.5  # the low fill sits inside the cell


def test_flip_rates_count_bit_differences():
    a = B.encode(rng.integers(0, 2, (1000, 20)))
    words = a.view(np.uint32).copy()
    words[:100] ^= np.uint32(1 << 3)  # flip beta_3 in 10 % of the values
    rates = B.flip_rates(a, words.view(np.float32))
    assert rates[3] == pytest.approx(0.1) and rates[4] == 0 and rates.sum() == pytest.approx(0.1)


def test_majority_error_matches_equations_3_to_5():
    p = 0.2
    assert B.majority_error(p, 1) == pytest.approx(p)
    assert B.majority_error(p, 3) == pytest.approx(p**3 + 3 * p**2 * (1 - p))
    assert B.majority_error(p, 5) == pytest.approx(p**5 + 5 * p**4 * (1 - p) + 10 * p**3 * (1 - p) ** 2)


def test_greedy_plan_respects_capacity_and_puts_important_bits_in_reliable_slots():
    m = 128  # K = 4
    importance = rng.random(m)
    flip = np.linspace(0.3, 0.0, 20)  # the last slot is the most reliable
    plan = B.optimised_plan(importance, flip)
    n = int(np.ceil(m / 20))
    assert plan.table.shape == (n, 20)  # each slot holds at most n = ceil(M / 20) positions (eq. 1 constraint)
    copies = plan.copies()
    assert copies.min() >= 1 and set(np.unique(copies)) <= {1, 3, 5}
    assert copies.sum() == (plan.table >= 0).sum() <= n * 20
    for j in range(m):  # all copies of a bit share a slot
        assert len(np.unique(np.nonzero(plan.table == j)[1])) == 1
    best = int(np.argmax(importance))
    assert np.nonzero(plan.table == best)[1][0] == 19  # most important bit in the lowest flip rate slot
    worst_slot = int(np.argmax(flip))
    used_there = plan.table[:, worst_slot]
    assert (used_there[used_there >= 0].size == 0) or importance[used_there[used_there >= 0]].max() <= np.median(
        importance)  # the least reliable slot only gets unimportant bits
    no_repeat = B.optimised_plan(importance, flip, repeat=False)
    assert no_repeat.expected_objective(importance, flip) < plan.expected_objective(importance, flip)


def test_majority_vote_corrects_injected_flips():
    m = 100
    importance = np.ones(m)
    flip = np.full(20, 0.1)
    plan = B.optimised_plan(importance, flip)  # 5 floats x 20 = 100 positions: no room for repeats
    assert plan.copies().max() == 1
    small = B.optimised_plan(np.linspace(1, 0.1, 40), flip)  # 2 floats x 20 = 40: exact fit
    assert small.copies().max() == 1
    plan = B.optimised_plan(np.linspace(1, 0.1, 50), flip)  # 3 floats = 60 positions: 10 spare
    copies = plan.copies()
    assert (copies == 3).sum() == 4 and (copies[:4] == 3).all()  # the 4 most important bits get triples
    patches = rng.integers(0, 2, (7, 50)).astype(np.uint8)
    sent = B.plan_bits(plan, patches, rng.integers(0, 2, (7, int((plan.table < 0).sum()))).astype(np.uint8))
    received = sent.reshape(7, -1).copy()
    table = plan.table.reshape(-1)
    for j in np.nonzero(copies == 3)[0]:  # flip one copy of every triplicated bit
        received[:, np.nonzero(table == j)[0][0]] ^= 1
    np.testing.assert_array_equal(B.unplan_bits(plan, received.reshape(-1, 20)), patches)
    single = np.nonzero(copies == 1)[0][0]  # a bit with a single copy is lost when flipped
    received[:, np.nonzero(table == single)[0][0]] ^= 1
    assert (B.unplan_bits(plan, received.reshape(-1, 20))[:, single] != patches[:, single]).all()


def test_plan_round_trip_through_floats():
    plan = B.optimised_plan(rng.random(256), rng.random(20) * 0.2)
    patches = rng.integers(0, 2, (30, 256)).astype(np.uint8)
    z = B.encode(B.plan_bits(plan, patches))
    np.testing.assert_array_equal(B.unplan_bits(plan, B.decode(z, plan.slots)), patches)


def test_bit_errors_are_each_bits_majority_vote_error():
    flip = np.linspace(0.3, 0.01, 20)
    plan = B.optimised_plan(np.linspace(1, 0.1, 30), flip)  # 2 floats x 20 = 40 positions: 10 spare for repeats
    errors, copies = plan.bit_errors(flip), plan.copies()
    for j in range(30):
        column = np.nonzero((plan.table == j).any(0))[0]
        assert len(column) == 1  # every copy in one slot column
        assert errors[j] == pytest.approx(B.majority_error(flip[column[0]], copies[j]))
    assert errors[0] <= errors[-1]  # the most important bit the most reliable
    assert plan.expected_objective(np.ones(30), flip) == pytest.approx(30 - errors.sum())


def test_naive_plan_is_sequential_over_18_slots():
    plan = B.naive_plan(128)
    assert plan.table.shape == (8, 18) and plan.slots == B.NAIVE_SLOTS  # ceil(128 / 18) = 8 floats
    np.testing.assert_array_equal(plan.table.reshape(-1)[:128], np.arange(128))
    patches = rng.integers(0, 2, (5, 128)).astype(np.uint8)
    z = B.encode(B.plan_bits(plan, patches), plan.slots)
    assert ((np.abs(z) >= 0.5) & (np.abs(z) < 0.75)).all()
    np.testing.assert_array_equal(B.unplan_bits(plan, B.decode(z, plan.slots)), patches)


def test_whitening_and_positions_depend_on_the_key():
    a, b = keys.derive("one", "flowhide"), keys.derive("two", "flowhide")
    x = rng.integers(0, 2, (40, 20)).astype(np.uint8)
    np.testing.assert_array_equal(B.whiten(a, "payload", B.whiten(a, "payload", x)), x)
    assert 0.3 < (B.whiten(a, "payload", x) != x).mean() < 0.7
    assert not np.array_equal(B.whiten(a, "payload", x), B.whiten(b, "payload", x))
    p = B.positions(a, 1000)
    assert sorted(p) == list(range(1000)) and np.array_equal(p, B.positions(a, 1000))
    assert not np.array_equal(p, B.positions(b, 1000))
