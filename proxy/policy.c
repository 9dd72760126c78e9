// SPDX-License-Identifier: MIT
/*
 * policy.c - the placement policy: granule records, fault-driven
 *            placement, thrashing detection and eviction.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Decisions on a device fault
 *
 *   fault(dev, va, access) on a mapped page the access may use
 *     |
 *     +- count it in va's granule (faults[dev], last use, mapped_mask)
 *     +- write, and replicas in the granule   -> collapse them first
 *     +- pinned (thrashing)                    -> map where it is
 *     +- read, READ_MOSTLY, data on another device
 *     |                                        -> replica on dev
 *     +- target = PREFERRED_LOC, or dev if it dominates, or none
 *        target != where the data is:
 *          device -> device                    -> move it now (copy engine)
 *          guest RAM <-> device                -> MIGRATE_REQ (guest moves)
 *   then the caller installs dev's PTEs where the data is now (remote
 *   mapping until the guest answers: the access never waits for it).
 *
 * Every decision is made under ctx->lock, so it sees a stable mapping and
 * residency; nothing here blocks on the guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "policy.h"

const struct vp_policy vp_policy_defaults = {
	.migrate_threshold = 4,
	.thrash_migrations = 4,
	.thrash_window_ms = 1000,
	.pin_ms = 2000,
	.request_timeout_ms = 5000,
	.pt_reserve_kib = 1024,
	.read_mostly_replicas = 1,
	.max_async_prefetches = 16,
	.evict_batch = 4,
};

struct policy_key {
	const char *name;
	size_t off;
	uint32_t min;
	uint32_t max;
	const char *help;
};

#define KEY(f, lo, hi, h) { #f, offsetof(struct vp_policy, f), lo, hi, h }

static const struct policy_key policy_keys[] = {
	KEY(migrate_threshold, 0, 65535,
	    "faults of one device on a granule (no PREFERRED_LOC) before it moves there; 0: never"),
	KEY(thrash_migrations, 2, VP_POLICY_MAX_THRASH,
	    "K: moves of a granule within thrash_window_ms that pin it"),
	KEY(thrash_window_ms, 1, 3600000, "T: the thrashing window"),
	KEY(pin_ms, 0, 3600000,
	    "cool-down of a pinned granule (mapped remotely, not moved)"),
	KEY(request_timeout_ms, 1, 3600000,
	    "an unanswered MIGRATE_REQ of the policy may be sent again after"),
	KEY(pt_reserve_kib, 0, 1u << 30,
	    "device memory kept free of data for page tables"),
	KEY(read_mostly_replicas, 0, 1,
	    "1: READ_MOSTLY device data gets read-only replicas"),
	KEY(max_async_prefetches, 1, VP_MAX_PREFETCHES,
	    "outstanding asynchronous PREFETCHes per context"),
	KEY(evict_batch, 1, 1024,
	    "granules asked back to guest RAM per eviction round"),
};

#define NR_KEYS (sizeof(policy_keys) / sizeof(policy_keys[0]))

int vp_policy_parse(struct vp_policy *p, const char *spec, char *err,
		    size_t errlen)
{
	char *copy = strdup(spec), *save = NULL, *item;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *end;
		unsigned long long v;
		size_t i;

		if (!eq) {
			snprintf(err, errlen, "--policy: '%s' is not key=value",
				 item);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		for (i = 0; i < NR_KEYS; i++)
			if (!strcmp(item, policy_keys[i].name))
				break;
		if (i == NR_KEYS) {
			snprintf(err, errlen, "--policy: unknown key '%s'",
				 item);
			ret = -EINVAL;
			break;
		}
		errno = 0;
		v = strtoull(eq + 1, &end, 0);
		if (errno || end == eq + 1 || *end || v < policy_keys[i].min ||
		    v > policy_keys[i].max) {
			snprintf(err, errlen,
				 "--policy: %s must be %u .. %u, not '%s'",
				 item, policy_keys[i].min, policy_keys[i].max,
				 eq + 1);
			ret = -EINVAL;
			break;
		}
		*(uint32_t *)((char *)p + policy_keys[i].off) = (uint32_t)v;
	}
	free(copy);
	return ret;
}

void vp_policy_print_help(FILE *f)
{
	size_t i;

	for (i = 0; i < NR_KEYS; i++)
		fprintf(f, "    %-22s default %-6u %s\n", policy_keys[i].name,
			*(const uint32_t *)((const char *)&vp_policy_defaults +
					    policy_keys[i].off),
			policy_keys[i].help);
}

uint64_t vp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Granule records -------------------------------------------------- */

static uint32_t gran_hash(uint64_t va, uint32_t nr)
{
	return (uint32_t)(((va >> 12) * 0x9e3779b97f4a7c15ull) >> 32) &
	       (nr - 1);
}

uint32_t vp_ctx_gran_shift(struct vp_ctx *ctx, uint64_t va)
{
	return ATTR_GRAN(vp_ctx_attr(ctx, va, NULL));
}

struct vp_gran *vp_gran_find(struct vp_ctx *ctx, uint64_t va)
{
	struct vp_gran_table *t = &ctx->grans;
	uint32_t shift = vp_ctx_gran_shift(ctx, va);
	uint64_t start = va & ~((1ull << shift) - 1);
	struct vp_gran *g;

	if (!t->nr_buckets)
		return NULL;
	for (g = t->buckets[gran_hash(start, t->nr_buckets)]; g; g = g->next)
		if (g->va == start && g->shift == shift)
			return g;
	return NULL;
}

static void gran_grow(struct vp_gran_table *t)
{
	uint32_t nr = t->nr_buckets ? 2 * t->nr_buckets : 64, i;
	struct vp_gran **b = calloc(nr, sizeof(*b)), *g, *next;

	if (!b)
		return;		/* longer chains, still correct */
	for (i = 0; i < t->nr_buckets; i++) {
		for (g = t->buckets[i]; g; g = next) {
			uint32_t h = gran_hash(g->va, nr);

			next = g->next;
			g->next = b[h];
			b[h] = g;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nr_buckets = nr;
}

struct vp_gran *vp_gran_get(struct vp_ctx *ctx, uint64_t va)
{
	struct vp_gran_table *t = &ctx->grans;
	struct vp_gran *g = vp_gran_find(ctx, va);
	uint32_t h;

	if (g)
		return g;
	if (t->count >= (uint64_t)t->nr_buckets * 2)
		gran_grow(t);
	if (!t->nr_buckets)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->shift = vp_ctx_gran_shift(ctx, va);
	g->va = va & ~((1ull << g->shift) - 1);
	t->shifts |= 1ull << g->shift;
	h = gran_hash(g->va, t->nr_buckets);
	g->next = t->buckets[h];
	t->buckets[h] = g;
	t->count++;
	return g;
}

/* Drop the record of exactly (va, shift) if there is one. */
static void gran_drop_one(struct vp_gran_table *t, uint64_t va, uint32_t shift)
{
	struct vp_gran **p, *g;

	for (p = &t->buckets[gran_hash(va, t->nr_buckets)]; (g = *p);
	     p = &g->next) {
		if (g->va == va && g->shift == shift) {
			*p = g->next;
			free(g);
			t->count--;
			return;
		}
	}
}

void vp_gran_drop(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	struct vp_gran_table *t = &ctx->grans;
	struct vp_gran **p, *g;
	uint64_t lookups = 0;
	uint32_t i, sh;

	if (!t->count)
		return;
	/*
	 * UNMAP is on the invalidation path: look up the granules of the
	 * range, size by size, unless that costs more than a scan.
	 */
	for (sh = 12; sh < 64; sh++)
		if (t->shifts & (1ull << sh))
			lookups += ((end - start) >> sh) + 1;
	if (lookups <= t->nr_buckets) {
		for (sh = 12; sh < 64; sh++) {
			uint64_t sz = 1ull << sh, va;

			if (!(t->shifts & (1ull << sh)))
				continue;
			va = (start + sz - 1) & ~(sz - 1);
			for (; va >= start && va + sz <= end && va + sz > va;
			     va += sz)
				gran_drop_one(t, va, sh);
		}
		return;
	}
	for (i = 0; i < t->nr_buckets; i++) {
		for (p = &t->buckets[i]; (g = *p);) {
			uint64_t gend = g->va + (1ull << g->shift);

			if (g->va >= start && gend <= end) {
				*p = g->next;
				free(g);
				t->count--;
			} else {
				p = &g->next;
			}
		}
	}
}

void vp_gran_clear(struct vp_ctx *ctx)
{
	vp_gran_drop(ctx, 0, UINT64_MAX);
	free(ctx->grans.buckets);
	memset(&ctx->grans, 0, sizeof(ctx->grans));
}

/* Call fn on the record of every granule overlapping [start, end). */
#define for_each_gran(ctx, g, cur, start, end)                               \
	for (cur = (start); cur < (end) &&                                   \
			    ((g = vp_gran_get(ctx, cur)), 1);                \
	     cur = g ? g->va + (1ull << g->shift) :                          \
		       (cur | ((1ull << vp_ctx_gran_shift(ctx, cur)) - 1)) + 1)

uint64_t vp_gran_mapped_mask(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	uint64_t mask = 0, cur;
	struct vp_gran *g;

	for (cur = start; cur < end;) {
		g = vp_gran_find(ctx, cur);
		if (g) {
			mask |= g->mapped_mask;
			cur = g->va + (1ull << g->shift);
		} else {
			cur = (cur | ((1ull << vp_ctx_gran_shift(ctx, cur)) -
				      1)) + 1;
		}
	}
	return mask;
}

void vp_gran_note_mapped(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
			 uint64_t end)
{
	struct vp_gran *g;
	uint64_t cur;

	for_each_gran(ctx, g, cur, start, end)
		if (g)
			g->mapped_mask |= 1ull << dev;
}

bool vp_gran_pinned(struct vp_ctx *ctx, uint64_t va, uint64_t now)
{
	struct vp_gran *g = vp_gran_find(ctx, va);

	return g && g->pinned_until_ns > now;
}

/* ---- Thrashing ---------------------------------------------------------- */

void vp_policy_note_move(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	const struct vp_policy *p = ctx->policy;
	uint64_t now = vp_now_ns(), window = p->thrash_window_ms * 1000000ull;
	struct vp_gran *g;
	uint64_t cur;
	uint32_t i, recent;

	for_each_gran(ctx, g, cur, start, end) {
		if (!g)
			continue;
		g->moves[g->move_next] = now;
		g->move_next = (g->move_next + 1) % VP_POLICY_MAX_THRASH;
		if (g->nr_moves < VP_POLICY_MAX_THRASH)
			g->nr_moves++;
		memset(g->faults, 0, sizeof(g->faults));
		g->last_use_ns = now;
		if (g->pinned_until_ns > now)
			continue;
		for (i = 0, recent = 0; i < g->nr_moves; i++)
			if (now - g->moves[i] <= window)
				recent++;
		if (recent >= p->thrash_migrations) {
			g->pinned_until_ns = now + p->pin_ms * 1000000ull;
			g->nr_moves = 0;
			ctx->stats.thrash_pins++;
		}
	}
}

/* ---- Faults ------------------------------------------------------------- */

/* Does dev dominate g: threshold reached and more faults than any other? */
static bool dominates(const struct vp_ctx *ctx, const struct vp_gran *g,
		      uint32_t dev)
{
	uint32_t d, thr = ctx->policy->migrate_threshold;

	if (!thr || g->faults[dev] < thr)
		return false;
	for (d = 0; d < ctx->cfg->num_devices; d++)
		if (d != dev && g->faults[d] >= g->faults[dev])
			return false;
	return true;
}

/* The granule of va clipped to the mapped range [rs, re). */
static void gran_bounds(struct vp_ctx *ctx, uint64_t va, uint64_t rs,
			uint64_t re, uint64_t *s, uint64_t *e)
{
	uint32_t shift = vp_ctx_gran_shift(ctx, va);
	uint64_t gs = va & ~((1ull << shift) - 1);
	uint64_t ge = gs + (1ull << shift);

	*s = gs > rs ? gs : rs;
	*e = ge < re ? ge : re;
}

/* Ask the guest to move [s, e) to loc unless already asked recently. */
static void policy_request(struct vp_ctx *ctx, uint64_t s, uint64_t e,
			   uint32_t loc)
{
	struct vp_mreq *q = vp_ctx_find_request(ctx, s, e - s, loc);
	uint64_t now = vp_now_ns();

	if (q && now - q->sent_ns <
			 ctx->policy->request_timeout_ms * 1000000ull)
		return;
	vp_ctx_request(ctx, s, e - s, loc, 0);
}

void vp_policy_fault(struct vp_ctx *ctx, uint32_t dev, uint64_t va,
		     enum vp_access access, uint64_t rstart, uint64_t rend)
{
	const struct vp_policy *p = ctx->policy;
	uint64_t now, s, e, stop, word;
	struct vp_gran *g;
	uint32_t loc, pref, target = VSVM_LOC_UNSET;

	ctx->stats.dev_faults[dev]++;
	/* Without device memory there is nothing to place: no record, clock. */
	if (!vp_ctx_has_devmem(ctx))
		return;
	now = vp_now_ns();
	g = vp_gran_get(ctx, va);
	if (g) {
		if (g->faults[dev] < UINT16_MAX)
			g->faults[dev]++;
		g->last_use_ns = now;
	}
	gran_bounds(ctx, va, rstart, rend, &s, &e);
	/* A write never proceeds while a replica could still be read. */
	if (access != VP_ACCESS_READ && vp_ctx_has_replicas(ctx, s, e)) {
		vp_ctx_collapse(ctx, s, e);
		vp_policy_note_move(ctx, s, e);
	}
	if (g && g->pinned_until_ns > now)
		return;
	loc = vp_ctx_loc(ctx, va, &stop);
	word = vp_ctx_attr(ctx, va, NULL);
	pref = ATTR_LOC(word);
	if (access == VP_ACCESS_READ && ATTR_READ_MOSTLY(word) &&
	    p->read_mostly_replicas && loc != VP_LOC_SYS && loc != dev &&
	    (pref == VSVM_LOC_UNSET || pref == loc)) {
		vp_ctx_replicate(ctx, dev, s, e);
		return;
	}
	if (pref == VSVM_LOC_SYSTEM)
		target = VP_LOC_SYS;
	else if (pref < ctx->cfg->num_devices)
		target = pref;
	else if (g && dominates(ctx, g, dev))
		target = dev;
	if (target == VSVM_LOC_UNSET || target == loc)
		return;
	if (loc != VP_LOC_SYS && target != VP_LOC_SYS &&
	    (ctx->features & VSVM_F_PEER_MIGRATION)) {
		vp_ctx_move_d2d(ctx, s, e, target, true);
		return;
	}
	if (loc == VP_LOC_SYS || target == VP_LOC_SYS)
		policy_request(ctx, s, e,
			       target == VP_LOC_SYS ? VSVM_LOC_SYSTEM : target);
}

/* ---- Eviction ----------------------------------------------------------- */

/*
 * The least recently used granule with data on dev; unless any, not one
 * already asked back or being brought in by a prefetch.
 */
static struct vp_gran *lru_victim(struct vp_ctx *ctx, uint32_t dev, bool any)
{
	struct vp_gran_table *t = &ctx->grans;
	struct vp_gran *g, *best = NULL;
	uint64_t stop;
	uint32_t i;

	for (i = 0; i < t->nr_buckets; i++) {
		for (g = t->buckets[i]; g; g = g->next) {
			uint64_t end = g->va + (1ull << g->shift), cur;
			bool here = false;

			if (best && g->last_use_ns >= best->last_use_ns)
				continue;
			for (cur = g->va; cur < end && !here; cur = stop)
				here = vp_ctx_loc(ctx, cur, &stop) == dev;
			/* Not what a prefetch is bringing in on purpose. */
			if (!here ||
			    (!any && (vp_ctx_find_request(ctx, g->va,
							  end - g->va,
							  VSVM_LOC_SYSTEM) ||
				      vp_ctx_prefetching(ctx, g->va, end,
							 dev))))
				continue;
			best = g;
		}
	}
	return best;
}

bool vp_policy_reclaim(struct vp_ctx *ctx, uint32_t dev, uint64_t need)
{
	uint64_t freed = vp_ctx_drop_replicas(ctx, dev);
	uint32_t n;

	if (freed >= need)
		return true;
	/* Only the guest can supply guest pages: ask for the LRU data. */
	for (n = 0; n < ctx->policy->evict_batch; n++) {
		struct vp_gran *g = lru_victim(ctx, dev, false);
		const struct vp_range *r;
		uint64_t end;

		if (!g)
			break;
		end = g->va + (1ull << g->shift);
		/* Requests lie inside mapped ranges: one per mapped piece. */
		for (r = vp_range_map_first_after(&ctx->maps, g->va);
		     r && r->start < end; r = vp_range_map_next(r)) {
			uint64_t s = r->start > g->va ? r->start : g->va;
			uint64_t e = r->end < end ? r->end : end;

			if (vp_ctx_request(ctx, s, e - s, VSVM_LOC_SYSTEM, 0))
				ctx->stats.evictions++;
		}
		/* Not picked again before the guest answers. */
		g->last_use_ns = vp_now_ns();
	}
	return false;
}

bool vp_policy_evacuate(struct vp_ctx *ctx, uint32_t dev)
{
	struct vp_gran *g;
	uint64_t len;
	uint32_t p;

	if (!(ctx->features & VSVM_F_PEER_MIGRATION))
		return false;
	g = lru_victim(ctx, dev, true);
	if (!g)
		return false;
	len = 1ull << g->shift;
	for (p = 0; p < ctx->cfg->num_devices; p++)
		if (p != dev && vp_ctx_data_room(ctx, p) >= len)
			return vp_ctx_move_d2d(ctx, g->va, g->va + len, p,
					       true) > 0;
	return false;
}
