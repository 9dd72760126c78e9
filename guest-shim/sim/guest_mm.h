/* SPDX-License-Identifier: MIT */
/*
 * guest_mm.h - one simulated guest process's address space: VMAs, a
 *              4- or 5-level x86-64-style page table kept in guest RAM,
 *              copy-on-write fork, and the HMM-like view the guest shim
 *              core mirrors to the GPU (struct vsvmg_mm_ops).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The guest simulator plays "QEMU + a guest kernel" in userspace.  A
 * struct gsim_mm is what the guest kernel's mm_struct is to one process:
 * anonymous private mappings (mmap/munmap/mprotect), pages allocated on
 * first touch from guest RAM (gsim_ram_alloc_page), a page table whose
 * frames also live in guest RAM, and fork with copy-on-write.
 *
 * The GPU never reads this page table.  The guest shim core reads it only
 * through gsim_mm_ops (the hmm_range_fault and mmu_interval_read_begin /
 * read_retry analogues) and learns about every change that takes access
 * away through the notifier (the mmu_interval_notifier analogue), which in
 * production is vsvmg_ctx_invalidate() of the process's SVM context.
 *
 * DOC: Page table format
 *
 * Like x86-64: 512 eight-byte entries per 4 KiB frame, va_bits 48 walks
 * 4 levels and va_bits 57 walks 5.  A process owns the lower (user) half:
 * VAs [0, 2^(va_bits - 1)), like Linux's TASK_SIZE.
 *
 *   bit 0      present
 *   bit 1      writable (upper levels: always set, as Linux does)
 *   bit 9      software: copy-on-write; the frame may be shared with
 *              another process, so a write fault must copy it first
 *   bit 10     software: PROT_NONE; the frame stays resident but the
 *              entry is not present (Linux's _PAGE_PROTNONE)
 *   bit 11     software: device-private (Linux's device-private swap
 *              entry): not present; the page lives in the memory of the
 *              device in bits 12-27; bit 1 says whether it is writable
 *   bit 8      software: migration entry: not present; a migration of
 *              the page is in flight (a CPU access waits for it).  Bits
 *              12-51 hold the frame the migration reads or fills, or,
 *              with bit 11, the device the page is leaving
 *   bits 12-51 the frame's guest physical address
 *
 * Invariants of a leaf entry: it holds a frame iff present, PROTNONE, or
 * a migration entry without bit 11; COW implies not writable; it exists
 * only inside a VMA; each frame it holds carries one guest RAM reference
 * for it.  A device-private entry holds no frame.
 *
 * DOC: Device-private entries
 *
 * The guest shim (its core's migration, vsvmg_migrate.c) moves pages to
 * device memory through gsim_mm_ops.migrate_setup / migrate_finalize,
 * the migrate_vma_* of this mm.  The guest CPU never reaches device
 * memory: a CPU access (gsim_mm_read/write/ptr) to a device-private entry
 * calls the devmem fault callback (the pgmap's migrate_to_ram, set with
 * gsim_mm_set_devmem_fault()) without the mm lock, which brings the page
 * back with MIGRATE to SYSTEM, and retries; a CPU access to a migration
 * entry waits for the migration to end.  range_fault reports a
 * device-private page as VSVMG_PFN_DEVICE without bringing it back (the
 * caller is the page's owner, like hmm_range_fault with dev_private_owner).
 *
 * munmap and exit invalidate device-private entries like present ones
 * (the device frees its memory on the UNMAP) and just drop them.  mprotect
 * and fork cannot keep them: the protocol's only way to take access away
 * from a device is UNMAP, which frees the device memory and its data.  So
 * both first bring every device-private page of their range back to guest
 * RAM through the same callback (Linux would instead write-protect the
 * entry, and share it copy-on-write at fork), then proceed as usual.
 * docs/coherency.md section 6 gives the argument.
 *
 * DOC: Locking
 *
 * One mutex per mm guards its VMAs, its page table and its statistics.
 * Lock order: mm lock, then the guest RAM allocator's lock (a leaf).  No
 * path ever holds two mm locks (fork builds the child before anyone can
 * see it, so the child needs no lock).
 *
 * The notifier is called with the mm lock HELD, BEFORE the entries change
 * and before any frame is freed: it is the invalidate_range_start of this
 * mm, and returns only once the device has dropped the range.  Therefore
 * the notifier must never call back into any gsim_mm function that takes
 * a lock (doing so aborts with a message instead of deadlocking); only
 * gsim_mm_pte(), gsim_mm_vmas() and gsim_mm_stats() of the same mm may be
 * called from it, to inspect the state before the change.  Likewise, the
 * caller of range_fault (the shim's fault path) must not hold a lock that
 * its notifier takes: range_fault takes the mm lock and may itself call
 * the notifier (a write fault that breaks copy-on-write).
 *
 * read_begin and read_retry take no lock: the sequence is bumped under the
 * mm lock before every notifier call, so the shim may call read_retry
 * under its own context lock, the lock its notifier takes.
 *
 * DOC: Wiring a process to its SVM context
 *
 *   static int invalidate(void *ctx, uint64_t va, uint64_t len,
 *                         const void *owner)
 *   {
 *           return vsvmg_ctx_invalidate_range(ctx, va, len, owner);
 *   }
 *
 *   vsvmg_ctx_create(dev, &gsim_mm_ops, mm, &ctx);
 *   gsim_mm_set_notifier(mm, invalidate, ctx);
 *   ...
 *   gsim_mm_set_notifier(mm, NULL, NULL);   (exit: the notifier first,
 *   vsvmg_ctx_destroy(ctx);                  then the context, whose event
 *   gsim_mm_destroy(mm);                     thread calls range_fault, then
 *                                            the mm)
 */
#ifndef GSIM_GUEST_MM_H
#define GSIM_GUEST_MM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "guest_ram.h"

struct gsim_mm;
struct vsvmg_mm_ops;

/* Protection of a mapping (write implies read, as on x86). */
#define GSIM_PROT_NONE	  0u
#define GSIM_PROT_READ	  (1u << 0)
#define GSIM_PROT_WRITE	  (1u << 1)

/* gsim_mm_mmap() flags. */
#define GSIM_MAP_FIXED	  (1u << 0) /* exactly at addr, replacing */

/* Page-table entry bits (DOC: Page table format). */
#define GSIM_PTE_PRESENT  (1ull << 0)
#define GSIM_PTE_WRITE	  (1ull << 1)
#define GSIM_PTE_COW	  (1ull << 9)
#define GSIM_PTE_PROTNONE (1ull << 10)
#define GSIM_PTE_DEVICE	  (1ull << 11)
#define GSIM_PTE_MIGRATION (1ull << 8)
#define GSIM_PTE_DEV_SHIFT 12
#define GSIM_PTE_DEV(e)	  ((uint32_t)((e) >> GSIM_PTE_DEV_SHIFT) & 0xffffu)
#define GSIM_PTE_ADDR	  0x000ffffffffff000ull

/* Lowest VA a mapping may use: keeps NULL unmapped (Linux mmap_min_addr). */
#define GSIM_MM_MIN_ADDR  0x10000ull
/* Mappings per process, as Linux's default vm.max_map_count. */
#define GSIM_MM_MAX_VMAS  65530u

/*
 * The invalidation callback: drop [va, va + len) from the device and
 * return once that is done.  Called with the mm lock held (DOC: Locking).
 * A non-zero return is counted in notifier_errors; the mm changes anyway,
 * as an munmap cannot be refused.
 */
typedef int (*gsim_mm_notifier_fn)(void *arg, uint64_t va, uint64_t len,
				   const void *owner);
/*
 * @owner: NULL, or the owner token a migration named in migrate_setup
 * (Linux's range->owner of MMU_NOTIFY_MIGRATE): the driver that owns the
 * migration sends no UNMAP for it.
 */

/*
 * The devmem fault callback (dev_pagemap_ops.migrate_to_ram): bring the
 * device-private pages of [va, va + len) back to guest RAM.  Called
 * WITHOUT the mm lock; return 0, or -errno (the CPU access then fails
 * with -EFAULT, the simulator's SIGBUS).
 */
typedef int (*gsim_mm_devmem_fault_fn)(void *arg, uint64_t va, uint64_t len);

struct gsim_mm_vma {
	uint64_t start;
	uint64_t end;	   /* exclusive */
	unsigned int prot; /* GSIM_PROT_* */
};

struct gsim_mm_stats {
	uint64_t resident_pages; /* leaf entries holding a frame */
	uint64_t pt_frames;	 /* page-table frames, root included */
	uint64_t vmas;
	uint64_t page_faults; /* frames allocated on first touch */
	uint64_t cow_breaks;  /* write faults that copied a frame */
	uint64_t cow_reuses;  /* ...that found it unshared instead */
	uint64_t notifier_calls;
	uint64_t notifier_errors; /* notifier calls that returned != 0 */
	uint64_t seq;		  /* invalidation sequence */
	uint64_t device_pages;	  /* device-private entries */
	uint64_t migrated_out;	  /* pages moved to device memory */
	uint64_t migrated_in;	  /* pages brought back to guest RAM */
	uint64_t devmem_faults;	  /* CPU accesses that brought pages back */
};

/* The mm half of the shim core's seams; its void *mm is a struct gsim_mm. */
extern const struct vsvmg_mm_ops gsim_mm_ops;

struct gsim_mm *gsim_mm_create(struct gsim_ram *ram, unsigned int va_bits);
void gsim_mm_destroy(struct gsim_mm *mm);
struct gsim_mm *gsim_mm_fork(struct gsim_mm *mm);

void gsim_mm_set_notifier(struct gsim_mm *mm, gsim_mm_notifier_fn fn,
			  void *arg);
void gsim_mm_set_devmem_fault(struct gsim_mm *mm, gsim_mm_devmem_fault_fn fn,
			      void *arg);
uint64_t gsim_mm_va_limit(const struct gsim_mm *mm);

int gsim_mm_mmap(struct gsim_mm *mm, uint64_t addr, uint64_t len,
		 unsigned int prot, unsigned int flags, uint64_t *va);
int gsim_mm_munmap(struct gsim_mm *mm, uint64_t va, uint64_t len);
int gsim_mm_mprotect(struct gsim_mm *mm, uint64_t va, uint64_t len,
		     unsigned int prot);

int gsim_mm_read(struct gsim_mm *mm, uint64_t va, void *buf, size_t len);
int gsim_mm_write(struct gsim_mm *mm, uint64_t va, const void *buf, size_t len);
void *gsim_mm_ptr(struct gsim_mm *mm, uint64_t va, size_t len, int write);

int gsim_mm_range_fault(struct gsim_mm *mm, uint64_t start, uint32_t npages,
			uint64_t fault_va, int write, int populate, __u64 *out);
uint64_t gsim_mm_read_begin(struct gsim_mm *mm);
int gsim_mm_read_retry(struct gsim_mm *mm, uint64_t seq);

uint64_t gsim_mm_pte(struct gsim_mm *mm, uint64_t va);
unsigned int gsim_mm_vmas(struct gsim_mm *mm, struct gsim_mm_vma *out,
			  unsigned int max);
void gsim_mm_stats(struct gsim_mm *mm, struct gsim_mm_stats *out);

#endif /* GSIM_GUEST_MM_H */
