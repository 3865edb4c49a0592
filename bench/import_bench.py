"""Cold import time of every function's handler, as a fresh MiniStack (or Lambda) worker pays it.

A worker starts with the function's code and the core layer freshly unzipped (MiniStack unzips them
into a new folder for every worker; Lambda's /opt is read-only) and imports `handler`. Whatever
bytecode the layer does not ship is compiled from source by every worker, and cannot be written back
(PYTHONDONTWRITEBYTECODE here), so each run below is a worker's first import.

Measured for the layer as `sam build` made it (.local/sam-build/CoreLayer, unzipped once into a
temporary folder as MiniStack does, so file times are reset as there) and, for comparison, for the
same layer without its bytecode (what every worker compiled before the layer shipped it). Each
figure is the median wall time of --runs fresh interpreters, beside the baseline measured the same
way in the same run: an interpreter that imports only `json`.

    .venv/bin/python bench/import_bench.py [--runs 5] [--detail 8]

--detail N prints the N packages each handler spends the most time importing (python -X importtime).
Needs `scripts/deploy` (or `sam build`) to have built the layer; Python 3.12 (the Lambda runtime).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILT_LAYER = ROOT / ".local" / "sam-build" / "CoreLayer"
INGEST_LAYER = ROOT / ".local" / "sam-build" / "IngestLayer"  # the ingest function's own, leaner layer
ARCHIVE_LAYER = ROOT / ".local" / "sam-build" / "ArchiveLayer"
WITH_ARCHIVE_LAYER = {"api", "retention"}  # as in infra/template.yaml
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


def unzipped(source: Path, into: Path, with_bytecode: bool) -> Path:
    """`source` zipped and unzipped into `into`, as MiniStack hands a layer to a new worker."""
    archive = into.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in source.rglob("*"):
            if path.is_file() and (with_bytecode or path.suffix != ".pyc"):
                zipped.write(path, path.relative_to(source))
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(into)
    archive.unlink()
    return into


def interpreter_env(layer: Path, function: str = "") -> dict[str, str]:
    """What a worker sees: its layers' packages only (-S: not this venv's), no bytecode written back."""
    paths = [layer / "python"] + ([ARCHIVE_LAYER / "python"] if function in WITH_ARCHIVE_LAYER else [])
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(map(str, paths)),
            "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}


def python() -> str:
    """A Python 3.12 without this venv's site-packages on its path (the layer must hold everything)."""
    base = getattr(sys, "_base_executable", sys.executable)
    return base if Path(base).exists() else sys.executable


def import_seconds(statement: str, cwd: Path, env: dict[str, str], runs: int) -> float:
    """Median wall time of `runs` fresh interpreters that run `statement` (and nothing else)."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([python(), "-S", "-c", statement], cwd=cwd, env=env, capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{statement} in {cwd} failed:\n{done.stderr[-2000:]}")
    return statistics.median(samples)


def heaviest(cwd: Path, env: dict[str, str], count: int) -> list[tuple[float, str]]:
    """The packages `handler` spends the most time importing (their own time, from -X importtime)."""
    done = subprocess.run([python(), "-S", "-X", "importtime", "-c", "import handler"],
                          cwd=cwd, env=env, capture_output=True, text=True, check=True)
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(own) / 1e6
    return sorted(((seconds, package) for package, seconds in by_package.items()), reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--detail", type=int, default=0, help="print each handler's N heaviest imports")
    args = parser.parse_args()
    if not (BUILT_LAYER / "python").is_dir():
        raise SystemExit("no built layer: run scripts/deploy (or sam build) first")
    with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
        layers = {"shipped": unzipped(BUILT_LAYER, Path(scratch) / "shipped", with_bytecode=True),
                  "source only": unzipped(BUILT_LAYER, Path(scratch) / "source", with_bytecode=False)}
        ingest_layers = {"shipped": unzipped(INGEST_LAYER, Path(scratch) / "ingest-shipped", with_bytecode=True),
                         "source only": unzipped(INGEST_LAYER, Path(scratch) / "ingest-source", with_bytecode=False)}
        shipped_pyc = sum(1 for _ in (layers["shipped"] / "python").rglob("*.pyc"))
        print(f"core layer: {shipped_pyc} bytecode files shipped; median of {args.runs} fresh interpreters each")
        baseline = import_seconds("import json", ROOT, interpreter_env(layers["shipped"]), args.runs)
        print(f"{'baseline: import json':<28} {baseline * 1000:8.0f} ms")
        print(f"{'handler':<16} {'layer as built':>16} {'x baseline':>11} {'source only':>13} {'x baseline':>11}")
        for name in FUNCTIONS:
            code = Path(scratch) / f"fn-{name}"
            shutil.copytree(ROOT / "functions" / name, code)
            own = ingest_layers if name == "ingest" else layers
            env = {kind: interpreter_env(layer, name) for kind, layer in own.items()}
            built = import_seconds("import handler", code, env["shipped"], args.runs)
            source = import_seconds("import handler", code, env["source only"], args.runs)
            print(f"{name:<16} {built * 1000:13.0f} ms {built / baseline:10.1f}x {source * 1000:10.0f} ms "
                  f"{source / baseline:10.1f}x")
            for seconds, module in heaviest(code, env["shipped"], args.detail):
                print(f"{'':<18}{seconds * 1000:7.0f} ms  {module}")
            if name == "api":  # the handler defers the API itself to the first API request (not a file)
                first = "import handler; handler._api_handler()"
                built, source = (import_seconds(first, code, env[kind], args.runs) for kind in ("shipped", "source only"))
                print(f"{'api: 1st API call':<16} {built * 1000:13.0f} ms {built / baseline:10.1f}x {source * 1000:10.0f} ms "
                      f"{source / baseline:10.1f}x")
    print(f"machine load after the run: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
