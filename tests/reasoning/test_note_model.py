"""The note model (issue 13, item 6): clauses with sections and polarity, keys from the KG,
monotone fusion, simulated notes, training, and the whole read path on the tiny KG."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kgdx.reasoning.note_model import (
    AFFIRMED,
    NEGATED,
    DiseaseKeys,
    NoteExample,
    NoteFusion,
    NoteModelConfig,
    PhenotypeTable,
    fit_note_model,
    fused_scores,
    note_units,
    simulate_notes,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_encode(texts):
    """Deterministic 384-d unit vectors from the words of each text (bag of hashed words)."""
    out = np.zeros((len(texts), 384), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().replace(".", " ").split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 384] += 1.0
        out[i] /= max(np.linalg.norm(out[i]), 1e-6)
    return out


def mention(text: str, phrase: str, status: str, experiencer: str = "patient"):
    start = text.index(phrase)
    return SimpleNamespace(text=phrase, span=(start, start + len(phrase)), status=status, experiencer=experiencer)


def test_note_units_sections_and_polarity():
    text = (
        "NEUROLOGY CLINIC\nHistory: Cough for a month, no haemoptysis. Mother had pleural effusion.\n"
        "Exam: Chest clear; breath sounds normal.\nImpression: likely pneumonia."
    )
    ms = [
        mention(text, "Cough", "present"),
        mention(text, "haemoptysis", "absent"),
        mention(text, "pleural effusion", "present", experiencer="family"),
    ]
    units = note_units(text, ms)
    got = {u.text: (u.section, u.polarity) for u in units}
    assert got["Cough for a month"] == ("history", 1)
    assert got["no haemoptysis"] == ("history", -1)  # from the linker's assertion
    assert got["breath sounds normal"] == ("exam", -1)  # a normal statement, no mention
    assert got["Chest clear"] == ("exam", 1)
    assert got["likely pneumonia"] == ("impression", 1)
    assert not any("effusion" in u.text for u in units)  # family history is not the patient's
    assert "NEUROLOGY CLINIC" not in got


def test_a_clause_with_mixed_assertions_splits_into_its_mentions():
    text = "Exam: no tremor but marked bradykinesia."
    units = note_units(text, [mention(text, "tremor", "absent"), mention(text, "bradykinesia", "present")])
    assert [(u.text, u.polarity, u.section) for u in units] == [("tremor", -1, "exam"), ("bradykinesia", 1, "exam")]


def test_keys_follow_has_phenotype_edges(tiny_index):
    table = PhenotypeTable({}, fake_encode)
    rows = [tiny_index.disease_index["MONDO:0005249"], tiny_index.disease_index["OMIM:219700"]]
    keys = DiseaseKeys.build(tiny_index, rows, table)
    assert keys.mask.sum(1).tolist() == [4, 2]  # pneumonia has 4 annotations, CF 2
    assert table.tensor.shape == (4, 384)  # shared phenotypes are embedded once
    again = DiseaseKeys.build(tiny_index, rows, table)
    assert torch.equal(again.phenotypes, keys.phenotypes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_negated_clause_never_raises_affirmed_never_lowers(tiny_index, seed):
    torch.manual_seed(seed)
    model = NoteFusion(NoteModelConfig(diseases=("MONDO:0005249",), hidden=8))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 2.0)
    table = PhenotypeTable({}, fake_encode)
    keys = DiseaseKeys.build(tiny_index, list(range(tiny_index.num_diseases)), table)
    units = torch.from_numpy(fake_encode(["cough", "fever and cough", "pleural effusion"]))
    sections = torch.tensor([0, 1, 1])

    def term(pol):
        return model(units[: len(pol)], sections[: len(pol)], torch.tensor(pol), keys, table.tensor)

    base = term([1, 1])
    assert (term([1, 1, -1]) <= base + 1e-6).all()
    assert (term([1, 1, 1]) >= base - 1e-6).all()


def test_simulated_notes_are_reproducible_and_hold_out_wording(tiny_index):
    diseases = ["MONDO:0005249", "MONDO:0008903"]
    phrases = {hp: ["word " + hp] for hp in tiny_index.phenotypes}
    a = simulate_notes(tiny_index, diseases, phrases, {}, 20, seed=3)
    assert a == simulate_notes(tiny_index, diseases, phrases, {}, 20, seed=3)
    assert {d for _, d in a} == set(diseases)
    held = simulate_notes(tiny_index, diseases, phrases, {}, 40, seed=3, templates="held_out")
    train_only = [t.split("{")[0] for t in AFFIRMED[: 2 * len(AFFIRMED) // 3] + NEGATED[: 2 * len(NEGATED) // 3]]
    starts = {t for t in train_only if t and t not in {"{X}", ""}}
    assert not any(line.startswith(s) for text, _ in held for line in text.split(". ") for s in starts if len(s) > 4)


def test_fit_learns_to_read_clauses(tiny_index):
    """Notes whose only evidence is the clause text: after fitting, the gold ranks first."""
    table = PhenotypeTable({hp: hp for hp in tiny_index.phenotypes}, fake_encode)
    diseases = ["MONDO:0100096", "MONDO:0008903", "MONDO:0005249"]
    telling = {"MONDO:0100096": "HP:0025179", "MONDO:0008903": "HP:0002105", "MONDO:0005249": "HP:0002090"}
    rows = [tiny_index.disease_index[d] for d in diseases]
    keys = DiseaseKeys.build(tiny_index, rows, table)
    rng = np.random.default_rng(0)
    examples = []
    for i in range(60):
        gold = rows[i % 3]
        shared = tiny_index.phenotypes[rng.choice(tiny_index.annotations.getrow(gold).indices)]
        texts = [telling[diseases[i % 3]], shared]
        examples.append(
            NoteExample(
                np.zeros(tiny_index.num_diseases, np.float32),
                torch.from_numpy(fake_encode(texts)),
                torch.zeros(len(texts), dtype=torch.long),
                torch.ones(len(texts), dtype=torch.long),
                keys,
                gold,
            )
        )
    model = NoteFusion(NoteModelConfig(diseases=tuple(diseases), hidden=16))
    history = fit_note_model(model, table, examples, epochs=40, lr=1e-2)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    hits = [int(np.argmax(fused_scores(model, table, ex)[rows])) == rows.index(ex.gold) for ex in examples]
    assert np.mean(hits) >= 0.8


def test_reader_links_embeds_and_scores(tiny_store, tiny_trained):
    from kgdx.ingest.case import PatientCase
    from kgdx.reasoning.case_builder import CaseBuilder
    from kgdx.reasoning.checkpoint import load_checkpoint
    from kgdx.reasoning.diagnoser import Diagnoser
    from kgdx.reasoning.note_model import NoteReader

    model, _ = load_checkpoint(tiny_trained[0] / "best.pt")
    dx = Diagnoser(tiny_store, model)
    reader = NoteReader(CaseBuilder(dx), ["MONDO:0008903"], candidates=2)
    reader.encode = fake_encode  # the real MiniLM is tested in tests/encoders
    reader.table = PhenotypeTable(reader.names(), fake_encode)
    (ex,) = reader.read(["History: Cough. Fever.\nExam: No pleural effusion."], ["MONDO:0005249"])
    assert ex.polarity.tolist() == [1, 1, -1]
    assert ex.keys.rows[0] == dx.index.disease_index["MONDO:0008903"] and len(ex.keys.rows) == 3
    assert ex.gold == dx.index.disease_index["MONDO:0005249"]
    case = PatientCase("same")
    CaseBuilder(dx).add_text(case, "History: Cough. Fever.\nExam: No pleural effusion.", kind="note")
    np.testing.assert_allclose(ex.scores, dx.scores([case])[0], rtol=1e-5)  # the general model, unchanged
    fusion = NoteFusion(NoteModelConfig(diseases=("MONDO:0008903",), candidates=2))
    out = fused_scores(fusion, reader.table, ex)
    untouched = [i for i in range(dx.index.num_diseases) if i not in ex.keys.rows]
    np.testing.assert_array_equal(out[untouched], ex.scores[untouched])


def test_fit_keeps_the_best_validation_epoch(tiny_index):
    table = PhenotypeTable({hp: hp for hp in tiny_index.phenotypes}, fake_encode)
    rows = [tiny_index.disease_index[d] for d in ("MONDO:0100096", "MONDO:0008903")]
    keys = DiseaseKeys.build(tiny_index, rows, table)

    def note(text, gold):
        u = torch.from_numpy(fake_encode([text]))
        return NoteExample(
            np.zeros(tiny_index.num_diseases, np.float32),
            u,
            torch.zeros(1, dtype=torch.long),
            torch.ones(1, dtype=torch.long),
            keys,
            gold,
        )

    train = [note("HP:0025179", rows[0]), note("HP:0002105", rows[1])] * 10
    val = [note("HP:0025179", rows[0]), note("HP:0002105", rows[1])]
    model = NoteFusion(NoteModelConfig(hidden=8))
    history = fit_note_model(model, table, train, epochs=5, lr=1e-2, validation=val)
    best = max(h["validation_top1"] for h in history)
    got = np.mean([int(np.argmax(fused_scores(model, table, ex))) == ex.gold for ex in val])
    assert got == best
