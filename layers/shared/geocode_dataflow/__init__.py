"""Geocode Dataflow: Data Schema v2.0, a client for the Dataflow REST API, and the domain logic
of the serverless pipeline. This package is what the Lambda layer ships under /opt/python."""

__version__ = "0.1.0"
