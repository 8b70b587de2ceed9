"""Bits <-> float32 latent values through IEEE-754 slots (flowhide, Yang et al. sec. 4.2-4.3).

    float32 bit positions (beta_0 = last fraction bit):  31 | 30 ... 23 | 22 | 21 ... 3 | 2 1 0
                                                        sign| exponent   |      fraction
    fixed:  beta_30..beta_22 = 0 1 1 1 1 1 1 0 0   ->  |z| in [0.5, 0.75)           (sec. 4.2)
    hidable slots S = (beta_3, ..., beta_21, beta_31): 20 bits per float          (sec. 4.2)
    beta_2..beta_0 are unused (too sensitive); we set them to 1 0 0, the middle of the cell, so that a small
    numerical error in either direction does not carry into beta_3 (our choice; the paper leaves them open).

Encoding plans (`Plan`): per 16 x 16 patch, the M = K x 32 bits of its ICN code go into n = ceil(M / 20) floats.
`optimised_plan` is the paper's greedy assignment (eq. 1): the most important bit takes a free position in the
slot with the lowest flip rate, each slot holding n positions; the leftover positions then carry repeats
(eq. 2-5): while positions remain, the bit whose upgrade from tau to tau + 2 copies (all in one slot, moved to
another slot when its own has no room) gains most, w_j (p_{i,tau} - p_{i',tau+2}), gets it; reveal takes the
majority vote of the copies.
`naive_plan` is the sec. 5.1 baseline: 18 slots filled in order. The paper lists (beta_5..beta_21, beta_30),
but beta_30 is the top exponent bit (setting it makes |z| ~ 2^127 and the audio infinite); we read it as the
sign beta_31.

Keys (`whiten`, `positions`): payload bits are XORed with a ChaCha20 keystream, and the floats are placed in the
latent by a keyed permutation, so a wrong key reads noise and every part of the audio carries a bit of every
frame. Flip rates are measured by `flip_rates` after the full hide -> file -> reveal path (benchmarks/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crossteg import keys

SLOTS = (*range(3, 22), 31)  # sec. 4.2: hidable slots beta_3..beta_21, beta_31
NAIVE_SLOTS = (*range(5, 22), 31)  # sec. 5.1: 18 slots (beta_30 read as beta_31, see above)
FIXED = 0b0_01111110_0 << 22  # sec. 4.2: beta_30..beta_22 = 011111100 (exponent 126, top fraction bit 0)
LOW_FILL = 0b100  # beta_2..beta_0: middle of the beta_3 cell (ours)
REPEATS = (1, 3, 5)  # sec. 4.3: tau in {1, 3, 5}


def encode(bits: np.ndarray, slots: tuple[int, ...] = SLOTS) -> np.ndarray:
    """Bits N x len(slots) (0/1) -> N float32 values with |z| in [0.5, 0.75)."""
    b = np.asarray(bits, dtype=np.uint32)
    if b.ndim != 2 or b.shape[1] != len(slots):
        raise ValueError(f"expected N x {len(slots)} bits, got {b.shape}")
    words = np.full(len(b), FIXED | LOW_FILL, np.uint32)
    for column, position in enumerate(slots):
        words |= b[:, column] << np.uint32(position)
    return words.view(np.float32)


def decode(values: np.ndarray, slots: tuple[int, ...] = SLOTS) -> np.ndarray:
    """Float32 values (any shape, flattened) -> bits N x len(slots) (uint8), read from the slot positions."""
    words = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32)
    return np.stack([(words >> np.uint32(p)) & np.uint32(1) for p in slots], axis=1).astype(np.uint8)


def flip_rates(sent: np.ndarray, received: np.ndarray, positions: tuple[int, ...] = tuple(range(32))) -> np.ndarray:
    """Fraction of values whose bit at each of `positions` differs between the two float32 arrays."""
    a = np.ascontiguousarray(sent, dtype=np.float32).reshape(-1).view(np.uint32)
    b = np.ascontiguousarray(received, dtype=np.float32).reshape(-1).view(np.uint32)
    diff = a ^ b
    return np.array([float(((diff >> np.uint32(p)) & 1).mean()) for p in positions])


def majority_error(p: float, n: int) -> float:
    """Probability that the majority of n independent copies, each flipped with probability p, is wrong
    (eq. 3-5 for n = 1, 3, 5)."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))


@dataclass(frozen=True)
class Plan:
    """Where each bit of a patch's M-bit vector goes: `table[f, s]` is the bit index carried by float f,
    slot column s (of `slots`), or -1 for an unused position (filled with keystream noise)."""

    table: np.ndarray  # n floats x len(slots), int
    bits: int  # M
    slots: tuple[int, ...] = SLOTS

    @property
    def floats(self) -> int:
        return int(self.table.shape[0])

    def copies(self) -> np.ndarray:
        """tau_j: how many positions carry bit j."""
        return np.bincount(self.table[self.table >= 0], minlength=self.bits)

    def bit_errors(self, flip: np.ndarray) -> np.ndarray:
        """Per bit j, the probability p_{pi(j), tau(j)} that its majority vote reads wrong, with `flip` the
        per-slot flip rates in `slots` order (a bit's copies share one slot column)."""
        rows, columns = np.nonzero(self.table >= 0)
        bit = self.table[rows, columns]
        column = np.zeros(self.bits, np.int64)
        column[bit] = columns
        copies = self.copies()
        return np.array([majority_error(float(flip[column[j]]), int(copies[j])) for j in range(self.bits)])

    def expected_objective(self, importance: np.ndarray, flip: np.ndarray) -> float:
        """sum_j w_j (1 - p_{pi(j), tau(j)}) (eq. 2) with `flip` the per-slot flip rates in `slots` order."""
        return float(np.sum(np.asarray(importance) * (1 - self.bit_errors(flip))))


def optimised_plan(importance: np.ndarray, flip: np.ndarray, slots: tuple[int, ...] = SLOTS,
                   repeat: bool = True) -> Plan:
    """The greedy assignment of sec. 4.3 for M = len(importance) bits over slots with flip rates `flip`."""
    w, p = np.asarray(importance, np.float64), np.asarray(flip, np.float64)
    m, columns = len(w), len(slots)
    n = math.ceil(m / columns)
    free = [n] * columns
    order_slots = [int(c) for c in np.argsort(p, kind="stable")]
    home, copies = {}, {}  # bit -> slot column, number of copies
    for j in (int(j) for j in np.argsort(-w, kind="stable")):  # eq. 1: important bits to reliable slots
        s = next(c for c in order_slots if free[c] > 0)
        home[j], copies[j] = s, 1
        free[s] -= 1
    while repeat:  # eq. 2: spend leftover positions on the repeat with the largest gain (moving the bit if needed)
        best, gain = None, 0.0
        for j, s in home.items():
            tau = copies[j]
            if tau == REPEATS[-1]:
                continue
            for t in order_slots:
                if free[t] + (tau if t == s else 0) >= tau + 2:
                    g = w[j] * (majority_error(p[s], tau) - majority_error(p[t], tau + 2))
                    if g > gain:
                        best, gain = (j, t), g
        if best is None:
            break
        j, t = best
        free[home[j]] += copies[j]
        copies[j] += 2
        home[j] = t
        free[t] -= copies[j]
    table = np.full((n, columns), -1, np.int64)
    filled = [0] * columns
    for j in sorted(home):
        s = home[j]
        table[filled[s]:filled[s] + copies[j], s] = j
        filled[s] += copies[j]
    return Plan(table, m, slots)


def naive_plan(bits: int, slots: tuple[int, ...] = NAIVE_SLOTS) -> Plan:
    """Sec. 5.1 baseline for one patch: bits in order, len(slots) per float (unused: -1)."""
    n = math.ceil(bits / len(slots))
    flat = np.full(n * len(slots), -1, np.int64)
    flat[:bits] = np.arange(bits)
    return Plan(flat.reshape(n, len(slots)), bits, slots)


def plan_bits(plan: Plan, patches: np.ndarray, filler: np.ndarray | None = None) -> np.ndarray:
    """Patch bits P x M -> slot bits (P * n) x len(slots); unused positions take `filler` bits (else 0)."""
    table = plan.table.reshape(-1)
    out = patches[:, np.maximum(table, 0)].astype(np.uint8)
    unused = table < 0
    if unused.any():
        fill = np.zeros((len(patches), int(unused.sum())), np.uint8) if filler is None else filler
        out[:, unused] = fill.reshape(len(patches), -1)
    return out.reshape(-1, len(plan.slots))


def unplan_bits(plan: Plan, slot_bits: np.ndarray, erased: np.ndarray | None = None) -> np.ndarray:
    """Slot bits (P * n) x len(slots) -> patch bits P x M by majority vote over each bit's copies. Copies in an
    `erased` float (one flag per row of slot_bits: audio known lost) do not vote, unless every copy is."""
    table = plan.table.reshape(-1)
    received = slot_bits.reshape(-1, table.size).astype(np.float32)
    used = table >= 0
    onehot = np.zeros((int(used.sum()), plan.bits), np.float32)
    onehot[np.arange(int(used.sum())), table[used]] = 1.0
    votes = received[:, used] @ onehot
    plain = votes * 2 > plan.copies()[None, :]
    if erased is None or not erased.any():
        return plain.astype(np.uint8)
    kept = np.repeat(~erased, slot_bits.shape[1]).reshape(received.shape).astype(np.float32)
    counted = kept[:, used] @ onehot
    return np.where(counted > 0, (received * kept)[:, used] @ onehot * 2 > counted, plain).astype(np.uint8)


def whiten(material: keys.KeyMaterial, label: str, bits: np.ndarray) -> np.ndarray:
    """XOR bits with a ChaCha20 keystream bound to `label` (its own inverse)."""
    stream = material.keystream_bits(f"flowhide/whiten/{label}", bits.size).reshape(bits.shape)
    return bits ^ stream


def positions(material: keys.KeyMaterial, size: int) -> np.ndarray:
    """A keyed permutation of a latent of `size` floats: logical float i lives at latent position [i]."""
    return material.permutation("flowhide/positions", size)
