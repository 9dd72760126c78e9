# SPDX-License-Identifier: MIT
#
# bench.mk - vsvm-bench (issue 7): `make bench`, `make bench-quick`,
# `make bench-smoke`.
#
# The benchmark is built WITHOUT sanitizers, at -O2, into its own object
# directory: the rest of the tree is built with ASan/UBSan for the tests,
# which would distort every figure.  It links the proxy, the guest
# simulator and the guest shim core from source, plus bench/*.c and the
# host-native and partitioned baselines (proxy/native.c, proxy/partition.c).

BENCH_BIN    := $(BUILD)/vsvm-bench
BENCH_OUT    ?= $(BUILD)/bench
BENCH_OBJDIR := $(BUILD)/bench-obj
BENCH_SRCS   := $(wildcard bench/*.c) proxy/native.c proxy/partition.c \
		$(PROXY_SRCS) $(GUEST_SIM_SRCS)
BENCH_OBJS   := $(patsubst %.c,$(BENCH_OBJDIR)/%.o,$(BENCH_SRCS))
BENCH_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -I$(PROTO)/include \
		$(PROXY_INC) $(GUEST_INC) -Ibench

.PHONY: bench bench-quick bench-bin bench-smoke

$(BENCH_OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BENCH_OBJDIR) -name '*.d' 2>/dev/null)

$(BENCH_BIN): $(BENCH_OBJS)
	$(CC) $^ -lpthread -lm -o $@

bench-bin: $(BENCH_BIN)

# Full run: several minutes; the figures docs/performance.md records.
bench: deps
	@$(MAKE) --no-print-directory -j$$(nproc) bench-bin
	@$(BENCH_BIN) --out $(BENCH_OUT)

# CI-sized run: well under a minute.
bench-quick: deps
	@$(MAKE) --no-print-directory -j$$(nproc) bench-bin
	@$(BENCH_BIN) --quick --out $(BENCH_OUT)

# Quick run into its own directory and a check that the report is
# complete and well formed (not the figures).
bench-smoke:
	@tests/bench/smoke.sh

# The baselines' own test (host-native and partitioned VA spaces), with
# sanitizers like every other test; run by tests/bench/smoke.sh.  Kept out
# of build/tests/, whose binaries tests/run.sh runs on its own.
BENCH_TEST   := $(BUILD)/bench-tests/native_baselines
BENCH_TEST_SRCS := tests/bench/native_baselines.c proxy/native.c \
		   proxy/partition.c proxy/range_map.c $(DEVICE_SRCS) $(CODEC)

$(BENCH_TEST): $(call OBJ,$(BENCH_TEST_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN) $^ $(LIBS) -o $@

.PHONY: bench-test-bin
bench-test-bin: $(BENCH_TEST)
