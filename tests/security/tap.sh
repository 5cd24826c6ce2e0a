# shellcheck shell=bash
# A few TAP helpers for suites written in bash (run by prove). Each check
# prints "ok N - what" or "not ok N - what" with what was expected and seen.
_tap_n=0
_tap_failed=0

tap_ok() { # CONDITION-EXIT-STATUS DESCRIPTION [DIAGNOSTIC]
  _tap_n=$((_tap_n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $_tap_n - $2"
  else
    echo "not ok $_tap_n - $2"
    [ -n "${3:-}" ] && printf '#   %s\n' "$3"
    _tap_failed=$((_tap_failed + 1))
  fi
}

tap_is() { # GOT EXPECTED DESCRIPTION
  [ "$1" = "$2" ]
  tap_ok $? "$3" "expected '$2', got '$1'"
}

tap_like() { # GOT REGEX DESCRIPTION
  [[ "$1" =~ $2 ]]
  tap_ok $? "$3" "expected a match of /$2/, got '$1'"
}

tap_unlike() { # GOT REGEX DESCRIPTION
  ! [[ "$1" =~ $2 ]]
  tap_ok $? "$3" "expected no match of /$2/, got '$1'"
}

tap_done() {
  echo "1..$_tap_n"
  [ "$_tap_failed" -eq 0 ]
}

# psql as ROLE in DB: one value or the error text (stderr joined), never aborting the test.
sql_as() { # ROLE DB SQL...
  local role="$1" db="$2"
  shift 2
  local args=()
  local s
  for s in "$@"; do args+=(-c "$s"); done
  psql -X -q -At -v ON_ERROR_STOP=1 -U "$role" -d "$db" "${args[@]}" 2>&1
}
