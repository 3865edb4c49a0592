"""Fetches the dashboard's browser libraries named in shared/hydroponics/dashboard/vendor.json from
the npm registry (`npm pack`, the tarball checked against its pinned integrity) and copies the listed
files into static/vendor/<name>-<version>/. With --check, only verifies that the vendored files are
byte for byte those of the pinned tarballs. Node is needed only here, never at build or deploy time.
Usage: .venv/bin/python scripts/vendor_assets.py [--check]
"""

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "shared" / "hydroponics" / "dashboard"
VENDOR = DASHBOARD / "static" / "vendor"


def fetch(package: dict, into: Path) -> tarfile.TarFile:
    spec = f"{package['name']}@{package['version']}"
    reply = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(into)], check=True,
                           capture_output=True, text=True)
    tarball = into / json.loads(reply.stdout)[0]["filename"]
    algorithm, expected = package["integrity"].split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        sys.exit(f"{spec}: the tarball's {algorithm} is {digest}, not the pinned {expected}")
    return tarfile.open(tarball)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the vendored files; change nothing")
    args = parser.parse_args()
    manifest = json.loads((DASHBOARD / "vendor.json").read_text())
    wrong = []
    with tempfile.TemporaryDirectory() as scratch:
        for package in manifest["packages"]:
            target = VENDOR / f"{package['name']}-{package['version']}"
            with fetch(package, Path(scratch)) as tar:
                for source, name in package["files"].items():
                    content = tar.extractfile(f"package/{source}").read()
                    if args.check:
                        if not (target / name).is_file() or (target / name).read_bytes() != content:
                            wrong.append(str(target / name))
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        (target / name).write_bytes(content)
                        print(f"  {package['name']} {package['version']}: {source} -> {target / name}")
    if wrong:
        print("not the pinned packages' files:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    print("vendored files match the pinned packages" if args.check else "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
