"""Run every benchmark in bench/ one after another (each rewrites its own section of RESULTS.md)."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
status = 0
for script in sorted(here.glob("*.py")):
    if script.name in ("common.py", "run_all.py", "__init__.py"):
        continue
    print(f"== {script.name}", flush=True)
    status |= subprocess.call([sys.executable, str(script)], cwd=here.parent)
sys.exit(status)
