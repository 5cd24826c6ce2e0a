#!/usr/bin/env bash
# The chaos test: two real daemons, writers, faults; see chaos_test.cpp.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
out="$root/build/tests-chaos"
mkdir -p "$out"
export QUEUECASTD="${QUEUECASTD:-$root/build/queuecastd}"
export QUEUECAST_TEST_LOGS="$out"
if [ ! -x "$QUEUECASTD" ]; then
  echo "chaos: $QUEUECASTD is missing; build it with make" >&2
  exit 1
fi
sources=("$here"/chaos_test.cpp "$here"/subscriber.cpp)
if [ ! -x "$out/chaos_test" ] || [ -n "$(find "$here" "$here/../common" -newer "$out/chaos_test" -type f)" ]; then
  g++ -std=c++20 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I/usr/include/postgresql "${sources[@]}" -o "$out/chaos_test" \
    -lgtest -lgtest_main -lpq -lboost_json -pthread
fi
"$out/chaos_test" --gtest_brief=1
