"""The errors routing services raise for unusable input."""

from __future__ import annotations

from twin.jobs import JobParameterError


class RoutingInputError(JobParameterError):
    """Input a flight graph or plan cannot be made from; the message says what and why.

    A ``ValueError`` (through :class:`~twin.jobs.JobParameterError`): a job fails with this
    message and no traceback, the API answers 400 with it, the CLI prints it. Nothing is written
    when it is raised.
    """

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}
        self.result = {"error": message, **self.details} if details else None
