"""kgdx: knowledge-graph-grounded clinical reasoning. This package is the app layer (CLI, settings,
HTTP API) over the libraries ``kg``, ``ingest``, ``encoders`` and ``reasoning``."""

__version__ = "0.1.0"
