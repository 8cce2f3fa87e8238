"""`prepare` on synthetic dual-pol IW GRD products (issue 19): wall time, CPU time and the child's own peak RSS,
against a baseline run in the same session: streaming the same measurement TIFFs (DN -> float32, no tables) with
`core.io.stream_filter`, each in its own process.

    .venv/bin/python bench/prepare.py [--sizes 2048,4096,8192] [--filter-sizes 2048,4096] [--full [--chain]]

--full adds a full-size single-polarisation IW GRD (25,000 x 16,700, VV) without the filtered run; --chain adds,
on it, the analysis-ready chain as the command runs it (noise, sigma0, Lee 7x7, geocoding, dB).

Products come from tests/support/s1_product.py (uint16 DN, 2.90 noise layout) in a temporary folder deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import write_section  # noqa: E402

BASELINE = """
import sys
import rasterio
from core import io as sio
with rasterio.Env(GDAL_CACHEMAX=64 * 1024 * 1024):
    for k, tif in enumerate(sys.argv[1:-1]):
        with sio.open_source(tif) as src:
            sio.stream_filter(src, f"{sys.argv[-1]}_{k}.tif", lambda x: x.astype("float32"), halo=0, block=512)
"""

PREPARE = """
import sys
from core.products.chain import PrepareOptions, prepare_product
prepare_product(sys.argv[1], sys.argv[2], PrepareOptions(**eval(sys.argv[3])))
"""

CLI = """
import runpy, sys
sys.argv = ["core", *sys.argv[1:]]
try:
    runpy.run_module("core", run_name="__main__")
except SystemExit as exc:
    if exc.code:
        raise
"""

HWM = "\nprint(next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')))\n"


def run_child(code: str, args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, own peak RSS MiB) of `python -c code args`."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code + HWM, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(err.decode()[-500:])
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: the caller takes differences
    return wall, ru.ru_utime + ru.ru_stime, int(out.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2048,4096,8192")
    ap.add_argument("--filter-sizes", default="2048,4096", help="sizes that also run the filtered chain")
    ap.add_argument("--full", action="store_true", help="also a 25,000 x 16,700 single-pol product")
    ap.add_argument(
        "--chain", action="store_true",
        help="with --full: also the analysis-ready chain as the command runs it (prepare --filter lee --window 7 "
        "--geocode --db)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    from tests.support.s1_product import write_s1_product

    rows, notes = [], []
    cpu_before = 0.0
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        sizes: list = [int(v) for v in args.sizes.split(",") if v]
        for s in sizes + (["full"] if args.full else []):
            t = time.perf_counter()
            shape, pols = ((16_700, 25_000), ("VV",)) if s == "full" else ((s, s), ("VV", "VH"))
            # GCPs about 10 m a line apart, as on a real IW GRD (the sample's default 0.001 degree would make a
            # continent-sized footprint, which --geocode refuses)
            p = write_s1_product(Path(tmp) / str(s), "GRD", shape=shape, pols=pols, gcp_step=0.00009)
            tifs = [str(p.files[("IW", pol, "measurement")]) for pol in pols]
            del p
            label = f"{shape[1]}x{shape[0]}x{len(pols)}"
            notes.append(f"wrote {label} product in {time.perf_counter() - t:.0f} s")
            runs = [
                ("baseline: stream DN to float32 (no tables)", BASELINE, [*tifs, f"{tmp}/base{s}"]),
                ("prepare (noise + sigma0)", PREPARE, [str(Path(tifs[0]).parents[1]), f"{tmp}/p{s}.tif", "{}"]),
                (
                    "prepare + refined Lee 7x7 + dB",
                    PREPARE,
                    [str(Path(tifs[0]).parents[1]), f"{tmp}/f{s}.tif", "{'filter': 'refined_lee', 'db': True}"],
                ),
            ]
            if str(s) not in args.filter_sizes.split(",") or s == "full":
                runs = runs[:2]
            if s == "full" and args.chain:
                chain = ["prepare", str(Path(tifs[0]).parents[1]), f"{tmp}/chain.tif", "--filter", "lee", "--window",
                         "7", "--geocode", "--db", "--no-progress"]  # fmt: skip
                runs.append(("`python -m core " + " ".join(chain[:1] + ["PRODUCT", "OUT.tif"] + chain[3:]) + "`",
                             CLI, chain))  # fmt: skip
            base = None
            for run, code, a in runs:
                wall, cpu_total, rss = run_child(code, a)
                cpu, cpu_before = cpu_total - cpu_before, cpu_total
                base = base or wall
                rows.append(f"| {run} | {label} | {wall:.1f} | {wall / base:.2f} | {cpu:.1f} | {rss:.0f} |")
    load = os.getloadavg()
    body = (
        "Each row is one child process on a synthetic IW GRD (uint16 DN, IPF 2.90 noise tables; product = "
        "width x height x polarisations); "
        "peak RSS is that child's own VmHWM. × baseline: wall time against streaming the same measurement "
        "TIFFs to float32 with no tables, in the same session. GDAL's block cache is capped at 64 MB in both, so "
        "peak RSS rises until that cache is full (small products do not fill it) and then stays flat; "
        "tests/products/test_products.py checks with a 4 MB cap that it does not grow from 1024² to 2048².\n\n"
        "| run | product | wall s | × baseline | CPU s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\n{'; '.join(notes)}; load average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on "
        f"{os.cpu_count()} cores."
    )
    write_section("prepare" if sizes else "prepare: full scene", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
