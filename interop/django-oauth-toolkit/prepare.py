#!/usr/bin/env python3
"""Creates (or reuses) the virtualenv of the Python interop servers: django-oauth-toolkit
(tests/interop.rs) and Authlib's JWT-bearer grant (interop/authlib, tests/interop_jwt_bearer.rs).

    python3 interop/django-oauth-toolkit/prepare.py [--venv DIR]

The default DIR is <workspace>/target/interop/venv. The venv is reused while its stamp
(a hash of both servers' requirements.txt and of the Python that built it) matches;
otherwise it is rebuilt from scratch with `python3 -m venv` and one `pip install` of both
requirement files (they pin their shared packages to the same versions).
Concurrent callers (parallel test binaries, CI) serialise on DIR.lock.

On success, prints the venv's python interpreter as the last line of stdout. On failure,
exits non-zero with the reason and what to install: it never pretends to have succeeded.
Run with the system python3 (Debian: apt-get install python3 python3-venv).
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKSPACE = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = [
    os.path.join(HERE, "requirements.txt"),
    os.path.join(WORKSPACE, "interop", "authlib", "requirements.txt"),
]
STAMP = ".grantkit-interop-stamp"
MIN_PYTHON = (3, 10)  # Django 5.2


def fail(message):
    print(f"prepare.py: FATAL: {message}", file=sys.stderr)
    sys.exit(1)


def venv_python(venv):
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def stamp_of():
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(sys.version.encode())
    digest.update(os.path.realpath(sys.executable).encode())
    return digest.hexdigest()


def up_to_date(venv, stamp):
    try:
        with open(os.path.join(venv, STAMP), encoding="utf-8") as f:
            return f.read().strip() == stamp and os.path.exists(venv_python(venv))
    except OSError:
        return False


def run(cmd, what, hint):
    print(f"prepare.py: {what}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        fail(f"{what} failed (exit {result.returncode}). {hint}")


def build(venv, stamp):
    if os.path.exists(venv):
        shutil.rmtree(venv)
    run(
        [sys.executable, "-m", "venv", venv],
        "creating the virtualenv",
        "Python's venv module (with ensurepip) is needed: on Debian/Ubuntu "
        "`apt-get install python3-venv`.",
    )
    python = venv_python(venv)
    run(
        [
            python, "-m", "pip", "install",
            "--disable-pip-version-check", "--no-input", "--quiet",
            *(arg for path in REQUIREMENTS for arg in ("-r", path)),
        ],
        "installing django-oauth-toolkit and Authlib from PyPI",
        "The interop tests need network access to PyPI (or a configured pip index/mirror).",
    )
    run(
        [
            python, "-c",
            "import django, oauth2_provider, authlib.oauth2.rfc7523, flask, joserfc; "
            "print(django.get_version())",
        ],
        "checking the installation",
        "The virtualenv is broken; delete it and run again.",
    )
    with open(os.path.join(venv, STAMP), "w", encoding="utf-8") as f:
        f.write(stamp + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv",
        default=os.path.join(WORKSPACE, "target", "interop", "venv"),
        help="where the virtualenv lives (default: %(default)s)",
    )
    args = parser.parse_args()
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, this is {sys.version.split()[0]} "
            f"({sys.executable}); set GRANTKIT_INTEROP_PYTHON to a newer python3."
        )
    venv = os.path.abspath(args.venv)
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    stamp = stamp_of()
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if up_to_date(venv, stamp):
            print("prepare.py: the virtualenv is up to date", file=sys.stderr)
        else:
            build(venv, stamp)
            print(f"prepare.py: installed into {venv}", file=sys.stderr)
    print(venv_python(venv))


if __name__ == "__main__":
    main()
