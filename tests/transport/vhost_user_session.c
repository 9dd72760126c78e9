// SPDX-License-Identifier: MIT
/*
 * vhost_user_session.c - a whole vhost-user session, driven over a
 * socketpair by a frontend written here: negotiation, the memory table
 * (a memfd), the rings in it set up in QEMU 7.2's order, and virtio-gpu
 * commands through the real device layer to the SVM test double and back.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_gpio.h>

#include "gpu_cmd.h"
#include "svm_double.h"
#include "vhost_user.h"
#include "vu_frontend.h"
#include "vsvm/vsvm_proto.h"

struct session {
	struct vp_server *srv;
	struct fe fe;
};

static struct vp_server *start_server(enum vp_standin standin)
{
	struct vp_server_config cfg;
	struct vp_server *srv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.standin = standin;
	cfg.verbosity = -1;
	srv = vp_server_start(&cfg);
	assert_non_null(srv);
	return srv;
}

/* A connected socketpair: one end served, the other returned. */
static int connect_pair(struct vp_server *srv)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vp_server_add_connection(srv, sv[0]), 0);
	return sv[1];
}

static int setup_bare(void **state)
{
	struct session *s = calloc(1, sizeof(*s));

	s->srv = start_server(VP_STANDIN_NONE);
	fe_init(&s->fe, connect_pair(s->srv));
	*state = s;
	return 0;
}

static int setup_running(void **state)
{
	struct session *s = calloc(1, sizeof(*s));

	s->srv = start_server(VP_STANDIN_NONE);
	fe_start(&s->fe, connect_pair(s->srv), true);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct session *s = *state;

	fe_close(&s->fe);
	vp_server_stop(s->srv);
	free(s);
	return 0;
}

static void features_include_what_qemu_needs(void **state)
{
	struct session *s = *state;
	uint64_t f = fe_get_u64(&s->fe, FE_GET_FEATURES);

	assert_true(f & FE_F_PROTOCOL_FEATURES);
	assert_true(f & (1ull << VIRTIO_F_VERSION_1));
	assert_true(f & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	assert_true(f & (1ull << VIRTIO_RING_F_EVENT_IDX));
	assert_true(f & (1ull << VIRTIO_GPU_F_VIRGL));
	assert_true(f & (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	assert_int_equal(fe_get_u64(&s->fe, FE_GET_PROTOCOL_FEATURES),
			 FE_PF_REPLY_ACK | FE_PF_CONFIG);
	assert_int_equal(fe_get_u64(&s->fe, FE_GET_QUEUE_NUM), 2);
}

static void features_that_change_the_ring_are_refused(void **state)
{
	struct session *s = *state;

	/* VHOST_F_LOG_ALL (26) is not offered: no live-migration logging. */
	assert_int_not_equal(fe_ack_u64(&s->fe, FE_SET_FEATURES, 1ull << 26),
			     0);
	assert_int_not_equal(
		fe_ack_u64(&s->fe, FE_SET_PROTOCOL_FEATURES, 1ull << 0), 0);
	/* Nor can it complete in order, or use packed rings. */
	assert_int_not_equal(fe_ack_u64(&s->fe, FE_SET_FEATURES,
					FE_F_PROTOCOL_FEATURES | 1ull << 35),
			     0);
	assert_int_not_equal(fe_ack_u64(&s->fe, FE_SET_FEATURES,
					FE_F_PROTOCOL_FEATURES | 1ull << 34),
			     0);
	assert_int_equal(
		fe_ack_u64(&s->fe, FE_SET_FEATURES, FE_F_PROTOCOL_FEATURES), 0);
	/*
	 * QEMU passes on what the guest acked, including virtio-gpu bits
	 * its own device model added (RESOURCE_UUID): accepted, ignored.
	 */
	assert_int_equal(fe_ack_u64(&s->fe, FE_SET_FEATURES,
				    FE_F_PROTOCOL_FEATURES |
					    1ull << VIRTIO_GPU_F_RESOURCE_UUID),
			 0);
	assert_int_equal(fe_ack(&s->fe, FE_RESET_OWNER, NULL, 0, NULL, 0), 0);
}

/* GET_CONFIG of [off, off + size); returns the reply's payload size. */
static uint32_t get_config(struct fe *fe, uint32_t off, uint32_t size,
			   void *out)
{
	struct fe_config c = { .offset = off, .size = size };
	struct fe_hdr h;

	assert_int_equal(fe_send(fe, FE_GET_CONFIG, 0, &c, 12 + size, NULL, 0),
			 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(fe_recv(fe, &h, &c, sizeof(c)), 0);
	assert_int_equal(h.request, FE_GET_CONFIG);
	if (h.size >= 12)
		memcpy(out, c.region, h.size - 12);
	return h.size;
}

static void config_space_reads_are_bounded(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_config cfg;
	uint32_t v;

	assert_int_equal(get_config(&s->fe, 0, sizeof(cfg), &cfg), 12 + 16);
	assert_int_equal(le32toh(cfg.num_scanouts), 1);
	assert_int_equal(le32toh(cfg.num_capsets), 1);
	assert_int_equal(get_config(&s->fe, 12, 4, &v), 12 + 4);
	assert_int_equal(le32toh(v), 1);
	/* Beyond the config space: an empty payload reports the error. */
	assert_int_equal(get_config(&s->fe, 12, 8, &cfg), 0);
	assert_int_equal(get_config(&s->fe, 1000, 4, &cfg), 0);
	/* Read-only: SET_CONFIG fails, the connection goes on. */
	assert_int_not_equal(fe_ack(&s->fe, FE_SET_CONFIG,
				    &(struct fe_config){ .size = 4 }, 16, NULL,
				    0),
			     0);
	assert_int_equal(fe_get_u64(&s->fe, FE_GET_QUEUE_NUM), 2);
}

static void gpio_standin_shows_gpio_config(void **state)
{
	struct vp_server *srv = start_server(VP_STANDIN_GPIO);
	struct virtio_gpio_config cfg;
	struct fe fe;

	(void)state;
	fe_init(&fe, connect_pair(srv));
	assert_int_equal(get_config(&fe, 0, sizeof(cfg), &cfg), 12 + 8);
	assert_int_equal(le16toh(cfg.ngpio), 1);
	assert_int_equal(le32toh(cfg.gpio_names_size), 0);
	fe_close(&fe);
	vp_server_stop(srv);
}

static void unknown_requests_fail_and_the_session_goes_on(void **state)
{
	struct session *s = *state;
	struct vp_server_stats st;
	uint8_t junk[16] = { 0 };

	assert_int_not_equal(fe_ack(&s->fe, 99, junk, sizeof(junk), NULL, 0),
			     0);
	assert_int_not_equal(fe_ack_u64(&s->fe, FE_SET_LOG_BASE, 0), 0);
	/* Without NEED_REPLY: no answer, and the stream stays in step. */
	assert_int_equal(fe_send(&s->fe, 77, 0, junk, 8, NULL, 0), 0);
	assert_int_equal(fe_get_u64(&s->fe, FE_GET_QUEUE_NUM), 2);
	vp_server_get_stats(s->srv, &st);
	assert_int_equal(st.errors, 3);
	assert_int_equal(st.connections_broken, 0);
}

static void gpu_socket_is_kept_open(void **state)
{
	struct session *s = *state;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fe_ack(&s->fe, FE_GPU_SET_SOCKET, NULL, 0, &sv[1], 1),
			 0);
	close(sv[1]);
	/* The proxy holds the other end: no EOF for QEMU's display side. */
	assert_false(fe_wait_readable(sv[0], 100));
	fe_close(&s->fe);
	/* Until the connection ends. */
	assert_true(fe_wait_readable(sv[0], FE_TIMEOUT_MS));
	close(sv[0]);
}

static void capset_and_context_round_trip(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_get_capset_info ci = { 0 };
	struct virtio_gpu_get_capset gc = { 0 };
	struct virtio_gpu_ctx_create cc = { 0 };
	struct virtio_gpu_resp_capset_info *r;
	struct virtio_gpu_ctrl_hdr *h;
	uint32_t len;

	make_hdr(&ci.hdr, VIRTIO_GPU_CMD_GET_CAPSET_INFO, 0);
	r = (void *)fe_cmd(&s->fe, &ci, sizeof(ci), sizeof(*r), &len);
	assert_int_equal(len, sizeof(*r));
	assert_int_equal(le32toh(r->hdr.type), VIRTIO_GPU_RESP_OK_CAPSET_INFO);
	assert_int_equal(le32toh(r->capset_id), VSVM_CAPSET_ID);
	make_hdr(&gc.hdr, VIRTIO_GPU_CMD_GET_CAPSET, 0);
	gc.capset_id = htole32(VSVM_CAPSET_ID);
	gc.capset_version = htole32(1);
	h = fe_cmd(&s->fe, &gc, sizeof(gc), HDR + le32toh(r->capset_max_size),
		   &len);
	assert_int_equal(le32toh(h->type), VIRTIO_GPU_RESP_OK_CAPSET);
	assert_int_equal(len, HDR + 64);
	make_hdr(&cc.hdr, VIRTIO_GPU_CMD_CTX_CREATE, 42);
	h = fe_cmd(&s->fe, &cc, sizeof(cc), HDR, &len);
	assert_int_equal(le32toh(h->type), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(dbl_read_u32(&dbl.last_ctx_id), 42);
}

static void submissions_complete_out_of_order(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_cmd_submit *sub;
	uint8_t buf[128];
	uint16_t parked, quick, head;
	uint32_t n, len;
	uint8_t *r;

	n = submit_req(buf, 42, 'P', 'q', 16, 16);
	sub = (void *)buf;
	sub->hdr.flags = htole32(VIRTIO_GPU_FLAG_FENCE);
	sub->hdr.fence_id = htole64(1000);
	parked = fe_post(&s->fe, 0, buf, n, HDR + 16);
	n = submit_req(buf, 42, 'E', 0, 16, 16);
	sub->hdr.flags = htole32(VIRTIO_GPU_FLAG_FENCE);
	sub->hdr.fence_id = htole64(1001);
	quick = fe_post(&s->fe, 0, buf, n, HDR + 16);
	fe_kick(&s->fe, 0);
	r = fe_wait_used(&s->fe, 0, &head, &len);
	assert_non_null(r);
	assert_int_equal(head, quick);
	assert_int_equal(le64toh(((struct virtio_gpu_ctrl_hdr *)r)->fence_id),
			 1001);
	/* This thread is "the device": the connection thread writes it. */
	while (dbl_nr_parked() == 0)
		usleep(1000);
	assert_int_equal(dbl_complete_parked('q'), 0);
	r = fe_wait_used(&s->fe, 0, &head, &len);
	assert_non_null(r);
	assert_int_equal(head, parked);
	assert_int_equal(len, HDR + 16);
	assert_int_equal(le32toh(((struct virtio_gpu_ctrl_hdr *)r)->flags),
			 VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(le64toh(((struct virtio_gpu_ctrl_hdr *)r)->fence_id),
			 1000);
	assert_int_equal(r[HDR + 1], 'q');
}

static void buffers_posted_before_enable_are_served(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_ctrl_hdr h, *r;
	uint16_t head, got;
	uint32_t len;

	assert_int_equal(
		fe_ack_u64(&s->fe, FE_SET_PROTOCOL_FEATURES, FE_PF_REPLY_ACK),
		0);
	assert_int_equal(fe_ack_u64(&s->fe, FE_SET_FEATURES,
				    FE_F_PROTOCOL_FEATURES | (1ull << 32)),
			 0);
	assert_int_equal(fe_mem_table(&s->fe), 0);
	fe_ring_prepare(&s->fe, 0, 0);
	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	/* The guest posts and kicks while the ring is still disabled. */
	head = fe_post(&s->fe, 0, &h, HDR, HDR);
	fe_kick(&s->fe, 0);
	usleep(20 * 1000);
	assert_int_equal(guest_used_idx(&s->fe.gr[0]), 0);
	/* ENABLE 1 drains; the new CALL fd is signalled. */
	fe_ring_enable(&s->fe, 0);
	assert_true(fe_wait_readable(s->fe.call[0], FE_TIMEOUT_MS));
	r = fe_wait_used(&s->fe, 0, &got, &len);
	assert_non_null(r);
	assert_int_equal(got, head);
	assert_int_equal(le32toh(r->type), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
}

static void get_vring_base(struct fe *fe, int q, uint32_t *num)
{
	struct fe_state st = { (uint32_t)q, 0 };
	struct fe_hdr h;

	assert_int_equal(
		fe_send(fe, FE_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0), 0);
	assert_int_equal(fe_recv(fe, &h, &st, sizeof(st)), 0);
	assert_int_equal(h.request, FE_GET_VRING_BASE);
	assert_int_equal(st.index, (uint32_t)q);
	*num = st.num;
}

static void stop_and_resume_keeps_parked_work(void **state)
{
	struct session *s = *state;
	uint8_t buf[64];
	uint16_t parked, head;
	uint32_t n = submit_req(buf, 42, 'P', 's', 8, 8), base, len;
	uint8_t *r;

	parked = fe_post(&s->fe, 0, buf, n, HDR + 8);
	fe_kick(&s->fe, 0);
	while (dbl_nr_parked() == 0)
		usleep(1000);
	/* QEMU stops the VM: ENABLE 0, then GET_VRING_BASE. */
	assert_int_equal(fe_ack_state(&s->fe, FE_SET_VRING_ENABLE, 0, 0), 0);
	get_vring_base(&s->fe, 0, &base);
	assert_int_equal(base, 1);
	assert_int_equal(dbl_complete_parked('s'), 0);
	usleep(20 * 1000);
	assert_int_equal(guest_used_idx(&s->fe.gr[0]), 0);
	/* ... and resumes it with the same ring. */
	fe_ring_prepare(&s->fe, 0, (uint16_t)base);
	fe_ring_enable(&s->fe, 0);
	r = fe_wait_used(&s->fe, 0, &head, &len);
	assert_non_null(r);
	assert_int_equal(head, parked);
	assert_int_equal(r[HDR + 1], 's');
}

static void device_reset_starts_the_contexts_over(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_ctx_create cc = { 0 };
	struct virtio_gpu_ctrl_hdr *h;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 42, 'P', 'r', 8, 8), base, len;
	int created = dbl_read(&dbl.created);
	int destroyed = dbl_read(&dbl.destroyed);

	make_hdr(&cc.hdr, VIRTIO_GPU_CMD_CTX_CREATE, 42);
	h = fe_cmd(&s->fe, &cc, sizeof(cc), HDR, &len);
	assert_int_equal(le32toh(h->type), VIRTIO_GPU_RESP_OK_NODATA);
	fe_post(&s->fe, 0, buf, n, HDR + 8);
	fe_kick(&s->fe, 0);
	while (dbl_nr_parked() == 0)
		usleep(1000);
	assert_int_equal(fe_ack_state(&s->fe, FE_SET_VRING_ENABLE, 0, 0), 0);
	get_vring_base(&s->fe, 0, &base);
	assert_int_equal(base, 2);
	/* The guest reset the device: its new driver starts from 0. */
	memset(s->fe.gr[0].used, 0, 6 + 8 * FE_NUM);
	memset(s->fe.gr[0].avail, 0, 6 + 2 * FE_NUM);
	s->fe.gr[0].avail_idx = 0;
	s->fe.gr[0].used_seen = 0;
	fe_ring_prepare(&s->fe, 0, 0);
	assert_int_equal(dbl_read(&dbl.destroyed), destroyed + 1);
	assert_int_equal(dbl_read(&dbl.created), created + 1);
	assert_int_equal(dbl_nr_parked(), 0);
	fe_ring_enable(&s->fe, 0);
	/* The old context is gone with the old driver: its id is free. */
	h = fe_cmd(&s->fe, &cc, sizeof(cc), HDR, &len);
	assert_int_equal(le32toh(h->type), VIRTIO_GPU_RESP_OK_NODATA);
	/* The parked buffer of the old ring was never written back. */
	assert_int_equal(guest_used_idx(&s->fe.gr[0]), 1);
}

static void new_memory_table_reaches_the_core(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_ctrl_hdr h, *r;
	int before = dbl_read(&dbl.memtable_changed);
	uint32_t len;

	assert_int_equal(fe_mem_table(&s->fe), 0);
	assert_int_equal(dbl_read(&dbl.memtable_changed), before + 1);
	/* The rings were mapped again and still work. */
	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	r = fe_cmd(&s->fe, &h, HDR, HDR, &len);
	assert_int_equal(le32toh(r->type), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	/* A refused table keeps the old one. */
	{
		struct fe_memory m = { .nregions = 1 };

		m.regions[0].gpa = FE_GPA;
		m.regions[0].size = FE_RAM * 4; /* longer than the file */
		m.regions[0].uva = guest_uva(&s->fe.gm, FE_GPA);
		assert_int_not_equal(fe_ack(&s->fe, FE_SET_MEM_TABLE, &m, 40,
					    &s->fe.gm.fd, 1),
				     0);
	}
	r = fe_cmd(&s->fe, &h, HDR, HDR, &len);
	assert_int_equal(le32toh(r->type), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
}

static void cursor_queue_is_consumed(void **state)
{
	struct session *s = *state;
	struct virtio_gpu_update_cursor c = { 0 };
	uint16_t head, got;
	uint32_t len;

	c.hdr.type = htole32(VIRTIO_GPU_CMD_UPDATE_CURSOR);
	head = fe_post(&s->fe, 1, &c, sizeof(c), 8);
	fe_kick(&s->fe, 1);
	assert_non_null(fe_wait_used(&s->fe, 1, &got, &len));
	assert_int_equal(got, head);
	assert_int_equal(len, 0);
}

static void disconnect_destroys_the_connection_state(void **state)
{
	struct session *s = *state;
	struct vp_server_stats st;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 42, 'P', 'd', 8, 8);
	int destroyed = dbl_read(&dbl.destroyed), i;

	fe_post(&s->fe, 0, buf, n, HDR + 8);
	fe_kick(&s->fe, 0);
	while (dbl_nr_parked() == 0)
		usleep(1000);
	fe_close(&s->fe);
	for (i = 0; i < 5000 && dbl_read(&dbl.destroyed) == destroyed; i++)
		usleep(1000);
	assert_int_equal(dbl_read(&dbl.destroyed), destroyed + 1);
	assert_int_equal(dbl_nr_parked(), 0);
	for (i = 0; i < 5000; i++) {
		vp_server_get_stats(s->srv, &st);
		if (st.connections_active == 0)
			break;
		usleep(1000);
	}
	assert_int_equal(st.connections_active, 0);
	assert_int_equal(st.connections_served, 1);
	assert_true(st.commands >= 1);
}

int main(void)
{
#define TB(f) cmocka_unit_test_setup_teardown(f, setup_bare, teardown)
#define TR(f) cmocka_unit_test_setup_teardown(f, setup_running, teardown)
	const struct CMUnitTest tests[] = {
		TB(features_include_what_qemu_needs),
		TB(features_that_change_the_ring_are_refused),
		TB(config_space_reads_are_bounded),
		cmocka_unit_test(gpio_standin_shows_gpio_config),
		TB(unknown_requests_fail_and_the_session_goes_on),
		TB(gpu_socket_is_kept_open),
		TR(capset_and_context_round_trip),
		TR(submissions_complete_out_of_order),
		TB(buffers_posted_before_enable_are_served),
		TR(stop_and_resume_keeps_parked_work),
		TR(device_reset_starts_the_contexts_over),
		TR(new_memory_table_reaches_the_core),
		TR(cursor_queue_is_consumed),
		TR(disconnect_destroys_the_connection_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
