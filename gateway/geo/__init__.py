"""Geolocation: country, region and city from a truncated IP, and nothing else.

The interface every caller uses is :class:`GeoLookup`; the database tooling
and the readers for DB-IP and MaxMind files live in this package's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Location:
    """Where an address is, as far as the database knows; empty strings when unknown."""

    country: str = ""  # ISO 3166-1 alpha-2, upper case
    region: str = ""
    city: str = ""
    region_code: str = ""  # ISO 3166-2 ("US-MD", "GB-ENG"), where the database has it
    city_id: int = 0  # the city's GeoNames id, where the database has it


UNKNOWN = Location()


class GeoLookup(Protocol):
    """Looks up an already truncated IP address. Thread-safe, never raises."""

    def lookup(self, truncated_ip: str) -> Location: ...
