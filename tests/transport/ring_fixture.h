/* SPDX-License-Identifier: MIT */
/*
 * ring_fixture.h - guest RAM, a memory table over it and device-side rings
 *                  wired to guest-side ones, without a vhost-user socket.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The table is built exactly as SET_MEM_TABLE builds it: one region, the
 * frontend's virtual address being the test's own mapping.
 */
#ifndef RING_FIXTURE_H
#define RING_FIXTURE_H

#include <stdlib.h>
#include <sys/eventfd.h>

#include "guest_ring.h"
#include "memtable.h"
#include "vring.h"

#define FX_GPA 0x100000ull /* guest RAM starts at 1 MiB */
#define FX_RAM (1ull << 20)
#define FX_NUM 8

struct ring_fx {
	struct guest_mem gm;
	struct vp_memtable mt;
	struct guest_ring gr[2];
	struct vp_vring vr[2];
	int call_fd[2];
	int err_fd[2];
};

static inline void fx_build_table(struct ring_fx *fx)
{
	uint64_t gpa = fx->gm.gpa, size = fx->gm.size;
	uint64_t uva = guest_uva(&fx->gm, fx->gm.gpa), off = 0;
	int fd = dup(fx->gm.fd);

	if (vp_memtable_build(&fx->mt, 1, &gpa, &size, &uva, &off, &fd))
		abort();
}

/* Lay ring q out as QEMU does: NUM, BASE, ADDR, KICK (started), ENABLE. */
static inline void fx_start_ring(struct ring_fx *fx, int q, uint32_t num,
				 bool event_idx)
{
	struct guest_ring *gr = &fx->gr[q];
	struct vp_vring *vr = &fx->vr[q];

	guest_ring_init(gr, &fx->gm, num);
	vp_vring_init(vr, &fx->mt, (uint32_t)q);
	vp_vring_set_event_idx(vr, event_idx);
	if (vp_vring_set_num(vr, num) || vp_vring_set_base(vr, 0) ||
	    vp_vring_set_addr(vr, guest_uva(&fx->gm, gr->desc_gpa),
			      guest_uva(&fx->gm, gr->avail_gpa),
			      guest_uva(&fx->gm, gr->used_gpa)))
		abort();
	fx->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fx->err_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vp_vring_set_call(vr, dup(fx->call_fd[q]));
	vp_vring_set_err(vr, dup(fx->err_fd[q]));
	vr->started = true;
	vr->enabled = true;
}

static inline struct ring_fx *fx_create_num(uint64_t ram, uint32_t num,
					    bool event_idx)
{
	struct ring_fx *fx = calloc(1, sizeof(*fx));

	if (!fx || guest_mem_init(&fx->gm, ram, FX_GPA))
		abort();
	fx_build_table(fx);
	fx_start_ring(fx, 0, num, event_idx);
	fx_start_ring(fx, 1, num, event_idx);
	return fx;
}

static inline struct ring_fx *fx_create(uint64_t ram, bool event_idx)
{
	return fx_create_num(ram, FX_NUM, event_idx);
}

static inline void fx_destroy(struct ring_fx *fx)
{
	int q;

	for (q = 0; q < 2; q++) {
		vp_vring_release(&fx->vr[q]);
		close(fx->call_fd[q]);
		close(fx->err_fd[q]);
	}
	vp_memtable_clear(&fx->mt);
	guest_mem_free(&fx->gm);
	free(fx);
}

/* Signals on an eventfd since the last call (its counter, then zeroed). */
static inline uint64_t fx_count(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* A data buffer of len bytes in guest RAM, filled with byte. */
static inline uint64_t fx_buf(struct ring_fx *fx, uint32_t len, int byte)
{
	uint64_t gpa = guest_alloc(&fx->gm, len ? len : 1, 16);

	memset(guest_ptr(&fx->gm, gpa), byte, len);
	return gpa;
}

#endif /* RING_FIXTURE_H */
