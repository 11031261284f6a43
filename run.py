#!/usr/bin/env python3
"""ferviz's two entry points, each setting itself up on first use.

    python3 run.py app     # the dashboard (streamlit run app.py)
    python3 run.py test    # the test suite (pytest)

The first run creates .venv/ and installs requirements.txt, requirements-test.txt (test-only
tools) and ferviz into it; later runs reinstall only when one of those files or pyproject.toml
changed. Extra arguments are passed on (e.g. `python3 run.py test tests/unit -k data`).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _stamp() -> str:
    h = hashlib.sha256()
    for f in ("requirements.txt", "requirements-test.txt", "pyproject.toml"):
        h.update((ROOT / f).read_bytes())
    return h.hexdigest()


def ensure_env() -> None:
    """Create the virtual environment and install ferviz into it when needed."""
    if sys.version_info < (3, 11):
        sys.exit(f"ferviz needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    marker = VENV / ".ferviz-installed"
    if marker.exists() and marker.read_text() == _stamp() and PY.exists():
        return
    if not PY.exists():
        print("ferviz: creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("ferviz: installing requirements (first run takes a few minutes) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-r", str(ROOT / "requirements.txt"), "-r", str(ROOT / "requirements-test.txt")],
                   check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(ROOT)], check=True)
    marker.write_text(_stamp())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__)
        return 2
    ensure_env()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if argv[0] == "app":
        cmd = [str(PY), "-m", "streamlit", "run", str(ROOT / "app.py"), *argv[1:]]
    else:
        cmd = [str(PY), "-m", "pytest", *argv[1:]]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
