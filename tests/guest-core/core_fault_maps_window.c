// SPDX-License-Identifier: MIT
/*
 * core_fault_maps_window.c - a forwarded fault is answered by MAPs of the
 * whole fault window (runs of present pages with one protection,
 * GPA-contiguous pages merged, split at max_map_runs) followed by one
 * FAULT_REPLY naming every fault of the batch, all in one submission.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x40000000ull /* 64 KiB aligned */
#define G  (GPA_BASE)
#define H  (GPA_BASE + 0x100000)
#define K  (GPA_BASE + 0x200000)

static void expect_map(struct core_fx *fx, unsigned int n, __u64 va, __u64 len,
		       __u32 prot, __u32 nr_runs)
{
	struct fh_rec r;

	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, n, &r));
	assert_int_equal(r.status, VSVM_OK);
	assert_int_equal(r.va, va);
	assert_int_equal(r.len, len);
	assert_int_equal(r.prot, prot);
	assert_int_equal(r.nr, nr_runs);
}

/*
 * Window of 16 pages: 0-3 RW contiguous, 4 absent, 5-6 RO contiguous,
 * 7 RO elsewhere, 8-9 RW apart, 10-15 absent.
 */
static void test_window_runs_and_prot(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;
	struct fh_rec r, fr;
	unsigned int i;

	fm_set_range(fx->mm, VA, G, 4, 1);
	fm_set_range(fx->mm, VA + 5 * PG, H, 2, 0);
	fm_set(fx->mm, VA + 7 * PG, H + 5 * PG, 0);
	fm_set(fx->mm, VA + 8 * PG, K, 1);
	fm_set(fx->mm, VA + 9 * PG, K + 2 * PG, 1);
	fx_start(fx);

	assert_int_equal(fx_fault(fx, 7, VA + PG, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 3);
	expect_map(fx, 0, VA, 4 * PG, VSVM_PROT_ALL, 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 0, &r));
	assert_int_equal(r.runs[0].gpa, G);
	assert_int_equal(r.runs[0].len, 4 * PG);
	assert_int_equal(r.seq, 0);

	expect_map(fx, 1, VA + 5 * PG, 3 * PG, VSVM_PROT_READ, 2);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 1, &r));
	assert_int_equal(r.runs[0].gpa, H);
	assert_int_equal(r.runs[0].len, 2 * PG);
	assert_int_equal(r.runs[1].gpa, H + 5 * PG);
	assert_int_equal(r.runs[1].len, PG);

	expect_map(fx, 2, VA + 8 * PG, 2 * PG, VSVM_PROT_ALL, 2);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 2, &r));
	assert_int_equal(r.runs[1].gpa, K + 2 * PG);

	/* One submission: the MAPs, then the FAULT_REPLY. */
	assert_true(fx_nth_op(fx, VSVM_CMD_FAULT_REPLY, 0, &fr));
	assert_int_equal(fr.nr, 1);
	for (i = 0; i < 3; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_MAP, i, &r));
		assert_int_equal(r.sub_no, fr.sub_no);
	}
	assert_null(fx_incoherent(fx));

	st = fx_wait_faults(fx, 1);
	assert_int_equal(st.faults, 1);
	assert_int_equal(st.faults_failed, 0);
	assert_int_equal(st.maps, 3);
	assert_int_equal(st.pages_mirrored, 9);
	assert_int_equal(st.map_stale, 0);
}

/* A 16 KiB window is aligned around the fault, not started at it. */
static void test_window_aligned_around_fault(void **state)
{
	struct core_fx *fx = *state;
	struct fh_rec r;

	fm_set_range(fx->mm, VA, G, 16, 1);
	fx->cfg.fault_window = 16 << 10;
	fx_start(fx);

	assert_int_equal(fx_fault(fx, 1, VA + 5 * PG, VSVM_ACCESS_WRITE),
			 VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 1);
	expect_map(fx, 0, VA + 4 * PG, 4 * PG, VSVM_PROT_ALL, 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 0, &r));
	assert_int_equal(r.runs[0].gpa, G + 4 * PG);
}

/*
 * One EVENT_WAIT delivers four faults (two windows, one page twice):
 * one submission holds both windows' MAPs and a single FAULT_REPLY that
 * names all four ids.
 */
static void test_batch_one_fault_reply(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev[4];
	struct fh_rec fr, r;
	unsigned int i;

	fm_set_range(fx->mm, VA, G, 16, 1);
	fm_set_range(fx->mm, VA + 0x100000, H, 16, 1);
	fx_start(fx);

	ev[0] = fh_fault(10, VA + 2 * PG, VSVM_ACCESS_READ);
	ev[1] = fh_fault(11, VA + 0x100000, VSVM_ACCESS_WRITE);
	ev[2] = fh_fault(12, VA + 3 * PG, VSVM_ACCESS_ATOMIC);
	ev[3] = fh_fault(13, VA + 2 * PG, VSVM_ACCESS_WRITE);
	fh_inject(fx->h, fx->id, ev, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(fh_wait_answer(fx->h, fx->id, 10 + i, WAIT_MS),
				 VSVM_OK);

	assert_int_equal(fx_count_op(fx, VSVM_CMD_FAULT_REPLY), 1);
	assert_true(fx_nth_op(fx, VSVM_CMD_FAULT_REPLY, 0, &fr));
	assert_int_equal(fr.nr, 4);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 2);
	for (i = 0; i < 2; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_MAP, i, &r));
		assert_int_equal(r.sub_no, fr.sub_no);
		assert_int_equal(r.len, 16 * PG);
	}
	/* Each window was read once per distinct need, not per fault. */
	assert_true(fx->mm->range_faults <= 3);
	assert_int_equal(fx_wait_faults(fx, 4).faults, 4);
	assert_null(fx_incoherent(fx));
}

/* With max_map_runs 2, a window of scattered pages takes several MAPs. */
static void test_map_split_at_max_runs(void **state)
{
	struct core_fx *fx = *state;
	struct fh_rec r;
	unsigned int i;

	for (i = 0; i < 16; i++)
		fm_set(fx->mm, VA + i * PG, G + 2 * i * PG, 1);
	fx->h->caps.max_map_runs = 2;
	fx_start(fx);

	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_MAP), 8);
	for (i = 0; i < 8; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_MAP, i, &r));
		assert_int_equal(r.status, VSVM_OK);
		assert_int_equal(r.va, VA + 2 * i * PG);
		assert_int_equal(r.len, 2 * PG);
		assert_int_equal(r.nr, 2);
	}
	assert_int_equal(fx_wait_faults(fx, 1).pages_mirrored, 16);
	assert_null(fx_incoherent(fx));
}

/* inval_seq carries the newest UNMAP seq sent before the read. */
static void test_map_carries_inval_seq(void **state)
{
	struct core_fx *fx = *state;
	struct fh_rec r;

	fm_set_range(fx->mm, VA, G, 16, 1);
	fx_start(fx);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, 0x7000000, PG), 0);
	assert_int_equal(vsvmg_ctx_invalidate(fx->ctx, 0x8000000, PG), 0);

	assert_int_equal(fx_fault(fx, 5, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 0, &r));
	assert_int_equal(r.seq, 2);
}

/* A page mapped again later is answered again, with a fresh MAP. */
static void test_refault_maps_again(void **state)
{
	struct core_fx *fx = *state;
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, G, 1, 1);
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	fm_remap(fx->mm, VA, H);
	assert_false(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(fx_fault(fx, 2, VA, VSVM_ACCESS_WRITE), VSVM_OK);
	assert_true(fh_pte(fx->h, fx->id, VA, &pte));
	assert_int_equal(pte.gpa, H);
	assert_null(fx_incoherent(fx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_window_runs_and_prot,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_window_aligned_around_fault, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_one_fault_reply,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_split_at_max_runs,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_carries_inval_seq,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refault_maps_again,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
