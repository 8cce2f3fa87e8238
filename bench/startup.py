"""Start-up (issue 24): `python -m core --help`, `python -m core despeckle --help` and the first render of each
page (streamlit AppTest, in a fresh process per page: imports included), for two checkouts side by side in the same
run (a baseline, e.g. main, and this one), interleaved: wall time, CPU time (user + sys) and peak RSS of each child.

    .venv/bin/python bench/startup.py --baseline /work/main [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure_child  # noqa: E402

PAGE = """
import sys, time
t = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300).run()
heavy = [m for m in ("torch", "onnxruntime", "peft") if m in sys.modules]
print(f"{time.perf_counter() - t:.2f} {len(at.exception)} {','.join(heavy) or '-'}")
"""


def child(root: Path, argv: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout last line) of `python argv` run in `root`."""
    c = measure_child(argv, cwd=root, stdout=True)
    out = c.out.strip().splitlines()
    return c.wall, c.cpu, c.peak, (out[-1] if out else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pages", default="home,speckle,translate,superres,crossband,train")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    cases = [
        ("`python -m core --help`", ["-m", "core", "--help"]),
        ("`despeckle --help`", ["-m", "core", "despeckle", "--help"]),
    ]
    cases += [(f"page {p} (AppTest first run)", ["-c", PAGE, f"pages/{p}.py"]) for p in a.pages.split(",")]
    load = os.getloadavg()
    rows = []
    for name, argv in cases:
        best: dict[str, tuple] = {}
        for _ in range(a.repeat):
            for tag, root in (("base", a.baseline), ("new", ROOT)):  # interleaved
                r = child(root, argv)
                if tag not in best or r[0] < best[tag][0]:
                    best[tag] = r
        b, n = best["base"], best["new"]
        extra = f" | {b[3].split()[-1]} / {n[3].split()[-1]}" if name.startswith("page") else " | "
        rows.append(
            f"| {name} | {b[0]:.2f} / {b[1]:.2f} / {b[2]:.0f} | {n[0]:.2f} / {n[1]:.2f} / {n[2]:.0f} | "
            f"{n[0] / b[0]:.2f}x{extra} |"
        )
        print(rows[-1], flush=True)
    text = (
        f"Load average (1 / 5 / 15 min) at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, at end "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}, on {os.cpu_count()} CPUs; best wall of {a.repeat} "
        "interleaved runs per side; each row a fresh child process (wall, its CPU, its own peak RSS).\n\n"
        "| what | baseline wall s / CPU s / peak MiB | this branch wall s / CPU s / peak MiB | wall ratio | heavy "
        "modules loaded (base / new) |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Command: `.venv/bin/python bench/startup.py --baseline {a.baseline} --repeat {a.repeat}`\n"
    )
    print(text)
    if a.write:
        from bench.common import write_section

        write_section("startup", text)


if __name__ == "__main__":
    main()
