"""The layers (shared/Makefile) hold what the functions import and call, and the handlers are cheap to import.

A cold start pays for every module a handler imports and for every file of its layers (MiniStack
unzips them for each worker it starts): the ingest function gets a lean layer, botocore keeps the
data of the services the platform calls only, and no handler connects anywhere while it is imported.
"""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.conftest import TEMPLATE

ROOT = TEMPLATE.parents[1]
MAKEFILE = ROOT / "shared" / "Makefile"
HANDLERS = sorted((ROOT / "functions").glob("*/handler.py"))
# imported when installed, not needed: botocore falls back to its own CA bundle without certifi
OPTIONAL_ON_THE_INGEST_PATH = {"certifi"}


def _make_list(name: str) -> set[str]:
    text = MAKEFILE.read_text().replace("\\\n", " ")
    found = re.search(rf"^{name} := (.*)$", text, re.MULTILINE)
    assert found, f"{name} is not set in shared/Makefile"
    return set(found.group(1).split())


def _services_called(files) -> set[str]:
    """AWS services named in `client("...")` calls (hydroponics.aws.client, the one client factory)."""
    return {m for path in files for m in re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", Path(path).read_text())}


def _in_subprocess(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "shared"),
                               "AWS_DEFAULT_REGION": "us-east-1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_every_function_has_its_layers_and_only_ingest_the_lean_one(resources):
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for name, properties in functions.items():
        layers = [layer["Ref"] for layer in properties["Layers"]]
        assert layers[0] == ("IngestLayer" if name == "IngestFunction" else "CoreLayer"), name
    for layer in ("CoreLayer", "IngestLayer"):
        assert resources[layer]["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{layer}:" in MAKEFILE.read_text()


def test_botocore_keeps_the_data_of_every_service_the_code_calls():
    kept = _make_list("AWS_SERVICES")
    called = _services_called((ROOT / "shared" / "hydroponics").rglob("*.py"))
    assert called and called <= kept, f"add {sorted(called - kept)} to AWS_SERVICES in shared/Makefile"
    assert _make_list("INGEST_AWS_SERVICES") <= kept


def test_handlers_import_without_connecting_anywhere():
    """No I/O at import: a connection attempt while any handler is imported fails this test."""
    found = _in_subprocess(f"""
import importlib.util, json, socket, sys
attempts = []
def refuse(self, address, *args):
    attempts.append(repr(address))
    raise OSError("no connections at import")
socket.socket.connect = socket.socket.connect_ex = refuse
for path in {[str(p) for p in HANDLERS]!r}:
    sys.path.insert(0, path.rsplit("/", 1)[0])
    spec = importlib.util.spec_from_file_location("handler_" + path.split("/")[-2], path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    sys.path.pop(0)
print(json.dumps({{"attempts": attempts}}))
""")
    assert found["attempts"] == []


def _closure(requirements: set[str]) -> set[str]:
    """The distributions `requirements` install, with their dependencies (as pip resolves them here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(name) or [])
    return seen


def test_the_ingest_handler_imports_only_what_the_ingest_layer_holds():
    """What the ingest layer leaves out (SQLAlchemy, Apprise, ...) must never be imported on the ingest path."""
    found = _in_subprocess("""
import json, sys
sys.path.insert(0, "functions/ingest")
import handler
print(json.dumps({"modules": sorted({name.split(".")[0] for name in sys.modules}),
                  "core": [m.__file__ for name, m in sys.modules.items() if name.startswith("hydroponics.")]}))
""")
    holds = _closure(_make_list("INGEST_PACKAGES")) | {"hydroponics"}  # the package itself is copied in
    owners = metadata.packages_distributions()
    outside = {module: owners[module] for module in found["modules"] if module in owners
               and module not in OPTIONAL_ON_THE_INGEST_PATH and not {canonicalize_name(d) for d in owners[module]} & holds}
    assert outside == {}, "the ingest path imports packages its layer does not hold (INGEST_PACKAGES in shared/Makefile)"
    assert _services_called(found["core"]) <= _make_list("INGEST_AWS_SERVICES")
