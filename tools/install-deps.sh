#!/usr/bin/env bash
# Installs the Debian 12 packages queuecast needs to build, test and demo.
# As root it runs apt-get itself; otherwise it prints the one command to run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  clang-14 libclang-rt-14-dev clang-tidy-14
  libjwt-dev libssl-dev zlib1g-dev
  postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
  libboost1.81-dev libboost-json1.81-dev
  libgtest-dev
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  python3 curl nodejs npm chromium
  valgrind linux-perf
)

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
# nodejs/npm may come from outside Debian (nvm, NodeSource); accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do
    case "$pkg" in nodejs | npm) ;; *) filtered+=("$pkg") ;; esac
  done
  missing=("${filtered[@]}")
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "queuecast needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
