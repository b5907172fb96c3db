#!/usr/bin/env bash
# demo.sh: the body of `make demo` (the Makefile has already built and
# installed the extension).  Owns: a throwaway cluster with a database `demo`,
# running examples/field_service.sql in it with psql for a person to read,
# and stopping the cluster again.  The example narrates itself with \echo.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

cluster_start
createdb demo
psql -X -q -v ON_ERROR_STOP=1 -P pager=off -d demo -f examples/field_service.sql
cluster_stop
