// SPDX-License-Identifier: MIT
/*
 * virtio_gpu_commands.c - the virtio-gpu device answers the commands the
 * svm context type needs, refuses the rest and malformed ones with an
 * error response, echoes fences, and writes a submission's response only
 * when the core has finished it: in any order, from any thread, never
 * into a ring that was reset meanwhile.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The device runs here without a socket: the test thread plays the
 * connection thread, calling vp_gpu_queue_notify() for a kick and
 * vp_gpu_complete() when the wake eventfd fires.
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
#include <linux/virtio_gpu.h>

#include "gpu_cmd.h"
#include "ring_fixture.h"
#include "svm_double.h"
#include "virtio_gpu.h"
#include "vsvm/vsvm_proto.h"

#define MIB (1ull << 20)

struct gpu_fx {
	struct ring_fx *fx;
	struct vp_svm *svm;
	struct vp_gpu *gpu;
	int wake_fd;
	uint64_t resp_gpa[VP_VRING_MAX_NUM];
};

static struct gpu_fx *gpu_fx_create(uint64_t ram, uint32_t num,
				    enum vp_standin standin)
{
	struct gpu_fx *g = calloc(1, sizeof(*g));
	struct vp_gpu_params p = { 0 };

	assert_non_null(g);
	g->fx = fx_create_num(ram, num, false);
	g->svm = vp_svm_create(NULL, &g->fx->mt);
	g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p.svm = g->svm;
	p.queues[0] = &g->fx->vr[0];
	p.queues[1] = &g->fx->vr[1];
	p.wake_fd = g->wake_fd;
	p.standin = standin;
	p.verbosity = -1;
	g->gpu = vp_gpu_create(&p);
	assert_non_null(g->gpu);
	vp_gpu_set_features(g->gpu, vp_gpu_device_features());
	return g;
}

static void gpu_fx_destroy(struct gpu_fx *g)
{
	/* The connection's order: core first, then the device. */
	vp_svm_destroy(g->svm);
	vp_gpu_destroy(g->gpu);
	close(g->wake_fd);
	fx_destroy(g->fx);
	free(g);
}

static int setup(void **state)
{
	*state = gpu_fx_create(FX_RAM, FX_NUM, VP_STANDIN_NONE);
	return 0;
}

static int teardown(void **state)
{
	gpu_fx_destroy(*state);
	return 0;
}

/* Post a command (readable) and a response buffer (writable) on q. */
static uint16_t post_on(struct gpu_fx *g, int q, const void *req,
			uint32_t req_len, uint32_t resp_cap)
{
	struct ring_fx *fx = g->fx;
	struct guest_buf b[2];
	uint64_t cmd = fx_buf(fx, req_len, 0);
	uint16_t head;

	memcpy(guest_ptr(&fx->gm, cmd), req, req_len);
	b[0] = (struct guest_buf){ cmd, req_len, false };
	b[1] = (struct guest_buf){ fx_buf(fx, resp_cap, 0xee), resp_cap, true };
	head = guest_chain(&fx->gr[q], b, resp_cap ? 2 : 1);
	g->resp_gpa[head] = b[1].gpa;
	guest_publish(&fx->gr[q], head);
	return head;
}

static uint16_t post(struct gpu_fx *g, const void *req, uint32_t req_len,
		     uint32_t resp_cap)
{
	return post_on(g, 0, req, req_len, resp_cap);
}

/* The next used element must be head; return its response. */
static struct virtio_gpu_ctrl_hdr *used(struct gpu_fx *g, uint16_t head,
					uint32_t *len)
{
	uint32_t id;

	assert_true(guest_get_used(&g->fx->gr[0], &id, len));
	assert_int_equal(id, head);
	return guest_ptr(&g->fx->gm, g->resp_gpa[head]);
}

static void expect_resp(struct gpu_fx *g, uint16_t head, uint32_t type,
			uint32_t len)
{
	struct virtio_gpu_ctrl_hdr *r;
	uint32_t got;

	r = used(g, head, &got);
	assert_int_equal(got, len);
	if (len)
		assert_int_equal(le32toh(r->type), type);
}

/* A round trip: post, kick, expect the response type and length. */
static struct virtio_gpu_ctrl_hdr *call(struct gpu_fx *g, const void *req,
					uint32_t req_len, uint32_t resp_cap,
					uint32_t type, uint32_t len)
{
	uint16_t head = post(g, req, req_len, resp_cap);
	struct virtio_gpu_ctrl_hdr *r;
	uint32_t got;

	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	r = used(g, head, &got);
	assert_int_equal(got, len);
	if (len)
		assert_int_equal(le32toh(r->type), type);
	return r;
}

static void display_info_reports_one_disabled_scanout(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_ctrl_hdr h;
	struct virtio_gpu_resp_display_info *r;
	static const uint8_t zero[sizeof(r->pmodes)];

	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	r = (void *)call(g, &h, HDR, sizeof(*r),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO, sizeof(*r));
	assert_memory_equal(r->pmodes, zero, sizeof(zero));
}

static void capset_info_names_the_svm_capset(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_get_capset_info req = { 0 };
	struct virtio_gpu_resp_capset_info *r;

	make_hdr(&req.hdr, VIRTIO_GPU_CMD_GET_CAPSET_INFO, 0);
	r = (void *)call(g, &req, sizeof(req), sizeof(*r),
			 VIRTIO_GPU_RESP_OK_CAPSET_INFO, sizeof(*r));
	assert_int_equal(le32toh(r->capset_id), VSVM_CAPSET_ID);
	assert_int_equal(le32toh(r->capset_max_version), 1);
	assert_int_equal(le32toh(r->capset_max_size), 64);
	req.capset_index = htole32(1);
	call(g, &req, sizeof(req), sizeof(*r),
	     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
}

static void get_capset_returns_its_bytes_and_checks_id(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_get_capset req = { 0 };
	uint8_t *r;

	make_hdr(&req.hdr, VIRTIO_GPU_CMD_GET_CAPSET, 0);
	req.capset_id = htole32(VSVM_CAPSET_ID);
	req.capset_version = htole32(1);
	r = (void *)call(g, &req, sizeof(req), HDR + 64,
			 VIRTIO_GPU_RESP_OK_CAPSET, HDR + 64);
	assert_int_equal(r[HDR], 0xc0);
	assert_int_equal(r[HDR + 63], 0xc0 + 63);
	req.capset_version = htole32(2);
	call(g, &req, sizeof(req), HDR + 64,
	     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
	req.capset_version = htole32(1);
	req.capset_id = htole32(VIRTIO_GPU_CAPSET_VIRGL);
	call(g, &req, sizeof(req), HDR + 64,
	     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
}

static void ctx_create_passes_context_init_when_negotiated(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_ctx_create req = { 0 };
	struct virtio_gpu_ctx_destroy d;

	make_hdr(&req.hdr, VIRTIO_GPU_CMD_CTX_CREATE, 7);
	req.context_init = htole32(VSVM_CAPSET_ID);
	call(g, &req, sizeof(req), HDR, VIRTIO_GPU_RESP_OK_NODATA, HDR);
	assert_int_equal(dbl.last_ctx_id, 7);
	assert_int_equal(dbl.last_context_init, VSVM_CAPSET_ID);
	/* Without VIRTIO_GPU_F_CONTEXT_INIT the field means nothing. */
	vp_gpu_set_features(g->gpu, 0);
	req.hdr.ctx_id = htole32(8);
	call(g, &req, sizeof(req), HDR, VIRTIO_GPU_RESP_OK_NODATA, HDR);
	assert_int_equal(dbl.last_context_init, 0);
	make_hdr(&d.hdr, VIRTIO_GPU_CMD_CTX_DESTROY, 7);
	call(g, &d, sizeof(d), HDR, VIRTIO_GPU_RESP_OK_NODATA, HDR);
	call(g, &d, sizeof(d), HDR, VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID,
	     HDR);
}

static void submit_echoes_fence_and_reply_stream(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_cmd_submit *s;
	struct virtio_gpu_ctrl_hdr *r;
	uint8_t buf[128];
	uint32_t n = submit_req(buf, 3, 'E', 0, 40, 40);

	s = (void *)buf;
	s->hdr.flags =
		htole32(VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	s->hdr.fence_id = htole64(0x1122334455667788ull);
	s->hdr.ring_idx = 5;
	r = call(g, buf, n, HDR + 64, VIRTIO_GPU_RESP_OK_NODATA, HDR + 40);
	assert_int_equal(le32toh(r->flags),
			 VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	assert_true(le64toh(r->fence_id) == 0x1122334455667788ull);
	assert_int_equal(le32toh(r->ctx_id), 3);
	assert_int_equal(r->ring_idx, 5);
	assert_memory_equal((uint8_t *)r + HDR, buf + sizeof(*s), 40);
	assert_int_equal(dbl.last_ctx_id, 3);
	assert_int_equal(dbl.last_reply_cap, 64);
}

static void submit_larger_than_its_buffer_is_refused(void **state)
{
	struct gpu_fx *g = *state;
	uint8_t buf[128];
	int before = dbl_read(&dbl.submits);
	uint32_t n = submit_req(buf, 3, 'E', 0, 16, 17);

	call(g, buf, n, HDR + 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
	n = submit_req(buf, 3, 'E', 0, 16, UINT32_MAX);
	call(g, buf, n, HDR + 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
	assert_int_equal(dbl_read(&dbl.submits), before);
}

static void submit_beyond_protocol_cap_is_refused(void **state)
{
	struct gpu_fx *g = gpu_fx_create(8 * MIB, FX_NUM, VP_STANDIN_NONE);
	uint32_t len = VSVM_MAX_SUBMIT_BYTES + 1;
	uint8_t *buf = calloc(1, len + 64);
	uint32_t n;

	(void)state;
	/*
	 * Too long to copy: the core gets the first command header only and
	 * the claimed size, and answers ERR_LENGTH for command 0 (5.2 P6).
	 */
	n = submit_req(buf, 3, 'E', 0, len, len);
	call(g, buf, n, HDR, VIRTIO_GPU_RESP_OK_NODATA, HDR);
	assert_int_equal(dbl.last_cmds_len, sizeof(struct vsvm_cmd_hdr));
	assert_int_equal(dbl.last_stream_len, len);
	/* Exactly the cap is fine, and the reply space is capped too. */
	n = submit_req(buf, 3, 'E', 0, len - 1, len - 1);
	call(g, buf, n, 2 * MIB, VIRTIO_GPU_RESP_OK_NODATA,
	     HDR + VSVM_MAX_SUBMIT_BYTES);
	assert_int_equal(dbl.last_reply_cap, VSVM_MAX_SUBMIT_BYTES);
	assert_int_equal(dbl.last_cmds_len, VSVM_MAX_SUBMIT_BYTES);
	free(buf);
	gpu_fx_destroy(g);
}

static void no_room_for_a_response_completes_empty(void **state)
{
	struct gpu_fx *g = *state;
	uint8_t buf[64];
	int before = dbl_read(&dbl.submits);
	uint32_t n = submit_req(buf, 3, 'E', 0, 8, 8);

	call(g, buf, n, HDR - 1, 0, 0);
	call(g, buf, n, 0, 0, 0);
	assert_int_equal(dbl_read(&dbl.submits), before);
}

static void short_or_unknown_commands_get_err_unspec(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_ctrl_hdr h, *r;

	/* CTX_CREATE needs its whole struct; a header alone is short. */
	make_hdr(&h, VIRTIO_GPU_CMD_CTX_CREATE, 1);
	h.flags = htole32(VIRTIO_GPU_FLAG_FENCE);
	h.fence_id = htole64(99);
	r = call(g, &h, HDR, HDR, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
	/* Even an error signals the fence, or the guest would wait forever. */
	assert_int_equal(le32toh(r->flags), VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(le64toh(r->fence_id), 99);
	make_hdr(&h, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 0);
	call(g, &h, HDR, HDR, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
	make_hdr(&h, 0x9999, 0);
	call(g, &h, HDR, HDR, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
	make_hdr(&h, VIRTIO_GPU_CMD_GET_EDID, 0);
	call(g, &h, HDR, HDR, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
	/* Shorter than a header: nothing to echo, still an answer. */
	r = call(g, &h, 10, HDR, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
	assert_int_equal(r->flags, 0);
}

static void core_errors_and_lies_are_reported(void **state)
{
	struct gpu_fx *g = *state;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 3, 'X', 0, 8, 8);

	call(g, buf, n, HDR + 8, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, HDR);
	n = submit_req(buf, 3, 'L', 0, 8, 8);
	call(g, buf, n, HDR + 8, VIRTIO_GPU_RESP_ERR_UNSPEC, HDR);
}

static uint64_t wake_count(struct gpu_fx *g)
{
	return fx_count(g->wake_fd);
}

static void parked_submission_completes_after_newer_ones(void **state)
{
	struct gpu_fx *g = *state;
	uint8_t buf[64];
	uint16_t parked, quick;
	uint32_t n, len;
	uint8_t *r;

	n = submit_req(buf, 3, 'P', 'a', 8, 8);
	parked = post(g, buf, n, HDR + 8);
	n = submit_req(buf, 3, 'E', 0, 8, 8);
	quick = post(g, buf, n, HDR + 8);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	expect_resp(g, quick, VIRTIO_GPU_RESP_OK_NODATA, HDR + 8);
	assert_int_equal(fx_count(g->fx->call_fd[0]), 1);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 1);
	/* The core finishes it on a thread of its own. */
	wake_count(g);
	dbl_complete_parked_async('a');
	assert_int_equal(wake_count(g), 1);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 1);
	vp_gpu_complete(g->gpu);
	r = (uint8_t *)used(g, parked, &len);
	assert_int_equal(len, HDR + 8);
	assert_int_equal(r[HDR], 'P');
	assert_int_equal(r[HDR + 1], 'a');
	assert_int_equal(fx_count(g->fx->call_fd[0]), 1);
}

static void completion_waits_while_ring_is_disabled(void **state)
{
	struct gpu_fx *g = *state;
	struct vp_gpu_stats st;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 3, 'P', 'b', 8, 8);
	uint16_t head = post(g, buf, n, HDR + 8);

	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	/* QEMU's shutdown order: ENABLE 0, then GET_VRING_BASE. */
	g->fx->vr[0].enabled = false;
	vp_vring_stop(&g->fx->vr[0]);
	dbl_complete_parked_async('b');
	vp_gpu_complete(g->gpu);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 0);
	/* Resume with the same layout: the answer goes out. */
	assert_int_equal(vp_vring_set_base(&g->fx->vr[0], 1), 0);
	g->fx->vr[0].started = true;
	g->fx->vr[0].enabled = true;
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	expect_resp(g, head, VIRTIO_GPU_RESP_OK_NODATA, HDR + 8);
	vp_gpu_get_stats(g->gpu, &st);
	assert_int_equal(st.completions, 1);
	assert_int_equal(st.dropped, 0);
}

static void completion_for_a_reset_ring_is_dropped(void **state)
{
	struct gpu_fx *g = *state;
	struct vp_gpu_stats st;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 3, 'P', 'c', 8, 8);

	post(g, buf, n, HDR + 8);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	vp_vring_stop(&g->fx->vr[0]);
	/* The guest reset its driver: the ring starts over at 0. */
	assert_int_equal(vp_vring_set_base(&g->fx->vr[0], 0), 0);
	g->fx->vr[0].started = true;
	dbl_complete_parked_async('c');
	vp_gpu_complete(g->gpu);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 0);
	vp_gpu_get_stats(g->gpu, &st);
	assert_int_equal(st.dropped, 1);
}

static void malformed_chain_completes_empty(void **state)
{
	struct gpu_fx *g = *state;
	struct ring_fx *fx = g->fx;
	struct vp_gpu_stats st;
	uint32_t id, len;

	guest_desc_set(&fx->gr[0], 0, fx_buf(fx, 8, 0), 8, VRING_DESC_F_NEXT,
		       0);
	fx->gr[0].next_desc = 1;
	guest_publish(&fx->gr[0], 0);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	assert_true(guest_get_used(&fx->gr[0], &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	vp_gpu_get_stats(g->gpu, &st);
	assert_int_equal(st.bad_chains, 1);
	assert_int_equal(fx_count(fx->call_fd[0]), 1);
}

static void cursor_queue_completes_empty(void **state)
{
	struct gpu_fx *g = *state;
	struct virtio_gpu_update_cursor c = { 0 };
	uint32_t id, len;
	uint16_t head;

	c.hdr.type = htole32(VIRTIO_GPU_CMD_MOVE_CURSOR);
	head = post_on(g, 1, &c, sizeof(c), 0);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CURSORQ);
	assert_true(guest_get_used(&g->fx->gr[1], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(fx_count(g->fx->call_fd[1]), 1);
}

static void config_space_matches_the_device_shown(void **state)
{
	struct gpu_fx *g = *state, *gpio;
	struct virtio_gpu_config cfg;
	struct virtio_gpio_config gcfg;
	uint32_t v;

	(void)state;
	assert_int_equal(vp_gpu_get_config(g->gpu, 0, sizeof(cfg), &cfg), 0);
	assert_int_equal(le32toh(cfg.events_read), 0);
	assert_int_equal(le32toh(cfg.num_scanouts), 1);
	assert_int_equal(le32toh(cfg.num_capsets), 1);
	assert_int_equal(vp_gpu_get_config(g->gpu, 12, 4, &v), 0);
	assert_int_equal(le32toh(v), 1);
	assert_int_equal(vp_gpu_get_config(g->gpu, 12, 8, &cfg), -EINVAL);
	assert_int_equal(vp_gpu_get_config(g->gpu, 17, 0, &cfg), -EINVAL);
	assert_int_equal(vp_gpu_get_config(g->gpu, UINT32_MAX, 2, &cfg),
			 -EINVAL);
	gpio = gpu_fx_create(FX_RAM, FX_NUM, VP_STANDIN_GPIO);
	assert_int_equal(vp_gpu_get_config(gpio->gpu, 0, sizeof(gcfg), &gcfg),
			 0);
	assert_int_equal(le16toh(gcfg.ngpio), 1);
	assert_int_equal(le32toh(gcfg.gpio_names_size), 0);
	assert_int_equal(vp_gpu_get_config(gpio->gpu, 0, 16, &cfg), -EINVAL);
	gpu_fx_destroy(gpio);
}

static void drain_yields_after_a_batch_and_resumes_on_wake(void **state)
{
	struct gpu_fx *g = gpu_fx_create(FX_RAM, 512, VP_STANDIN_NONE);
	struct virtio_gpu_ctrl_hdr h;
	int i;

	(void)state;
	make_hdr(&h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0);
	for (i = 0; i < 200; i++)
		post(g, &h, HDR, HDR);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	assert_true(guest_used_idx(&g->fx->gr[0]) < 200);
	assert_int_equal(wake_count(g), 1);
	vp_gpu_complete(g->gpu);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 200);
	gpu_fx_destroy(g);
}

static void inflight_memory_is_bounded(void **state)
{
	struct gpu_fx *g = gpu_fx_create(2 * MIB, 512, VP_STANDIN_NONE);
	uint64_t reply = fx_buf(g->fx, MIB, 0);
	struct guest_buf b[2];
	struct vp_gpu_stats st;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 3, 'P', 'z', 8, 8);
	uint64_t cmd = fx_buf(g->fx, n, 0);
	uint16_t head;
	int i;

	(void)state;
	memcpy(guest_ptr(&g->fx->gm, cmd), buf, n);
	/* 129 parked submissions, each with 1 MiB of reply space. */
	for (i = 0; i < 129; i++) {
		b[0] = (struct guest_buf){ cmd, n, false };
		b[1] = (struct guest_buf){ reply, MIB, true };
		head = guest_chain(&g->fx->gr[0], b, 2);
		guest_publish(&g->fx->gr[0], head);
	}
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	vp_gpu_complete(g->gpu);
	vp_gpu_get_stats(g->gpu, &st);
	assert_true(st.submits < 129);
	assert_int_equal(guest_used_idx(&g->fx->gr[0]), 129 - st.submits);
	gpu_fx_destroy(g);
}

static void destroy_frees_parked_submissions(void **state)
{
	struct gpu_fx *g = *state;
	uint8_t buf[64];
	uint32_t n = submit_req(buf, 3, 'P', 'd', 8, 8);

	post(g, buf, n, HDR + 8);
	vp_gpu_queue_notify(g->gpu, VP_GPU_CTRLQ);
	assert_int_equal(dbl_nr_parked(), 1);
	/* teardown destroys the core (which completes it), then the device;
	 * LeakSanitizer checks nothing is left. */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(display_info_reports_one_disabled_scanout),
		T(capset_info_names_the_svm_capset),
		T(get_capset_returns_its_bytes_and_checks_id),
		T(ctx_create_passes_context_init_when_negotiated),
		T(submit_echoes_fence_and_reply_stream),
		T(submit_larger_than_its_buffer_is_refused),
		cmocka_unit_test(submit_beyond_protocol_cap_is_refused),
		T(no_room_for_a_response_completes_empty),
		T(short_or_unknown_commands_get_err_unspec),
		T(core_errors_and_lies_are_reported),
		T(parked_submission_completes_after_newer_ones),
		T(completion_waits_while_ring_is_disabled),
		T(completion_for_a_reset_ring_is_dropped),
		T(malformed_chain_completes_empty),
		T(cursor_queue_completes_empty),
		T(config_space_matches_the_device_shown),
		cmocka_unit_test(
			drain_yields_after_a_batch_and_resumes_on_wake),
		cmocka_unit_test(inflight_memory_is_bounded),
		T(destroy_frees_parked_submissions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
