# shellcheck shell=bash
# sharded.sh: a throwaway sharded deployment (source it after cluster.sh).
# Owns: starting N partition clusters and a proxy cluster (Unix sockets,
# test/lib/cluster.sh), installing sync_resolver + sync_resolver_shard in
# each partition (set_partition k of N) and plproxy + sync_resolver_proxy in
# the proxy, writing the cluster (configure_partitions) and checking it.
# cluster.sh's EXIT trap stops them all.
#
#   sharded_start N [SQL-FILE]   N partitions (a power of two) and a proxy;
#                                SQL-FILE (the synced tables and their
#                                policies) runs in every partition.  Sets
#                                SHARD_DIRS (partition k's cluster dir is
#                                SHARD_DIRS[k]), SHARD_PROXY_DIR, and
#                                points PG* at the proxy.
#   shard_psql K ARGS...         psql -X on partition K (database partK)
#   proxy_psql ARGS...           psql -X on the proxy
#   shard_connstr K              partition K's libpq connection string

SHARD_DIRS=()
SHARD_PROXY_DIR=

shard_connstr() {
    echo "host=${SHARD_DIRS[$1]} port=$CLUSTER_PORT dbname=part$1"
}

shard_psql() {
    local k=$1
    shift
    psql -X -h "${SHARD_DIRS[$k]}" -p "$CLUSTER_PORT" -U postgres -d "part$k" "$@"
}

proxy_psql() {
    psql -X -h "$SHARD_PROXY_DIR" -p "$CLUSTER_PORT" -U postgres -d postgres "$@"
}

sharded_start() {
    local n=$1 sql=${2:-} k connstrs=()
    SHARD_DIRS=()
    for ((k = 0; k < n; k++)); do
        cluster_start >/dev/null || return 1
        SHARD_DIRS+=("$CLUSTER_DIR")
        createdb "part$k" || return 1
        psql -X -q -v ON_ERROR_STOP=1 -d "part$k" -c "SET client_min_messages = warning" \
            -c "CREATE EXTENSION sync_resolver" -c "CREATE EXTENSION sync_resolver_shard" \
            -c "SELECT sync_resolver_shard.set_partition($k, $n)" >/dev/null || return 1
        if [ -n "$sql" ]; then
            psql -X -q -v ON_ERROR_STOP=1 -d "part$k" -f "$sql" >/dev/null || return 1
        fi
        connstrs+=("'$(shard_connstr "$k")'")
    done
    cluster_start >/dev/null || return 1
    SHARD_PROXY_DIR=$CLUSTER_DIR
    local list
    list=$(IFS=,; echo "${connstrs[*]}")
    psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "CREATE EXTENSION plproxy" -c "CREATE EXTENSION sync_resolver_proxy" \
        -c "SELECT sync_resolver.configure_partitions(ARRAY[$list])" >/dev/null || return 1
    if [ "$(psql -X -At -c "SELECT count(*) FILTER (WHERE ok) = $n FROM sync_resolver.check_partitions()")" != t ]; then
        echo "sharded: the proxy's partitions do not answer as configured:" >&2
        psql -X -c "SELECT * FROM sync_resolver.check_partitions()" >&2
        return 1
    fi
}
