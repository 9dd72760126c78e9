// SPDX-License-Identifier: MIT
/*
 * guest_ram.c - memfd-backed guest RAM and its page-frame allocator.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The allocator keeps a reference count per frame of the high region and a
 * next-fit cursor; single pages and contiguous runs come from the same
 * array, so fragmentation only costs search time.  One mutex guards it.
 *
 * DOC: Poison checks
 *
 * A frame freed to the allocator is filled with GSIM_POISON and marked as
 * once freed.  Nothing in the guest may write a free frame, so when such a
 * frame is handed out again it must still be poison from end to end; if
 * it is not, a write reached it after it was freed.  The one writer that
 * can do that is a device using a stale translation (an invalidation that
 * returned before the device let go of the page), so this is how the
 * simulator catches coherency bugs that write.  Each such frame is counted
 * in gsim_ram_poison_violations() and logged (the first few), before it is
 * zeroed as usual.  gsim_ram_poison_scan() checks every free frame the
 * same way without waiting for reuse, and poisons again what it reports,
 * so each stale write is counted once.  Frames never freed (still as the
 * memfd came, zero) are not checked.  Device reads of freed frames cannot
 * be seen here: the workloads see them, as poison where data should be.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_ram.h"

struct gsim_ram {
	int fd;
	uint64_t size;
	uint8_t *map;		/* the whole memfd, GPA == offset */
	pthread_mutex_t lock;
	uint64_t first_pfn;	/* first frame the allocator hands out */
	uint64_t nr_pfns;	/* frames from first_pfn to the end */
	uint64_t cursor;	/* next-fit start, relative to first_pfn */
	uint64_t used;
	uint32_t *refs;		/* per frame, relative to first_pfn */
	uint8_t *freed;		/* per frame: freed (poisoned) at least once */
	uint64_t poison_violations;	/* atomic */
	uint32_t poison_logged;		/* atomic */
};

/* Frames whose violation is logged; the rest are only counted. */
#define POISON_LOG_MAX 16
#define POISON_WORD    (0x0101010101010101ull * GSIM_POISON)

struct gsim_ram *gsim_ram_create(uint64_t size)
{
	struct gsim_ram *ram;

	if (size < (4ull << 20) || size % (2ull << 20))
		return NULL;
	ram = calloc(1, sizeof(*ram));
	if (!ram)
		return NULL;
	ram->size = size;
	ram->fd = memfd_create("vsvm-guest-ram", MFD_CLOEXEC);
	if (ram->fd < 0)
		goto err_free;
	if (ftruncate(ram->fd, (off_t)size))
		goto err_close;
	ram->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			ram->fd, 0);
	if (ram->map == MAP_FAILED)
		goto err_close;
	ram->first_pfn = GSIM_HIGH_START / GSIM_PAGE_SIZE;
	ram->nr_pfns = size / GSIM_PAGE_SIZE - ram->first_pfn;
	ram->refs = calloc(ram->nr_pfns, sizeof(*ram->refs));
	ram->freed = calloc(ram->nr_pfns, sizeof(*ram->freed));
	if (!ram->refs || !ram->freed)
		goto err_unmap;
	/* Frame 0 of the high region stays reserved, never counted. */
	ram->refs[0] = 1;
	pthread_mutex_init(&ram->lock, NULL);
	return ram;

err_unmap:
	free(ram->refs);
	free(ram->freed);
	munmap(ram->map, size);
err_close:
	close(ram->fd);
err_free:
	free(ram);
	return NULL;
}

void gsim_ram_destroy(struct gsim_ram *ram)
{
	if (!ram)
		return;
	pthread_mutex_destroy(&ram->lock);
	free(ram->refs);
	free(ram->freed);
	munmap(ram->map, ram->size);
	close(ram->fd);
	free(ram);
}

int gsim_ram_fd(const struct gsim_ram *ram)
{
	return ram->fd;
}

unsigned int gsim_ram_regions(const struct gsim_ram *ram,
			      struct gsim_region *out, unsigned int max)
{
	const struct gsim_region r[2] = {
		{ 0, GSIM_LOW_END, 0, (uint64_t)(uintptr_t)ram->map },
		{ GSIM_HIGH_START, ram->size - GSIM_HIGH_START,
		  GSIM_HIGH_START,
		  (uint64_t)(uintptr_t)(ram->map + GSIM_HIGH_START) },
	};
	unsigned int i;

	for (i = 0; i < 2 && i < max; i++)
		out[i] = r[i];
	return 2;
}

void *gsim_ram_ptr(const struct gsim_ram *ram, uint64_t gpa, uint64_t len)
{
	/* Written so that gpa + len cannot overflow. */
	if (gpa < GSIM_LOW_END && len <= GSIM_LOW_END - gpa)
		return ram->map + gpa;
	if (gpa >= GSIM_HIGH_START && gpa < ram->size &&
	    len <= ram->size - gpa)
		return ram->map + gpa;
	return NULL;
}

static uint64_t pfn_index(const struct gsim_ram *ram, uint64_t gpa)
{
	uint64_t pfn = gpa / GSIM_PAGE_SIZE;

	if (gpa % GSIM_PAGE_SIZE || pfn < ram->first_pfn ||
	    pfn - ram->first_pfn >= ram->nr_pfns)
		abort();	/* a simulator bug, never guest input */
	return pfn - ram->first_pfn;
}

/* Find n free frames in a row, next-fit; caller holds the lock. */
static int64_t find_free(struct gsim_ram *ram, uint64_t n)
{
	uint64_t tried, start = ram->cursor, run = 0;

	for (tried = 0; tried < ram->nr_pfns + n; tried++) {
		uint64_t i = (start + tried) % ram->nr_pfns;

		if (i == 0)
			run = 0;	/* runs do not wrap around */
		if (ram->refs[i]) {
			run = 0;
			continue;
		}
		if (++run == n)
			return (int64_t)(i + 1 - n);
	}
	return -1;
}

/*
 * Whether the frame at gpa is poison from end to end; if not, the offset
 * and value of the first 8-byte word that differs.  A word loop: this runs
 * on every allocation of a once-freed frame.
 */
static int frame_is_poison(const struct gsim_ram *ram, uint64_t gpa,
			   uint64_t *off, uint64_t *val)
{
	const volatile uint64_t *w =
		(const volatile uint64_t *)(ram->map + gpa);
	uint64_t i, v;

	for (i = 0; i < GSIM_PAGE_SIZE / 8; i++) {
		v = w[i];
		if (v != POISON_WORD) {
			*off = i * 8;
			*val = v;
			return 0;
		}
	}
	return 1;
}

/* Count a frame found written after it was freed; log the first few. */
static void poison_violation(struct gsim_ram *ram, uint64_t gpa, uint64_t off,
			     uint64_t val, const char *when)
{
	__atomic_add_fetch(&ram->poison_violations, 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&ram->poison_logged, 1, __ATOMIC_RELAXED) >=
	    POISON_LOG_MAX)
		return;
	fprintf(stderr,
		"guest_ram: POISON VIOLATION (%s): free frame GPA 0x%" PRIx64
		" was written after it was freed: offset 0x%" PRIx64
		" holds 0x%016" PRIx64 "\n",
		when, gpa, off, val);
}

uint64_t gsim_ram_alloc_contig(struct gsim_ram *ram, uint32_t npages)
{
	uint64_t gpa, i;
	int64_t first;

	if (npages == 0)
		return 0;
	pthread_mutex_lock(&ram->lock);
	first = find_free(ram, npages);
	if (first < 0) {
		pthread_mutex_unlock(&ram->lock);
		return 0;
	}
	for (i = 0; i < npages; i++)
		ram->refs[(uint64_t)first + i] = 1;
	ram->used += npages;
	ram->cursor = ((uint64_t)first + npages) % ram->nr_pfns;
	pthread_mutex_unlock(&ram->lock);
	gpa = (ram->first_pfn + (uint64_t)first) * GSIM_PAGE_SIZE;
	/*
	 * The frames are ours now (their freed bits were last written under
	 * the lock just taken): check that nothing wrote them while free.
	 */
	for (i = 0; i < npages; i++) {
		uint64_t f = gpa + i * GSIM_PAGE_SIZE, off, val;

		if (ram->freed[(uint64_t)first + i] &&
		    !frame_is_poison(ram, f, &off, &val))
			poison_violation(ram, f, off, val, "on reuse");
	}
	memset(ram->map + gpa, 0, npages * GSIM_PAGE_SIZE);
	return gpa;
}

uint64_t gsim_ram_alloc_page(struct gsim_ram *ram)
{
	return gsim_ram_alloc_contig(ram, 1);
}

void gsim_ram_get_page(struct gsim_ram *ram, uint64_t gpa)
{
	uint64_t i = pfn_index(ram, gpa);

	pthread_mutex_lock(&ram->lock);
	if (!ram->refs[i])
		abort();
	__atomic_add_fetch(&ram->refs[i], 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ram->lock);
}

void gsim_ram_put_page(struct gsim_ram *ram, uint64_t gpa)
{
	uint64_t i = pfn_index(ram, gpa);
	int freed;

	pthread_mutex_lock(&ram->lock);
	if (!ram->refs[i])
		abort();
	freed = __atomic_sub_fetch(&ram->refs[i], 1, __ATOMIC_RELAXED) == 0;
	if (freed) {
		/* Poison before the frame can be handed out again. */
		memset(ram->map + gpa, GSIM_POISON, GSIM_PAGE_SIZE);
		ram->freed[i] = 1;
		ram->used--;
	}
	pthread_mutex_unlock(&ram->lock);
}

void gsim_ram_free_contig(struct gsim_ram *ram, uint64_t gpa, uint32_t npages)
{
	uint32_t i;

	for (i = 0; i < npages; i++)
		gsim_ram_put_page(ram, gpa + i * GSIM_PAGE_SIZE);
}

uint32_t gsim_ram_page_refs(const struct gsim_ram *ram, uint64_t gpa)
{
	/* A racy snapshot by nature; atomic so the read itself is defined. */
	return __atomic_load_n(&ram->refs[pfn_index(ram, gpa)],
			       __ATOMIC_RELAXED);
}

uint64_t gsim_ram_pages_used(const struct gsim_ram *ram)
{
	return ram->used;
}

uint64_t gsim_ram_poison_violations(const struct gsim_ram *ram)
{
	return __atomic_load_n(&ram->poison_violations, __ATOMIC_RELAXED);
}

/* Frames checked per lock hold in a scan: keeps allocation latency low. */
#define SCAN_BATCH 256

uint64_t gsim_ram_poison_scan(struct gsim_ram *ram)
{
	uint64_t i = 1, end, found = 0, off, val;

	while (i < ram->nr_pfns) {
		end = i + SCAN_BATCH < ram->nr_pfns ? i + SCAN_BATCH :
						      ram->nr_pfns;
		pthread_mutex_lock(&ram->lock);
		for (; i < end; i++) {
			uint64_t gpa = (ram->first_pfn + i) * GSIM_PAGE_SIZE;

			if (ram->refs[i] || !ram->freed[i] ||
			    frame_is_poison(ram, gpa, &off, &val))
				continue;
			poison_violation(ram, gpa, off, val, "scan");
			/* Poison again, so the same write is counted once. */
			memset(ram->map + gpa, GSIM_POISON, GSIM_PAGE_SIZE);
			found++;
		}
		pthread_mutex_unlock(&ram->lock);
	}
	return found;
}
