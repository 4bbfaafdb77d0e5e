"""A differential model that reads a note through the text encoder (issue 13, item 6).

The general model scores diseases from the findings the linker takes out of a note; whatever the
linker misses or maps to a coarse term is lost to it. This model reads the note itself: each
clause becomes a text-encoder embedding (MiniLM), with its section (history, exam, impression)
and its polarity (affirmed, or negated / stated normal, from the linker's ConText assertions).
Each disease of the differential, and each of the general model's best-scored diseases, gets
keys by message passing over the KG: the text-encoder embeddings of its ``HAS_PHENOTYPE``
neighbours, with their frequencies. A clause is matched to each disease's phenotypes (a soft
maximum over them), and the matches are added to the general model's score::

    s'(d) = s(d) + a Σ_{c affirmed} softplus(m_cd − b) − a' Σ_{c negated} softplus(m'_cd − b')
    m_cd  = τ log Σ_{p ∈ d} exp((q_c · k_p + log f_dp) / τ)

with ``f_dp`` the annotation frequency and ``τ`` small (a near-maximum: a disease gains from its
best-matching phenotype, not from the number of its annotations). An affirmed clause can only
raise a disease and a negated or normal one only lower it: a finding the patient lacks never
raises a disease, by construction, as in the general model. Other diseases keep their general
score. Nothing in the model is specific to one disease: keys come from the KG, so any disease is
scored from its phenotypes, and the same code serves another differential.

The model is trained on notes simulated from the KG facts (:func:`simulate_notes`), never on the
evaluation vignettes; ``benchmarks/pd_text_model.py`` compares it with the general model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from kgdx.reasoning.index import KGIndex

__all__ = [
    "SECTIONS",
    "DiseaseKeys",
    "NoteExample",
    "NoteFusion",
    "NoteModelConfig",
    "NoteReader",
    "NoteUnit",
    "PhenotypeTable",
    "fit_note_model",
    "fused_scores",
    "note_units",
    "simulate_notes",
]

#: Section of a clause: what the note's headers say it is.
SECTIONS = ("history", "exam", "impression")
_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z &/]{1,30}):", re.M)
_SECTION_OF = {
    "exam": "exam",
    "examination": "exam",
    "on examination": "exam",
    "o/e": "exam",
    "neuro exam": "exam",
    "neurological examination": "exam",
    "imaging": "exam",
    "investigations": "exam",
    "impression": "impression",
    "assessment": "impression",
    "assessment and plan": "impression",
    "plan": "impression",
    "diagnosis": "impression",
}
_SPLIT = re.compile(r"[.;:\n]+|,\s+")
_NEGATED_START = re.compile(r"^\s*(no|not|denies|denied|without|never|nor|absent)\b", re.I)
_AFFIRMED = {"present", "historical", "uncertain"}
_NORMAL_WORD = re.compile(r"\b(normal|intact|full|preserved|unremarkable|symmetric)\b", re.I)


@dataclass(frozen=True)
class NoteUnit:
    """One clause of a note: its text, section and polarity (+1 affirmed, -1 negated or normal)."""

    text: str
    section: str
    polarity: int


def note_units(text: str, mentions: Sequence = ()) -> list[NoteUnit]:  # noqa: ANN001 - LinkedConcept
    """Split a note into clauses with a section and a polarity each.

    Polarity comes from the linker's assertions on the mentions inside the clause; a clause whose
    mentions disagree ("no tremor but marked bradykinesia") becomes one unit per mention, each
    with its own polarity, so a negated finding never rides on an affirmed clause. A clause
    without a mention is negated if it starts with a negation or states something normal. Clauses
    about someone else (family history) are left out.
    """
    found = list(_HEADER.finditer(text))
    heads = [(m.start(), _SECTION_OF.get(m.group(1).strip().lower(), "history")) for m in found]
    titles = {m.group(1).strip().lower() for m in found}
    out = []
    pos = 0
    for piece in _SPLIT.split(text):
        start = text.find(piece, pos)
        pos = start + len(piece)
        clause = piece.strip()
        if len(clause) < 3 or not re.search(r"[A-Za-z]{3}", clause):
            continue
        if clause.lower() in titles or clause.isupper():
            continue  # a header or a title
        section = "history"
        for h, s in heads:
            if h <= start:
                section = s
        inside = [m for m in mentions if start <= m.span[0] < pos]
        if inside and all(m.experiencer != "patient" for m in inside):
            continue
        mine = [m for m in inside if m.experiencer == "patient"]
        affirmed = [m.status in _AFFIRMED for m in mine]
        if any(affirmed) and not all(affirmed):
            # "no tremor but marked bradykinesia": each mention on its own, so the negated one
            # can never raise a disease
            out += [NoteUnit(m.text, section, 1 if a else -1) for m, a in zip(mine, affirmed)]
            continue
        if mine:
            polarity = 1 if affirmed[0] else -1
        else:
            polarity = -1 if _NEGATED_START.match(clause) or _NORMAL_WORD.search(clause) else 1
        out.append(NoteUnit(clause, section, polarity))
    return out


@dataclass
class NoteModelConfig:
    """Hyper-parameters and the differential of a :class:`NoteFusion` (stored in its checkpoint)."""

    diseases: tuple[str, ...] = ()  # the differential: one id per disease entity
    hidden: int = 64
    embed_dim: int = 384
    candidates: int = 20  # the general model's best diseases scored besides the differential
    # temperature of the soft maximum over a disease's phenotypes: near a hard maximum, so that a
    # disease gains from its best-matching phenotype, not from the number of its annotations
    sharpness: float = 0.1


class NoteFusion(nn.Module):
    """Clause–phenotype matching over the KG, added to the general model's scores.

    Args:
        config: The differential and sizes.
    """

    def __init__(self, config: NoteModelConfig) -> None:
        super().__init__()
        self.config = c = config
        d_in = c.embed_dim + len(SECTIONS)
        self.query = nn.ModuleDict({"pos": nn.Linear(d_in, c.hidden), "neg": nn.Linear(d_in, c.hidden)})
        self.key = nn.ModuleDict({"pos": nn.Linear(c.embed_dim, c.hidden), "neg": nn.Linear(c.embed_dim, c.hidden)})
        self.gain = nn.Parameter(torch.zeros(2))  # softplus(gain - 2) → a, a' (start small)
        self.bias = nn.Parameter(torch.zeros(2))  # b, b'

    def __repr__(self) -> str:
        c = self.config
        n = sum(p.numel() for p in self.parameters())
        return f"NoteFusion(diseases={len(c.diseases)}, candidates={c.candidates}, hidden={c.hidden}, params={n})"

    def forward(
        self,
        units: torch.Tensor,
        sections: torch.Tensor,
        polarity: torch.Tensor,
        keys: DiseaseKeys,
        table: torch.Tensor,
    ) -> torch.Tensor:
        """The text term of each disease in ``keys``, ``(keys.num_diseases,)``, for one note.

        Args:
            units: ``(U, embed_dim)`` clause embeddings.
            sections: ``(U,)`` section index (:data:`SECTIONS`).
            polarity: ``(U,)`` +1 affirmed, -1 negated or normal.
            keys: The diseases' phenotypes (:meth:`DiseaseKeys.build`).
            table: ``(T, embed_dim)`` phenotype-name embeddings that ``keys`` index.
        """
        out = torch.zeros(keys.num_diseases)
        if not len(units) or not len(keys.phenotypes):
            return out
        x = torch.cat([units, nn.functional.one_hot(sections, len(SECTIONS)).float()], -1)
        phen = table[keys.phenotypes]
        a = nn.functional.softplus(self.gain - 2.0)
        for j, (name, sign) in enumerate((("pos", 1), ("neg", -1))):
            rows = polarity == sign
            if not rows.any():
                continue
            q = self.query[name](x[rows])  # (U', H)
            k = self.key[name](phen)  # (P, H)
            sim = q @ k.T / math.sqrt(self.config.hidden) + keys.log_frequency  # (U', P)
            # m_cd: a soft maximum over each disease's phenotypes, (U', D)
            t = self.config.sharpness
            match = t * torch.logsumexp(sim.unsqueeze(1).masked_fill(~keys.mask.unsqueeze(0), -1e4) / t, -1)
            out = out + sign * a[j] * nn.functional.softplus(match - self.bias[j]).sum(0)
        return out

    def config_dict(self) -> dict:
        return asdict(self.config)


class PhenotypeTable:
    """Text-encoder embeddings of phenotype names, computed when first needed and kept.

    Args:
        names: Phenotype id → the name to embed.
        encode: ``texts → (N, embed_dim)`` array (``TextEncoder.encode``).
    """

    def __init__(self, names: dict[str, str], encode) -> None:  # noqa: ANN001 - callable
        self.names = names
        self.encode = encode
        self.row: dict[str, int] = {}
        self._chunks: list[torch.Tensor] = []  # joined once on read, not on every new batch

    @property
    def tensor(self) -> torch.Tensor:
        """``(T, embed_dim)`` embeddings, row ``self.row[id]`` for each phenotype embedded so far."""
        if len(self._chunks) > 1:
            self._chunks = [torch.cat(self._chunks)]
        return self._chunks[0] if self._chunks else torch.zeros(0, 0)

    def rows(self, ids: Sequence[str]) -> list[int]:
        new = [i for i in dict.fromkeys(ids) if i not in self.row]
        if new:
            emb = np.asarray(self.encode([self.names.get(i, i) for i in new]), np.float32)
            self._chunks.append(torch.from_numpy(emb))
            for i in new:
                self.row[i] = len(self.row)
        return [self.row[i] for i in ids]


@dataclass
class DiseaseKeys:
    """Diseases' phenotypes as rows of a :class:`PhenotypeTable`, from their ``HAS_PHENOTYPE`` edges.

    Attributes:
        rows: The diseases' rows in the :class:`KGIndex` (all of an entity's ids pooled).
        phenotypes: ``(P,)`` rows of the phenotype table.
        log_frequency: ``(P,)`` log of the annotation frequency (0.5 when the KG gives none).
        mask: ``(D, P)`` which phenotype belongs to which disease.
    """

    rows: list[int]
    phenotypes: torch.Tensor
    log_frequency: torch.Tensor
    mask: torch.Tensor

    @property
    def num_diseases(self) -> int:
        return len(self.rows)

    @classmethod
    def build(cls, index: KGIndex, rows: Sequence[int], table: PhenotypeTable) -> DiseaseKeys:
        """Gather each disease's annotated phenotypes (message passing over ``HAS_PHENOTYPE``)."""
        ids, freqs, owner = [], [], []
        for i, row in enumerate(rows):
            a = index.annotations.getrow(row)
            ids += [index.phenotypes[t] for t in a.indices]
            freqs += [f if f and f > 0 else 0.5 for f in a.data]
            owner += [i] * len(a.indices)
        mask = torch.zeros(len(rows), len(ids), dtype=torch.bool)
        if ids:
            mask[torch.tensor(owner), torch.arange(len(ids))] = True
        f = torch.tensor(freqs, dtype=torch.float32)
        return cls(list(rows), torch.tensor(table.rows(ids), dtype=torch.long), torch.log(f), mask)


# -- simulated notes ---------------------------------------------------------------------------------

#: Sentence templates, in families; ``simulate_notes(templates="train")`` uses the first
#: two thirds of each list, ``"held_out"`` the rest, so wording can be held out.
AFFIRMED = [
    "{X}.",
    "Reports {x}.",
    "{X} noted.",
    "There is {x}.",
    "Examination shows {x}.",
    "Has developed {x} over the past {n} years.",
    "Family describe {x}.",
    "{X} is evident.",
    "Complains of {x}.",
    "{X} on examination.",
    "Notable for {x}.",
    "Clear {x}.",
]
NEGATED = [
    "No {x}.",
    "Denies {x}.",
    "There is no {x}.",
    "Without {x}.",
    "No evidence of {x}.",
    "{X}: absent.",
    "Negative for {x}.",
    "Never had {x}.",
]
NORMAL = ["{X} normal.", "{X} intact.", "{X} preserved.", "{X} full.", "{X} unremarkable.", "Normal {x}."]
OPENERS = [
    "{age}-year-old {sex} referred with {x}.",
    "{age}-year-old {sex}, {n}-year history of {x}.",
    "Seen in clinic: {age}-year-old {sex} with {x}.",
    "{age} {sex}. Presenting complaint: {x}.",
]
DISTRACTORS = [
    "Hypertension, on amlodipine.",
    "Type 2 diabetes, diet controlled.",
    "Knee osteoarthritis.",
    "Ex-smoker.",
    "Lives with spouse, independent in daily activities.",
    "Retired teacher.",
    "BP 134/82, pulse 72 regular.",
    "Hypercholesterolaemia on a statin.",
    "Cataract surgery last year.",
    "Drinks alcohol occasionally.",
    "Hearing is slightly reduced on the left.",
    "Mild hay fever.",
]
SEXES = ["man", "woman"]
IMPRESSIONS = [
    "Impression: progressive neurological syndrome, differential discussed.",
    "Impression: movement disorder under investigation.",
    "Assessment: will review with imaging.",
    "Plan: follow up in clinic.",
]


def _split(items: list[str], part: str) -> list[str]:
    cut = max(1, (2 * len(items)) // 3)
    return items[:cut] if part == "train" else items[cut:]


def simulate_notes(
    index: KGIndex,
    diseases: Sequence[str],
    phrases: dict[str, list[str]],
    normal_items: dict[str, tuple[str, ...]],
    n: int,
    *,
    seed: int = 0,
    templates: str = "train",
) -> list[tuple[str, str]]:
    """Notes written from the KG facts of ``diseases``: ``[(note text, disease id)]``.

    Each note samples its disease's phenotypes by their annotation frequency, words each with one
    of its phrases (name, KG synonyms, clinical synonyms), negates findings of the other diseases
    that this one lacks, states normal exam items whose findings it lacks, and adds unrelated
    history. Sections and order vary. ``templates`` picks the ``train`` or ``held_out`` third of
    every template family (:data:`AFFIRMED`, :data:`NEGATED`, ...) and of every finding's phrases.
    """
    rng = np.random.default_rng(seed)
    rows = [index.disease_index[d] for d in diseases]
    profile = {d: index.annotations.getrow(r) for d, r in zip(diseases, rows)}
    reach = {d: set(index.profile.getrow(r).indices.tolist()) for d, r in zip(diseases, rows)}
    affirmed, negated, normal, openers = (_split(x, templates) for x in (AFFIRMED, NEGATED, NORMAL, OPENERS))

    def word(hp: str) -> str | None:
        ps = phrases.get(hp)
        if not ps:
            return None
        ps = _split(ps, templates) if len(ps) > 2 else ps
        return str(rng.choice(ps))

    def fill(tpl: str, x: str) -> str:
        s = tpl.format(
            x=x,
            X=x[:1].upper() + x[1:],
            n=int(rng.integers(1, 9)),
            age=int(rng.integers(45, 85)),
            sex=rng.choice(SEXES),
        )
        return s[:1].upper() + s[1:]

    out = []
    for i in range(n):
        d = diseases[i % len(diseases)]
        a = profile[d]
        present = [
            index.phenotypes[t]
            for t, f in zip(a.indices, a.data)
            if rng.random() < min(0.95, (f if f and f > 0 else 0.5) * 0.9)
        ]
        if not present:
            present = [index.phenotypes[a.indices[int(rng.integers(len(a.indices)))]]]
        rng.shuffle(present)
        present = present[: int(rng.integers(3, 11))]
        others = sorted(
            {index.phenotypes[t] for e in diseases if e != d for t in profile[e].indices} - set(present),
        )
        absent = [hp for hp in others if index.phenotype_index[hp] not in reach[d]]
        rng.shuffle(absent)
        absent = absent[: int(rng.integers(0, 6))]
        items = [k for k, hps in normal_items.items() if not any(index.phenotype_index.get(h) in reach[d] for h in hps)]
        rng.shuffle(items)
        items = items[: int(rng.integers(0, 3))]

        history, exam = [], []
        first = word(present[0])
        lead = fill(str(rng.choice(openers)), first) if first else ""
        for hp in present[1:]:
            w = word(hp)
            if w:
                (exam if rng.random() < 0.5 else history).append(fill(str(rng.choice(affirmed)), w))
        for hp in absent:
            w = word(hp)
            if w:
                (exam if rng.random() < 0.5 else history).append(fill(str(rng.choice(negated)), w))
        for k in items:
            exam.append(fill(str(rng.choice(normal)), k))
        history += list(rng.choice(DISTRACTORS, size=int(rng.integers(0, 3)), replace=False))
        rng.shuffle(history)
        rng.shuffle(exam)
        parts = ["NEUROLOGY CLINIC", lead, "History: " + " ".join(history), "Exam: " + " ".join(exam)]
        if rng.random() < 0.5:
            parts.append(str(rng.choice(IMPRESSIONS)))
        out.append(("\n".join(p for p in parts if p.strip()), d))
    return out


# -- reading notes and training -----------------------------------------------------------------------


@dataclass
class NoteExample:
    """A note as both models see it: the general scores, the candidates and the clause tensors."""

    scores: np.ndarray  # (num_diseases,) general model
    units: torch.Tensor
    sections: torch.Tensor
    polarity: torch.Tensor
    keys: DiseaseKeys  # the differential and the general model's best diseases
    gold: int | None = None  # the gold's row in the index, if known


class NoteReader:
    """Links a note for the general model and embeds its clauses for :class:`NoteFusion`.

    Args:
        builder: A :class:`~kgdx.reasoning.case_builder.CaseBuilder` on the diagnoser to fuse with.
        differential: The differential's disease ids.
        candidates: How many of the general model's best diseases to score besides them.
    """

    def __init__(self, builder, differential: Sequence[str], candidates: int = 20) -> None:  # noqa: ANN001 - CaseBuilder
        self.builder = builder
        self.dx = dx = builder.dx
        self.differential = [dx.index.disease_index[d] for d in differential]
        self.candidates = candidates
        self.table = PhenotypeTable(self.names(), self.encode)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.builder.text_encoder.encode(list(texts))

    def names(self) -> dict[str, str]:
        out = {}
        for hp in self.dx.index.phenotypes:
            node = self.dx.store.node(hp)
            out[hp] = (node.props.get("name") if node else None) or hp
        return out

    def phrases(self, extra: dict[str, list[tuple[str, str]]] | None = None) -> dict[str, list[str]]:
        """Every phenotype's wordings: its name, KG synonyms and the clinical vocabulary's phrases."""
        out: dict[str, list[str]] = {}
        for hp in self.dx.index.phenotypes:
            node = self.dx.store.node(hp)
            if node is None:
                continue
            ps = [node.props.get("name") or hp, *(node.props.get("synonyms") or [])]
            ps += [p for p, status in (extra or {}).get(hp, []) if status == "present"]
            # "Tremor, postural"-style index entries are not how a note says it
            ps = [p for p in ps if "," not in p] or ps[:1]
            out[hp] = [p if p.isupper() else p.lower() for p in dict.fromkeys(ps)]
        return out

    def read(
        self, texts: Sequence[str], golds: Sequence[str | None] | None = None, *, progress: bool = False
    ) -> list[NoteExample]:
        """Link and embed ``texts``; ``golds`` (disease ids) set each example's gold row."""
        from kgdx.ingest.case import PatientCase

        cases, units = [], []
        it = texts
        if progress:
            from rich.progress import track

            it = track(texts, description="linking notes")
        for i, text in enumerate(it):
            case = PatientCase(f"note-{i}")
            mentions = self.builder.add_text(case, text, kind="note")
            cases.append(case)
            units.append(note_units(text, mentions))
        scores = self.dx.scores(cases)
        flat = [u.text for us in units for u in us]
        emb = torch.from_numpy(self.encode(flat)) if flat else torch.zeros(0, 384)
        out, k = [], 0
        for i, us in enumerate(units):
            gold = None if golds is None or golds[i] is None else self.dx.index.disease_index.get(golds[i])
            best = [int(j) for j in np.argsort(-scores[i])[: self.candidates + len(self.differential)]]
            rows = list(dict.fromkeys(self.differential + best))[: len(self.differential) + self.candidates]
            out.append(
                NoteExample(
                    scores[i],
                    emb[k : k + len(us)],
                    torch.tensor([SECTIONS.index(u.section) for u in us], dtype=torch.long),
                    torch.tensor([u.polarity for u in us], dtype=torch.long),
                    DiseaseKeys.build(self.dx.index, rows, self.table),
                    gold,
                )
            )
            k += len(us)
        return out


def fused_scores(model: NoteFusion, table: PhenotypeTable, ex: NoteExample) -> np.ndarray:
    """Every disease's score for one note: the general score plus the text term on the candidates."""
    with torch.no_grad():
        t = model(ex.units, ex.sections, ex.polarity, ex.keys, table.tensor).numpy()
    out = ex.scores.copy()
    out[ex.keys.rows] += t
    return out


def fit_note_model(
    model: NoteFusion,
    table: PhenotypeTable,
    examples: Sequence[NoteExample],
    *,
    epochs: int = 8,
    lr: float = 3e-3,
    seed: int = 0,
    unseen: Sequence[int] = (),
    validation: Sequence[NoteExample] = (),
    progress: bool = False,
) -> list[dict[str, float]]:
    """Fit ``model`` by cross-entropy over each note's candidates (gold among them).

    ``unseen`` disease rows are left out of every softmax, so that training says nothing about
    them (to measure how the model scores a disease it never saw). With ``validation`` notes,
    the model keeps the weights of the epoch with the best validation top-1 (ties: the earlier
    epoch). Returns each epoch's mean training loss (and validation top-1); notes whose gold is
    not a candidate are skipped.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    history: list[dict[str, float]] = []
    best: tuple[float, dict] = (-1.0, {})
    for _ in range(epochs):
        total, n = 0.0, 0
        for i in rng.permutation(len(examples)):
            ex = examples[i]
            if ex.gold is None or ex.gold not in ex.keys.rows:
                continue
            base = torch.from_numpy(ex.scores[ex.keys.rows]).float()
            logits = base + model(ex.units, ex.sections, ex.polarity, ex.keys, table.tensor)
            if unseen:
                logits = logits.masked_fill(torch.tensor([r in unseen for r in ex.keys.rows]), -1e4)
            target = torch.tensor([ex.keys.rows.index(ex.gold)])
            loss = nn.functional.cross_entropy(logits.unsqueeze(0), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            n += 1
        row = {"epoch": len(history) + 1, "loss": total / max(n, 1)}
        if validation:
            row["validation_top1"] = float(
                np.mean([int(np.argmax(fused_scores(model, table, ex))) == ex.gold for ex in validation])
            )
            if row["validation_top1"] > best[0]:
                best = (row["validation_top1"], {k: v.clone() for k, v in model.state_dict().items()})
        history.append(row)
        if progress:
            print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    if validation:
        model.load_state_dict(best[1])
    return history
