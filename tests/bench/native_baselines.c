// SPDX-License-Identifier: MIT
/*
 * native_baselines.c - the benchmark's baselines do what their figures
 *                      claim: host-native SVM maps GPU VA == host VA and
 *                      only what was registered, and the partitioned
 *                      space offsets, bounds and runs out as designed.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Built and run by tests/bench/smoke.sh (mk/bench.mk), with sanitizers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dev_sim.h"
#include "native.h"
#include "partition.h"

#define PG    4096ull
#define SZ_2M (2ull << 20)

struct env {
	struct vp_device *dev;
};

static int env_up(void **state)
{
	struct dev_sim_config dc = { .exec_units = 2, .mem_size = 64ull << 20 };
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->dev = dev_sim_create(&dc);
	*state = e;
	return e->dev ? 0 : -1;
}

static int env_down(void **state)
{
	struct env *e = *state;

	e->dev->ops->destroy(e->dev);
	free(e);
	return 0;
}

/* n bytes of host memory, 2 MiB aligned. */
static uint8_t *host_mem(uint64_t n)
{
	uint8_t *p = mmap(NULL, n + SZ_2M, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return (uint8_t *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
}

static struct vp_launch fill(uint64_t va, uint64_t bytes, uint32_t value)
{
	struct vp_launch l = { .kernel = VSVM_KERNEL_FILL, .nr_args = 3,
			       .args = { va, bytes / 4, value } };

	return l;
}

static struct vp_native *native(struct env *e, uint64_t window, int small)
{
	struct vp_native_config cfg = { .devices = &e->dev, .num_devices = 1,
					.va_bits = 48, .fault_window = window,
					.small_pages = small };
	struct vp_native *nc = vp_native_create(&cfg);

	assert_non_null(nc);
	return nc;
}

static void native_fault_maps_gpu_va_to_the_same_host_va(void **state)
{
	struct env *e = *state;
	struct vp_native *nc = native(e, 0, 0);
	uint8_t *buf = host_mem(4 * SZ_2M);
	struct vp_launch l = fill((uintptr_t)buf + PG, 8 * PG, 0xabcd1234);
	struct vp_native_stats st;
	uint32_t prot, i;
	void *hva;

	assert_int_equal(vp_native_register(nc, buf, 4 * SZ_2M, VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_native_launch(nc, 0, &l), 0);
	assert_int_equal(l.status, 0);
	for (i = 0; i < 8 * PG / 4; i++)
		assert_int_equal(((uint32_t *)(buf + PG))[i], 0xabcd1234);
	assert_int_not_equal(dev_sim_vm_translate(vp_native_vm(nc, 0),
						  (uintptr_t)buf + PG, &hva,
						  &prot),
			     0);
	assert_ptr_equal(hva, buf + PG);
	vp_native_stats(nc, &st);
	assert_true(st.faults >= 1);
	assert_int_equal(st.faults_failed, 0);
	vp_native_destroy(nc);
	munmap(buf, 4 * SZ_2M);
}

static void native_unregistered_memory_faults(void **state)
{
	struct env *e = *state;
	struct vp_native *nc = native(e, PG, 0);
	uint8_t *buf = host_mem(4 * PG);
	struct vp_launch l = fill((uintptr_t)buf + 2 * PG, PG, 1);

	/* Only the first two pages are the GPU's. */
	assert_int_equal(vp_native_register(nc, buf, 2 * PG, VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_native_launch(nc, 0, &l), 0);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(((uint32_t *)(buf + 2 * PG))[0], 0);
	/* Read-only memory refuses a write. */
	assert_int_equal(vp_native_register(nc, buf + 2 * PG, PG,
					    VSVM_PROT_READ),
			 0);
	l = fill((uintptr_t)buf + 2 * PG, PG, 1);
	assert_int_equal(vp_native_launch(nc, 0, &l), 0);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	vp_native_destroy(nc);
	munmap(buf, 4 * PG);
}

static void native_unregister_drops_exactly_the_range(void **state)
{
	struct env *e = *state;
	struct vp_native *nc = native(e, PG, 1);
	uint8_t *buf = host_mem(8 * PG);
	struct vp_launch l;
	uint32_t prot;
	void *hva;

	assert_int_equal(vp_native_register(nc, buf, 8 * PG, VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_native_populate(nc, 0, buf, 8 * PG), 0);
	vp_native_unregister(nc, buf + 3 * PG, PG);
	assert_int_equal(dev_sim_vm_translate(vp_native_vm(nc, 0),
					      (uintptr_t)buf + 3 * PG, &hva,
					      &prot),
			 0);
	assert_int_equal(dev_sim_vm_translate(vp_native_vm(nc, 0),
					      (uintptr_t)buf + 4 * PG, &hva,
					      &prot),
			 12);
	/* And it stays gone: a device access to it now faults. */
	l = fill((uintptr_t)buf + 3 * PG, PG, 7);
	assert_int_equal(vp_native_launch(nc, 0, &l), 0);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	vp_native_destroy(nc);
	munmap(buf, 8 * PG);
}

static void native_small_pages_use_4k_leaves(void **state)
{
	struct env *e = *state;
	struct vp_native *big = native(e, 0, 0), *small = native(e, 0, 1);
	uint8_t *buf = host_mem(2 * SZ_2M);
	uint32_t prot;
	void *hva;

	assert_int_equal(vp_native_register(big, buf, 2 * SZ_2M,
					    VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_native_register(small, buf, 2 * SZ_2M,
					    VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_native_populate(big, 0, buf, 2 * SZ_2M), 0);
	assert_int_equal(vp_native_populate(small, 0, buf, 2 * SZ_2M), 0);
	assert_int_equal(dev_sim_vm_translate(vp_native_vm(big, 0),
					      (uintptr_t)buf + SZ_2M, &hva,
					      &prot),
			 21);
	assert_int_equal(dev_sim_vm_translate(vp_native_vm(small, 0),
					      (uintptr_t)buf + SZ_2M, &hva,
					      &prot),
			 12);
	assert_ptr_equal(hva, buf + SZ_2M);
	vp_native_destroy(big);
	vp_native_destroy(small);
	munmap(buf, 2 * SZ_2M);
}

static void partition_offsets_bounds_and_runs_out(void **state)
{
	struct env *e = *state;
	struct vp_partition_config pc = { .device = e->dev, .va_bits = 48,
					  .slice = 1ull << 46,
					  .fault_window = PG };
	struct vp_partition *p = vp_partition_create(&pc);
	struct vp_partition_stats st;
	uint8_t *buf = host_mem(4 * PG);
	const uint64_t a = 1ull << 30;
	uint32_t s, slots[4], i;
	struct vp_launch l;

	assert_non_null(p);
	for (i = 0; i < 4; i++)
		assert_int_equal(vp_partition_attach(p, &slots[i]), 0);
	assert_int_equal(vp_partition_attach(p, &s), -ENOSPC);
	/* An address past the slice is beyond the process's GPU space. */
	assert_int_equal(vp_partition_register(p, slots[1], (1ull << 46) - PG,
					       2 * PG, buf, VSVM_PROT_ALL),
			 -ERANGE);
	assert_int_equal(vp_partition_register(p, slots[1], a, 4 * PG, buf,
					       VSVM_PROT_ALL),
			 0);
	assert_int_equal(vp_partition_gpu_va(p, slots[1], a),
			 (uint64_t)slots[1] * (1ull << 46) + a);
	l = fill(vp_partition_gpu_va(p, slots[1], a), 4 * PG, 0x77);
	assert_int_equal(vp_partition_launch(p, &l), 0);
	assert_int_equal(l.status, 0);
	assert_int_equal(((uint32_t *)buf)[4 * PG / 4 - 1], 0x77);
	/* The same process address in another slice is not mapped. */
	l = fill(vp_partition_gpu_va(p, slots[2], a), PG, 0x88);
	assert_int_equal(vp_partition_launch(p, &l), 0);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	vp_partition_detach(p, slots[1]);
	l = fill(vp_partition_gpu_va(p, slots[1], a), PG, 0x99);
	assert_int_equal(vp_partition_launch(p, &l), 0);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	vp_partition_stats(p, &st);
	assert_int_equal(st.slots, 4);
	assert_int_equal(st.attached, 3);
	vp_partition_destroy(p);
	munmap(buf, 4 * PG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			native_fault_maps_gpu_va_to_the_same_host_va, env_up,
			env_down),
		cmocka_unit_test_setup_teardown(
			native_unregistered_memory_faults, env_up, env_down),
		cmocka_unit_test_setup_teardown(
			native_unregister_drops_exactly_the_range, env_up,
			env_down),
		cmocka_unit_test_setup_teardown(
			native_small_pages_use_4k_leaves, env_up, env_down),
		cmocka_unit_test_setup_teardown(
			partition_offsets_bounds_and_runs_out, env_up,
			env_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
