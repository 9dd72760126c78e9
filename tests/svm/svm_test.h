/* SPDX-License-Identifier: MIT */
/*
 * svm_test.h - fixture for the SVM core tests: a real memory table over a
 *              memfd ("guest RAM"), real simulated devices, and helpers
 *              that submit command streams and wait for their completion.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#ifndef SVM_TEST_H
#define SVM_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/virtio_gpu.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev_sim.h"
#include "memtable.h"
#include "svm.h"
#include "vsvm/vsvm_codec.h"

#define T_RAM_SIZE (64ull << 20)
#define T_NDEV 2
#define T_VA 0x7f0000000000ull	/* the same VA in every context */

struct t_env {
	struct vp_device *devs[T_NDEV];
	struct vp_memtable mt;
	struct vp_svm_config cfg;
	struct vp_svm *svm;
	uint8_t *ram;		/* our own view of guest RAM: GPA == offset */
};

/* One submission and its completion. */
struct t_sub {
	struct vp_submit s;
	uint8_t cmds[8192];
	uint8_t reply[16384];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void t_complete(struct vp_submit *s)
{
	struct t_sub *t = (struct t_sub *)s;

	pthread_mutex_lock(&t->lock);
	t->done = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static inline void t_env_up(struct t_env *e)
{
	/* Two regions adjacent in GPA, as a frontend may send them. */
	const uint64_t half = T_RAM_SIZE / 2;
	uint64_t gpa[2] = { 0, half }, size[2] = { half, half }, uva[2];
	uint64_t off[2] = { 0, half };
	int fd = memfd_create("t-guest-ram", 0), fds[2], i;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)T_RAM_SIZE), 0);
	e->ram = mmap(NULL, T_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0);
	assert_true(e->ram != MAP_FAILED);
	uva[0] = (uint64_t)(uintptr_t)e->ram;
	uva[1] = uva[0] + half;
	fds[0] = fd;
	fds[1] = dup(fd);
	assert_int_equal(vp_memtable_build(&e->mt, 2, gpa, size, uva, off, fds),
			 0);
	for (i = 0; i < T_NDEV; i++) {
		struct dev_sim_config dc = { .index = (uint32_t)i,
					     .mem_size = 32ull << 20 };

		e->devs[i] = dev_sim_create(&dc);
		assert_non_null(e->devs[i]);
	}
	e->cfg = (struct vp_svm_config){
		.devices = e->devs,
		.num_devices = T_NDEV,
		.va_bits = 48,
		.max_contexts = 64,
		.max_ranges = 4096,
		.max_launches = 8,
		.max_fault_batch = 256,
		.max_submit_bytes = 64 << 10,
	};
	e->svm = vp_svm_create(&e->cfg, &e->mt);
	assert_non_null(e->svm);
}

static inline void t_env_down(struct t_env *e)
{
	int i;

	vp_svm_destroy(e->svm);
	for (i = 0; i < T_NDEV; i++)
		e->devs[i]->ops->destroy(e->devs[i]);
	vp_memtable_clear(&e->mt);
	munmap(e->ram, T_RAM_SIZE);
}

static inline struct t_sub *t_sub_new(uint32_t ctx_id)
{
	struct t_sub *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->s.ctx_id = ctx_id;
	t->s.cmds = t->cmds;
	t->s.reply = t->reply;
	t->s.reply_cap = sizeof(t->reply);
	t->s.complete = t_complete;
	return t;
}

static inline void t_sub_free(struct t_sub *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Append one command to t's stream. */
static inline void t_add(struct t_sub *t, const struct vsvm_request *req)
{
	struct vsvm_writer w;

	vsvm_writer_init(&w, t->cmds, sizeof(t->cmds));
	w.off = t->s.cmds_len;
	assert_true(vsvm_encode_request(&w, req) > 0);
	t->s.cmds_len = w.off;
}

static inline void t_submit(struct t_env *e, struct t_sub *t)
{
	vp_svm_submit(e->svm, &t->s);
}

static inline void t_wait(struct t_sub *t)
{
	pthread_mutex_lock(&t->lock);
	while (!t->done)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

static inline int t_is_done(struct t_sub *t)
{
	int d;

	pthread_mutex_lock(&t->lock);
	d = t->done;
	pthread_mutex_unlock(&t->lock);
	return d;
}

/* Reply n of a finished submission. */
static inline void t_reply(struct t_sub *t, unsigned int n,
			   struct vsvm_response *rsp)
{
	uint32_t off = 0;
	unsigned int i;
	int ret = 0;

	for (i = 0; i <= n; i++) {
		ret = vsvm_decode_response(t->reply + off,
					   t->s.reply_len - off, rsp);
		assert_true(ret > 0);
		off += (uint32_t)ret;
	}
}

/* Submit one command, wait, return its reply status. */
static inline uint16_t t_one(struct t_env *e, uint32_t ctx,
			     const struct vsvm_request *req,
			     struct vsvm_response *rsp)
{
	struct t_sub *t = t_sub_new(ctx);
	struct vsvm_response r;
	uint16_t st;

	t_add(t, req);
	t_submit(e, t);
	t_wait(t);
	t_reply(t, 0, rsp ? rsp : &r);
	st = rsp ? rsp->status : r.status;
	t_sub_free(t);
	return st;
}

static inline void t_ctx(struct t_env *e, uint32_t id)
{
	struct vsvm_request req = { .op = VSVM_CMD_INIT };

	assert_int_equal(vp_svm_ctx_create(e->svm, id, VSVM_CAPSET_ID),
			 VIRTIO_GPU_RESP_OK_NODATA);
	req.u.init.major = VSVM_PROTO_MAJOR;
	assert_int_equal(t_one(e, id, &req, NULL), VSVM_OK);
}

static inline uint16_t t_map(struct t_env *e, uint32_t ctx, uint64_t va,
			     uint64_t gpa, uint64_t len, uint32_t prot,
			     uint64_t inval_seq)
{
	struct vsvm_run run = { gpa, len };
	struct vsvm_request req = { .op = VSVM_CMD_MAP };

	req.u.map.va = va;
	req.u.map.len = len;
	req.u.map.prot = prot;
	req.u.map.nr_runs = 1;
	req.u.map.runs = &run;
	req.u.map.inval_seq = inval_seq;
	return t_one(e, ctx, &req, NULL);
}

static inline uint16_t t_unmap(struct t_env *e, uint32_t ctx, uint64_t va,
			       uint64_t len, uint64_t seq)
{
	struct vsvm_request req = { .op = VSVM_CMD_UNMAP };

	req.u.unmap.va = va;
	req.u.unmap.len = len;
	req.u.unmap.seq = seq;
	return t_one(e, ctx, &req, NULL);
}

/* Start a launch (parks); returns the submission to wait on. */
static inline struct t_sub *t_launch(struct t_env *e, uint32_t ctx,
				     uint32_t kernel, uint32_t dev,
				     const uint64_t *args)
{
	struct vsvm_request req = { .op = VSVM_CMD_LAUNCH };
	struct t_sub *t = t_sub_new(ctx);

	req.u.launch.kernel = kernel;
	req.u.launch.device = dev;
	req.u.launch.nr_args = vsvm_kernel_nr_args(kernel);
	memcpy(req.u.launch.args, args, req.u.launch.nr_args * 8);
	t_add(t, &req);
	t_submit(e, t);
	return t;
}

#define RW (VSVM_PROT_READ | VSVM_PROT_WRITE | VSVM_PROT_ATOMIC)

#endif /* SVM_TEST_H */
