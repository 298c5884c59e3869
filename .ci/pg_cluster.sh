#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite (never a mock).
#
#   eval "$(.ci/pg_cluster.sh start)"   # installs Debian's postgresql if missing, prints
#                                       # export LOGCONSOLE_TEST_PG=postgresql+psycopg://...
#   .ci/pg_cluster.sh stop DIR          # stops it and removes its directory
#
# The cluster runs as an unprivileged system user, listens on 127.0.0.1 only, on a free port,
# in a temporary directory; locale C.UTF-8 (code-point order, as SQLite compares text).
set -euo pipefail
PG_USER=logconsole-pg

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

case "${1:-}" in
start)
    if [ -z "$(bindir)" ]; then
        if [ "$(id -u)" -ne 0 ]; then echo "postgresql is not installed (run as root to install it)" >&2; exit 1; fi
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
    fi
    BIN=$(bindir)
    # Debian's package starts a system cluster on 5432; the tests do not use it
    if [ "$(id -u)" -eq 0 ]; then
        id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
        RUN=(runuser -u "$PG_USER" --)
    else
        RUN=()
    fi
    DIR=$(mktemp -d /tmp/logconsole-pg.XXXXXX)
    chmod 755 "$DIR"
    [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$DIR"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1
    "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2
    echo "export LOGCONSOLE_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    echo "export LOGCONSOLE_TEST_PG_DIR=$DIR"
    ;;
stop)
    DIR=${2:-${LOGCONSOLE_TEST_PG_DIR:-}}
    [ -n "$DIR" ] && [ -d "$DIR/data" ] || exit 0
    BIN=$(bindir)
    if [ "$(id -u)" -eq 0 ]; then RUN=(runuser -u "$PG_USER" --); else RUN=(); fi
    "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start | stop [DIR]" >&2
    exit 2
    ;;
esac
