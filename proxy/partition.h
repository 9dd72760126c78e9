/* SPDX-License-Identifier: MIT */
/*
 * partition.h - one partitioned GPU VA space per VM: the design vsvm
 *               argues against, kept as a baseline to measure it by.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The alternative to one GPU VA space per guest process is one per VM,
 * cut into equal slices: process k gets slice k, and its address a is GPU
 * VA k * slice + a.  One page table then serves every process, but:
 *
 *   GPU VA   0        slice     2*slice            2^va_bits
 *            |process 0|process 1|  ...   |process n-1|
 *
 *  - a pointer the process stores in memory (a linked list) is not a GPU
 *    address any more: the device needs the offset added everywhere;
 *  - a process whose addresses reach past the slice cannot be served, and
 *    with slices as wide as a process's address space (2^47 on x86-64)
 *    a 48-bit GPU VA holds two processes;
 *  - every fault of every process takes the one owner lock.
 *
 * This file implements the scheme with the device ops table alone, so the
 * benchmark can measure its page-table memory, its fault cost and where it
 * runs out of slices, against per-process tables (native.h) on the same
 * device.  Nothing in the proxy serves guests through it.
 *
 * DOC: Locking
 *
 * p->lock guards the slot table and the registry, and is held across
 * vm_map()/vm_unmap() (device.h); the fault function takes it.
 */
#ifndef VP_PARTITION_H
#define VP_PARTITION_H

#include <stdint.h>

#include "device.h"

struct vp_partition;

struct vp_partition_config {
	struct vp_device *device;
	uint32_t va_bits;	/* 47..57 */
	uint64_t slice;		/* bytes per process, a power of two >= 2 MiB */
	uint64_t fault_window;	/* as vp_native_config; 0: 2 MiB */
};

struct vp_partition_stats {
	uint32_t slots;		/* slices the VA space holds */
	uint32_t attached;	/* in use */
	uint64_t faults;
	uint64_t faults_failed;
};

/* Return: the partitioned space, or NULL with errno set. */
struct vp_partition *vp_partition_create(const struct vp_partition_config *cfg);
/* No launch may be running. */
void vp_partition_destroy(struct vp_partition *p);

/* A process joins: its slice's index.  Return: 0, or -ENOSPC (no slice). */
int vp_partition_attach(struct vp_partition *p, uint32_t *slot);
/* The process leaves: its slice is unmapped and free again. */
void vp_partition_detach(struct vp_partition *p, uint32_t slot);

/* GPU VA of address @addr of the process in @slot. */
uint64_t vp_partition_gpu_va(const struct vp_partition *p, uint32_t slot,
			     uint64_t addr);

/**
 * vp_partition_register - hand memory of a process to the GPU
 * @p: the partitioned space
 * @slot: the process
 * @addr: the process's address, page aligned
 * @len: bytes, page aligned, > 0
 * @hva: where the memory is in this (host) process
 * @prot: VSVM_PROT_*
 *
 * Return: 0; -ERANGE if [addr, addr + len) does not fit the slice (the
 * process ran out of GPU address space); -EINVAL; -ENOMEM.
 */
int vp_partition_register(struct vp_partition *p, uint32_t slot,
			  uint64_t addr, uint64_t len, void *hva,
			  uint32_t prot);
/* Map the registered range now, in one vm_map().  Return 0 or -errno. */
int vp_partition_populate(struct vp_partition *p, uint32_t slot,
			  uint64_t addr, uint64_t len);
/* Run a kernel (its pointers already GPU VAs) and wait; as native.h. */
int vp_partition_launch(struct vp_partition *p, struct vp_launch *l);

void vp_partition_stats(struct vp_partition *p,
			struct vp_partition_stats *out);
struct vp_dev_vm *vp_partition_vm(struct vp_partition *p);

#endif /* VP_PARTITION_H */
