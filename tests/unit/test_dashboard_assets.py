"""The dashboard's files: every module the page imports exists, vendored libraries are the pinned
packages' (their licences beside them), and the page carries nothing inline that the CSP would block."""

import json
import re
from pathlib import Path

from hydroponics.dashboard.files import CONTENT_SECURITY_POLICY, STATIC

STATIC_DIR = Path(str(STATIC))
MANIFEST = json.loads((STATIC_DIR.parent / "vendor.json").read_text())


def test_every_vendored_package_ships_its_files_and_licence():
    for package in MANIFEST["packages"]:
        folder = STATIC_DIR / "vendor" / f"{package['name']}-{package['version']}"
        names = set(package["files"].values())
        assert {path.name for path in folder.iterdir()} == names
        assert any(name.startswith("LICENSE") for name in names)
        assert package["version"] in (folder / next(n for n in names if n.endswith(".js"))).read_text()


def test_every_relative_import_and_asset_resolves():
    modules = list((STATIC_DIR / "js").glob("*.js"))
    for module in modules:
        text = module.read_text()
        imports = re.findall(r'^import .* from "(\.[^"]+)";', text, flags=re.M) + re.findall(r'import\("(\.[^"]+)"\)', text)
        for target in imports:
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"
    page = (STATIC_DIR / "index.html").read_text()
    targets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert targets and all(t.startswith(("dashboard/static/", "#")) for t in targets), targets  # relative: any prefix
    for target in targets:
        if not target.startswith("#"):
            assert (STATIC_DIR.parent / target.removeprefix("dashboard/")).is_file(), target


def test_the_page_has_no_inline_script_or_style_and_the_policy_allows_only_its_origin():
    page = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    for module in (STATIC_DIR / "js").glob("*.js"):
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML", module.read_text()), module.name
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY  # no other origin


def test_the_api_functions_handler_serves_the_page_files_without_loading_the_api():
    """A cold execution environment fetching a stylesheet must not pay for importing the whole API."""
    import subprocess
    import sys

    probe = """
import json, sys
sys.path.insert(0, "functions/api")
import handler
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/dashboard/static/app.css", "rawQueryString": "",
         "headers": {}, "isBase64Encoded": False, "requestContext": {"http": {"method": "GET",
         "path": "/dashboard/static/app.css", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}}}
reply = handler.handler(event, None)
print(json.dumps({"status": reply["statusCode"], "csp": reply["headers"].get("content-security-policy", ""),
                  "api_loaded": "hydroponics.api.app" in sys.modules, "sqlalchemy": "sqlalchemy" in sys.modules}))
"""
    from tests.conftest import ROOT
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer == {"status": 200, "csp": CONTENT_SECURITY_POLICY, "api_loaded": False, "sqlalchemy": False}
