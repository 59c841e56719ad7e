"""One error taxonomy: transient (retry with backoff) versus bad input (fail the job, DLQ)."""

from __future__ import annotations


class EtudeError(Exception):
    """Base of every error Étude raises on purpose."""


class TransientError(EtudeError):
    """Worth retrying: a server unreachable, a timeout, a throttled request."""


class BadInputError(EtudeError):
    """Never worth retrying: the input is malformed, missing or unreadable.

    The message is shown to users as the failure reason, so it must say what is wrong.
    """


class ChecksumMismatchError(BadInputError):
    """Stored bytes do not match the sha256 the event promised."""


class MissingObjectError(BadInputError):
    """The event points at an S3 object that does not exist."""
