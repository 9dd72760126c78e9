#!/bin/bash
# SPDX-License-Identifier: MIT
#
# two_vms_one_dies.sh - two VMs (guest simulators) on one vsvm-proxy use
# the same guest VAs in every process; a third VM is killed (SIGKILL, no
# goodbye) while its kernels run.  The two survivors must verify every
# result, and the proxy must keep serving and shut down cleanly.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
dir=$(mktemp -d /tmp/vsvm-e2e.XXXXXX)
sock=$dir/vsvm.sock
cleanup() {
	kill -KILL "${victim:-}" "${vm1:-}" "${vm2:-}" 2>/dev/null
	kill -TERM "${proxy:-}" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

"$BUILD/vsvm-proxy" --socket "$sock" -q 2>"$dir/proxy.log" &
proxy=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

"$BUILD/vsvm-guest-sim" -s "$sock" -p 4 -r 20 -q >"$dir/victim.log" 2>&1 &
victim=$!
"$BUILD/vsvm-guest-sim" -s "$sock" -p 3 -r 2 -q --seed 7 >"$dir/vm1.log" 2>&1 &
vm1=$!
"$BUILD/vsvm-guest-sim" -s "$sock" -p 3 -r 2 -q --seed 9 >"$dir/vm2.log" 2>&1 &
vm2=$!
sleep 0.5
kill -KILL "$victim"
wait "$victim" 2>/dev/null
wait "$vm1"; rc1=$?
wait "$vm2"; rc2=$?
# The proxy still serves a new VM after all that.
"$BUILD/vsvm-guest-sim" -s "$sock" -p 1 -q >"$dir/vm3.log" 2>&1
rc3=$?
kill -TERM "$proxy"
wait "$proxy"; rcp=$?
proxy=
tail -n 1 "$dir/vm1.log" "$dir/vm2.log" "$dir/vm3.log"
tail -n 2 "$dir/proxy.log" | sed "s/^vsvm-proxy: /proxy: /"
if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] || [ $rc3 -ne 0 ] || [ $rcp -ne 0 ]; then
	echo "vm1=$rc1 vm2=$rc2 vm3=$rc3 proxy=$rcp"
	cat "$dir"/*.log | tail -n 60
	exit 1
fi
