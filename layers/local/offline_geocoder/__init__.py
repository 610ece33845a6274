"""The offline geocoder shared by the local provider emulators (Bing Dataflow, Amazon Location).

Deterministic and network-free: GeoNames places, US ZIP centroids, US states and countries
(``gazetteer``), answered in Data Schema v2.0 terms (``geocoder``). Local and test use only.
"""

from .gazetteer import Gazetteer, distance_km, fold, get_gazetteer
from .geocoder import EntityFaultError, Geocoder

__all__ = ["EntityFaultError", "Gazetteer", "Geocoder", "distance_km", "fold", "get_gazetteer"]
