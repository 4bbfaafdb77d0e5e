"""Clinical wording as data: extra synonyms, asserted phrases and the normal-exam vocabulary.

HPO names findings the way a geneticist does ("REM sleep behavior disorder", "Hyposmia"); a
neurologist writes "dream enactment", "RBD", "loss of smell", "retropulsion". The words live in
tab-separated files under ``kgdx/encoders/vocab`` so that a clinician can extend them without
touching code:

* ``clinical_synonyms.tsv``: ``id<TAB>phrase[<TAB>absent]``; ``!id<TAB>phrase`` removes a KG
  synonym that misleads in notes ("slowness" is not *Lethargy* in a neurological exam). A third
  column ``absent`` makes the phrase state the finding's absence ("poor response to levodopa"
  is *Parkinsonism with favorable response to dopaminergic medication*, absent).
* ``normal_exam.tsv``: ``phrase<TAB>id,id,…``: an exam item and the abnormal findings that a
  normal statement about it rules out ("smell intact" excludes *Hyposmia*).
* ``denials.tsv``: ``id<TAB>id,id,…``: a finding whose denial also rules out findings the HPO
  does not place under it ("no falls" rules out *Frequent falls*, which is not a kind of *Falls*).

Example:
    >>> vocab = ClinicalVocabulary.load()
    >>> ("RBD", "present") in vocab.synonyms["HP:5200291"]
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgdx.errors import DataError

__all__ = ["ClinicalVocabulary", "VOCAB_DIR"]

#: The folder of the shipped vocabulary files.
VOCAB_DIR = Path(__file__).resolve().parent / "vocab"


def _rows(path: Path, columns: tuple[int, int]) -> list[tuple[int, list[str]]]:
    """Non-comment rows of a TSV file as (line number, fields), checking the number of fields."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"cannot read the vocabulary file: {e.strerror}", file=path) from e
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.rstrip("\n").split("\t")]
        if not columns[0] <= len(parts) <= columns[1] or not all(parts):
            raise DataError(
                f"expected {columns[0]}–{columns[1]} tab-separated non-empty fields, got {len(parts)}: {line!r}",
                file=path,
                line=n,
            )
        out.append((n, parts))
    return out


@dataclass(frozen=True)
class ClinicalVocabulary:
    """Extra clinical wording for the concept linker.

    Attributes:
        synonyms: Concept id → ``(phrase, assertion)`` pairs; assertion is ``present`` (the phrase
            names the finding) or ``absent`` (the phrase states its absence).
        removed: Concept id → KG synonyms (lower case) not to use.
        normal_exam: Exam item phrase → the finding ids a normal statement about it rules out.
        denials: Concept id → the finding ids that its denial also rules out.
    """

    synonyms: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    removed: dict[str, set[str]] = field(default_factory=dict)
    normal_exam: dict[str, tuple[str, ...]] = field(default_factory=dict)
    denials: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> ClinicalVocabulary:
        """Read ``clinical_synonyms.tsv``, ``normal_exam.tsv`` and ``denials.tsv`` from ``folder``
        (default: the shipped ones); a missing file counts as empty.

        Raises:
            DataError: naming the file and line of a malformed row.
        """
        root = Path(folder) if folder is not None else VOCAB_DIR
        syn: dict[str, list[tuple[str, str]]] = {}
        removed: dict[str, set[str]] = {}
        normal: dict[str, tuple[str, ...]] = {}
        path = root / "clinical_synonyms.tsv"
        if path.is_file():
            for n, parts in _rows(path, (2, 3)):
                cid, phrase = parts[0], parts[1]
                if cid.startswith("!"):
                    removed.setdefault(cid[1:], set()).add(phrase.lower())
                    continue
                assertion = parts[2] if len(parts) == 3 else "present"
                if assertion not in ("present", "absent"):
                    raise DataError(
                        f"the assertion must be 'present' or 'absent', got {assertion!r}", file=path, line=n
                    )
                if ":" not in cid:
                    raise DataError(f"expected a concept id such as HP:0002067, got {cid!r}", file=path, line=n)
                syn.setdefault(cid, []).append((phrase, assertion))
        normal = _id_lists(root / "normal_exam.tsv")
        denials = _id_lists(root / "denials.tsv", keys_are_ids=True)
        return cls(syn, removed, normal, denials)


def _id_lists(path: Path, *, keys_are_ids: bool = False) -> dict[str, tuple[str, ...]]:
    """``key<TAB>id,id,…`` rows: key → ids (a missing file is empty)."""
    out: dict[str, tuple[str, ...]] = {}
    if path.is_file():
        for n, (key, ids) in _rows(path, (2, 2)):
            if keys_are_ids and ":" not in key:
                raise DataError(f"expected a concept id such as HP:0002527, got {key!r}", file=path, line=n)
            got = tuple(i.strip() for i in ids.split(",") if i.strip())
            if not got or any(":" not in i for i in got):
                raise DataError(f"expected comma-separated concept ids, got {ids!r}", file=path, line=n)
            out[key] = got
    return out
