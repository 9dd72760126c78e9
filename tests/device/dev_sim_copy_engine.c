// SPDX-License-Identifier: MIT
/*
 * dev_sim_copy_engine.c - the optional device-memory ops of device.h on
 * the simulated GPU: mem_alloc shares the pool with page tables, hands
 * out zeroed, aligned memory that maps with 2 MiB entries, and fails
 * cleanly when the pool is full; mem_free takes back any page-aligned
 * part; copy moves bytes between guest-RAM stand-ins and device memory of
 * this or a peer device, counted on the engine that did it; peer_access
 * holds between simulated devices.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dev_sim.h"

#define MIB (1ull << 20)

static struct vp_device *mk(uint32_t index, uint64_t mem)
{
	struct dev_sim_config c = { .index = index, .mem_size = mem };
	struct vp_device *d = dev_sim_create(&c);

	assert_non_null(d);
	return d;
}

static uint64_t used(struct vp_device *d)
{
	struct vp_device_info info;

	d->ops->info(d, &info);
	return info.mem_used;
}

static void ops_are_offered(void **state)
{
	struct vp_device *d = mk(0, 8 * MIB), *p = mk(1, 8 * MIB);

	(void)state;
	assert_non_null(d->ops->mem_alloc);
	assert_non_null(d->ops->mem_free);
	assert_non_null(d->ops->copy);
	assert_non_null(d->ops->peer_access);
	assert_true(d->ops->peer_access(d, p));
	assert_true(d->ops->peer_access(d, d));
	d->ops->destroy(d);
	p->ops->destroy(p);
}

static void alloc_shares_the_pool_and_frees_in_parts(void **state)
{
	struct vp_device *d = mk(0, 8 * MIB);
	uint8_t *a, *b;
	uint64_t i;

	(void)state;
	a = d->ops->mem_alloc(d, 2 * MIB, 2 * MIB);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % (2 * MIB), 0);
	assert_int_equal(used(d), 2 * MIB);
	for (i = 0; i < 2 * MIB; i++)
		if (a[i])
			fail_msg("byte %llu not zero", (unsigned long long)i);
	/* More than is left: NULL, nothing taken. */
	assert_null(d->ops->mem_alloc(d, 7 * MIB, 4096));
	assert_int_equal(used(d), 2 * MIB);
	/* Free the middle page, then the rest around it. */
	memset(a, 0xee, 2 * MIB);
	d->ops->mem_free(d, a + 4096, 4096);
	assert_int_equal(used(d), 2 * MIB - 4096);
	b = d->ops->mem_alloc(d, 4096, 4096);
	assert_true(b == a + 4096);
	assert_int_equal(b[0], 0);	/* zeroed again: no data leaks */
	d->ops->mem_free(d, a, 4096);
	d->ops->mem_free(d, a + 8192, 2 * MIB - 8192);
	d->ops->mem_free(d, b, 4096);
	assert_int_equal(used(d), 0);
	d->ops->destroy(d);
}

static void copy_engine_moves_and_counts(void **state)
{
	struct vp_device *d0 = mk(0, 8 * MIB), *d1 = mk(1, 8 * MIB);
	uint8_t *ram = malloc(MIB), *back = calloc(1, MIB), *m0, *m1;
	struct dev_sim_stats s0, s1;
	uint64_t i;

	(void)state;
	for (i = 0; i < MIB; i++)
		ram[i] = (uint8_t)(i * 7 + 3);
	m0 = d0->ops->mem_alloc(d0, MIB, 4096);
	m1 = d1->ops->mem_alloc(d1, MIB, 4096);
	assert_int_equal(d0->ops->copy(d0, m0, ram, MIB), 0);	/* in */
	assert_int_equal(d1->ops->copy(d1, m1, m0, MIB), 0);	/* peer */
	assert_int_equal(d1->ops->copy(d1, back, m1, MIB), 0);	/* out */
	assert_memory_equal(back, ram, MIB);
	dev_sim_get_stats(d0, &s0);
	dev_sim_get_stats(d1, &s1);
	assert_int_equal(s0.copies, 1);
	assert_int_equal(s0.copy_bytes, MIB);
	assert_int_equal(s1.copies, 2);
	assert_int_equal(s1.copy_bytes, 2 * MIB);
	d0->ops->mem_free(d0, m0, MIB);
	d1->ops->mem_free(d1, m1, MIB);
	assert_int_equal(used(d0), 0);
	assert_int_equal(used(d1), 0);
	free(ram);
	free(back);
	d0->ops->destroy(d0);
	d1->ops->destroy(d1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ops_are_offered),
		cmocka_unit_test(alloc_shares_the_pool_and_frees_in_parts),
		cmocka_unit_test(copy_engine_moves_and_counts),
	};

	return cmocka_run_group_tests_name("dev_sim_copy_engine", tests, NULL,
					   NULL);
}
