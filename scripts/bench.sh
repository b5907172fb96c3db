#!/usr/bin/env bash
# bench.sh: the body of `make bench`.  Placeholder until the benchmark exists.
set -euo pipefail
echo "make bench: not yet implemented"
