#!/usr/bin/env bash
# Roles and databases of the Countersign stack (docker-compose.yml). The postgres image runs this
# from /docker-entrypoint-initdb.d once, when it starts on an empty data directory; on an existing
# volume nothing here runs (docs/PRODUCTION.md says how to apply it by hand).
#
# - countersign owns the database countersign: Countersign's own data, the audit trail included.
# - temporal owns temporal and temporal_visibility (schema by the temporal-schema service). It is
#   neither superuser nor allowed to create databases, so the Temporal server cannot reach the
#   audit trail, and Countersign cannot reach Temporal's persistence.
set -e

: "${COUNTERSIGN_DB_PASSWORD:?COUNTERSIGN_DB_PASSWORD must be set for the postgresql service}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set for the postgresql service}"

# The passwords go in as psql variables (:'name' quotes them), never spliced into the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v countersign_password="$COUNTERSIGN_DB_PASSWORD" \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'EOSQL'
CREATE ROLE countersign LOGIN PASSWORD :'countersign_password';
CREATE DATABASE countersign OWNER countersign;
REVOKE ALL ON DATABASE countersign FROM PUBLIC;

CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;
EOSQL
