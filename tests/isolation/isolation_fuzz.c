// SPDX-License-Identifier: MIT
/*
 * isolation_fuzz.c - randomized isolation check of the SVM core (design
 *                    invariant 1): many contexts in many VMs, identical
 *                    VAs, identical GPA numbers, one shared set of devices.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * Three VM connections (three struct vp_svm, each with its own memory table
 * over its own memfd, with different region layouts) share two simulated
 * devices (device 0 has a single EU, so its TLB sees every launch).  Each
 * VM has three contexts; ctx_id 1 exists in every VM, and VM 1's three ids
 * share one slot of the context hash table.  All contexts use the same VA
 * windows:
 *
 *   W0  0x7f0000000000   64 pages  4 KiB churn
 *   W1  0x7f0040000000   4 MiB     2 MiB runs (huge leaves), partial unmaps
 *   W2  2^48 - 64 KiB    16 pages  the top of a 48-bit VA space
 *
 * and GPAs drawn mostly from a small "hot" window whose GPA numbers are the
 * same in two of the VMs.  A seeded xorshift PRNG drives random steps:
 *
 *  - MAP: one or two runs; sometimes a 2 MiB or 4 MiB run over W1 at a GPA
 *    whose host address is 2 MiB aligned (what a 2 MiB leaf needs) or at a
 *    2 MiB aligned GPA; sometimes a GPA outside guest RAM (RANGE), a VA
 *    range crossing 2^48 (RANGE) or an inval_seq older than the last
 *    overlapping UNMAP (STALE), each of which must change nothing;
 *  - UNMAP: small, a few pages inside a 2 MiB run, a window, everything;
 *  - PREFETCH to a device or to SYSTEM (with ACCESSED_BY), sync or async;
 *  - LAUNCH: FILL, COPY and HISTOGRAM over ranges the model says are
 *    accessible; FILL over ranges with unmapped or read-only pages, the
 *    test playing the guest (MAP + FAULT_REPLY per forwarded fault) while
 *    another context, maybe of another VM, replays the fault id and asks
 *    for events (it must reach neither); DESTROY while a launch waits for
 *    a fault; FILL, UNMAP or remap, FILL again on the same device (a stale
 *    TLB entry would show); FILL of a page DEVICE_ACCESS forbids (must
 *    fail with FAULT at that page);
 *  - SET_ATTR DEVICE_ACCESS RW/RO/NONE and ACCESSED_BY;
 *  - DESTROY and re-INIT, CTX_DESTROY and CTX_CREATE, a new memory table
 *    for a VM (vp_svm_memtable_changed, new mmaps), a VM reconnecting.
 *
 * The model holds, per (VM, context), for every page of the windows: the
 * GPA and prot of the last successful MAP (minus UNMAPs) and the
 * DEVICE_ACCESS cap.  After every step the checker walks every page of
 * every context's page table on every device through the test hooks
 * vp_svm_ctx_vm() and dev_sim_vm_translate(), and requires:
 *
 *  - a translation only where the model has the page mapped and the cap
 *    is not NONE; its host address equal to the memory table's mapping of
 *    this VM's memfd at the model's GPA (a wrong one is classified: another
 *    VM's RAM, another GPA of this VM, device memory, or wild); the tag the
 *    test wrote at the start of that guest page readable through it; its
 *    permissions within the mapped prot and the DEVICE_ACCESS cap;
 *  - no VM for a context that is not initialised;
 *  - per VM, bytes translated in the windows == vm_stats mapped_bytes
 *    (so no translation exists outside the windows), and per device,
 *    the sum of the VMs' page-table bytes == the pool's mem_used;
 *  - guest RAM of every VM holds exactly what the model says: kernels
 *    changed only the pages the model says they reached (data isolation).
 *
 * Liveness, so that the checks are not vacuous: after a PREFETCH to a
 * device over a range without DEVICE_ACCESS limits every mapped page has a
 * translation with exactly the mapped prot, 2 MiB leaves where the run
 * allows them; kernels over accessible ranges succeed without a forwarded
 * fault.  At the end every context is destroyed and every device's pool
 * must be back to 0 bytes used; LSan checks the rest.
 *
 * ISOLATION_SEED and ISOLATION_ITERS (decimal or 0x...) change the seed
 * and the number of steps; the seed is printed, and a failure prints the
 * last steps.  ISOLATION_VERBOSE=1 prints every step.  A seed replays the
 * same steps (faults are answered from GPAs picked before the launch),
 * except that GPAs for 2 MiB leaves follow where mmap put the memory
 * tables: under `setarch -R` that is fixed too.
 *
 * Besides the fuzz: checker_detects_corrupted_model shows the checker has
 * teeth (a right page table judged against a corrupted model, or against
 * another VM's model with identical VA, ctx_id and GPA numbers, is
 * reported, each as what it is), and two directed cases pin DEVICE_ACCESS
 * in the fault path's 2 MiB window and in PREFETCH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_gpu.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dev_sim.h"
#include "memtable.h"
#include "policy.h"
#include "svm.h"
#include "vsvm/vsvm_codec.h"

#define NVM	      3
#define NCTX	      3
#define NDEV	      2

#define PG	      ((uint64_t)4096)
#define SZ_1M	      ((uint64_t)1 << 20)
#define SZ_2M	      ((uint64_t)2 << 20)
#define SZ_4M	      ((uint64_t)4 << 20)

#define P_R	      VSVM_PROT_READ
#define P_RW	      (VSVM_PROT_READ | VSVM_PROT_WRITE)
#define P_RWA	      (VSVM_PROT_READ | VSVM_PROT_WRITE | VSVM_PROT_ATOMIC)

#define DEFAULT_SEED  0x5eed15011a7e0001ull
#define DEFAULT_ITERS 4000

/* Launches and fault round trips must end within this. */
#define WAIT_MS	      20000

/* ---- VA windows ------------------------------------------------------ */

struct win {
	uint64_t va;
	uint32_t pages;
	uint32_t first; /* model index of its first page */
};

#define W0_PAGES 64
#define W1_PAGES 1024
#define W2_PAGES 16
#define NPG	 (W0_PAGES + W1_PAGES + W2_PAGES)

static const struct win wins[3] = {
	{ 0x7f0000000000ull, W0_PAGES, 0 },
	{ 0x7f0040000000ull, W1_PAGES, W0_PAGES },
	{ (1ull << 48) - W2_PAGES * PG, W2_PAGES, W0_PAGES + W1_PAGES },
};

static uint64_t idx_va(uint32_t idx)
{
	uint32_t w = idx < wins[1].first ? 0 : idx < wins[2].first ? 1 : 2;

	return wins[w].va + (uint64_t)(idx - wins[w].first) * PG;
}

static uint32_t idx_win(uint32_t idx)
{
	return idx < wins[1].first ? 0 : idx < wins[2].first ? 1 : 2;
}

/* ---- guest RAM layouts ----------------------------------------------- */

struct layout {
	uint32_t nr;
	uint64_t gpa[2];
	uint64_t size[2];
	uint64_t off[2]; /* mmap_offset: where gpa[i] is in the memfd */
	uint64_t fd_size;
	uint64_t hot; /* GPA of the 64-page hot window */
};

/*
 * VM 0: two regions adjacent in GPA (a run may cross them); VM 1: the same
 * GPA numbers below 4 MiB, then a hole; VM 2: one region at GPA 2 MiB whose
 * memfd offset is skewed by a page, and a memfd page no GPA reaches.
 */
static const struct layout layouts[NVM] = {
	{ .nr = 2,
	  .gpa = { 0, SZ_4M },
	  .size = { SZ_4M, SZ_4M },
	  .off = { 0, SZ_4M },
	  .fd_size = 2 * SZ_4M,
	  .hot = SZ_1M },
	{ .nr = 2,
	  .gpa = { 0, 4 * SZ_4M },
	  .size = { SZ_4M, SZ_4M },
	  .off = { 0, SZ_4M },
	  .fd_size = 2 * SZ_4M,
	  .hot = SZ_1M },
	{ .nr = 1,
	  .gpa = { SZ_2M },
	  .size = { 2 * SZ_4M },
	  .off = { PG },
	  .fd_size = 2 * SZ_4M + PG,
	  .hot = SZ_2M + SZ_1M },
};
#define HOT_PAGES 64

/* The memfd offset of gpa, or -1 if gpa is not guest RAM. */
static int64_t gpa_fdoff(const struct layout *l, uint64_t gpa)
{
	uint32_t i;

	for (i = 0; i < l->nr; i++)
		if (gpa >= l->gpa[i] && gpa - l->gpa[i] < l->size[i])
			return (int64_t)(l->off[i] + gpa - l->gpa[i]);
	return -1;
}

#define TAG(vm, fdpage)                                           \
	((uint64_t)0x7a67000000000000ull | (uint64_t)(vm) << 40 | \
	 (uint64_t)(fdpage))

/* ---- submissions ----------------------------------------------------- */

struct sub {
	struct vp_submit s;
	uint8_t cmds[8192];
	uint8_t reply[16384];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void sub_complete(struct vp_submit *s)
{
	struct sub *t = (struct sub *)s;

	pthread_mutex_lock(&t->lock);
	t->done = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static struct sub *sub_new(uint32_t ctx_id)
{
	struct sub *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->s.ctx_id = ctx_id;
	t->s.cmds = t->cmds;
	t->s.reply = t->reply;
	t->s.reply_cap = sizeof(t->reply);
	t->s.complete = sub_complete;
	return t;
}

static void sub_free(struct sub *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void sub_add(struct sub *t, const struct vsvm_request *req)
{
	struct vsvm_writer w;

	vsvm_writer_init(&w, t->cmds, sizeof(t->cmds));
	w.off = t->s.cmds_len;
	assert_true(vsvm_encode_request(&w, req) > 0);
	t->s.cmds_len = w.off;
}

/* Wait up to ms for completion; return whether it completed. */
static bool sub_wait(struct sub *t, unsigned int ms)
{
	struct timespec dl;
	int done;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->done)
		if (pthread_cond_timedwait(&t->cond, &t->lock, &dl) ==
		    ETIMEDOUT)
			break;
	done = t->done;
	pthread_mutex_unlock(&t->lock);
	return done;
}

static void sub_reply(struct sub *t, unsigned int n, struct vsvm_response *rsp)
{
	uint32_t off = 0;
	unsigned int i;
	int ret;

	for (i = 0; i <= n; i++) {
		ret = vsvm_decode_response(t->reply + off, t->s.reply_len - off,
					   rsp);
		assert_true(ret > 0);
		off += (uint32_t)ret;
	}
}

/* ---- the model and the fixture ---------------------------------------- */

struct mpage {
	uint64_t gpa;
	uint8_t prot; /* 0: not mapped */
	uint8_t cap;  /* VSVM_DEVICE_ACCESS_* */
};

struct mctx {
	uint32_t id;
	bool exists;  /* CTX_CREATE done */
	bool live;    /* INIT done */
	uint64_t seq; /* last UNMAP seq sent */
	uint32_t unmaps_since_init;
	uint64_t last_unmap_va;
	uint64_t last_unmap_len;
	uint32_t recent_idx; /* last MAP or UNMAP inside the windows: */
	uint32_t recent_n;   /* kernels go there often (stale TLBs) */
	struct mpage pg[NPG];
};

struct mvm {
	const struct layout *lay;
	struct vp_svm *svm;
	struct vp_memtable mt;
	int fd;
	uint8_t *view;	 /* the test's own mapping of the memfd */
	uint64_t npages; /* memfd pages */
	uint32_t *pv;	 /* per memfd page: the value of words 2.. */
	struct mctx ctx[NCTX];
};

struct fz_stats {
	uint64_t ops[16];
	uint64_t translations;	/* present leaves seen by the checker */
	uint64_t huge_seen;	/* of them, inside 2 MiB leaves */
	uint64_t huge_required; /* prefetches that had to make a 2 MiB leaf */
	uint64_t launches_ok;
	uint64_t faults_answered;
	uint64_t forbidden_ok;
	uint64_t map_refused;
	uint64_t stale_ok;
	uint64_t destroy_in_fault;
	uint64_t intrusions; /* foreign FAULT_REPLY/EVENT_WAIT refused */
	uint64_t checks;
};

#define LOG_LINES 48

struct fz {
	struct vp_device *devs[NDEV];
	struct vp_svm_config cfg;
	struct vp_policy policy;
	struct mvm vm[NVM];
	uint64_t rng;
	uint64_t seed;
	uint64_t step;
	bool verbose;
	bool quiet; /* checker: count, do not print */
	unsigned int nviol;
	unsigned int viol_cross_vm;
	unsigned int viol_wrong_gpa;
	unsigned int viol_unmapped;
	unsigned int viol_prot;
	unsigned int viol_other;
	struct fz_stats st;
	char log[LOG_LINES][200];
	unsigned int log_next;
	bool up; /* fz_up() done, fz_down() not yet */
};

static uint64_t rnd(struct fz *f)
{
	uint64_t x = f->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	f->rng = x;
	return x;
}

static uint32_t rn(struct fz *f, uint32_t n)
{
	return n ? (uint32_t)(rnd(f) % n) : 0;
}

static bool chance(struct fz *f, uint32_t percent)
{
	return rn(f, 100) < percent;
}

static void logf_(struct fz *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logf_(struct fz *f, const char *fmt, ...)
{
	char *line = f->log[f->log_next % LOG_LINES];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(f->log[0]), "step %" PRIu64 ": ", f->step);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(f->log[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	f->log_next++;
	if (f->verbose)
		printf("  %s\n", line);
}

static void dump_log(struct fz *f)
{
	unsigned int i = f->log_next > LOG_LINES ? f->log_next - LOG_LINES : 0;

	printf("isolation_fuzz: seed 0x%" PRIx64 ", last steps:\n", f->seed);
	for (; i < f->log_next; i++)
		printf("  %s\n", f->log[i % LOG_LINES]);
}

/* Fail the test now, with the seed and the recent history. */
#define FZ_FAIL(f, ...)                \
	do {                           \
		dump_log(f);           \
		fail_msg(__VA_ARGS__); \
	} while (0)

static void viol(struct fz *f, unsigned int *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void viol(struct fz *f, unsigned int *kind, const char *fmt, ...)
{
	va_list ap;

	f->nviol++;
	(*kind)++;
	if (f->quiet || f->nviol > 25)
		return;
	printf("VIOLATION (step %" PRIu64 ", seed 0x%" PRIx64 "): ", f->step,
	       f->seed);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void stamp_page(struct mvm *v, uint32_t vmi, uint64_t p)
{
	uint32_t *w = (uint32_t *)(v->view + p * PG);
	uint64_t tag = TAG(vmi, p);
	uint32_t i;

	memcpy(w, &tag, sizeof(tag));
	for (i = 2; i < PG / 4; i++)
		w[i] = v->pv[p];
}

static void restamp_tag(struct mvm *v, uint32_t vmi, uint64_t p)
{
	uint64_t tag = TAG(vmi, p);

	memcpy(v->view + p * PG, &tag, sizeof(tag));
}

/* Build the memory table over the VM's memfd (fds are dup'ed, then closed). */
static void mt_build(struct mvm *v)
{
	const struct layout *l = v->lay;
	uint64_t uva[2];
	int fds[2];
	uint32_t i;

	for (i = 0; i < l->nr; i++) {
		fds[i] = dup(v->fd);
		assert_true(fds[i] >= 0);
		uva[i] = 0x100000000ull + l->gpa[i];
	}
	assert_int_equal(vp_memtable_build(&v->mt, l->nr, l->gpa, l->size, uva,
					   l->off, fds),
			 0);
}

/* Host address the memory table gives gpa (independent arithmetic). */
static uint8_t *expect_hva(struct mvm *v, uint64_t gpa)
{
	const struct layout *l = v->lay;
	uint32_t i;

	for (i = 0; i < l->nr; i++)
		if (gpa >= l->gpa[i] && gpa - l->gpa[i] < l->size[i])
			return (uint8_t *)v->mt.regions[i].map + l->off[i] +
			       (gpa - l->gpa[i]);
	return NULL;
}

static void model_reset_ctx(struct mctx *m)
{
	uint32_t i;

	m->live = false;
	m->unmaps_since_init = 0;
	m->recent_n = 0;
	for (i = 0; i < NPG; i++)
		m->pg[i] = (struct mpage){ 0, 0, VSVM_DEVICE_ACCESS_RW };
}

/*
 * ctx_id 1 in every VM; in VM 1 three ids that share one hash slot of the
 * 32-slot context table (probing, and removal from a cluster).
 */
static const uint32_t ctx_ids[NVM][NCTX] = {
	{ 1, 2, 3 },
	{ 1, 33, 65 },
	{ 7, 1, 2 },
};

static void fz_up(struct fz *f, uint64_t seed)
{
	uint32_t i, j;

	memset(f, 0, sizeof(*f));
	f->up = true;
	f->seed = seed ? seed : DEFAULT_SEED;
	f->rng = f->seed;
	for (i = 0; i < NDEV; i++) {
		/* Device 0 has one EU: its TLB sees every launch. */
		struct dev_sim_config dc = { .index = i,
					     .exec_units = i ? 4 : 1,
					     .mem_size = 32ull << 20 };

		f->devs[i] = dev_sim_create(&dc);
		assert_non_null(f->devs[i]);
	}
	f->cfg = (struct vp_svm_config){
		.devices = f->devs,
		.num_devices = NDEV,
		.va_bits = 48,
		.max_contexts = 16,
		.max_ranges = 4096,
		.max_launches = 4,
		.max_fault_batch = 64,
		.max_submit_bytes = 64 << 10,
		.policy = &f->policy,
	};
	/*
	 * Isolation, not placement: the policy must not move data on its own
	 * (the model tracks guest RAM only), so automatic migration is off.
	 */
	f->policy = vp_policy_defaults;
	f->policy.migrate_threshold = 0;
	for (i = 0; i < NVM; i++) {
		struct mvm *v = &f->vm[i];
		uint64_t p;

		v->lay = &layouts[i];
		v->fd = memfd_create("isolation-guest-ram", 0);
		assert_true(v->fd >= 0);
		assert_int_equal(ftruncate(v->fd, (off_t)v->lay->fd_size), 0);
		v->view = mmap(NULL, v->lay->fd_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, v->fd, 0);
		assert_true(v->view != MAP_FAILED);
		v->npages = v->lay->fd_size / PG;
		v->pv = calloc(v->npages, sizeof(*v->pv));
		assert_non_null(v->pv);
		for (p = 0; p < v->npages; p++) {
			v->pv[p] = (uint32_t)(0x01000000u * (i + 1) + p);
			stamp_page(v, i, p);
		}
		mt_build(v);
		v->svm = vp_svm_create(&f->cfg, &v->mt);
		assert_non_null(v->svm);
		for (j = 0; j < NCTX; j++) {
			v->ctx[j].id = ctx_ids[i][j];
			model_reset_ctx(&v->ctx[j]);
		}
	}
}

static uint64_t dev_mem_used(struct fz *f, uint32_t d)
{
	struct vp_device_info info;

	f->devs[d]->ops->info(f->devs[d], &info);
	return info.mem_used;
}

/*
 * Destroy everything; every device pool must then be empty (no page-table
 * page leaked).  Returns the number of devices whose pool was not.
 */
static unsigned int fz_down(struct fz *f)
{
	unsigned int bad = 0;
	uint32_t i;

	f->up = false;
	for (i = 0; i < NVM; i++)
		vp_svm_destroy(f->vm[i].svm);
	for (i = 0; i < NDEV; i++) {
		if (!f->devs[i])
			continue;
		if (dev_mem_used(f, i)) {
			printf("device %u: %" PRIu64 " bytes of its pool "
			       "still in use after every VM went\n",
			       i, dev_mem_used(f, i));
			bad++;
		}
		f->devs[i]->ops->destroy(f->devs[i]);
	}
	for (i = 0; i < NVM; i++) {
		struct mvm *v = &f->vm[i];

		if (!v->lay)
			continue; /* fz_up() failed before this VM */
		vp_memtable_clear(&v->mt);
		if (v->view && v->view != MAP_FAILED)
			munmap(v->view, v->lay->fd_size);
		close(v->fd);
		free(v->pv);
	}
	return bad;
}

static int fz_alloc(void **state)
{
	*state = calloc(1, sizeof(struct fz));
	return *state ? 0 : -1;
}

/* Also after a failed test: the fixture must not show up as a leak. */
static int fz_free(void **state)
{
	struct fz *f = *state;

	if (f->up)
		fz_down(f);
	free(f);
	return 0;
}

/* ---- the checker ------------------------------------------------------- */

/* Describe where a host address lies, for a violation report. */
static void describe_hva(struct fz *f, const uint8_t *hva, char *buf, size_t n)
{
	uint32_t i, r;

	for (i = 0; i < NVM; i++) {
		const struct vp_memtable *mt = &f->vm[i].mt;

		for (r = 0; r < mt->nr; r++) {
			const uint8_t *map = mt->regions[r].map;

			if (hva >= map && hva < map + mt->regions[r].map_len) {
				uint64_t off = (uint64_t)(hva - map);
				const struct layout *l = f->vm[i].lay;
				uint32_t k;

				for (k = 0; k < l->nr; k++)
					if (off >= l->off[k] &&
					    off - l->off[k] < l->size[k])
						break;
				if (k < l->nr)
					snprintf(buf, n, "VM %u GPA 0x%" PRIx64,
						 i,
						 l->gpa[k] + off - l->off[k]);
				else
					snprintf(buf, n,
						 "VM %u memfd offset 0x%" PRIx64
						 " (no GPA)",
						 i, off);
				return;
			}
		}
	}
	for (i = 0; i < NDEV; i++) {
		if (dev_sim_mem_contains(f->devs[i], hva, 1)) {
			snprintf(buf, n, "device %u memory", i);
			return;
		}
	}
	snprintf(buf, n, "no guest RAM of any VM");
}

/* Which VM's memory table maps hva, or -1. */
static int hva_vm(struct fz *f, const uint8_t *hva)
{
	uint32_t i, r;

	for (i = 0; i < NVM; i++) {
		const struct vp_memtable *mt = &f->vm[i].mt;

		for (r = 0; r < mt->nr; r++) {
			const uint8_t *map = mt->regions[r].map;

			if (hva >= map && hva < map + mt->regions[r].map_len)
				return (int)i;
		}
	}
	return -1;
}

static uint32_t cap_mask(uint8_t cap)
{
	switch (cap) {
	case VSVM_DEVICE_ACCESS_RW:
		return VSVM_PROT_ALL;
	case VSVM_DEVICE_ACCESS_RO:
		return VSVM_PROT_READ;
	}
	return 0;
}

static const char *cap_name(uint8_t cap)
{
	return cap == VSVM_DEVICE_ACCESS_RW ? "RW" :
	       cap == VSVM_DEVICE_ACCESS_RO ? "RO" :
					      "NONE";
}

/* Check one page of one context's page table on one device. */
static void check_page(struct fz *f, uint32_t vmi, struct mctx *m, uint32_t d,
		       uint32_t idx, uint8_t *hva, uint32_t prot)
{
	struct mvm *v = &f->vm[vmi];
	const struct mpage *mp = &m->pg[idx];
	uint64_t va = idx_va(idx);
	uint8_t *want;
	char where[96];
	uint32_t allowed;
	int owner;

	if (!mp->prot) {
		describe_hva(f, hva, where, sizeof(where));
		owner = hva_vm(f, hva);
		viol(f,
		     owner >= 0 && (uint32_t)owner != vmi ? &f->viol_cross_vm :
							    &f->viol_unmapped,
		     "vm %u ctx %u dev %u va 0x%" PRIx64
		     ": translated (prot 0x%x) to %s, but the guest has "
		     "nothing mapped there",
		     vmi, m->id, d, va, prot, where);
		return;
	}
	want = expect_hva(v, mp->gpa);
	if (hva != want) {
		describe_hva(f, hva, where, sizeof(where));
		owner = hva_vm(f, hva);
		viol(f,
		     owner >= 0 && (uint32_t)owner != vmi ? &f->viol_cross_vm :
							    &f->viol_wrong_gpa,
		     "vm %u ctx %u dev %u va 0x%" PRIx64
		     ": translated to %s (%p), mapped to GPA 0x%" PRIx64
		     " (%p)",
		     vmi, m->id, d, va, where, (void *)hva, mp->gpa,
		     (void *)want);
		return;
	}
	allowed = mp->prot & cap_mask(mp->cap);
	if (prot & ~allowed)
		viol(f, &f->viol_prot,
		     "vm %u ctx %u dev %u va 0x%" PRIx64
		     ": PTE prot 0x%x, but MAP prot 0x%x with "
		     "DEVICE_ACCESS %s allows only 0x%x",
		     vmi, m->id, d, va, prot, mp->prot, cap_name(mp->cap),
		     allowed);
	{
		int64_t off = gpa_fdoff(v->lay, mp->gpa);
		uint64_t tag;

		memcpy(&tag, hva, sizeof(tag));
		if (off < 0 || tag != TAG(vmi, (uint64_t)off / PG))
			viol(f, &f->viol_other,
			     "vm %u ctx %u dev %u va 0x%" PRIx64
			     ": the page behind GPA 0x%" PRIx64
			     " has tag 0x%" PRIx64 ", not this VM's",
			     vmi, m->id, d, va, mp->gpa, tag);
	}
}

/*
 * Check every page table against the model and every device pool against
 * the page tables.  Return the number of violations found.
 */
static unsigned int check_all(struct fz *f)
{
	unsigned int before = f->nviol;
	uint64_t pt_sum[NDEV] = { 0 };
	uint32_t vmi, c, d, idx;

	f->st.checks++;
	for (vmi = 0; vmi < NVM; vmi++) {
		struct mvm *v = &f->vm[vmi];

		for (c = 0; c < NCTX; c++) {
			struct mctx *m = &v->ctx[c];

			for (d = 0; d < NDEV; d++) {
				struct vp_dev_vm *dvm =
					vp_svm_ctx_vm(v->svm, m->id, d);
				struct vp_vm_stats vs;
				uint64_t bytes = 0;

				if (!dvm) {
					if (m->live)
						viol(f, &f->viol_other,
						     "vm %u ctx %u: "
						     "initialised but no VM "
						     "on device %u",
						     vmi, m->id, d);
					continue;
				}
				f->devs[d]->ops->vm_stats(dvm, &vs);
				pt_sum[d] += vs.pt_bytes;
				if (!m->live) {
					viol(f, &f->viol_other,
					     "vm %u ctx %u: not initialised "
					     "but has a VM on device %u",
					     vmi, m->id, d);
					continue;
				}
				for (idx = 0; idx < NPG; idx++) {
					void *hva;
					uint32_t prot;
					int sh = dev_sim_vm_translate(
						dvm, idx_va(idx), &hva, &prot);

					if (!sh)
						continue;
					bytes += PG;
					f->st.translations++;
					if (sh == 21)
						f->st.huge_seen++;
					check_page(f, vmi, m, d, idx, hva,
						   prot);
				}
				if (vs.mapped_bytes != bytes)
					viol(f, &f->viol_other,
					     "vm %u ctx %u dev %u: %" PRIu64
					     " bytes translated in the "
					     "windows, vm_stats says %" PRIu64
					     " mapped",
					     vmi, m->id, d, bytes,
					     vs.mapped_bytes);
			}
		}
	}
	for (d = 0; d < NDEV; d++)
		if (dev_mem_used(f, d) != pt_sum[d])
			viol(f, &f->viol_other,
			     "device %u: pool has %" PRIu64
			     " bytes in use, page tables hold %" PRIu64,
			     d, dev_mem_used(f, d), pt_sum[d]);
	return f->nviol - before;
}

/*
 * Guest RAM holds what the model says: the tag at each page's start, the
 * page's value in words 2..  (full: every word; else three samples).
 */
static unsigned int check_content(struct fz *f, bool full)
{
	unsigned int before = f->nviol;
	uint32_t vmi, i;
	uint64_t p;

	for (vmi = 0; vmi < NVM; vmi++) {
		struct mvm *v = &f->vm[vmi];

		for (p = 0; p < v->npages; p++) {
			const uint32_t *w = (uint32_t *)(v->view + p * PG);
			uint64_t tag;
			bool bad = false;

			memcpy(&tag, w, sizeof(tag));
			if (full) {
				for (i = 2; i < PG / 4 && !bad; i++)
					bad = w[i] != v->pv[p];
			} else {
				bad = w[2] != v->pv[p] || w[511] != v->pv[p] ||
				      w[1023] != v->pv[p];
			}
			if (tag != TAG(vmi, p) || bad)
				viol(f, &f->viol_other,
				     "vm %u memfd page 0x%" PRIx64
				     " changed: tag 0x%" PRIx64
				     " word2 0x%x, expected 0x%" PRIx64
				     " 0x%x (a device wrote where no mapping "
				     "of the writer allowed)",
				     vmi, p, tag, w[2], TAG(vmi, p), v->pv[p]);
		}
	}
	return f->nviol - before;
}

static void check_or_fail(struct fz *f, bool full_content)
{
	unsigned int n = check_all(f) + check_content(f, full_content);

	if (n)
		FZ_FAIL(f,
			"%u isolation violations after step %" PRIu64
			" (seed 0x%" PRIx64 "): cross-VM %u, wrong GPA %u, "
			"unmapped %u, prot %u, other %u",
			n, f->step, f->seed, f->viol_cross_vm,
			f->viol_wrong_gpa, f->viol_unmapped, f->viol_prot,
			f->viol_other);
}

/* ---- commands -------------------------------------------------------- */

static uint16_t one(struct fz *f, struct mvm *v, struct mctx *m,
		    const struct vsvm_request *req, struct vsvm_response *rsp)
{
	struct sub *t = sub_new(m->id);
	struct vsvm_response r;
	uint16_t st;

	sub_add(t, req);
	vp_svm_submit(v->svm, &t->s);
	if (!sub_wait(t, WAIT_MS))
		FZ_FAIL(f, "%s did not complete", vsvm_op_name(req->op));
	if (t->s.reply_len == 0)
		FZ_FAIL(f, "%s: no reply (resp_type 0x%x)",
			vsvm_op_name(req->op), t->s.resp_type);
	sub_reply(t, 0, rsp ? rsp : &r);
	st = rsp ? rsp->status : r.status;
	sub_free(t);
	return st;
}

static void ctx_up(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_request req = { .op = VSVM_CMD_INIT };
	uint16_t st;

	if (m->live)
		return;
	if (!m->exists) {
		assert_int_equal(
			vp_svm_ctx_create(v->svm, m->id, VSVM_CAPSET_ID),
			VIRTIO_GPU_RESP_OK_NODATA);
		m->exists = true;
	}
	req.u.init.major = VSVM_PROTO_MAJOR;
	st = one(f, v, m, &req, NULL);
	if (st != VSVM_OK)
		FZ_FAIL(f, "INIT of ctx %u: %s", m->id, vsvm_status_name(st));
	model_reset_ctx(m);
	m->live = true;
	logf_(f, "vm %u ctx %u INIT", (unsigned int)(v - f->vm), m->id);
}

static bool gpa_run_ok(const struct layout *l, uint64_t gpa, uint64_t len)
{
	uint64_t o;

	for (o = 0; o < len; o += PG)
		if (gpa_fdoff(l, gpa + o) < 0)
			return false;
	return true;
}

/* Send a MAP of runs; update the model on success.  Return the status. */
static uint16_t do_map(struct fz *f, struct mvm *v, struct mctx *m, uint64_t va,
		       const struct vsvm_run *runs, uint32_t nr, uint32_t prot,
		       uint64_t inval_seq)
{
	struct vsvm_request req = { .op = VSVM_CMD_MAP };
	uint64_t len = 0, o;
	uint32_t i;
	uint16_t st;
	char rs[96];
	int n = 0;

	for (i = 0; i < nr; i++) {
		len += runs[i].len;
		if (n < (int)sizeof(rs) - 40)
			n += snprintf(rs + n, sizeof(rs) - (size_t)n,
				      "%s0x%" PRIx64 "+0x%" PRIx64,
				      i ? "," : "", (uint64_t)runs[i].gpa,
				      (uint64_t)runs[i].len);
	}
	req.u.map.va = va;
	req.u.map.len = len;
	req.u.map.prot = prot;
	req.u.map.nr_runs = nr;
	req.u.map.runs = runs;
	req.u.map.inval_seq = inval_seq;
	st = one(f, v, m, &req, NULL);
	logf_(f,
	      "vm %u ctx %u MAP va 0x%" PRIx64 " len 0x%" PRIx64
	      " runs [%s] prot 0x%x iseq %" PRIu64 " -> %s",
	      (unsigned int)(v - f->vm), m->id, va, len, rs, prot, inval_seq,
	      vsvm_status_name(st));
	if (st != VSVM_OK)
		return st;
	for (i = 0, o = 0; i < nr; i++) {
		uint64_t r;

		for (r = 0; r < runs[i].len; r += PG, o += PG) {
			uint64_t pva = va + o;
			uint32_t w, idx;

			for (w = 0; w < 3; w++)
				if (pva >= wins[w].va &&
				    pva < wins[w].va + wins[w].pages * PG)
					break;
			assert_true(w < 3);
			idx = wins[w].first +
			      (uint32_t)((pva - wins[w].va) / PG);
			m->pg[idx].gpa = runs[i].gpa + r;
			m->pg[idx].prot = (uint8_t)prot;
			if (!o)
				m->recent_idx = idx;
		}
	}
	m->recent_n = (uint32_t)(len / PG);
	return st;
}

static uint16_t do_unmap(struct fz *f, struct mvm *v, struct mctx *m,
			 uint64_t va, uint64_t len)
{
	struct vsvm_request req = { .op = VSVM_CMD_UNMAP };
	uint32_t idx;
	uint16_t st;

	req.u.unmap.va = va;
	req.u.unmap.len = len;
	req.u.unmap.seq = m->seq + 1;
	st = one(f, v, m, &req, NULL);
	logf_(f,
	      "vm %u ctx %u UNMAP va 0x%" PRIx64 " len 0x%" PRIx64
	      " seq %" PRIu64 " -> %s",
	      (unsigned int)(v - f->vm), m->id, va, len, m->seq + 1,
	      vsvm_status_name(st));
	if (st != VSVM_OK)
		FZ_FAIL(f, "UNMAP refused: %s", vsvm_status_name(st));
	m->seq++;
	m->unmaps_since_init++;
	m->last_unmap_va = va;
	m->last_unmap_len = len;
	m->recent_n = 0;
	for (idx = 0; idx < NPG; idx++) {
		uint64_t pva = idx_va(idx);

		if (pva >= va && pva - va < len) {
			if (!m->recent_n++)
				m->recent_idx = idx;
			m->pg[idx].prot = 0;
		}
	}
	return st;
}

/* A random [idx, idx + n) inside one window, n <= maxp. */
static void pick_range(struct fz *f, uint32_t maxp, uint32_t *idx, uint32_t *n)
{
	uint32_t r = rn(f, 100), w = r < 50 ? 0 : r < 85 ? 1 : 2;
	uint32_t len = 1 + rn(f, maxp < wins[w].pages ? maxp : wins[w].pages);

	*n = len;
	*idx = wins[w].first + rn(f, wins[w].pages - len + 1);
}

/*
 * Often the range the context changed last, clipped to maxp pages and to
 * its window (a stale TLB entry would show there); else pick_range().
 */
static void pick_kernel_range(struct fz *f, struct mctx *m, uint32_t maxp,
			      uint32_t *idx, uint32_t *n)
{
	uint32_t w, end;

	if (!m->recent_n || !chance(f, 50)) {
		pick_range(f, maxp, idx, n);
		return;
	}
	w = idx_win(m->recent_idx);
	end = wins[w].first + wins[w].pages;
	*idx = m->recent_idx +
	       rn(f, m->recent_n < maxp ? 1 : m->recent_n - maxp + 1);
	if (*idx >= end)
		*idx = end - 1;
	*n = 1 + rn(f, maxp);
	if (*idx + *n > end)
		*n = end - *idx;
}

/* A GPA for a run of len bytes: mostly the hot window, sometimes anywhere. */
static uint64_t pick_gpa(struct fz *f, struct mvm *v, uint64_t len)
{
	const struct layout *l = v->lay;
	uint32_t r;

	if (chance(f, 70)) {
		uint32_t pages = (uint32_t)(len / PG);
		uint32_t span = HOT_PAGES > pages ? HOT_PAGES - pages + 1 : 1;

		return l->hot + rn(f, span) * PG;
	}
	r = rn(f, l->nr);
	/* May run past the region: valid only into an adjacent one. */
	return l->gpa[r] + rn(f, (uint32_t)(l->size[r] / PG)) * PG;
}

/* A GPA whose host address is 2 MiB aligned with len bytes of RAM after it. */
static bool pick_huge_gpa(struct fz *f, struct mvm *v, uint64_t len,
			  uint64_t *gpa)
{
	const struct layout *l = v->lay;
	uint64_t cand[16];
	uint32_t nc = 0, i;

	for (i = 0; i < l->nr; i++) {
		uintptr_t h0 = (uintptr_t)v->mt.regions[i].map + l->off[i];
		uint64_t g = l->gpa[i] +
			     ((SZ_2M - (h0 & (SZ_2M - 1))) & (SZ_2M - 1));

		for (; g + len <= l->gpa[i] + l->size[i] && nc < 16; g += SZ_2M)
			cand[nc++] = g;
	}
	if (!nc)
		return false;
	*gpa = cand[rn(f, nc)];
	return true;
}

static uint32_t pick_prot(struct fz *f)
{
	uint32_t r = rn(f, 10);

	return r < 2 ? P_R : r < 6 ? P_RW : P_RWA;
}

static void op_map(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_run runs[3];
	uint32_t nr = 1, idx, n, i, prot = pick_prot(f);
	uint64_t va, len, want_ok = 1;
	uint16_t st;

	if (chance(f, 22)) {
		/* 2 MiB or 4 MiB run over W1, huge-eligible or GPA aligned. */
		uint32_t slot = rn(f, 3);

		len = slot == 2 ? SZ_4M : SZ_2M;
		va = wins[1].va + (slot == 1 ? SZ_2M : 0);
		if (chance(f, 70)) {
			uint64_t g;

			runs[0].gpa = pick_huge_gpa(f, v, len, &g) ?
					      g :
					      v->lay->gpa[0];
		} else {
			runs[0].gpa = v->lay->gpa[rn(f, v->lay->nr)] +
				      rn(f, 2) * SZ_2M;
		}
		runs[0].len = len;
	} else {
		pick_range(f, 16, &idx, &n);
		va = idx_va(idx);
		len = n * PG;
		if (n >= 2 && chance(f, 20)) {
			/* Several runs, each its own GPA. */
			uint32_t cut = 1 + rn(f, n - 1);

			runs[0].len = cut * PG;
			runs[1].len = len - runs[0].len;
			nr = 2;
		} else {
			runs[0].len = len;
		}
		for (i = 0; i < nr; i++)
			runs[i].gpa = pick_gpa(f, v, runs[i].len);
		if (chance(f, 4)) {
			/* Deliberately outside guest RAM. */
			runs[0].gpa = v->lay->fd_size + 16 * SZ_4M;
		}
	}
	for (i = 0; i < nr; i++)
		if (!gpa_run_ok(v->lay, runs[i].gpa, runs[i].len))
			want_ok = 0;
	st = do_map(f, v, m, va, runs, nr, prot, m->seq);
	if (want_ok && st != VSVM_OK)
		FZ_FAIL(f, "MAP of guest RAM refused: %s",
			vsvm_status_name(st));
	if (!want_ok) {
		if (st != VSVM_ERR_RANGE)
			FZ_FAIL(f,
				"MAP of a GPA outside guest RAM: %s, "
				"expected RANGE",
				vsvm_status_name(st));
		f->st.map_refused++;
	}
}

/* MAPs that must be refused and change nothing. */
static void op_bad_map(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_run run = { v->lay->hot, 2 * PG };
	uint16_t st;

	if (m->unmaps_since_init && m->seq > 1 && m->last_unmap_len <= SZ_4M &&
	    chance(f, 60)) {
		/* Raced the last UNMAP: STALE. */
		uint64_t len = m->last_unmap_len;

		if (m->last_unmap_va < wins[0].va)
			return;
		run.len = len;
		run.gpa = v->lay->gpa[0];
		if (!gpa_run_ok(v->lay, run.gpa, len))
			return;
		st = do_map(f, v, m, m->last_unmap_va, &run, 1, P_RW,
			    m->seq - 1);
		if (st != VSVM_ERR_STALE)
			FZ_FAIL(f,
				"MAP with an old inval_seq over the last "
				"UNMAP: %s, expected STALE",
				vsvm_status_name(st));
		f->st.stale_ok++;
		return;
	}
	/* Crossing 2^va_bits. */
	st = do_map(f, v, m, (1ull << 48) - PG, &run, 1, P_RW, m->seq);
	if (st != VSVM_ERR_RANGE)
		FZ_FAIL(f, "MAP across 2^48: %s, expected RANGE",
			vsvm_status_name(st));
	f->st.map_refused++;
}

static void op_unmap(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t r = rn(f, 100), idx, n, w;

	if (r < 65) {
		pick_range(f, 24, &idx, &n);
		do_unmap(f, v, m, idx_va(idx), n * PG);
	} else if (r < 85) {
		/* A few pages inside a 2 MiB run: splits a huge leaf. */
		uint64_t base = wins[1].va + rn(f, 2) * SZ_2M;

		n = 1 + rn(f, 8);
		do_unmap(f, v, m, base + rn(f, 512 - n + 1) * PG, n * PG);
	} else if (r < 96) {
		w = rn(f, 3);
		do_unmap(f, v, m, wins[w].va, wins[w].pages * PG);
	} else {
		do_unmap(f, v, m, 0, 1ull << 48);
	}
}

/* The slot [idx, idx + 512) of W1 must be a 2 MiB leaf on d after PREFETCH. */
static bool slot_huge_eligible(struct mvm *v, struct mctx *m, uint32_t idx)
{
	const struct mpage *p0 = &m->pg[idx];
	uint8_t *h0;
	uint32_t i;

	if (!p0->prot)
		return false;
	h0 = expect_hva(v, p0->gpa);
	if (!h0 || ((uintptr_t)h0 & (SZ_2M - 1)))
		return false;
	for (i = 0; i < 512; i++) {
		const struct mpage *p = &m->pg[idx + i];

		if (p->prot != p0->prot || p->cap != VSVM_DEVICE_ACCESS_RW ||
		    p->gpa != p0->gpa + i * PG ||
		    expect_hva(v, p->gpa) != h0 + i * PG)
			return false;
	}
	return true;
}

static void op_prefetch(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_request req = { .op = VSVM_CMD_PREFETCH };
	uint32_t idx, n, i, loc, vmi = (uint32_t)(v - f->vm);
	bool all_rw = true;
	uint16_t st;

	if (chance(f, 20)) {
		uint32_t w = rn(f, 3);

		idx = wins[w].first;
		n = wins[w].pages;
	} else if (chance(f, 25)) {
		/* One 2 MiB slot of W1. */
		idx = wins[1].first + rn(f, 2) * 512;
		n = 512;
	} else {
		pick_range(f, 32, &idx, &n);
	}
	loc = chance(f, 20) ? VSVM_LOC_SYSTEM : rn(f, NDEV);
	req.u.prefetch.va = idx_va(idx);
	req.u.prefetch.len = n * PG;
	req.u.prefetch.location = loc;
	req.u.prefetch.flags = chance(f, 10) ? VSVM_PREFETCH_F_ASYNC : 0;
	st = one(f, v, m, &req, NULL);
	logf_(f,
	      "vm %u ctx %u PREFETCH va 0x%" PRIx64 " len 0x%" PRIx64
	      " loc 0x%x flags %u -> %s",
	      vmi, m->id, idx_va(idx), n * PG, loc, req.u.prefetch.flags,
	      vsvm_status_name(st));
	if (st != VSVM_OK)
		FZ_FAIL(f, "PREFETCH refused: %s", vsvm_status_name(st));
	if (req.u.prefetch.flags & VSVM_PREFETCH_F_ASYNC) {
		/*
		 * Decline the MIGRATE_REQs (the model keeps data in guest
		 * RAM: 10.4's nr_runs = 0 answer), then take the
		 * PREFETCH_DONE, so the queue stays empty.
		 */
		struct vsvm_request w = { .op = VSVM_CMD_EVENT_WAIT };
		struct vsvm_response wr;
		int round;

		w.u.wait.max_events = 64;
		w.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
		for (round = 0; round < 2; round++) {
			struct sub *t = sub_new(m->id);
			uint32_t k;

			/* Events point into t's reply: keep t meanwhile. */
			sub_add(t, &w);
			vp_svm_submit(v->svm, &t->s);
			if (!sub_wait(t, WAIT_MS))
				FZ_FAIL(f, "EVENT_WAIT did not complete");
			sub_reply(t, 0, &wr);
			for (k = 0; k < wr.u.wait.nr_events; k++) {
				struct vsvm_request mg = {
					.op = VSVM_CMD_MIGRATE
				};
				struct vsvm_event_val ev;

				vsvm_response_event(&wr, k, &ev);
				if (ev.type != VSVM_EVENT_MIGRATE_REQ)
					continue;
				mg.u.migrate.va = ev.va;
				mg.u.migrate.len = ev.len;
				mg.u.migrate.location = ev.device;
				mg.u.migrate.request_id = ev.id;
				if (one(f, v, m, &mg, NULL) != VSVM_OK)
					FZ_FAIL(f, "declining MIGRATE_REQ %u "
						   "failed", ev.id);
			}
			sub_free(t);
		}
	}
	if (loc == VSVM_LOC_SYSTEM)
		return;
	/* Liveness: without DEVICE_ACCESS limits, every mapped page maps. */
	for (i = 0; i < n; i++)
		if (m->pg[idx + i].cap != VSVM_DEVICE_ACCESS_RW)
			all_rw = false;
	if (!all_rw)
		return;
	for (i = 0; i < n; i++) {
		const struct mpage *p = &m->pg[idx + i];
		struct vp_dev_vm *dvm = vp_svm_ctx_vm(v->svm, m->id, loc);
		void *hva;
		uint32_t prot;
		int sh;

		if (!p->prot)
			continue;
		sh = dev_sim_vm_translate(dvm, idx_va(idx + i), &hva, &prot);
		if (!sh || prot != p->prot)
			FZ_FAIL(f,
				"PREFETCH to device %u left va 0x%" PRIx64
				" %s (prot 0x%x), mapped prot 0x%x",
				loc, idx_va(idx + i),
				sh ? "mapped" : "without a translation",
				sh ? prot : 0, p->prot);
		if (idx_win(idx + i) == 1 &&
		    !((idx + i - wins[1].first) % 512) && i + 512 <= n &&
		    slot_huge_eligible(v, m, idx + i)) {
			f->st.huge_required++;
			if (sh != 21)
				FZ_FAIL(f,
					"PREFETCH of a 2 MiB run with a "
					"2 MiB aligned host address made "
					"4 KiB leaves at va 0x%" PRIx64,
					idx_va(idx + i));
		}
	}
}

static void op_attr(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_request req = { .op = VSVM_CMD_SET_ATTR };
	struct vsvm_attr_val a[2];
	uint32_t idx, n, i, na = 0, cap = VSVM_DEVICE_ACCESS_RW, r;
	bool set_cap = true;
	uint16_t st;

	if (chance(f, 15)) {
		uint32_t w = rn(f, 3);

		idx = wins[w].first;
		n = wins[w].pages;
	} else {
		pick_range(f, 32, &idx, &n);
	}
	r = rn(f, 100);
	cap = r < 40 ? VSVM_DEVICE_ACCESS_RW :
	      r < 70 ? VSVM_DEVICE_ACCESS_RO :
		       VSVM_DEVICE_ACCESS_NONE;
	if (chance(f, 20)) {
		a[na++] = (struct vsvm_attr_val){ VSVM_ATTR_ACCESSED_BY, 0,
						  rn(f, 1u << NDEV) };
		set_cap = chance(f, 50);
	}
	if (set_cap)
		a[na++] = (struct vsvm_attr_val){ VSVM_ATTR_DEVICE_ACCESS, 0,
						  cap };
	req.u.attr.va = idx_va(idx);
	req.u.attr.len = n * PG;
	req.u.attr.nr_attrs = na;
	req.u.attr.attrs = a;
	st = one(f, v, m, &req, NULL);
	logf_(f,
	      "vm %u ctx %u SET_ATTR va 0x%" PRIx64 " len 0x%" PRIx64
	      " %s%s -> %s",
	      (unsigned int)(v - f->vm), m->id, idx_va(idx), n * PG,
	      set_cap ? "DEVICE_ACCESS " : "",
	      set_cap ? cap_name((uint8_t)cap) : "", vsvm_status_name(st));
	if (st != VSVM_OK)
		FZ_FAIL(f, "SET_ATTR refused: %s", vsvm_status_name(st));
	if (set_cap)
		for (i = 0; i < n; i++)
			m->pg[idx + i].cap = (uint8_t)cap;
}

/* ---- launches ---------------------------------------------------------- */

static bool page_allows(const struct mpage *p, uint32_t need)
{
	return p->prot && (p->prot & need) == need &&
	       (cap_mask(p->cap) & need) == need;
}

/* A run of up to maxp pages starting at a random accessible page. */
static bool find_run(struct fz *f, struct mctx *m, uint32_t need, uint32_t maxp,
		     uint32_t *idx, uint32_t *n)
{
	uint32_t tries, i, w;

	for (tries = 0; tries < 32; tries++) {
		if (m->recent_n && tries < 8 && chance(f, 50))
			i = m->recent_idx + rn(f, m->recent_n);
		else
			i = rn(f, NPG);
		if (i >= NPG)
			continue;
		if (!page_allows(&m->pg[i], need))
			continue;
		w = idx_win(i);
		*idx = i;
		*n = 1;
		while (*n < maxp && i + *n < wins[w].first + wins[w].pages &&
		       page_allows(&m->pg[i + *n], need))
			(*n)++;
		return true;
	}
	return false;
}

struct prepick {
	uint32_t idx;
	uint64_t gpa;
	uint32_t prot;
	bool used;
};

/* Fault handling while a launch runs: the test is the guest. */
struct guest {
	struct prepick pick[16];
	uint32_t nr;
	bool destroy; /* DESTROY at the first fault instead */
	bool destroyed;
};

static uint32_t fdpage(struct mvm *v, uint64_t gpa)
{
	int64_t off = gpa_fdoff(v->lay, gpa);

	assert_true(off >= 0);
	return (uint32_t)((uint64_t)off / PG);
}

/*
 * Another live context (of this VM or another) answers fault id with
 * ERR_FAULT and asks for events: it must not reach the owner's fault (the
 * owner's launch would fail) nor see its events.
 */
static void intrude(struct fz *f, struct mvm *v, struct mctx *m, uint32_t id)
{
	struct mvm *ov = &f->vm[rn(f, NVM)];
	struct mctx *om = &ov->ctx[rn(f, NCTX)];
	struct vsvm_request req = { .op = VSVM_CMD_FAULT_REPLY };
	struct vsvm_resolution res = { id, VSVM_ERR_FAULT };
	struct vsvm_response rsp;

	if (om == m || !om->live)
		return;
	req.u.fault_reply.nr = 1;
	req.u.fault_reply.res = &res;
	if (one(f, ov, om, &req, &rsp) != VSVM_OK ||
	    rsp.u.fault_reply.resolved != 0 || rsp.u.fault_reply.unknown != 1)
		FZ_FAIL(f,
			"vm %u ctx %u answered fault %u of vm %u ctx %u: "
			"resolved %u unknown %u",
			(unsigned int)(ov - f->vm), om->id, id,
			(unsigned int)(v - f->vm), m->id,
			rsp.u.fault_reply.resolved, rsp.u.fault_reply.unknown);
	req = (struct vsvm_request){ .op = VSVM_CMD_EVENT_WAIT };
	req.u.wait.max_events = 64;
	req.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
	if (one(f, ov, om, &req, &rsp) != VSVM_OK || rsp.u.wait.nr_events ||
	    rsp.u.wait.pending)
		FZ_FAIL(f,
			"vm %u ctx %u, idle, got %u events (%u pending) "
			"while vm %u ctx %u had a fault",
			(unsigned int)(ov - f->vm), om->id,
			rsp.u.wait.nr_events, rsp.u.wait.pending,
			(unsigned int)(v - f->vm), m->id);
	logf_(f, "vm %u ctx %u tried to answer fault %u of vm %u ctx %u",
	      (unsigned int)(ov - f->vm), om->id, id, (unsigned int)(v - f->vm),
	      m->id);
	f->st.intrusions++;
}

/* Answer forwarded faults until the launch completes. */
static void serve_faults(struct fz *f, struct mvm *v, struct mctx *m,
			 struct sub *l, struct guest *g)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!sub_wait(l, 1)) {
		struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
		struct vsvm_response rsp;
		struct sub *w = sub_new(m->id);
		uint32_t i, k;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > WAIT_MS / 1000)
			FZ_FAIL(f, "launch did not complete");
		req.u.wait.max_events = 64;
		req.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
		sub_add(w, &req);
		vp_svm_submit(v->svm, &w->s);
		assert_true(sub_wait(w, WAIT_MS));
		sub_reply(w, 0, &rsp);
		if (rsp.status != VSVM_OK)
			FZ_FAIL(f, "EVENT_WAIT: %s",
				vsvm_status_name(rsp.status));
		for (i = 0; i < rsp.u.wait.nr_events; i++) {
			struct vsvm_event_val ev;
			struct vsvm_resolution res;
			struct vsvm_run run;
			struct sub *a;
			struct vsvm_response ar;

			vsvm_response_event(&rsp, i, &ev);
			if (ev.type != VSVM_EVENT_FAULT)
				continue;
			for (k = 0; k < g->nr; k++)
				if (idx_va(g->pick[k].idx) == ev.va)
					break;
			if (k == g->nr) {
				/* Nothing the test expected to fault. */
				res = (struct vsvm_resolution){
					ev.id, VSVM_ERR_FAULT
				};
				req = (struct vsvm_request){
					.op = VSVM_CMD_FAULT_REPLY
				};
				req.u.fault_reply.nr = 1;
				req.u.fault_reply.res = &res;
				one(f, v, m, &req, NULL);
				FZ_FAIL(f,
					"forwarded fault at va 0x%" PRIx64
					" (access %u, device %u) the "
					"model says is accessible",
					(uint64_t)ev.va, ev.arg, ev.device);
			}
			if (g->destroy) {
				req = (struct vsvm_request){
					.op = VSVM_CMD_DESTROY
				};
				if (one(f, v, m, &req, NULL) != VSVM_OK)
					FZ_FAIL(f, "DESTROY refused");
				logf_(f,
				      "vm %u ctx %u DESTROY at fault va "
				      "0x%" PRIx64,
				      (unsigned int)(v - f->vm), m->id,
				      (uint64_t)ev.va);
				g->destroyed = true;
				model_reset_ctx(m);
				sub_free(w);
				if (!sub_wait(l, WAIT_MS))
					FZ_FAIL(f, "DESTROY left the launch "
						   "running");
				return;
			}
			if (chance(f, 30))
				intrude(f, v, m, ev.id);
			/* MAP + FAULT_REPLY, as one submission. */
			a = sub_new(m->id);
			run = (struct vsvm_run){ g->pick[k].gpa, PG };
			req = (struct vsvm_request){ .op = VSVM_CMD_MAP };
			req.u.map.va = ev.va;
			req.u.map.len = PG;
			req.u.map.prot = g->pick[k].prot;
			req.u.map.nr_runs = 1;
			req.u.map.runs = &run;
			req.u.map.inval_seq = m->seq;
			sub_add(a, &req);
			res = (struct vsvm_resolution){ ev.id, VSVM_OK };
			req = (struct vsvm_request){
				.op = VSVM_CMD_FAULT_REPLY
			};
			req.u.fault_reply.nr = 1;
			req.u.fault_reply.res = &res;
			sub_add(a, &req);
			vp_svm_submit(v->svm, &a->s);
			assert_true(sub_wait(a, WAIT_MS));
			sub_reply(a, 0, &ar);
			if (ar.status != VSVM_OK)
				FZ_FAIL(f, "MAP answering a fault: %s",
					vsvm_status_name(ar.status));
			sub_reply(a, 1, &ar);
			if (ar.status != VSVM_OK)
				FZ_FAIL(f, "FAULT_REPLY: %s",
					vsvm_status_name(ar.status));
			sub_free(a);
			logf_(f,
			      "vm %u ctx %u fault va 0x%" PRIx64
			      " dev %u -> MAP GPA 0x%" PRIx64
			      " prot 0x%x + REPLY",
			      (unsigned int)(v - f->vm), m->id, (uint64_t)ev.va,
			      ev.device, g->pick[k].gpa, g->pick[k].prot);
			m->pg[g->pick[k].idx].gpa = g->pick[k].gpa;
			m->pg[g->pick[k].idx].prot = (uint8_t)g->pick[k].prot;
			g->pick[k].used = true;
			f->st.faults_answered++;
		}
		sub_free(w);
	}
}

static struct sub *launch(struct fz *f, struct mvm *v, struct mctx *m,
			  uint32_t kernel, uint32_t dev, const uint64_t *args)
{
	struct vsvm_request req = { .op = VSVM_CMD_LAUNCH };
	struct sub *l = sub_new(m->id);

	(void)f;
	req.u.launch.kernel = kernel;
	req.u.launch.device = dev;
	req.u.launch.nr_args = vsvm_kernel_nr_args(kernel);
	memcpy(req.u.launch.args, args, req.u.launch.nr_args * 8);
	sub_add(l, &req);
	vp_svm_submit(v->svm, &l->s);
	return l;
}

/* Run a launch to its end, answering faults per g; return its reply. */
static void run_launch(struct fz *f, struct mvm *v, struct mctx *m,
		       uint32_t kernel, uint32_t dev, const uint64_t *args,
		       struct guest *g, struct vsvm_response *rsp)
{
	struct guest none = { .nr = 0 };
	struct sub *l = launch(f, v, m, kernel, dev, args);

	serve_faults(f, v, m, l, g ? g : &none);
	sub_reply(l, 0, rsp);
	sub_free(l);
	logf_(f,
	      "vm %u ctx %u LAUNCH %s dev %u args 0x%" PRIx64 " 0x%" PRIx64
	      " 0x%" PRIx64 " -> %s result %" PRIu64 " faults %" PRIu64,
	      (unsigned int)(v - f->vm), m->id, vsvm_kernel_name(kernel), dev,
	      args[0], args[1], args[2], vsvm_status_name(rsp->status),
	      (uint64_t)rsp->u.launch.result, (uint64_t)rsp->u.launch.faults);
}

/* After a FILL of [idx, idx + n) with value: check, then update the model. */
static void fill_landed(struct fz *f, struct mvm *v, struct mctx *m,
			uint32_t idx, uint32_t n, uint32_t value)
{
	uint32_t vmi = (uint32_t)(v - f->vm), i, k;

	for (i = 0; i < n; i++) {
		uint32_t p = fdpage(v, m->pg[idx + i].gpa);
		const uint32_t *w = (uint32_t *)(v->view + (uint64_t)p * PG);

		for (k = 0; k < PG / 4; k++)
			if (w[k] != value)
				FZ_FAIL(f,
					"FILL did not reach va 0x%" PRIx64
					" (GPA 0x%" PRIx64 ") word %u: "
					"0x%x",
					idx_va(idx + i), m->pg[idx + i].gpa, k,
					w[k]);
	}
	for (i = 0; i < n; i++) {
		uint32_t p = fdpage(v, m->pg[idx + i].gpa);

		v->pv[p] = value;
		restamp_tag(v, vmi, p);
	}
}

static void k_fill(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t idx, n, value = (uint32_t)rnd(f);
	uint64_t args[3];
	struct vsvm_response rsp;

	if (!find_run(f, m, VSVM_PROT_WRITE, 16, &idx, &n))
		return;
	args[0] = idx_va(idx);
	args[1] = n * PG / 4;
	args[2] = value;
	run_launch(f, v, m, VSVM_KERNEL_FILL, rn(f, NDEV), args, NULL, &rsp);
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "FILL over a writable range: %s",
			vsvm_status_name(rsp.status));
	f->st.launches_ok++;
	fill_landed(f, v, m, idx, n, value);
}

/* FILL over a range with pages the guest must map on demand. */
static void k_fill_faulting(struct fz *f, struct mvm *v, struct mctx *m,
			    bool destroy)
{
	uint32_t idx, n, i, value = (uint32_t)rnd(f), tries;
	struct guest g = { .destroy = destroy };
	struct vsvm_response rsp;
	uint64_t args[3];

	for (tries = 0; tries < 16; tries++) {
		bool ok = true, any = false;

		pick_kernel_range(f, m, 8, &idx, &n);
		for (i = 0; i < n; i++) {
			const struct mpage *p = &m->pg[idx + i];

			if (p->cap != VSVM_DEVICE_ACCESS_RW)
				ok = false;
			if (!page_allows(p, VSVM_PROT_WRITE))
				any = true;
			/* A DESTROY must find nothing written yet. */
			if (destroy && p->prot)
				ok = false;
		}
		if (ok && any)
			break;
	}
	if (tries == 16)
		return;
	for (i = 0; i < n; i++) {
		if (page_allows(&m->pg[idx + i], VSVM_PROT_WRITE))
			continue;
		g.pick[g.nr++] =
			(struct prepick){ idx + i,
					  v->lay->hot + rn(f, HOT_PAGES) * PG,
					  chance(f, 50) ? P_RW : P_RWA, false };
	}
	args[0] = idx_va(idx);
	args[1] = n * PG / 4;
	args[2] = value;
	run_launch(f, v, m, VSVM_KERNEL_FILL, rn(f, NDEV), args, &g, &rsp);
	if (destroy) {
		if (!g.destroyed)
			FZ_FAIL(f, "FILL over unmapped pages forwarded no "
				   "fault");
		if (rsp.status != VSVM_ERR_CANCELED)
			FZ_FAIL(f, "launch of a destroyed context: %s",
				vsvm_status_name(rsp.status));
		f->st.destroy_in_fault++;
		return;
	}
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "FILL with answered faults: %s",
			vsvm_status_name(rsp.status));
	for (i = 0; i < g.nr; i++)
		if (!g.pick[i].used)
			FZ_FAIL(f,
				"FILL wrote va 0x%" PRIx64
				" without a fault the guest answered",
				idx_va(g.pick[i].idx));
	f->st.launches_ok++;
	fill_landed(f, v, m, idx, n, value);
}

/* FILL of a writable page whose DEVICE_ACCESS forbids writes. */
static void k_forbidden(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_response rsp;
	uint64_t args[3];
	uint32_t tries, i;

	for (tries = 0; tries < 64; tries++) {
		i = rn(f, NPG);
		if ((m->pg[i].prot & VSVM_PROT_WRITE) &&
		    m->pg[i].cap != VSVM_DEVICE_ACCESS_RW)
			break;
	}
	if (tries == 64)
		return;
	args[0] = idx_va(i);
	args[1] = PG / 4;
	args[2] = 0xdeadbeef;
	run_launch(f, v, m, VSVM_KERNEL_FILL, rn(f, NDEV), args, NULL, &rsp);
	if (rsp.status != VSVM_ERR_FAULT || rsp.u.launch.fault_va != args[0])
		FZ_FAIL(f,
			"FILL of va 0x%" PRIx64
			" (DEVICE_ACCESS %s): %s fault_va 0x%" PRIx64
			", expected FAULT at that page",
			args[0], cap_name(m->pg[i].cap),
			vsvm_status_name(rsp.status),
			(uint64_t)rsp.u.launch.fault_va);
	f->st.forbidden_ok++;
}

static void k_copy(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t si, sn, di, dn, n, i, j, vmi = (uint32_t)(v - f->vm);
	struct vsvm_response rsp;
	uint64_t args[3];

	if (!find_run(f, m, VSVM_PROT_READ, 8, &si, &sn) ||
	    !find_run(f, m, VSVM_PROT_WRITE, 8, &di, &dn))
		return;
	n = sn < dn ? sn : dn;
	/* Sources and destinations disjoint in GPA, destinations distinct. */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			if (m->pg[si + i].gpa == m->pg[di + j].gpa)
				return;
			if (i < j && m->pg[di + i].gpa == m->pg[di + j].gpa)
				return;
		}
	args[0] = idx_va(di);
	args[1] = idx_va(si);
	args[2] = n * PG;
	run_launch(f, v, m, VSVM_KERNEL_COPY, rn(f, NDEV), args, NULL, &rsp);
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "COPY over accessible ranges: %s",
			vsvm_status_name(rsp.status));
	f->st.launches_ok++;
	for (i = 0; i < n; i++) {
		uint32_t ps = fdpage(v, m->pg[si + i].gpa);
		uint32_t pd = fdpage(v, m->pg[di + i].gpa);
		const uint32_t *w = (uint32_t *)(v->view + (uint64_t)pd * PG);
		uint64_t tag;

		memcpy(&tag, w, sizeof(tag));
		if (tag != TAG(vmi, ps))
			FZ_FAIL(f,
				"COPY: destination va 0x%" PRIx64
				" has tag 0x%" PRIx64 ", source's 0x%" PRIx64,
				idx_va(di + i), tag, TAG(vmi, ps));
		for (j = 2; j < PG / 4; j++)
			if (w[j] != v->pv[ps])
				FZ_FAIL(f,
					"COPY: destination va 0x%" PRIx64
					" word %u 0x%x, expected 0x%x",
					idx_va(di + i), j, w[j], v->pv[ps]);
	}
	for (i = 0; i < n; i++) {
		uint32_t ps = fdpage(v, m->pg[si + i].gpa);
		uint32_t pd = fdpage(v, m->pg[di + i].gpa);

		v->pv[pd] = v->pv[ps];
		restamp_tag(v, vmi, pd);
	}
}

static void k_histogram(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t bi, bn, di, dn, i, j, k = 1 + rn(f, 32);
	uint32_t vmi = (uint32_t)(v - f->vm), pb;
	uint64_t count[32] = { 0 }, orig[32], args[4], *bins;
	struct vsvm_response rsp;

	if (!find_run(f, m, VSVM_PROT_ATOMIC, 1, &bi, &bn) ||
	    !find_run(f, m, VSVM_PROT_READ, 4, &di, &dn))
		return;
	for (i = 0; i < dn; i++)
		if (m->pg[di + i].gpa == m->pg[bi].gpa)
			return;
	pb = fdpage(v, m->pg[bi].gpa);
	/* The expected counts, from the model of the data pages. */
	for (i = 0; i < dn; i++) {
		uint32_t p = fdpage(v, m->pg[di + i].gpa);
		uint64_t tag = TAG(vmi, p);

		count[(uint32_t)tag % k]++;
		count[(uint32_t)(tag >> 32) % k]++;
		count[v->pv[p] % k] += PG / 4 - 2;
	}
	for (j = 0; j < k; j++)
		orig[j] = j ? (uint64_t)v->pv[pb] << 32 | v->pv[pb] :
			      TAG(vmi, pb);
	args[0] = idx_va(bi);
	args[1] = idx_va(di);
	args[2] = dn * PG / 4;
	args[3] = k;
	run_launch(f, v, m, VSVM_KERNEL_HISTOGRAM, rn(f, NDEV), args, NULL,
		   &rsp);
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "HISTOGRAM over accessible ranges: %s",
			vsvm_status_name(rsp.status));
	f->st.launches_ok++;
	bins = (uint64_t *)(v->view + (uint64_t)pb * PG);
	for (j = 0; j < k; j++)
		if (bins[j] != orig[j] + count[j])
			FZ_FAIL(f,
				"HISTOGRAM bin %u: 0x%" PRIx64
				", expected 0x%" PRIx64,
				j, bins[j], orig[j] + count[j]);
	memcpy(bins, orig, k * sizeof(*bins));
}

/*
 * FILL a range, take it away (UNMAP, or MAP it to other guest pages), FILL
 * it again on the same device at once: no other VM runs in between, so a
 * TLB entry that survived the change would be used, and the second FILL
 * would land in the old pages.
 */
static void k_retouch(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t idx, n, i, dev = rn(f, NDEV);
	struct guest g = { .nr = 0 };
	struct vsvm_response rsp;
	struct vsvm_run run;
	uint64_t args[3];

	if (!find_run(f, m, VSVM_PROT_WRITE, 8, &idx, &n))
		return;
	args[0] = idx_va(idx);
	args[1] = n * PG / 4;
	args[2] = (uint32_t)rnd(f);
	run_launch(f, v, m, VSVM_KERNEL_FILL, dev, args, NULL, &rsp);
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "FILL over a writable range: %s",
			vsvm_status_name(rsp.status));
	fill_landed(f, v, m, idx, n, (uint32_t)args[2]);
	if (chance(f, 50)) {
		do_unmap(f, v, m, args[0], n * PG);
		for (i = 0; i < n; i++)
			g.pick[g.nr++] = (struct prepick){
				idx + i, v->lay->hot + rn(f, HOT_PAGES) * PG,
				P_RW, false
			};
	} else {
		run = (struct vsvm_run){ pick_gpa(f, v, n * PG), n * PG };
		if (!gpa_run_ok(v->lay, run.gpa, run.len))
			return;
		if (do_map(f, v, m, args[0], &run, 1, P_RWA, m->seq) != VSVM_OK)
			FZ_FAIL(f, "MAP of guest RAM refused");
	}
	args[2] = (uint32_t)rnd(f);
	run_launch(f, v, m, VSVM_KERNEL_FILL, dev, args, &g, &rsp);
	if (rsp.status != VSVM_OK)
		FZ_FAIL(f, "FILL after UNMAP/MAP: %s",
			vsvm_status_name(rsp.status));
	for (i = 0; i < g.nr; i++)
		if (!g.pick[i].used)
			FZ_FAIL(f,
				"FILL wrote va 0x%" PRIx64
				" after its UNMAP without a fault",
				idx_va(g.pick[i].idx));
	f->st.launches_ok += 2;
	fill_landed(f, v, m, idx, n, (uint32_t)args[2]);
}

static void op_launch(struct fz *f, struct mvm *v, struct mctx *m)
{
	uint32_t r = rn(f, 100);

	if (r < 25)
		k_fill(f, v, m);
	else if (r < 40)
		k_copy(f, v, m);
	else if (r < 50)
		k_histogram(f, v, m);
	else if (r < 70)
		k_fill_faulting(f, v, m, false);
	else if (r < 75)
		k_fill_faulting(f, v, m, true);
	else if (r < 90)
		k_retouch(f, v, m);
	else
		k_forbidden(f, v, m);
}

/* ---- lifetime steps ------------------------------------------------------ */

static void op_destroy(struct fz *f, struct mvm *v, struct mctx *m)
{
	struct vsvm_request req = { .op = VSVM_CMD_DESTROY };
	uint32_t vmi = (uint32_t)(v - f->vm);

	if (chance(f, 30)) {
		assert_int_equal(vp_svm_ctx_destroy(v->svm, m->id),
				 VIRTIO_GPU_RESP_OK_NODATA);
		m->exists = false;
		logf_(f, "vm %u ctx %u CTX_DESTROY", vmi, m->id);
	} else {
		if (one(f, v, m, &req, NULL) != VSVM_OK)
			FZ_FAIL(f, "DESTROY refused");
		logf_(f, "vm %u ctx %u DESTROY", vmi, m->id);
	}
	model_reset_ctx(m);
}

/* The frontend replaces the memory table (same layout, new mappings). */
static void op_new_memtable(struct fz *f, struct mvm *v)
{
	uint32_t c, i;

	vp_svm_memtable_changed(v->svm);
	vp_memtable_clear(&v->mt);
	mt_build(v);
	for (c = 0; c < NCTX; c++)
		for (i = 0; i < NPG; i++)
			v->ctx[c].pg[i].prot = 0;
	logf_(f, "vm %u new memory table (region 0 at %p)",
	      (unsigned int)(v - f->vm), v->mt.regions[0].map);
}

/* The VM's connection goes and comes back. */
static void op_reconnect(struct fz *f, struct mvm *v)
{
	uint32_t c;

	vp_svm_destroy(v->svm);
	v->svm = vp_svm_create(&f->cfg, &v->mt);
	assert_non_null(v->svm);
	for (c = 0; c < NCTX; c++) {
		v->ctx[c].exists = false;
		model_reset_ctx(&v->ctx[c]);
	}
	logf_(f, "vm %u reconnect", (unsigned int)(v - f->vm));
}

enum {
	OP_MAP,
	OP_UNMAP,
	OP_PREFETCH,
	OP_LAUNCH,
	OP_ATTR,
	OP_BAD_MAP,
	OP_DESTROY,
	OP_MEMTABLE,
	OP_RECONNECT,
	OP_NR
};

static const char *const op_names[OP_NR] = {
	"map",	   "unmap",   "prefetch", "launch",    "set_attr",
	"bad_map", "destroy", "memtable", "reconnect",
};

/* Weights per mille. */
static const uint16_t op_weight[OP_NR] = {
	330, 170, 160, 180, 90, 30, 30, 5, 5
};

static void fz_step(struct fz *f)
{
	uint32_t r = rn(f, 1000), op = 0, acc = 0;
	struct mvm *v = &f->vm[rn(f, NVM)];
	struct mctx *m = &v->ctx[rn(f, NCTX)];

	for (op = 0; op < OP_NR - 1; op++) {
		acc += op_weight[op];
		if (r < acc)
			break;
	}
	f->st.ops[op]++;
	if (op != OP_MEMTABLE && op != OP_RECONNECT)
		ctx_up(f, v, m);
	switch (op) {
	case OP_MAP:
		op_map(f, v, m);
		break;
	case OP_UNMAP:
		op_unmap(f, v, m);
		break;
	case OP_PREFETCH:
		op_prefetch(f, v, m);
		break;
	case OP_LAUNCH:
		op_launch(f, v, m);
		break;
	case OP_ATTR:
		op_attr(f, v, m);
		break;
	case OP_BAD_MAP:
		op_bad_map(f, v, m);
		break;
	case OP_DESTROY:
		op_destroy(f, v, m);
		break;
	case OP_MEMTABLE:
		op_new_memtable(f, v);
		break;
	case OP_RECONNECT:
		op_reconnect(f, v);
		break;
	}
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	uint64_t x;

	if (!s || !*s)
		return def;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "%s: not a number: %s\n", name, s);
		exit(2);
	}
	return x;
}

/* ---- tests --------------------------------------------------------------- */

static void isolation_fuzz(void **state)
{
	struct fz *f = *state;
	uint64_t seed = env_u64("ISOLATION_SEED", DEFAULT_SEED);
	uint64_t iters = env_u64("ISOLATION_ITERS", DEFAULT_ITERS);
	struct timespec t0, t1;
	uint32_t i, c;

	fz_up(f, seed);
	f->verbose = env_u64("ISOLATION_VERBOSE", 0) != 0;
	printf("isolation_fuzz: seed 0x%" PRIx64 ", %" PRIu64
	       " steps (ISOLATION_SEED, ISOLATION_ITERS)\n",
	       f->seed, iters);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (f->step = 1; f->step <= iters; f->step++) {
		fz_step(f);
		check_or_fail(f, f->step % 64 == 0);
	}
	f->step = iters + 1;
	/* Everything goes: DESTROY some, the connections take the rest. */
	for (i = 0; i < NVM; i++) {
		for (c = 0; c < NCTX; c++) {
			struct mctx *m = &f->vm[i].ctx[c];

			if (m->live && c == 0)
				op_destroy(f, &f->vm[i], m);
		}
	}
	check_or_fail(f, true);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("isolation_fuzz: %" PRIu64 " steps in %.1f s:", iters,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (i = 0; i < OP_NR; i++)
		printf(" %s %" PRIu64, op_names[i], f->st.ops[i]);
	printf("\n");
	printf("isolation_fuzz: %" PRIu64 " checks, %" PRIu64
	       " translations checked (%" PRIu64 " in 2 MiB leaves), %" PRIu64
	       " 2 MiB leaves required, %" PRIu64 " kernels ok, %" PRIu64
	       " faults answered, %" PRIu64
	       " forbidden accesses failed, %" PRIu64
	       " DESTROYs during a fault, %" PRIu64
	       " bad MAPs refused, %" PRIu64 " STALE, %" PRIu64
	       " foreign fault replies ignored\n",
	       f->st.checks, f->st.translations, f->st.huge_seen,
	       f->st.huge_required, f->st.launches_ok, f->st.faults_answered,
	       f->st.forbidden_ok, f->st.destroy_in_fault, f->st.map_refused,
	       f->st.stale_ok, f->st.intrusions);
	/* The checks must have had something to check. */
	assert_true(f->st.translations > 0);
	assert_true(iters < 200 || f->st.huge_seen > 0);
	assert_true(iters < 200 || f->st.launches_ok > 0);
	assert_int_equal(fz_down(f), 0);
}

/*
 * The checker has teeth: a page table that is right for the model passes;
 * the same page table against a corrupted model (another GPA, less prot, a
 * DEVICE_ACCESS cap, nothing mapped, another VM's memory with the very same
 * VA and GPA numbers) is reported, each as what it is.
 */
static void checker_detects_corrupted_model(void **state)
{
	struct fz *f = *state;
	struct vsvm_request req = { .op = VSVM_CMD_PREFETCH };
	struct vsvm_run run;
	struct mvm *v0, *v1;
	struct vp_svm *svm0;
	struct mctx *m0, *m1;
	uint32_t idx = wins[0].first + 3, d;

	fz_up(f, 1);
	f->quiet = true;
	v0 = &f->vm[0];
	v1 = &f->vm[1];
	m0 = &v0->ctx[0];
	m1 = &v1->ctx[0];
	ctx_up(f, v0, m0);
	ctx_up(f, v1, m1);
	/* Same ctx_id, VA and GPA numbers in VM 0 and VM 1. */
	run = (struct vsvm_run){ v0->lay->hot, PG };
	assert_int_equal(do_map(f, v0, m0, idx_va(idx), &run, 1, P_RW, 0),
			 VSVM_OK);
	assert_int_equal(do_map(f, v1, m1, idx_va(idx), &run, 1, P_RW, 0),
			 VSVM_OK);
	for (d = 0; d < NDEV; d++) {
		req.u.prefetch.va = idx_va(idx);
		req.u.prefetch.len = PG;
		req.u.prefetch.location = d;
		assert_int_equal(one(f, v0, m0, &req, NULL), VSVM_OK);
		assert_int_equal(one(f, v1, m1, &req, NULL), VSVM_OK);
	}
	assert_int_equal(check_all(f), 0);
	assert_true(f->st.translations >= 4);

	/* Another GPA of the same VM. */
	m0->pg[idx].gpa += PG;
	assert_int_equal(check_all(f), NDEV);
	assert_int_equal(f->viol_wrong_gpa, NDEV);
	m0->pg[idx].gpa -= PG;

	/* Mapped with less than the PTE allows. */
	m0->pg[idx].prot = P_R;
	assert_int_equal(check_all(f), NDEV);
	assert_int_equal(f->viol_prot, NDEV);
	m0->pg[idx].prot = P_RW;

	/* A DEVICE_ACCESS cap the PTE ignores. */
	m0->pg[idx].cap = VSVM_DEVICE_ACCESS_RO;
	assert_int_equal(check_all(f), NDEV);
	m0->pg[idx].cap = VSVM_DEVICE_ACCESS_NONE;
	assert_int_equal(check_all(f), NDEV);
	assert_int_equal(f->viol_prot, 3 * NDEV);
	m0->pg[idx].cap = VSVM_DEVICE_ACCESS_RW;

	/* Nothing mapped there. */
	m0->pg[idx].prot = 0;
	assert_int_equal(check_all(f), NDEV);
	assert_int_equal(f->viol_unmapped, NDEV);
	m0->pg[idx].prot = P_RW;

	/* A context not initialised but with page tables. */
	m0->live = false;
	assert_int_equal(check_all(f), NDEV);
	m0->live = true;

	/*
	 * VM 1's page tables judged by VM 0's model and memory table: the
	 * same VA, ctx_id and GPA number, but another VM's RAM.
	 */
	svm0 = v0->svm;
	v0->svm = v1->svm;
	assert_int_equal(check_all(f), NDEV);
	assert_int_equal(f->viol_cross_vm, NDEV);
	v0->svm = svm0;

	/* A page-table leak: the pool holds more than the page tables. */
	{
		void *p = dev_sim_mem_alloc(f->devs[0], PG, 0);

		assert_non_null(p);
		assert_int_equal(check_all(f), 1);
		dev_sim_mem_free(f->devs[0], p, PG);
	}

	/* A stray write into guest RAM. */
	v1->view[5 * PG + 100] ^= 1;
	assert_int_equal(check_content(f, true), 1);
	v1->view[5 * PG + 100] ^= 1;

	assert_int_equal(check_all(f), 0);
	assert_int_equal(check_content(f, true), 0);
	assert_int_equal(fz_down(f), 0);
}

/* A context of VM 0 with W0 pages 0..15 mapped RWA to the hot window. */
static struct fz *directed_up(void **state)
{
	struct fz *f = *state;
	struct vsvm_run run;

	fz_up(f, 1);
	ctx_up(f, &f->vm[0], &f->vm[0].ctx[0]);
	run = (struct vsvm_run){ f->vm[0].lay->hot, 16 * PG };
	assert_int_equal(do_map(f, &f->vm[0], &f->vm[0].ctx[0], wins[0].va,
				&run, 1, P_RWA, 0),
			 VSVM_OK);
	return f;
}

static void set_cap(struct fz *f, uint32_t idx, uint32_t n, uint32_t cap)
{
	struct vsvm_request req = { .op = VSVM_CMD_SET_ATTR };
	struct vsvm_attr_val a = { VSVM_ATTR_DEVICE_ACCESS, 0, cap };
	struct mctx *m = &f->vm[0].ctx[0];
	uint32_t i;

	req.u.attr.va = idx_va(idx);
	req.u.attr.len = n * PG;
	req.u.attr.nr_attrs = 1;
	req.u.attr.attrs = &a;
	assert_int_equal(one(f, &f->vm[0], m, &req, NULL), VSVM_OK);
	for (i = 0; i < n; i++)
		m->pg[idx + i].cap = (uint8_t)cap;
}

/*
 * A device fault on a page without DEVICE_ACCESS limits must not install
 * PTEs for the pages of its 2 MiB window that have them: page 5 (RO) and
 * page 9 (NONE) keep no write permission, and a FILL of page 5 fails.
 */
static void device_access_holds_in_fault_window(void **state)
{
	struct fz *f = directed_up(state);
	struct mvm *v = &f->vm[0];
	struct mctx *m = &v->ctx[0];
	struct vsvm_response rsp;
	uint64_t args[3] = { wins[0].va, PG / 4, 0x1234 };

	set_cap(f, 5, 1, VSVM_DEVICE_ACCESS_RO);
	set_cap(f, 9, 1, VSVM_DEVICE_ACCESS_NONE);
	run_launch(f, v, m, VSVM_KERNEL_FILL, 0, args, NULL, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	fill_landed(f, v, m, 0, 1, 0x1234);
	if (check_all(f))
		fail_msg("a fault on page 0 mapped pages whose DEVICE_ACCESS "
			 "forbids it (fault.c map_window)");
	args[0] = idx_va(5);
	run_launch(f, v, m, VSVM_KERNEL_FILL, 0, args, NULL, &rsp);
	assert_int_equal(rsp.status, VSVM_ERR_FAULT);
	assert_int_equal(rsp.u.launch.fault_va, idx_va(5));
	assert_int_equal(check_content(f, true), 0);
	assert_int_equal(fz_down(f), 0);
}

/*
 * PREFETCH over a mapped range must skip the pages DEVICE_ACCESS NONE
 * covers (here 4..7) even when the range's first page has no limit.
 */
static void device_access_holds_in_prefetch(void **state)
{
	struct fz *f = directed_up(state);
	struct vsvm_request req = { .op = VSVM_CMD_PREFETCH };

	set_cap(f, 4, 4, VSVM_DEVICE_ACCESS_NONE);
	req.u.prefetch.va = wins[0].va;
	req.u.prefetch.len = 16 * PG;
	req.u.prefetch.location = 0;
	assert_int_equal(one(f, &f->vm[0], &f->vm[0].ctx[0], &req, NULL),
			 VSVM_OK);
	if (check_all(f))
		fail_msg("PREFETCH mapped pages whose DEVICE_ACCESS is NONE "
			 "(context.c prefetch_map)");
	assert_int_equal(fz_down(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(checker_detects_corrupted_model,
						fz_alloc, fz_free),
		cmocka_unit_test_setup_teardown(
			device_access_holds_in_fault_window, fz_alloc, fz_free),
		cmocka_unit_test_setup_teardown(device_access_holds_in_prefetch,
						fz_alloc, fz_free),
		cmocka_unit_test_setup_teardown(isolation_fuzz, fz_alloc,
						fz_free),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("isolation_fuzz", tests, NULL, NULL);
}
