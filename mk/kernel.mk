# SPDX-License-Identifier: MIT
#
# Booted-kernel tests of vsvm_host.ko (tests/kernel/, docs/kernel-tests.md).
#
#   make test-kernel                   both kernels: custom (lockdep, KASAN,
#                                      DEVICE_PRIVATE) and Debian's stock one
#   make test-kernel KERNELS=stock     one kernel only
#   make test-kernel TESTS=fault,anon  only the cases whose names contain
#                                      one of these words
#
# The first run builds the test kernel (scripts/test-kernel.sh, ~9 min
# on 2 cores) and fetches the stock one (scripts/stock-kernel.sh); both are
# cached outside the clone, so later runs take a minute or two.

KTEST_BIN := $(BUILD)/kernel/vsvmh_test
KTEST_SRC := tests/kernel/vsvmh_test.c
KTEST_HDR := tests/kernel/harness.h host-kernel/include/uapi/linux/vsvm_host.h
KERNELS   ?= custom stock

# Programs the extra scenarios (tests/kernel/guest.d/*.files) take from
# build/: made before the initramfs is packed.
KTEST_FILES := $(shell sed 's/\#.*//' tests/kernel/guest.d/*.files \
		 2>/dev/null | grep -o '^build/[^ ]*')

.PHONY: test-kernel kernel-test-bin

kernel-test-bin: $(KTEST_BIN)

# Static: the initramfs has no libc.  The uapi header comes from the tree,
# not from the installed kernel headers.
$(KTEST_BIN): $(KTEST_SRC) $(KTEST_HDR)
	@mkdir -p $(@D)
	$(CC) -static -std=gnu11 -O2 -g -Wall -Wextra -Wno-sign-compare -Wno-override-init -Werror \
		-Ihost-kernel/include/uapi -Itests/kernel $< -o $@ -lpthread

test-kernel: deps
	@$(MAKE) --no-print-directory -j$$(nproc) kernel-test-bin $(KTEST_FILES)
	@VSVM_TESTS=$(TESTS) tests/kernel/run-all.sh $(KERNELS)
