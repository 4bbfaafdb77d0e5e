"""KG-grounded reasoning: the patient joined to the KG, a hetero GNN over it, ranked diagnoses,
safe drug suggestions and explanations as verified KG paths.

Public API::

    from kgdx.reasoning import Diagnoser
    dx = Diagnoser.from_pretrained()
    result = dx.rank("case.json", k=10)
    dx.explain(result)
    dx.suggest_drugs(result)
"""

from kgdx.reasoning.diagnoser import Diagnoser, RankedDisease, Ranking

__all__ = ["Diagnoser", "Ranking", "RankedDisease"]
