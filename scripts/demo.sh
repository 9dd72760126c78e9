#!/bin/bash
# SPDX-License-Identifier: MIT
#
# demo.sh - the main job on the built-in simulated device: start
# vsvm-proxy with 2 simulated GPUs, run the guest simulator (a VM stand-in
# that speaks vhost-user to it) with several processes, stop the proxy.
# Exits 0 only if the guest simulator verified everything and the proxy
# shut down cleanly.
set -u
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
PROCS=${PROCS:-4}
dir=$(mktemp -d /tmp/vsvm-demo.XXXXXX)
sock=$dir/vsvm.sock
trap 'kill "$proxy" 2>/dev/null; rm -rf "$dir"' EXIT

echo "== starting vsvm-proxy (2 simulated GPUs) on $sock"
"$BUILD/vsvm-proxy" --socket "$sock" --devices 2 --device-mem 256 \
	2>"$dir/proxy.log" &
proxy=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done

echo "== running the guest simulator: $PROCS processes"
"$BUILD/vsvm-guest-sim" --socket "$sock" --processes "$PROCS" "$@"
guest=$?

kill -TERM "$proxy"
wait "$proxy"
proxy_rc=$?
tail -n 2 "$dir/proxy.log" | sed 's/^vsvm-proxy: /== vsvm-proxy: /'
if [ "$proxy_rc" -ne 0 ]; then
	echo "vsvm-proxy exited with $proxy_rc:"
	cat "$dir/proxy.log"
fi
# The proxy's own accounting must agree that data moved: the hinted and
# prefetched ranges migrate in every process.
moved=$(sed -n 's/^vsvm-proxy: .* \([0-9][0-9]*\) migration(s).*/\1/p' \
	"$dir/proxy.log" | tail -n 1)
if [ "${moved:-0}" = 0 ] && [ "$proxy_rc" -eq 0 ]; then
	echo "vsvm-proxy's summary counts no migration"
	proxy_rc=1
fi
trap - EXIT
rm -rf "$dir"
if [ "$guest" -eq 0 ] && [ "$proxy_rc" -eq 0 ]; then
	echo "demo: PASS"
	exit 0
fi
echo "demo: FAIL"
exit 1
