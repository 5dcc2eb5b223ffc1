#!/usr/bin/env bash
# SIGKILL a demo clone at every write count from 1 to N (default 45), ROUNDS times
# (default 3), and check each time that a re-run converges to an uninterrupted clone's
# result with no duplicate (cli/tests/it/kills.rs does the same at 14 points in CI).
#
#   scripts/kill-test.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-45}
rounds=${2:-3}
points=$(seq -s, 1 "$n")
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds: kills at 1..$n writes"
  FERRY_KILL_POINTS="$points" cargo test --quiet -p ferry-cli --test it kills:: -- --nocapture 2>&1 | grep -E "converged|did not converge|test result"
done
