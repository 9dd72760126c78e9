# SPDX-License-Identifier: MIT
#
# vsvm top-level build.  `make demo` and `make test` are the two commands a
# user needs; both install missing Debian packages first (`make deps`).

CC       ?= gcc
FUZZ_CC  ?= clang
BUILD    := build
PROTO    := virtio-proto
CODEC    := $(PROTO)/src/vsvm_codec.c
CODEC_H  := $(wildcard $(PROTO)/include/vsvm/*.h)

WARN     := -Wall -Wextra -Werror
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
CFLAGS   ?= -O1 -g
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) -I$(PROTO)/include

# Userspace components, as the link sets tests use.
MEMTABLE_SRCS  := proxy/memtable.c
TRANSPORT_SRCS := proxy/vring.c proxy/vhost_user.c \
		  proxy/virtio_gpu.c
DEVICE_SRCS    := proxy/pagetable.c $(wildcard proxy/dev_sim*.c) \
		  $(wildcard proxy/dev_kernel*.c)
SVM_SRCS       := proxy/svm.c proxy/context.c proxy/fault.c \
		  proxy/range_map.c proxy/migrate.c proxy/policy.c
GCORE_SRCS     := $(wildcard guest-shim/core/*.c)
GSIM_SRCS      := $(filter-out guest-shim/sim/main%.c,\
		  $(wildcard guest-shim/sim/*.c))
PROXY_INC      := -Iproxy -Ihost-kernel/include/uapi
GUEST_INC      := -Iguest-shim/core -Iguest-shim/sim
LIBS           := -lcmocka -lpthread -lm

# Test groups: tests/<group>/*.c, each file one cmocka executable.
GROUP_proto      := $(CODEC)
GROUP_transport  := $(TRANSPORT_SRCS) $(MEMTABLE_SRCS) $(CODEC)
GROUP_device     := $(DEVICE_SRCS) $(CODEC)
GROUP_svm        := $(SVM_SRCS) $(MEMTABLE_SRCS) $(DEVICE_SRCS) $(CODEC)
GROUP_guest-core := $(GCORE_SRCS) guest-shim/sim/os_user.c $(CODEC)
GROUP_guest-sim  := $(GSIM_SRCS) $(GCORE_SRCS) $(CODEC)
GROUP_e2e        := $(GSIM_SRCS) $(GCORE_SRCS) $(TRANSPORT_SRCS) \
		    $(MEMTABLE_SRCS) $(SVM_SRCS) $(DEVICE_SRCS) $(CODEC)
GROUP_isolation  := $(SVM_SRCS) $(MEMTABLE_SRCS) $(DEVICE_SRCS) $(CODEC)
GROUP_policy     := $(SVM_SRCS) $(MEMTABLE_SRCS) $(DEVICE_SRCS) $(CODEC)
GROUPS := proto transport device svm isolation policy guest-core guest-sim e2e

UNIT_BINS := $(foreach g,$(GROUPS),$(patsubst tests/$(g)/%.c,\
		$(BUILD)/tests/$(g)/%,$(wildcard tests/$(g)/*.c)))
TEST_INC  := -Itests/proto $(PROXY_INC) $(GUEST_INC)
ALL_HDRS  := $(CODEC_H) $(wildcard proxy/*.h guest-shim/core/*.h \
		guest-shim/sim/*.h tests/*/*.h)

FUZZ_BIN  := $(BUILD)/fuzz/fuzz_decode
TOOLS     := $(BUILD)/vsvm-protodump $(BUILD)/vsvm-proxy \
	     $(BUILD)/vsvm-guest-sim $(BUILD)/vsvm-stress

FUZZ_SECONDS ?= 60
export FUZZ_SECONDS

# Keep objects: make would delete them as intermediates.
.SECONDARY:

.PHONY: all deps demo test test-unit unit-bins fuzz fuzz-bin modules \
	modules-clean clean format help stress

all: $(TOOLS)

help:
	@echo "make demo       vsvm-proxy + 2 simulated GPUs + a simulated VM with 4 processes"
	@echo "make test       every test suite; ends with 'N passed, N failed'"
	@echo "make test-unit  userspace unit tests only (under a minute)"
	@echo "make fuzz       the decoder fuzzer for FUZZ_SECONDS (default 60)"
	@echo "make stress     coherency soak: make stress SECONDS=600 SEED=42"
	@echo "make bench      virtualization cost as ratios (build/bench/report.md); bench-quick: CI size"
	@echo "make modules    vsvm_host.ko and vsvm_guest.ko against Debian headers"
	@echo "make test-kernel vsvm_host.ko tests booted in QEMU: test kernel (KASAN, lockdep) and Debian's"
	@echo "make deps       install missing Debian packages (root)"

deps:
	@scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(TOOLS)
	@scripts/demo.sh

test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) unit-bins fuzz-bin $(TOOLS) \
		kernel-test-bin bench-bin
	@tests/run.sh --all

test-unit: deps
	@$(MAKE) --no-print-directory -j$$(nproc) unit-bins
	@tests/run.sh --unit

unit-bins: $(UNIT_BINS)

fuzz-bin: $(FUZZ_BIN)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-bin
	@tests/run.sh --fuzz

# Every source compiles once into build/obj (with header dependencies from
# -MMD); test executables and tools link those objects.
OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -D_GNU_SOURCE $(TEST_INC) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

define group_rule
$(BUILD)/tests/$(1)/%: $(BUILD)/obj/tests/$(1)/%.o $$(call OBJ,$$(GROUP_$(1)))
	@mkdir -p $$(@D)
	$$(CC) $$(SAN) $$^ $$(LIBS) -o $$@
endef
$(foreach g,$(GROUPS),$(eval $(call group_rule,$(g))))

$(FUZZ_BIN): tests/fuzz/fuzz_decode.c $(CODEC) $(CODEC_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -g -O1 $(WARN) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -I$(PROTO)/include $< $(CODEC) -o $@

$(BUILD)/vsvm-protodump: $(call OBJ,$(PROTO)/tools/vsvm_protodump.c $(CODEC))
	$(CC) $(SAN) $^ -o $@

PROXY_SRCS := $(MEMTABLE_SRCS) $(TRANSPORT_SRCS) $(SVM_SRCS) $(DEVICE_SRCS) \
	      $(CODEC)

# Tools are built with sanitizers too: demo and tests then double as checks.
$(BUILD)/vsvm-proxy: $(call OBJ,proxy/main.c $(PROXY_SRCS))
	$(CC) $(SAN) $^ -lpthread -lm -o $@

GUEST_SIM_SRCS := $(GSIM_SRCS) $(GCORE_SRCS) $(CODEC)

$(BUILD)/vsvm-guest-sim: $(call OBJ,guest-shim/sim/main.c $(GUEST_SIM_SRCS))
	$(CC) $(SAN) $^ -lpthread -o $@

# Each larger subsystem (test kernel, benchmarks) keeps its rules in mk/.
-include $(sort $(wildcard mk/*.mk))

$(BUILD)/vsvm-stress: $(call OBJ,guest-shim/sim/main_stress.c $(GUEST_SIM_SRCS))
	$(CC) $(SAN) $^ -lpthread -o $@

# The long soak: make stress SECONDS=600 SEED=42
stress: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(TOOLS)
	@STRESS_SECONDS=$(or $(SECONDS),20) STRESS_SEED=$(or $(SEED),1) \
		tests/stress/stress.sh

modules: deps
	@$(MAKE) --no-print-directory -C host-kernel
	@$(MAKE) --no-print-directory -C guest-shim

modules-clean:
	@$(MAKE) --no-print-directory -C host-kernel clean
	@$(MAKE) --no-print-directory -C guest-shim clean

format:
	clang-format -i $(CODEC) $(PROTO)/tools/*.c

clean: modules-clean
	rm -rf $(BUILD)
