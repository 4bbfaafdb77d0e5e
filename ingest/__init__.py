"""Adapters from outside formats to validated kgdx records and cases.

Each adapter reads one format and yields plain :class:`kg.records.Node` / :class:`kg.records.Edge`
records (or cases); none of them touches a store. They import without torch.
"""
