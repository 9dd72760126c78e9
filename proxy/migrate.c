// SPDX-License-Identifier: MIT
/*
 * migrate.c - residency of a context's data, PTEs that follow it, and the
 *             MIGRATE and PREFETCH commands (docs/protocol.md 7.7 - 7.9).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Residency
 *
 * Every mapped page of a context has exactly one master copy:
 *
 *   ctx->maps   VA -> guest RAM (host address), prot       what the guest
 *                                                           mapped
 *   ctx->res    VA -> device memory (host address), device  pages whose
 *                                                           master moved
 *   ctx->reps[d] VA -> read-only replica on device d        READ_MOSTLY
 *
 * A page in ctx->res lives in that device's memory; the guest RAM ctx->maps
 * names for it is no longer the context's (the guest may reuse it; 7.8).
 * Replicas exist only of device-resident masters (7.6: a copy of data whose
 * master is guest RAM could go stale behind the guest CPU), and while any
 * replica of a page exists every device maps that page read-only, so the
 * first device write faults; the fault path then collapses the replicas
 * (unmap everywhere, drain, free) before the write proceeds.
 *
 * PTEs always point where the data is: vp_ctx_install() is the one place
 * that turns (maps, res, reps, attributes) into vm_map() calls, and every
 * change of residency runs the block-copy-remap sequence:
 *
 *   1. vp_ctx_unmap_all(): clear PTEs on every device, flush TLBs, drain
 *      in-flight accesses (device.h's vm_unmap() promise); accesses in
 *      between miss, wait for ctx->lock in the fault path, and replay;
 *   2. copy with the copy engine of the destination device (for a move to
 *      guest RAM: of the source device), peer memory read directly;
 *   3. update maps/res/reps and free the old device memory;
 *   4. install the new PTEs on every device that had PTEs there (the
 *      granule records' mapped_mask) and on the ACCESSED_BY devices.
 *
 * All of it runs under ctx->lock, so the fault path never sees a half-moved
 * page.  Device memory for data is allocated in pieces of at most 2 MiB
 * (2 MiB aligned where the VA is, for 2 MiB PTEs), falling back to 4 KiB
 * pages when the pool is fragmented; pieces are freed page-exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"

#define SZ_2M (2ull << 20)
#define PG VSVM_PAGE_SIZE

static const struct vp_device_ops *dops(struct vp_ctx *ctx, uint32_t d)
{
	return ctx->cfg->devices[d]->ops;
}

static struct vp_device *ddev(struct vp_ctx *ctx, uint32_t d)
{
	return ctx->cfg->devices[d];
}

uint32_t vp_devices_features(const struct vp_svm_config *cfg)
{
	uint32_t f = VSVM_F_HUGE_2M | VSVM_F_DEVICE_MEMORY |
		     VSVM_F_PEER_MIGRATION, i, j;

	for (i = 0; i < cfg->num_devices; i++) {
		const struct vp_device_ops *o = cfg->devices[i]->ops;

		if (!o->mem_alloc || !o->mem_free || !o->copy)
			f &= ~(VSVM_F_DEVICE_MEMORY | VSVM_F_PEER_MIGRATION);
		for (j = 0; j < cfg->num_devices; j++)
			if (i != j && (!o->peer_access ||
				       !o->peer_access(cfg->devices[i],
						       cfg->devices[j])))
				f &= ~VSVM_F_PEER_MIGRATION;
	}
	return f;
}

void vp_ctx_unmap_all(struct vp_ctx *ctx, uint64_t va, uint64_t len)
{
	uint32_t i;

	for (i = 0; i < ctx->cfg->num_devices; i++)
		dops(ctx, i)->vm_unmap(ctx->vms[i], va, len);
}

uint64_t vp_ctx_attr(struct vp_ctx *ctx, uint64_t va, uint64_t *accessed_by)
{
	const struct vp_range *a = vp_range_map_find(&ctx->attrs, va);

	if (accessed_by)
		*accessed_by = a ? a->val.word[1] : 0;
	return a ? a->val.word[0] : VP_ATTR_DEFAULT_WORD;
}

static uint32_t access_at(const struct vp_range *a, uint64_t addr)
{
	return a && a->start <= addr ? ATTR_ACCESS(a->val.word[0]) :
				       VSVM_DEVICE_ACCESS_RW;
}

uint32_t vp_ctx_limited_prot(struct vp_ctx *ctx, uint64_t addr, uint64_t end,
			     uint32_t prot, uint64_t *stop)
{
	const struct vp_range *a = vp_range_map_first_after(&ctx->attrs, addr);
	uint32_t acc = access_at(a, addr);
	uint64_t cur = addr;

	/* Walk entries and the gaps between them (RW) while acc holds. */
	while (cur < end && access_at(a, cur) == acc) {
		if (a && a->start <= cur) {
			cur = a->end;
			a = vp_range_map_next(a);
		} else {
			cur = a ? a->start : end;
		}
	}
	*stop = cur < end ? cur : end;
	return vp_attr_limit_prot(acc, prot);
}

/* Entry of m at va (then *stop = its end), or NULL and *stop = next start. */
static const struct vp_range *entry_at(const struct vp_range_map *m,
				       uint64_t va, uint64_t *stop)
{
	const struct vp_range *r = vp_range_map_first_after(m, va);

	if (r && r->start <= va) {
		*stop = r->end;
		return r;
	}
	*stop = r ? r->start : UINT64_MAX;
	return NULL;
}

uint32_t vp_ctx_loc(struct vp_ctx *ctx, uint64_t va, uint64_t *stop)
{
	const struct vp_range *r = entry_at(&ctx->res, va, stop);

	return r ? (uint32_t)r->val.word[0] : VP_LOC_SYS;
}

bool vp_ctx_has_replicas(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	uint32_t d;

	for (d = 0; d < ctx->cfg->num_devices; d++) {
		const struct vp_range *r;

		if (!(ctx->rep_devs & (1ull << d)))
			continue;
		r = vp_range_map_first_after(&ctx->reps[d], start);
		if (r && r->start < end)
			return true;
	}
	return false;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Replicas at va: true if any device holds one (then every PTE is
 * read-only); *own = dev's replica address or 0; *stop lowered to where
 * the answer may change.
 */
static bool replicas_at(struct vp_ctx *ctx, uint32_t dev, uint64_t va,
			uint64_t *own, uint64_t *stop)
{
	bool any = false;
	uint32_t d;

	*own = 0;
	for (d = 0; d < ctx->cfg->num_devices && ctx->rep_devs; d++) {
		const struct vp_range *r;
		uint64_t st;

		if (!(ctx->rep_devs & (1ull << d)))
			continue;
		r = entry_at(&ctx->reps[d], va, &st);
		*stop = min64(*stop, st);
		if (!r)
			continue;
		any = true;
		if (d == dev)
			*own = vp_range_base_at(&ctx->reps[d], r, va);
	}
	return any;
}

int vp_ctx_install(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
		   uint64_t end)
{
	const struct vp_range *r;
	int ret = 0;

	for (r = vp_range_map_first_after(&ctx->maps, start);
	     r && r->start < end; r = vp_range_map_next(r)) {
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;

		while (s < e) {
			uint64_t stop, st, own, hva;
			uint32_t prot, loc;
			const struct vp_range *m;

			prot = vp_ctx_limited_prot(ctx, s, e,
						   (uint32_t)r->val.word[0],
						   &stop);
			m = entry_at(&ctx->res, s, &st);
			stop = min64(stop, st);
			loc = m ? (uint32_t)m->val.word[0] : VP_LOC_SYS;
			hva = m ? vp_range_base_at(&ctx->res, m, s) :
				  vp_range_base_at(&ctx->maps, r, s);
			if (replicas_at(ctx, dev, s, &own, &stop))
				prot &= VSVM_PROT_READ;
			if (own)
				hva = own;
			else if (loc != VP_LOC_SYS && loc != dev && prot)
				ctx->stats.remote_maps++;
			if (prot &&
			    dops(ctx, dev)->vm_map(ctx->vms[dev], s, stop - s,
						   (void *)(uintptr_t)hva,
						   prot))
				ret = -ENOMEM;
			s = stop;
		}
		/* Mapped pieces only: start, end may span the VA space. */
		vp_gran_note_mapped(ctx, dev, r->start > start ? r->start : start,
				    e);
	}
	return ret;
}

void vp_ctx_install_mask(struct vp_ctx *ctx, uint64_t mask, uint64_t start,
			 uint64_t end)
{
	uint32_t d;

	for (d = 0; d < ctx->cfg->num_devices; d++)
		if (mask & (1ull << d))
			vp_ctx_install(ctx, d, start, end);
}

void vp_ctx_map_accessed_by(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	const struct vp_range *a;

	for (a = vp_range_map_first_after(&ctx->attrs, start);
	     a && a->start < end; a = vp_range_map_next(a)) {
		uint64_t s = a->start > start ? a->start : start;
		uint64_t e = a->end < end ? a->end : end;
		uint64_t mask = a->val.word[1];

		if (mask)
			vp_ctx_install_mask(ctx, mask, s, e);
	}
}

/* ---- Device memory for data ------------------------------------------- */

static void *data_alloc(struct vp_ctx *ctx, uint32_t dev, uint64_t bytes,
			uint64_t align)
{
	uint64_t reserve = ctx->policy->pt_reserve_kib * 1024ull;
	struct vp_device_info info;
	void *p;

	dops(ctx, dev)->info(ddev(ctx, dev), &info);
	if (info.mem_used > info.mem_size ||
	    bytes + reserve > info.mem_size - info.mem_used)
		return NULL;
	p = dops(ctx, dev)->mem_alloc(ddev(ctx, dev), bytes, align);
	if (p)
		ctx->data_bytes[dev] += bytes;
	return p;
}

static void data_free(struct vp_ctx *ctx, uint32_t dev, uint64_t hva,
		      uint64_t bytes)
{
	dops(ctx, dev)->mem_free(ddev(ctx, dev), (void *)(uintptr_t)hva, bytes);
	ctx->data_bytes[dev] -= bytes;
}

uint64_t vp_ctx_data_room(struct vp_ctx *ctx, uint32_t dev)
{
	uint64_t reserve = ctx->policy->pt_reserve_kib * 1024ull;
	struct vp_device_info info;

	dops(ctx, dev)->info(ddev(ctx, dev), &info);
	if (info.mem_used + reserve >= info.mem_size)
		return 0;
	return info.mem_size - info.mem_used - reserve;
}

uint64_t vp_ctx_mem_used(struct vp_ctx *ctx, uint32_t dev)
{
	struct vp_vm_stats st;

	dops(ctx, dev)->vm_stats(ctx->vms[dev], &st);
	return st.pt_bytes + ctx->data_bytes[dev];
}

/* Free the device memory a map (res or reps[d]) holds in [start, end). */
static void free_entries(struct vp_ctx *ctx, struct vp_range_map *m,
			 int fixed_dev, uint64_t start, uint64_t end)
{
	const struct vp_range *r;

	for (r = vp_range_map_first_after(m, start); r && r->start < end;
	     r = vp_range_map_next(r)) {
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;
		uint32_t dev = fixed_dev >= 0 ? (uint32_t)fixed_dev :
						(uint32_t)r->val.word[0];

		data_free(ctx, dev, vp_range_base_at(m, r, s), e - s);
	}
}

/*
 * Remove [start, end) from a residency map whose memory was freed.  The
 * split needs a node; without one the whole straddling entries go, and so
 * must their mappings (their data is gone): devices then fault and the
 * guest maps again.  Only a failing malloc of a few bytes gets there.
 */
static void forget(struct vp_ctx *ctx, struct vp_range_map *m,
		   int fixed_dev, uint64_t start, uint64_t end)
{
	uint64_t ws, we;

	free_entries(ctx, m, fixed_dev, start, end);
	if (vp_range_map_remove(m, start, end) >= 0)
		return;
	vp_range_map_remove_whole(m, start, end, &ws, &we);
	if (ws < start)
		free_entries(ctx, m, fixed_dev, ws, start);
	if (we > end)
		free_entries(ctx, m, fixed_dev, end, we);
	vp_ctx_unmap_all(ctx, ws, we - ws);
	/* A replica's master still exists; a lost master's mapping goes. */
	if (m == &ctx->res)
		vp_range_map_remove_whole(&ctx->maps, ws, we, &ws, &we);
}

/* Free the replicas of [start, end) on every device; return how many. */
static uint32_t drop_replicas_range(struct vp_ctx *ctx, uint64_t start,
				    uint64_t end)
{
	uint32_t d, n = 0;

	for (d = 0; d < ctx->cfg->num_devices; d++) {
		const struct vp_range *r;

		if (!(ctx->rep_devs & (1ull << d)))
			continue;
		r = vp_range_map_first_after(&ctx->reps[d], start);
		if (!r || r->start >= end)
			continue;
		forget(ctx, &ctx->reps[d], (int)d, start, end);
		n++;
	}
	return n;
}

void vp_ctx_collapse(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	/* No device may read a replica once the write can go ahead. */
	vp_ctx_unmap_all(ctx, start, end - start);
	ctx->stats.replica_collapses += drop_replicas_range(ctx, start, end);
}

uint64_t vp_ctx_drop_replicas(struct vp_ctx *ctx, uint32_t dev)
{
	uint64_t before = ctx->data_bytes[dev];
	const struct vp_range *r;

	if (!(ctx->rep_devs & (1ull << dev)))
		return 0;
	while ((r = vp_range_map_first_after(&ctx->reps[dev], 0))) {
		uint64_t s = r->start, e = r->end;

		dops(ctx, dev)->vm_unmap(ctx->vms[dev], s, e - s);
		/* Other devices' read-only PTEs may now be upgraded. */
		vp_ctx_unmap_all(ctx, s, e - s);
		forget(ctx, &ctx->reps[dev], (int)dev, s, e);
		ctx->stats.replicas_dropped++;
	}
	return before - ctx->data_bytes[dev];
}

void vp_ctx_release(struct vp_ctx *ctx, uint64_t start, uint64_t end)
{
	if (!vp_ctx_has_devmem(ctx))
		return;
	ctx->stats.replicas_dropped += drop_replicas_range(ctx, start, end);
	forget(ctx, &ctx->res, -1, start, end);
	vp_gran_drop(ctx, start, end);
}

void vp_ctx_release_all(struct vp_ctx *ctx)
{
	uint32_t d;

	free_entries(ctx, &ctx->res, -1, 0, UINT64_MAX);
	vp_range_map_clear(&ctx->res);
	for (d = 0; d < ctx->cfg->num_devices; d++) {
		free_entries(ctx, &ctx->reps[d], (int)d, 0, UINT64_MAX);
		vp_range_map_clear(&ctx->reps[d]);
	}
	ctx->rep_devs = 0;
	vp_gran_clear(ctx);
	free(ctx->mreqs);
	ctx->mreqs = NULL;
	ctx->nr_mreqs = 0;
	ctx->nr_pf = 0;
}

/* ---- Moving data -------------------------------------------------------- */

/* One contiguous piece of a move: source and destination host addresses. */
struct seg {
	uint64_t va;
	uint64_t len;
	uint64_t src;
	uint64_t dst;
	uint32_t src_loc;	/* device or VP_LOC_SYS */
};

struct segs {
	struct seg *s;
	uint32_t n;
	uint32_t cap;
};

static int segs_push(struct segs *v, struct seg sg)
{
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? 2 * v->cap : 16;
		struct seg *n = realloc(v->s, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		v->s = n;
		v->cap = cap;
	}
	v->s[v->n++] = sg;
	return 0;
}

/* Push [va, va + len) from src, cut at 2 MiB VA boundaries. */
static int segs_push_cut(struct segs *v, uint64_t va, uint64_t len,
			 uint64_t src, uint32_t src_loc)
{
	while (len) {
		uint64_t n = min64(len, SZ_2M - (va & (SZ_2M - 1)));

		if (segs_push(v, (struct seg){ va, n, src, 0, src_loc }))
			return -ENOMEM;
		va += n;
		src += n;
		len -= n;
	}
	return 0;
}

/* Give every segment device memory on dev; split what does not fit. */
static int segs_alloc(struct vp_ctx *ctx, struct segs *v, uint32_t dev)
{
	uint32_t i;

	for (i = 0; i < v->n; i++) {
		struct seg *sg = &v->s[i];
		uint64_t align = sg->len == SZ_2M ? SZ_2M : PG;
		void *p = data_alloc(ctx, dev, sg->len, align);

		if (!p && sg->len > PG) {
			/* Fragmented pool: take it page by page. */
			struct seg rest = *sg;

			rest.va += PG;
			rest.src += PG;
			rest.len -= PG;
			sg->len = PG;
			if (segs_push(v, rest))
				return -ENOMEM;
			sg = &v->s[i];
			p = data_alloc(ctx, dev, PG, PG);
		}
		if (!p)
			return -ENOSPC;
		sg->dst = (uint64_t)(uintptr_t)p;
	}
	return 0;
}

static void segs_free_dst(struct vp_ctx *ctx, struct segs *v, uint32_t dev)
{
	uint32_t i;

	for (i = 0; i < v->n; i++)
		if (v->s[i].dst)
			data_free(ctx, dev, v->s[i].dst, v->s[i].len);
}

static uint64_t segs_bytes(const struct segs *v)
{
	uint64_t b = 0;
	uint32_t i;

	for (i = 0; i < v->n; i++)
		b += v->s[i].len;
	return b;
}

/* Devices whose PTEs come back after a move of [s, e) to dst. */
static uint64_t remap_mask(struct vp_ctx *ctx, uint64_t s, uint64_t e,
			   uint32_t dst)
{
	uint64_t mask = vp_gran_mapped_mask(ctx, s, e), ab;
	uint64_t word = vp_ctx_attr(ctx, s, &ab);
	uint32_t pref = ATTR_LOC(word);

	/*
	 * Data leaving its preferred device: that device is left to fault,
	 * so that the policy sees its next access and can ask for the data
	 * back (unless it is ACCESSED_BY or the granule thrashes).
	 */
	if (pref < ctx->cfg->num_devices && pref != dst &&
	    !(ab & (1ull << pref)) && !vp_gran_pinned(ctx, s, vp_now_ns()))
		mask &= ~(1ull << pref);
	/*
	 * READ_MOSTLY data arriving in a device: the other devices fault on
	 * their next read and get a replica instead of a remote PTE.
	 */
	if (ATTR_READ_MOSTLY(word) && dst != VP_LOC_SYS &&
	    ctx->policy->read_mostly_replicas)
		mask &= (1ull << dst) | ab;
	return mask;
}

/*
 * Count bytes moved from -> to.  A migration is one move of one command
 * (or policy decision) from one location to another, however many pieces
 * it took: *seen remembers the sources already counted (bit 64: SYSTEM).
 */
static void count_move(struct vp_ctx *ctx, uint32_t from, uint32_t to,
		       uint64_t bytes, uint64_t seen[2])
{
	uint64_t bit = 1ull << (from % 64);

	if (!(seen[from / 64] & bit)) {
		seen[from / 64] |= bit;
		ctx->stats.migrations_from[from]++;
		ctx->stats.migrations_to[to]++;
	}
	ctx->stats.bytes_from[from] += bytes;
	ctx->stats.bytes_to[to] += bytes;
}

/*
 * Steps 2 .. 4 of the sequence for segments whose PTEs are already gone:
 * copy, make dst (a device, or VP_LOC_SYS with seg.dst = guest RAM) their
 * home, free the old device memory.  Return: bytes copied, or -ENOMEM
 * (nothing changed but the copies).
 */
static int64_t segs_commit(struct vp_ctx *ctx, struct segs *v, uint32_t dst)
{
	uint64_t bytes = 0, seen[2] = { 0, 0 };
	uint32_t i;

	for (i = 0; i < v->n; i++) {
		const struct seg *sg = &v->s[i];
		uint32_t engine = dst != VP_LOC_SYS ? dst : sg->src_loc;

		dops(ctx, engine)->copy(ddev(ctx, engine),
					(void *)(uintptr_t)sg->dst,
					(const void *)(uintptr_t)sg->src,
					sg->len);
	}
	for (i = 0; i < v->n; i++) {
		const struct seg *sg = &v->s[i];
		struct vp_range_val val = { .base = sg->dst,
					    .word = { dst, 0 } };

		if (dst != VP_LOC_SYS) {
			if (sg->src_loc != VP_LOC_SYS)
				forget(ctx, &ctx->res, -1, sg->va,
				       sg->va + sg->len);
			if (vp_range_map_set(&ctx->res, sg->va,
					     sg->va + sg->len, &val)) {
				/*
				 * Unwind this one (its old home is gone too:
				 * drop its mapping, the guest maps again) and
				 * free what the rest would have used.
				 */
				vp_range_map_remove_whole(&ctx->maps, sg->va,
							  sg->va + sg->len,
							  &val.base,
							  &val.word[0]);
				for (; i < v->n; i++)
					data_free(ctx, dst, v->s[i].dst,
						  v->s[i].len);
				return -ENOMEM;
			}
		} else {
			forget(ctx, &ctx->res, -1, sg->va, sg->va + sg->len);
		}
		count_move(ctx, sg->src_loc, dst, sg->len, seen);
		bytes += sg->len;
	}
	return (int64_t)bytes;
}

/* Steps 1 and 4 around a commit of [s, e); return bytes or -errno. */
static int64_t move_segs(struct vp_ctx *ctx, struct segs *v, uint64_t s,
			 uint64_t e, uint32_t dst)
{
	uint64_t mask = remap_mask(ctx, s, e, dst);
	int64_t ret;

	vp_ctx_unmap_all(ctx, s, e - s);
	ctx->stats.replicas_dropped += drop_replicas_range(ctx, s, e);
	ret = segs_commit(ctx, v, dst);
	vp_policy_note_move(ctx, s, e);
	vp_ctx_install_mask(ctx, mask, s, e);
	vp_ctx_map_accessed_by(ctx, s, e);
	return ret;
}

uint64_t vp_ctx_move_d2d(struct vp_ctx *ctx, uint64_t start, uint64_t end,
			 uint32_t dst, bool policy)
{
	struct segs v = { 0 };
	const struct vp_range *r;
	int64_t ret = 0;

	for (r = vp_range_map_first_after(&ctx->res, start);
	     r && r->start < end; r = vp_range_map_next(r)) {
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;

		if (r->val.word[0] == dst)
			continue;
		if (segs_push_cut(&v, s, e - s,
				  vp_range_base_at(&ctx->res, r, s),
				  (uint32_t)r->val.word[0]))
			goto out;
	}
	if (!v.n)
		goto out;
	if (segs_bytes(&v) > vp_ctx_data_room(ctx, dst) &&
	    !vp_policy_reclaim(ctx, dst, segs_bytes(&v)) &&
	    segs_bytes(&v) > vp_ctx_data_room(ctx, dst))
		goto out_free;
	if (segs_alloc(ctx, &v, dst))
		goto out_free;
	ret = move_segs(ctx, &v, start, end, dst);
	if (ret > 0 && policy)
		ctx->stats.policy_moves++;
	goto out;
out_free:
	segs_free_dst(ctx, &v, dst);
out:
	free(v.s);
	return ret > 0 ? (uint64_t)ret : 0;
}

void vp_ctx_replicate(struct vp_ctx *ctx, uint32_t dev, uint64_t start,
		      uint64_t end)
{
	struct segs v = { 0 };
	const struct vp_range *r;
	uint32_t i;

	for (r = vp_range_map_first_after(&ctx->res, start);
	     r && r->start < end; r = vp_range_map_next(r)) {
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;
		uint64_t st;

		if (r->val.word[0] == dev ||
		    ((ctx->rep_devs & (1ull << dev)) &&
		     entry_at(&ctx->reps[dev], s, &st)))
			continue;
		if (segs_push_cut(&v, s, e - s,
				  vp_range_base_at(&ctx->res, r, s),
				  (uint32_t)r->val.word[0]))
			goto out;
	}
	/* No room: the device maps the master remotely instead. */
	if (!v.n || segs_bytes(&v) > vp_ctx_data_room(ctx, dev) ||
	    segs_alloc(ctx, &v, dev)) {
		segs_free_dst(ctx, &v, dev);
		goto out;
	}
	/*
	 * Writers lose their PTEs before the copy, so replicas start equal.
	 * Where a replica exists already every PTE is read-only: no writer.
	 */
	for (i = 0; i < v.n; i++)
		if (!vp_ctx_has_replicas(ctx, v.s[i].va, v.s[i].va + v.s[i].len))
			vp_ctx_unmap_all(ctx, v.s[i].va, v.s[i].len);
	for (i = 0; i < v.n; i++) {
		const struct seg *sg = &v.s[i];
		struct vp_range_val val = { .base = sg->dst };

		dops(ctx, dev)->copy(ddev(ctx, dev), (void *)(uintptr_t)sg->dst,
				     (const void *)(uintptr_t)sg->src, sg->len);
		if (vp_range_map_set(&ctx->reps[dev], sg->va, sg->va + sg->len,
				     &val)) {
			data_free(ctx, dev, sg->dst, sg->len);
			continue;
		}
		ctx->rep_devs |= 1ull << dev;
		ctx->stats.replicas_created++;
	}
out:
	free(v.s);
}

/* ---- MIGRATE_REQ and asynchronous prefetches ---------------------------- */

struct vp_mreq *vp_ctx_find_request(struct vp_ctx *ctx, uint64_t va,
				    uint64_t len, uint32_t loc)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_mreqs; i++) {
		struct vp_mreq *q = &ctx->mreqs[i];

		if (q->loc == loc && q->va < va + len && va < q->va + q->len)
			return q;
	}
	return NULL;
}

uint32_t vp_ctx_request(struct vp_ctx *ctx, uint64_t va, uint64_t len,
			uint32_t loc, uint32_t token)
{
	struct vsvm_event_val ev = {
		.type = VSVM_EVENT_MIGRATE_REQ,
		.va = va,
		.len = len,
		.device = loc,
	};
	struct vp_mreq *q;
	uint32_t i;

	if (!vp_ctx_has_devmem(ctx) || !len)
		return 0;
	if (!ctx->mreqs) {
		ctx->mreqs = calloc(VP_MAX_MREQS, sizeof(*ctx->mreqs));
		if (!ctx->mreqs)
			return 0;
	}
	if (ctx->nr_mreqs == VP_MAX_MREQS) {
		/* Forget the oldest policy request the guest ignored. */
		for (i = 0; i < ctx->nr_mreqs; i++)
			if (!ctx->mreqs[i].token)
				break;
		if (i == ctx->nr_mreqs)
			return 0;
		ctx->mreqs[i] = ctx->mreqs[--ctx->nr_mreqs];
	}
	/* Ids unique among outstanding requests (8.1). */
	do {
		if (++ctx->next_mreq_id == 0)
			ctx->next_mreq_id = 1;
		for (i = 0; i < ctx->nr_mreqs; i++)
			if (ctx->mreqs[i].id == ctx->next_mreq_id)
				break;
	} while (i < ctx->nr_mreqs);
	q = &ctx->mreqs[ctx->nr_mreqs++];
	*q = (struct vp_mreq){ ctx->next_mreq_id, loc, va, len, vp_now_ns(),
			       token };
	ev.id = q->id;
	vp_ctx_queue_event(ctx, &ev);
	ctx->stats.migrate_reqs_sent++;
	return q->id;
}

static struct vp_prefetch *find_prefetch(struct vp_ctx *ctx, uint32_t token)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_pf; i++)
		if (ctx->pf[i].token == token)
			return &ctx->pf[i];
	return NULL;
}

/* Mapped bytes of [va, end) not at loc. */
static uint64_t bytes_not_at(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			     uint32_t loc)
{
	const struct vp_range *r;
	uint64_t left = 0;

	for (r = vp_range_map_first_after(&ctx->maps, va); r && r->start < end;
	     r = vp_range_map_next(r)) {
		uint64_t s = r->start > va ? r->start : va;
		uint64_t e = r->end < end ? r->end : end, stop;

		for (; s < e; s = stop) {
			uint32_t l = vp_ctx_loc(ctx, s, &stop);

			stop = min64(stop, e);
			if (l != loc)
				left += stop - s;
		}
	}
	return left;
}

static void prefetch_done(struct vp_ctx *ctx, struct vp_prefetch *pf)
{
	uint32_t loc = pf->loc == VSVM_LOC_SYSTEM ? VP_LOC_SYS : pf->loc;
	uint64_t left = bytes_not_at(ctx, pf->va, pf->va + pf->len, loc);
	struct vsvm_event_val ev = {
		.type = VSVM_EVENT_PREFETCH_DONE,
		.id = pf->token,
		.va = pf->va,
		.len = pf->len,
		.device = pf->loc,
		.arg = VSVM_OK,
	};

	/* Without device memory guest RAM counts as every location. */
	if (left && vp_ctx_has_devmem(ctx))
		ev.arg = pf->nospc ? VSVM_ERR_NOSPC : VSVM_ERR_CANCELED;
	vp_ctx_queue_event(ctx, &ev);
	*pf = ctx->pf[--ctx->nr_pf];
}

bool vp_ctx_prefetching(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			uint32_t dev)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_pf; i++) {
		const struct vp_prefetch *pf = &ctx->pf[i];

		if (pf->loc == dev && pf->va < end && va < pf->va + pf->len)
			return true;
	}
	return false;
}

/* A MIGRATE to dev found no room: prefetches there end NOSPC, not OK. */
static void note_nospc(struct vp_ctx *ctx, uint64_t va, uint64_t end,
		       uint32_t dev)
{
	uint32_t i;

	for (i = 0; i < ctx->nr_pf; i++) {
		struct vp_prefetch *pf = &ctx->pf[i];

		if (pf->loc == dev && pf->va < end && va < pf->va + pf->len)
			pf->nospc = true;
	}
}

/* A successful MIGRATE names request id: answer it (7.8). */
static void answer_request(struct vp_ctx *ctx, uint32_t id)
{
	struct vp_prefetch *pf;
	uint32_t i, token;

	for (i = 0; i < ctx->nr_mreqs; i++)
		if (ctx->mreqs[i].id == id)
			break;
	if (!id || i == ctx->nr_mreqs)
		return;
	token = ctx->mreqs[i].token;
	ctx->mreqs[i] = ctx->mreqs[--ctx->nr_mreqs];
	ctx->stats.migrate_reqs_answered++;
	pf = token ? find_prefetch(ctx, token) : NULL;
	if (pf && --pf->pending == 0)
		prefetch_done(ctx, pf);
}

/* ---- MIGRATE (7.8) ------------------------------------------------------ */

/* Cut runs into pieces of contiguous host memory; -VSVM_ERR_RANGE if out. */
static int run_segs(struct vp_ctx *ctx, const struct vsvm_request *req,
		    struct segs *v)
{
	uint64_t va = req->u.migrate.va;
	struct vsvm_run run;
	uint32_t i;

	for (i = 0; i < req->u.migrate.nr_runs; i++) {
		vsvm_request_run(req, i, &run);
		while (run.len) {
			uint64_t avail;
			void *hva = vp_memtable_gpa_extent(ctx->mt, run.gpa,
							   &avail);

			if (!hva)
				return -VSVM_ERR_RANGE;
			avail = min64(avail, run.len);
			if (segs_push(v, (struct seg){ va, avail,
						       (uint64_t)(uintptr_t)hva,
						       0, VP_LOC_SYS }))
				return -VSVM_ERR_NOMEM;
			va += avail;
			run.gpa += avail;
			run.len -= avail;
		}
	}
	return 0;
}

/* Is every page of [va, end) mapped, and (want_dev) device-resident or not? */
static bool range_state(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			bool want_dev)
{
	uint64_t cur = va, stop;

	while (cur < end) {
		const struct vp_range *r = vp_range_map_find(&ctx->maps, cur);
		uint64_t e;

		if (!r)
			return false;
		e = min64(r->end, end);
		for (; cur < e; cur = stop) {
			uint32_t l = vp_ctx_loc(ctx, cur, &stop);

			stop = min64(stop, e);
			if ((l != VP_LOC_SYS) != want_dev)
				return false;
		}
	}
	return true;
}

/* Guest RAM (runs) -> device dst. */
static int64_t migrate_to_device(struct vp_ctx *ctx, struct segs *runs,
				 uint64_t va, uint64_t end, uint32_t dst)
{
	struct segs v = { 0 };
	int64_t ret;
	uint32_t i;

	for (i = 0; i < runs->n; i++)
		if (segs_push_cut(&v, runs->s[i].va, runs->s[i].len,
				  runs->s[i].src, VP_LOC_SYS)) {
			ret = -VSVM_ERR_NOMEM;
			goto out;
		}
	if (end - va > vp_ctx_data_room(ctx, dst) &&
	    !vp_policy_reclaim(ctx, dst, end - va) &&
	    end - va > vp_ctx_data_room(ctx, dst)) {
		ret = -VSVM_ERR_NOSPC;
		goto out;
	}
	ret = segs_alloc(ctx, &v, dst);
	if (ret) {
		segs_free_dst(ctx, &v, dst);
		ret = ret == -ENOSPC ? -VSVM_ERR_NOSPC : -VSVM_ERR_NOMEM;
		goto out;
	}
	ret = move_segs(ctx, &v, va, end, dst);
	if (ret < 0)
		ret = -VSVM_ERR_NOMEM;
out:
	free(v.s);
	return ret;
}

/* Device memory -> guest RAM (runs). */
static int64_t migrate_to_system(struct vp_ctx *ctx, struct segs *runs,
				 uint64_t va, uint64_t end)
{
	struct vp_range_map *m = &ctx->maps;
	uint64_t seen[2] = { 0, 0 };
	struct segs v = { 0 };
	int64_t ret = 0;
	uint32_t i;

	/* The mapping becomes the runs: room for the pieces, as MAP checks. */
	if (m->limit && m->count + 2 * (uint64_t)runs->n + 2 > m->limit)
		return -VSVM_ERR_NOMEM;
	/* Sources: the device pieces under each run piece. */
	for (i = 0; i < runs->n; i++) {
		uint64_t s = runs->s[i].va, e = s + runs->s[i].len;

		while (s < e) {
			uint64_t stop;
			const struct vp_range *r = entry_at(&ctx->res, s, &stop);
			uint64_t n = min64(stop, e) - s;

			if (segs_push(&v, (struct seg){
					     s, n,
					     vp_range_base_at(&ctx->res, r, s),
					     runs->s[i].src + (s - runs->s[i].va),
					     (uint32_t)r->val.word[0] })) {
				ret = -VSVM_ERR_NOMEM;
				goto out;
			}
			s += n;
		}
	}
	vp_ctx_unmap_all(ctx, va, end - va);
	ctx->stats.replicas_dropped += drop_replicas_range(ctx, va, end);
	{
		uint64_t mask = remap_mask(ctx, va, end, VP_LOC_SYS);

		/* Copy first: the device pieces are freed by the commit. */
		for (i = 0; i < v.n; i++)
			dops(ctx, v.s[i].src_loc)
				->copy(ddev(ctx, v.s[i].src_loc),
				       (void *)(uintptr_t)v.s[i].dst,
				       (const void *)(uintptr_t)v.s[i].src,
				       v.s[i].len);
		for (i = 0; i < v.n; i++) {
			const struct seg *sg = &v.s[i];
			uint64_t cur = sg->va, e = sg->va + sg->len;

			/* Keep each stretch's prot; only the backing changes. */
			while (cur < e) {
				const struct vp_range *r =
					vp_range_map_find(m, cur);
				uint64_t stop;
				struct vp_range_val val;

				if (!r)	/* dropped whole: see forget() */
					break;
				stop = min64(r->end, e);
				val = (struct vp_range_val){
					.base = sg->dst + (cur - sg->va),
					.word = { r->val.word[0], 0 },
				};

				if (vp_range_map_set(m, cur, stop, &val))
					vp_range_map_remove_whole(m, cur, stop,
								  &val.base,
								  &val.word[1]);
				cur = stop;
			}
			forget(ctx, &ctx->res, -1, sg->va, e);
			count_move(ctx, sg->src_loc, VP_LOC_SYS, sg->len,
				   seen);
			ret += (int64_t)sg->len;
		}
		vp_policy_note_move(ctx, va, end);
		vp_ctx_install_mask(ctx, mask, va, end);
		vp_ctx_map_accessed_by(ctx, va, end);
	}
out:
	free(v.s);
	return ret;
}

int vp_ctx_migrate(struct vp_ctx *ctx, const struct vsvm_request *req,
		   struct vsvm_writer *w, struct vp_submit **deliver)
{
	struct vsvm_response rsp = { .op = VSVM_CMD_MIGRATE };
	uint64_t va = req->u.migrate.va, len = req->u.migrate.len;
	uint64_t end = va + len;
	uint32_t loc = req->u.migrate.location;
	struct segs runs = { 0 };
	int64_t ret;

	if (!vp_ctx_has_devmem(ctx))
		return -VSVM_ERR_STATE;
	if (vsvm_check_range(va, len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	if (loc != VSVM_LOC_SYSTEM && loc >= ctx->cfg->num_devices)
		return -VSVM_ERR_NODEV;
	ret = run_segs(ctx, req, &runs);
	if (ret)
		goto out;
	ctx->stats.migrate_cmds++;
	if (!req->u.migrate.nr_runs) {
		/* Device to device: mapped device data elsewhere moves to loc. */
		uint64_t stop, cur;
		bool other = false;

		for (cur = va; cur < end && !other; cur = stop) {
			uint32_t l = vp_ctx_loc(ctx, cur, &stop);

			other = l != VP_LOC_SYS && l != loc;
		}
		if (other && !(ctx->features & VSVM_F_PEER_MIGRATION)) {
			ret = -VSVM_ERR_STATE;
			goto out;
		}
		ret = 0;
		if (other) {
			uint64_t need = 0;
			const struct vp_range *r;

			for (r = vp_range_map_first_after(&ctx->res, va);
			     r && r->start < end; r = vp_range_map_next(r))
				if (r->val.word[0] != loc)
					need += min64(r->end, end) -
						(r->start > va ? r->start : va);
			ret = (int64_t)vp_ctx_move_d2d(ctx, va, end, loc,
						       false);
			if ((uint64_t)ret < need) {
				/* What moved stays moved; the rest did not fit. */
				note_nospc(ctx, va, end, loc);
				ret = -VSVM_ERR_NOSPC;
				goto out;
			}
		}
	} else if (loc != VSVM_LOC_SYSTEM) {
		if (!range_state(ctx, va, end, false)) {
			ret = -VSVM_ERR_STATE;
			goto out;
		}
		ret = migrate_to_device(ctx, &runs, va, end, loc);
		if (ret == -VSVM_ERR_NOSPC)
			note_nospc(ctx, va, end, loc);
	} else {
		if (!range_state(ctx, va, end, true)) {
			ret = -VSVM_ERR_STATE;
			goto out;
		}
		ret = migrate_to_system(ctx, &runs, va, end);
	}
	if (ret < 0)
		goto out;
	answer_request(ctx, req->u.migrate.request_id);
	*deliver = vp_ctx_deliver_events(ctx);
	rsp.u.migrate.bytes = (uint64_t)ret;
	ret = vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
out:
	free(runs.s);
	return (int)ret;
}

/* ---- PREFETCH (7.7) ----------------------------------------------------- */

/*
 * Install PTEs of [va, end) on the devices of mask and count the mapped
 * bytes that are at loc and allowed some access on every one of them.
 */
static uint64_t prefetch_map(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			     uint64_t mask, uint32_t loc)
{
	const struct vp_range *r;
	uint64_t bytes = 0;
	uint32_t d;

	for (d = 0; d < ctx->cfg->num_devices; d++)
		if (mask & (1ull << d))
			vp_ctx_install(ctx, d, va, end);
	if (!mask)
		return 0;
	for (r = vp_range_map_first_after(&ctx->maps, va); r && r->start < end;
	     r = vp_range_map_next(r)) {
		uint64_t s = r->start > va ? r->start : va;
		uint64_t e = min64(r->end, end), stop, st;

		for (; s < e; s = stop) {
			uint32_t prot = vp_ctx_limited_prot(
				ctx, s, e, (uint32_t)r->val.word[0], &stop);
			uint32_t l = vp_ctx_loc(ctx, s, &st);

			stop = min64(stop, st);
			/* Without device memory guest RAM is every location. */
			if (prot && (l == loc || !vp_ctx_has_devmem(ctx)))
				bytes += stop - s;
		}
	}
	return bytes;
}

/*
 * The MIGRATE_REQs that would bring the mapped data of [va, end) to loc,
 * one per granule (aligned, clipped to the mapped range) holding data only
 * the guest can move.  send: queue them (for prefetch token, or 0);
 * else only count them.  Return: how many.
 */
static uint32_t prefetch_requests(struct vp_ctx *ctx, uint64_t va,
				  uint64_t end, uint32_t loc, uint32_t token,
				  bool send)
{
	uint32_t want = loc == VSVM_LOC_SYSTEM ? VP_LOC_SYS : loc, n = 0;
	const struct vp_range *r;

	for (r = vp_range_map_first_after(&ctx->maps, va); r && r->start < end;
	     r = vp_range_map_next(r)) {
		uint64_t s = r->start > va ? r->start : va;
		uint64_t e = min64(r->end, end);

		while (s < e) {
			uint32_t shift = vp_ctx_gran_shift(ctx, s);
			uint64_t gs = s & ~((1ull << shift) - 1);
			uint64_t ge = gs + (1ull << shift);
			uint64_t rs = gs > r->start ? gs : r->start;
			uint64_t re = min64(ge, r->end), cur, stop;
			bool need = false;

			for (cur = s; cur < min64(ge, e) && !need; cur = stop) {
				uint32_t l = vp_ctx_loc(ctx, cur, &stop);

				/* Only what the guest alone can move. */
				need = want == VP_LOC_SYS ? l != VP_LOC_SYS :
							    l == VP_LOC_SYS;
			}
			if (need) {
				if (!send || vp_ctx_request(ctx, rs, re - rs,
							    loc, token))
					n++;
			}
			s = min64(ge, e);
		}
	}
	return n;
}

int vp_ctx_prefetch(struct vp_ctx *ctx, const struct vsvm_request *req,
		    struct vsvm_writer *w, struct vp_submit **deliver)
{
	struct vsvm_response rsp = { .op = VSVM_CMD_PREFETCH };
	uint64_t va = req->u.prefetch.va, len = req->u.prefetch.len;
	uint64_t end = va + len, mask;
	uint32_t loc = req->u.prefetch.location, want;
	bool async = req->u.prefetch.flags & VSVM_PREFETCH_F_ASYNC;
	struct vp_prefetch *pf;

	if (vsvm_check_range(va, len, ctx->va_bits))
		return -VSVM_ERR_RANGE;
	if (loc != VSVM_LOC_SYSTEM && loc >= ctx->cfg->num_devices)
		return -VSVM_ERR_NODEV;
	if (async && ctx->nr_pf >= ctx->policy->max_async_prefetches)
		return -VSVM_ERR_LIMIT;
	if (async && vp_ctx_has_devmem(ctx) &&
	    ctx->nr_mreqs + prefetch_requests(ctx, va, end, loc, 0, false) >
		    VP_MAX_MREQS)
		return -VSVM_ERR_LIMIT;
	want = loc == VSVM_LOC_SYSTEM ? VP_LOC_SYS : loc;
	if (loc == VSVM_LOC_SYSTEM)
		vp_ctx_attr(ctx, va, &mask);
	else
		mask = 1ull << loc;
	ctx->stats.prefetches++;
	/* What the device does alone: device data to loc's device. */
	if (vp_ctx_has_devmem(ctx) && want != VP_LOC_SYS &&
	    (ctx->features & VSVM_F_PEER_MIGRATION)) {
		uint64_t cur, next;

		/* Granule by granule: running out is not an error (7.7). */
		for (cur = va; cur < end; cur = next) {
			uint64_t stop;
			uint32_t shift;

			/*
			 * Only device data moves: skip guest RAM whole, so the
			 * guest's len does not set the number of steps.
			 */
			if (vp_ctx_loc(ctx, cur, &stop) == VP_LOC_SYS) {
				next = min64(stop, end);
				continue;
			}
			shift = vp_ctx_gran_shift(ctx, cur);
			next = min64((cur | ((1ull << shift) - 1)) + 1, end);
			vp_ctx_move_d2d(ctx, cur, next, want, false);
		}
	}
	rsp.u.prefetch.bytes = prefetch_map(ctx, va, end, mask, want);
	if (!async)
		return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
	ctx->stats.prefetches_async++;
	rsp.u.prefetch.bytes = 0;
	do {
		if (++ctx->next_token == 0)
			ctx->next_token = 1;
	} while (find_prefetch(ctx, ctx->next_token));
	pf = &ctx->pf[ctx->nr_pf++];
	*pf = (struct vp_prefetch){ ctx->next_token, loc, va, len, 0, false };
	rsp.u.prefetch.token = pf->token;
	if (vp_ctx_has_devmem(ctx))
		pf->pending = prefetch_requests(ctx, va, end, loc, pf->token,
						 true);
	if (!pf->pending)
		prefetch_done(ctx, pf);
	*deliver = vp_ctx_deliver_events(ctx);
	return vsvm_encode_response(w, &rsp) < 0 ? -VSVM_ERR_UNSPEC : 0;
}

void vp_ctx_request_range(struct vp_ctx *ctx, uint64_t va, uint64_t end,
			  uint32_t loc)
{
	if (vp_ctx_has_devmem(ctx))
		prefetch_requests(ctx, va, end, loc, 0, true);
}
