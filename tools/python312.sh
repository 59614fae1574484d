#!/usr/bin/env sh
# Prints the path of a Python 3.12 interpreter: python3.12 on PATH, else one installed by pyenv.
# Lambda runs python3.12, so dev and tests must too.
is312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }
if command -v python3.12 >/dev/null 2>&1 && is312 python3.12; then command -v python3.12; exit 0; fi
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for candidate in "$root"/versions/3.12*/bin/python3.12; do
  if [ -x "$candidate" ] && is312 "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "Python 3.12 not found: install it (e.g. 'pyenv install 3.12') and retry." >&2
exit 1
