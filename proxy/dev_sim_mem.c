// SPDX-License-Identifier: MIT
/*
 * dev_sim_mem.c - device memory of the simulated GPU.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Device memory pool
 *
 * The simulated VRAM is one anonymous mmap of mem_size bytes, reserved but
 * not committed (MAP_NORESERVE: the host gives a page only when it is first
 * touched), starting on a 2 MiB boundary so that a block allocated with
 * 2 MiB alignment is 2 MiB aligned in host addresses too and maps with
 * 2 MiB leaves.  A bitmap, one bit per 4 KiB page, says which pages are in use.
 * Single pages (page-table pages: the common case) are found by scanning
 * the bitmap a word at a time from a hint; larger or aligned blocks
 * (migrated data, 2 MiB for huge mappings) by a first-fit scan.
 *
 * Every allocation is zero-filled before it is handed out, so memory never
 * carries one context's data (or page table) to another.
 *
 * Locking: sim_mem.lock guards the bitmap and counters.  It is a leaf lock:
 * page-table pages are allocated with a VM's access lock held for write,
 * so nothing here may take any other lock.  Zeroing happens outside it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dev_sim_priv.h"

#define BITS_PER_WORD 64u

static inline bool mem_page_used(const struct sim_mem *m, uint64_t pg)
{
	return m->bitmap[pg / BITS_PER_WORD] >> (pg % BITS_PER_WORD) & 1;
}

static void mem_mark(struct sim_mem *m, uint64_t first, uint64_t n, bool used)
{
	uint64_t pg;

	for (pg = first; pg < first + n; pg++) {
		uint64_t bit = 1ull << (pg % BITS_PER_WORD);

		if (used)
			m->bitmap[pg / BITS_PER_WORD] |= bit;
		else
			m->bitmap[pg / BITS_PER_WORD] &= ~bit;
	}
	if (used)
		m->used_pages += n;
	else
		m->used_pages -= n;
}

int sim_mem_init(struct sim_mem *m, uint64_t size)
{
	uint64_t words;
	int err;

	memset(m, 0, sizeof(*m));
	m->nr_pages = size / SIM_PAGE_SIZE;
	m->size = m->nr_pages * SIM_PAGE_SIZE;
	if (!m->nr_pages)
		return -EINVAL;
	words = (m->nr_pages + BITS_PER_WORD - 1) / BITS_PER_WORD;
	m->bitmap = calloc(words, sizeof(*m->bitmap));
	if (!m->bitmap)
		return -ENOMEM;
	/* Bits past the last page are permanently "used". */
	if (m->nr_pages % BITS_PER_WORD)
		m->bitmap[words - 1] = ~0ull << (m->nr_pages % BITS_PER_WORD);
	/* 2 MiB aligned, so that 2 MiB blocks can map with 2 MiB leaves. */
	m->map_len = m->size + VP_PT_HUGE_SIZE;
	m->map = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->map == MAP_FAILED) {
		err = -errno;
		goto err_free_bitmap;
	}
	m->base = (uint8_t *)(((uintptr_t)m->map + SIM_HUGE_OFF) &
			      ~(uintptr_t)SIM_HUGE_OFF);
	err = pthread_mutex_init(&m->lock, NULL);
	if (err) {
		err = -err;
		goto err_unmap;
	}
	return 0;

err_unmap:
	munmap(m->map, m->map_len);
err_free_bitmap:
	free(m->bitmap);
	return err;
}

void sim_mem_fini(struct sim_mem *m)
{
	pthread_mutex_destroy(&m->lock);
	munmap(m->map, m->map_len);
	free(m->bitmap);
}

/* One free page, searching whole words from the hint; lock held. */
static int64_t mem_find_page(struct sim_mem *m)
{
	uint64_t words = (m->nr_pages + BITS_PER_WORD - 1) / BITS_PER_WORD;
	uint64_t i;

	for (i = 0; i < words; i++) {
		uint64_t w = (m->hint + i) % words;

		if (~m->bitmap[w]) {
			m->hint = w;
			return (int64_t)(w * BITS_PER_WORD +
					 (uint64_t)__builtin_ctzll(
						 ~m->bitmap[w]));
		}
	}
	return -1;
}

/* First fit of n free pages starting at a multiple of align; lock held. */
static int64_t mem_find_run(struct sim_mem *m, uint64_t n, uint64_t align)
{
	uint64_t start = 0, pg;

	while (start + n <= m->nr_pages && start + n > start) {
		for (pg = start; pg < start + n; pg++)
			if (mem_page_used(m, pg))
				break;
		if (pg == start + n)
			return (int64_t)start;
		/* Restart at the next aligned page after the used one. */
		start = (pg / align + 1) * align;
	}
	return -1;
}

void *sim_mem_alloc(struct sim_mem *m, uint64_t bytes, uint64_t align)
{
	uint64_t n, align_pages;
	int64_t first;
	void *p;

	if (!bytes || bytes > m->size || (align & (align - 1)) ||
	    align > m->size)
		return NULL;
	n = (bytes + SIM_PAGE_OFF) / SIM_PAGE_SIZE;
	align_pages = align > SIM_PAGE_SIZE ? align / SIM_PAGE_SIZE : 1;

	pthread_mutex_lock(&m->lock);
	if (n == 1 && align_pages == 1)
		first = mem_find_page(m);
	else
		first = mem_find_run(m, n, align_pages);
	if (first >= 0)
		mem_mark(m, (uint64_t)first, n, true);
	pthread_mutex_unlock(&m->lock);
	if (first < 0)
		return NULL;

	p = m->base + (uint64_t)first * SIM_PAGE_SIZE;
	memset(p, 0, n * SIM_PAGE_SIZE);
	return p;
}

void sim_mem_free(struct sim_mem *m, void *p, uint64_t bytes)
{
	uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)m->base);
	uint64_t n, pg;

	if (!p)
		return;
	/* off wraps to a huge value for p below the pool. */
	n = bytes <= m->size ? (bytes + SIM_PAGE_OFF) / SIM_PAGE_SIZE : 0;
	if (off >= m->size || (off & SIM_PAGE_OFF) || !n ||
	    n > (m->size - off) / SIM_PAGE_SIZE) {
		fprintf(stderr, "dev_sim: free of %p+%llu outside the pool\n",
			p, (unsigned long long)bytes);
		abort();
	}
	pthread_mutex_lock(&m->lock);
	for (pg = off / SIM_PAGE_SIZE; pg < off / SIM_PAGE_SIZE + n; pg++) {
		if (!mem_page_used(m, pg)) {
			fprintf(stderr, "dev_sim: double free of page %llu\n",
				(unsigned long long)pg);
			abort();
		}
	}
	mem_mark(m, off / SIM_PAGE_SIZE, n, false);
	pthread_mutex_unlock(&m->lock);
}

uint64_t sim_mem_used(struct sim_mem *m)
{
	uint64_t used;

	pthread_mutex_lock(&m->lock);
	used = m->used_pages;
	pthread_mutex_unlock(&m->lock);
	return used * SIM_PAGE_SIZE;
}
