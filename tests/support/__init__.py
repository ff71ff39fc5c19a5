"""Shared test support: in-memory fakes of the adapters' ports (``fakes.py``), builders
(``factories.py``), the sandbox payment provider as the in-process tests drive it (``sandbox.py``)."""
