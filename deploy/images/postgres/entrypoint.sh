#!/bin/sh
# Initializes the cluster on first start (data in /var/lib/postgresql/data), then runs it.
set -e
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  printf "listen_addresses = '*'\nfsync = off\n" >>"$data/postgresql.conf"
  echo "host all all 0.0.0.0/0 trust" >>"$data/pg_hba.conf"
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start >/dev/null
  "$bin/createdb" -U postgres "${POSTGRES_DB:-drover}"
  "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec "$bin/postgres" -D "$data"
