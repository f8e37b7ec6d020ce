"""JSON errors with a sentence that names the field, alongside DRF's per-field detail."""

from __future__ import annotations

from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return out
    if isinstance(detail, list):
        out = []
        for i, item in enumerate(detail):
            if isinstance(item, (dict, list)) and not isinstance(item, str):
                out += _flatten(item, f"{prefix}[{i}]")
            else:
                out += _flatten(item, prefix)
        return out
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def exception_handler(exc, context):
    """DRF's handler, plus a ``message`` string for validation errors (``field: reason; …``)."""
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 400 and isinstance(response.data, dict):
        if "message" not in response.data:
            response.data = {"message": "; ".join(_flatten(response.data)), "errors": response.data}
    return response
