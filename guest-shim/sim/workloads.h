/* SPDX-License-Identifier: MIT */
/*
 * workloads.h - guest workloads that run the built-in device kernels on
 *               data the guest CPU built, and check every result against
 *               the CPU's own computation.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * All pointers handed to the device are the process's own virtual
 * addresses: GPU VA == guest CPU VA.  The pointer-chase workload is the
 * proof: the device follows next pointers the guest CPU stored.
 */
#ifndef GSIM_WORKLOADS_H
#define GSIM_WORKLOADS_H

#include <stdint.h>

#include "guest_proc.h"

/* Where workloads place their data: the same VA in every process. */
#define GSIM_WL_BASE 0x7f0000000000ull

#define GSIM_WL_MAX_DEVICES 16

struct gsim_wl_result {
	const char *name;
	int ok;			/* result verified */
	uint32_t status;	/* the launch's enum vsvm_status */
	uint64_t faults;	/* device faults the launch raised */
	uint64_t elapsed_ns;
	char why[128];		/* what did not verify */
	/* Device memory the context held right after the kernel, per device. */
	uint64_t dev_mem[GSIM_WL_MAX_DEVICES];
	/* Memory hints workloads: pages the workload's MIGRATEs moved. */
	uint64_t migrated;
	char note[160];		/* what the workload shows, when it passed */
};

typedef int (*gsim_wl_fn)(struct gsim_proc *p, uint32_t device, uint64_t seed,
			  struct gsim_wl_result *res);

int gsim_wl_fill(struct gsim_proc *p, uint32_t device, uint64_t seed,
		 struct gsim_wl_result *res);
int gsim_wl_copy(struct gsim_proc *p, uint32_t device, uint64_t seed,
		 struct gsim_wl_result *res);
int gsim_wl_triad(struct gsim_proc *p, uint32_t device, uint64_t seed,
		  struct gsim_wl_result *res);
int gsim_wl_gather(struct gsim_proc *p, uint32_t device, uint64_t seed,
		   struct gsim_wl_result *res);
int gsim_wl_histogram(struct gsim_proc *p, uint32_t device, uint64_t seed,
		      struct gsim_wl_result *res);
int gsim_wl_chase(struct gsim_proc *p, uint32_t device, uint64_t seed,
		  struct gsim_wl_result *res);
/*
 * Memory hints: PREFERRED_LOC device + ACCESSED_BY every device on a
 * triad's data, one launch on the preferred device and one on another
 * (which should not fault); then a copy whose buffers were prefetched
 * (asynchronously, completion awaited) to the device before its launch.
 */
int gsim_wl_hinted(struct gsim_proc *p, uint32_t device, uint64_t seed,
		   struct gsim_wl_result *res);
int gsim_wl_prefetched(struct gsim_proc *p, uint32_t device, uint64_t seed,
		       struct gsim_wl_result *res);
/* Unmap and remap part of a buffer while a kernel writes it. */
int gsim_wl_remap_during_kernel(struct gsim_proc *p, uint32_t device,
				uint64_t seed, struct gsim_wl_result *res);

/* Every workload above, in order; NULL-terminated. */
extern const struct gsim_wl {
	const char *name;
	gsim_wl_fn fn;
} gsim_workloads[];

/* A fill value unique to a process: identical VAs, different data. */
static inline uint32_t gsim_wl_tag(uint32_t pid)
{
	return 0x5eed0000u | (pid & 0xffff);
}

#endif /* GSIM_WORKLOADS_H */
