// SPDX-License-Identifier: MIT
/*
 * guest_mm_invalidate_race.c - the coherency protocol under concurrency:
 * a fault thread mirrors pages into a fake device the way the shim core
 * does (read_begin, range_fault, take the context lock, read_retry,
 * install), a "GPU" thread keeps reading every installed frame, and a
 * mutator thread munmaps, remaps, mprotects, writes and forks.  The
 * notifier clears the device under the same context lock.
 *
 * What must hold: the GPU never sees a frame that guest RAM has freed
 * (reference count 0, or poison where the test's tag should be), and once
 * the threads stop every device entry matches the page table: same frame,
 * and writable only where the entry is writable.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "gsim_mm_test.h"

#define RW	      (GSIM_PROT_READ | GSIM_PROT_WRITE)
#define RO	      GSIM_PROT_READ
#define VA	      0x60000000ull
#define NPAGES	      64u
#define WINDOW	      8u /* pages mirrored per fault, aligned */
#define ROUNDS	      8
#define OPS_PER_ROUND 300
#define ROUND_NS      50000000ll	    /* and at least 50 ms per round */
#define PFN_VALID     (1ull << 0)	    /* VSVMG_PFN_VALID */
#define PFN_WRITE     (1ull << 1)	    /* VSVMG_PFN_WRITE */
#define TAG	      0x7a67000000000000ull /* + page index, at offset 0 */
#define POISON_WORD   0x5a5a5a5a5a5a5a5aull

struct device {
	struct gsim_ram *ram;
	struct gsim_mm *mm;
	pthread_mutex_t ctx_lock; /* the shim's context lock */
	__u64 pfn[NPAGES];	  /* what the device maps, 0 if none */
	unsigned int invalidations;
	unsigned int installs;
	unsigned int retries;
	unsigned int gpu_reads;
	const char *error; /* first violation seen */
	int stop;
};

/* The mmu notifier: drop the range from the device, under ctx_lock. */
static int dev_invalidate(void *arg, uint64_t va, uint64_t len,
			  const void *owner)
{
	struct device *d = arg;
	uint64_t p;
	(void)owner;

	pthread_mutex_lock(&d->ctx_lock);
	for (p = va; p < va + len; p += PG)
		if (p >= VA && p < VA + NPAGES * PG)
			d->pfn[(p - VA) / PG] = 0;
	d->invalidations++;
	pthread_mutex_unlock(&d->ctx_lock);
	return 0;
}

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

/* The shim's fault path, as in lib/test_hmm.c's dmirror_fault. */
static void *fault_thread(void *arg)
{
	struct device *d = arg;
	unsigned int s = 1, i;
	__u64 out[WINDOW];

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		unsigned int page = rnd(&s) % NPAGES;
		uint64_t start = VA + (page / WINDOW) * WINDOW * PG, seq;
		int write = rnd(&s) & 1, ret;

again:
		seq = gsim_mm_read_begin(d->mm);
		ret = gsim_mm_range_fault(d->mm, start, WINDOW, VA + page * PG,
					  write, 1, out);
		if (ret == -EFAULT)
			continue; /* unmapped or read-only: app error */
		if (ret) {
			d->error = "range_fault failed";
			break;
		}
		pthread_mutex_lock(&d->ctx_lock);
		if (gsim_mm_read_retry(d->mm, seq)) {
			d->retries++;
			pthread_mutex_unlock(&d->ctx_lock);
			goto again;
		}
		for (i = 0; i < WINDOW; i++) {
			unsigned int idx =
				(unsigned int)((start - VA) / PG) + i;

			if (out[i] & PFN_VALID)
				d->pfn[idx] = out[i];
		}
		d->installs++;
		pthread_mutex_unlock(&d->ctx_lock);
	}
	return NULL;
}

/* The device accessing what it maps: never a freed frame. */
static void *gpu_thread(void *arg)
{
	struct device *d = arg;
	unsigned int i;

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&d->ctx_lock);
		for (i = 0; i < NPAGES; i++) {
			uint64_t gpa = d->pfn[i] & GSIM_PTE_ADDR, word;

			if (!d->pfn[i])
				continue;
			if (gsim_ram_page_refs(d->ram, gpa) == 0) {
				d->error = "device maps a freed frame";
				continue;
			}
			word = __atomic_load_n(
				(uint64_t *)gsim_ram_ptr(d->ram, gpa, 8),
				__ATOMIC_RELAXED);
			if (word == POISON_WORD || (word && word != TAG + i))
				d->error = "device reads a foreign frame";
			d->gpu_reads++;
		}
		pthread_mutex_unlock(&d->ctx_lock);
	}
	return NULL;
}

static void tag_page(struct gsim_mm *mm, unsigned int i)
{
	uint64_t tag = TAG + i;
	int ret = gsim_mm_write(mm, VA + i * PG, &tag, sizeof(tag));

	assert_true(ret == 0 || ret == -EFAULT);
}

static void mutate(struct fixture *f, unsigned int *s, struct gsim_mm **child)
{
	unsigned int i = rnd(s) % NPAGES, n = 1 + rnd(s) % 6;
	uint64_t va = VA + i * PG, len;

	if (i + n > NPAGES)
		n = NPAGES - i;
	len = n * PG;
	switch (rnd(s) % 7) {
	case 0: /* munmap and map back: fresh zero pages */
		assert_int_equal(gsim_mm_munmap(f->mm, va, len), 0);
		map(f->mm, va, len, RW, GSIM_MAP_FIXED);
		break;
	case 1:
		assert_int_equal(gsim_mm_mprotect(f->mm, va, len, RO), 0);
		break;
	case 2:
		assert_int_equal(
			gsim_mm_mprotect(f->mm, va, len,
					 rnd(s) & 1 ? RW : GSIM_PROT_NONE),
			0);
		break;
	case 3: /* fork: everything COW-shared until written */
		gsim_mm_destroy(*child);
		*child = gsim_mm_fork(f->mm);
		assert_non_null(*child);
		break;
	case 4: /* the child exits: frames unshared again */
		gsim_mm_destroy(*child);
		*child = NULL;
		break;
	default: /* CPU writes: breaks COW, calls the notifier */
		for (; n; n--, i++)
			tag_page(f->mm, i);
		break;
	}
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Quiescent: every device entry is what the page table says now. */
static void check_mirror(struct fixture *f, struct device *d)
{
	unsigned int i;

	for (i = 0; i < NPAGES; i++) {
		uint64_t pte = gsim_mm_pte(f->mm, VA + i * PG);

		if (!d->pfn[i])
			continue;
		assert_true(pte & GSIM_PTE_PRESENT);
		assert_int_equal(d->pfn[i] & GSIM_PTE_ADDR,
				 pte & GSIM_PTE_ADDR);
		if (d->pfn[i] & PFN_WRITE)
			assert_true(pte & GSIM_PTE_WRITE);
	}
}

static void test_device_never_sees_stale_frames(void **state)
{
	struct fixture *f = *state;
	struct device *d = calloc(1, sizeof(*d));
	struct gsim_mm *child = NULL;
	pthread_t fault, gpu;
	unsigned int s = 7, round, op;
	long long t0;

	assert_non_null(d);
	d->ram = f->ram;
	d->mm = f->mm;
	pthread_mutex_init(&d->ctx_lock, NULL);
	gsim_mm_set_notifier(f->mm, dev_invalidate, d);
	map(f->mm, VA, NPAGES * PG, RW, GSIM_MAP_FIXED);
	for (op = 0; op < NPAGES; op++)
		tag_page(f->mm, op);

	for (round = 0; round < ROUNDS; round++) {
		d->stop = 0;
		assert_int_equal(pthread_create(&fault, NULL, fault_thread, d),
				 0);
		assert_int_equal(pthread_create(&gpu, NULL, gpu_thread, d), 0);
		t0 = now_ns();
		for (op = 0; op < OPS_PER_ROUND || now_ns() - t0 < ROUND_NS;
		     op++)
			mutate(f, &s, &child);
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
		pthread_join(fault, NULL);
		pthread_join(gpu, NULL);
		assert_null(d->error);
		check_mirror(f, d);
	}
	print_message("installs %u retries %u invalidations %u gpu reads %u "
		      "cow breaks %llu\n",
		      d->installs, d->retries, d->invalidations, d->gpu_reads,
		      (unsigned long long)mm_stats(f->mm).cow_breaks);
	/* The run exercised what it claims to. */
	assert_true(d->installs > 0);
	assert_true(d->invalidations > 0);
	assert_true(d->gpu_reads > 0);
	assert_true(mm_stats(f->mm).cow_breaks > 0);

	gsim_mm_destroy(child);
	gsim_mm_destroy(f->mm);
	f->mm = NULL;
	/* Exit invalidated everything the device still held. */
	for (op = 0; op < NPAGES; op++)
		assert_int_equal(d->pfn[op], 0);
	pthread_mutex_destroy(&d->ctx_lock);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_device_never_sees_stale_frames, fixture_setup,
			fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
