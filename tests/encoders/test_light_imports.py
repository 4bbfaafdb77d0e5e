"""`ingest` readers and the torch-free parts of `encoders` import without torch, MONAI or transformers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_light_modules_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import ingest.volume, ingest.dicom, ingest.nifti, ingest.deid, ingest.labs, ingest.reports\n"
        "import encoders, encoders.ct_findings, encoders.config, encoders.lab_panel, encoders.testing\n"
        "import encoders.pretrain, encoders.pretrain.config\n"
        "heavy = [m for m in ('torch', 'monai', 'transformers', 'SimpleITK', 'pydicom') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
