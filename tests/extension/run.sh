#!/usr/bin/env bash
# Capture tests that need commits and real concurrent connections: the NOTIFY
# doorbell and the ordering invariant. Built here with the sanitizers on.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../../build/tests-extension"
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-omit-frame-pointer
       -I/usr/include/postgresql)
libs=(-lgtest -lgtest_main -lpq -lboost_json -pthread)
for test in notify_test invariant_test; do
  if [ ! -x "$out/$test" ] || [ "$here/$test.cpp" -nt "$out/$test" ] || [ "$here/pg_session.hpp" -nt "$out/$test" ]; then
    g++ "${flags[@]}" "$here/$test.cpp" -o "$out/$test" "${libs[@]}"
  fi
done
"$out/notify_test" --gtest_brief=1
"$out/invariant_test" --gtest_brief=1
