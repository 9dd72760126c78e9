// SPDX-License-Identifier: MIT
/*
 * core_migrate_guest_driven.c - the core's migrate_vma path (protocol.md
 * 7.8, 10.4): a move to a device is MAP + MIGRATE naming the pages that
 * hold the data, the core's own invalidation sends no UNMAP, a refused
 * MIGRATE restores the page table, a racing invalidation makes the core
 * set up again without naming the page it lost, the way back names new
 * guest pages, and MIGRATE_REQ / PREFETCH_DONE events are served.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x40000000ull
#define G  (GPA_BASE)
#define N  8u /* pages */

static void start_with_devmem(struct core_fx *fx)
{
	fx->h->caps.features = VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION;
	fm_set_range(fx->mm, VA, G, N, 1);
	fx_start(fx);
}

static unsigned int dev_pages(struct core_fx *fx, __u32 dev)
{
	struct fm_page pg;
	unsigned int i, n = 0;

	for (i = 0; i < N; i++)
		if (fm_lookup(fx->mm, VA + i * PG, &pg) && pg.dev == dev + 1 &&
		    !pg.migrating)
			n++;
	return n;
}

static void test_to_device_is_map_then_migrate(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;
	struct fh_rec map, mig;
	__u64 bytes = 0;

	start_with_devmem(fx);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, &bytes), 0);
	assert_int_equal(bytes, N * PG);

	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 1);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MIGRATE), 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 0, &map));
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 0, &mig));
	assert_int_equal(map.sub_no, mig.sub_no);
	assert_int_equal(map.va, VA);
	assert_int_equal(map.len, N * PG);
	assert_int_equal(map.prot, VSVM_PROT_ALL);
	assert_int_equal(mig.prot, 1); /* location */
	assert_int_equal(mig.seq, 0);  /* request_id */
	assert_int_equal(mig.nr, 1);
	assert_int_equal(mig.runs[0].gpa, G);
	assert_int_equal(mig.runs[0].len, N * PG);

	/* Own invalidation: no UNMAP; the source pages were released. */
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 0);
	assert_int_equal(fx->mm->owned_notifies, 1);
	assert_int_equal(fx->mm->nr_freed, N);
	assert_int_equal(fx->mm->freed[0], G);
	assert_int_equal(dev_pages(fx, 1), N);
	assert_null(fx_incoherent(fx));

	st = fx_stats(fx);
	assert_int_equal(st.migrated_to_device, N);
	assert_int_equal(st.migrates, 1);
	assert_int_equal(st.own_invalidations, 1);
	assert_int_equal(st.invalidations, 0);

	/* Already there: nothing to collect, nothing sent. */
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL), 0);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MIGRATE), 1);
}

static void test_device_to_device_and_back(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;
	struct fh_rec mig;
	struct fm_page pg;
	unsigned int i;

	start_with_devmem(fx);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 0, NULL), 0);
	/* Device 0 -> device 1: the host moves it alone (no runs). */
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL), 0);
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 1, &mig));
	assert_int_equal(mig.nr, 0);
	assert_int_equal(mig.prot, 1);
	assert_int_equal(mig.status, VSVM_OK);
	assert_int_equal(dev_pages(fx, 1), N);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 1);

	/* A CPU touch of one page brings its fault window back. */
	assert_int_equal(vsvmg_ctx_migrate_to_ram(fx->ctx, VA + 3 * PG, 8), 0);
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 2, &mig));
	assert_int_equal(mig.prot, VSVM_LOC_SYSTEM);
	assert_int_equal(mig.va, VA);
	assert_int_equal(mig.len, N * PG);
	assert_int_equal(mig.nr, 1);
	assert_int_equal(mig.runs[0].gpa, 0x70001000ull);
	for (i = 0; i < N; i++) {
		assert_true(fm_lookup(fx->mm, VA + i * PG, &pg));
		assert_int_equal(pg.dev, 0);
		assert_int_equal(pg.gpa, 0x70001000ull + i * PG);
	}
	assert_null(fx_incoherent(fx));
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 0);
	st = fx_stats(fx);
	assert_int_equal(st.migrated_to_device, N);
	assert_int_equal(st.migrated_peer, N);
	assert_int_equal(st.migrated_to_system, N);
}

static void test_refused_migrate_restores(void **state)
{
	struct core_fx *fx = *state;
	struct fm_page pg;
	unsigned int i;

	start_with_devmem(fx);
	fx->h->migrate_status = VSVM_ERR_NOSPC;
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL),
			 -ENOSPC);
	for (i = 0; i < N; i++) {
		assert_true(fm_lookup(fx->mm, VA + i * PG, &pg));
		assert_int_equal(pg.dev, 0);
		assert_false(pg.migrating);
		assert_int_equal(pg.gpa, G + i * PG);
	}
	assert_int_equal(fx->mm->nr_freed, 0);
	assert_int_equal(fx_stats(fx).migrate_failed, 1);
	assert_null(fx_incoherent(fx));
}

/* An munmap of page 2 lands between setup and queuing, once. */
static void unmap_page2_once(struct fake_mm *mm, void *arg)
{
	(void)arg;
	if (mm->setups != 1)
		return;
	fm_remap(mm, VA + 2 * PG, 0);
}

static void test_racing_invalidation_sets_up_again(void **state)
{
	struct core_fx *fx = *state;
	struct fh_rec r, mig;
	unsigned int i, k;

	start_with_devmem(fx);
	fx->mm->after_setup = unmap_page2_once;
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL), 0);
	assert_int_equal(fx->mm->setups, 2);
	assert_int_equal(fx_stats(fx).migrate_raced, 1);
	/* The lost page got its UNMAP, and no MIGRATE or MAP names it. */
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 1);
	for (i = 0; fx_nth_op(fx, VSVM_CMD_MIGRATE, i, &mig); i++) {
		assert_int_equal(mig.status, VSVM_OK);
		assert_false(mig.va <= VA + 2 * PG &&
			     VA + 2 * PG < mig.va + mig.len);
		for (k = 0; k < mig.nr && k < FH_LOG_RUNS; k++)
			assert_false(mig.runs[k].gpa <= G + 2 * PG &&
				     G + 2 * PG <
					     mig.runs[k].gpa + mig.runs[k].len);
	}
	assert_int_equal(i, 2); /* pages 0-1 and 3-7 */
	for (i = 0; fx_nth_op(fx, VSVM_CMD_MAP, i, &r); i++)
		assert_false(r.va <= VA + 2 * PG && VA + 2 * PG < r.va + r.len);
	assert_int_equal(dev_pages(fx, 1), N - 1);
	assert_null(fx_incoherent(fx));
}

static void test_own_invalidation_sends_nothing(void **state)
{
	struct core_fx *fx = *state;

	start_with_devmem(fx);
	assert_int_equal(vsvmg_ctx_invalidate_range(
				 fx->ctx, VA, PG, vsvmg_migrate_owner(fx->dev)),
			 0);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 0);
	assert_int_equal(vsvmg_ctx_invalidate_range(fx->ctx, VA, PG, NULL), 0);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 1);
	/* Someone else's migration is an ordinary invalidation. */
	assert_int_equal(vsvmg_ctx_invalidate_range(fx->ctx, VA, PG, fx), 0);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_UNMAP), 2);
}

static void test_without_device_memory_refused(void **state)
{
	struct core_fx *fx = *state;

	fm_set_range(fx->mm, VA, G, N, 1);
	fx_start(fx);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 7, NULL),
			 -ENODEV);
	assert_int_equal(fx->mm->setups, 0);
}

/* Wait until n MIGRATEs were applied for the context. */
static int wait_migrates(struct core_fx *fx, unsigned int n)
{
	__u64 deadline = fh_now_ms() + WAIT_MS;

	while (fx_count_op(fx, VSVM_CMD_MIGRATE) < n && fh_now_ms() < deadline)
		fx_sleep_ms(1);
	return fx_count_op(fx, VSVM_CMD_MIGRATE) >= n;
}

static void test_migrate_req_moved_then_answered(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev = { .type = VSVM_EVENT_MIGRATE_REQ,
				     .id = 77,
				     .va = VA,
				     .len = N * PG,
				     .device = 1 };
	struct fh_rec mig;

	start_with_devmem(fx);
	fh_inject(fx->h, fx->id, &ev, 1);
	assert_true(wait_migrates(fx, 2));
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 0, &mig));
	assert_int_equal(mig.nr, 1);
	assert_int_equal(mig.seq, 0);
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 1, &mig));
	assert_int_equal(mig.seq, 77); /* the answer: id, no runs */
	assert_int_equal(mig.nr, 0);
	assert_int_equal(mig.prot, 1);
	assert_int_equal(mig.status, VSVM_OK);
	assert_int_equal(dev_pages(fx, 1), N);

	/* Back to SYSTEM on request: answered from a device it was on. */
	ev.id = 78;
	ev.device = VSVM_LOC_SYSTEM;
	fh_inject(fx->h, fx->id, &ev, 1);
	assert_true(wait_migrates(fx, 4));
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 2, &mig));
	assert_int_equal(mig.prot, VSVM_LOC_SYSTEM);
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 3, &mig));
	assert_int_equal(mig.seq, 78);
	assert_int_equal(mig.prot, 1);
	assert_int_equal(dev_pages(fx, 1), 0);
	assert_int_equal(fx_stats(fx).migrate_reqs, 2);
}

/* A request for a range with nothing to move is still answered. */
static void test_migrate_req_declined(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev = { .type = VSVM_EVENT_MIGRATE_REQ,
				     .id = 5,
				     .va = VA + 0x100000,
				     .len = 4 * PG,
				     .device = 0 };
	struct fh_rec mig;

	start_with_devmem(fx);
	fh_inject(fx->h, fx->id, &ev, 1);
	assert_true(wait_migrates(fx, 1));
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 0, &mig));
	assert_int_equal(mig.seq, 5);
	assert_int_equal(mig.nr, 0);
	assert_int_equal(mig.prot, 0);
}

static void test_prefetch_async_completes(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev = { .type = VSVM_EVENT_PREFETCH_DONE,
				     .va = VA,
				     .len = N * PG,
				     .device = 1,
				     .arg = VSVM_ERR_NOSPC };
	struct vsvmg_prefetch pf, pf2;
	__u64 bytes = 0;
	int i;

	start_with_devmem(fx);
	assert_int_equal(vsvmg_ctx_prefetch_async(fx->ctx, VA, N * PG, 1, &pf),
			 0);
	/* The range was mirrored first, so the host sees it mapped. */
	assert_true(fx_count_op(fx, VSVM_CMD_MAP) >= 1);
	ev.id = pf.token;
	fh_inject(fx->h, fx->id, &ev, 1);
	assert_int_equal(vsvmg_ctx_prefetch_wait(fx->ctx, &pf), -ENOSPC);

	/* PREFETCH_DONE queued before the reply: it may overtake it. */
	fx->h->prefetch_done_now = 1;
	for (i = 0; i < 20; i++) {
		assert_int_equal(
			vsvmg_ctx_prefetch_async(fx->ctx, VA, PG, 0, &pf2), 0);
		assert_int_equal(vsvmg_ctx_prefetch_wait(fx->ctx, &pf2), 0);
	}
	assert_int_equal(fx_stats(fx).prefetch_done, 21);

	/* Synchronous: migrates itself, then PREFETCH. */
	assert_int_equal(vsvmg_ctx_prefetch(fx->ctx, VA, N * PG, 1, &bytes), 0);
	assert_int_equal(bytes, N * PG);
	assert_int_equal(dev_pages(fx, 1), N);
}

/*
 * A device fault on a page the guest has in device memory (the host sends
 * one when the access needs more than it may do there, or raced a move):
 * answered from the device-private entry, with no MAP, which would replace
 * the device memory by a guest page.  A write to a read-only one fails.
 */
static void test_fault_on_device_page_not_mapped(void **state)
{
	struct core_fx *fx = *state;
	unsigned int maps;

	start_with_devmem(fx);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL), 0);
	maps = fx_count_op(fx, VSVM_CMD_MAP);
	assert_int_equal(fx_fault(fx, 9, VA + 2 * PG, VSVM_ACCESS_WRITE),
			 VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), maps);
	assert_int_equal(dev_pages(fx, 1), N);
	assert_null(fx_incoherent(fx));
	/* The same page, read-only in the process: a write is refused. */
	pthread_mutex_lock(&fx->mm->lock);
	fm_find(fx->mm, VA + 3 * PG)->writable = 0;
	pthread_mutex_unlock(&fx->mm->lock);
	assert_int_equal(fx_fault(fx, 10, VA + 3 * PG, VSVM_ACCESS_WRITE),
			 VSVM_ERR_FAULT);
	assert_int_equal(fx_fault(fx, 11, VA + 3 * PG, VSVM_ACCESS_READ),
			 VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), maps);
}

/*
 * A hostile host: a MIGRATE_REQ for a device the context does not have
 * or beyond its VA width is dropped (nothing moves, nothing is answered);
 * PREFETCH_DONEs for tokens nobody waits for are kept, a bounded number,
 * and do not complete anybody else's prefetch.
 */
static void test_bogus_events_dropped(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev[3] = {
		{ .type = VSVM_EVENT_MIGRATE_REQ,
		  .id = 1,
		  .va = VA,
		  .len = N * PG,
		  .device = 9 },
		{ .type = VSVM_EVENT_MIGRATE_REQ,
		  .id = 2,
		  .va = 1ull << 48,
		  .len = PG,
		  .device = 0 },
		{ .type = VSVM_EVENT_MIGRATE_REQ,
		  .id = 3,
		  .va = VA,
		  .len = N * PG,
		  .device = 0 },
	};
	struct vsvm_event_val done = { .type = VSVM_EVENT_PREFETCH_DONE,
				       .va = VA,
				       .len = PG,
				       .device = 0 };
	struct vsvmg_prefetch pf;
	struct fh_rec mig;
	__u32 i;

	start_with_devmem(fx);
	for (i = 0; i < 100; i++) {
		done.id = 1000 + i;
		fh_inject(fx->h, fx->id, &done, 1);
	}
	fh_inject(fx->h, fx->id, ev, 3);
	/* Only the valid request is served; it comes after the bogus ones. */
	assert_true(wait_migrates(fx, 2));
	fx_sleep_ms(20);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MIGRATE), 2);
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 1, &mig));
	assert_int_equal(mig.seq, 3);
	assert_int_equal(fx_stats(fx).migrate_reqs, 1);
	assert_int_equal(fx_stats(fx).prefetch_done, 100);
	/* A real prefetch still waits for its own token. */
	assert_int_equal(vsvmg_ctx_prefetch_async(fx->ctx, VA, PG, 0, &pf), 0);
	done.id = pf.token;
	done.arg = VSVM_ERR_CANCELED;
	fh_inject(fx->h, fx->id, &done, 1);
	assert_int_equal(vsvmg_ctx_prefetch_wait(fx->ctx, &pf), -ECANCELED);
}

static int stale_once(struct fake_host *h, const struct vsvm_request *req,
		      void *arg)
{
	int *n = arg;

	(void)h;
	(void)req;
	return (*n)++ ? -1 : VSVM_ERR_STALE;
}

/* The MAP in front of a MIGRATE refused as STALE: set up and sent again. */
static void test_stale_map_sets_up_again(void **state)
{
	struct core_fx *fx = *state;
	struct fh_rec mig;
	int calls = 0;

	start_with_devmem(fx);
	fh_set_map_status(fx->h, stale_once, &calls);
	assert_int_equal(vsvmg_ctx_migrate(fx->ctx, VA, N * PG, 1, NULL), 0);
	assert_int_equal(fx->mm->setups, 2);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 2);
	/* The first MIGRATE was canceled with its MAP; the second moved. */
	assert_true(fx_nth_op(fx, VSVM_CMD_MIGRATE, 0, &mig));
	assert_int_equal(mig.status, VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MIGRATE), 1);
	assert_int_equal(dev_pages(fx, 1), N);
	assert_int_equal(fx_stats(fx).migrate_raced, 1);
	assert_null(fx_incoherent(fx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_to_device_is_map_then_migrate, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_device_to_device_and_back,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refused_migrate_restores,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_racing_invalidation_sets_up_again, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_own_invalidation_sends_nothing, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_without_device_memory_refused, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_migrate_req_moved_then_answered, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_req_declined,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_async_completes,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_fault_on_device_page_not_mapped, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_bogus_events_dropped,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stale_map_sets_up_again,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
