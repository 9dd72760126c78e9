/* SPDX-License-Identifier: MIT */
/*
 * range_map.h - a map from non-overlapping VA ranges to values, with
 *               split on partial change and merge of equal neighbours.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * Each context keeps two: what the guest mapped (value: host address of the
 * range start and permissions) and the attributes in force (value: the
 * packed attributes).  Setting a range first cuts away whatever overlapped
 * it, splitting entries that straddle its edges, then inserts it and merges
 * it with neighbours holding an equal value:
 *
 *   before   [a.....a][b.........b]
 *   set           [x.......x]
 *   after    [a..][x.......x][b..b]
 *
 * A value's base either "advances" with the address (a host address: the
 * right half of a split starts at base + offset) or is constant (packed
 * attributes).  The map is a red-black tree keyed by start (libbsd's
 * <bsd/sys/tree.h>), so every operation is O(log n + k) for k entries
 * touched.  Not thread-safe: the owner's lock guards it.
 */
#ifndef VP_RANGE_MAP_H
#define VP_RANGE_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include <bsd/sys/tree.h>

struct vp_range_val {
	uint64_t base;		/* advances with the address if advancing */
	uint64_t word[2];	/* compared for merging, never adjusted */
};

struct vp_range {
	uint64_t start;
	uint64_t end;		/* exclusive */
	struct vp_range_val val;
	RB_ENTRY(vp_range) node;
};

RB_HEAD(vp_range_tree, vp_range);

struct vp_range_map {
	struct vp_range_tree tree;
	bool advancing;
	uint64_t count;
	uint64_t limit;		/* max entries; 0 = none */
};

void vp_range_map_init(struct vp_range_map *m, bool advancing,
		       uint64_t limit);
void vp_range_map_clear(struct vp_range_map *m);

/*
 * Make [start, end) hold val.  Return: 0, -ENOMEM, or -ENOSPC if the map
 * would exceed its entry limit (then nothing changed).
 */
int vp_range_map_set(struct vp_range_map *m, uint64_t start, uint64_t end,
		     const struct vp_range_val *val);
/* Remove [start, end); return bytes that were present, or -ENOMEM. */
int64_t vp_range_map_remove(struct vp_range_map *m, uint64_t start,
			    uint64_t end);
/*
 * Remove every entry overlapping [start, end) whole, without splitting:
 * cannot fail.  [*wstart, *wend) is the range actually removed.
 */
void vp_range_map_remove_whole(struct vp_range_map *m, uint64_t start,
				uint64_t end, uint64_t *wstart, uint64_t *wend);
/* The entry containing addr, or NULL. */
const struct vp_range *vp_range_map_find(const struct vp_range_map *m,
					 uint64_t addr);
/* The first entry ending after addr, or NULL: iterate with _next. */
const struct vp_range *vp_range_map_first_after(const struct vp_range_map *m,
						uint64_t addr);
const struct vp_range *vp_range_map_next(const struct vp_range *r);

/* The value of r at addr (base advanced if the map advances). */
uint64_t vp_range_base_at(const struct vp_range_map *m,
			  const struct vp_range *r, uint64_t addr);

#endif /* VP_RANGE_MAP_H */
