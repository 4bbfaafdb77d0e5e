"""Adapters from outside formats to validated kgdx records and cases.

Each adapter reads one format and yields plain :class:`kgdx.kg.records.Node` / :class:`kgdx.kg.records.Edge`
records (or cases); none of them touches a store. They import without torch.
"""
