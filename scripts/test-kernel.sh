#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test-kernel.sh - build (once) the kernel the module tests boot.
#
# Prints the path of the cached kernel directory (bzImage, .config and the
# prepared tree to build modules against).  The cache lives outside the
# clone, under $VSVM_CACHE (default /var/cache/vsvm), keyed by everything
# that decides the result: the linux-source package version, the config
# fragment and this script.  A second call with the same inputs prints the
# path and does nothing else.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${VSVM_CACHE:-/var/cache/vsvm}
tarball=/usr/src/linux-source-6.1.tar.xz
fragment=$top/tests/kernel/config.fragment

if [ ! -r "$tarball" ]; then
	echo "test-kernel: $tarball missing; run 'make deps' as root" >&2
	exit 1
fi

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
# Bump RECIPE when a change to this script changes the kernel it builds.
RECIPE=1
key=$( (echo "$srcver recipe $RECIPE"; cat "$fragment") | sha256sum |
	cut -c1-16)
out=$cache/kernel-$key
if [ -f "$out/bzImage" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
# Two callers at once (make -j, two clones) build once: the second waits.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/bzImage" ]; then
	echo "$out"
	exit 0
fi
src=$cache/linux-source-$srcver
if [ ! -f "$src/.extracted" ]; then
	echo "test-kernel: extracting linux-source $srcver" >&2
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" -xf "$tarball" --strip-components=1
	touch "$src.tmp/.extracted"
	mv "$src.tmp" "$src"
fi

# One object tree per key: a changed fragment rebuilds from scratch
# rather than trusting a half-matching tree.
build=$out.build
mkdir -p "$build"
jobs=$(nproc)
echo "test-kernel: building $key with -j$jobs (once; cached in $cache)" >&2
start=$(date +%s)
make -s -C "$src" O="$build" x86_64_defconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" \
	"$src/kernel/configs/kvm_guest.config" "$fragment" >/dev/null
make -s -C "$src" O="$build" olddefconfig >/dev/null

# A fragment option the kernel dropped means the fragment is wrong.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=[ym]' "$fragment" | while read -r l; do
	grep -qx "$l" "$build/.config" || echo "$l"; done)
if [ -n "$missing" ]; then
	echo "test-kernel: config options not taken:" $missing >&2
	exit 1
fi

make -s -C "$src" O="$build" -j"$jobs" bzImage modules_prepare \
	KCFLAGS=-Wno-error >"$build/build.log" 2>&1 || {
	tail -40 "$build/build.log" >&2
	echo "test-kernel: build failed; log: $build/build.log" >&2
	exit 1
}
# Out-of-tree modules resolve the kernel's symbols from Module.symvers;
# bzImage alone writes only vmlinux.symvers.
cp "$build/vmlinux.symvers" "$build/Module.symvers"
mkdir -p "$out.tmp"
cp "$build/arch/x86/boot/bzImage" "$build/.config" "$out.tmp/"
ln -sfn "$build" "$out.tmp/build"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "test-kernel: built in $(($(date +%s) - start)) s" >&2
echo "$out"
