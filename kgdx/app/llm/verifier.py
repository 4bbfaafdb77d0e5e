"""Check generated explanations against the KG, claim by claim.

Generated text is split into sentences, and each sentence into claims:

1. **Entities** are linked against the KG: node names and synonyms by the dictionary matcher of
   :class:`kgdx.encoders.linking.ConceptLinker` (case, plural and spelling do not matter), and
   CURIEs written out (``HP:0001945``). A name that several nodes share counts as all of them.
2. **Assertion** per mention, from its clause: *absent* ("no fever", "does not have"), *not
   reported* ("does not report crackles", "crackles were not documented") or *present*; and
   whether the clause speaks of the patient ("the patient has …").
3. **Relation** from cue words: for or against a disease, treats, contraindicated, interacts,
   takes, safe; numbers near "probability" are probabilities, other percentages frequencies,
   and "ranks second" a rank.

A claim is **supported** only if a verified path or a KG-checked drug suggestion of the same
diagnosis (:class:`~kgdx.app.llm.grounding.Grounding`) says it, and its support comes with that
path's Cypher. A sentence is kept as written only if every claim in it is supported; otherwise
it is flagged with the reasons (``mode="flag"``) or removed with a note (``mode="reject"``), so
an unsupported claim never reaches the reader unmarked. A sentence with a cue but nothing the KG
knows ("Start zorblaxin.") is unsupported too. Citations in square brackets are not checked.

Limits, on purpose: the checker reads what a sentence asserts from cue words and clauses, not
with a parser, so a claim phrased past its cues (irony, a double negation, a claim spread over two
sentences) can slip by or be flagged wrongly; ``benchmarks/verifier.py`` measures how often.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from kgdx.kg.vocab import NodeLabel, RelType

if TYPE_CHECKING:
    from kgdx.app.llm.grounding import DiseaseGrounding, Grounding
    from kgdx.app.llm.narrative import Paragraph
    from kgdx.encoders.linking import ConceptLinker
    from kgdx.kg.store import KGStore
    from kgdx.reasoning.results import Diagnosis, RankedDisease

__all__ = ["Claim", "CheckedSentence", "CheckedParagraph", "ClaimVerifier", "split_sentences"]

Mode = Literal["flag", "reject"]
Assertion = Literal["present", "absent", "not-reported"]

#: The root of HPO's phenotypic abnormalities: modifiers and frequencies ("Acute", "Frequent")
#: are words in every sentence, never findings.
PHENOTYPIC_ABNORMALITY = "HP:0000118"

_SENTENCE = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bcf\.)(?<=[.!?])\s+")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CURIE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*:[A-Za-z0-9_]+\b")
_CLAUSE = re.compile(r"[;,:]|\b(?:but|while|whereas|although|though|however|and|which|who|yet)\b", re.I)
_NEGATION = re.compile(
    r"\b(?:no|not|without|denies|denied|lacks?|lacking|absent|absence of|negative for|free of|never|none|nor)\b", re.I
)
_NEGATED_AFTER = re.compile(
    r"^\W*(?:\w+\W+){0,2}?(?:is|are|was|were|has been|have been)\s+(?:absent|not present|not seen|not found|"
    r"excluded|ruled out|negative)\b",
    re.I,
)
_NOT_REPORTED = re.compile(
    r"\bnot\s+(?:been\s+)?(?:reported|documented|mentioned|recorded|noted|described)\b|"
    r"\b(?:does|do|did)\s+not\s+(?:report|mention)\b|\bunreported\b|\bno\s+(?:report|mention)\s+of\b",
    re.I,
)
_PATIENT = re.compile(r"\b(?:patient|patient's|presents?|presented|he|she|his|her|they|their)\b", re.I)
_AGAINST = re.compile(
    r"\bagainst\b|\bless likely\b|\bunlikely\b|\batypical\b|\bnot typical\b|\bdoes not fit\b|\binconsistent\b|"
    r"\bspeaks? against\b|\bcounts? against\b|\bargues? against\b|\bweighs? against\b|\blowers?\b",
    re.I,
)
_SUPPORT = re.compile(
    r"\bsupport|\bfavou?r|\bconsistent with\b|\btypical\b|\bsuggest|\bpoints? (?:to|towards)\b|\bfits?\b|"
    r"\bcharacteristic\b|\bin keeping with\b|\braises?\b|\bstrengthens?\b",
    re.I,
)
_TREAT = re.compile(
    r"\btreat|\btherap|\brecommend|\bprescrib|\bstart(?:ed|ing)?\b|\binitiat|\bmanag|\bfirst[- ]line\b|"
    r"\bgive\b|\bgiven\b|\badminister|\bline of\b|\b(?:antibiotic|drug|medication)s? (?:of choice|such as)\b",
    re.I,
)
_CONTRA = re.compile(r"contraindicat|\bavoid\b|\bshould not be (?:used|given)\b|\bunsafe\b|\bnot safe\b", re.I)
_INTERACT = re.compile(r"\binteract", re.I)
_TAKES = re.compile(r"\btakes\b|\btaking\b|\bcurrent(?:ly)?\b|\bis on\b|\balready on\b|\bhis\b|\bher\b", re.I)
_SAFE = re.compile(
    r"\bsafe\b|\bno (?:known )?(?:contraindications?|interactions?)\b|\bwithout (?:any )?(?:contraindications?|interactions?)",
    re.I,
)
_DIAGNOSIS = re.compile(
    r"\blikely\b|\bconsider|\bdifferential\b|\bdiagnos|\bsuspect|\bpossib|\bprobable\b|\bcause\b|\bexplains?\b", re.I
)
_PROBABILITY = re.compile(r"probab|likelihood|\bp\s*=|\bchance\b|\bposterior\b", re.I)
_PERCENT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%")
_FRACTION = re.compile(r"(?<![\d.\w])(0?\.\d+|1\.0+)(?!\d|\.\d)")
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|µg|g|ml|mL|units?|IU|mmol)\b(?:/\w+)?")
_ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
_RANK = re.compile(
    r"\branks?\s+(?:as\s+|at\s+)?(?:the\s+)?(?:#\s*)?(\d+)(?:st|nd|rd|th)?\b|"
    r"\branks?\s+(?:as\s+|at\s+)?(?:the\s+)?(" + "|".join(_ORDINAL_WORDS) + r")\b|"
    r"\b(?:(" + "|".join(_ORDINAL_WORDS) + r")\s+)?most likely\b|\branked\s+(?:#\s*)?(\d+)(?:st|nd|rd|th)?\b",
    re.I,
)
_LINE = re.compile(r"\bline\s+(\d)\b|\b(first|second|third)[- ]line\b", re.I)
_IGNORED_TYPES = {NodeLabel.ANATOMY, NodeLabel.LAB_TEST, NodeLabel.PATIENT}


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.``, ``!`` or ``?`` (not after "e.g.", "i.e.", "vs.")."""
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


@dataclass(frozen=True)
class Claim:
    """One statement a sentence makes, and whether the diagnosis's verified paths back it.

    Attributes:
        kind: ``finding``, ``absent``, ``not-reported``, ``gene``, ``treats``, ``contraindicated``,
            ``interacts``, ``takes``, ``safe``, ``disease``, ``probability``, ``rank``,
            ``frequency``, ``dose`` or ``unlinked``.
        mention: The words the claim is about, as written.
        entity: The KG id it was linked to, if any.
        supported: Whether a verified path or checked suggestion says it.
        reason: Why it is or is not supported, in one line.
        cypher: The Cypher that returns the backing path, when there is one.
    """

    kind: str
    mention: str
    entity: str | None
    supported: bool
    reason: str
    cypher: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "mention": self.mention,
            "entity": self.entity,
            "supported": self.supported,
            "reason": self.reason,
            "cypher": self.cypher,
        }


@dataclass
class CheckedSentence:
    """A sentence with its claims; it stands only if every claim is supported."""

    text: str
    claims: list[Claim] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return all(c.supported for c in self.claims)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.claims if not c.supported]

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "supported": self.supported, "claims": [c.to_dict() for c in self.claims]}


@dataclass
class CheckedParagraph:
    """A generated paragraph about one ranked disease, checked sentence by sentence.

    Attributes:
        disease: The ranked disease the paragraph explains.
        sentences: Each sentence with its claims.
        author: ``"template"`` or the chat model that wrote it.
    """

    disease: RankedDisease
    sentences: list[CheckedSentence]
    author: str = "template"

    @property
    def unsupported(self) -> list[CheckedSentence]:
        return [s for s in self.sentences if not s.supported]

    @property
    def supported(self) -> bool:
        return not self.unsupported

    def text(self, mode: Mode = "flag") -> str:
        """The paragraph for a reader: unsupported sentences marked (``flag``) or dropped with a
        note (``reject``); never passed on unmarked."""
        if mode not in ("flag", "reject"):
            raise ValueError(f"'mode' must be 'flag' or 'reject' (got {mode!r})")
        out = []
        for s in self.sentences:
            if s.supported:
                out.append(s.text)
            elif mode == "flag":
                out.append(f"[NOT SUPPORTED BY THE KG: {'; '.join(s.reasons)}] {s.text}")
        dropped = len(self.unsupported)
        if mode == "reject" and dropped:
            out.append(f"[{dropped} sentence{'s' if dropped > 1 else ''} removed: not supported by the KG's paths]")
        return " ".join(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "disease": self.disease.id,
            "author": self.author,
            "supported": self.supported,
            "text": self.text("flag"),
            "sentences": [s.to_dict() for s in self.sentences],
        }


@dataclass
class _Mention:
    text: str
    start: int
    end: int
    ids: set[str]
    type: str
    assertion: Assertion = "present"
    patient: bool = False


class ClaimVerifier:
    """Checks generated text about a diagnosis against the diagnosis's verified KG paths.

    Args:
        store: The KG the diagnosis came from; its names and synonyms are the linking vocabulary.

    Example:
        >>> verifier = ClaimVerifier(store)                                    # doctest: +SKIP
        >>> checked = verifier.check_diagnosis(paragraphs, diagnosis)          # doctest: +SKIP
        >>> print(checked[0].text("flag"))                                     # doctest: +SKIP
    """

    def __init__(self, store: KGStore) -> None:
        self.store = store
        self._linker: ConceptLinker | None = None
        self._broader: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"ClaimVerifier({type(self.store).__name__})"

    # -- linking ----------------------------------------------------------------------------------

    @property
    def linker(self) -> ConceptLinker:
        """A dictionary linker over every named node but HPO's non-abnormality branches (built once)."""
        if self._linker is None:
            from kgdx.encoders.linking import ConceptLinker

            keep = self._phenotypic_abnormalities()
            nodes = (
                n
                for n in self.store.iter_nodes()
                if n.type not in _IGNORED_TYPES and (n.type != NodeLabel.PHENOTYPE or keep is None or n.id in keep)
            )
            self._linker = ConceptLinker(nodes, text_encoder=None)
        return self._linker

    def _phenotypic_abnormalities(self) -> set[str] | None:
        if self.store.node(PHENOTYPIC_ABNORMALITY) is None:
            return None
        children: dict[str, list[str]] = {}
        for e in self.store.iter_edges(RelType.IS_A):
            children.setdefault(e.dst, []).append(e.src)
        seen, stack = {PHENOTYPIC_ABNORMALITY}, [PHENOTYPIC_ABNORMALITY]
        while stack:
            for c in children.get(stack.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return seen

    def _mentions(self, sentence: str) -> list[_Mention]:
        out: list[_Mention] = []
        for c in self.linker.link(sentence):
            ids = {c.concept_id} | {n.id for n in self.store.lookup(c.text) if n.type not in _IGNORED_TYPES}
            ids |= {n.id for n in self.store.lookup(c.label) if n.type not in _IGNORED_TYPES}
            out.append(_Mention(c.text, c.span[0], c.span[1], ids, c.node_type))
        for m in _CURIE.finditer(sentence):
            node = self.store.node(m.group())
            if node is not None and node.type in _IGNORED_TYPES:
                continue
            if node is not None and any(node.id in x.ids for x in out):
                continue  # the id written after its name: one mention
            out.append(
                _Mention(m.group(), m.start(), m.end(), {node.id} if node else set(), node.type if node else "?")
            )
        for x in out:
            x.assertion, x.patient = _assertion(sentence, x.start, x.end)
        return sorted(out, key=lambda x: x.start)

    def broader(self, disease_id: str) -> set[str]:
        """Every disease ``disease_id`` is a kind of (``IS_A``, transitively)."""
        if disease_id not in self._broader:
            seen: set[str] = set()
            frontier = [disease_id]
            while frontier:
                nxt = []
                for d in frontier:
                    for nb in self.store.neighbours(d, rel_types=[RelType.IS_A], direction="out"):
                        if nb.node.id not in seen:
                            seen.add(nb.node.id)
                            nxt.append(nb.node.id)
                frontier = nxt[:200]
            self._broader[disease_id] = seen
        return self._broader[disease_id]

    # -- checking -----------------------------------------------------------------------------------

    def check(
        self, text: str, disease: RankedDisease | str, grounding: Grounding, *, author: str = ""
    ) -> CheckedParagraph:
        """Check one paragraph about ``disease`` (a ranked disease or its id) sentence by sentence."""
        did = disease if isinstance(disease, str) else disease.id
        g = grounding.diseases.get(did)
        if g is None:
            raise ValueError(f"'disease' {did!r} is not in the diagnosis's differential")
        return CheckedParagraph(
            g.disease, [self.check_sentence(s, g, grounding) for s in split_sentences(text)], author or "template"
        )

    def check_diagnosis(
        self, paragraphs: Sequence[Paragraph], diagnosis: Diagnosis, *, author: str = ""
    ) -> list[CheckedParagraph]:
        """Check a paragraph per disease (e.g. :func:`~kgdx.app.llm.narrative.template_paragraphs`)."""
        from kgdx.app.llm.grounding import Grounding

        grounding = Grounding.from_diagnosis(diagnosis)
        return [self.check(p.text, p.disease, grounding, author=author) for p in paragraphs]

    def check_sentence(self, sentence: str, own: DiseaseGrounding, grounding: Grounding) -> CheckedSentence:
        """The claims of one sentence in the paragraph about ``own``."""
        plain = _BRACKETS.sub(lambda m: " " * len(m.group()), sentence)
        mentions = self._mentions(plain)
        claims: list[Claim] = []
        # The disease a sentence speaks of: the first ranked one it names, else the paragraph's.
        target = own
        rest: list[_Mention] = []
        for m in mentions:
            g = grounding.disease_of(m.ids)
            # A name both a ranked disease and a finding of this paragraph's disease ("pneumonia")
            # is read as the finding.
            if g is not None and m.type != "?" and not (m.ids & _findings(own)):
                if target is own:
                    target = g
                continue
            rest.append(m)
        cues = _Cues(plain)
        drugs = [m for m in rest if m.type == NodeLabel.DRUG]
        for m in rest:
            if m.type == "?":
                claims.append(Claim("unlinked", m.text, None, False, f"{m.text} is not an id in the KG"))
            elif m.type == NodeLabel.DRUG:
                if m is drugs[0] or not cues.interact:
                    claims.append(self._drug(m, drugs, target, grounding, cues))
            elif m.type == NodeLabel.DRUG_CLASS:
                claims.append(self._drug_class(m, target))
            elif m.type == NodeLabel.GENE:
                gene = next(iter(m.ids & target.genes), None)
                claims.append(
                    Claim(
                        "gene",
                        m.text,
                        gene,
                        gene is not None,
                        _why(
                            gene,
                            f"the patient's gene {m.text} is on a verified path to {target.disease.name}",
                            f"no verified path links the gene {m.text} to {target.disease.name}",
                        ),
                        _cypher(target, gene),
                    )
                )
            elif m.type == NodeLabel.DISEASE and not (m.ids & self._phenotype_ids(m)):
                claims.append(self._other_disease(m, target, grounding, cues, bool(drugs)))
            else:
                claims.append(self._finding(m, target, grounding, cues))
        claims += self._numbers(plain, mentions, target, grounding, cues)
        if not mentions and (
            cues.treat or cues.contra or cues.interact or cues.support or cues.against or cues.diagnosis
        ):
            claims.append(
                Claim("unlinked", sentence, None, False, "it asserts something but names nothing the KG knows")
            )
        elif cues.treat and not drugs and not any(m.type == NodeLabel.DRUG_CLASS for m in mentions) and not rest:
            claims.append(
                Claim("unlinked", sentence, None, False, "it speaks of a treatment but names no drug the KG knows")
            )
        return CheckedSentence(sentence, claims)

    def _phenotype_ids(self, m: _Mention) -> set[str]:
        return {i for i in m.ids if (n := self.store.node(i)) is not None and n.type != NodeLabel.DISEASE}

    # -- claim kinds ----------------------------------------------------------------------------------

    def _finding(self, m: _Mention, g: DiseaseGrounding, grounding: Grounding, cues: _Cues) -> Claim:
        name = g.disease.name
        polarity = cues.polarity()
        if m.assertion == "not-reported":
            hit = next(iter(m.ids & g.not_reported), None)
            return Claim(
                "not-reported",
                m.text,
                hit,
                hit is not None,
                _why(
                    hit,
                    f"{m.text}: a frequent feature of {name} that the patient does not report",
                    f"no verified path says the patient does not report {m.text} against {name}",
                ),
                _cypher(g, hit, "against"),
            )
        if m.assertion == "absent":
            hit = next((i for i in m.ids if g.lacks.get(i) and (polarity is None or polarity in g.lacks[i])), None)
            if hit is None:
                seen = m.ids & grounding.observed
                why = (
                    f"the patient has {m.text}; the text says it is absent"
                    if seen
                    else f"no verified path says the absence of {m.text} argues {_word(polarity)} {name}"
                )
                return Claim("absent", m.text, None, False, why)
            return Claim(
                "absent",
                m.text,
                hit,
                True,
                f"the patient lacks {m.text}, on a verified path of {name}",
                _cypher(g, hit),
            )
        if m.ids & grounding.excluded and m.patient:
            return Claim(
                "finding", m.text, None, False, f"the patient's record says {m.text} is absent; the text says present"
            )
        sides = [g.patient_side] if m.patient else [g.patient_side, g.disease_side]
        pols = [polarity] if polarity else ["supports", "against"]
        hit = next((i for i in sorted(m.ids) for side in sides for p in pols if i in side.get(p, ())), None)
        if hit is None:
            other = next(
                (p for p in ("supports", "against") if any(i in side.get(p, ()) for side in sides for i in m.ids)), None
            )
            why = (
                f"{m.text} argues {_word(other)} {name} on its verified path, not {_word(polarity)}"
                if other
                else f"no verified path of {name} has {m.text}" + (" as the patient's finding" if m.patient else "")
            )
            return Claim("finding", m.text, None, False, why)
        return Claim(
            "finding",
            m.text,
            hit,
            True,
            f"{m.text} is on a verified path {polarity or ''} {name}".replace("  ", " "),
            _cypher(g, hit),
        )

    def _drug(
        self, m: _Mention, drugs: list[_Mention], g: DiseaseGrounding, grounding: Grounding, cues: _Cues
    ) -> Claim:
        name = g.disease.name
        if cues.contra:
            hit = next(((d, c) for (d, c) in grounding.contraindications if d in m.ids), None)
            return Claim(
                "contraindicated",
                m.text,
                hit[0] if hit else None,
                hit is not None,
                _why(
                    hit,
                    f"the KG says {m.text} is contraindicated for this patient",
                    f"the KG has no contraindication of {m.text} for this patient",
                ),
                grounding.contraindications.get(hit) if hit else None,
            )
        if cues.interact:
            partners = [x for x in drugs if x is not m]
            pairs = [
                p
                for p in grounding.interactions
                if p & m.ids and (not partners or any(p & x.ids - m.ids for x in partners))
            ]
            ok = bool(pairs)
            return Claim(
                "interacts",
                m.text,
                next(iter(m.ids)),
                ok,
                _why(
                    ok or None,
                    f"the KG has the interaction of {m.text}",
                    f"the KG has no interaction of {m.text} with "
                    + (", ".join(x.text for x in partners) or "the patient's drugs"),
                ),
                grounding.interactions.get(pairs[0]) if ok else None,
            )
        if m.ids & grounding.current_drugs and (cues.takes or not cues.treat):
            return Claim(
                "takes", m.text, next(iter(m.ids & grounding.current_drugs)), True, f"the patient takes {m.text}"
            )
        if cues.safe:
            hit = next(iter(m.ids & grounding.safe_drugs), None)
            return Claim(
                "safe",
                m.text,
                hit,
                hit is not None,
                _why(
                    hit,
                    f"{m.text} passed the KG's contraindication and interaction checks",
                    f"{m.text} is not a suggestion that passed the KG's safety checks",
                ),
            )
        hit = next(((d, x) for (d, x) in grounding.treats if d in m.ids and x in g.ids), None)
        if hit is None:
            elsewhere = [x for (d, x) in grounding.treats if d in m.ids]
            why = (
                f"the KG's {m.text} treats {elsewhere[0]}, not {name}"
                if elsewhere
                else f"no checked suggestion says {m.text} treats {name}"
            )
            return Claim("treats", m.text, None, False, why)
        cypher, line = grounding.treats[hit]
        said = _line(cues.text)
        if said is not None and said != line:
            return Claim(
                "treats",
                m.text,
                hit[0],
                False,
                f"the KG gives {m.text} as line {line or '?'} for {name}, not line {said}",
                cypher,
            )
        return Claim("treats", m.text, hit[0], True, f"the KG says {m.text} treats {name}", cypher)

    def _drug_class(self, m: _Mention, g: DiseaseGrounding) -> Claim:
        members: set[str] = set()
        classes = set(m.ids)
        for c in list(classes):
            classes |= {nb.node.id for nb in self.store.neighbours(c, rel_types=[RelType.IS_A], direction="in")}
        for c in classes:
            members |= {nb.node.id for nb in self.store.neighbours(c, rel_types=[RelType.IN_CLASS], direction="in")}
        hit = next(iter(members & g.treatments), None)
        return Claim(
            "treats",
            m.text,
            hit,
            hit is not None,
            _why(
                hit,
                f"{hit} is a {m.text} the KG says treats {g.disease.name}",
                f"no checked suggestion for {g.disease.name} is a {m.text}",
            ),
        )

    def _other_disease(
        self, m: _Mention, g: DiseaseGrounding, grounding: Grounding, cues: _Cues, with_drug: bool
    ) -> Claim:
        if with_drug and (cues.contra or cues.interact):
            return Claim(
                "disease",
                m.text,
                next(iter(m.ids)),
                True,
                f"{m.text} is the condition of a safety claim, checked with its drug",
            )
        broader = next((i for i in m.ids if any(i in self.broader(x) for x in g.ids)), None)
        if broader is not None:
            return Claim("disease", m.text, broader, True, f"{g.disease.name} is a kind of {m.text} in the KG")
        return Claim("disease", m.text, next(iter(m.ids)), False, f"{m.text} is not in the differential")

    def _numbers(
        self, text: str, mentions: list[_Mention], g: DiseaseGrounding, grounding: Grounding, cues: _Cues
    ) -> list[Claim]:
        out: list[Claim] = []
        r = g.disease
        for m in _DOSE.finditer(text):
            out.append(Claim("dose", m.group(), None, False, f"doses ({m.group()}) are not in the KG"))
        doses = [m.span() for m in _DOSE.finditer(text)]
        found = [(float(m.group(1)) / 100, m.start(), m.group()) for m in _PERCENT.finditer(text)]
        found += [(float(m.group(1)), m.start(), m.group()) for m in _FRACTION.finditer(text)]
        phenos = {
            i
            for x in mentions
            if x.type not in (NodeLabel.DISEASE, NodeLabel.DRUG, NodeLabel.DRUG_CLASS, NodeLabel.GENE)
            for i in x.ids
        }
        for value, at, raw in found:
            if any(a <= at < b for a, b in doses):
                continue
            if _PROBABILITY.search(text[max(0, at - 40) : at]):
                ok = abs(value - r.probability) <= 0.0051
                out.append(
                    Claim(
                        "probability",
                        raw,
                        r.id,
                        ok,
                        f"the model gives {r.name} probability {r.probability:.2f}" + ("" if ok else f", not {raw}"),
                    )
                )
                continue
            freqs = {f for i in (phenos or g.frequencies.keys()) for f in g.frequencies.get(i, ())}
            ok = any(abs(value - f) <= 0.0051 for f in freqs)
            out.append(
                Claim(
                    "frequency",
                    raw,
                    r.id,
                    ok,
                    f"a frequency of {raw} is " + ("on" if ok else "not on") + f" a verified path of {r.name}",
                )
            )
        for m in _RANK.finditer(text):
            said = _rank_value(m)
            ok = said == r.rank
            out.append(Claim("rank", m.group(), r.id, ok, f"{r.name} ranks {r.rank}" + ("" if ok else f", not {said}")))
        return out


class _Cues:
    def __init__(self, text: str) -> None:
        self.text = text
        self.contra = bool(_CONTRA.search(text))
        self.interact = bool(_INTERACT.search(text))
        self.treat = bool(_TREAT.search(text))
        self.takes = bool(_TAKES.search(text))
        self.safe = bool(_SAFE.search(text)) and not self.contra
        self.against = bool(_AGAINST.search(text))
        self.support = bool(_SUPPORT.search(text))
        self.diagnosis = bool(_DIAGNOSIS.search(text))

    def polarity(self) -> str | None:
        if self.against and not self.support:
            return "against"
        if self.support and not self.against:
            return "supports"
        return None


def _assertion(sentence: str, start: int, end: int) -> tuple[Assertion, bool]:
    """The mention's assertion from its clause, and whether the clause speaks of the patient.

    A relative clause right after the mention counts for "not reported" ("crackles, which were
    not documented"), since that is how a missing feature is usually written.
    """
    breaks = list(_CLAUSE.finditer(sentence))
    lo = max((b.end() for b in breaks if b.end() <= start), default=0)
    after_breaks = [b for b in breaks if b.start() >= end]
    hi = after_breaks[0].start() if after_breaks else len(sentence)
    before, after = sentence[lo:start], sentence[end:hi]
    follow = ""
    run = []
    for b in after_breaks:  # the breaks right after the mention's clause, e.g. ", which"
        if run and sentence[run[-1].end() : b.start()].strip():
            follow = sentence[run[-1].end() : b.start()]
            break
        run.append(b)
    else:
        follow = sentence[run[-1].end() :] if run else ""
    relative = any(b.group().lower() in ("which", "who", "but", "yet", "and") for b in run)
    patient = bool(_PATIENT.search(before))
    if _NOT_REPORTED.search(before) or _NOT_REPORTED.search(after) or (relative and _NOT_REPORTED.search(follow)):
        return "not-reported", patient
    if _NEGATION.search(before) or _NEGATED_AFTER.search(after):
        return "absent", patient
    return "present", patient


def _rank_value(m: re.Match[str]) -> int:
    digits = m.group(1) or m.group(4)
    if digits:
        return int(digits)
    word = (m.group(2) or m.group(3) or "first").lower()
    return _ORDINAL_WORDS[word]


def _line(text: str) -> int | None:
    m = _LINE.search(text)
    if m is None:
        return None
    return int(m.group(1)) if m.group(1) else _ORDINAL_WORDS[m.group(2).lower()]


def _findings(g: DiseaseGrounding) -> set[str]:
    out = set(g.not_reported) | set(g.lacks) | set(g.patient_has)
    for side in (g.patient_side, g.disease_side):
        for ids in side.values():
            out |= ids
    return out


def _word(polarity: str | None) -> str:
    return {"supports": "for", "against": "against"}.get(polarity or "", "for or against")


def _why(hit: object, yes: str, no: str) -> str:
    return yes if hit is not None and hit is not False else no


def _cypher(g: DiseaseGrounding, node_id: str | None, claim: str | None = None) -> str | None:
    if node_id is None:
        return None
    p = g.path_for(node_id, claim)
    return p.cypher if p is not None else None
