// SPDX-License-Identifier: MIT
/*
 * core_fault_batch_chunked.c - a batch whose MAPs and FAULT_REPLY exceed
 * the host's max_submit_bytes or max_cmds is split into several
 * submissions that respect both, queued back to back under one hold of
 * the context lock (no UNMAP can come between them), the FAULT_REPLY
 * last; a FAULT_REPLY is split too when the ids do not fit one.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA 0x38000000ull

struct sub_info {
	unsigned int maps, frs, unmaps, cmds;
};

/* Per-submission summary of the applied log, indexed by sub_no. */
static struct sub_info *sub_summary(struct core_fx *fx, __u32 *nr)
{
	struct sub_info *s;
	__u32 i;

	pthread_mutex_lock(&fx->h->lock);
	*nr = fx->h->next_sub;
	s = calloc(*nr, sizeof(*s));
	for (i = 0; i < fx->h->nr_log; i++) {
		const struct fh_rec *r = &fx->h->log[i];

		if (r->ctx_id != fx->id)
			continue;
		s[r->sub_no].cmds++;
		s[r->sub_no].maps += r->op == VSVM_CMD_MAP;
		s[r->sub_no].frs += r->op == VSVM_CMD_FAULT_REPLY;
		s[r->sub_no].unmaps += r->op == VSVM_CMD_UNMAP;
	}
	pthread_mutex_unlock(&fx->h->lock);
	return s;
}

/*
 * A submission with MAPs and no FAULT_REPLY is an inner chunk: the next
 * one queued must be the same batch's (MAPs or its FAULT_REPLY), never an
 * UNMAP or anything else.  Returns the number of split batches seen.
 */
static unsigned int check_chunks_contiguous(struct core_fx *fx,
					    unsigned int max_cmds)
{
	struct sub_info *s;
	unsigned int split = 0;
	__u32 nr, i;

	s = sub_summary(fx, &nr);
	for (i = 0; i < nr; i++) {
		assert_true(s[i].cmds <= max_cmds);
		if (!s[i].maps || s[i].frs)
			continue;
		split++;
		assert_true(i + 1 < nr);
		assert_int_equal(s[i + 1].unmaps, 0);
		assert_true(s[i + 1].maps || s[i + 1].frs);
	}
	free(s);
	return split;
}

static void test_small_submit_bytes(void **state)
{
	struct core_fx *fx = *state;
	struct vsvmg_ctx_stats st;
	unsigned int i;
	struct fh_rec r;

	for (i = 0; i < 16; i++)
		fm_set(fx->mm, VA + i * PG, GPA_BASE + 2 * i * PG, 1);
	fx->h->caps.max_submit_bytes = 128; /* (128 - 40) / 16 = 5 runs */
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	st = fx_wait_faults(fx, 1);
	assert_int_equal(st.pages_mirrored, 16);
	for (i = 0; i < st.maps; i++) {
		assert_true(fx_nth_op(fx, VSVM_CMD_MAP, i, &r));
		assert_int_equal(r.status, VSVM_OK);
		assert_true(r.nr <= 5);
	}
	assert_int_equal(fx->h->rejected, 0);
	assert_true(check_chunks_contiguous(fx, VSVM_MAX_CMDS) >= 2);
	assert_null(fx_incoherent(fx));
}

static void test_small_max_cmds(void **state)
{
	struct core_fx *fx = *state;
	unsigned int i;

	/* Alternating protection: one MAP per page. */
	for (i = 0; i < 16; i++)
		fm_set(fx->mm, VA + i * PG, GPA_BASE + i * PG, i & 1);
	fx->h->caps.max_cmds = 2;
	fx_start(fx);
	assert_int_equal(fx_fault(fx, 1, VA, VSVM_ACCESS_READ), VSVM_OK);
	assert_int_equal(fx_wait_faults(fx, 1).maps, 16);
	assert_int_equal(fx->h->rejected, 0);
	/* 16 MAPs + 1 FAULT_REPLY in submissions of 2: 8 inner chunks. */
	assert_int_equal(check_chunks_contiguous(fx, 2), 8);
}

static void test_fault_reply_split(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_event_val ev[40];
	unsigned int i;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx->h->caps.max_submit_bytes = 128; /* (128 - 16) / 8 = 14 ids */
	fx_start(fx);
	for (i = 0; i < 40; i++)
		ev[i] = fh_fault(100 + i, VA + (i % 16) * PG, VSVM_ACCESS_READ);
	fh_inject(fx->h, fx->id, ev, 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(
			fh_wait_answer(fx->h, fx->id, 100 + i, WAIT_MS),
			VSVM_OK);
	assert_int_equal(fx_count_op(fx, VSVM_CMD_FAULT_REPLY), 3);
	assert_int_equal(fx->h->rejected, 0);
}

struct storm {
	struct core_fx *fx;
	int stop; /* atomic */
	unsigned int n;
	pthread_t t;
};

static void *storm_thread(void *p)
{
	struct storm *s = p;

	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		vsvmg_ctx_invalidate(s->fx->ctx, 0x7f000000 + (s->n % 64) * PG,
				     PG);
		s->n++;
	}
	return NULL;
}

static void storm_cleanup(struct core_fx *fx)
{
	struct storm *s = fx->cleanup_arg;

	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(s->t, NULL);
	free(s);
}

/* Invalidations hammer the queue: none lands inside a split batch. */
static void test_chunks_not_interleaved(void **state)
{
	struct core_fx *fx = *state;
	struct storm *s = calloc(1, sizeof(*s));
	unsigned int i;

	for (i = 0; i < 256; i++)
		fm_set(fx->mm, VA + i * PG, GPA_BASE + 2 * i * PG, 1);
	fx->h->caps.max_submit_bytes = 128;
	fx_start(fx);
	s->fx = fx;
	pthread_create(&s->t, NULL, storm_thread, s);
	fx->cleanup = storm_cleanup;
	fx->cleanup_arg = s;
	for (i = 0; i < 64; i++)
		assert_int_equal(fx_fault(fx, 1 + i, VA + ((i * 7) % 256) * PG,
					  VSVM_ACCESS_READ),
				 VSVM_OK);
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(s->t, NULL);
	fx->cleanup = NULL;
	assert_true(s->n > 0);
	free(s);
	assert_int_equal(fx->h->rejected, 0);
	assert_true(check_chunks_contiguous(fx, VSVM_MAX_CMDS) >= 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_submit_bytes,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_small_max_cmds, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_fault_reply_split,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_chunks_not_interleaved,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
