#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh KIND [KERNEL INITRAMFS] - boot one test kernel under QEMU (TCG) and
#                                  judge the run.
#
#   KIND        custom (scripts/test-kernel.sh: DEVICE_PRIVATE, lockdep,
#               KASAN) or stock (scripts/stock-kernel.sh: Debian's kernel)
#   KERNEL      bzImage; default: found through those scripts' caches
#   INITRAMFS   default: build/kernel/KIND/initramfs.cpio.gz
#
# Environment: VSVM_BOOT_TIMEOUT (wall-clock seconds for the whole boot,
# default 900 custom / 300 stock), VSVM_BOOT_WAIT (seconds for the kernel
# to reach /init before the boot is tried again, default 300 / 150),
# VSVM_BOOT_TRIES (default 3), VSVM_TESTS (comma-separated case names
# to run, default all), VSVM_SCENARIOS=0 (skip tests/kernel/guest.d; quick
# runs by hand only), VSVM_INJECT_REPORT=1 (the guest prints a fake kernel
# WARNING: the run must fail; checks this script), VSVM_CACHE (kernel cache, default /var/cache/vsvm).
#
# Logs: build/test-logs/kernel-KIND.console.log (ttyS0: kernel messages
# and all output) and build/test-logs/kernel-KIND.tap (ttyS1: results).
# While it runs, build/test-logs/kernel-KIND.monitor is QEMU's monitor
# (a Unix socket: "info registers", "info cpus" to see where a guest hangs).
# The run fails on any failed TAP line, on a kernel report in the console
# log (WARNING, BUG, KASAN, lockdep, Oops, Call Trace, general protection,
# refcount_t, leaks, hung tasks, panic), on a missing "VSVM-RESULTS-END"
# marker, or on a timeout.  The last line reads
#   kernel-KIND: N passed, N failed, N skipped (T s)
# and every skip is listed above it with its reason.
set -u
cd "$(dirname "$0")/../.." || exit 2

kind=${1:?usage: run.sh custom|stock [KERNEL INITRAMFS]}
kernel=${2:-}
initrd=${3:-build/kernel/$kind/initramfs.cpio.gz}
cache=${VSVM_CACHE:-/var/cache/vsvm}
log=build/test-logs
mkdir -p "$log"
console=$log/kernel-$kind.console.log
tap=$log/kernel-$kind.tap

case $kind in
custom)
	timeout=${VSVM_BOOT_TIMEOUT:-900}
	boot_wait=${VSVM_BOOT_WAIT:-300}
	if [ -z "$kernel" ]; then
		dir=$(scripts/test-kernel.sh) || exit 2
		kernel=$dir/bzImage
	fi
	config=$(dirname "$kernel")/.config
	;;
stock)
	timeout=${VSVM_BOOT_TIMEOUT:-300}
	boot_wait=${VSVM_BOOT_WAIT:-150}
	if [ -z "$kernel" ]; then
		dir=$(scripts/stock-kernel.sh) || exit 2
		kernel=$dir/vmlinuz
	fi
	config=$(dirname "$kernel")/config
	;;
*)
	echo "run.sh: KIND is custom or stock, not '$kind'" >&2
	exit 2
	;;
esac
for f in "$kernel" "$initrd"; do
	if [ ! -f "$f" ]; then
		echo "run.sh: $f missing (make test-kernel builds it)" >&2
		exit 2
	fi
done

# What the tests may expect of this kernel.
devpriv=0
grep -qx 'CONFIG_DEVICE_PRIVATE=y' "$config" 2>/dev/null && devpriv=1

append="console=ttyS0,115200 loglevel=7 panic=-1 oops=panic"
# printk.devkmsg=on: the harness's "RUN case" lines to /dev/kmsg are not
# rate limited away (they place kernel reports next to their case).
append="$append transparent_hugepage=madvise hung_task_panic=0 printk.devkmsg=on"
append="$append VSVM_KIND=$kind VSVM_EXPECT_DEVICE_PRIVATE=$devpriv"
[ -n "${VSVM_TESTS:-}" ] && append="$append VSVM_TESTS=$VSVM_TESTS"
[ -n "${VSVM_SCENARIOS:-}" ] && append="$append VSVM_SCENARIOS=$VSVM_SCENARIOS"
[ -n "${VSVM_INJECT_REPORT:-}" ] &&
	append="$append VSVM_INJECT_REPORT=$VSVM_INJECT_REPORT"

# A TCG guest on a loaded host now and then hangs early in boot, before
# /init, on a timer calibrated while starved (seen on the custom kernel
# after "Running RCU-tasks wait API self tests").  Such a boot is tried
# again, up to VSVM_BOOT_TRIES times; a guest that reached /init never is.
tries=${VSVM_BOOT_TRIES:-3}
attempt=1
start=$(date +%s)
while :; do
	rm -f "$console" "$tap"
	# ttyS0 -> console log, ttyS1 -> results.  -no-reboot: a panic
	# (panic=-1 reboots at once) ends QEMU instead of booting again.
	timeout -k 10 "$timeout" qemu-system-x86_64 -accel tcg -m 2G -smp 2 \
		-display none -vga none -no-reboot \
		-monitor "unix:$log/kernel-$kind.monitor,server=on,wait=off" \
		-serial "file:$console" -serial "file:$tap" \
		-kernel "$kernel" -initrd "$initrd" -append "$append" \
		</dev/null >"$log/kernel-$kind.qemu.log" 2>&1 &
	qpid=$!
	booted=0
	waited=0
	while kill -0 "$qpid" 2>/dev/null; do
		if grep -q 'vsvm-init: start' "$console" 2>/dev/null; then
			booted=1
			break
		fi
		[ "$waited" -ge "$boot_wait" ] && break
		sleep 2
		waited=$((waited + 2))
	done
	if [ "$booted" = 0 ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid"
		wait "$qpid"
		cp "$console" "$log/kernel-$kind.hung-$attempt.log"
		echo "kernel-$kind: no /init within $boot_wait s (attempt $attempt of $tries; console: $log/kernel-$kind.hung-$attempt.log)"
		if [ "$attempt" -lt "$tries" ]; then
			attempt=$((attempt + 1))
			continue
		fi
		qrc=124
		break
	fi
	wait "$qpid"
	qrc=$?
	break
done
secs=$(($(date +%s) - start))

passed=0
failed=0
skipped=0
problems=()

# TAP from the results channel (strip the serial line's \r).
if [ -f "$tap" ]; then
	tr -d '\r' <"$tap" >"$tap.tmp" && mv "$tap.tmp" "$tap"
	while IFS= read -r line; do
		case $line in
		"not ok "*)
			failed=$((failed + 1))
			echo "FAIL ${line#not ok }"
			;;
		"ok "*"# SKIP"*)
			skipped=$((skipped + 1))
			name=${line#ok }
			echo "SKIP ${name%% # SKIP*}: ${line#*# SKIP }"
			;;
		"ok "*)
			passed=$((passed + 1))
			;;
		esac
	done <"$tap"
fi

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	if [ "$booted" = 0 ]; then
		problems+=("the kernel never reached /init ($tries boots)")
	else
		problems+=("timeout: no poweroff within $timeout s")
	fi
elif [ "$qrc" -ne 0 ]; then
	problems+=("qemu exited with $qrc: $(tail -n 3 "$log/kernel-$kind.qemu.log")")
fi
if ! grep -q '^VSVM-RESULTS-END' "$tap" 2>/dev/null; then
	problems+=("no results marker (VSVM-RESULTS-END): the guest died or hung")
fi

# Kernel reports: any one fails the run.  Only what the kernel printed
# after /init started counts (boot-time noise of a stock kernel is not
# the module's), but a panic counts wherever it is.
reports='WARNING:|BUG:|KASAN|possible circular locking|possible recursive locking|lockdep|Oops|Call Trace|general protection|refcount_t:|unreferenced object|memory leak|INFO: task .* blocked|Kernel panic|UBSAN|kernel BUG|list_add corruption|list_del corruption|bad page state|Bad page'
if [ -f "$console" ]; then
	tr -d '\r' <"$console" >"$console.tmp" && mv "$console.tmp" "$console"
	from=$(grep -n 'vsvm-init: start' "$console" | head -n 1 | cut -d: -f1)
	hits=$(tail -n +"${from:-1}" "$console" | grep -E "$reports" |
		grep -v 'vsvmh_test: \(RUN\|PASS\|FAIL\|SKIP\)')
	if [ -n "$hits" ]; then
		problems+=("kernel reports in $console:")
		while IFS= read -r h; do
			problems+=("    $h")
		done <<<"$(echo "$hits" | head -n 20)"
	fi
else
	problems+=("no console log")
fi

if [ ${#problems[@]} -gt 0 ]; then
	failed=$((failed + 1))
	echo "FAIL kernel-$kind run:"
	for p in "${problems[@]}"; do
		echo "    $p"
	done
	echo "    (console: $console, results: $tap)"
fi
# Guest time from power-on to /init, from the console's timestamps.
init_at=$(grep -m 1 'vsvm-init: start' "$console" 2>/dev/null |
	sed -n 's/^\[ *\([0-9]*\)\..*/\1/p')
echo "kernel-$kind: $passed passed, $failed failed, $skipped skipped ($secs s${init_at:+, /init after ${init_at} s})"
[ "$failed" -eq 0 ]
