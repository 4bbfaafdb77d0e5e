"""Disease modules: a folder of schema additions and curated data with a version.

A module folder holds a ``module.yaml``::

    name: parkinsons
    version: "1.0.0"
    description: Parkinson's disease and its differential.
    schema: schema.yaml          # optional: new node/relationship types, in the schema format
    data:                        # curated files (see kgdx.kg.curated), read in this order
      - data/diseases.yaml
      - data/drugs.yaml

The built-in modules under ``kg/modules/`` (e.g. ``respiratory``) are part of the default build;
others are applied with ``kgdx kg extend PATH``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from pydantic import Field, ValidationError

from kgdx.errors import SchemaError
from kgdx.kg.records import Edge, Node
from kgdx.kg.schema import FrozenModel, Schema

__all__ = ["Module", "load_module", "builtin_modules"]


class Module(FrozenModel):
    """A parsed ``module.yaml``; paths are resolved against the module folder."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$")
    version: str
    description: str = ""
    schema_file: str | None = Field(default=None, alias="schema")
    data: tuple[str, ...] = ()
    root: Path = Field(default=Path("."), exclude=True)

    def schema_additions(self) -> Schema | None:
        """The module's schema additions, named after the module, or ``None``."""
        if self.schema_file is None:
            return None
        extra = Schema.from_yaml(self.root / self.schema_file, partial=True)
        return extra.model_copy(update={"name": self.name, "version": self.version})

    def data_files(self) -> list[Path]:
        return [self.root / f for f in self.data]

    def records(self) -> Iterator[Node | Edge]:
        """Every record of the module's data files, in order (not yet validated)."""
        from kgdx.kg.curated import read_curated

        for path in self.data_files():
            yield from read_curated(path)


def load_module(path: str | Path) -> Module:
    """Read ``module.yaml`` from a module folder (or the file itself).

    Raises:
        SchemaError: if the manifest is missing or invalid, naming the file and key.
    """
    path = Path(path)
    manifest = path / "module.yaml" if path.is_dir() else path
    from kgdx.kg.curated import load_yaml_with_lines

    try:
        doc = load_yaml_with_lines(manifest)
    except Exception as e:  # DataError for a missing or unparsable file
        raise SchemaError(f"not a module: {e}", file=manifest) from None
    if not isinstance(doc, dict):
        raise SchemaError("module.yaml must be a mapping", file=manifest)
    doc = {k: v for k, v in doc.items() if k != "__line__"}
    try:
        module = Module.model_validate({**doc, "root": manifest.parent})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise SchemaError(f"{err['msg']} (got {err.get('input')!r})", file=manifest, field=key) from None
    for f in ([module.schema_file] if module.schema_file else []) + list(module.data):
        if not (module.root / f).is_file():
            raise SchemaError(f"listed file {f!r} does not exist", file=manifest, field=f)
    return module


def builtin_modules() -> list[Module]:
    """The modules that ship with kgdx and are part of the default build, by name."""
    root = resources.files("kgdx.kg") / "modules"
    out = []
    with resources.as_file(root) as base:
        if base.is_dir():
            for sub in sorted(base.iterdir()):
                if (sub / "module.yaml").is_file():
                    out.append(load_module(sub))
    return out
