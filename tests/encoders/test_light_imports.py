"""`ingest` readers and the torch-free parts of `encoders` import without torch, MONAI or transformers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_light_modules_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import kgdx.ingest.volume, kgdx.ingest.dicom, kgdx.ingest.nifti, kgdx.ingest.deid, kgdx.ingest.labs, kgdx.ingest.reports\n"
        "import kgdx.encoders, kgdx.encoders.ct_findings, kgdx.encoders.config, kgdx.encoders.lab_panel, kgdx.encoders.testing\n"
        "import kgdx.encoders.pretrain, kgdx.encoders.pretrain.config\n"
        "heavy = [m for m in ('torch', 'monai', 'transformers', 'SimpleITK', 'pydicom') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
