#!/usr/bin/env bash
# 70_valgrind.sh: the whole pg_regress suite once more, with the server under
# valgrind memcheck (scripts/check-valgrind.sh, also `make check-valgrind`):
# passes when every test passes and valgrind reports no invalid read, write,
# free or use of uninitialised memory in any server process.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/check-valgrind.sh
