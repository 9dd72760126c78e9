// SPDX-License-Identifier: MIT
/*
 * frontend_follows_qemu_sequence.c - gsim_gpu_connect() and
 * gsim_gpu_disconnect() send the vhost-user requests QEMU 7.2 sends for a
 * vhost-user-gpu-pci device, in QEMU's order, with QEMU's fds and flags:
 * the masked call and error fds at realize, one memfd per memory region,
 * a fresh call fd after SET_VRING_ENABLE, NEED_REPLY on every request
 * without a reply once REPLY_ACK is agreed, and ENABLE 0 then
 * GET_VRING_BASE at stop.  vsvm-proxy is tested against this sequence, so
 * it is pinned here request by request.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "fake_backend.h"
#include "gpu_transport.h"
#include "guest_ram.h"
#include "vhost_frontend.h"

#define RAM_SIZE (32ull << 20)

#define F(bit)	 (1ull << (bit))
#define OFFERED                                                           \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |             \
	 F(VIRTIO_RING_F_INDIRECT_DESC) | F(30) | F(VIRTIO_GPU_F_VIRGL) | \
	 F(VIRTIO_GPU_F_EDID) | F(VIRTIO_GPU_F_CONTEXT_INIT) |            \
	 F(VIRTIO_F_ACCESS_PLATFORM))
#define PROTO_OFFERED (F(0) | F(1) | F(3) | F(9) | F(15))

struct expect {
	uint32_t request;
	int need_reply;
	unsigned int nr_fds;
	int index; /* vring index in the payload, or -1 */
};

static const struct expect qemu_order[] = {
	/* realize */
	{ 1, 0, 0, -1 },  /* GET_FEATURES */
	{ 15, 0, 0, -1 }, /* GET_PROTOCOL_FEATURES */
	{ 16, 0, 0, -1 }, /* SET_PROTOCOL_FEATURES: REPLY_ACK not yet */
	{ 17, 0, 0, -1 }, /* GET_QUEUE_NUM (MQ offered) */
	{ 3, 1, 0, -1 },  /* SET_OWNER */
	{ 13, 1, 1, 0 },  /* SET_VRING_CALL 0, masked notifier */
	{ 14, 1, 1, 0 },  /* SET_VRING_ERR 0 */
	{ 13, 1, 1, 1 },  /* SET_VRING_CALL 1, masked notifier */
	{ 14, 1, 1, 1 },  /* SET_VRING_ERR 1 */
	{ 24, 0, 0, -1 }, /* GET_CONFIG */
	/* start */
	{ 33, 1, 1, -1 }, /* GPU_SET_SOCKET */
	{ 2, 1, 0, -1 },  /* SET_FEATURES */
	{ 5, 1, 2, -1 },  /* SET_MEM_TABLE, one fd per region */
	{ 8, 1, 0, 0 },	  /* SET_VRING_NUM 0 */
	{ 10, 1, 0, 0 },  /* SET_VRING_BASE 0 */
	{ 9, 1, 0, 0 },	  /* SET_VRING_ADDR 0 */
	{ 12, 1, 1, 0 },  /* SET_VRING_KICK 0 */
	{ 8, 1, 0, 1 },	  /* SET_VRING_NUM 1 */
	{ 10, 1, 0, 1 },  /* SET_VRING_BASE 1 */
	{ 9, 1, 0, 1 },	  /* SET_VRING_ADDR 1 */
	{ 12, 1, 1, 1 },  /* SET_VRING_KICK 1 */
	{ 18, 1, 0, 0 },  /* SET_VRING_ENABLE 0 on */
	{ 18, 1, 0, 1 },  /* SET_VRING_ENABLE 1 on */
	{ 13, 1, 1, 0 },  /* SET_VRING_CALL 0, the real one */
	{ 13, 1, 1, 1 },  /* SET_VRING_CALL 1, the real one */
	/* stop */
	{ 18, 1, 0, 0 }, /* SET_VRING_ENABLE 0 off */
	{ 18, 1, 0, 1 }, /* SET_VRING_ENABLE 1 off */
	{ 11, 0, 0, 0 }, /* GET_VRING_BASE 0 */
	{ 11, 0, 0, 1 }, /* GET_VRING_BASE 1 */
};

#define NR_EXPECT (sizeof(qemu_order) / sizeof(qemu_order[0]))

static uint32_t u32_at(const struct fake_msg *m, unsigned int off)
{
	uint32_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

static uint64_t u64_at(const struct fake_msg *m, unsigned int off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

static void check_mem_table(const struct fake_msg *m, struct gsim_ram *ram)
{
	struct gsim_region r[2];
	unsigned int i;

	assert_int_equal(gsim_ram_regions(ram, r, 2), 2);
	assert_int_equal(m->size, 8 + 2 * 32);
	assert_int_equal(u32_at(m, 0), 2);
	for (i = 0; i < 2; i++) {
		unsigned int o = 8 + 32 * i;

		assert_int_equal(u64_at(m, o), r[i].gpa);
		assert_int_equal(u64_at(m, o + 8), r[i].size);
		assert_int_equal(u64_at(m, o + 16), r[i].uva);
		assert_int_equal(u64_at(m, o + 24), r[i].mmap_offset);
	}
	/* The hole between the regions, as on QEMU's pc machines. */
	assert_int_equal(u64_at(m, 8 + 8), 0xa0000);
	assert_int_equal(u64_at(m, 8 + 32), 0xc0000);
}

/* The ring's three addresses lie in the high region's mapping. */
static void check_vring_addr(const struct fake_msg *m, struct gsim_ram *ram)
{
	struct gsim_region r[2];
	unsigned int i;

	gsim_ram_regions(ram, r, 2);
	assert_int_equal(m->size, 40);
	assert_int_equal(u32_at(m, 4), 0); /* no logging flag */
	for (i = 0; i < 3; i++) {
		uint64_t uva = u64_at(m, 8 + 8 * i);

		assert_true(uva >= r[1].uva && uva < r[1].uva + r[1].size);
	}
	/* log_guest_addr: the used ring's GPA, matching its uva. */
	assert_int_equal(u64_at(m, 32) - r[1].gpa, u64_at(m, 16) - r[1].uva);
}

static void connect_and_disconnect_in_qemu_order(void **state)
{
	struct gsim_ram *ram = gsim_ram_create(RAM_SIZE);
	struct gsim_gpu_config cfg = { .timeout_ms = 2000, .queue_size = 64 };
	struct fake_backend *fb = fake_start(OFFERED, PROTO_OFFERED);
	struct gsim_gpu *gpu;
	unsigned int i;

	(void)state;
	assert_non_null(fb);
	fb->num_capsets = 3;
	assert_int_equal(gsim_gpu_connect(ram, fb->path, &cfg, &gpu), 0);
	/* No EDID, no ACCESS_PLATFORM: what a headless svm driver takes. */
	assert_int_equal(gsim_gpu_features(gpu),
			 F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
				 F(VIRTIO_RING_F_INDIRECT_DESC) | F(30) |
				 F(VIRTIO_GPU_F_VIRGL) |
				 F(VIRTIO_GPU_F_CONTEXT_INIT));
	assert_int_equal(gsim_vhost_protocol_features(gsim_gpu_vhost(gpu)),
			 F(0) | F(3) | F(9));
	assert_int_equal(gsim_gpu_num_capsets(gpu), 3);
	gsim_gpu_disconnect(gpu);
	fake_stop(fb);

	assert_int_equal(fb->nlog, NR_EXPECT);
	for (i = 0; i < NR_EXPECT; i++) {
		const struct fake_msg *m = &fb->log[i];
		const struct expect *e = &qemu_order[i];

		if (m->request != e->request)
			fail_msg("message %u: request %u, expected %u", i,
				 m->request, e->request);
		assert_int_equal(m->flags & 0x3, 1);
		assert_int_equal(!!(m->flags & FAKE_NEED_REPLY), e->need_reply);
		assert_int_equal(m->nr_fds, e->nr_fds);
		if (e->index >= 0)
			assert_int_equal(u32_at(m, 0) & 0xff, e->index);
	}
	assert_int_equal(u64_at(&fb->log[2], 0), F(0) | F(3) | F(9));
	assert_int_equal(u64_at(&fb->log[11], 0),
			 F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
				 F(VIRTIO_RING_F_INDIRECT_DESC) | F(30) |
				 F(VIRTIO_GPU_F_VIRGL) |
				 F(VIRTIO_GPU_F_CONTEXT_INIT));
	check_mem_table(&fb->log[12], ram);
	assert_int_equal(u32_at(&fb->log[13], 4), 64); /* NUM */
	assert_int_equal(u32_at(&fb->log[14], 4), 0);  /* BASE */
	check_vring_addr(&fb->log[15], ram);
	check_vring_addr(&fb->log[19], ram);
	assert_int_equal(u32_at(&fb->log[21], 4), 1); /* ENABLE 1 */
	assert_int_equal(u32_at(&fb->log[25], 4), 0); /* ENABLE 0 */
	fake_free(fb);
	assert_int_equal(gsim_ram_pages_used(ram), 0);
	gsim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_and_disconnect_in_qemu_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
