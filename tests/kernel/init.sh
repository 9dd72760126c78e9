#!/bin/busybox sh
# SPDX-License-Identifier: MIT
#
# /init of the vsvm_host.ko test initramfs (packed by mkinitramfs.sh,
# booted by run.sh).
#
# The kernel console (ttyS0) carries every kernel message and a copy of
# all test output; ttyS1 carries only the results, as TAP lines, ending
# with the line "VSVM-RESULTS-END".  The runner counts the TAP lines from
# ttyS1 and scans ttyS0 for kernel reports.  Environment from the kernel
# command line: VSVM_KIND (custom|stock), VSVM_EXPECT_DEVICE_PRIVATE
# (0|1), VSVM_TESTS (optional: case names for vsvmh_test, comma
# separated), VSVM_SCENARIOS (0: skip guest.d, for quick runs by hand),
# VSVM_INJECT_REPORT (1: print a fake kernel WARNING, to check the runner).
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
exec </dev/console >/dev/console 2>&1

kmsg() { echo "vsvm-init: $*" >/dev/kmsg; }
res=/dev/ttyS1
[ -c "$res" ] || res=/dev/console
n=0
# tap ok|not-ok NAME [REASON]: one result line on both channels.
tap() {
	n=$((n + 1))
	case $1 in
	ok) line="ok $n init.$2" ;;
	*) line="not ok $n init.$2" ;;
	esac
	[ -n "${3:-}" ] && line="$line # $3"
	echo "$line" | tee -a "$res"
}

kmsg "start: kernel $(uname -r), kind ${VSVM_KIND:-?}"
echo "VSVM-RESULTS-BEGIN kernel=$(uname -r) kind=${VSVM_KIND:-?}" >>"$res"
cd /vsvm || exit 1
[ -f /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 60 >/proc/sys/kernel/hung_task_timeout_secs

# Module load: the tests assume 2 devices with 64 MiB of memory each.
params="num_devices=2 mem_size_mb=64"
if out=$(insmod /vsvm/vsvm_host.ko $params 2>&1); then
	tap ok module_load
	loaded=1
else
	echo "$out"
	tap not-ok module_load
	loaded=0
fi

if [ "$loaded" = 1 ]; then
	# Device nodes come from devtmpfs; give udev-less creation a moment.
	i=0
	while [ ! -c /dev/vsvm_host1 ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	args=$(echo "${VSVM_TESTS:-}" | tr ',' ' ')
	kmsg "vsvmh_test start"
	# shellcheck disable=SC2086
	{ /vsvm/vsvmh_test $args 2>&1; echo $? >/tmp/vsvmh_test.rc; } |
		tee -a "$res"
	kmsg "vsvmh_test done"
	# 0: all passed, 1: its failures are "not ok" lines above; anything
	# else (missing binary, crash, signal) would count no case at all.
	rc=$(cat /tmp/vsvmh_test.rc 2>/dev/null || echo 255)
	case $rc in
	0 | 1) ;;
	*) tap not-ok vsvmh_test_exit "vsvmh_test exited with $rc" ;;
	esac
fi

# Extra scenarios (e.g. vsvm-proxy over the module): each prints TAP.
for s in /vsvm/guest.d/*.sh; do
	[ -f "$s" ] || continue
	[ "${VSVM_SCENARIOS:-1}" = 0 ] && break
	kmsg "scenario $s"
	echo "# scenario $s" | tee -a "$res"
	{ VSVM_LOADED=$loaded timeout 600 sh "$s" 2>&1
	  echo $? >/tmp/scenario.rc; } | tee -a "$res"
	rc=$(cat /tmp/scenario.rc 2>/dev/null || echo 255)
	[ "$rc" = 0 ] ||
		tap not-ok "scenario_exit" "$(basename "$s") exited with $rc"
done

if [ "$loaded" = 1 ]; then
	# The module must stay while a file is open, and go when none is.
	exec 7</dev/vsvm_host0
	if rmmod vsvm_host 2>/dev/null; then
		tap not-ok rmmod_refused_while_open "rmmod succeeded with a file open"
		loaded=0
	else
		tap ok rmmod_refused_while_open
	fi
	exec 7<&-
	if [ "$loaded" = 1 ]; then
		if out=$(rmmod vsvm_host 2>&1); then
			if [ -e /dev/vsvm_host0 ]; then
				tap not-ok module_unload "/dev/vsvm_host0 still there"
			else
				tap ok module_unload
			fi
		else
			echo "$out"
			tap not-ok module_unload
		fi
	fi
fi

# The runner's own check: a kernel report must fail the run.
[ "${VSVM_INJECT_REPORT:-0}" = 1 ] &&
	kmsg "WARNING: injected by VSVM_INJECT_REPORT=1 (runner self-check)"
kmsg "done"
# Let the last kernel messages reach the console before the end marker.
sleep 1
echo "VSVM-RESULTS-END" >>"$res"
echo "VSVM-RESULTS-END"
sync
poweroff -f
