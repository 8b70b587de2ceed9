"""What every attack module shares: the fixed seed of the random attacks and the 'does not apply' signal."""

from __future__ import annotations

from crossteg.errors import UsageError

SEED = 0  # every random attack draws from numpy Generator(PCG64(SEED)): the same distortion on every run


class NotApplicable(UsageError):  # noqa: N818 - a signal to skip, not a failure
    """This attack would not change this file (e.g. resampling to the rate it already has); eval skips it."""
