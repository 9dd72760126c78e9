/* SPDX-License-Identifier: MIT */
/*
 * guest_proc.h - a simulated guest process: its address space (guest_mm)
 *                bound to its own SVM context (the guest shim core).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * This is what vsvm_guest.ko does when a process opens the device: one
 * context per process, the process's mm notifier wired to the context's
 * invalidation, and teardown in the order exit needs (notifier off,
 * context destroyed, then the address space freed).
 */
#ifndef GSIM_GUEST_PROC_H
#define GSIM_GUEST_PROC_H

#include <stdint.h>

#include "guest_mm.h"
#include "guest_ram.h"
#include "vsvmg.h"

struct gsim_proc {
	uint32_t pid;
	struct gsim_mm *mm;
	struct vsvmg_ctx *ctx;
};

/* A new process with an empty address space and its own context. */
int gsim_proc_create(struct vsvmg_dev *dev, struct gsim_ram *ram,
		     uint32_t pid, struct gsim_proc **out);
/* fork(): a copy-on-write child with a context of its own. */
int gsim_proc_fork(struct gsim_proc *parent, struct vsvmg_dev *dev,
		   uint32_t pid, struct gsim_proc **out);
/* exit(). */
void gsim_proc_exit(struct gsim_proc *p);

/* Anonymous memory at a fixed address (identical VAs across processes). */
int gsim_proc_mmap_fixed(struct gsim_proc *p, uint64_t va, uint64_t len);

#endif /* GSIM_GUEST_PROC_H */
