"""Errors of the markets app's services: each a :class:`~twin.jobs.JobParameterError`, so a job
fails with its message (no traceback) and the API answers 400 with it."""

from twin.jobs import JobParameterError


class OpfError(JobParameterError):
    """The scenario, market or network cannot be priced; nothing was stored."""


class OverlayError(JobParameterError):
    """The overlay cannot be built from these inputs (bad parameter, no prices, too few nodes)."""


class NoPrices(OverlayError):
    """The market run has no located prices at the requested instant."""
