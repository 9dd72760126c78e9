/* SPDX-License-Identifier: MIT */
/*
 * dev_sim_priv.h - internals shared by the dev_sim*.c files.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Files
 *
 *   dev_sim.c          device, VMs, launches, execution units, and the
 *                      coherency protocol (read its DOC first)
 *   dev_sim_mmu.c      TLB miss path: page-table walk and TLB fill
 *   dev_sim_mem.c      device memory pool (page tables, migrated data)
 *   dev_sim_kernels.c  argument checks and bodies of the kernels
 *
 * Nothing here is used outside the simulated device.
 */
#ifndef VP_DEV_SIM_PRIV_H
#define VP_DEV_SIM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev_sim.h"
#include "device.h"
#include "pagetable.h"

#define SIM_PAGE_SIZE	   VP_PT_PAGE_SIZE
#define SIM_PAGE_OFF	   (SIM_PAGE_SIZE - 1)
#define SIM_HUGE_OFF	   (VP_PT_HUGE_SIZE - 1)
/* A vpn no VA has (VAs are below 2^57): marks a free TLB entry. */
#define SIM_TLB_INVALID	   UINT64_MAX
/* Huge-page TLB entries per EU: one per 8 small ones, at least 4. */
#define SIM_TLB_HUGE_RATIO 8
#define SIM_TLB_HUGE_MIN   4

#define sim_likely(x)	   __builtin_expect(!!(x), 1)

/*
 * One TLB entry: a page number and the host address of that page with the
 * leaf's VSVM_PROT_* in the low (always zero) address bits, so that a hit
 * is one compare, one test and one or.
 */
struct sim_tlb_entry {
	uint64_t vpn;
	uintptr_t base_prot;
};

/* Device memory: one mmap, handed out in 4 KiB pages. */
struct sim_mem {
	pthread_mutex_t lock; /* leaf lock: taken under a VM's access lock */
	uint8_t *base;	      /* 2 MiB aligned, inside map */
	uint64_t size;
	void *map; /* the mmap: size + 2 MiB of alignment slack */
	uint64_t map_len;
	uint64_t nr_pages;
	uint64_t *bitmap;    /* bit set: page in use; guarded by lock */
	uint64_t used_pages; /* guarded by lock */
	uint64_t hint;	     /* bitmap word to search first; by lock */
};

struct sim_device;

/*
 * One execution unit.  Everything but the counters is private to the EU's
 * thread; the counters have one writer (the EU) and relaxed readers.
 */
struct sim_eu {
	struct sim_device *dev;
	struct sim_tlb_entry *tlb;	/* 4 KiB entries, direct mapped */
	struct sim_tlb_entry *tlb_huge; /* 2 MiB entries, direct mapped */
	uint32_t tlb_mask;
	uint32_t tlb_huge_mask;
	uint64_t tlb_gen; /* generation the TLB contents are of */
	_Atomic uint64_t chunks;
	_Atomic uint64_t tlb_misses;
	_Atomic uint64_t tlb_flushes;
	pthread_t thread;
} __attribute__((aligned(64)));

/* One GPU VA space: struct vp_dev_vm of device.h is this. */
struct sim_vm {
	struct sim_device *dev;
	void *owner;
	vp_fault_fn fault;
	uint32_t va_bits;
	/*
	 * The access lock (see DOC: Coherency in dev_sim.c).  Readers: EUs
	 * running a chunk, stats.  Writers: vm_map, vm_unmap.  It guards
	 * pt, tlb_gen and invalidations.  Lock order: the owner's context
	 * lock -> access -> the device memory lock.
	 */
	pthread_rwlock_t access;
	struct vp_pagetable *pt;
	uint64_t tlb_gen;	/* unique on the device; see DOC */
	uint64_t invalidations; /* tlb_gen bumps = TLB shootdowns */
	_Atomic uint64_t faults;
	_Atomic uint64_t cancel_epoch; /* bumped by vm_cancel */
	/* Launches not yet finished; vm_destroy waits for none. */
	pthread_mutex_t launch_lock;
	pthread_cond_t launch_idle;
	uint32_t nr_launches; /* guarded by launch_lock */
};

struct sim_launch;

/* A contiguous slice of a launch's index space, run by one EU. */
struct sim_work {
	struct sim_work *next; /* device queue; guarded by its lock */
	struct sim_launch *launch;
	uint64_t begin;
	uint64_t end;
};

/* How a kernel's index space is cut; filled by its check function. */
struct sim_plan {
	uint64_t elems;	      /* index space: elements, bytes or steps */
	uint64_t granule;     /* slices are multiples of this */
	bool one_eu;	      /* must run as one slice (pointer chase) */
	bool result_is_count; /* result = elems, not the sum of acc */
};

/* Where an EU is inside its slice; survives the chunks and faults. */
struct sim_cursor {
	uint64_t pos; /* next element */
	uint64_t end;
	uint64_t ptr;	     /* CHASE: next node's VA */
	uint64_t acc;	     /* partial result of this slice */
	uint64_t fault_va;   /* on SIM_MISS: the address */
	uint32_t fault_need; /* on SIM_MISS: the VSVM_PROT_* bit needed */
};

/* Chunk results besides 0 (progress) and a negated vsvm_status. */
#define SIM_MISS 1

struct sim_kernel {
	const char *name;
	/* Validate arguments; return 0 or a negated vsvm_status. */
	int (*check)(const struct sim_vm *vm, const uint64_t *arg,
		     struct sim_plan *plan);
	/*
	 * Run at most one chunk from cur->pos, with vm->access held for
	 * read.  Return 0 after progress, SIM_MISS with cur->fault_* set
	 * (cur->pos at the element to replay), or a negated vsvm_status.
	 */
	int (*chunk)(struct sim_eu *eu, const struct sim_vm *vm,
		     const uint64_t *arg, struct sim_cursor *cur);
};

struct sim_launch {
	struct vp_launch *l;
	struct sim_vm *vm;
	const struct sim_kernel *kernel;
	uint64_t arg[VSVM_MAX_KERNEL_ARGS];
	uint64_t cancel_epoch; /* vm->cancel_epoch at launch */
	uint64_t start_ns;
	bool result_is_count;
	uint64_t count;
	_Atomic int status; /* first failure wins */
	uint64_t fault_va;  /* written by the status winner only */
	_Atomic uint64_t result;
	_Atomic uint64_t faults;
	_Atomic uint32_t remaining; /* slices not finished */
	uint32_t nr_work;
	struct sim_work work[];
};

struct sim_device {
	struct vp_device base;
	char name[16];
	uint32_t nr_eus;
	uint32_t tlb_entries;
	struct sim_eu *eus;
	struct sim_mem mem;
	/* Source of TLB generations: unique across the device's VMs. */
	_Atomic uint64_t gen_source;
	_Atomic uint64_t launches;
	_Atomic uint64_t faults;
	_Atomic uint64_t copies;     /* copy engine: copy() calls */
	_Atomic uint64_t copy_bytes; /* copy engine: bytes moved */
	_Atomic uint32_t nr_vms;
	_Atomic bool dying; /* destroy: end every launch */
	/* The work queue every EU takes slices from. */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct sim_work *queue_head;  /* guarded by queue_lock */
	struct sim_work **queue_tail; /* guarded by queue_lock */
	bool stopping;		      /* guarded by queue_lock */
};

/* Bump a counter that only the calling thread writes. */
static inline void sim_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* dev_sim_mmu.c */
void *sim_translate_slow(struct sim_eu *eu, const struct sim_vm *vm,
			 uint64_t va, uint32_t need);
void sim_tlb_flush(struct sim_eu *eu, uint64_t gen);

/**
 * sim_translate - the MMU: the host address of one device access
 * @eu: the execution unit (its TLB)
 * @vm: the VA space, whose access lock the caller holds for read
 * @va: the address accessed
 * @need: VSVM_PROT_READ, _WRITE or _ATOMIC (one bit)
 *
 * Return: the host address of @va, valid until the caller releases the
 * access lock, or NULL if the page table does not allow the access.
 */
static inline void *sim_translate(struct sim_eu *eu, const struct sim_vm *vm,
				  uint64_t va, uint32_t need)
{
	uint64_t vpn = va >> VP_PT_PAGE_SHIFT;
	const struct sim_tlb_entry *e = &eu->tlb[vpn & eu->tlb_mask];

	if (sim_likely(e->vpn == vpn && (e->base_prot & need)))
		return (void *)((e->base_prot & ~(uintptr_t)SIM_PAGE_OFF) |
				(uintptr_t)(va & SIM_PAGE_OFF));
	return sim_translate_slow(eu, vm, va, need);
}

/* dev_sim_mem.c */
int sim_mem_init(struct sim_mem *m, uint64_t size);
void sim_mem_fini(struct sim_mem *m);
void *sim_mem_alloc(struct sim_mem *m, uint64_t bytes, uint64_t align);
void sim_mem_free(struct sim_mem *m, void *p, uint64_t bytes);
uint64_t sim_mem_used(struct sim_mem *m);

/* dev_sim_kernels.c */
const struct sim_kernel *sim_kernel_get(uint32_t kernel);

#endif /* VP_DEV_SIM_PRIV_H */
