/* SPDX-License-Identifier: MIT */
/*
 * policy_test.h - fixture for the memory-hint, migration and policy tests:
 *                 guest RAM over a memfd, three simulated devices with
 *                 small memories, and a scripted guest driver (the test)
 *                 that answers faults and MIGRATE_REQs with MAP and
 *                 MIGRATE as docs/protocol.md 10.4 describes.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#ifndef POLICY_TEST_H
#define POLICY_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/virtio_gpu.h>
#include <pthread.h>
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

#define P_RAM_SIZE (128ull << 20)
#define P_NDEV 3
#define P_VA 0x7f0000000000ull
#define P_PG 4096ull
#define P_2M (2ull << 20)
#define RW (VSVM_PROT_READ | VSVM_PROT_WRITE | VSVM_PROT_ATOMIC)

struct p_env {
	struct vp_device *devs[P_NDEV];
	struct vp_memtable mt;
	struct vp_svm_config cfg;
	struct vp_policy policy;
	struct vp_svm *svm;
	uint8_t *ram;		/* guest RAM: GPA == offset */
	uint64_t next_gpa;	/* bump allocator of the scripted guest */
	uint64_t dev_mem;
};

struct p_sub {
	struct vp_submit s;
	uint8_t cmds[16384];
	uint8_t reply[16384];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void p_complete(struct vp_submit *s)
{
	struct p_sub *t = (struct p_sub *)s;

	pthread_mutex_lock(&t->lock);
	t->done = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Devices of dev_mem bytes each; policy tweaks applied by the caller. */
static inline void p_env_up(struct p_env *e, uint64_t dev_mem,
			    const struct vp_policy *pol)
{
	uint64_t gpa = 0, size = P_RAM_SIZE, uva, off = 0;
	int fd = memfd_create("p-guest-ram", 0), i;

	memset(e, 0, sizeof(*e));
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)P_RAM_SIZE), 0);
	e->ram = mmap(NULL, P_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0);
	assert_true(e->ram != MAP_FAILED);
	uva = (uint64_t)(uintptr_t)e->ram;
	assert_int_equal(vp_memtable_build(&e->mt, 1, &gpa, &size, &uva, &off,
					   &fd),
			 0);
	e->dev_mem = dev_mem;
	for (i = 0; i < P_NDEV; i++) {
		struct dev_sim_config dc = { .index = (uint32_t)i,
					     .mem_size = dev_mem };

		e->devs[i] = dev_sim_create(&dc);
		assert_non_null(e->devs[i]);
	}
	e->policy = pol ? *pol : vp_policy_defaults;
	e->cfg = (struct vp_svm_config){
		.devices = e->devs,
		.num_devices = P_NDEV,
		.va_bits = 48,
		.max_contexts = 64,
		.max_ranges = 1 << 16,
		.max_launches = 16,
		.max_fault_batch = 256,
		.max_submit_bytes = 64 << 10,
		.policy = &e->policy,
	};
	e->svm = vp_svm_create(&e->cfg, &e->mt);
	assert_non_null(e->svm);
	e->next_gpa = P_2M;	/* 2 MiB aligned runs map with 2 MiB PTEs */
}

static inline uint64_t p_dev_used(struct p_env *e, uint32_t d)
{
	struct vp_device_info info;

	e->devs[d]->ops->info(e->devs[d], &info);
	return info.mem_used;
}

static inline void p_env_down(struct p_env *e)
{
	int i;

	vp_svm_destroy(e->svm);
	/* Nothing leaked: every pool is empty again. */
	for (i = 0; i < P_NDEV; i++)
		assert_int_equal(p_dev_used(e, (uint32_t)i), 0);
	for (i = 0; i < P_NDEV; i++)
		e->devs[i]->ops->destroy(e->devs[i]);
	vp_memtable_clear(&e->mt);
	munmap(e->ram, P_RAM_SIZE);
}

/* Guest pages for the scripted guest: never reused, so never stale. */
static inline uint64_t p_gpa_alloc(struct p_env *e, uint64_t len)
{
	uint64_t g = e->next_gpa;

	e->next_gpa += (len + P_2M - 1) & ~(P_2M - 1);
	assert_true(e->next_gpa <= P_RAM_SIZE);
	return g;
}

static inline struct p_sub *p_sub_new(uint32_t ctx_id)
{
	struct p_sub *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->s.ctx_id = ctx_id;
	t->s.cmds = t->cmds;
	t->s.reply = t->reply;
	t->s.reply_cap = sizeof(t->reply);
	t->s.complete = p_complete;
	return t;
}

static inline void p_sub_free(struct p_sub *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static inline void p_add(struct p_sub *t, const struct vsvm_request *req)
{
	struct vsvm_writer w;

	vsvm_writer_init(&w, t->cmds, sizeof(t->cmds));
	w.off = t->s.cmds_len;
	assert_true(vsvm_encode_request(&w, req) > 0);
	t->s.cmds_len = w.off;
}

static inline void p_wait(struct p_sub *t)
{
	pthread_mutex_lock(&t->lock);
	while (!t->done)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

static inline int p_is_done(struct p_sub *t)
{
	int d;

	pthread_mutex_lock(&t->lock);
	d = t->done;
	pthread_mutex_unlock(&t->lock);
	return d;
}

static inline void p_reply(struct p_sub *t, unsigned int n,
			   struct vsvm_response *rsp)
{
	uint32_t off = 0;
	unsigned int i;
	int ret = 0;

	for (i = 0; i <= n; i++) {
		ret = vsvm_decode_response(t->reply + off,
					   t->s.reply_len - off, rsp);
		assert_true(ret > 0);
		off += (uint32_t)ret;
	}
}

/* Submit one command, wait; rsp (optional) must not hold arrays. */
static inline uint16_t p_one(struct p_env *e, uint32_t ctx,
			     const struct vsvm_request *req,
			     struct vsvm_response *rsp)
{
	struct p_sub *t = p_sub_new(ctx);
	struct vsvm_response r;

	p_add(t, req);
	vp_svm_submit(e->svm, &t->s);
	p_wait(t);
	p_reply(t, 0, &r);
	if (rsp)
		*rsp = r;
	p_sub_free(t);
	return r.status;
}

static inline void p_ctx(struct p_env *e, uint32_t id)
{
	struct vsvm_request req = { .op = VSVM_CMD_INIT };

	assert_int_equal(vp_svm_ctx_create(e->svm, id, VSVM_CAPSET_ID),
			 VIRTIO_GPU_RESP_OK_NODATA);
	req.u.init.major = VSVM_PROTO_MAJOR;
	assert_int_equal(p_one(e, id, &req, NULL), VSVM_OK);
}

static inline uint16_t p_map(struct p_env *e, uint32_t ctx, uint64_t va,
			     uint64_t gpa, uint64_t len, uint32_t prot)
{
	struct vsvm_run run = { gpa, len };
	struct vsvm_request req = { .op = VSVM_CMD_MAP };

	req.u.map.va = va;
	req.u.map.len = len;
	req.u.map.prot = prot;
	req.u.map.nr_runs = 1;
	req.u.map.runs = &run;
	return p_one(e, ctx, &req, NULL);
}

static inline uint16_t p_unmap(struct p_env *e, uint32_t ctx, uint64_t va,
			       uint64_t len, uint64_t seq)
{
	struct vsvm_request req = { .op = VSVM_CMD_UNMAP };

	req.u.unmap.va = va;
	req.u.unmap.len = len;
	req.u.unmap.seq = seq;
	return p_one(e, ctx, &req, NULL);
}

/* MIGRATE with one run (gpa, len) or none (gpa = ~0); *bytes if asked. */
static inline uint16_t p_migrate(struct p_env *e, uint32_t ctx, uint64_t va,
				 uint64_t len, uint32_t loc, uint64_t gpa,
				 uint32_t request_id, uint64_t *bytes)
{
	struct vsvm_run run = { gpa, len };
	struct vsvm_request req = { .op = VSVM_CMD_MIGRATE };
	struct vsvm_response rsp;
	uint16_t st;

	req.u.migrate.va = va;
	req.u.migrate.len = len;
	req.u.migrate.location = loc;
	req.u.migrate.request_id = request_id;
	req.u.migrate.nr_runs = gpa == ~0ull ? 0 : 1;
	req.u.migrate.runs = &run;
	st = p_one(e, ctx, &req, &rsp);
	if (bytes)
		*bytes = st == VSVM_OK ? rsp.u.migrate.bytes : 0;
	return st;
}

static inline uint16_t p_prefetch(struct p_env *e, uint32_t ctx, uint64_t va,
				  uint64_t len, uint32_t loc, uint32_t flags,
				  struct vsvm_response *rsp)
{
	struct vsvm_request req = { .op = VSVM_CMD_PREFETCH };

	req.u.prefetch.va = va;
	req.u.prefetch.len = len;
	req.u.prefetch.location = loc;
	req.u.prefetch.flags = flags;
	return p_one(e, ctx, &req, rsp);
}

static inline uint16_t p_set_attr(struct p_env *e, uint32_t ctx, uint64_t va,
				  uint64_t len, uint32_t type, uint64_t value)
{
	struct vsvm_attr_val a = { .type = type, .value = value };
	struct vsvm_request req = { .op = VSVM_CMD_SET_ATTR };

	req.u.attr.va = va;
	req.u.attr.len = len;
	req.u.attr.nr_attrs = 1;
	req.u.attr.attrs = &a;
	return p_one(e, ctx, &req, NULL);
}

/* GET_ATTR of one type: value, and whether it is MIXED over the range. */
static inline uint64_t p_get_attr(struct p_env *e, uint32_t ctx, uint64_t va,
				  uint64_t len, uint32_t type, int *mixed)
{
	struct vsvm_attr_val a = { .type = type }, out;
	struct vsvm_request req = { .op = VSVM_CMD_GET_ATTR };
	struct p_sub *t = p_sub_new(ctx);
	struct vsvm_response rsp;

	req.u.attr.va = va;
	req.u.attr.len = len;
	req.u.attr.nr_attrs = 1;
	req.u.attr.attrs = &a;
	p_add(t, &req);
	vp_svm_submit(e->svm, &t->s);
	p_wait(t);
	p_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	vsvm_response_attr(&rsp, 0, &out);
	p_sub_free(t);
	if (mixed)
		*mixed = !!(out.flags & VSVM_ATTR_F_MIXED);
	return out.value;
}

/* Take up to max pending events without waiting; return how many. */
static inline uint32_t p_events(struct p_env *e, uint32_t ctx,
				struct vsvm_event_val *ev, uint32_t max)
{
	struct vsvm_request req = { .op = VSVM_CMD_EVENT_WAIT };
	struct p_sub *t = p_sub_new(ctx);
	struct vsvm_response rsp;
	uint32_t i;

	req.u.wait.max_events = max;
	req.u.wait.flags = VSVM_WAIT_F_NONBLOCK;
	p_add(t, &req);
	vp_svm_submit(e->svm, &t->s);
	p_wait(t);
	p_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	for (i = 0; i < rsp.u.wait.nr_events; i++)
		vsvm_response_event(&rsp, i, &ev[i]);
	p_sub_free(t);
	return rsp.u.wait.nr_events;
}

static inline struct vp_ctx_stats p_stats(struct p_env *e, uint32_t ctx)
{
	struct vp_ctx_stats st;

	assert_int_equal(vp_svm_ctx_stats(e->svm, ctx, &st), 0);
	return st;
}

/* QUERY: device memory the context holds on dev. */
static inline uint64_t p_ctx_mem(struct p_env *e, uint32_t ctx, uint32_t d)
{
	struct vsvm_request req = { .op = VSVM_CMD_QUERY };
	struct p_sub *t = p_sub_new(ctx);
	struct vsvm_response rsp;
	struct vsvm_device_val dv;

	p_add(t, &req);
	vp_svm_submit(e->svm, &t->s);
	p_wait(t);
	p_reply(t, 0, &rsp);
	assert_int_equal(rsp.status, VSVM_OK);
	vsvm_response_device(&rsp, d, &dv);
	p_sub_free(t);
	return dv.mem_used;
}

static inline uint32_t p_features(struct p_env *e, uint32_t ctx)
{
	struct vsvm_request req = { .op = VSVM_CMD_QUERY };
	struct vsvm_response rsp;

	assert_int_equal(p_one(e, ctx, &req, &rsp), VSVM_OK);
	return rsp.u.init.features;
}

/* Run a kernel to the end, answering nothing (all must be mapped). */
struct p_run {
	uint16_t status;
	uint64_t result;
	uint64_t faults;
};

static inline struct p_sub *p_launch(struct p_env *e, uint32_t ctx,
				     uint32_t kernel, uint32_t dev,
				     const uint64_t *args)
{
	struct vsvm_request req = { .op = VSVM_CMD_LAUNCH };
	struct p_sub *t = p_sub_new(ctx);

	req.u.launch.kernel = kernel;
	req.u.launch.device = dev;
	req.u.launch.nr_args = vsvm_kernel_nr_args(kernel);
	memcpy(req.u.launch.args, args, req.u.launch.nr_args * 8);
	p_add(t, &req);
	vp_svm_submit(e->svm, &t->s);
	return t;
}

static inline struct p_run p_finish(struct p_sub *t)
{
	struct vsvm_response rsp;
	struct p_run r;

	p_wait(t);
	p_reply(t, 0, &rsp);
	r.status = rsp.status;
	r.result = rsp.u.launch.result;
	r.faults = rsp.u.launch.faults;
	p_sub_free(t);
	return r;
}

static inline struct p_run p_run(struct p_env *e, uint32_t ctx,
				 uint32_t kernel, uint32_t dev,
				 const uint64_t *args)
{
	return p_finish(p_launch(e, ctx, kernel, dev, args));
}

/* FILL n u32 at va with value on dev. */
static inline struct p_run p_fill(struct p_env *e, uint32_t ctx, uint32_t dev,
				  uint64_t va, uint64_t n, uint32_t value)
{
	uint64_t a[3] = { va, n, value };

	return p_run(e, ctx, VSVM_KERNEL_FILL, dev, a);
}

/* COPY bytes from src to dst on dev. */
static inline struct p_run p_copy(struct p_env *e, uint32_t ctx, uint32_t dev,
				  uint64_t dst, uint64_t src, uint64_t bytes)
{
	uint64_t a[3] = { dst, src, bytes };

	return p_run(e, ctx, VSVM_KERNEL_COPY, dev, a);
}

static inline void p_pattern(uint8_t *p, uint64_t len, uint32_t seed)
{
	uint64_t i;

	for (i = 0; i < len / 4; i++)
		((uint32_t *)p)[i] = seed * 2654435761u + (uint32_t)i;
}

static inline int p_pattern_ok(const uint8_t *p, uint64_t len, uint32_t seed)
{
	uint64_t i;

	for (i = 0; i < len / 4; i++)
		if (((const uint32_t *)p)[i] != seed * 2654435761u + (uint32_t)i)
			return 0;
	return 1;
}

/* Where dev's page table sends va: 0 none, 1 guest RAM, 2 + d: device d. */
static inline int p_pte_where(struct p_env *e, uint32_t ctx, uint32_t dev,
			      uint64_t va, uint32_t *prot)
{
	struct vp_dev_vm *vm = vp_svm_ctx_vm(e->svm, ctx, dev);
	uint32_t pr = 0, d;
	void *hva;

	assert_non_null(vm);
	if (!dev_sim_vm_translate(vm, va, &hva, &pr))
		return 0;
	if (prot)
		*prot = pr;
	{
		/* The proxy's own mapping of guest RAM, not e->ram. */
		uint64_t avail;
		uint8_t *base = vp_memtable_gpa_extent(&e->mt, 0, &avail);

		if ((uint8_t *)hva >= base && (uint8_t *)hva < base + avail)
			return 1;
	}
	for (d = 0; d < P_NDEV; d++)
		if (dev_sim_mem_contains(e->devs[d], hva, 1))
			return 2 + (int)d;
	return -1;
}



/*
 * The scripted guest driver: it knows, per page of one range, the guest
 * page holding the data or the device holding it (a device-private entry
 * in a real guest), and answers MIGRATE_REQs as docs/protocol.md 10.4 says.
 */
#define P_SYS 0xff

struct p_guest {
	uint32_t ctx;
	uint64_t va;
	uint64_t pages;
	uint64_t *gpa;		/* valid where dev[i] == P_SYS */
	uint8_t *dev;
	/* What the driver saw and did. */
	uint32_t reqs_to_dev;
	uint32_t reqs_to_sys;
	uint32_t declined;
	uint32_t nospc;
	uint32_t done_events;
	uint32_t done_token;
	uint32_t done_status;
	uint32_t faults;
};

/* Map [va, va + len) with fresh guest pages holding pattern seed. */
static inline void p_guest_map(struct p_env *e, struct p_guest *g,
			       uint32_t ctx, uint64_t va, uint64_t len,
			       uint32_t seed)
{
	uint64_t gpa = p_gpa_alloc(e, len), i;

	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->va = va;
	g->pages = len / P_PG;
	g->gpa = calloc(g->pages, sizeof(*g->gpa));
	g->dev = calloc(g->pages, 1);
	assert_non_null(g->gpa);
	assert_non_null(g->dev);
	for (i = 0; i < g->pages; i++) {
		g->gpa[i] = gpa + i * P_PG;
		g->dev[i] = P_SYS;
	}
	p_pattern(e->ram + gpa, len, seed);
	assert_int_equal(p_map(e, ctx, va, gpa, len, RW), VSVM_OK);
}

static inline void p_guest_free(struct p_guest *g)
{
	free(g->gpa);
	free(g->dev);
}

/* MIGRATE [first, first + n) pages to dev (from guest RAM), with id. */
static inline uint16_t p_guest_to_dev(struct p_env *e, struct p_guest *g,
				      uint64_t first, uint64_t n, uint32_t dev,
				      uint32_t id)
{
	struct vsvm_run runs[VSVM_MAX_MAP_RUNS];
	struct vsvm_request req = { .op = VSVM_CMD_MIGRATE };
	uint32_t nr = 0;
	uint64_t i;
	uint16_t st;

	for (i = first; i < first + n; i++) {
		if (nr && runs[nr - 1].gpa + runs[nr - 1].len == g->gpa[i]) {
			runs[nr - 1].len += P_PG;
			continue;
		}
		assert_true(nr < VSVM_MAX_MAP_RUNS);
		runs[nr++] = (struct vsvm_run){ g->gpa[i], P_PG };
	}
	req.u.migrate.va = g->va + first * P_PG;
	req.u.migrate.len = n * P_PG;
	req.u.migrate.location = dev;
	req.u.migrate.request_id = id;
	req.u.migrate.nr_runs = nr;
	req.u.migrate.runs = runs;
	st = p_one(e, g->ctx, &req, NULL);
	if (st == VSVM_OK)
		memset(g->dev + first, (int)dev, n);
	return st;
}

/* MIGRATE [first, first + n) pages back to fresh guest pages, with id. */
static inline uint16_t p_guest_to_sys(struct p_env *e, struct p_guest *g,
				      uint64_t first, uint64_t n, uint32_t id)
{
	uint64_t gpa = p_gpa_alloc(e, n * P_PG), i;
	uint16_t st;

	st = p_migrate(e, g->ctx, g->va + first * P_PG, n * P_PG,
		       VSVM_LOC_SYSTEM, gpa, id, NULL);
	if (st == VSVM_OK)
		for (i = 0; i < n; i++) {
			g->gpa[first + i] = gpa + i * P_PG;
			g->dev[first + i] = P_SYS;
		}
	return st;
}

static inline void p_guest_decline(struct p_env *e, struct p_guest *g,
				   uint64_t va, uint64_t len, uint32_t loc,
				   uint32_t id)
{
	uint32_t where = loc == VSVM_LOC_SYSTEM ? 0 : loc;
	uint64_t i;

	/* Nothing in guest RAM moves; device data elsewhere would. */
	for (i = (va - g->va) / P_PG; i < (va + len - g->va) / P_PG; i++)
		assert_true(g->dev[i] == P_SYS || g->dev[i] == where);
	assert_int_equal(p_migrate(e, g->ctx, va, len, where, ~0ull, id, NULL),
			 VSVM_OK);
	g->declined++;
}

/* Answer one MIGRATE_REQ; accept == false declines it. */
static inline void p_guest_answer(struct p_env *e, struct p_guest *g,
				  const struct vsvm_event_val *ev, bool accept)
{
	uint64_t first = (ev->va - g->va) / P_PG, n = ev->len / P_PG, i;

	assert_true(ev->va >= g->va && first + n <= g->pages);
	if (ev->device == VSVM_LOC_SYSTEM) {
		uint64_t run = 0;

		g->reqs_to_sys++;
		/* Each device-resident stretch; the id on the last move. */
		for (i = first; accept && i <= first + n; i++) {
			if (i < first + n && g->dev[i] != P_SYS) {
				run++;
				continue;
			}
			if (run)
				assert_int_equal(
					p_guest_to_sys(e, g, i - run, run, 0),
					VSVM_OK);
			run = 0;
		}
		if (!accept) {
			p_guest_decline(e, g, ev->va, ev->len, 0, ev->id);
			return;
		}
		/* Everything moved: a move of nothing carries the id. */
		assert_int_equal(p_migrate(e, g->ctx, ev->va, ev->len, 0, ~0ull,
					   ev->id, NULL),
				 VSVM_OK);
		return;
	}
	g->reqs_to_dev++;
	for (i = first; i < first + n; i++)
		if (g->dev[i] != P_SYS)
			accept = false;
	if (accept) {
		uint16_t st = p_guest_to_dev(e, g, first, n, ev->device, ev->id);

		if (st == VSVM_OK)
			return;
		assert_int_equal(st, VSVM_ERR_NOSPC);
		g->nospc++;
	}
	/* Declined, full, or on devices: the nr_runs = 0 form moves those. */
	for (i = first; i < first + n; i++)
		if (g->dev[i] != P_SYS)
			g->dev[i] = (uint8_t)ev->device;
	assert_int_equal(p_migrate(e, g->ctx, ev->va, ev->len, ev->device,
				   ~0ull, ev->id, NULL),
			 VSVM_OK);
	g->declined++;
}

/* Take and answer events until none is pending; return events seen. */
static inline uint32_t p_guest_drive(struct p_env *e, struct p_guest *g,
				     bool accept)
{
	struct vsvm_event_val ev[256];
	uint32_t n, i, total = 0;

	while ((n = p_events(e, g->ctx, ev, 256))) {
		total += n;
		for (i = 0; i < n; i++) {
			switch (ev[i].type) {
			case VSVM_EVENT_MIGRATE_REQ:
				p_guest_answer(e, g, &ev[i], accept);
				break;
			case VSVM_EVENT_PREFETCH_DONE:
				g->done_events++;
				g->done_token = ev[i].id;
				g->done_status = ev[i].arg;
				break;
			default:
				g->faults++;
				break;
			}
		}
	}
	return total;
}

/* Bring everything back to guest RAM (as the guest CPU touching it). */
static inline void p_guest_back(struct p_env *e, struct p_guest *g)
{
	uint64_t i, run = 0;

	for (i = 0; i <= g->pages; i++) {
		if (i < g->pages && g->dev[i] != P_SYS) {
			run++;
			continue;
		}
		if (run)
			assert_int_equal(p_guest_to_sys(e, g, i - run, run, 0),
					 VSVM_OK);
		run = 0;
	}
}

/* The u32 at byte offset off of the range, read from guest RAM. */
static inline uint32_t p_guest_u32(struct p_env *e, struct p_guest *g,
				   uint64_t off)
{
	assert_int_equal(g->dev[off / P_PG], P_SYS);
	return *(uint32_t *)(e->ram + g->gpa[off / P_PG] + off % P_PG);
}

/* Bring everything back to guest RAM and check it against seed. */
static inline void p_guest_check(struct p_env *e, struct p_guest *g,
				 uint32_t seed)
{
	uint8_t *ref = malloc(g->pages * P_PG);
	uint64_t i;

	assert_non_null(ref);
	p_guest_back(e, g);
	p_pattern(ref, g->pages * P_PG, seed);
	for (i = 0; i < g->pages; i++)
		if (memcmp(e->ram + g->gpa[i], ref + i * P_PG, P_PG))
			fail_msg("page %llu of the range is not intact",
				 (unsigned long long)i);
	free(ref);
}
#endif /* POLICY_TEST_H */
