#!/bin/sh
# SPDX-License-Identifier: MIT
#
# proxy_kernel_backend.sh - vsvm-proxy --device kernel over the loaded
#                           vsvm_host.ko, driven by the guest simulator.
#
# Run by tests/kernel/init.sh inside the booted test kernel (custom and
# stock), in /vsvm, after /init loaded the module with 2 devices
# (VSVM_LOADED=1); it loads nothing itself.  It starts the proxy on both
# devices and runs vsvm-guest-sim against it: processes that use the same
# VAs for different data, every built-in kernel (pointer chase over a list
# the guest CPU built included), a kernel that keeps writing while its
# process remaps the buffer, fork with both sides writing the
# copy-on-write buffer from the GPU; then two simulated VMs at once, then
# the coherency stress.  Each
# verified workload is one TAP line; so are the proxy's clean exit (status
# 0, its "served" line, no sanitizer report, no device error line) and a
# second start on the same devices (the module let go of the first).
set -u

n=0
dir=/tmp/proxy-kernel
sock=$dir/vsvm.sock
proxy=
# Under TCG with sanitizers everything is slow; generous, but bounded.
START_WAIT=120
SIM_TIMEOUT=240
# The custom kernel (KASAN, lockdep) runs kernel code ~25x slower than the
# stock one: the same scenarios, fewer processes and a shorter stress, so
# that they fit init's 600 s per scenario.
PROCS=4 PROCS_VM=2 STRESS_SECONDS=20
if [ "${VSVM_KIND:-}" = custom ]; then
	PROCS=2 PROCS_VM=1 STRESS_SECONDS=8 SIM_TIMEOUT=300
fi

# tap ok|fail NAME [NOTE]
tap() {
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n - proxy_kernel.$2${3:+ # $3}"
	else
		echo "not ok $n - proxy_kernel.$2${3:+ # $3}"
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - proxy_kernel.$1 # SKIP $2"
}

# show FILE: the end of a log, as TAP comments.
show() {
	tail -n "${2:-25}" "$1" 2>/dev/null | sed 's/^/# | /'
}

# start_proxy LOG: start it and wait for its socket.  Return 0 when up.
start_proxy() {
	rm -f "$sock"
	build/vsvm-proxy --device kernel --devices 2 --socket "$sock" \
		2>"$1" &
	proxy=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt $((START_WAIT * 10)) ]; do
		kill -0 "$proxy" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$sock" ]
}

# stop_proxy LOG NAME: SIGTERM, and judge how it went.
stop_proxy() {
	kill -TERM "$proxy" 2>/dev/null
	wait "$proxy"
	rc=$?
	proxy=
	if [ $rc -eq 0 ] && grep -q '^vsvm-proxy: served ' "$1"; then
		tap ok "$2.exit_clean"
	else
		tap fail "$2.exit_clean" "exit status $rc"
		show "$1"
	fi
	if grep -q 'Sanitizer\|runtime error:' "$1"; then
		tap fail "$2.no_sanitizer_report"
		grep -A 12 'Sanitizer\|runtime error:' "$1" | head -n 40 |
			sed 's/^/# | /'
	else
		tap ok "$2.no_sanitizer_report"
	fi
	# Every ioctl failure of the backend prints "vsvm_host<N>: ...".
	if grep -q 'vsvm-proxy: vsvm_host[0-9]*: ' "$1"; then
		tap fail "$2.no_device_errors"
		grep 'vsvm-proxy: vsvm_host[0-9]*: ' "$1" | head -n 20 |
			sed 's/^/# | /'
	else
		tap ok "$2.no_device_errors"
	fi
}

# judge_sim LOG RC PREFIX: one TAP line per workload the simulator ran.
judge_sim() {
	awk -v prefix="$3" '
	/^  process [0-9]+ device [0-9]+  / {
		st = ""
		for (i = 5; i < NF; i++)
			if (($i == "ok" || $i == "FAIL") && $(i + 1) == "faults") {
				st = $i
				break
			}
		if (st == "")
			next
		name = $5
		for (j = 6; j < i; j++)
			name = name "_" $j
		line = prefix ".p" $2 "." name ".dev" $4
		if (st == "ok")
			print "OK " line
		else
			print "FAIL " line
	}
	/ fork: parent and child / {
		print ($NF == "FAIL" ? "FAIL " : "OK ") prefix ".fork_cow"
	}' "$1" >"$1.results"
	while read -r st name; do
		if [ "$st" = OK ]; then
			tap ok "$name"
		else
			tap fail "$name"
			grep "$(echo "$name" | sed 's/.*\.p\([0-9]*\)\..*/process \1/')" \
				"$1" | head -n 5 | sed 's/^/# | /'
		fi
	done <"$1.results"
	if [ "$2" -eq 0 ] && grep -q '^vsvm-guest-sim: PASS' "$1"; then
		tap ok "$3.all_verified" \
			"$(grep '^vsvm-guest-sim: ' "$1" | tail -n 1 | cut -c1-70)"
	else
		tap fail "$3.all_verified" "guest simulator exit status $2"
		show "$1" 40
	fi
}

if [ "${VSVM_LOADED:-0}" != 1 ] || [ ! -c /dev/vsvm_host1 ]; then
	skip start "vsvm_host.ko is not loaded with 2 devices"
	exit 0
fi
# vhost-user is a Unix socket: a kernel built without CONFIG_NET/CONFIG_UNIX
# cannot carry it (socket() says ENOSYS), and that is no fault of the proxy.
if [ ! -e /proc/net/unix ]; then
	skip start "this kernel has no Unix sockets (CONFIG_NET, CONFIG_UNIX)"
	exit 0
fi
for b in build/vsvm-proxy build/vsvm-guest-sim; do
	if [ ! -x "$b" ]; then
		tap fail start "$b missing from the initramfs"
		exit 0
	fi
done
mkdir -p "$dir"

# 1. One VM: several processes, identical VAs, every kernel, remap, fork.
if start_proxy "$dir/proxy.log"; then
	tap ok start "$(grep 'serving' "$dir/proxy.log" | cut -c1-70)"
else
	tap fail start "no socket within $START_WAIT s"
	show "$dir/proxy.log"
	[ -n "$proxy" ] && kill -KILL "$proxy" 2>/dev/null
	exit 0
fi
timeout "$SIM_TIMEOUT" build/vsvm-guest-sim --socket "$sock" \
	--processes "$PROCS" >"$dir/sim1.log" 2>&1
judge_sim "$dir/sim1.log" $? one_vm

# 2. Two VMs at once on the same devices.
timeout "$SIM_TIMEOUT" build/vsvm-guest-sim --socket "$sock" \
	--processes "$PROCS_VM" --ram 128 --seed 7 >"$dir/sim2a.log" 2>&1 &
a=$!
timeout "$SIM_TIMEOUT" build/vsvm-guest-sim --socket "$sock" \
	--processes "$PROCS_VM" --ram 128 --seed 9 >"$dir/sim2b.log" 2>&1
brc=$?
wait "$a"
arc=$?
judge_sim "$dir/sim2a.log" $arc two_vms.a
judge_sim "$dir/sim2b.log" $brc two_vms.b

# 3. The coherency stress (tests/stress): processes on identical VAs keep
#    kernels running while they unmap, remap, mprotect, fork and exit;
#    poisoned freed pages catch any device access after an invalidation.
timeout "$SIM_TIMEOUT" build/vsvm-stress --socket "$sock" \
	--seconds "$STRESS_SECONDS" --seed 1 --processes 4 --quiet \
	>"$dir/stress.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	tap ok stress.coherency "$(tail -n 1 "$dir/stress.log" | cut -c1-70)"
else
	tap fail stress.coherency "exit status $rc (replay: --seed 1)"
	show "$dir/stress.log" 30
fi
stop_proxy "$dir/proxy.log" proxy

# 4. The module let go of the first proxy's files: a second one starts
#    (its own fault fd per file) and serves.
if start_proxy "$dir/proxy2.log"; then
	tap ok restart
	timeout "$SIM_TIMEOUT" build/vsvm-guest-sim --socket "$sock" \
		--processes 1 --quiet >"$dir/sim3.log" 2>&1
	judge_sim "$dir/sim3.log" $? restart
	stop_proxy "$dir/proxy2.log" restart
else
	tap fail restart "no socket within $START_WAIT s"
	show "$dir/proxy2.log"
	[ -n "$proxy" ] && kill -KILL "$proxy" 2>/dev/null
fi
exit 0
