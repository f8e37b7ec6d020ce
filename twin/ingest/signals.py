"""Signals the importers send, so that other apps can add their own rows to an import (inside
its transaction) without the twin knowing them.

``network_imported``
    Sent by :func:`twin.ingest.pandapower.import_pandapower` after it stored a network's buses
    and lines, inside the import's transaction (a receiver that raises rolls the whole import
    back). Arguments: ``sender`` (``"pandapower"``), ``network`` (the network key), ``region``
    (:class:`~twin.models.Region`), ``buses`` (``{bus index: Substation}`` of the stored buses),
    ``currency`` (ISO 4217 code or ``None``, as given to the import) and ``report``
    (:class:`~twin.ingest.base.ImportReport`, to count the receiver's rows in).
"""

from django.dispatch import Signal

network_imported = Signal()
