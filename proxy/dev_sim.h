/* SPDX-License-Identifier: MIT */
/*
 * dev_sim.h - the built-in simulated GPU of vsvm-proxy.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * dev_sim_create() makes a struct vp_device (device.h) that executes the
 * protocol's kernels (enum vsvm_kernel) on host threads ("execution
 * units") through a simulated MMU: per-VM radix page tables (pagetable.h)
 * kept in the device's own memory pool, per-EU TLBs, GPU faults delivered
 * to the VM's fault function and replayed.  See dev_sim.c for the
 * coherency protocol between the MMU and vm_map()/vm_unmap().
 *
 * Besides the ops table, the simulated device exports its memory pool, the
 * stand-in for VRAM: page tables live there, and migration (migrate.c) can
 * place data there and map it with vm_map() like any host memory.
 */
#ifndef VP_DEV_SIM_H
#define VP_DEV_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define DEV_SIM_DEFAULT_EXEC_UNITS  4
#define DEV_SIM_DEFAULT_TLB_ENTRIES 64
#define DEV_SIM_DEFAULT_MEM_SIZE    (256ull << 20)
#define DEV_SIM_MAX_EXEC_UNITS	    64
#define DEV_SIM_MAX_TLB_ENTRIES	    (1u << 16)
/* mmap'ed with MAP_NORESERVE: untouched pool pages cost nothing. */
#define DEV_SIM_MAX_MEM_SIZE	    (1ull << 40)

/* A zero field takes its default. */
struct dev_sim_config {
	uint32_t index;	      /* vp_device.index, and the name "sim<index>" */
	uint32_t exec_units;  /* EU threads, 1..DEV_SIM_MAX_EXEC_UNITS */
	uint64_t mem_size;    /* device memory bytes (rounded down to 4 KiB) */
	uint32_t tlb_entries; /* 4 KiB TLB entries per EU, a power of two */
	uint32_t reserved;    /* 0 */
};

/* Device-wide counters, for benchmarks and tests. */
struct dev_sim_stats {
	uint64_t launches;    /* launch() calls accepted */
	uint64_t chunks;      /* chunks of work run by EUs */
	uint64_t tlb_misses;  /* TLB misses (page-table walks) */
	uint64_t tlb_flushes; /* whole-TLB flushes done by EUs */
	uint64_t faults;      /* calls of a fault function */
	uint64_t copies;      /* copy engine: copy() calls */
	uint64_t copy_bytes;  /* copy engine: bytes moved */
};

/**
 * dev_sim_create - start a simulated GPU
 * @cfg: configuration, or NULL for every default
 *
 * Maps the device memory pool and starts the execution unit threads.
 *
 * Return: the device (free it with dev->ops->destroy), or NULL with errno
 * set: EINVAL for a field out of range, ENOMEM, or a pthread error.
 */
struct vp_device *dev_sim_create(const struct dev_sim_config *cfg);

/* True if @dev was made by dev_sim_create(). */
bool dev_sim_is_sim(const struct vp_device *dev);

/**
 * dev_sim_mem_alloc - allocate device memory
 * @dev: a simulated device
 * @bytes: size, > 0; rounded up to 4 KiB
 * @align: alignment, a power of two; 0 or anything below 4 KiB means 4 KiB
 *
 * The memory is zero-filled (device memory never carries one context's data
 * to another) and stays the device's: the caller maps it into VMs with
 * vm_map() and frees it only after unmapping it everywhere.  Pass 2 MiB as
 * @align for memory that should map with 2 MiB entries.
 *
 * Return: the host address of the memory, or NULL (pool exhausted, bad
 * argument, or @dev not simulated).
 */
void *dev_sim_mem_alloc(struct vp_device *dev, uint64_t bytes, uint64_t align);

/* Give back memory from dev_sim_mem_alloc(); @bytes as allocated. */
void dev_sim_mem_free(struct vp_device *dev, void *p, uint64_t bytes);

/* True if [p, p + bytes) lies inside @dev's memory pool. */
bool dev_sim_mem_contains(struct vp_device *dev, const void *p, uint64_t bytes);

/* Read the device-wide counters; @dev must be simulated. */
void dev_sim_get_stats(struct vp_device *dev, struct dev_sim_stats *out);

/**
 * dev_sim_vm_translate - what a VM's page table holds for one VA (test hook)
 * @vm: a VM of a simulated device (from its vm_create)
 * @va: any GPU VA
 * @hva: set to the host address of @va's byte, when translated
 * @prot: set to the leaf's VSVM_PROT_*, when translated
 *
 * Walks the page table as the MMU does on a TLB miss, under the VM's
 * access lock held for read, and touches no TLB and no counter.  For tests
 * that check what page tables may reach (tests/isolation); nothing in the
 * proxy calls it.
 *
 * Return: 0 if @va has no translation (@hva and @prot untouched), else the
 * leaf's page shift: 12 (4 KiB) or 21 (2 MiB).
 */
int dev_sim_vm_translate(struct vp_dev_vm *vm, uint64_t va, void **hva,
			 uint32_t *prot);

#endif /* VP_DEV_SIM_H */
