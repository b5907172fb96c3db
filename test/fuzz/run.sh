#!/usr/bin/env bash
# run.sh: build and run the libFuzzer harness test/fuzz/fuzz_merge.c (see the
# comment at its top for why and how it runs inside a backend).
#
#   test/fuzz/run.sh [SECONDS] [libFuzzer option ...]   fuzz for SECONDS (default 60)
#   test/fuzz/run.sh --repro FILE ...                   run these inputs once each
#
# Environment: FUZZ_RUNS (stop after this many inputs as well), FUZZ_SEED
# (libFuzzer -seed, default 1), FUZZ_JOBS is not supported (one backend).
# FUZZ_COVERAGE=1 also builds with source-based coverage and prints a line
# coverage summary of src/merge.c, src/convert.c and src/textforms.c
# (llvm-profdata/llvm-cov).
# FUZZ_CORPUS_OUT=DIR keeps the inputs libFuzzer found interesting.
# FUZZ_KEEP_GOING=1 reports failures (the first 3 of each kind) and goes on,
# to see every kind of failure in one run; the run still fails.
#
# Steps: compile fuzz_merge.c + src/merge.c + src/convert.c + src/textforms.c
# with clang
# -fsanitize=fuzzer-no-link (plus UBSan in trap mode) into a module linked with
# libFuzzer's no-main runtime; initdb a throwaway data directory; run a
# single-user backend (postgres --single) that creates the test domains and
# calls fuzz_merge_run(ARRAY[libFuzzer args]) on the seed corpus
# test/fuzz/corpus/ with the dictionary test/fuzz/fuzz_merge.dict.  A failure
# leaves its input in test/fuzz/artifacts/ and prints how to replay it.
#
# Exit status: 0 no failure found, 1 failure (or build/setup error), 77 clang
# or libFuzzer not installed (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)

repro=()
seconds=60
if [ "${1:-}" = "--repro" ]; then
    shift
    [ $# -gt 0 ] || { echo "usage: $0 --repro FILE ..." >&2; exit 2; }
    for f in "$@"; do repro+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
    set --
elif [ $# -gt 0 ]; then
    seconds=$1
    shift
fi

CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: $CLANG not found (apt-get install clang; scripts/install-deps.sh does it)"
    exit 77
fi
# The runtime's place: lib/linux/...-<arch>.a under the resource dir (the
# Debian layout, also with clang 19 and 21, whose --print-runtime-dir names
# the per-target dir even so), or the per-target dir's unsuffixed name.
rtdir=$("$CLANG" --print-runtime-dir 2>/dev/null || true)
resdir=$("$CLANG" -print-resource-dir 2>/dev/null || true)
for libfuzzer in "$rtdir/libclang_rt.fuzzer_no_main-$(uname -m).a" \
    "$resdir/lib/linux/libclang_rt.fuzzer_no_main-$(uname -m).a" \
    "$rtdir/libclang_rt.fuzzer_no_main.a"; do
    [ -f "$libfuzzer" ] && break
done
if [ ! -f "$libfuzzer" ]; then
    echo "fuzz: libFuzzer runtime $libfuzzer not found (apt-get install libclang-rt-dev)"
    exit 77
fi

source test/lib/cluster.sh     # PGBIN, as_pg, and the cleanup trap
work=$(mktemp -d "${TMPDIR:-/tmp}/sync_resolver_fuzz.XXXXXX")
cleanup() {
    cluster_cleanup_all
    rm -rf "$work"
}
trap cleanup EXIT

# 1. Build.
incdir=$("$_cluster_pg_config" --includedir-server)
cflags=(-shared -fPIC -O1 -g -fno-omit-frame-pointer -Wall -Wno-unused-command-line-argument -Wno-ignored-attributes
        -fsanitize=fuzzer-no-link
        -fsanitize=undefined -fno-sanitize=alignment,function,vptr -fsanitize-trap=undefined
        -I "$top/src" -I "$incdir")
if [ "${FUZZ_COVERAGE:-0}" = 1 ]; then
    cflags+=(-fprofile-instr-generate -fcoverage-mapping)
fi
if ! "$CLANG" "${cflags[@]}" -o "$work/fuzz_merge.so" \
        test/fuzz/fuzz_merge.c src/merge.c src/convert.c src/textforms.c \
        -Wl,--whole-archive "$libfuzzer" -Wl,--no-whole-archive -lstdc++ -lm -lpthread \
        >"$work/build.log" 2>&1; then
    echo "fuzz: building the harness failed:"
    cat "$work/build.log"
    exit 1
fi
grep -q . "$work/build.log" && cat "$work/build.log"

# 2. A throwaway data directory, and the corpus where the server can write.
mkdir -p "$work/corpus" "$work/seed" "$work/artifacts"
cp test/fuzz/corpus/* "$work/seed/" 2>/dev/null || true
cp test/fuzz/fuzz_merge.dict "$work/"
for f in ${repro[@]+"${repro[@]}"}; do cp "$f" "$work/artifacts/"; done
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$work"
fi
if ! (cd "$work" && as_pg "$PGBIN/initdb" -D "$work/data" --auth=trust -U postgres \
        --no-sync -E UTF8 --locale=C) >"$work/initdb.log" 2>&1; then
    echo "fuzz: initdb failed:"
    cat "$work/initdb.log"
    exit 1
fi

# 3. Run libFuzzer inside a single-user backend.
args=()
if [ ${#repro[@]} -gt 0 ]; then
    for f in "${repro[@]}"; do args+=("$work/artifacts/$(basename "$f")"); done
    args+=(-error_exitcode=1)
else
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=512
          -seed="${FUZZ_SEED:-1}" -error_exitcode=1 -print_final_stats=1
          -dict="$work/fuzz_merge.dict" -artifact_prefix="$work/artifacts/")
    [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
    args+=("$@" "$work/corpus" "$work/seed")
fi
array=""
for a in "${args[@]}"; do
    array+="${array:+, }'${a//\'/\'\'}'"
done

echo "fuzz: libFuzzer ${args[*]}"
rc=0
(cd "$work" && as_pg env LLVM_PROFILE_FILE="$work/fuzz.profraw" \
    FUZZ_KEEP_GOING="${FUZZ_KEEP_GOING:-0}" "$PGBIN/postgres" --single -D "$work/data" -F -c log_min_messages=warning \
        -c TimeZone=UTC -c max_stack_depth=2MB postgres) >"$work/fuzz.out" 2>&1 <<SQL || rc=$?
CREATE DOMAIN fuzz_posint AS integer CHECK (VALUE >= 0);
CREATE DOMAIN fuzz_amount AS numeric(8,2) CHECK (VALUE > -1000);
CREATE DOMAIN fuzz_code AS varchar(10) CHECK (VALUE ~ '^[a-z_ ]*\$');
CREATE DOMAIN fuzz_tags AS text[] CHECK (cardinality(VALUE) <= 5);
CREATE DOMAIN fuzz_doc AS jsonb CHECK (jsonb_typeof(VALUE) <> 'number');
CREATE FUNCTION fuzz_merge_run(text[]) RETURNS integer LANGUAGE C AS '$work/fuzz_merge.so', 'fuzz_merge_run';
SELECT fuzz_merge_run(ARRAY[$array]::text[]);
SQL

# libFuzzer's own lines (the backend's query output is noise here)
grep -v '^[[:space:]]*$' "$work/fuzz.out" | grep -Ev '^(backend>|PostgreSQL stand-alone)' || true

if [ "${FUZZ_COVERAGE:-0}" = 1 ] && [ -f "$work/fuzz.profraw" ]; then
    llvm_bin=$(dirname "$(readlink -f "$(command -v "$CLANG")")")
    "$llvm_bin/llvm-profdata" merge -o "$work/fuzz.profdata" "$work/fuzz.profraw" &&
        "$llvm_bin/llvm-cov" report "$work/fuzz_merge.so" -instr-profile="$work/fuzz.profdata" \
            "$top/src/merge.c" "$top/src/convert.c" "$top/src/textforms.c" || true
fi

if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then
    mkdir -p "$FUZZ_CORPUS_OUT"
    cp "$work"/corpus/* "$FUZZ_CORPUS_OUT"/ 2>/dev/null || true
    echo "fuzz: corpus kept in $FUZZ_CORPUS_OUT"
fi

crashes=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) 2>/dev/null || true)
if [ ${#repro[@]} -eq 0 ] && [ -n "$crashes" ]; then
    mkdir -p test/fuzz/artifacts
    for f in $crashes; do
        cp "$f" test/fuzz/artifacts/
        echo "fuzz: failing input kept: test/fuzz/artifacts/$(basename "$f") ($(od -An -c "$f" | head -c 300 | tr -s ' '))"
    done
    echo "fuzz: replay with: test/fuzz/run.sh --repro test/fuzz/artifacts/<file>"
fi
if grep -q '^==== fuzz_merge: invariant violated' "$work/fuzz.out"; then
    [ "$rc" -ne 0 ] || rc=1
fi
if [ "$rc" -ne 0 ] || [ -n "$crashes" ] && [ ${#repro[@]} -eq 0 ]; then
    echo "fuzz: FAILED (exit status $rc)"
    exit 1
fi
if [ ${#repro[@]} -gt 0 ]; then
    [ "$rc" -eq 0 ] && echo "fuzz: the inputs pass" && exit 0
    echo "fuzz: FAILED (exit status $rc)"
    exit 1
fi
if ! grep -q '^Done [0-9]* runs' "$work/fuzz.out"; then
    echo "fuzz: libFuzzer did not finish normally"
    exit 1
fi
echo "fuzz: no failure found"
