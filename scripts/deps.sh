#!/bin/sh
# SPDX-License-Identifier: MIT
#
# deps.sh - install the Debian 12 packages vsvm needs, without questions.
#
# Idempotent: when every package is already installed it does nothing and
# needs no network and no root.  Otherwise it must run as root, and says so
# clearly when it does not.
set -eu

# Why each one:
#   build-essential      gcc, make, libc headers for the userspace parts
#   clang libclang-rt-14-dev   libFuzzer and sanitizer runtimes (fuzz target)
#   libcmocka-dev        the userspace unit-test framework
#   linux-headers-amd64  Debian's kernel headers, to build the modules
#   kmod                 modinfo, to check what was built
#   libbsd-dev           <bsd/sys/tree.h>: the red-black tree of range maps
#   qemu-system-gui      QEMU's own vhost-user-gpu backend: a known-good
#                        peer that validates the guest simulator's frontend
#   spin                 model checker for the coherency protocol model
#   linux-source-6.1     the test kernel's source (DEVICE_PRIVATE on)
#   bc bison flex libelf-dev libssl-dev   what building that kernel needs
#   busybox-static cpio  the test initramfs (shell, tools) and its packing
#   qemu-system-x86      boots the test kernels under TCG
#   gnuplot-nox          the benchmark's PNG plots
#   python3              the benchmark smoke test parses report.json with it
PACKAGES="build-essential clang libclang-rt-14-dev libcmocka-dev \
linux-headers-amd64 kmod libbsd-dev qemu-system-gui spin \
linux-source-6.1 bc bison flex libelf-dev libssl-dev busybox-static cpio \
qemu-system-x86 gnuplot-nox python3"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	     grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run 'make deps' as root, or: apt-get install$missing" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
