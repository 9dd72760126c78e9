/* SPDX-License-Identifier: MIT */
/*
 * guest_ram.h - the guest simulator's "guest RAM": a memfd shared with the
 *               vhost-user backend, laid out in guest physical addresses
 *               like QEMU's x86 machines, with a page-frame allocator.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The memfd is mapped once here and handed to the backend in
 * SET_MEM_TABLE.  GPA space has two regions, as QEMU's pc machines have:
 * [0, 0xa0000) and [0xc0000, size); the hole between them is not RAM, so
 * the backend's table lookups are exercised across a gap.  The second
 * region starts at mmap offset 0xc0000 of the memfd (GPA == file offset).
 *
 * Page frames (4 KiB) of the second region are handed out by a
 * reference-counted allocator: guest page tables, process pages (shared
 * copy-on-write after fork) and virtqueue memory all come from it.  A page
 * freed to the allocator is filled with GSIM_POISON, so a device access
 * through a stale mapping reads poison, which the stress tests look for.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef GSIM_GUEST_RAM_H
#define GSIM_GUEST_RAM_H

#include <stddef.h>
#include <stdint.h>

#define GSIM_PAGE_SIZE 4096ull
#define GSIM_POISON 0x5a		/* byte pattern of freed pages */
#define GSIM_LOW_END 0xa0000ull		/* end of the first region */
#define GSIM_HIGH_START 0xc0000ull	/* start of the second region */

struct gsim_ram;

struct gsim_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t mmap_offset;		/* offset of gpa within the memfd */
	uint64_t uva;			/* this process's address of gpa */
};

/* size: bytes of GPA space, a multiple of 2 MiB, at least 4 MiB. */
struct gsim_ram *gsim_ram_create(uint64_t size);
void gsim_ram_destroy(struct gsim_ram *ram);

int gsim_ram_fd(const struct gsim_ram *ram);
/* Fill up to max regions; return how many there are (2). */
unsigned int gsim_ram_regions(const struct gsim_ram *ram,
			      struct gsim_region *out, unsigned int max);

/* Pointer to [gpa, gpa + len) if it lies inside one region, else NULL. */
void *gsim_ram_ptr(const struct gsim_ram *ram, uint64_t gpa, uint64_t len);

/* A zeroed page with one reference; 0 when guest RAM is exhausted. */
uint64_t gsim_ram_alloc_page(struct gsim_ram *ram);
/* npages contiguous zeroed pages (rings, buffers); 0 if none. */
uint64_t gsim_ram_alloc_contig(struct gsim_ram *ram, uint32_t npages);
void gsim_ram_get_page(struct gsim_ram *ram, uint64_t gpa);
/* Drop a reference; at zero the page is poisoned and freed. */
void gsim_ram_put_page(struct gsim_ram *ram, uint64_t gpa);
void gsim_ram_free_contig(struct gsim_ram *ram, uint64_t gpa,
			  uint32_t npages);
uint32_t gsim_ram_page_refs(const struct gsim_ram *ram, uint64_t gpa);
/* Pages currently allocated (leak checks in tests). */
uint64_t gsim_ram_pages_used(const struct gsim_ram *ram);

/*
 * Freed frames found written after they were freed (guest_ram.c, DOC:
 * Poison checks): checked when a frame is handed out again, and by
 * gsim_ram_poison_scan().  Anything but 0 is a coherency bug.
 */
uint64_t gsim_ram_poison_violations(const struct gsim_ram *ram);
/* Check every free, once-freed frame now; return how many were written. */
uint64_t gsim_ram_poison_scan(struct gsim_ram *ram);

#endif /* GSIM_GUEST_RAM_H */
