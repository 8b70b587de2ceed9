"""Errors a user can act on. Each carries the process exit code the CLI uses (see SPEC, "Command line")."""

from __future__ import annotations


class CrossTegError(Exception):
    """Base of every error crossteg raises on purpose; its message is one line meant for a person."""

    exit_code: int = 1


class UsageError(CrossTegError):
    """Bad input: a missing or unreadable file, the wrong modality, an output that would overwrite something."""

    exit_code = 2


class MediaError(UsageError):
    """A media file that cannot be read or written, or holds the wrong kind of content."""


class CapacityError(CrossTegError):
    """The secret does not fit in the cover; the message says the capacity and the size."""

    exit_code = 3


class KeyError_(CrossTegError):  # noqa: N801, N818 - trailing underscore keeps clear of the builtin KeyError
    """Wrong key, or no secret in this file (the two cannot be told apart without the key)."""

    exit_code = 4


class WeightsError(CrossTegError):
    """A method's trained weights are missing or do not match their card; the message says how to get them."""

    exit_code = 1
