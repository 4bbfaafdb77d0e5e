"""The web diagnosis report, served by the HTTP API at ``/ui`` (``kgdx serve``).

Server-rendered pages (Jinja2) with one small script and no build step: enter a case (HPO terms
with autocomplete from the KG, a note, or a phenopacket file), see the differential with its
probabilities, each disease's checked paragraph and its evidence for and against as a small graph
of KG paths, the drug suggestions with their safety flags, the Cypher of every path with a copy
button, and export the report as Markdown or PDF.

Access (``KGDX_WEB_ACCESS``): ``loopback`` (the default) serves the pages to clients on
127.0.0.1/::1 only, without a key; ``key`` asks for an API key once and keeps it in an HttpOnly,
SameSite=Strict cookie; ``off`` serves no page. The API's rate limits and body limits apply to
the pages as to every endpoint.
"""

from kgdx.app.web.routes import router, static_files

__all__ = ["router", "static_files"]
