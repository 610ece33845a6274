"""The offline geocoder shared by the local provider emulators (Bing Dataflow, Amazon Location).

Deterministic and network-free: GeoNames places by their names in every language and script,
first-level divisions, US ZIP centroids, postal codes elsewhere, US states and countries
(``gazetteer``, filled by ``sources`` and ``postcodes`` from PyPI packages), answered in Data
Schema v2.0 terms (``geocoder``) at locality and postal-code level, never street level. Local
and test use only.
"""

from .gazetteer import Gazetteer, distance_km, fold, get_gazetteer
from .geocoder import EntityFaultError, Geocoder

__all__ = ["EntityFaultError", "Gazetteer", "Geocoder", "distance_km", "fold", "get_gazetteer"]
