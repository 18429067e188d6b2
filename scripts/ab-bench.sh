#!/usr/bin/env bash
# Alternating A/B runs of two gpfed binaries under one benchmark, one line
# per run, for changes smaller than a VM's drift from one minute to the next.
#
#   scripts/ab-bench.sh tasks N binA binB [bench/tasks flags]   # closed loops
#   scripts/ab-bench.sh sync  N binA binB [bench/sync flags]    # e.g. -practices 3000 -latency 200ms
#
# Build the binaries first (make build; cp bin/gpfed /tmp/gpfed-a; ...).
# Each run holds /tmp/gpfed-bench.lock, so it never overlaps another benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh >/dev/null
which=$1 n=$2 a=$3 b=$4
shift 4
case $which in
tasks) args=(./bench/tasks -phases closed) want='delivered \(2xx\)|senders notified|cost per task|receiver 2xx|delivery engine' ;;
sync) args=(./bench/sync) want='wall=|cpu: sync|machine CPU per slot|snapshots saved in' ;;
*) echo "usage: $0 tasks|sync N binA binB [flags]" >&2; exit 2 ;;
esac
for _ in $(seq 1 "$n"); do
	for bin in "$a" "$b"; do
		out=$(flock /tmp/gpfed-bench.lock go run "${args[@]}" -bin "$bin" "$@" 2>&1 | grep -E "$want" || true)
		echo "$(date -u +%T) $bin $(echo $out | tr -s ' ')"
	done
done
