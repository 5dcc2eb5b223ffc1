#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests, from Debian's packages:
#   scripts/pg-throwaway.sh start DIR [PORT]   initdb + pg_ctl in DIR; prints the URL
#   scripts/pg-throwaway.sh stop DIR           stops it and removes DIR
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  start)
    port=${3:-55432}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_pg "$bin/initdb" -D "$dir/data" -U ferry --auth=trust >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U ferry ferry_test
    echo "postgres://ferry@127.0.0.1:$port/ferry_test"
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  *) echo "start or stop, not $cmd" >&2; exit 2 ;;
esac
