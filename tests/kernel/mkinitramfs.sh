#!/bin/sh
# SPDX-License-Identifier: MIT
#
# mkinitramfs.sh OUT MODULE TEST - pack the test initramfs.
#
#   OUT     the .cpio.gz to write
#   MODULE  vsvm_host.ko built for the kernel that boots it
#   TEST    the static test program (build/kernel/vsvmh_test)
#
# Contents: busybox-static (its applets are linked at boot), /init
# (tests/kernel/init.sh), /vsvm/vsvm_host.ko, /vsvm/vsvmh_test, and every
# extra scenario tests/kernel/guest.d/*.sh.  A scenario that needs host
# programs lists them in tests/kernel/guest.d/*.files, one path a line
# ('#' starts a comment): a path relative to the repository root lands at
# /vsvm/PATH (scenarios run in /vsvm, so "build/vsvm-proxy" works), an
# absolute one at the same path; dynamically linked programs bring their
# libraries and loader (found with ldd).  A listed file that does not exist
# fails the packing, so a scenario never runs half-installed.
set -eu

out=$1
module=$2
test=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$out.d
busybox=/bin/busybox

# ldd fails on a static program (and on scripts).
is_dynamic() { ldd "$1" >/dev/null 2>&1; }

if [ ! -x "$busybox" ] || is_dynamic "$busybox"; then
	echo "mkinitramfs: $busybox is not static; install busybox-static" >&2
	exit 1
fi

rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" \
	"$stage/tmp" "$stage/vsvm/guest.d"
cp "$busybox" "$stage/bin/busybox"
cp "$top/tests/kernel/init.sh" "$stage/init"
chmod 755 "$stage/init"
cp "$module" "$stage/vsvm/vsvm_host.ko"
cp "$test" "$stage/vsvm/vsvmh_test"
# The console node, for a kernel that opens it before devtmpfs is mounted.
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 600 "$stage/dev/console" c 5 1
fi

# install_file SRC DST: copy one file, keeping its mode.
install_file() {
	mkdir -p "$(dirname "$2")"
	cp -L "$1" "$2"
}

# install_libs PATH: the libraries and the loader of a dynamic program.
install_libs() {
	ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
	while read -r lib; do
		[ -e "$stage$lib" ] || install_file "$lib" "$stage$lib"
	done
}

for s in "$top"/tests/kernel/guest.d/*.sh; do
	[ -f "$s" ] || continue
	cp "$s" "$stage/vsvm/guest.d/"
done
for list in "$top"/tests/kernel/guest.d/*.files; do
	[ -f "$list" ] || continue
	sed 's/#.*//' "$list" | while read -r path; do
		[ -n "$path" ] || continue
		case $path in
		/*) src=$path dst=$stage$path ;;
		*) src=$top/$path dst=$stage/vsvm/$path ;;
		esac
		if [ ! -e "$src" ]; then
			echo "mkinitramfs: $list names $path, which is missing" >&2
			exit 1
		fi
		install_file "$src" "$dst"
		if is_dynamic "$src"; then
			install_libs "$src"
		fi
	done
done

(cd "$stage" && find . -print | sort | cpio -o -H newc --quiet -R 0:0) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$stage"
echo "$out"
