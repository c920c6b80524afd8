# tests/python-env.sh - sourced, from the repository root, by every script that runs tests/pki/mkcerts.py
# or a test server that needs Python's `cryptography` (tests/requirements.txt). Sets and exports PYTHON:
#   - $PYTHON (default python3) itself when it imports cryptography;
#   - else the virtual environment target/pyenv (SSLSOCK_PYENV), made on first use with
#     `$PYTHON -m venv` and `pip install -r tests/requirements.txt` (from PyPI), and kept for later runs.
# Returns non-zero, the reason on stderr, when neither works (Debian: apt-get install python3-venv, or
# python3-cryptography). Concurrent first uses wait for one another (flock on target/pyenv.lock).

sslsock_python_env() {
    local base=${PYTHON:-python3} venv=${SSLSOCK_PYENV:-$PWD/target/pyenv} log
    if "$base" -c 'import cryptography' 2>/dev/null; then
        PYTHON=$base
        export PYTHON
        return 0
    fi
    mkdir -p "$(dirname "$venv")" || return 1
    (
        if command -v flock >/dev/null 2>&1; then
            exec 9>"$venv.lock" && flock 9
        fi
        "$venv/bin/python" -c 'import cryptography' 2>/dev/null && exit 0
        echo "# $base has no cryptography: making the virtual environment $venv from tests/requirements.txt" >&2
        log=$(mktemp "${TMPDIR:-/tmp}/sslsock-pyenv.XXXXXX") || exit 1
        rm -rf "$venv"
        if ! "$base" -m venv "$venv" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "python-env: '$base -m venv' failed: install Python's venv module (Debian: apt-get install python3-venv)" \
                "or cryptography (python3-cryptography; pip install -r tests/requirements.txt)" >&2
            exit 1
        fi
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            rm -rf "$venv"
            echo "python-env: pip install -r tests/requirements.txt into $venv failed" >&2
            exit 1
        fi
        rm -f "$log"
        "$venv/bin/python" -c 'import cryptography' || exit 1
    ) || return 1
    PYTHON=$venv/bin/python
    export PYTHON
}
sslsock_python_env
