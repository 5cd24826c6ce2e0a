#!/usr/bin/env bash
# Privileges and attacks, as real login roles (never SET ROLE from a
# superuser): each role's pgTAP file runs over its own connection as that
# role; attacks.t runs the escalation, search_path, NOTIFY and forgery
# attacks with committed transactions.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
db=queuecast_security
export QUEUECAST_SECURITY_DB=$db
export PGOPTIONS="-c client_min_messages=warning"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION queuecast" \
  -f "$here/setup.sql" >/dev/null
status=0
for role in worker operator reader writer nobody; do
  pg_prove --failures -U "qc_$role" -d "$db" "$here/$role.pg" || status=1
done
prove ${QUEUECAST_PROVE_FLAGS:-} "$here"/*.t || status=1
exit $status
