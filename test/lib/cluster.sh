# shellcheck shell=bash
# cluster.sh: throwaway PostgreSQL clusters for tests and demos (source it).
# Owns: creating, starting, crashing, restarting and removing private clusters
# that listen only on a Unix socket in their own temp dir (no TCP), and making
# sure none survives the script that started it (trap on EXIT INT TERM).
#
#   cluster_start [name=value ...]  initdb + start a new cluster; extra server
#                                   settings go to postgresql.conf after ours,
#                                   so they override (e.g. fsync=on).  Sets
#                                   CLUSTER_DIR (keep it to switch back later)
#                                   and exports PGHOST PGPORT PGUSER PGDATABASE
#                                   PGBIN, and puts PGBIN first in PATH.
#   cluster_stop    [dir]           fast shutdown, then remove the dir
#   cluster_halt    [dir]           fast shutdown; keeps data (cluster_restart
#                                   starts it again)
#   cluster_crash   [dir]           immediate shutdown (no checkpoint); keeps data
#   cluster_restart [dir]           stop if running, start again (recovers after
#                                   a crash)
#   cluster_use     dir             point CLUSTER_DIR and PG* at another cluster
#   as_pg CMD ...                   run CMD as the server's OS user (postgres
#                                   when we are root, else ourselves)
#   cluster_cleanup_all             stop and remove every cluster started here;
#                                   call it from your own EXIT trap if you set one
#
# Files in a cluster's dir: data/ (PGDATA), server.log, initdb.log, and the socket.
# Default dir [dir] is $CLUSTER_DIR.  CLUSTER_PORT (default 55432) is the port
# number in the socket's name; each cluster has its own socket dir, so several
# clusters may share it.

CLUSTER_PORT=${CLUSTER_PORT:-55432}
_cluster_dirs=()

# The same server the Makefile builds for: $PG_CONFIG if set, else the newest.
_cluster_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_cluster_pg_config=${PG_CONFIG:-$("$_cluster_top/scripts/find-pg-config")}
PGBIN=$("$_cluster_pg_config" --bindir)
export PGBIN
case ":$PATH:" in
    *":$PGBIN:"*) ;;
    *) export PATH="$PGBIN:$PATH" ;;
esac

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_ctl for one cluster, run from inside its dir so that the postgres user
# never trips over a current directory it cannot read.
_cluster_pg_ctl() {
    local dir=$1
    shift
    (cd "$dir" && as_pg "$PGBIN/pg_ctl" -D "$dir/data" "$@")
}

_cluster_running() {
    _cluster_pg_ctl "$1" status >/dev/null 2>&1
}

_cluster_start_server() {
    local dir=$1
    if ! _cluster_pg_ctl "$dir" start -w -t 60 -l "$dir/server.log" >/dev/null; then
        echo "cluster: server in $dir failed to start; its log:" >&2
        sed 's/^/  | /' "$dir/server.log" >&2 || true
        return 1
    fi
}

cluster_use() {
    CLUSTER_DIR=$1
    export PGHOST=$1 PGPORT=$CLUSTER_PORT PGUSER=postgres PGDATABASE=postgres
}

cluster_start() {
    local dir setting
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sync_resolver_pg.XXXXXX") || return 1
    _cluster_dirs+=("$dir")
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir" || return 1
    fi

    if ! (cd "$dir" && as_pg "$PGBIN/initdb" -D "$dir/data" --auth=trust -U postgres \
            --no-sync -E UTF8 --locale=C) >"$dir/initdb.log" 2>&1; then
        echo "cluster: initdb failed; its output:" >&2
        sed 's/^/  | /' "$dir/initdb.log" >&2
        return 1
    fi

    {
        echo "# added by test/lib/cluster.sh"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $CLUSTER_PORT"
        echo "fsync = off"
        echo "max_connections = 50"
        echo "max_prepared_transactions = 10"
        echo "shared_preload_libraries = ''"
        echo "log_min_messages = warning"
        for setting in "$@"; do
            [ "$setting" = "-c" ] && continue
            local value=${setting#*=}
            echo "${setting%%=*} = '${value//\'/\'\'}'"
        done
    } >>"$dir/data/postgresql.conf" || return 1

    _cluster_start_server "$dir" || return 1
    cluster_use "$dir"
}

cluster_stop() {
    local dir=${1:-$CLUSTER_DIR}
    if _cluster_running "$dir"; then
        _cluster_pg_ctl "$dir" stop -m fast -w -t 60 >/dev/null ||
            _cluster_pg_ctl "$dir" stop -m immediate -w >/dev/null
    fi
    rm -rf "$dir"
}

cluster_halt() {
    local dir=${1:-$CLUSTER_DIR}
    _cluster_pg_ctl "$dir" stop -m fast -w -t 60 >/dev/null
}

cluster_crash() {
    local dir=${1:-$CLUSTER_DIR}
    _cluster_pg_ctl "$dir" stop -m immediate -w >/dev/null
}

cluster_restart() {
    local dir=${1:-$CLUSTER_DIR}
    if _cluster_running "$dir"; then
        _cluster_pg_ctl "$dir" stop -m fast -w -t 60 >/dev/null
    fi
    _cluster_start_server "$dir"
}

cluster_cleanup_all() {
    local dir
    for dir in ${_cluster_dirs[@]+"${_cluster_dirs[@]}"}; do
        if [ -d "$dir" ]; then
            cluster_stop "$dir" 2>/dev/null || true
        fi
    done
    _cluster_dirs=()
}

trap cluster_cleanup_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
