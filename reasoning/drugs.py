"""Drug suggestions that respect the KG's contraindications and interactions.

Candidates are the KG's ``TREATS`` edges into the likely diseases, scored by the disease's
probability and the line of therapy. Each candidate is then checked against the patient:

* ``CONTRAINDICATED_IN`` a condition the patient has: a known condition, a likely diagnosis, or
  an observed phenotype (or its ancestor: a drug contraindicated in *Hemoptysis* is so in
  *Massive hemoptysis* too);
* ``INTERACTS_WITH`` one of the patient's current drugs, or a better-ranked suggestion.

With ``safety="remove"`` such a suggestion is dropped; with ``"flag"`` it stays, marked. Either
way the KG path that is the reason comes with it, as text and as Cypher.

The patient's own drugs come first: a current drug that ``CAN_INDUCE`` a likely diagnosis, or a
disease whose core findings the patient shows, or that is ``CONTRAINDICATED_IN`` one of the
patient's conditions, gets a **withdraw** entry (stopping the offending drug is the first test
and the first treatment of a drug-induced disease). Two current drugs that interact get a
**review** entry with the interaction's path, unless the pair is contraindicated and only one of
them ``TREATS`` a likely diagnosis or a known condition: then the other gets a **withdraw** entry
(tramadol started for back pain in a patient on rasagiline for Parkinson's), with both edges. A
drug that a module says ``RELIEVES`` particular symptoms (midodrine: orthostatic hypotension) is suggested only to a patient who has one of them,
and one a module says to ``AVOID_IN`` an age group is not suggested to a patient of that age (a
current one gets a **review** entry).
These relationship types are read when the KG has them. A drug the patient already takes is never
suggested to start.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kgdx.kg.queries import path_match
from kgdx.kg.records import Edge
from kgdx.kg.vocab import NodeLabel, RelType

if TYPE_CHECKING:
    from kgdx.kg.store import KGStore
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.reasoning.results import Ranking

__all__ = ["DrugSuggestion", "SafetyIssue", "suggest_drugs"]

LINE_WEIGHT = {1: 1.0, 2: 0.6, 3: 0.4}
#: Drug → disease: the drug can cause the disease (a module's adverse-effect knowledge).
CAN_INDUCE = "CAN_INDUCE"
#: Drug → phenotype: the drug is given for that symptom only.
RELIEVES = "RELIEVES"
#: Drug → patient group (an age range, ``min_age``/``max_age`` in years): not to be started in
#: a patient of that age (the AGS Beers Criteria's "avoid" in older adults).
AVOID_IN = "AVOID_IN"
#: A disease's core findings: its phenotypes annotated at least this often. A current drug that
#: can induce the disease is withdrawn when the patient shows one of them, even while the disease
#: ranks low (valproate in a patient with new rigidity and bradykinesia).
CORE_FREQUENCY = 0.8


@dataclass
class SafetyIssue:
    """Why a suggestion is unsafe for this patient: the KG edges that say so."""

    kind: str  # "contraindication" | "interaction" | "can-induce" | "age"
    severity: str
    edges: list[Edge]
    text: str
    cypher: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "text": self.text,
            "cypher": self.cypher,
            "edges": [{"type": e.type, "src": e.src, "dst": e.dst, **e.props} for e in self.edges],
        }


@dataclass
class DrugSuggestion:
    drug: str
    name: str
    score: float
    treats: list[dict[str, Any]] = field(default_factory=list)
    issues: list[SafetyIssue] = field(default_factory=list)
    #: ``start`` a new drug, ``withdraw`` a current one, or ``review`` a current one that interacts
    #: with another current drug or is to be avoided at the patient's age (``issues`` then say why).
    action: str = "start"

    @property
    def safe(self) -> bool:
        return not self.issues if self.action == "start" else False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "drug": self.drug,
            "name": self.name,
            "score": round(self.score, 4),
            "safe": self.safe,
            "treats": self.treats,
            "issues": [i.to_dict() for i in self.issues],
        }


def _conditions(dx: Diagnoser, result: Ranking, min_probability: float) -> dict[str, str]:
    """Condition id → why the patient has it (for the safety issue's text)."""
    out: dict[str, str] = {}
    for c in result.case.conditions:
        out[c] = "known condition"
    for r in result.top:
        if r.probability >= min_probability:
            for m in r.members or (r.id,):  # a contraindication may name any id of the disease
                out.setdefault(m, f"likely diagnosis (p={r.probability:.2f})")
    ix = dx.index
    for t in result.observed:
        out.setdefault(ix.phenotypes[t], "observed finding")
        for a in ix.ancestors_of(t):
            out.setdefault(ix.phenotypes[int(a)], f"observed finding {ix.phenotypes[t]} is a kind of it")
    return out


def suggest_drugs(
    dx: Diagnoser,
    result: Ranking,
    k: int = 10,
    *,
    top_diseases: int = 5,
    safety: Literal["remove", "flag"] = "remove",
    condition_probability: float = 0.25,
) -> list[DrugSuggestion]:
    """Rank the KG's treatments for the likely diseases and check them against the patient.

    Args:
        dx: The diagnoser.
        result: The patient's ranking.
        k: How many suggestions to return.
        top_diseases: How many of the best diseases to treat.
        safety: ``"remove"`` drops unsafe suggestions; ``"flag"`` keeps them with their issues.
        condition_probability: Diagnoses at least this likely count as the patient's conditions
            for contraindications.
    """
    if safety not in ("remove", "flag"):
        raise ValueError(f"'safety' must be 'remove' or 'flag' (got {safety!r})")
    store = dx.store
    diseases = result.top[:top_diseases]
    total = sum(r.probability for r in diseases) or 1.0
    scores: dict[str, float] = defaultdict(float)
    treats: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in diseases:
        # The disease's treatments, whichever of its ids (OMIM, ORPHA, MONDO) the edge names; a
        # drug named for two of them counts once.
        seen: set[str] = set()
        for m in r.members or (r.id,):
            for nb in store.neighbours(m, rel_types=[RelType.TREATS], direction="in", node_types=[NodeLabel.DRUG]):
                if nb.node.id in seen:
                    continue
                seen.add(nb.node.id)
                line = nb.edge.props.get("line")
                scores[nb.node.id] += (r.probability / total) * LINE_WEIGHT.get(line, 0.3)
                names[nb.node.id] = nb.node.name
                treats[nb.node.id].append(
                    {
                        "disease": m,
                        "name": r.name,
                        "line": line,
                        "source": nb.edge.props["source"],
                        "cypher": path_match(
                            [(NodeLabel.DRUG, nb.node.id), (NodeLabel.DISEASE, m)], [(RelType.TREATS, True)]
                        ),
                    }
                )
    conditions = _conditions(dx, result, condition_probability)
    current = list(dict.fromkeys(result.case.drugs))
    withdraw = _withdrawals(dx, result, current, conditions, condition_probability)
    has_relieves = RELIEVES in store.schema.relationship_types
    has_avoid_in = AVOID_IN in store.schema.relationship_types
    age = result.case.age_years
    symptoms = {c for c, why in conditions.items() if why.startswith("observed finding")}
    ranked = sorted(scores, key=lambda d: (-scores[d], d))
    out: list[DrugSuggestion] = []
    kept: list[str] = []
    stopping = {w.drug for w in withdraw}
    for drug in ranked:
        if drug in stopping or drug in current:
            continue  # withdrawn, or already taken: not a drug to start
        if has_relieves:
            relieves = store.neighbours(drug, rel_types=[RELIEVES], direction="out")
            if relieves and not any(nb.node.id in symptoms for nb in relieves):
                continue  # a symptomatic drug for a symptom the patient does not have
        s = DrugSuggestion(drug, names[drug], scores[drug], treats[drug])
        if has_avoid_in and age is not None:
            s.issues += _age_issues(store, drug, names[drug], age)
        for nb in store.neighbours(drug, rel_types=[RelType.CONTRAINDICATED_IN], direction="out"):
            why = conditions.get(nb.node.id)
            if why is not None:
                sev = nb.edge.props.get("severity", "unknown")
                s.issues.append(
                    SafetyIssue(
                        "contraindication",
                        sev,
                        [nb.edge],
                        f"{names[drug]} is contraindicated ({sev}) in {nb.node.name} ({nb.node.id}), the patient's {why}"
                        f" [{nb.edge.props.get('reason', '')}; {nb.edge.props['source']}]",
                        path_match(
                            [(NodeLabel.DRUG, drug), (nb.node.type, nb.node.id)], [(RelType.CONTRAINDICATED_IN, True)]
                        ),
                    )
                )
        others = current + kept
        for e in store.interactions([drug, *others]):
            other = e.dst if e.src == drug else e.src
            if drug not in (e.src, e.dst) or other not in others:
                continue
            whose = "current drug" if other in current else "better-ranked suggestion"
            node = store.node(other)
            other_name = node.name if node else other
            s.issues.append(
                SafetyIssue(
                    "interaction",
                    e.props["severity"],
                    [e],
                    f"{names[drug]} interacts ({e.props['severity']}) with {other_name} ({other}), a {whose}: "
                    f"{e.props['mechanism']} [{e.props['source']}]",
                    path_match([(NodeLabel.DRUG, e.src), (NodeLabel.DRUG, e.dst)], [(RelType.INTERACTS_WITH, True)]),
                )
            )
        if s.issues and safety == "remove":
            continue
        out.append(s)
        kept.append(drug)
        if len(out) == k:
            break
    return withdraw + out


def _age_issues(store: KGStore, drug: str, name: str, age: float) -> list[SafetyIssue]:
    """The ``AVOID_IN`` rules whose age group holds a patient of ``age`` years."""
    out = []
    for nb in store.neighbours(drug, rel_types=[AVOID_IN], direction="out"):
        lo, hi = nb.node.props.get("min_age"), nb.node.props.get("max_age")
        if (lo is not None and age < lo) or (hi is not None and age >= hi):
            continue
        sev = nb.edge.props.get("severity", "unknown")
        out.append(
            SafetyIssue(
                "age",
                sev,
                [nb.edge],
                f"{name} is to be avoided ({sev}) in {nb.node.name} ({nb.node.id}); the patient is {age:g} "
                f"[{nb.edge.props.get('reason', '')}; {nb.edge.props['source']}]",
                path_match([(NodeLabel.DRUG, drug), (nb.node.type, nb.node.id)], [(AVOID_IN, True)]),
            )
        )
    return out


def _shown(dx: Diagnoser, result: Ranking) -> dict[str, str]:
    """Phenotype id → the patient's finding that is it or a kind of it. Exposures that a current
    drug put on the case (``origin="drug"``) are left out: they say the drug is taken, not that it
    did harm."""
    ix = dx.index
    out: dict[str, str] = {}
    for f in result.case.observed:
        t = ix.phenotype_index.get(dx.resolve(f.id) or "") if f.origin != "drug" else None
        if t is None:
            continue
        for a in ix.ancestors_of(t):
            out.setdefault(ix.phenotypes[int(a)], f.id)
    return out


def _withdrawals(
    dx: Diagnoser, result: Ranking, current: list[str], conditions: dict[str, str], min_probability: float
) -> list[DrugSuggestion]:
    """The patient's current drugs to stop: those that can induce a likely diagnosis (the top one,
    or any at least ``min_probability`` likely), then those contraindicated in a condition."""
    store = dx.store
    likely = {m: r for r in result.top if r.rank == 1 or r.probability >= min_probability for m in r.members or (r.id,)}
    shown = _shown(dx, result)
    out: list[DrugSuggestion] = []
    for drug in current:
        node = store.node(drug)
        if node is None:
            continue
        issues: list[SafetyIssue] = []
        if CAN_INDUCE in store.schema.relationship_types:
            for nb in store.neighbours(drug, rel_types=[CAN_INDUCE], direction="out"):
                why = f"[{nb.edge.props.get('note', '')}; {nb.edge.props['source']}]"
                r = likely.get(nb.node.id)
                if r is not None:
                    issues.append(
                        SafetyIssue(
                            "can-induce",
                            "withdraw first",
                            [nb.edge],
                            f"{node.name} can induce {nb.node.name} ({nb.node.id}), diagnosis #{r.rank} "
                            f"(p={r.probability:.2f}): stop or replace it before treating {why}",
                            path_match([(NodeLabel.DRUG, drug), (NodeLabel.DISEASE, nb.node.id)], [(CAN_INDUCE, True)]),
                        )
                    )
                    continue
                core = [
                    p
                    for p in store.neighbours(nb.node.id, rel_types=[RelType.HAS_PHENOTYPE], direction="out")
                    if p.node.id in shown and float(p.edge.props.get("frequency") or 0.0) >= CORE_FREQUENCY
                ]
                if core:
                    p = max(core, key=lambda p: float(p.edge.props["frequency"]))
                    issues.append(
                        SafetyIssue(
                            "can-induce",
                            "withdraw first",
                            [nb.edge, p.edge],
                            f"{node.name} can induce {nb.node.name} ({nb.node.id}), whose core finding "
                            f"{p.node.name} ({p.node.id}, frequency {float(p.edge.props['frequency']):.2f}) the patient "
                            f"shows{'' if shown[p.node.id] == p.node.id else f' as {shown[p.node.id]}'}: stop or replace "
                            f"it and reassess before treating {why}",
                            path_match(
                                [
                                    (NodeLabel.DRUG, drug),
                                    (NodeLabel.DISEASE, nb.node.id),
                                    (NodeLabel.PHENOTYPE, p.node.id),
                                ],
                                [(CAN_INDUCE, True), (RelType.HAS_PHENOTYPE, True)],
                            ),
                        )
                    )
        for nb in store.neighbours(drug, rel_types=[RelType.CONTRAINDICATED_IN], direction="out"):
            why = conditions.get(nb.node.id)
            if why is not None:
                sev = nb.edge.props.get("severity", "unknown")
                issues.append(
                    SafetyIssue(
                        "contraindication",
                        sev,
                        [nb.edge],
                        f"{node.name}, a current drug, is contraindicated ({sev}) in {nb.node.name} ({nb.node.id}), "
                        f"the patient's {why} [{nb.edge.props.get('reason', '')}; {nb.edge.props['source']}]",
                        path_match(
                            [(NodeLabel.DRUG, drug), (nb.node.type, nb.node.id)], [(RelType.CONTRAINDICATED_IN, True)]
                        ),
                    )
                )
        if issues:
            issues.sort(key=lambda i: i.kind != "can-induce")
            out.append(DrugSuggestion(drug, node.name, 0.0, [], issues, action="withdraw"))
    out.sort(key=lambda s: s.issues[0].kind != "can-induce")

    # Two current drugs that interact. A contraindicated pair where one drug treats a likely
    # diagnosis or a known condition and the other treats none: keep the treatment, stop the other
    # ("withdraw", with both edges as the path). Otherwise which one to stop is the prescriber's
    # call: "review".
    ix = dx.index
    treated = {m: (r.name, "a likely diagnosis") for m, r in likely.items()}
    for c in result.case.conditions:
        row = ix.disease_index.get(c)
        for m in ix.members[row] if row is not None else (c,):
            treated.setdefault(m, (ix.disease_names[row] if row is not None else c, "a known condition"))

    def treating(drug: str) -> Edge | None:
        return next(
            (
                nb.edge
                for nb in store.neighbours(drug, rel_types=[RelType.TREATS], direction="out")
                if nb.node.id in treated
            ),
            None,
        )

    stopping = {s.drug for s in out}
    for e in store.interactions(current):
        if e.src in current and e.dst in current and e.src != e.dst:
            a, b = store.node(e.src), store.node(e.dst)
            na, nb_ = a.name if a else e.src, b.name if b else e.dst
            issue = SafetyIssue(
                "interaction",
                e.props["severity"],
                [e],
                f"{na} and {nb_}, both current drugs, interact ({e.props['severity']}): {e.props['mechanism']} "
                f"[{e.props['source']}]",
                path_match([(NodeLabel.DRUG, e.src), (NodeLabel.DRUG, e.dst)], [(RelType.INTERACTS_WITH, True)]),
            )
            keep = {d: treating(d) for d in (e.src, e.dst)} if e.props["severity"] == "contraindicated" else {}
            kept = [d for d, t in keep.items() if t is not None]
            if len(kept) == 1:
                stop = e.dst if kept[0] == e.src else e.src
                if stop in stopping:
                    continue
                t = keep[kept[0]]
                kept_name, stop_name = (na, nb_) if kept[0] == e.src else (nb_, na)
                issue.edges = [e, t]
                disease, why = treated[t.dst]
                issue.text += f"; {kept_name} treats {disease} ({t.dst}), {why}, so stop {stop_name}"
                issue.cypher = path_match(
                    [(NodeLabel.DRUG, stop), (NodeLabel.DRUG, kept[0]), (NodeLabel.DISEASE, t.dst)],
                    [(RelType.INTERACTS_WITH, stop == e.src), (RelType.TREATS, True)],
                )
                stopping.add(stop)
                out.append(DrugSuggestion(stop, stop_name, 0.0, [], [issue], action="withdraw"))
                continue
            out.append(DrugSuggestion(e.dst, nb_, 0.0, [], [issue], action="review"))
    # A current drug to avoid at the patient's age: Beers' "avoid" is a reason to review it, not
    # to stop it unasked (it may have been chosen knowingly).
    age = result.case.age_years
    if age is not None and AVOID_IN in store.schema.relationship_types:
        stopping = {s.drug for s in out if s.action == "withdraw"}
        for drug in current:
            node = store.node(drug)
            if node is not None and drug not in stopping and (issues := _age_issues(store, drug, node.name, age)):
                out.append(DrugSuggestion(drug, node.name, 0.0, [], issues, action="review"))
    return out
