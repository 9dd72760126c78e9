/* SPDX-License-Identifier: MIT */
/*
 * stress.h - the seeded coherency and isolation stress engine: guest
 *            processes keep device kernels running while their CPU side
 *            unmaps, remaps, mprotects, forks and exits at random.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * gsim_stress_run() drives an already connected simulated VM (guest RAM
 * plus a struct vsvmg_dev) for a number of seconds or actions.  Every
 * process uses the same virtual addresses for its own data, and every word
 * it ever writes (from the CPU or through a kernel) carries its pid, so
 * data of another process, or poison of a freed frame, is recognised
 * wherever it turns up.  The engine fails the run on:
 *
 *  - a kernel result or buffer word that differs from the CPU's model of
 *    it (exact for kernels whose buffers no mapping change touched; for
 *    the others, a word outside the values that could legitimately be
 *    there: the old value, the kernel's value, the CPU's new pattern, 0);
 *  - a kernel that fails other than with VSVM_ERR_FAULT at a VA that was
 *    unmapped (or PROT_NONE, or read-only for a kernel writing it) while
 *    the kernel ran;
 *  - a freed guest frame found written (gsim_ram_poison_violations(), and
 *    a scan of every free frame each second and at the end);
 *  - guest RAM not back to where it started once every process exited;
 *  - no progress for stall_seconds (the process then exits: a hung thread
 *    cannot be joined).
 *
 * Each process thread draws its actions from an xorshift generator seeded
 * with seed + the process's first pid, so a run repeats its decisions for
 * a seed; the interleaving with the devices is up to the scheduler.
 */
#ifndef GSIM_STRESS_H
#define GSIM_STRESS_H

#include <stdint.h>
#include <stdio.h>

struct gsim_ram;
struct vsvmg_dev;

#define GSIM_STRESS_MAX_PROCS 64

struct gsim_stress_config {
	uint64_t seed;
	uint32_t seconds;	/* run time, if iterations is 0 */
	uint64_t iterations;	/* actions per process; 0: run for seconds */
	uint32_t processes;	/* 1..GSIM_STRESS_MAX_PROCS; 0: 4 */
	uint32_t stall_seconds; /* no action completed this long: FAIL; 0: 60 */
	int quiet;		/* no progress lines */
	FILE *out;		/* progress and summary; NULL: stdout */
};

struct gsim_stress_stats {
	uint64_t actions;  /* actions completed, all processes */
	uint64_t kernels;  /* launches */
	uint64_t verified; /* launches whose result was checked exactly */
	uint64_t expected_faults; /* VSVM_ERR_FAULT where a change allowed it */
	uint64_t device_faults;	  /* device faults the guest answered */
	uint64_t invalidations;	  /* UNMAPs the host acknowledged */
	uint64_t remaps;	  /* sub-ranges unmapped or replaced */
	uint64_t protects;	  /* sub-ranges made read-only or PROT_NONE */
	uint64_t forks;
	uint64_t exits;	       /* processes that exited and were re-created */
	uint64_t poison;       /* freed frames found written */
	uint64_t pages_leaked; /* guest RAM pages not freed at the end */
	double seconds;	       /* wall time of the run */
	char why[512];	       /* the first failure, "" on PASS */
};

/*
 * Run the stress test on dev (whose guest RAM is ram); no other user of
 * dev may run meanwhile.  Prints progress once a second and the summary
 * line "stress: PASS seed=... poison=0" or "stress: FAIL ... reason: ..."
 * to cfg->out.  Return 0 on PASS, -1 on FAIL (out->why says why); out may
 * be NULL.
 */
int gsim_stress_run(struct vsvmg_dev *dev, struct gsim_ram *ram,
		    const struct gsim_stress_config *cfg,
		    struct gsim_stress_stats *out);

#endif /* GSIM_STRESS_H */
