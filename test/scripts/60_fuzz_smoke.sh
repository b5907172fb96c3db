#!/usr/bin/env bash
# 60_fuzz_smoke.sh: a short, bounded run of the libFuzzer harness over the
# per-field merge (test/fuzz/run.sh; `make fuzz` runs it for longer).  With
# the fixed seed and the kept corpus the run is repeatable; a failure leaves
# its input in test/fuzz/artifacts/ and prints how to replay it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# a fixed number of inputs (not a time), so that every run tries the same ones
FUZZ_SEED=${FUZZ_SEED:-1} FUZZ_RUNS=${FUZZ_RUNS:-500000} exec test/fuzz/run.sh 300
