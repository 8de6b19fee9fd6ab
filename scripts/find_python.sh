#!/usr/bin/env sh
# Print the path of a Python >= 3.12 found on this machine, or explain what to install and fail.
# Looks at $PYTHON, then python3.12 / 3.13 / 3.14 / python3 on PATH, then pyenv's versions (oldest suitable first,
# matching environment.yml's python=3.12).
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for cand in "${PYTHON:-}" python3.12 python3.13 python3.14 python3; do
  [ -n "$cand" ] || continue
  p=$(command -v "$cand" 2>/dev/null) || continue
  if ok "$p"; then echo "$p"; exit 0; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 "$root"/versions/3.[2-9][0-9]*/bin/python3 2>/dev/null | sort -V); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "No Python >= 3.12 was found (PyMC 6 needs it): install Python 3.12 or newer (e.g. 'pyenv install 3.12', your OS package, or python.org) or point the PYTHON variable at one, then rerun." >&2
exit 1
