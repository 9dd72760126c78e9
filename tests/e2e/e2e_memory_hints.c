// SPDX-License-Identifier: MIT
/*
 * e2e_memory_hints.c - memory hints against the real proxy code, judged
 * by what a guest can see (launch fault counts, QUERY's per-device memory
 * use, the data): ACCESSED_BY avoids faults; READ_MOSTLY replicas are
 * made for a reading device and collapse on a write, and no device reads
 * stale data; a working set of 150% of device memory completes with
 * verified results (the host evicts through MIGRATE_REQs to SYSTEM that
 * the guest serves); a granule bouncing between a reader's replica and
 * its writer stops being copied once the host detects thrashing.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e_test.h"

#define LEN  (1ull << 20)
#define SEED 0x5eed0042u

static void test_accessed_by_avoids_faults(void **state)
{
	struct e2e *e = *state;
	const uint64_t a = E2E_VA, b = E2E_VA + (8ull << 20);
	const uint64_t dst = E2E_VA + (16ull << 20);
	uint64_t fa, fb;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, a, LEN);
	e2e_map(e, b, LEN);
	e2e_map(e, dst, LEN);
	e2e_fill(e, a, LEN, SEED);
	e2e_fill(e, b, LEN, SEED + 1);
	e2e_set_attr(e, a, LEN, VSVM_ATTR_ACCESSED_BY, 3);
	/* Both ranges live on device 0; the destination on device 1. */
	assert_int_equal(vsvmg_ctx_prefetch(e->p->ctx, a, LEN, 0, NULL), 0);
	assert_int_equal(vsvmg_ctx_prefetch(e->p->ctx, b, LEN, 0, NULL), 0);
	assert_int_equal(vsvmg_ctx_prefetch(e->p->ctx, dst, LEN, 1, NULL), 0);

	fa = e2e_copy_on(e, 1, dst, a, LEN);
	assert_true(e2e_holds(e, dst, LEN, SEED));
	assert_int_equal(vsvmg_ctx_prefetch(e->p->ctx, dst, LEN, 1, NULL), 0);
	fb = e2e_copy_on(e, 1, dst, b, LEN);
	assert_true(e2e_holds(e, dst, LEN, SEED + 1));
	print_message("device 1 reading device 0's data: %" PRIu64
		      " faults with ACCESSED_BY, %" PRIu64 " without\n",
		      fa, fb);
	assert_int_equal(fa, 0);
	assert_true(fb > 0);
}

static void test_read_mostly_replicas_collapse(void **state)
{
	struct e2e *e = *state;
	const uint64_t r = E2E_VA, dst = E2E_VA + (8ull << 20);
	uint64_t with_replica, after_write;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, r, LEN);
	e2e_map(e, dst, LEN);
	e2e_fill(e, r, LEN, SEED);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, r, LEN, 0, NULL), 0);
	e2e_set_attr(e, r, LEN, VSVM_ATTR_READ_MOSTLY, 1);

	/* Device 1 reads: a read-only replica of device 0's data. */
	e2e_copy_on(e, 1, dst, r, LEN);
	assert_true(e2e_holds(e, dst, LEN, SEED));
	with_replica = e2e_mem_used(e, 1);
	/* Device 0 writes: the replicas collapse before the write lands. */
	e2e_fill_on(e, 0, r, LEN, 0x0badf00du);
	after_write = e2e_mem_used(e, 1);
	/* Device 1 reads again: the new data, never its old copy. */
	e2e_copy_on(e, 1, dst, r, LEN);
	assert_true(e2e_holds_value(e, dst, LEN, 0x0badf00du));
	assert_true(e2e_holds_value(e, r, LEN, 0x0badf00du));
	print_message("device 1 memory: %" PRIu64
		      " KiB with the replica, %" PRIu64
		      " KiB after device 0 wrote\n",
		      with_replica >> 10, after_write >> 10);
	assert_true(with_replica >= LEN);
	assert_true(after_write < LEN);
}

/* 150% of device memory, worked on by one device. */
static void test_oversubscription_completes(void **state)
{
	struct e2e *e = *state;
	const uint64_t dev_mem = 8ull << 20, len = dev_mem * 3 / 2;
	struct vsvmg_ctx_stats st;
	uint32_t pass;

	e2e_start(e, 1, dev_mem);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, E2E_VA, len);
	e2e_fill(e, E2E_VA, len, SEED);
	e2e_set_attr(e, E2E_VA, len, VSVM_ATTR_PREFERRED_LOC, 0);
	/* Moves what fits: running out of device memory is no error here. */
	assert_int_equal(vsvmg_ctx_prefetch(e->p->ctx, E2E_VA, len, 0, NULL),
			 0);
	for (pass = 0; pass < 3; pass++) {
		e2e_fill_on(e, 0, E2E_VA, len, 0x1000u + pass);
		assert_true(e2e_holds_value(e, E2E_VA, len, 0x1000u + pass));
	}
	st = e2e_stats(e);
	print_message("150%% of device memory: %llu pages to the device, "
		      "%llu back, %llu MIGRATE_REQs served\n",
		      (unsigned long long)st.migrated_to_device,
		      (unsigned long long)st.migrated_to_system,
		      (unsigned long long)st.migrate_reqs);
	assert_true(st.migrated_to_device > 0);
	/* The host worked through the guest: MIGRATE_REQs were served. */
	assert_true(st.migrate_reqs > 0);
	assert_true(e2e_mem_used(e, 0) <= dev_mem);
}

/*
 * Thrashing: device 1 reads a READ_MOSTLY range (a replica is made on it),
 * device 0 writes it (the replicas collapse: a move), round after round.
 * The host counts the moves of the granule; after thrash_migrations of
 * them within thrash_window_ms it pins the granule and stops copying:
 * device 1 then reads device 0's memory where it is.  Every read must see
 * the last write either way.
 */
static void test_thrashing_stops_migration(void **state)
{
	struct e2e *e = *state;
	const uint64_t len = 2ull << 20; /* one granule */
	const uint64_t r = E2E_VA, dst = E2E_VA + (8ull << 20);
	const uint32_t rounds = 12;
	uint32_t i, early = 0, late = 0;

	e2e_start(e, 2, 64ull << 20);
	E2E_NEED_DEVMEM(e);
	e2e_map(e, r, len);
	e2e_map(e, dst, len);
	e2e_fill(e, r, len, SEED);
	assert_int_equal(vsvmg_ctx_migrate(e->p->ctx, r, len, 0, NULL), 0);
	e2e_set_attr(e, r, len, VSVM_ATTR_READ_MOSTLY, 1);
	for (i = 0; i < rounds; i++) {
		e2e_copy_on(e, 1, dst, r, len);
		if (i == 0)
			assert_true(e2e_holds(e, dst, len, SEED));
		else
			assert_true(e2e_holds_value(e, dst, len, 100 + i - 1));
		if (e2e_mem_used(e, 1) >= len) {
			/* A replica was made for this read: a copy. */
			if (i < rounds / 2)
				early++;
			else
				late++;
		}
		e2e_fill_on(e, 0, r, len, 100 + i);
	}
	assert_true(e2e_holds_value(e, r, len, 100 + rounds - 1));
	print_message("%u read/write rounds: replicas made in %u of the first "
		      "%u, %u of the last %u\n",
		      rounds, early, rounds / 2, late, rounds - rounds / 2);
	/* Copies followed the reader at first, then stopped. */
	assert_true(early >= 2);
	assert_int_equal(late, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accessed_by_avoids_faults,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(
			test_read_mostly_replicas_collapse, e2e_setup,
			e2e_teardown),
		cmocka_unit_test_setup_teardown(test_oversubscription_completes,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_thrashing_stops_migration,
						e2e_setup, e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
