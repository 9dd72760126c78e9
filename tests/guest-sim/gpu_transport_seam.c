// SPDX-License-Identifier: MIT
/*
 * gpu_transport_seam.c - struct vsvmg_transport_ops as the guest-shim core
 * uses it, against a scripted virtio-gpu device: the svm capset is found
 * by GET_CAPSET_INFO index, CTX_CREATE carries context_init and the debug
 * name, SUBMIT_3D carries the stream and brings the reply stream back
 * (bounded by cap), a parked submission completes after later ones, a
 * disconnect fails what is still parked, a synchronous command that times
 * out survives its late answer, and a synchronous call from a completion
 * fails instead of deadlocking.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * The control path is fake_backend.h; the device side of the control queue
 * is vq_device.h in a thread woken by the kick eventfd, reading the same
 * guest RAM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>

#include "fake_backend.h"
#include "gpu_transport.h"
#include "guest_ram.h"
#include "vq_device.h"
#include "vsvm/vsvm_proto.h"

#define RAM_SIZE       (32ull << 20)
#define F(bit)	       (1ull << (bit))
#define TRANSPORT_F    (F(VIRTIO_F_VERSION_1) | F(30))
#define OFFERED	       (TRANSPORT_F | F(VIRTIO_GPU_F_CONTEXT_INIT))
#define PROTO	       (F(3) | F(9))

#define STREAM_PARK    0x4b524150u /* "PARK": hold until released */
#define STREAM_RELEASE 0x454c4552u /* "RELE": answer, then the parked */
#define CMD_IGNORED    0x0999	   /* a command the device sits on */
#define CAPSET_SIZE    64
#define MAX_HELD       16

struct device {
	struct gsim_ram *ram;
	struct vq_dev d;
	int stop_fd;
	pthread_t tid;
	struct vq_dev_buf parked[MAX_HELD];
	unsigned int nparked;
	struct vq_dev_buf ignored[MAX_HELD];
	unsigned int nignored;
	/* seen by the device, read by the test after stopping it */
	uint32_t capset_info_calls;
	uint32_t context_init;
	char debug_name[65];
	uint32_t nlen;
};

struct fix {
	int fds_before;
	int threads_before;
	struct gsim_ram *ram;
	struct fake_backend *fb;
	struct gsim_gpu *gpu;
	struct device dev;
};

static void respond(struct device *dv, const struct vq_dev_buf *b,
		    const void *resp, uint32_t len)
{
	if (len > b->in[0].len)
		len = b->in[0].len;
	memcpy(vq_dev_ptr(&dv->d, b->in[0]), resp, len);
	vq_dev_push(&dv->d, b->head, len);
}

static void respond_type(struct device *dv, const struct vq_dev_buf *b,
			 uint32_t type)
{
	struct virtio_gpu_ctrl_hdr h = { .type = htole32(type) };

	respond(dv, b, &h, sizeof(h));
}

/* SUBMIT_3D: echo the stream back, byte-reversed, after an OK header. */
static void do_submit(struct device *dv, const struct vq_dev_buf *b,
		      const uint8_t *cmd)
{
	const struct virtio_gpu_cmd_submit *s = (const void *)cmd;
	uint32_t size = le32toh(s->size), i, magic = 0;
	uint8_t *out = vq_dev_ptr(&dv->d, b->in[0]);
	struct virtio_gpu_ctrl_hdr h = { .type = htole32(
						 VIRTIO_GPU_RESP_OK_NODATA) };

	if (size >= 4)
		memcpy(&magic, cmd + sizeof(*s), 4);
	if (magic == STREAM_PARK && dv->nparked < MAX_HELD) {
		dv->parked[dv->nparked++] = *b;
		return;
	}
	memcpy(out, &h, sizeof(h));
	/* Write a whole page if asked: the ring must clamp it to cap. */
	for (i = 0; i < size && sizeof(h) + i < b->in[0].len; i++)
		out[sizeof(h) + i] = cmd[sizeof(*s) + size - 1 - i];
	vq_dev_push(&dv->d, b->head, (uint32_t)sizeof(h) + size);
	if (magic == STREAM_RELEASE) {
		while (dv->nparked) {
			struct vq_dev_buf *p = &dv->parked[--dv->nparked];

			respond_type(dv, p, VIRTIO_GPU_RESP_OK_NODATA);
		}
	}
}

static void handle(struct device *dv, const struct vq_dev_buf *b)
{
	const uint8_t *cmd = vq_dev_ptr(&dv->d, b->out[0]);
	const struct virtio_gpu_ctrl_hdr *h = (const void *)cmd;
	struct virtio_gpu_resp_capset_info info;
	uint8_t capset[sizeof(struct virtio_gpu_ctrl_hdr) + CAPSET_SIZE];
	const struct virtio_gpu_ctx_create *cc = (const void *)cmd;
	const struct virtio_gpu_get_capset_info *gi = (const void *)cmd;
	unsigned int i;

	switch (le32toh(h->type)) {
	case VIRTIO_GPU_CMD_GET_CAPSET_INFO:
		dv->capset_info_calls++;
		memset(&info, 0, sizeof(info));
		info.hdr.type = htole32(VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		/* Index 0 is virgl; the svm capset is second. */
		info.capset_id = htole32(le32toh(gi->capset_index) ?
						 VSVM_CAPSET_ID :
						 VIRTIO_GPU_CAPSET_VIRGL);
		info.capset_max_version = htole32(1);
		info.capset_max_size = htole32(CAPSET_SIZE);
		respond(dv, b, &info, sizeof(info));
		break;
	case VIRTIO_GPU_CMD_GET_CAPSET:
		memset(capset, 0, sizeof(capset));
		((struct virtio_gpu_ctrl_hdr *)capset)->type =
			htole32(VIRTIO_GPU_RESP_OK_CAPSET);
		for (i = 0; i < CAPSET_SIZE; i++)
			capset[sizeof(struct virtio_gpu_ctrl_hdr) + i] =
				(uint8_t)(0xc0 + i);
		respond(dv, b, capset, sizeof(capset));
		break;
	case VIRTIO_GPU_CMD_CTX_CREATE:
		dv->context_init = le32toh(cc->context_init);
		dv->nlen = le32toh(cc->nlen);
		memcpy(dv->debug_name, cc->debug_name, 64);
		respond_type(dv, b, VIRTIO_GPU_RESP_OK_NODATA);
		break;
	case VIRTIO_GPU_CMD_SUBMIT_3D:
		do_submit(dv, b, cmd);
		break;
	case CMD_IGNORED:
		if (dv->nignored < MAX_HELD)
			dv->ignored[dv->nignored++] = *b;
		break;
	default:
		respond_type(dv, b, VIRTIO_GPU_RESP_OK_NODATA);
		break;
	}
}

static void *device_thread(void *p)
{
	struct device *dv = p;
	struct pollfd pfd[2] = {
		{ .fd = dv->stop_fd, .events = POLLIN },
		{ .fd = dv->d.l.kick_fd, .events = POLLIN },
	};
	struct vq_dev_buf b;

	for (;;) {
		poll(pfd, 2, -1);
		if (pfd[0].revents)
			break;
		vq_dev_kicks(&dv->d);
		while (vq_dev_pop(&dv->d, &b))
			handle(dv, &b);
		vq_dev_call(&dv->d);
	}
	return NULL;
}

/* Answer the commands the device sat on (they were timed out). */
static void device_release_ignored(struct device *dv)
{
	while (dv->nignored)
		respond_type(dv, &dv->ignored[--dv->nignored],
			     VIRTIO_GPU_RESP_OK_NODATA);
	vq_dev_call(&dv->d);
}

static void device_stop(struct device *dv)
{
	eventfd_write(dv->stop_fd, 1);
	pthread_join(dv->tid, NULL);
	close(dv->stop_fd);
}

/* Entries in a /proc/self directory: open fds, or threads. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct gsim_gpu_config cfg = { .timeout_ms = 1000, .queue_size = 32 };

	assert_non_null(f);
	f->fds_before = count_entries("/proc/self/fd");
	f->threads_before = count_entries("/proc/self/task");
	f->ram = gsim_ram_create(RAM_SIZE);
	f->fb = fake_start(OFFERED, PROTO);
	assert_non_null(f->fb);
	f->fb->num_capsets = 2;
	assert_int_equal(gsim_gpu_connect(f->ram, f->fb->path, &cfg, &f->gpu),
			 0);
	f->dev.ram = f->ram;
	vq_dev_init(&f->dev.d, f->ram,
		    gsim_gpu_queue(f->gpu, GSIM_GPU_CONTROLQ));
	f->dev.stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(
		pthread_create(&f->dev.tid, NULL, device_thread, &f->dev), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	/* The device stops first, as the backend does at GET_VRING_BASE. */
	device_stop(&f->dev);
	gsim_gpu_disconnect(f->gpu);
	fake_stop(f->fb);
	fake_free(f->fb);
	assert_int_equal(gsim_ram_pages_used(f->ram), 0);
	gsim_ram_destroy(f->ram);
	/* No fd or thread of the transport outlives it. */
	assert_int_equal(count_entries("/proc/self/fd"), f->fds_before);
	assert_int_equal(count_entries("/proc/self/task"), f->threads_before);
	free(f);
	return 0;
}

static void capset_found_by_index(void **state)
{
	struct fix *f = *state;
	uint8_t buf[CAPSET_SIZE + 16];
	int i;

	memset(buf, 0, sizeof(buf));
	assert_int_equal(
		gsim_gpu_transport_ops.get_capset(f->gpu, buf, sizeof(buf)),
		CAPSET_SIZE);
	for (i = 0; i < CAPSET_SIZE; i++)
		assert_int_equal(buf[i], 0xc0 + i);
	/* A smaller buffer gets a prefix. */
	assert_int_equal(gsim_gpu_transport_ops.get_capset(f->gpu, buf, 8), 8);
	device_stop(&f->dev);
	assert_int_equal(f->dev.capset_info_calls, 4);
	f->dev.stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_create(&f->dev.tid, NULL, device_thread, &f->dev);
}

static void ctx_create_carries_context_init(void **state)
{
	struct fix *f = *state;

	assert_int_equal(
		gsim_gpu_transport_ops.ctx_create(f->gpu, 5, VSVM_CAPSET_ID),
		0);
	assert_int_equal(gsim_gpu_transport_ops.ctx_destroy(f->gpu, 5), 0);
	device_stop(&f->dev);
	assert_int_equal(f->dev.context_init, VSVM_CAPSET_ID);
	assert_int_equal(f->dev.nlen, 4);
	assert_string_equal(f->dev.debug_name, "vsvm");
	f->dev.stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_create(&f->dev.tid, NULL, device_thread, &f->dev);
}

struct sub {
	struct vsvmg_submission s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int order;
	uint8_t reply[32];
};

static int done_seq;

static void sub_done(struct vsvmg_submission *s)
{
	struct sub *x = (struct sub *)s;

	pthread_mutex_lock(&x->lock);
	x->done = 1;
	x->order = __atomic_fetch_add(&done_seq, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static void sub_init(struct sub *x)
{
	memset(x, 0, sizeof(*x));
	x->s.done = sub_done;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
}

static void sub_wait(struct sub *x)
{
	pthread_mutex_lock(&x->lock);
	while (!x->done)
		pthread_cond_wait(&x->cond, &x->lock);
	pthread_mutex_unlock(&x->lock);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
}

static int submit(struct fix *f, struct sub *x, const void *stream,
		  uint32_t len, uint32_t cap)
{
	return gsim_gpu_transport_ops.submit(f->gpu, 5, stream, len, x->reply,
					     cap, &x->s);
}

static void submit_brings_reply_stream_back(void **state)
{
	struct fix *f = *state;
	uint8_t stream[16], big[48];
	struct sub x;
	int i;

	for (i = 0; i < 16; i++)
		stream[i] = (uint8_t)i;
	sub_init(&x);
	assert_int_equal(submit(f, &x, stream, sizeof(stream), 32), 0);
	sub_wait(&x);
	assert_int_equal(x.s.resp_type, VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(x.s.reply_len, 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(x.reply[i], 15 - i);

	/* The device answers 48 bytes into room for 8: bounded by cap. */
	memset(big, 0x77, sizeof(big));
	sub_init(&x);
	memset(x.reply, 0, sizeof(x.reply));
	assert_int_equal(submit(f, &x, big, sizeof(big), 8), 0);
	sub_wait(&x);
	assert_int_equal(x.s.reply_len, 8);
	assert_int_equal(x.reply[8], 0); /* nothing past cap */
}

static void parked_submission_completes_after_later_ones(void **state)
{
	struct fix *f = *state;
	uint32_t park = STREAM_PARK, plain = 1, release = STREAM_RELEASE;
	struct sub a, b, c;

	done_seq = 0;
	sub_init(&a);
	sub_init(&b);
	sub_init(&c);
	assert_int_equal(submit(f, &a, &park, 4, 16), 0);
	assert_int_equal(submit(f, &b, &plain, 4, 16), 0);
	sub_wait(&b);
	assert_false(__atomic_load_n(&a.done, __ATOMIC_RELAXED));
	assert_int_equal(submit(f, &c, &release, 4, 16), 0);
	sub_wait(&c);
	sub_wait(&a);
	assert_int_equal(b.order, 0);
	assert_int_equal(c.order, 1);
	assert_int_equal(a.order, 2);
	assert_int_equal(a.s.resp_type, VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(a.s.reply_len, 0);
}

static void disconnect_fails_parked_submission(void **state)
{
	struct fix *f = *state;
	uint32_t park = STREAM_PARK;
	struct sub a;

	sub_init(&a);
	memset(a.reply, 0xee, sizeof(a.reply));
	assert_int_equal(submit(f, &a, &park, 4, 16), 0);
	device_stop(&f->dev);
	gsim_gpu_disconnect(f->gpu);
	sub_wait(&a);
	assert_int_equal(a.s.resp_type, VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(a.s.reply_len, 0);
	/* Let teardown() run on a fresh, idle connection. */
	fake_stop(f->fb);
	fake_free(f->fb);
	f->fb = fake_start(OFFERED, PROTO);
	assert_int_equal(gsim_gpu_connect(f->ram, f->fb->path, NULL, &f->gpu),
			 0);
	vq_dev_init(&f->dev.d, f->ram,
		    gsim_gpu_queue(f->gpu, GSIM_GPU_CONTROLQ));
	f->dev.stop_fd = eventfd(0, EFD_CLOEXEC);
	f->dev.nparked = 0;
	pthread_create(&f->dev.tid, NULL, device_thread, &f->dev);
}

static void late_answer_to_timed_out_command_is_harmless(void **state)
{
	struct fix *f = *state;
	struct virtio_gpu_ctrl_hdr cmd = { .type = htole32(CMD_IGNORED) };
	struct virtio_gpu_resp_display_info *resp = malloc(sizeof(*resp));

	assert_non_null(resp);
	assert_int_equal(gsim_gpu_command(f->gpu, GSIM_GPU_CONTROLQ, &cmd,
					  sizeof(cmd), resp, sizeof(*resp)),
			 -ETIMEDOUT);
	/* The caller's buffer is gone (ASan watches it); no write may land. */
	free(resp);
	device_stop(&f->dev);
	device_release_ignored(&f->dev);
	gsim_vq_harvest(gsim_gpu_queue(f->gpu, GSIM_GPU_CONTROLQ));
	f->dev.stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_create(&f->dev.tid, NULL, device_thread, &f->dev);
	/* And the device is still usable. */
	assert_int_equal(gsim_gpu_transport_ops.ctx_destroy(f->gpu, 5), 0);
}

struct reentrant {
	struct vsvmg_submission s;
	struct fix *f;
	int sync_ret;
	struct sub signal;
};

static void reentrant_done(struct vsvmg_submission *s)
{
	struct reentrant *r = (struct reentrant *)s;

	/* Only this thread could complete it: refused, not a hang. */
	r->sync_ret = gsim_gpu_transport_ops.ctx_destroy(r->f->gpu, 1);
	sub_done(&r->signal.s);
}

static void sync_call_from_completion_is_refused(void **state)
{
	struct fix *f = *state;
	struct reentrant r = { .f = f };
	uint8_t reply[8];
	uint32_t plain = 1;

	sub_init(&r.signal);
	r.s.done = reentrant_done;
	assert_int_equal(gsim_gpu_transport_ops.submit(f->gpu, 5, &plain, 4,
						       reply, sizeof(reply),
						       &r.s),
			 0);
	sub_wait(&r.signal);
	assert_int_equal(r.sync_ret, -EDEADLK);
}

static void *nothing(void *arg)
{
	return arg;
}

/*
 * Sanitizer runtimes start helper threads at the first pthread_create();
 * start one here so that the per-test thread counts compare like with like.
 */
static void warm_up_threads(void)
{
	pthread_t tid;

	if (!pthread_create(&tid, NULL, nothing, NULL))
		pthread_join(tid, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(capset_found_by_index, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ctx_create_carries_context_init,
						setup, teardown),
		cmocka_unit_test_setup_teardown(submit_brings_reply_stream_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			parked_submission_completes_after_later_ones, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			disconnect_fails_parked_submission, setup, teardown),
		cmocka_unit_test_setup_teardown(
			late_answer_to_timed_out_command_is_harmless, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			sync_call_from_completion_is_refused, setup, teardown),
	};

	warm_up_threads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
