"""The data model: database constraints, derived fields and migrations, on both backends."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.gis.geos import LineString, MultiLineString, Point
from django.core.management import call_command
from django.db import IntegrityError, transaction

from twin.ingest.osm_tags import parse_voltages_kv
from twin.models import EVSE, Charger, Connector, Job, Line, Substation, Support

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
VADUZ = Point(9.5215, 47.1410, srid=4326)


def test_migrations_are_complete_and_applied():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
    call_command("showmigrations", "twin", stdout=out)
    assert "[X] 0001_initial" in out.getvalue()


@pytest.mark.parametrize("model,fields", [
    (Substation, {"location": VADUZ, "condition_score": 101}),
    (Substation, {"location": VADUZ, "condition_score": -1}),
    (Substation, {"location": VADUZ, "criticality": 6}),
    (Substation, {"location": VADUZ, "rating_mva": -5}),
    (Support, {"location": VADUZ, "kind": "pole", "height_m": 500}),
    (Line, {"geometry": LineString((9.5, 47.1), (9.6, 47.2), srid=4326), "circuits": 0}),
    (Line, {"geometry": LineString((9.5, 47.1), (9.6, 47.2), srid=4326), "r_ohm_per_km": -0.1}),
    (Job, {"kind": "twin.check", "progress": 1.5}),
], ids=["condition>100", "condition<0", "criticality", "rating", "height", "circuits", "r", "progress"])
def test_database_rejects_out_of_range_values(model, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**fields)
    assert model.objects.count() == 0


def test_source_id_is_unique_when_set():
    Support.objects.create(location=VADUZ, kind="pole", source_id="osm:node/1")
    Support.objects.create(location=VADUZ, kind="pole")  # blank ids don't collide
    Support.objects.create(location=VADUZ, kind="pole")
    with pytest.raises(IntegrityError), transaction.atomic():
        Support.objects.create(location=VADUZ, kind="tower", source_id="osm:node/1")


def test_connector_power_and_evse_uid_constraints():
    charger = Charger.objects.create(location=VADUZ, name="Rathaus")
    evse = EVSE.objects.create(charger=charger, uid="1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.create(evse=evse, standard="IEC_62196_T2", power_kw=5000)
    with pytest.raises(IntegrityError), transaction.atomic():
        EVSE.objects.create(charger=charger, uid="1")


def test_line_length_is_geodesic_and_follows_edits():
    line = Line.objects.create(geometry=LineString((9.50, 47.0), (9.50, 47.1), srid=4326))
    assert line.length_m == pytest.approx(11_119.0, rel=2e-3)  # 0.1° of latitude at 47°N
    line.geometry = MultiLineString(line.geometry, LineString((9.6, 47.0), (9.6, 47.05)), srid=4326)
    line.save()
    assert Line.objects.get(pk=line.pk).length_m == pytest.approx(11_119.0 * 1.5, rel=2e-3)


def test_voltages_are_normalised_with_the_highest_indexed():
    sub = Substation.objects.create(location=VADUZ, voltages_kv=[16, 110, 16.0])
    assert (sub.voltages_kv, sub.voltage_kv) == ([110.0, 16.0], 110.0)
    assert Substation.objects.filter(voltage_kv__gte=100).count() == 1


@pytest.mark.parametrize("tag,levels,rejected", [
    ("110000;16000", [110.0, 16.0], []),
    ("220000", [220.0], []),
    ("20 kV", [20.0], []),
    ("medium", [], ["medium"]),
    ("400;230", [0.4, 0.23], []),
    ("16000;;abc;-5", [16.0], ["abc", "-5"]),
    (None, [], []),
])
def test_osm_voltage_parsing(tag, levels, rejected):
    assert parse_voltages_kv(tag) == (levels, rejected)


def test_history_keeps_before_and_after():
    sub = Substation.objects.create(location=VADUZ, name="UW Vaduz", condition_score=80)
    sub.condition_score = 55
    sub.save()
    new, old = sub.history.all()[:2]
    assert (old.condition_score, new.condition_score) == (80, 55)
    assert [c.field for c in new.diff_against(old).changes] == ["condition_score"]
