#!/bin/sh
# The server in the foreground (PID 1 of the container), as the postgres user.
set -eu
version=$(ls /usr/lib/postgresql)
mkdir -p /run/postgresql
chown postgres:postgres /run/postgresql
exec runuser -u postgres -- /usr/local/lib/kc-postgres/bin/postgres \
    -D "/var/lib/postgresql/$version/main" -c "config_file=/etc/postgresql/$version/main/postgresql.conf"
