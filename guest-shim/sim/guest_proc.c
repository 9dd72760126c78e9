// SPDX-License-Identifier: MIT
/*
 * guest_proc.c - simulated guest processes bound to SVM contexts.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <errno.h>
#include <stdlib.h>

#include "guest_proc.h"

/*
 * The mm notifier: the device must lose the range before the CPU does,
 * unless the invalidation is the shim's own migration (owner).
 */
static int proc_invalidate(void *arg, uint64_t va, uint64_t len,
			   const void *owner)
{
	struct gsim_proc *p = arg;

	return vsvmg_ctx_invalidate_range(p->ctx, va, len, owner);
}

/* migrate_to_ram: the CPU touched a page that lives in device memory. */
static int proc_devmem_fault(void *arg, uint64_t va, uint64_t len)
{
	struct gsim_proc *p = arg;

	return vsvmg_ctx_migrate_to_ram(p->ctx, va, len);
}

static int bind(struct vsvmg_dev *dev, struct gsim_proc *p)
{
	int ret = vsvmg_ctx_create(dev, &gsim_mm_ops, p->mm, &p->ctx);

	if (ret)
		return ret;
	gsim_mm_set_notifier(p->mm, proc_invalidate, p);
	gsim_mm_set_devmem_fault(p->mm, proc_devmem_fault, p);
	return 0;
}

/* A process around an address space it now owns, with its own context. */
static int proc_new(struct vsvmg_dev *dev, struct gsim_mm *mm, uint32_t pid,
		    struct gsim_proc **out)
{
	struct gsim_proc *p;
	int ret;

	if (!mm)
		return -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto err_mm;
	}
	p->pid = pid;
	p->mm = mm;
	ret = bind(dev, p);
	if (ret)
		goto err_free;
	*out = p;
	return 0;

err_free:
	free(p);
err_mm:
	gsim_mm_destroy(mm);
	return ret;
}

int gsim_proc_create(struct vsvmg_dev *dev, struct gsim_ram *ram,
		     uint32_t pid, struct gsim_proc **out)
{
	return proc_new(dev, gsim_mm_create(ram, 48), pid, out);
}

int gsim_proc_fork(struct gsim_proc *parent, struct vsvmg_dev *dev,
		   uint32_t pid, struct gsim_proc **out)
{
	/* Write-protects the parent, through its notifier, first. */
	return proc_new(dev, gsim_mm_fork(parent->mm), pid, out);
}

void gsim_proc_exit(struct gsim_proc *p)
{
	/* DESTROY frees the context's device memory with everything else. */
	gsim_mm_set_devmem_fault(p->mm, NULL, NULL);
	gsim_mm_set_notifier(p->mm, NULL, NULL);
	vsvmg_ctx_destroy(p->ctx);
	gsim_mm_destroy(p->mm);
	free(p);
}

int gsim_proc_mmap_fixed(struct gsim_proc *p, uint64_t va, uint64_t len)
{
	uint64_t got;
	int ret = gsim_mm_mmap(p->mm, va, len, GSIM_PROT_READ | GSIM_PROT_WRITE,
			       GSIM_MAP_FIXED, &got);

	return ret ? ret : (got == va ? 0 : -EINVAL);
}
