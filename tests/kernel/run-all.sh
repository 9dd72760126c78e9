#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-all.sh [KIND...] - what `make test-kernel` runs: for each kernel
# (default: custom stock) get the kernel (built or fetched once, cached
# outside the clone), build vsvm_host.ko against it, pack the initramfs,
# boot it (run.sh) and print its counts; then one closing line
#   test-kernel: N passed, N failed, N skipped
# summed over the kernels.  A kernel that cannot be had or a module that
# does not build counts as one failure of that kernel.  Needs
# build/kernel/vsvmh_test (built by make first).
set -u
cd "$(dirname "$0")/../.." || exit 2

kinds=${*:-custom stock}
mkdir -p build/test-logs
test_bin=build/kernel/vsvmh_test
total_p=0 total_f=0 total_s=0
summaries=()

for kind in $kinds; do
	echo "== kernel-$kind"
	case $kind in
	custom)
		dir=$(scripts/test-kernel.sh) && kernel=$dir/bzImage &&
			kdir=$dir/build
		;;
	stock)
		dir=$(scripts/stock-kernel.sh) && kernel=$dir/vmlinuz &&
			kdir=/usr/src/linux-headers-$(cat "$dir/release")
		;;
	*)
		echo "run-all: unknown kernel '$kind' (custom|stock)" >&2
		false
		;;
	esac
	ok=$?
	if [ $ok -eq 0 ]; then
		module=$(nice tests/kernel/build-module.sh "$kind" "$kdir") &&
		initrd=$(tests/kernel/mkinitramfs.sh \
			"build/kernel/$kind/initramfs.cpio.gz" "$module" \
			"$test_bin")
		ok=$?
	fi
	if [ $ok -ne 0 ]; then
		line="kernel-$kind: 0 passed, 1 failed, 0 skipped (not run: no kernel or no module)"
		echo "$line"
	else
		out=build/test-logs/kernel-$kind.summary
		tests/kernel/run.sh "$kind" "$kernel" "$initrd" | tee "$out"
		line=$(grep "^kernel-$kind: " "$out" | tail -n 1)
		[ -n "$line" ] || line="kernel-$kind: 0 passed, 1 failed, 0 skipped (runner died)"
	fi
	summaries+=("$line")
	read -r p f s <<<"$(echo "$line" |
		sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p')"
	total_p=$((total_p + ${p:-0}))
	total_f=$((total_f + ${f:-1}))
	total_s=$((total_s + ${s:-0}))
done

for l in "${summaries[@]}"; do
	echo "$l"
done
echo "test-kernel: $total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
