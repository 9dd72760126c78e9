#!/bin/sh
# SPDX-License-Identifier: MIT
#
# build-module.sh KIND KDIR - build vsvm_host.ko against one kernel tree.
#
#   KIND   custom (the test kernel) or stock (Debian's linux-headers-amd64)
#   KDIR   the kernel build tree to build against
#
# The module's sources are copied into build/kernel/KIND/src (timestamps
# kept, so an unchanged module is not rebuilt) and kbuild runs there with
# M=, so the working tree's host-kernel/ stays clean and two kernels (or
# the module's own engineer) never race on one set of objects.  The result
# is build/kernel/KIND/vsvm_host.ko.
set -eu

kind=$1
kdir=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/kernel/$kind
src=$out/src

if [ ! -d "$kdir" ]; then
	echo "build-module: no kernel tree at $kdir" >&2
	exit 1
fi
mkdir -p "$src/host-kernel"
# The module's include path reaches ../virtio-proto/include.
ln -sfn "$top/virtio-proto" "$src/virtio-proto"

# Mirror the sources (not the build products) of host-kernel/.
list=$out/sources.list
(cd "$top/host-kernel" && find . -type f \
	\( -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Makefile \) \
	! -name '*.mod.c' | sort) >"$list"
(cd "$top/host-kernel" && tar -cf - -T "$list") | (cd "$src/host-kernel" && tar -xpf -)
# Drop sources that no longer exist upstream.
(cd "$src/host-kernel" && find . -type f \
	\( -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Makefile \) \
	! -name '*.mod.c' | sort) | comm -13 "$list" - |
	(cd "$src/host-kernel" && xargs -r rm -f)

make -s -C "$kdir" M="$src/host-kernel" modules >"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	echo "build-module: vsvm_host.ko failed to build against $kdir" >&2
	exit 1
}
cp "$src/host-kernel/vsvm_host.ko" "$out/vsvm_host.ko.tmp"
mv "$out/vsvm_host.ko.tmp" "$out/vsvm_host.ko"
echo "$out/vsvm_host.ko"
