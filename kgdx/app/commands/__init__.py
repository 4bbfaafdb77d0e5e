"""One module per command group of the ``kgdx`` CLI."""
