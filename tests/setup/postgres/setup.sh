#!/bin/sh
# Image build: the cluster Debian made at install listens on every address of the container's
# namespace (the lab gives it one ULA address), accepts password logins from ULA fd00::/8 only,
# and holds the role "kea" (password "kea-lab") owning the empty database "kea".
set -eu
version=$(ls /usr/lib/postgresql)
conf=/etc/postgresql/$version/main
[ -d "$conf" ] || pg_createcluster "$version" main
cat >> "$conf/postgresql.conf" <<CONF
listen_addresses = '*'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
echo "host all all fd00::/8 scram-sha-256" >> "$conf/pg_hba.conf"
ln -s "/usr/lib/postgresql/$version/bin" /usr/local/lib/kc-postgres/bin
ln -s "$conf" /usr/local/lib/kc-postgres/conf
pg_ctlcluster "$version" main start
runuser -u postgres -- psql -q -c "CREATE ROLE kea LOGIN PASSWORD 'kea-lab'"
runuser -u postgres -- createdb -O kea kea
pg_ctlcluster "$version" main stop
