/* SPDX-License-Identifier: MIT */
/*
 * memtable.h - the guest memory table of one vhost-user connection.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * VHOST_USER_SET_MEM_TABLE hands the backend the guest's RAM as regions:
 * guest physical address, size, the frontend's own virtual address of the
 * region (vring addresses are given in that space) and an fd + offset to
 * mmap.  This file is the single place where a guest address becomes a
 * pointer: every other file asks vp_memtable_gpa()/vp_memtable_uva(), which
 * check that the whole range [addr, addr + len) lies inside one region and
 * return NULL otherwise.  No other code does arithmetic on guest addresses.
 *
 * Lifetime: a pointer returned here stays valid until the table is
 * replaced or freed.  Whoever replaces the table first makes every user
 * drop its pointers (the SVM core clears all PTEs: vp_svm_memtable_changed).
 */
#ifndef VP_MEMTABLE_H
#define VP_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

/* VHOST_USER_MAX_RAM_SLOTS is 509 with CONFIGURE_MEM_SLOTS; 8 without. */
#define VP_MEMTABLE_MAX_REGIONS 8

struct vp_memregion {
	uint64_t gpa;		/* guest physical start */
	uint64_t size;		/* bytes */
	uint64_t uva;		/* frontend (QEMU) virtual start */
	uint64_t mmap_offset;	/* offset of gpa's byte within the fd */
	void *map;		/* mmap of [0, mmap_offset + size) of the fd */
	size_t map_len;
};

struct vp_memtable {
	uint32_t nr;
	struct vp_memregion regions[VP_MEMTABLE_MAX_REGIONS];
};

/*
 * Build a table from the message's regions, mmapping each fd (which it
 * closes).  Regions must not overlap in GPA.  Return: 0, -EINVAL (bad or
 * overlapping region), -ENOMEM or -errno of mmap; on error nothing is
 * mapped and every fd is closed.
 */
int vp_memtable_build(struct vp_memtable *mt, uint32_t nr,
		      const uint64_t *gpa, const uint64_t *size,
		      const uint64_t *uva, const uint64_t *mmap_offset,
		      const int *fds);

/* Unmap every region and empty the table. */
void vp_memtable_clear(struct vp_memtable *mt);

/* Pointer to [gpa, gpa + len), or NULL if it is not inside one region. */
void *vp_memtable_gpa(const struct vp_memtable *mt, uint64_t gpa,
		      uint64_t len);

/*
 * Pointer to gpa and, in *len, how many bytes from there the same region
 * holds; NULL (and *len 0) if gpa is in no region.  For walking a GPA run
 * that crosses regions adjacent in guest physical address.
 */
void *vp_memtable_gpa_extent(const struct vp_memtable *mt, uint64_t gpa,
			     uint64_t *len);

/* Same as vp_memtable_gpa for a frontend virtual address (vring addresses). */
void *vp_memtable_uva(const struct vp_memtable *mt, uint64_t uva,
		      uint64_t len);

#endif /* VP_MEMTABLE_H */
