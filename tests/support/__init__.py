"""Shared test support: in-memory fakes of the adapters' ports (``fakes.py``)."""
