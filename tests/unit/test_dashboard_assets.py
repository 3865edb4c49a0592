"""The dashboard's files: every module the page imports exists, vendored libraries are the pinned
packages' (their licences beside them), and the page carries nothing inline that the CSP would block."""

import json
import re
from pathlib import Path

from hydroponics.api.routes.dashboard import CONTENT_SECURITY_POLICY, STATIC

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
        for target in re.findall(r'^import .* from "(\.[^"]+)";', module.read_text(), flags=re.M):
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
