"""A realistic demo station made deterministically from a seed: districts with
their own meters, routes, customers and meters, a year of monthly reads, staff
logins, seal pliers and the current month's reading cycle.
"""

from server.demo.staff import DEMO_PASSWORD
from server.demo.station import DemoError, DemoReport, create_demo_station, logins, meters_on_record

__all__ = ["DEMO_PASSWORD", "DemoError", "DemoReport", "create_demo_station", "logins", "meters_on_record"]
