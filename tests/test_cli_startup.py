"""The CLI starts without the heavy stages: `import fasrobust.cli`, `fasrobust --help` and every
command's --help leave torch, TensorFlow, matplotlib, Ray (and the stages built on them) unimported. The
registries' packages (attacks, defences, target adapters, readers, detectors) are imported, light: help
texts list what they register.
Each `prepare --workers` process re-imports the CLI, so this is also what a worker pays before it
crops a face. Checked in a fresh interpreter: this test process has imported torch long ago."""

from __future__ import annotations

import json
import subprocess
import sys

# fasrobust.attacks and fasrobust.targets are not heavy: importing them declares the attacks and the target
# adapters (the attack command's options and help are generated from them) and leaves torch, the engines and
# every runtime unimported.
HEAVY = ("torch", "tensorflow", "matplotlib", "ray", "onnx", "onnxruntime", "pandas", "cv2", "httpx",
         "fasrobust.models.fasnet", "fasrobust.models.vgg", "fasrobust.models.checkpoint", "fasrobust.training",
         "fasrobust.attacks.engines.de", "fasrobust.attacks.engines.canvas", "fasrobust.attacks.engines.rng",
         "fasrobust.experiments", "fasrobust.report")

# Prints one JSON line: {step: [heavy modules loaded after it]} for the import, then each --help in turn.
_PROBE = """
import json, sys

heavy = json.loads(sys.argv[1])
loaded = lambda: sorted(m for m in heavy if m in sys.modules)

import fasrobust.cli
from typer.main import get_command

steps = {"import fasrobust.cli": loaded()}
for args in [[], *([name] for name in sorted(get_command(fasrobust.cli.app).commands))]:
    try:
        fasrobust.cli.main([*args, "--help"])
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
    steps[" ".join(["fasrobust", *args, "--help"])] = loaded()
print(json.dumps(steps))
"""


def test_cli_and_every_help_import_no_heavy_module():
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(steps) >= 12, steps  # the import, the root help and each command's (train, attack, run ...)
    offenders = {step: heavy for step, heavy in steps.items() if heavy}
    assert not offenders, f"import these inside the command that needs them: {offenders}"
