#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Copyright (C) 2026 The vsvm authors
#
# stress.sh - the seeded coherency and isolation stress test: start
# vsvm-proxy with 2 simulated GPUs, run vsvm-stress against it (guest
# processes on identical VAs keep kernels running while they unmap, remap,
# mprotect, fork and exit at random), stop the proxy.
#
#   tests/stress/stress.sh                  20 s, seed 1 (what make test runs)
#   SECONDS=600 SEED=42 tests/stress/stress.sh      the long mode
#   STRESS_SECONDS / STRESS_SEED override SECONDS / SEED; PROCS sets the
#   number of guest processes (default 4); extra arguments go to vsvm-stress.
#
# Exits 0 only if vsvm-stress passed and the proxy shut down cleanly.  The
# seed is printed first: a failure replays with the same SEED.
set -u
# bash counts SECONDS itself (0 when the caller set none): read the
# environment as it was handed over, before any time passes.
env_seconds=$(printenv SECONDS)
cd "$(dirname "$0")/../.." || exit 2

BUILD=${BUILD:-build}
secs=${STRESS_SECONDS:-${env_seconds:-20}}
seed=${STRESS_SEED:-${SEED:-1}}
procs=${PROCS:-4}
dir=$(mktemp -d /tmp/vsvm-stress.XXXXXX)
sock=$dir/vsvm.sock
cleanup() {
	[ -n "${proxy:-}" ] && kill -KILL "$proxy" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

echo "== stress: seed $seed, $secs s, $procs processes (replay: SEED=$seed SECONDS=$secs $0)"
"$BUILD/vsvm-proxy" --socket "$sock" --devices 2 --device-mem 256 -q \
	2>"$dir/proxy.log" &
proxy=$!
for _ in $(seq 200); do
	[ -S "$sock" ] && break
	sleep 0.05
done

# A hang fails the run rather than the test harness: the engine's own
# watchdog exits after 60 s without progress, this is the last resort.
timeout -s KILL $((secs + 180)) "$BUILD/vsvm-stress" --socket "$sock" \
	--seed "$seed" --seconds "$secs" --processes "$procs" "$@"
rc=$?

kill -TERM "$proxy" 2>/dev/null
wait "$proxy"
proxy_rc=$?
proxy=
tail -n 2 "$dir/proxy.log" | sed "s/^vsvm-proxy: /== vsvm-proxy: /"
if [ "$proxy_rc" -ne 0 ]; then
	echo "vsvm-proxy exited with $proxy_rc:"
	tail -n 40 "$dir/proxy.log"
fi
if [ "$rc" -eq 0 ] && [ "$proxy_rc" -eq 0 ]; then
	echo "stress.sh: PASS (seed $seed)"
	exit 0
fi
[ "$rc" -eq 137 ] && echo "vsvm-stress killed after $((secs + 180)) s"
echo "stress.sh: FAIL (vsvm-stress $rc, proxy $proxy_rc); replay: SEED=$seed SECONDS=$secs $0"
exit 1
