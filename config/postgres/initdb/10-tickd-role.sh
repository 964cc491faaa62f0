#!/bin/sh
# Run once by the postgres image (docker-entrypoint-initdb.d) when it initializes an empty data
# directory: the role tickd runs as, without superuser rights, and its database. The superuser
# ($POSTGRES_USER) only sets up; tickd migrate and tickd run connect as tickd.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v password="$TICKD_DB_PASSWORD" <<'SQL'
CREATE ROLE tickd LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE tickd OWNER tickd;
SQL
