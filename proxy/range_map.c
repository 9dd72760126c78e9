// SPDX-License-Identifier: MIT
/*
 * range_map.c - non-overlapping VA ranges with split and merge.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Invariant: entries never overlap, never are empty, and two adjacent
 * entries (a.end == b.start) never hold equal values (they are merged).
 * The merge rule keeps an attribute map minimal, so GET_ATTR sees one
 * entry per distinct run and repeated SETs cannot grow the tree.
 */
#include <errno.h>
#include <stdlib.h>

#include "range_map.h"

static int range_cmp(const struct vp_range *a, const struct vp_range *b)
{
	return a->start < b->start ? -1 : a->start > b->start;
}

/*
 * libbsd's RB_GENERATE_STATIC marks its functions __unused, which libbsd
 * leaves undefined (the name clashes with a Linux uapi struct member), so
 * give it its meaning for this expansion only.
 */
#define __unused __attribute__((__unused__))
RB_GENERATE_STATIC(vp_range_tree, vp_range, node, range_cmp)
#undef __unused

void vp_range_map_init(struct vp_range_map *m, bool advancing, uint64_t limit)
{
	RB_INIT(&m->tree);
	m->advancing = advancing;
	m->count = 0;
	m->limit = limit;
}

void vp_range_map_clear(struct vp_range_map *m)
{
	struct vp_range *r, *next;

	RB_FOREACH_SAFE(r, vp_range_tree, &m->tree, next) {
		RB_REMOVE(vp_range_tree, &m->tree, r);
		free(r);
	}
	m->count = 0;
}

uint64_t vp_range_base_at(const struct vp_range_map *m,
			  const struct vp_range *r, uint64_t addr)
{
	return m->advancing ? r->val.base + (addr - r->start) : r->val.base;
}

const struct vp_range *vp_range_map_first_after(const struct vp_range_map *m,
						uint64_t addr)
{
	struct vp_range key = { .start = addr };
	struct vp_range *r;

	/* The entry starting at or before addr may still cover it. */
	r = RB_NFIND(vp_range_tree, (struct vp_range_tree *)&m->tree, &key);
	if (r && r->start == addr)
		return r;
	if (r) {
		struct vp_range *prev = RB_PREV(vp_range_tree, NULL, r);

		return prev && prev->end > addr ? prev : r;
	}
	r = RB_MAX(vp_range_tree, (struct vp_range_tree *)&m->tree);
	return r && r->end > addr ? r : NULL;
}

const struct vp_range *vp_range_map_next(const struct vp_range *r)
{
	return RB_NEXT(vp_range_tree, NULL, (struct vp_range *)r);
}

const struct vp_range *vp_range_map_find(const struct vp_range_map *m,
					 uint64_t addr)
{
	const struct vp_range *r = vp_range_map_first_after(m, addr);

	return r && r->start <= addr ? r : NULL;
}

static bool vals_merge(const struct vp_range_map *m, const struct vp_range *a,
		       const struct vp_range *b)
{
	if (a->end != b->start || a->val.word[0] != b->val.word[0] ||
	    a->val.word[1] != b->val.word[1])
		return false;
	if (m->advancing)
		return a->val.base + (a->end - a->start) == b->val.base;
	return a->val.base == b->val.base;
}

/* Split r at addr (start < addr < end); the new right half is returned. */
static struct vp_range *split(struct vp_range_map *m, struct vp_range *r,
			      uint64_t addr)
{
	struct vp_range *right = malloc(sizeof(*right));

	if (!right)
		return NULL;
	*right = *r;
	right->start = addr;
	right->val.base = vp_range_base_at(m, r, addr);
	r->end = addr;
	RB_INSERT(vp_range_tree, &m->tree, right);
	m->count++;
	return right;
}

/*
 * Cut [start, end) out of the map.  The entries straddling either edge are
 * split first: a split alone changes no mapping, so a failed allocation
 * leaves the map's contents as they were.
 */
int64_t vp_range_map_remove(struct vp_range_map *m, uint64_t start,
			    uint64_t end)
{
	struct vp_range *r, *next;
	int64_t removed = 0;

	r = (struct vp_range *)vp_range_map_find(m, start);
	if (r && r->start < start && !split(m, r, start))
		return -ENOMEM;
	r = (struct vp_range *)vp_range_map_find(m, end - 1);
	if (r && r->end > end && !split(m, r, end))
		return -ENOMEM;
	r = (struct vp_range *)vp_range_map_first_after(m, start);
	for (; r && r->start < end; r = next) {
		next = RB_NEXT(vp_range_tree, &m->tree, r);
		removed += (int64_t)(r->end - r->start);
		RB_REMOVE(vp_range_tree, &m->tree, r);
		m->count--;
		free(r);
	}
	return removed;
}

void vp_range_map_remove_whole(struct vp_range_map *m, uint64_t start,
				uint64_t end, uint64_t *wstart, uint64_t *wend)
{
	struct vp_range *r, *next;

	*wstart = start;
	*wend = end;
	r = (struct vp_range *)vp_range_map_first_after(m, start);
	for (; r && r->start < end; r = next) {
		next = RB_NEXT(vp_range_tree, &m->tree, r);
		if (r->start < *wstart)
			*wstart = r->start;
		if (r->end > *wend)
			*wend = r->end;
		RB_REMOVE(vp_range_tree, &m->tree, r);
		m->count--;
		free(r);
	}
}

int vp_range_map_set(struct vp_range_map *m, uint64_t start, uint64_t end,
		     const struct vp_range_val *val)
{
	struct vp_range *r, *prev, *next;

	/* Worst case: one new entry plus one split of a straddling entry. */
	if (m->limit && m->count + 2 > m->limit)
		return -ENOSPC;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (vp_range_map_remove(m, start, end) < 0) {
		free(r);
		return -ENOMEM;
	}
	r->start = start;
	r->end = end;
	r->val = *val;
	RB_INSERT(vp_range_tree, &m->tree, r);
	m->count++;

	prev = RB_PREV(vp_range_tree, &m->tree, r);
	if (prev && vals_merge(m, prev, r)) {
		prev->end = r->end;
		RB_REMOVE(vp_range_tree, &m->tree, r);
		m->count--;
		free(r);
		r = prev;
	}
	next = RB_NEXT(vp_range_tree, &m->tree, r);
	if (next && vals_merge(m, r, next)) {
		r->end = next->end;
		RB_REMOVE(vp_range_tree, &m->tree, next);
		m->count--;
		free(next);
	}
	return 0;
}
