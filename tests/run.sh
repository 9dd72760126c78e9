#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh - run vsvm's test suites and print one closing summary line,
#          "N passed, N failed" (", N skipped" when something was skipped).
#
#   tests/run.sh --unit   cmocka unit suites (userspace, under a minute)
#   tests/run.sh --fuzz   the decoder fuzzer for $FUZZ_SECONDS seconds
#   tests/run.sh --kernel the booted-kernel suites only (make test-kernel)
#   tests/run.sh --all    everything: unit, build checks, demo, benchmark
#                         smoke, booted kernels, fuzz
#
# The binaries are built by the Makefile before this runs.  Each cmocka
# test counts once (TAP output); every other check counts once.
set -u
cd "$(dirname "$0")/.." || exit 2

BUILD=build
LOG=$BUILD/test-logs
mkdir -p "$LOG"
passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $1: $2"; }

# check NAME CMD...: one pass/fail, output kept in the log (shown on failure).
check() {
	local name=$1 log
	shift
	log="$LOG/${name//[^A-Za-z0-9_.-]/_}.log"
	if "$@" >"$log" 2>&1; then
		pass "$name"
	else
		fail "$name"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
}

run_unit() {
	local bin name out rc ok notok
	for bin in $(find "$BUILD/tests" -type f -perm -u+x | sort); do
		[ -x "$bin" ] || continue
		name=${bin#"$BUILD"/tests/}
		out="$LOG/${name//\//_}.tap"
		CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$out" 2>&1
		rc=$?
		ok=$(grep -c '^ok ' "$out")
		# cmocka 1.1 reports a skip as "not ok N # SKIP ...".
		skp=$(grep -c '^not ok .*# SKIP' "$out")
		notok=$(($(grep -c '^not ok ' "$out") - skp))
		passed=$((passed + ok))
		failed=$((failed + notok))
		skipped=$((skipped + skp))
		grep '# SKIP' "$out" | sed 's/^/    /'
		echo "$name: $ok passed, $notok failed, $skp skipped"
		if [ "$notok" -gt 0 ]; then
			grep -A8 '^not ok ' "$out" | sed 's/^/    | /'
			failures+=("$name")
		fi
		# A crash or a sanitizer report after the last test: one failure.
		if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
			fail "$name (exit $rc)"
			tail -n 40 "$out" | sed 's/^/    | /'
		fi
	done
}

# The wire header must have no implicit padding, with gcc and with clang.
wire_layout() {
	local cc
	for cc in gcc clang; do
		echo '#include "vsvm/vsvm_proto.h"' |
			$cc -x c -std=gnu11 -Wpadded -Werror \
				-Ivirtio-proto/include -fsyntax-only - || return 1
	done
}

# The codec must build freestanding and call nothing outside itself, or it
# could not link into the kernel modules.
codec_freestanding() {
	local o=$BUILD/codec-freestanding.o undef
	gcc -std=gnu11 -O2 -ffreestanding -nostdlib -fno-builtin -Wall -Wextra \
		-Werror -Wconversion -Wno-sign-conversion -Ivirtio-proto/include \
		-c virtio-proto/src/vsvm_codec.c -o "$o" || return 1
	undef=$(nm -u "$o")
	if [ -n "$undef" ]; then
		echo "codec needs external symbols: $undef"
		return 1
	fi
}

# The booted-kernel suites (make test-kernel): their cases count one by one,
# as the unit tests do.  The first run builds the test kernel (cached
# outside the clone, 9 min on 2 cores), later runs take minutes.
run_kernel() {
	local log=$LOG/test-kernel.log line p f s
	echo "== booted kernels (make test-kernel; log $log)"
	tests/kernel/run-all.sh >"$log" 2>&1
	grep -E '^(kernel-[a-z]+: |not ok|SKIP|# SKIP)' "$log" |
		awk '!seen[$0]++' | sed 's/^/    /'
	line=$(grep '^test-kernel: ' "$log" | tail -n 1)
	read -r p f s <<<"$(echo "$line" | sed -n \
		's/.*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p')"
	if [ -z "${p:-}" ]; then
		fail "test-kernel (no summary line)"
		tail -n 40 "$log" | sed 's/^/    | /'
		return
	fi
	passed=$((passed + p))
	skipped=$((skipped + s))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("test-kernel")
	echo "$line"
}

run_fuzz() {
	local secs=${FUZZ_SECONDS:-60}
	mkdir -p "$BUILD/fuzz/corpus" "$BUILD/fuzz/artifacts"
	check "fuzz_decode (${secs}s, ASan+UBSan)" \
		"$BUILD/fuzz/fuzz_decode" -max_total_time="$secs" \
		-max_len=8192 -timeout=10 -dict=tests/fuzz/vsvm.dict \
		-artifact_prefix="$BUILD/fuzz/artifacts/" \
		"$BUILD/fuzz/corpus" tests/fuzz/corpus
}

case "${1:---all}" in
--unit)
	run_unit
	;;
--fuzz)
	run_fuzz
	;;
--kernel)
	run_kernel
	;;
--all)
	run_unit
	check "wire structs have no implicit padding" wire_layout
	check "codec builds freestanding with no external symbols" \
		codec_freestanding
	check "protocol self-check (vsvm-protodump)" \
		"$BUILD/vsvm-protodump" --selfcheck
	check "demo: proxy, 2 GPUs, a VM with 4 processes (make demo)" \
		scripts/demo.sh
	for t in tests/e2e/*.sh; do
		check "e2e $(basename "$t" .sh)" "$t"
	done
	check "stress: 20 s, seed 1 (make stress SECONDS=.. SEED=.. for a soak)" \
		env STRESS_SECONDS=20 STRESS_SEED=1 tests/stress/stress.sh
	check "model check (spin): protocol holds, broken variants rejected" \
		tests/model/check.sh
	check "kernel modules build against linux-headers-amd64" \
		make --no-print-directory modules
	check "benchmark smoke: make bench quick mode writes a well-formed report" \
		tests/bench/smoke.sh
	run_kernel
	run_fuzz
	;;
*)
	echo "usage: $0 --unit | --fuzz | --kernel | --all" >&2
	exit 2
	;;
esac

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
