#!/usr/bin/env bash
# install-deps.sh: make sure this machine can build and test sync_resolver.
# Owns: the Debian packages the build needs (PGXS, json-c and libpq headers)
# for the newest PostgreSQL server installed here, and the test tools
# (valgrind, clang with libFuzzer, PL/Proxy for the sharded tests and
# demo), and for `make bench` (argument "bench") gnuplot, which draws its
# batch-size plot.  Installs them with
# apt-get only when something is missing; otherwise does nothing.
set -euo pipefail

# The newest installed server decides the major version.
major=""
for postgres in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$postgres" ] || continue
    v=$(basename "$(dirname "$(dirname "$postgres")")")
    if [ -z "$major" ] || [ "$v" -gt "$major" ]; then
        major=$v
    fi
done
if [ -z "$major" ]; then
    echo "install-deps: no PostgreSQL server found (/usr/lib/postgresql/*/bin/postgres);" >&2
    echo "install-deps: install one first, e.g. apt-get install postgresql-15" >&2
    exit 1
fi

pg_config=/usr/lib/postgresql/$major/bin/pg_config
missing=()
if [ ! -x "$pg_config" ]; then
    missing+=("pg_config")
else
    [ -f "$("$pg_config" --pgxs)" ] || missing+=("PGXS")
    [ -f "$("$pg_config" --includedir)/libpq-fe.h" ] || missing+=("libpq-fe.h")
fi
[ -f /usr/include/json-c/json.h ] || missing+=("json-c/json.h")
packages=(postgresql-server-dev-"$major" libjson-c-dev libpq-dev)

# The test tools: valgrind (check-valgrind) and clang with libFuzzer (fuzz).
extra=()
command -v valgrind >/dev/null || { missing+=("valgrind"); extra+=(valgrind); }
if ! command -v clang >/dev/null ||
   ! compgen -G "$(clang -print-resource-dir 2>/dev/null)/lib/linux/libclang_rt.fuzzer_no_main-*.a" >/dev/null; then
    missing+=("clang/libFuzzer")
    extra+=(clang libclang-rt-dev)
fi

# PL/Proxy for the server's major (test/scripts/80_sharded.sh, make demo-sharded).
if [ ! -f "/usr/share/postgresql/$major/extension/plproxy.control" ]; then
    missing+=("plproxy")
    extra+=(postgresql-"$major"-plproxy)
fi

# make bench's plot (optional there: without gnuplot it says so and goes on)
if [ "${1:-}" = bench ] && ! command -v gnuplot >/dev/null; then
    missing+=("gnuplot")
    extra+=(gnuplot-nox)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
packages+=(${extra[@]+"${extra[@]}"})
echo "install-deps: missing ${missing[*]}; installing ${packages[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "install-deps: not root and no sudo; install as root: apt-get install ${packages[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
