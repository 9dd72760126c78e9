// SPDX-License-Identifier: MIT
/*
 * guest_mm_device_private.c - device-private entries in the simulated
 * guest page table, driven through gsim_mm_ops.migrate_setup/finalize as
 * the shim core drives them: setup names its owner to the notifier and
 * puts migration entries in; finalize installs device-private entries and
 * frees the source frames, or restores; range_fault reports a device page
 * without bringing it back; a CPU read or write of one calls the devmem
 * fault callback (migrate_to_ram), which brings the data back intact;
 * munmap invalidates device-private pages and drops them; mprotect and
 * fork bring them back first; a CPU access waits for a migration in
 * flight.  The "device" is this test: it keeps the pages' bytes.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "vsvmg.h"
#include "gsim_mm_test.h"

#define RW    (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define VA    0x40000000ull
#define N     8u
#define OWNER ((const void *)0x0dd0)

/* The test's device memory: page i of the range. */
static uint8_t devmem[N][4096];

static __u64 src[VSVMG_MIGRATE_PAGES], dst[VSVMG_MIGRATE_PAGES];

/* Move [VA, VA + n pages) to device dev, copying the bytes out. */
static int to_device(struct fixture *f, unsigned int n, __u32 dev)
{
	__u64 seq;
	unsigned int i;
	int got;

	got = gsim_mm_ops.migrate_setup(f->mm, VA, n, dev, OWNER, src, dst,
					&seq);
	for (i = 0; i < n; i++) {
		uint8_t *p;

		if (!(src[i] & VSVMG_PFN_MIGRATE) ||
		    (src[i] & VSVMG_PFN_DEVICE))
			continue;
		p = gsim_ram_ptr(f->ram, src[i] & ~0xfffull, PG);
		memcpy(devmem[i], p, PG);
	}
	gsim_mm_ops.migrate_finalize(f->mm, VA, n, src, dst);
	return got;
}

/* The devmem fault callback: bring [va, va + len) back from "device". */
static int back_to_ram(void *arg, uint64_t va, uint64_t len)
{
	struct fixture *f = arg;
	__u64 s[VSVMG_MIGRATE_PAGES], d[VSVMG_MIGRATE_PAGES], seq;
	uint64_t start = va & ~(PG - 1);
	unsigned int n = (unsigned int)((va + len - start + PG - 1) / PG), i;

	if (gsim_mm_ops.migrate_setup(f->mm, start, n, VSVM_LOC_SYSTEM, OWNER,
				      s, d, &seq) < 0)
		return -EIO;
	for (i = 0; i < n; i++) {
		if (!(s[i] & VSVMG_PFN_MIGRATE))
			continue;
		memcpy(gsim_ram_ptr(f->ram, d[i] & ~0xfffull, PG),
		       devmem[(start - VA) / PG + i], PG);
	}
	gsim_mm_ops.migrate_finalize(f->mm, start, n, s, d);
	return 0;
}

static void setup_range(struct fixture *f)
{
	unsigned int i;

	map(f->mm, VA, N * PG, RW, GSIM_MAP_FIXED);
	for (i = 0; i < N; i++)
		fill(f->mm, VA + i * PG, PG, (uint8_t)(0x10 + i));
	gsim_mm_set_devmem_fault(f->mm, back_to_ram, f);
	f->log.calls = 0;
}

static void test_to_device_and_touch_back(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_stats st;
	uint64_t used, pte;
	__u64 out[N];
	unsigned int i;
	uint8_t b;

	setup_range(f);
	used = gsim_ram_pages_used(f->ram);
	assert_int_equal(to_device(f, N, 1), N);
	/* One notifier call, naming the owner, for the collected span. */
	assert_int_equal(f->log.calls, 1);
	assert_ptr_equal(f->log.owner[0], OWNER);
	assert_int_equal(f->log.va[0], VA);
	assert_int_equal(f->log.len[0], N * PG);
	for (i = 0; i < N; i++) {
		pte = gsim_mm_pte(f->mm, VA + i * PG);
		assert_true(pte & GSIM_PTE_DEVICE);
		assert_false(pte & (GSIM_PTE_PRESENT | GSIM_PTE_MIGRATION));
		assert_int_equal(GSIM_PTE_DEV(pte), 1);
		assert_true(pte & GSIM_PTE_WRITE);
	}
	/* The source frames went back to the allocator. */
	assert_int_equal(gsim_ram_pages_used(f->ram), used - N);
	gsim_mm_stats(f->mm, &st);
	assert_int_equal(st.device_pages, N);
	assert_int_equal(st.migrated_out, N);

	/* The owner's range_fault sees device pages and leaves them. */
	assert_int_equal(gsim_mm_range_fault(f->mm, VA, N, VA + PG, 1, 0, out),
			 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(out[i] & (VSVMG_PFN_DEVICE | VSVMG_PFN_VALID),
				 VSVMG_PFN_DEVICE);
		assert_int_equal(VSVMG_PFN_DEV(out[i]), 1);
	}
	assert_true(gsim_mm_pte(f->mm, VA + PG) & GSIM_PTE_DEVICE);

	/* A CPU read brings one page back with its data. */
	assert_int_equal(gsim_mm_read(f->mm, VA + 3 * PG + 5, &b, 1), 0);
	assert_int_equal(b, 0x13);
	assert_true(gsim_mm_pte(f->mm, VA + 3 * PG) & GSIM_PTE_PRESENT);
	assert_true(gsim_mm_pte(f->mm, VA + 4 * PG) & GSIM_PTE_DEVICE);
	/* A CPU write of another, then everything reads back intact. */
	b = 0x77;
	assert_int_equal(gsim_mm_write(f->mm, VA + 6 * PG, &b, 1), 0);
	for (i = 0; i < N; i++)
		if (i != 6)
			assert_true(holds(f->mm, VA + i * PG, PG,
					  (uint8_t)(0x10 + i)));
	assert_true(holds(f->mm, VA + 6 * PG, 1, 0x77));
	assert_true(holds(f->mm, VA + 6 * PG + 1, PG - 1, 0x16));
	gsim_mm_stats(f->mm, &st);
	assert_int_equal(st.device_pages, 0);
	assert_int_equal(st.migrated_in, N);
	assert_true(st.devmem_faults >= 2);
	/* Own migrations only: no ordinary invalidation happened. */
	for (i = 0; i < f->log.calls; i++)
		assert_ptr_equal(f->log.owner[i], OWNER);
}

static void test_failed_migration_restores(void **state)
{
	struct fixture *f = *state;
	uint64_t used, pte;
	__u64 seq;
	unsigned int i;

	setup_range(f);
	used = gsim_ram_pages_used(f->ram);
	assert_int_equal(gsim_mm_ops.migrate_setup(f->mm, VA, N, 0, OWNER, src,
						   dst, &seq),
			 N);
	pte = gsim_mm_pte(f->mm, VA);
	assert_true(pte & GSIM_PTE_MIGRATION);
	for (i = 0; i < N; i++)
		src[i] &= ~VSVMG_PFN_MIGRATE; /* the device refused */
	gsim_mm_ops.migrate_finalize(f->mm, VA, N, src, dst);
	for (i = 0; i < N; i++) {
		pte = gsim_mm_pte(f->mm, VA + i * PG);
		assert_int_equal(pte & (GSIM_PTE_PRESENT | GSIM_PTE_WRITE |
					GSIM_PTE_MIGRATION | GSIM_PTE_DEVICE),
				 GSIM_PTE_PRESENT | GSIM_PTE_WRITE);
		assert_true(holds(f->mm, VA + i * PG, PG, (uint8_t)(0x10 + i)));
	}
	assert_int_equal(gsim_ram_pages_used(f->ram), used);
}

static void test_munmap_drops_device_pages(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_stats st;

	setup_range(f);
	assert_int_equal(to_device(f, N, 0), N);
	f->log.calls = 0;
	assert_int_equal(gsim_mm_munmap(f->mm, VA + 2 * PG, 3 * PG), 0);
	/* An ordinary invalidation (UNMAP): the device frees its memory. */
	assert_int_equal(f->log.calls, 1);
	assert_null(f->log.owner[0]);
	assert_int_equal(f->log.va[0], VA + 2 * PG);
	assert_int_equal(f->log.len[0], 3 * PG);
	gsim_mm_stats(f->mm, &st);
	assert_int_equal(st.device_pages, N - 3);
	/* Teardown checks that exit leaks nothing of the rest. */
}

static void test_mprotect_and_fork_bring_back(void **state)
{
	struct fixture *f = *state;
	struct gsim_mm_stats st;
	struct gsim_mm *child;
	unsigned int i;

	setup_range(f);
	assert_int_equal(to_device(f, N, 1), N);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, 2 * PG, GSIM_PROT_READ),
			 0);
	assert_true(gsim_mm_pte(f->mm, VA) & GSIM_PTE_PRESENT);
	assert_false(gsim_mm_pte(f->mm, VA) & GSIM_PTE_WRITE);
	assert_true(gsim_mm_pte(f->mm, VA + 2 * PG) & GSIM_PTE_DEVICE);
	assert_true(holds(f->mm, VA, PG, 0x10));

	child = gsim_mm_fork(f->mm);
	assert_non_null(child);
	gsim_mm_stats(f->mm, &st);
	assert_int_equal(st.device_pages, 0);
	for (i = 0; i < N; i++) {
		assert_true(holds(child, VA + i * PG, PG, (uint8_t)(0x10 + i)));
		assert_true(holds(f->mm, VA + i * PG, PG, (uint8_t)(0x10 + i)));
	}
	gsim_mm_destroy(child);
}

/* Without a devmem callback, a CPU access to device memory faults. */
static void test_no_callback_faults(void **state)
{
	struct fixture *f = *state;
	uint8_t b;

	setup_range(f);
	assert_int_equal(to_device(f, N, 0), N);
	gsim_mm_set_devmem_fault(f->mm, NULL, NULL);
	assert_int_equal(gsim_mm_read(f->mm, VA, &b, 1), -EFAULT);
	assert_int_equal(gsim_mm_mprotect(f->mm, VA, PG, GSIM_PROT_READ), -EIO);
	assert_null(gsim_mm_fork(f->mm));
}

struct toucher {
	struct fixture *f;
	uint8_t byte;
	int ret;
	int done;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;

	t->ret = gsim_mm_read(t->f->mm, VA + PG, &t->byte, 1);
	__atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* A CPU access to a migration entry waits until the migration ends. */
static void test_cpu_waits_for_migration(void **state)
{
	struct fixture *f = *state;
	struct toucher t = { .f = f };
	pthread_t th;
	__u64 seq;
	unsigned int i;

	setup_range(f);
	assert_int_equal(gsim_mm_ops.migrate_setup(f->mm, VA, N, 1, OWNER, src,
						   dst, &seq),
			 N);
	pthread_create(&th, NULL, touch, &t);
	usleep(50 * 1000);
	assert_false(__atomic_load_n(&t.done, __ATOMIC_SEQ_CST));
	for (i = 0; i < N; i++)
		src[i] &= ~VSVMG_PFN_MIGRATE;
	gsim_mm_ops.migrate_finalize(f->mm, VA, N, src, dst);
	pthread_join(th, NULL);
	assert_int_equal(t.ret, 0);
	assert_int_equal(t.byte, 0x11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_to_device_and_touch_back,
						fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_failed_migration_restores,
						fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_munmap_drops_device_pages,
						fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(
			test_mprotect_and_fork_bring_back, fixture_setup,
			fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_callback_faults,
						fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cpu_waits_for_migration,
						fixture_setup,
						fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
