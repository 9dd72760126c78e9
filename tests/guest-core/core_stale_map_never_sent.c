// SPDX-License-Identifier: MIT
/*
 * core_stale_map_never_sent.c - DESIGN.md invariant 2 (coherency) from the
 * guest's side: a MAP computed from a page-table read that an invalidation
 * made stale is never queued after that invalidation's UNMAP, so once an
 * invalidation returned the device never maps the old page again.
 *
 * The races are forced, not hoped for: the fake mm's after_read hook runs
 * inside range_fault right after the table was read, starts an
 * invalidation of the faulting page from another thread and waits until
 * its UNMAP is queued.  The fake host applies commands in queue order,
 * logs them, and refuses a MAP whose inval_seq predates an overlapping
 * UNMAP (STALE): a core that skipped its read_retry check would show up as
 * a STALE refusal or as the old GPA installed after the UNMAP.
 *
 * The stress case checks the invariant exactly over a random run: for
 * every MAP the host applied, each page it installs must carry the state
 * the process's page table had in that page's epoch (the number of UNMAPs
 * of the page applied before the MAP).  There the host's STALE rule is
 * off, so the guest's own protocol is what is checked.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "core_test.h"

#define VA	0x70000000ull
#define PAGE3	(VA + 3 * PG)
#define NEW_GPA 0x90000000ull

/* The GPA a logged MAP installs for va; 0 if it does not cover va. */
static __u64 map_gpa(const struct fh_rec *r, __u64 va)
{
	__u64 off;
	__u32 i;

	if (r->op != VSVM_CMD_MAP || va < r->va || va >= r->va + r->len)
		return 0;
	off = va - r->va;
	for (i = 0; i < r->nr && i < FH_LOG_RUNS; i++) {
		if (off < r->runs[i].len)
			return r->runs[i].gpa + off;
		off -= r->runs[i].len;
	}
	return 0;
}

/*
 * After the UNMAP with seq useq: no MAP of va with an older inval_seq, and
 * no applied MAP installing old_gpa for va.  NULL or what went wrong.
 */
static const char *stale_after_unmap(struct core_fx *fx, __u64 va,
				     __u64 old_gpa, __u64 useq)
{
	const char *why = NULL;
	int after = 0;
	__u32 i;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < fx->h->nr_log && !why; i++) {
		const struct fh_rec *r = &fx->h->log[i];

		if (r->ctx_id != fx->id)
			continue;
		if (r->op == VSVM_CMD_UNMAP && r->seq == useq)
			after = 1;
		if (!after || r->op != VSVM_CMD_MAP || !map_gpa(r, va))
			continue;
		if (r->seq < useq)
			why = "MAP read before the UNMAP queued after it";
		else if (r->status == VSVM_OK && map_gpa(r, va) == old_gpa)
			why = "old page installed after the UNMAP";
	}
	if (!after)
		why = "no UNMAP";
	pthread_mutex_unlock(&fx->h->lock);
	return why;
}

struct race {
	struct core_fx *fx;
	pthread_t t;
	int fired;    /* atomic: t was started */
	int remapped; /* atomic: the invalidation returned */
};

static void race_cleanup(struct core_fx *fx)
{
	struct race *r = fx->cleanup_arg;

	if (__atomic_load_n(&r->fired, __ATOMIC_SEQ_CST))
		pthread_join(r->t, NULL);
	free(r);
}

/* The race's state outlives a failed test: teardown joins and frees it. */
static struct race *race_new(struct core_fx *fx)
{
	struct race *r = calloc(1, sizeof(*r));

	r->fx = fx;
	fx->cleanup = race_cleanup;
	fx->cleanup_arg = r;
	return r;
}

static void *remap_thread(void *p)
{
	struct race *r = p;

	fm_remap(r->fx->mm, PAGE3, NEW_GPA);
	__atomic_store_n(&r->remapped, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Inside range_fault, after the read: invalidate it, wait for the queue. */
static void race_after_read(struct fake_mm *mm, __u64 fault_va, void *arg)
{
	struct race *r = arg;

	(void)mm;
	(void)fault_va;
	if (__atomic_load_n(&r->fired, __ATOMIC_SEQ_CST))
		return;
	pthread_create(&r->t, NULL, remap_thread, r);
	__atomic_store_n(&r->fired, 1, __ATOMIC_SEQ_CST);
	if (!fh_wait_unmaps_queued(r->fx->h, 1, WAIT_MS))
		fprintf(stderr, "race: UNMAP never queued\n");
}

static void check_race_outcome(struct core_fx *fx)
{
	struct fh_pte pte;

	assert_null(stale_after_unmap(fx, PAGE3, GPA_BASE + 3 * PG, 1));
	assert_int_equal(fx->h->stale_refusals, 0);
	/* The stale read was dropped under the lock and the window read again. */
	assert_true(fx_wait_faults(fx, 1).map_stale >= 1);
	assert_true(fx->mm->range_faults >= 2);
	assert_true(fh_pte(fx->h, fx->id, PAGE3, &pte));
	assert_int_equal(pte.gpa, NEW_GPA);
	assert_null(fx_incoherent(fx));
}

/* The invalidation is queued between our read and our lock section. */
static void test_read_invalidated_before_lock(void **state)
{
	struct core_fx *fx = *state;
	struct race *r = race_new(fx);

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx->mm->after_read = race_after_read;
	fx->mm->after_read_arg = r;
	fx_start(fx);

	assert_int_equal(fx_fault(fx, 1, PAGE3, VSVM_ACCESS_READ), VSVM_OK);
	assert_true(r->fired);
	while (!__atomic_load_n(&r->remapped, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	check_race_outcome(fx);
}

/*
 * As above, and the host holds the UNMAP unacknowledged: the fault path
 * must neither queue its stale MAP behind it nor answer until the
 * invalidation is through and it could read the new page.
 */
static void test_read_invalidated_unacknowledged(void **state)
{
	struct core_fx *fx = *state;
	struct race *r = race_new(fx);

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx->mm->after_read = race_after_read;
	fx->mm->after_read_arg = r;
	fx_start(fx);
	fh_set_hold_unmap(fx->h, 1);

	fh_inject_fault(fx->h, fx->id, 1, PAGE3, VSVM_ACCESS_WRITE);
	assert_true(fh_wait_holding(fx->h, WAIT_MS));
	fx_sleep_ms(100);
	assert_false(__atomic_load_n(&r->remapped, __ATOMIC_SEQ_CST));
	assert_int_equal(fh_answer_count(fx->h, fx->id, 1), 0);
	assert_int_equal(fx->h->queued_maps, 0);

	fh_set_hold_unmap(fx->h, 0);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 1, WAIT_MS), VSVM_OK);
	while (!__atomic_load_n(&r->remapped, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	check_race_outcome(fx);
}

/*
 * Our lock section first: the MAP (old page) is queued, then the UNMAP.
 * In-order apply removes it before the invalidation returns.
 */
static void test_map_queued_before_unmap_is_removed(void **state)
{
	struct core_fx *fx = *state;
	struct race *r = race_new(fx);
	struct fh_rec map, unmap;
	struct fh_pte pte;

	fm_set_range(fx->mm, VA, GPA_BASE, 16, 1);
	fx_start(fx);
	fh_set_hold_all(fx->h, 1);
	fh_inject_fault(fx->h, fx->id, 1, PAGE3, VSVM_ACCESS_READ);
	assert_true(fh_wait_maps_queued(fx->h, 1, WAIT_MS));
	pthread_create(&r->t, NULL, remap_thread, r);
	__atomic_store_n(&r->fired, 1, __ATOMIC_SEQ_CST);
	assert_true(fh_wait_unmaps_queued(fx->h, 1, WAIT_MS));
	fx_sleep_ms(50);
	assert_false(__atomic_load_n(&r->remapped, __ATOMIC_SEQ_CST));

	fh_set_hold_all(fx->h, 0);
	while (!__atomic_load_n(&r->remapped, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	assert_int_equal(fh_wait_answer(fx->h, fx->id, 1, WAIT_MS), VSVM_OK);
	assert_true(fx_nth_op(fx, VSVM_CMD_MAP, 0, &map));
	assert_true(fx_nth_op(fx, VSVM_CMD_UNMAP, 0, &unmap));
	assert_true(map.sub_no < unmap.sub_no);
	assert_int_equal(map_gpa(&map, PAGE3), GPA_BASE + 3 * PG);
	assert_int_equal(map.status, VSVM_OK);
	/* Gone from the device once the invalidation returned. */
	assert_false(fh_pte(fx->h, fx->id, PAGE3, &pte));
	assert_null(fx_incoherent(fx));
}

static void sub_done(struct vsvmg_submission *sub)
{
	__atomic_store_n((int *)sub->priv, 1, __ATOMIC_SEQ_CST);
}

/* The checker itself: a stale MAP sent by hand is caught. */
static void test_host_catches_a_stale_map(void **state)
{
	struct core_fx *fx = *state;
	struct vsvm_run run = { .gpa = GPA_BASE, .len = PG };
	struct vsvm_request unmap = { .op = VSVM_CMD_UNMAP };
	struct vsvm_request map = { .op = VSVM_CMD_MAP };
	struct vsvmg_submission sub = { 0 };
	__u8 cmds[128], reply[16];
	struct vsvm_writer w;
	int done = 0;

	fx_start(fx);
	unmap.u.unmap.va = VA;
	unmap.u.unmap.len = PG;
	unmap.u.unmap.seq = 5;
	map.u.map.va = VA;
	map.u.map.len = PG;
	map.u.map.inval_seq = 4;
	map.u.map.prot = VSVM_PROT_READ;
	map.u.map.nr_runs = 1;
	map.u.map.runs = &run;
	vsvm_writer_init(&w, cmds, sizeof(cmds));
	assert_true(vsvm_encode_request(&w, &unmap) > 0);
	assert_true(vsvm_encode_request(&w, &map) > 0);
	sub.done = sub_done;
	sub.priv = &done;
	assert_int_equal(fh_ops.submit(fx->h, fx->id, cmds, w.off, reply,
				       sizeof(reply), &sub),
			 0);
	while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST))
		fx_sleep_ms(1);
	assert_int_equal(fx->h->stale_refusals, 1);
	assert_non_null(stale_after_unmap(fx, VA, GPA_BASE, 5));
}

/* ---- stress: the exact epoch check ------------------------------------- */

#define NPAGES	  64
#define MAXH	  1024
#define REMAPPERS 2
#define OPS	  300
#define FAULTS	  400

struct history {
	__u64 gpa[NPAGES][MAXH]; /* state after each change; [0] initial */
	int writable[NPAGES][MAXH];
	unsigned int n[NPAGES];
	__u64 next_gpa; /* atomic: fresh GPAs, never reused */
};

static void record_change(struct fake_mm *mm, __u64 va, __u64 gpa, int writable,
			  void *arg)
{
	struct history *hs = arg;
	unsigned int p = (unsigned int)((va - VA) / PG);

	(void)mm;
	if (hs->n[p] < MAXH) {
		hs->gpa[p][hs->n[p]] = gpa;
		hs->writable[p][hs->n[p]] = writable;
		hs->n[p]++;
	}
}

struct remapper {
	struct core_fx *fx;
	struct history *hs;
	unsigned int seed;
};

static void *remapper_thread(void *p)
{
	struct remapper *r = p;
	unsigned int i;

	for (i = 0; i < OPS; i++) {
		unsigned int page = rand_r(&r->seed) % NPAGES;
		unsigned int op = rand_r(&r->seed) % 10;
		__u64 va = VA + page * PG;

		if (op < 6)
			fm_remap(r->fx->mm, va,
				 __atomic_fetch_add(&r->hs->next_gpa, PG,
						    __ATOMIC_SEQ_CST));
		else if (op < 8)
			fm_protect(r->fx->mm, va);
		else
			fm_remap(r->fx->mm, va, 0);
		if (rand_r(&r->seed) % 4 == 0)
			usleep(rand_r(&r->seed) % 200);
	}
	return NULL;
}

/*
 * Every applied MAP installs, for each page it covers, exactly the page's
 * state in its epoch: k UNMAPs of the page applied before it means the
 * state after the k-th change.
 */
static const char *epoch_violation(struct core_fx *fx, struct history *hs)
{
	static char why[200];
	unsigned int unmaps[NPAGES] = { 0 };
	const char *ret = NULL;
	__u32 i, p;

	pthread_mutex_lock(&fx->h->lock);
	for (i = 0; i < fx->h->nr_log && !ret; i++) {
		const struct fh_rec *r = &fx->h->log[i];

		if (r->ctx_id != fx->id || r->status != VSVM_OK)
			continue;
		for (p = 0; p < NPAGES && !ret; p++) {
			__u64 va = VA + p * PG, gpa;
			unsigned int k = unmaps[p];

			if (r->op == VSVM_CMD_UNMAP) {
				if (va >= r->va && va < r->va + r->len)
					unmaps[p]++;
				continue;
			}
			gpa = map_gpa(r, va);
			if (!gpa)
				continue;
			if (k >= hs->n[p] || hs->gpa[p][k] != gpa ||
			    ((r->prot & VSVM_PROT_WRITE) &&
			     !hs->writable[p][k])) {
				snprintf(
					why, sizeof(why),
					"log %u: page %u epoch %u: MAP 0x%llx%s, process has 0x%llx%s",
					i, p, k, (unsigned long long)gpa,
					r->prot & VSVM_PROT_WRITE ? " rw" : "",
					k < hs->n[p] ? (unsigned long long)
							       hs->gpa[p][k] :
						       0ull,
					k < hs->n[p] && hs->writable[p][k] ?
						" rw" :
						"");
				ret = why;
			}
		}
	}
	for (p = 0; p < NPAGES && !ret; p++) {
		if (unmaps[p] != hs->n[p] - 1) {
			snprintf(why, sizeof(why),
				 "page %u: %u changes, %u UNMAPs", p,
				 hs->n[p] - 1, unmaps[p]);
			ret = why;
		}
	}
	pthread_mutex_unlock(&fx->h->lock);
	return ret;
}

static void free_cleanup(struct core_fx *fx)
{
	free(fx->cleanup_arg);
}

static void test_stress_epochs(void **state)
{
	struct core_fx *fx = *state;
	struct history *hs = calloc(1, sizeof(*hs));
	struct remapper rm[REMAPPERS];
	pthread_t t[REMAPPERS];
	struct vsvmg_ctx_stats st;
	unsigned int i, seed = 12345;

	fx->cleanup = free_cleanup;
	fx->cleanup_arg = hs;

	for (i = 0; i < NPAGES; i++) {
		fm_set(fx->mm, VA + i * PG, GPA_BASE + i * PG, 1);
		hs->gpa[i][0] = GPA_BASE + i * PG;
		hs->writable[i][0] = 1;
		hs->n[i] = 1;
	}
	hs->next_gpa = 0x100000000ull;
	fx->mm->on_change = record_change;
	fx->mm->on_change_arg = hs;
	fx->h->stale_rule_off = 1;
	fx_start(fx);

	for (i = 0; i < REMAPPERS; i++) {
		rm[i] = (struct remapper){ .fx = fx, .hs = hs, .seed = 7 + i };
		pthread_create(&t[i], NULL, remapper_thread, &rm[i]);
	}
	for (i = 1; i <= FAULTS;) {
		struct vsvm_event_val ev[8];
		unsigned int n = 1 + rand_r(&seed) % 8, j;

		for (j = 0; j < n && i <= FAULTS; j++, i++)
			ev[j] = fh_fault(i, VA + (rand_r(&seed) % NPAGES) * PG,
					 1 + rand_r(&seed) % 3);
		fh_inject(fx->h, fx->id, ev, j);
		if (rand_r(&seed) % 2)
			usleep(rand_r(&seed) % 300);
	}
	for (i = 0; i < REMAPPERS; i++)
		pthread_join(t[i], NULL);
	for (i = 1; i <= FAULTS; i++)
		assert_true(fh_wait_answer(fx->h, fx->id, i, WAIT_MS) >= 0);

	assert_int_equal(fx->mm->notifier_errors, 0);
	assert_true(fx->h->nr_log < FH_MAX_LOG);
	assert_null(epoch_violation(fx, hs));
	assert_null(fx_incoherent(fx));
	st = fx_wait_faults(fx, FAULTS);
	assert_true(st.faults >= FAULTS);
	printf("# stress: %llu faults (%llu failed), %llu MAPs, %llu pages, %llu stale reads or refusals (%u by the host), %llu invalidations\n",
	       (unsigned long long)st.faults,
	       (unsigned long long)st.faults_failed,
	       (unsigned long long)st.maps,
	       (unsigned long long)st.pages_mirrored,
	       (unsigned long long)st.map_stale, fx->h->stale_refusals,
	       (unsigned long long)st.invalidations);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_read_invalidated_before_lock, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_read_invalidated_unacknowledged, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_map_queued_before_unmap_is_removed, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_host_catches_a_stale_map,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stress_epochs, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
