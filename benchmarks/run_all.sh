#!/usr/bin/env bash
# Every figure of docs/benchmarks.md, one benchmark process after the other, each headed by
# the date and the machine's load (uptime). About 25 minutes on an idle 2-core machine.
#
# Usage: benchmarks/run_all.sh [PYTHON] > benchmarks.log 2>&1
#   PYTHON defaults to the project's virtual environment (.venv/bin/python), else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)

run() {
    echo
    echo "=== $* -- $(date -u '+%Y-%m-%d %H:%M UTC') -- $(uptime)"
    "$PY" "$@"
}

# Issue 21's goals: the demo, one subject and ten subjects at full size, image encoding.
run benchmarks/bench_demo.py
run benchmarks/bench_full_subject.py
run benchmarks/bench_full_subject.py --subjects 10
run benchmarks/bench_latents.py
# The other figures of the document.
run benchmarks/bench_effects.py
run benchmarks/bench_evaluate.py
run benchmarks/bench_ridge.py --skip-himalaya
run benchmarks/bench_data_load.py
run benchmarks/bench_simulate.py

echo
echo "=== all benchmarks: $(( ($(date +%s) - start) / 60 )) min -- $(uptime)"
