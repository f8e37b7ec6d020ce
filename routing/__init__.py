"""Drone flight-route optimisation: flight graphs, airspace, fleet, flight plans and exports."""
