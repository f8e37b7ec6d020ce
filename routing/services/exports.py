"""Exports a ground station can fly: QGroundControl ``.plan``, ``QGC WPL 110``, KML, GeoJSON.

A mission is one flight: take off at the port, fly its waypoints (holding ``service_time_s`` at
each target), return to launch. Altitudes are relative to the port (MAVLink frame 3,
``MAV_FRAME_GLOBAL_RELATIVE_ALT``).
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from routing.models import Flight, FlightPlan

MAV_CMD_NAV_WAYPOINT = 16
MAV_CMD_NAV_RETURN_TO_LAUNCH = 20
MAV_CMD_NAV_TAKEOFF = 22
MAV_FRAME_GLOBAL = 0
MAV_FRAME_MISSION = 2
MAV_FRAME_GLOBAL_RELATIVE_ALT = 3
MAV_AUTOPILOT_PX4 = 12
MAV_TYPE_QUADROTOR = 2


def mission_items(flight: Flight, hold_s: float) -> list[dict]:
    """The flight as MAVLink mission items: takeoff, waypoints, return to launch.

    Each item: ``command``, ``frame``, ``params`` (param1…param4), ``lat``, ``lon``, ``alt``.
    """
    waypoints = flight.waypoints
    home = waypoints[0]
    items = [{"command": MAV_CMD_NAV_TAKEOFF, "frame": MAV_FRAME_GLOBAL_RELATIVE_ALT,
              "params": [0, 0, 0, None], "lat": home["lat"], "lon": home["lon"],
              "alt": home["alt_m"]}]
    for wp in waypoints[1:-1]:
        hold = float(hold_s) if wp.get("target") else 0.0
        items.append({"command": MAV_CMD_NAV_WAYPOINT, "frame": MAV_FRAME_GLOBAL_RELATIVE_ALT,
                      "params": [hold, 0, 0, None], "lat": wp["lat"], "lon": wp["lon"],
                      "alt": wp["alt_m"]})
    items.append({"command": MAV_CMD_NAV_RETURN_TO_LAUNCH, "frame": MAV_FRAME_MISSION,
                  "params": [0, 0, 0, 0], "lat": 0, "lon": 0, "alt": 0})
    return items


def qgc_plan(flight: Flight) -> dict:
    """A QGroundControl ``.plan`` document (fileType Plan, version 1) of one flight."""
    spec = flight.plan.drone_spec
    home = flight.waypoints[0]
    items = []
    for n, item in enumerate(mission_items(flight, spec.get("service_time_s", 0)), start=1):
        items.append({
            "type": "SimpleItem", "autoContinue": True, "command": item["command"],
            "doJumpId": n, "frame": item["frame"],
            "params": [*item["params"], item["lat"], item["lon"], item["alt"]],
            "Altitude": item["alt"], "AltitudeMode": 1, "AMSLAltAboveTerrain": None,
        })
    return {
        "fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
        "geoFence": {"circles": [], "polygons": [], "version": 2},
        "rallyPoints": {"points": [], "version": 2},
        "mission": {
            "version": 2, "firmwareType": MAV_AUTOPILOT_PX4, "vehicleType": MAV_TYPE_QUADROTOR,
            "cruiseSpeed": spec.get("cruise_speed_mps", 12.0),
            "hoverSpeed": spec.get("cruise_speed_mps", 12.0) / 2,
            "globalPlanAltitudeMode": 1,
            "plannedHomePosition": [home["lat"], home["lon"], 0],
            "items": items,
        },
    }


def wpl_text(flight: Flight) -> str:
    """The plain ``QGC WPL 110`` waypoint file of one flight (item 0 is the home position)."""
    home = flight.waypoints[0]
    rows = [(MAV_CMD_NAV_WAYPOINT, MAV_FRAME_GLOBAL, [0, 0, 0, 0], home["lat"], home["lon"], 0.0)]
    hold = flight.plan.drone_spec.get("service_time_s", 0)
    rows += [(i["command"], i["frame"], [p or 0 for p in i["params"]], i["lat"], i["lon"], i["alt"])
             for i in mission_items(flight, hold)]
    lines = ["QGC WPL 110"]
    for n, (command, frame, params, lat, lon, alt) in enumerate(rows):
        values = [n, 1 if n == 0 else 0, frame, command, *params, lat, lon, alt, 1]
        lines.append("\t".join(_fmt(v) for v in values))
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.8f}".rstrip("0").rstrip(".") or "0"


def plan_geojson(plan: FlightPlan) -> dict:
    """The plan as a GeoJSON FeatureCollection: one LineString per flight, a Point per target."""
    features = []
    for flight in plan.flights.order_by("sequence"):
        features.append({
            "type": "Feature", "geometry": json.loads(flight.path.geojson),
            "properties": {"kind": "flight", "flight": flight.sequence, "port": flight.port_name,
                           "drone": flight.drone_number, "sortie": flight.sortie,
                           "length_m": flight.length_m, "duration_s": flight.duration_s,
                           "targets": flight.targets},
        })
        for order, wp in enumerate((w for w in flight.waypoints if w.get("target")), start=1):
            features.append({
                "type": "Feature", "geometry": {"type": "Point", "coordinates": [wp["lon"], wp["lat"]]},
                "properties": {"kind": "target", "target": wp["target"], "flight": flight.sequence,
                               "order": order, "alt_m": wp["alt_m"]},
            })
    by_key = {t["target"]: t for t in plan.targets}
    for skip in plan.skipped:
        target = by_key.get(skip["target"], {})
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [target.get("lon"), target.get("lat")]},
            "properties": {"kind": "skipped", **skip},
        })
    return {"type": "FeatureCollection", "features": features,
            "properties": {"plan": plan.pk, "total_length_m": plan.total_length_m,
                           "status": plan.status}}


def plan_kml(plan: FlightPlan) -> str:
    """The plan as KML: a folder per flight with its path (altitude relative to ground) and
    its targets."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
             f"<name>{escape(plan.name or f'Flight plan {plan.pk}')}</name>"]
    for flight in plan.flights.order_by("sequence"):
        coords = " ".join(f"{w['lon']},{w['lat']},{w['agl_m']}" for w in flight.waypoints)
        parts.append(f"<Folder><name>Flight {flight.sequence} from {escape(flight.port_name)}</name>")
        parts.append(f"<Placemark><name>Flight {flight.sequence}</name><description>"
                     f"{flight.length_m:.0f} m, {flight.duration_s:.0f} s, "
                     f"{len(flight.targets)} targets</description><LineString>"
                     f"<altitudeMode>relativeToGround</altitudeMode><coordinates>{coords}"
                     "</coordinates></LineString></Placemark>")
        for wp in flight.waypoints:
            if wp.get("target"):
                parts.append(f"<Placemark><name>{escape(wp['target'])}</name><Point><coordinates>"
                             f"{wp['lon']},{wp['lat']},{wp['agl_m']}</coordinates></Point></Placemark>")
        parts.append("</Folder>")
    parts.append("</Document></kml>")
    return "\n".join(parts) + "\n"


def write_exports(plan: FlightPlan, folder: str | Path) -> list[Path]:
    """Write every export of ``plan`` into ``folder``: per flight ``flight-NN.plan`` and
    ``flight-NN.waypoints``; for the plan ``plan.kml`` and ``plan.geojson``. Returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for flight in plan.flights.order_by("sequence"):
        stem = folder / f"flight-{flight.sequence:02d}"
        written.append(stem.with_suffix(".plan"))
        written[-1].write_text(json.dumps(qgc_plan(flight), indent=2))
        written.append(stem.with_suffix(".waypoints"))
        written[-1].write_text(wpl_text(flight))
    written.append(folder / "plan.kml")
    written[-1].write_text(plan_kml(plan))
    written.append(folder / "plan.geojson")
    written[-1].write_text(json.dumps(plan_geojson(plan)))
    return written
