"""KG-grounded reasoning: the patient joined to the KG, a hetero GNN over it, ranked diagnoses,
safe drug suggestions and explanations as verified KG paths.

Public API::

    from kgdx.reasoning import CaseBuilder, Diagnoser
    dx = Diagnoser.from_pretrained(store=store)
    case = CaseBuilder(dx).build("case.json", note="...")
    diagnosis = dx.diagnose(case, k=10)   # ranking, explanation, drug suggestions
"""

from kgdx.reasoning.case_builder import CaseBuilder
from kgdx.reasoning.diagnoser import Diagnoser
from kgdx.reasoning.results import Diagnosis, RankedDisease, Ranking

__all__ = ["CaseBuilder", "Diagnoser", "Diagnosis", "Ranking", "RankedDisease"]
