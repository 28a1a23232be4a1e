#!/usr/bin/env bash
# Create the virtual environment if it is missing or broken. Debian's python3 needs python3-venv for
# that; it is installed when we run as root.
set -euo pipefail
python=$1 venv=$2
[ -x "$venv/bin/pip" ] && exit 0
rm -rf "$venv"
if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-venv" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2; }
    "$python" -m venv "$venv"
  else
    echo "cannot create $venv: install python3-venv (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi
