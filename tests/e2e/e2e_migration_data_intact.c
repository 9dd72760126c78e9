// SPDX-License-Identifier: MIT
/*
 * e2e_migration_data_intact.c - guest-driven migration against the real
 * proxy code: data moved guest RAM -> device 0 -> device 1 (the host alone,
 * no system memory in between) stays intact for the device and for the
 * CPU; a guest CPU touch of device-resident data brings it back with
 * whatever a kernel wrote there; munmap frees the device memory; fork
 * brings it back before the copy-on-write split.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "e2e_test.h"

#define LEN  (1ull << 20)
#define SEED 0xc0ffee01u
#define DST  (E2E_VA + (16ull << 20))

static void test_device_to_device_keeps_data(void **state)
{
	struct e2e *e = *state;
	struct vsvmg_ctx_stats st;
	__u64 bytes = 0;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, E2E_VA, LEN);
	e2e_map(e, DST, LEN);
	e2e_fill(e, E2E_VA, LEN, SEED);

	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 0, &bytes),
			 0);
	assert_int_equal(bytes, LEN);
	assert_int_equal(e2e_guest_device(e, E2E_VA), 0);
	assert_int_equal(e2e_guest_device(e, E2E_VA + LEN - PG), 0);
	assert_true(e2e_mem_used(e, 0) >= LEN);

	if (!(vsvmg_ctx_features(e->p->ctx) & VSVM_F_PEER_MIGRATION))
		skip();
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 1, &bytes),
			 0);
	assert_int_equal(bytes, LEN);
	assert_int_equal(e2e_guest_device(e, E2E_VA), 1);
	assert_true(e2e_mem_used(e, 1) >= LEN);
	assert_true(e2e_mem_used(e, 0) < LEN);
	st = e2e_stats(e);
	assert_int_equal(st.migrated_to_device, LEN / PG);
	assert_int_equal(st.migrated_peer, LEN / PG);

	/* Device 1 reads it where it lies; the copy lands in guest RAM. */
	e2e_copy_on(e, 1, DST, E2E_VA, LEN);
	assert_true(e2e_holds(e, DST, LEN, SEED));
	/* The CPU reads the original: every page comes back intact. */
	assert_true(e2e_holds(e, E2E_VA, LEN, SEED));
	assert_int_equal(e2e_guest_device(e, E2E_VA), -1);
	assert_true(e2e_stats(e).migrated_to_system >= LEN / PG);
	assert_true(e2e_mem_used(e, 1) < LEN);
}

static void test_cpu_touch_brings_back_device_writes(void **state)
{
	struct e2e *e = *state;
	struct gsim_mm_stats ms;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, E2E_VA, LEN);
	e2e_fill(e, E2E_VA, LEN, SEED);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 1, NULL), 0);
	/* The kernel writes device memory, not guest RAM. */
	e2e_fill_on(e, 1, E2E_VA, LEN, 0xabcd1234u);
	assert_int_equal(e2e_guest_device(e, E2E_VA), 1);
	assert_true(e2e_holds_value(e, E2E_VA, LEN, 0xabcd1234u));
	gsim_mm_stats(e->p->mm, &ms);
	assert_true(ms.devmem_faults >= 1);
	assert_int_equal(ms.device_pages, 0);
	assert_int_equal(ms.migrated_in, LEN / PG);
	/* A CPU write after that goes to guest RAM, and the device sees it. */
	e2e_fill(e, E2E_VA, LEN, SEED + 1);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 0, NULL), 0);
	assert_true(e2e_holds(e, E2E_VA, LEN, SEED + 1));
}

static void test_munmap_frees_device_memory(void **state)
{
	struct e2e *e = *state;
	struct vsvmg_ctx_stats st;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, E2E_VA, LEN);
	e2e_fill(e, E2E_VA, LEN, SEED);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 0, NULL), 0);
	assert_true(e2e_mem_used(e, 0) >= LEN);
	st = e2e_stats(e);
	assert_int_equal(gsim_mm_munmap(e->p->mm, E2E_VA, LEN), 0);
	assert_int_equal(e2e_stats(e).invalidations, st.invalidations + 1);
	assert_true(e2e_mem_used(e, 0) < LEN);
}

static void test_fork_brings_back_first(void **state)
{
	struct e2e *e = *state;
	struct gsim_proc *child = NULL;
	struct gsim_mm_stats ms;
	struct e2e saved;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, E2E_VA, LEN);
	e2e_fill(e, E2E_VA, LEN, SEED);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, LEN, 1, NULL), 0);
	assert_int_equal(gsim_proc_fork(e->p, e->dev, 101, &child), 0);
	gsim_mm_stats(e->p->mm, &ms);
	assert_int_equal(ms.device_pages, 0);
	assert_int_equal(ms.migrated_in, LEN / PG);
	/* Both see the data; the child's writes stay its own. */
	saved = *e;
	e->p = child;
	assert_true(e2e_holds(e, E2E_VA, LEN, SEED));
	e2e_fill_on(e, 0, E2E_VA, LEN, 7);
	assert_true(e2e_holds_value(e, E2E_VA, LEN, 7));
	e->p = saved.p;
	gsim_proc_exit(child);
	assert_true(e2e_holds(e, E2E_VA, LEN, SEED));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 16 MiB there, across and back, timed (printed), data checked. */
static void test_migration_round_trip_timed(void **state)
{
	struct e2e *e = *state;
	const uint64_t len = 16ull << 20;
	double t0, t1, t2, t3;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	if (!(vsvmg_ctx_features(e->p->ctx) & VSVM_F_PEER_MIGRATION))
		skip();
	e2e_map(e, E2E_VA, len);
	e2e_fill(e, E2E_VA, len, SEED);
	t0 = now_s();
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, len, 0, NULL), 0);
	t1 = now_s();
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, len, 1, NULL), 0);
	t2 = now_s();
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, E2E_VA, len,
					   VSVM_LOC_SYSTEM, NULL),
			 0);
	t3 = now_s();
	print_message("16 MiB: guest RAM -> device 0 %.0f MiB/s, device 0 -> "
		      "device 1 %.0f MiB/s, device 1 -> guest RAM %.0f MiB/s "
		      "(guest-driven MIGRATE, ASan build)\n",
		      16 / (t1 - t0), 16 / (t2 - t1), 16 / (t3 - t2));
	assert_int_equal(e2e_guest_device(e, E2E_VA), -1);
	assert_true(e2e_holds(e, E2E_VA, len, SEED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_device_to_device_keeps_data, e2e_setup,
			e2e_teardown),
		cmocka_unit_test_setup_teardown(
			test_cpu_touch_brings_back_device_writes, e2e_setup,
			e2e_teardown),
		cmocka_unit_test_setup_teardown(test_munmap_frees_device_memory,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_fork_brings_back_first,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_migration_round_trip_timed,
						e2e_setup, e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
