#!/usr/bin/env bash
# Builds the extension library of an earlier release from git history, for
# the upgrade test and for same-run comparisons in benchmarks.
# Usage: tools/build-release-library.sh VERSION OUTDIR
#   prints the path of the built queuecast.so; exits 1 with what to do when
#   the release's commit is not in this clone (a shallow clone).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$1"
out="$2"
# The last commit of each release (its queuecast.control has that default_version).
case "$version" in
  0.1.0) commit=da0a9f4cf72c3c85bfd9e854a8f879f692c9d6ae ;;
  *)
    echo "build-release-library: no commit known for release $version" >&2
    exit 2
    ;;
esac
if ! git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "build-release-library: commit $commit of $version is not in $repo;" \
    "run git fetch --unshallow" >&2
  exit 1
fi
mkdir -p "$out"
git -C "$repo" archive "$commit" Makefile queuecast.control extension | tar -x -C "$out"
if ! make -C "$out" -j2 queuecast.so >"$out/build.log" 2>&1; then
  echo "build-release-library: building $version failed, see $out/build.log" >&2
  exit 1
fi
echo "$out/queuecast.so"
