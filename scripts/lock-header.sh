#!/usr/bin/env bash
# make lock's helper: runs a `uv pip compile ... -o FILE` command (given after FILE and a
# description) and puts a header on FILE saying what it pins and how to regenerate it.
# Usage: scripts/lock-header.sh FILE DESCRIPTION UV pip compile ARGS...
set -euo pipefail
file=$1 what=$2
shift 2
"$@" --no-header --quiet
shown="uv ${*:2}"  # the command as a reader would type it (uv from PATH)
body=$(cat "$file")
{
  echo "# $file: every dependency of intel_assets, pinned: $what."
  echo "# For CPython 3.11 on Linux x86_64. Generated from pyproject.toml; never edit by hand."
  echo "# Regenerate after changing pyproject.toml's dependencies: make lock, which runs"
  echo "#   $shown"
  echo "# (pins that still fit are kept; make lock UPGRADE=1 re-resolves everything to the newest)."
  echo "$body"
} > "$file"
