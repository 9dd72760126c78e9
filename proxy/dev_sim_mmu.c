// SPDX-License-Identifier: MIT
/*
 * dev_sim_mmu.c - the simulated MMU's TLB miss path.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: TLBs
 *
 * Each execution unit has two direct-mapped TLBs indexed by page number:
 * one of 4 KiB entries (dev_sim_config.tlb_entries) and a smaller one of
 * 2 MiB entries.  A hit in the 4 KiB TLB is handled inline by
 * sim_translate() (dev_sim_priv.h); everything else comes here: the 2 MiB
 * TLB, then a walk of the VM's page table, then a fill of both TLBs.
 *
 * TLBs cache only present translations, each with the permissions of its
 * leaf.  A hit must also have the permission the access needs; otherwise
 * the access walks again, so a permission the page table gained since the
 * fill is found without a flush, and a missing one faults.  What makes a
 * cached entry safe to use at all is the generation check that every chunk
 * does before it translates (dev_sim.c, DOC: Coherency): the caller holds
 * the VM's access lock for read and its TLB is of the VM's generation.
 */
#include <stddef.h>

#include "dev_sim_priv.h"

void sim_tlb_flush(struct sim_eu *eu, uint64_t gen)
{
	uint32_t i;

	for (i = 0; i <= eu->tlb_mask; i++)
		eu->tlb[i].vpn = SIM_TLB_INVALID;
	for (i = 0; i <= eu->tlb_huge_mask; i++)
		eu->tlb_huge[i].vpn = SIM_TLB_INVALID;
	eu->tlb_gen = gen;
	sim_count(&eu->tlb_flushes, 1);
}

static inline void *sim_tlb_fill(struct sim_eu *eu, uint64_t va, uintptr_t page,
				 uint32_t prot)
{
	uint64_t vpn = va >> VP_PT_PAGE_SHIFT;
	struct sim_tlb_entry *e = &eu->tlb[vpn & eu->tlb_mask];

	e->vpn = vpn;
	e->base_prot = page | prot;
	return (void *)(page | (uintptr_t)(va & SIM_PAGE_OFF));
}

void *sim_translate_slow(struct sim_eu *eu, const struct sim_vm *vm,
			 uint64_t va, uint32_t need)
{
	uint64_t hvpn = va >> VP_PT_HUGE_SHIFT;
	struct sim_tlb_entry *h = &eu->tlb_huge[hvpn & eu->tlb_huge_mask];
	uintptr_t in_huge = (uintptr_t)(va & SIM_HUGE_OFF & ~SIM_PAGE_OFF);
	struct vp_pt_walk w;
	uintptr_t page;

	if (h->vpn == hvpn && (h->base_prot & need)) {
		page = (h->base_prot & ~(uintptr_t)SIM_PAGE_OFF) + in_huge;
		return sim_tlb_fill(eu, va, page,
				    (uint32_t)(h->base_prot & SIM_PAGE_OFF));
	}
	sim_count(&eu->tlb_misses, 1);
	if (!vp_pt_lookup(vm->pt, va, &w) || !(w.prot & need))
		return NULL;
	page = (uintptr_t)w.page;
	if (w.page_shift == VP_PT_HUGE_SHIFT) {
		h->vpn = hvpn;
		h->base_prot = page | w.prot;
		page += in_huge;
	}
	return sim_tlb_fill(eu, va, page, w.prot);
}
