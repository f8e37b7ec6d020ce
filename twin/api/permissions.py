"""Deny by default: every request must be authenticated; only operators write."""

from rest_framework.permissions import DjangoModelPermissions


class OperatorsWrite(DjangoModelPermissions):
    """Reads for any signed-in user; writes need the model's add/change/delete permission.

    The ``operators`` group holds those permissions (see the ``twin`` roles migration);
    ``field-crew`` and ``partners`` read only.
    """

    authenticated_users_only = True
