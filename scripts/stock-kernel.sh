#!/bin/sh
# SPDX-License-Identifier: MIT
#
# stock-kernel.sh - fetch (once) Debian's stock kernel image, the one that
#                   matches linux-headers-amd64, for the module tests.
#
# Prints the path of the cached directory: vmlinuz, config and the image's
# lib/modules tree.  The kernel is the same ABI as the installed
# linux-headers-amd64, so a module built against those headers loads in it.
# The cache lives outside the clone, under $VSVM_CACHE (default
# /var/cache/vsvm), keyed by the package version; a second call prints the
# path and does nothing else.  It needs only the Debian mirror: the .deb is
# fetched with "apt-get download" and unpacked with "dpkg-deb -x" (no
# installation, no initramfs-tools, no root beyond writing the cache).
set -eu

cache=${VSVM_CACHE:-/var/cache/vsvm}

# linux-headers-amd64 depends on linux-headers-<abi>-amd64 (= <version>).
dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null) || {
	echo "stock-kernel: linux-headers-amd64 is not installed;" \
	     "run 'make deps' as root" >&2
	exit 1
}
abi=$(echo "$dep" | sed -n 's/.*linux-headers-\([0-9.-]*\)-amd64.*/\1/p')
ver=$(echo "$dep" | sed -n 's/.*(= *\([^)]*\)).*/\1/p')
if [ -z "$abi" ] || [ -z "$ver" ]; then
	echo "stock-kernel: cannot read the ABI from '$dep'" >&2
	exit 1
fi
pkg=linux-image-$abi-amd64-unsigned
out=$cache/stock-$abi-amd64-$ver
if [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.stock.lock"
flock 9
if [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/deb"
echo "stock-kernel: fetching $pkg $ver (once; cached in $cache)" >&2
if ! (cd "$tmp/deb" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1); then
	# Stale package lists: refresh them once (root only) and retry.
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
	fi
	(cd "$tmp/deb" && apt-get download -q "$pkg=$ver" >/dev/null) || {
		echo "stock-kernel: 'apt-get download $pkg=$ver' failed" >&2
		rm -rf "$tmp"
		exit 1
	}
fi
dpkg-deb -x "$tmp"/deb/*.deb "$tmp/root"
cp "$tmp/root/boot/vmlinuz-$abi-amd64" "$tmp/vmlinuz"
cp "$tmp/root/boot/config-$abi-amd64" "$tmp/config"
mv "$tmp/root/lib/modules/$abi-amd64" "$tmp/modules"
rm -rf "$tmp/deb" "$tmp/root"
echo "$abi-amd64" >"$tmp/release"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
