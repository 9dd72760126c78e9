/* SPDX-License-Identifier: MIT */
/*
 * gsim_mm_test.h - shared fixture of the guest_mm tests: guest RAM, one
 *                  process and a notifier that records its calls.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Include after <cmocka.h>.  Every test starts from a fresh guest RAM and
 * checks at teardown that the allocator is back at its baseline, so a
 * leaked page or page-table frame fails the test that leaked it.
 */
#ifndef GSIM_MM_TEST_H
#define GSIM_MM_TEST_H

#include <stdint.h>
#include <string.h>

#include "guest_mm.h"
#include "guest_ram.h"

#define PG	  GSIM_PAGE_SIZE
#define RAM_SIZE  (64ull << 20)
#define MAX_CALLS 64

struct notify_log {
	struct gsim_mm *mm; /* the mm this notifier belongs to */
	unsigned int calls;
	uint64_t va[MAX_CALLS];
	uint64_t len[MAX_CALLS];
	uint64_t seq[MAX_CALLS]; /* mm seq seen inside the call */
	const void *owner[MAX_CALLS];
	/*
	 * Optional check run inside the call, with the mm lock held.  It
	 * must not use cmocka's assert_* (a failure would longjmp out with
	 * the lock held): it returns NULL or what went wrong, and the first
	 * such message is kept in error for the test to assert on.
	 */
	const char *(*check)(struct notify_log *log, uint64_t va, uint64_t len);
	void *priv;
	const char *error;
};

struct fixture {
	struct gsim_ram *ram;
	uint64_t baseline; /* pages used before any mm */
	struct gsim_mm *mm;
	struct notify_log log;
};

static inline int log_notify(void *arg, uint64_t va, uint64_t len,
			     const void *owner)
{
	struct notify_log *log = arg;
	struct gsim_mm_stats st;

	if (log->calls == MAX_CALLS) {
		log->error = "too many notifier calls";
		return 0;
	}
	gsim_mm_stats(log->mm, &st);
	log->va[log->calls] = va;
	log->len[log->calls] = len;
	log->seq[log->calls] = st.seq;
	log->owner[log->calls] = owner;
	log->calls++;
	if (log->check && !log->error)
		log->error = log->check(log, va, len);
	return 0;
}

static inline void log_attach(struct notify_log *log, struct gsim_mm *mm)
{
	memset(log, 0, sizeof(*log));
	log->mm = mm;
	gsim_mm_set_notifier(mm, log_notify, log);
}

static inline int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = gsim_ram_create(RAM_SIZE);
	assert_non_null(f->ram);
	f->baseline = gsim_ram_pages_used(f->ram);
	f->mm = gsim_mm_create(f->ram, 48);
	assert_non_null(f->mm);
	log_attach(&f->log, f->mm);
	*state = f;
	return 0;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	uint64_t used, baseline = f->baseline;
	const char *error;

	/* A failed test left its check pointing into its dead frame. */
	f->log.check = NULL;
	gsim_mm_destroy(f->mm); /* NULL if the test destroyed it */
	error = f->log.error;
	used = gsim_ram_pages_used(f->ram);
	gsim_ram_destroy(f->ram);
	free(f);
	assert_null(error);
	assert_int_equal(used, baseline);
	return 0;
}

/* mmap that must succeed. */
static inline uint64_t map(struct gsim_mm *mm, uint64_t addr, uint64_t len,
			   unsigned int prot, unsigned int flags)
{
	uint64_t va = 0;

	assert_int_equal(gsim_mm_mmap(mm, addr, len, prot, flags, &va), 0);
	return va;
}

static inline void fill(struct gsim_mm *mm, uint64_t va, uint64_t len,
			uint8_t byte)
{
	uint8_t buf[4096];
	uint64_t done;

	memset(buf, byte, sizeof(buf));
	for (done = 0; done < len; done += sizeof(buf))
		assert_int_equal(gsim_mm_write(mm, va + done, buf,
					       len - done < sizeof(buf) ?
						       len - done :
						       sizeof(buf)),
				 0);
}

/* Whether every byte of [va, va + len) reads as byte. */
static inline int holds(struct gsim_mm *mm, uint64_t va, uint64_t len,
			uint8_t byte)
{
	uint8_t buf[4096];
	uint64_t done, i, n;

	for (done = 0; done < len; done += n) {
		n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		if (gsim_mm_read(mm, va + done, buf, n))
			return 0;
		for (i = 0; i < n; i++)
			if (buf[i] != byte)
				return 0;
	}
	return 1;
}

static inline uint64_t pte_gpa(struct gsim_mm *mm, uint64_t va)
{
	return gsim_mm_pte(mm, va) & GSIM_PTE_ADDR;
}

static inline struct gsim_mm_stats mm_stats(struct gsim_mm *mm)
{
	struct gsim_mm_stats st;

	gsim_mm_stats(mm, &st);
	return st;
}

#endif /* GSIM_MM_TEST_H */
