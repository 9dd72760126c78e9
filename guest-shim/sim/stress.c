// SPDX-License-Identifier: MIT
/*
 * stress.c - the seeded coherency and isolation stress engine.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * One thread per simulated guest process.  Every process maps the same
 * four buffers at the same VAs (so every VA is in use by every process at
 * once, with different data):
 *
 *   A, B  256 KiB of 32-bit words     fill, copy, gather, histogram data
 *   H     4 KiB of 64-bit bins        histogram
 *   L     128 KiB of 16-byte nodes    pointer chase (next, value)
 *
 * and loops over random actions drawn from its own seeded generator:
 *
 *   kernel     one kernel (fill, copy, gather, histogram or chase, on a
 *              random device and random sub-ranges), checked exactly
 *              against the CPU's model of the buffers (the "shadow")
 *   changes    the same kernel relaunched back to back by a second thread
 *              while this one changes the mappings of the same buffers:
 *              munmap + mmap again with new data, mmap MAP_FIXED over,
 *              mprotect read-only, PROT_NONE and back, CPU writes, fork a
 *              child that runs a kernel on the copy-on-write buffers and
 *              exits; then every launch is judged (below) and the kernel
 *              runs once more, checked exactly
 *   idle       one mapping change with no kernel running (device PTEs of
 *              earlier kernels must go; the next kernel faults anew)
 *   fork       fork; parent and/or child run kernels on the shared
 *              buffers, write some of them with the CPU (breaking
 *              copy-on-write under pages the device mapped) and run the
 *              kernel again; each must see only its own writes
 *   rewrite    the CPU writes new data into a buffer
 *   migrate    (one of the changes) a range moves to a random device's
 *              memory or back to guest RAM (guest-driven MIGRATE, when the
 *              host offers device memory): content and access stay as
 *              they are, so launches racing it are judged as if nothing
 *              happened, and the read-back after the action brings the
 *              pages home through the CPU's migrate_to_ram
 *   exit       the process exits; a new one (new pid) takes its place
 *
 * After every action all four buffers are read back and must equal the
 * shadow exactly.
 *
 * DOC: Data
 *
 * Every 32-bit word a process writes to A or B (from the CPU or as a fill
 * value) is tagged: bit 31 set, the pid in bits 30..16, a serial below
 * (bit 15 set for CPU patterns, clear for kernel values).  So a word of
 * another process (an isolation bug) or poison 0x5a5a5a5a (bit 31 clear:
 * a read of a freed frame) is never a legitimate value.  List nodes hold
 * values that are tagged words shifted left by 20: any sum of them is a
 * multiple of 2^20, a sum that read poison is not.  Bins are counts.
 *
 * DOC: Judging a launch that ran during changes
 *
 * The process thread and the launching thread draw "ticks" from one
 * counter before and after each mapping change and each launch, so
 * whether a launch overlapped a change is known exactly.  A launch:
 *
 *  - VSVM_OK: its result must be what the kernel computes (count, or for
 *    gather and chase the model's sum when no content change of the
 *    buffers it reads overlapped it; a chase sum must be a multiple of
 *    2^20 in any case);
 *    and it must not have succeeded if it surely reached a page that was
 *    unmapped, PROT_NONE, or read-only (for its writes) all the while it
 *    ran;
 *  - VSVM_ERR_FAULT: only at a VA that an overlapping change had
 *    unmapped (munmap before the new mmap), made PROT_NONE, or made
 *    read-only in a buffer the kernel writes;
 *  - anything else: failure.
 *
 * The written buffer is judged per word: where the last launch succeeded
 * and no change touched the word (or what it was computed from) since
 * that launch began, it must hold exactly the kernel's output; elsewhere
 * only a value that could legitimately be there: its old value, the
 * kernel's value (for copy: the source's old or new values), the CPU's
 * new pattern, or 0 on a page mapped afresh.  A copy's word may also be
 * a mix of the bytes of those values: the device copies with memmove,
 * which need not move a word in one access, so a copy racing with a CPU
 * write can tear a word; poison and other processes' words still show,
 * since the top byte of every legitimate word has bit 7 set and carries
 * the pid's high bits.  Histogram bins must have
 * grown by exactly n per successful launch when nothing remapped the
 * bins.  Every other buffer must equal the shadow exactly.
 *
 * A fork during changes is not a change of content: the parent's results
 * must still be exact, and the child's copy must hold only the parent's
 * words, and must not change while the parent's device keeps writing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_proc.h"
#include "guest_ram.h"
#include "stress.h"
#include "vsvmg.h"
#include "workloads.h"

#define PAGE	     ((uint64_t)GSIM_PAGE_SIZE)
#define NBUF	     4
#define BUF_A	     0
#define BUF_B	     1
#define BUF_H	     2
#define BUF_L	     3
#define BUF_STRIDE   ((uint64_t)1 << 20) /* VA distance between buffers */
#define DATA_BYTES   ((uint64_t)256 << 10)
#define DATA_WORDS   (DATA_BYTES / 4)
#define H_BINS	     (PAGE / 8)
#define L_BYTES	     ((uint64_t)128 << 10)
#define L_NODES	     (L_BYTES / 16)
#define MAX_BUF	     DATA_BYTES
#define CHASE_SHIFT  20 /* node values are multiples of 2^20 */
#define TAG_BIT	     0x80000000u
#define PAT_BIT	     0x8000u /* serial of a CPU pattern word */

#define MAX_RECS     128 /* launches judged per changes action */
#define MAX_OPS	     8	 /* mapping changes per changes action */
#define OP_MAX_PAGES 16

static const uint64_t buf_size[NBUF] = { DATA_BYTES, DATA_BYTES, PAGE,
					 L_BYTES };
static const char *const buf_name[NBUF] = { "A", "B", "H", "L" };

static uint64_t buf_va(unsigned int b)
{
	return GSIM_WL_BASE + b * BUF_STRIDE;
}

/* ---- randomness and time ------------------------------------------ */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*, as the workloads use. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* ---- the engine's state --------------------------------------------- */

struct stress;

/* A simulated process and the CPU's model of its buffers. */
struct sproc {
	struct gsim_proc *p;
	uint32_t pid;
	uint32_t parent_pid; /* 0: not a forked child */
	uint8_t *shadow[NBUF];
};

struct worker {
	struct stress *s;
	uint32_t slot;
	uint64_t main_rng; /* one draw per action: repeatable */
	uint64_t rng;	   /* the current action's own */
	uint32_t gen;	   /* processes this worker made */
	uint32_t serial;   /* fill values */
	uint32_t pattern;  /* CPU pattern ids */
	uint64_t actions;
	uint64_t inval_live; /* atomic: its live contexts' UNMAPs */
	const char *doing;   /* atomic: for stall reports */
	struct sproc proc;
	uint8_t *scratch; /* MAX_BUF: expected contents */
	uint8_t *got;	  /* MAX_BUF: read back */
	pthread_t thread;
};

struct stress {
	struct vsvmg_dev *dev;
	struct gsim_ram *ram;
	struct gsim_stress_config cfg;
	FILE *out;
	uint32_t num_devices;
	uint64_t start_ns;
	uint64_t deadline_ns;
	int stop;   /* atomic */
	int failed; /* atomic */
	pthread_mutex_t fail_lock;
	char why[512];
	/* atomic counters */
	uint64_t actions, kernels, verified, expected_faults, device_faults;
	uint64_t remaps, protects, forks, exits, inval_dead, poison;
	uint64_t migrations; /* MIGRATE-driven moves that succeeded */
	struct worker workers[GSIM_STRESS_MAX_PROCS];
};

static bool stopped(struct stress *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static bool failed(struct stress *s)
{
	return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE);
}

static void set_doing(struct worker *w, const char *what)
{
	__atomic_store_n(&w->doing, what, __ATOMIC_RELAXED);
}

/* Record the first failure and stop every thread; always returns -1. */
static int __attribute__((format(printf, 2, 3)))
st_fail(struct worker *w, const char *fmt, ...)
{
	struct stress *s = w->s;
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->fail_lock);
	if (!s->failed) {
		snprintf(s->why, sizeof(s->why),
			 "process slot %u action %" PRIu64 ": %s", w->slot,
			 w->actions, msg);
		__atomic_store_n(&s->failed, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->fail_lock);
	fprintf(stderr, "stress: FAILURE: slot %u action %" PRIu64 ": %s\n",
		w->slot, w->actions, msg);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	return -1;
}

/* ---- data: tags and patterns ---------------------------------------- */

static uint32_t tag32(uint32_t pid, uint32_t serial)
{
	return TAG_BIT | (pid & 0x7fffu) << 16 | (serial & 0xffffu);
}

/* Word w of CPU pattern id of process pid (A, B; L node values). */
static uint32_t pat32(uint32_t pid, uint32_t id, uint64_t w)
{
	return tag32(pid,
		     PAT_BIT | (id & 0x7fu) << 8 | (uint32_t)((w * 37) & 0xff));
}

static uint64_t pat_bin(uint32_t id, uint64_t i)
{
	return (uint64_t)(id & 0xfffu) << 4 | (i & 15);
}

static uint64_t pat_next(uint32_t id, uint64_t node)
{
	return buf_va(BUF_L) +
	       ((node * 2654435761ull + id * 97ull) % L_NODES) * 16;
}

static uint64_t pat_node_value(uint32_t pid, uint32_t id, uint64_t node)
{
	return (uint64_t)pat32(pid, id, node) << CHASE_SHIFT;
}

/* The bytes of page pg of buffer b under pattern id (zero: all 0). */
static void gen_page(uint32_t pid, unsigned int b, uint64_t pg, uint32_t id,
		     bool zero, uint8_t *out)
{
	uint64_t i;

	if (zero) {
		memset(out, 0, PAGE);
		return;
	}
	if (b == BUF_A || b == BUF_B) {
		uint32_t *w = (uint32_t *)out;

		for (i = 0; i < PAGE / 4; i++)
			w[i] = pat32(pid, id, pg * (PAGE / 4) + i);
	} else if (b == BUF_H) {
		uint64_t *v = (uint64_t *)out;

		for (i = 0; i < H_BINS; i++)
			v[i] = pat_bin(id, i);
	} else {
		uint64_t *n = (uint64_t *)out;

		for (i = 0; i < PAGE / 16; i++) {
			uint64_t node = pg * (PAGE / 16) + i;

			n[2 * i] = pat_next(id, node);
			n[2 * i + 1] = pat_node_value(pid, id, node);
		}
	}
}

/* 0, or a tagged word of pid or its parent. */
static bool word_ok(const struct sproc *sp, uint32_t v)
{
	uint32_t pid = (v >> 16) & 0x7fffu;

	if (!v)
		return true;
	if (!(v & TAG_BIT))
		return false;
	return pid == (sp->pid & 0x7fffu) ||
	       (sp->parent_pid && pid == (sp->parent_pid & 0x7fffu));
}

static const char *word_kind(const struct sproc *sp, uint32_t v)
{
	if (v == 0x01010101u * GSIM_POISON)
		return "POISON: a freed frame";
	if (!v)
		return "zero";
	if (!(v & TAG_BIT))
		return "untagged: not data of any process";
	if (!word_ok(sp, v))
		return "not this process's: another process's, or a mix";
	return v & PAT_BIT ? "a CPU pattern word" : "a fill value";
}

/* ---- kernels -------------------------------------------------------- */

struct kspec {
	uint32_t kernel;
	uint32_t device;
	uint32_t nr_args;
	uint64_t args[5];
	unsigned int reads;  /* buffers read, bit per buffer */
	unsigned int writes; /* buffers written */
	unsigned int dst;    /* fill, copy, gather: written; histogram: H */
	unsigned int src;    /* copy, gather, histogram: read */
	uint64_t doff, soff, ioff; /* element offsets (see kspec_*) */
	uint64_t n, m, k;
	uint32_t value;
	uint64_t head, steps;
	char desc[160];
};

static const char *kernel_name(uint32_t k)
{
	static const char *const names[] = { "?",     "fill",	"copy",
					     "triad", "gather", "histogram",
					     "chase" };

	return k < VSVM_KERNEL_NR ? names[k] : "?";
}

/* Up to max, at least 1; large half the time (longer kernels). */
static uint64_t pick_len(uint64_t *r, uint64_t max)
{
	if (max <= 1)
		return 1;
	if (rnd(r) & 1)
		return max - rnd_below(r, max / 8 + 1);
	return 1 + rnd_below(r, max);
}

static void kspec_pick(struct worker *w, const struct sproc *sp,
		       struct kspec *k)
{
	uint64_t *r = &w->rng;
	unsigned int x = (unsigned int)rnd_below(r, 2);

	memset(k, 0, sizeof(*k));
	k->device = (uint32_t)rnd_below(r, w->s->num_devices);
	switch (rnd_below(r, 5)) {
	case 0:
		k->kernel = VSVM_KERNEL_FILL;
		k->dst = x;
		k->doff = rnd_below(r, DATA_WORDS / 2);
		k->n = pick_len(r, DATA_WORDS - k->doff);
		k->value = tag32(sp->pid, w->serial++ & 0x7fffu);
		k->args[0] = buf_va(k->dst) + k->doff * 4;
		k->args[1] = k->n;
		k->args[2] = k->value;
		k->nr_args = 3;
		k->writes = 1u << k->dst;
		break;
	case 1:
		k->kernel = VSVM_KERNEL_COPY;
		k->src = x;
		k->dst = !x;
		k->soff = rnd_below(r, DATA_WORDS / 2);
		k->doff = rnd_below(r, DATA_WORDS / 2);
		k->n = pick_len(r, DATA_WORDS - (k->soff > k->doff ? k->soff :
								     k->doff));
		k->args[0] = buf_va(k->dst) + k->doff * 4;
		k->args[1] = buf_va(k->src) + k->soff * 4;
		k->args[2] = k->n * 4;
		k->nr_args = 3;
		k->reads = 1u << k->src;
		k->writes = 1u << k->dst;
		break;
	case 2:
		k->kernel = VSVM_KERNEL_GATHER;
		k->src = x;
		k->dst = !x;
		k->doff = rnd_below(r, DATA_WORDS / 4); /* u64 elements */
		k->n = pick_len(r, DATA_WORDS / 2 - k->doff);
		k->soff = rnd_below(r, DATA_WORDS / 4); /* u64 elements */
		k->m = pick_len(r, DATA_WORDS / 2 - k->soff);
		k->ioff = rnd_below(r, DATA_WORDS - k->n + 1); /* u32 words */
		k->args[0] = buf_va(k->dst) + k->doff * 8;
		k->args[1] = buf_va(k->src) + k->soff * 8;
		k->args[2] = buf_va(k->src) + k->ioff * 4;
		k->args[3] = k->n;
		k->args[4] = k->m;
		k->nr_args = 5;
		k->reads = 1u << k->src;
		k->writes = 1u << k->dst;
		break;
	case 3:
		k->kernel = VSVM_KERNEL_HISTOGRAM;
		k->src = x;
		k->dst = BUF_H;
		k->soff = rnd_below(r, DATA_WORDS / 2);
		k->n = pick_len(r, DATA_WORDS - k->soff);
		k->k = 1 + rnd_below(r, H_BINS);
		k->args[0] = buf_va(BUF_H);
		k->args[1] = buf_va(k->src) + k->soff * 4;
		k->args[2] = k->n;
		k->args[3] = k->k;
		k->nr_args = 4;
		k->reads = 1u << k->src;
		k->writes = 1u << BUF_H;
		break;
	default:
		k->kernel = VSVM_KERNEL_CHASE;
		k->head = rnd_below(r, L_NODES);
		k->steps = pick_len(r, L_NODES + 1);
		k->args[0] = buf_va(BUF_L) + k->head * 16;
		k->args[1] = k->steps;
		k->nr_args = 2;
		k->reads = 1u << BUF_L;
		break;
	}
	snprintf(k->desc, sizeof(k->desc),
		 "%s on device %u (args 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64
		 " 0x%" PRIx64 " 0x%" PRIx64 ")",
		 kernel_name(k->kernel), k->device, k->args[0], k->args[1],
		 k->args[2], k->args[3], k->args[4]);
}

/* Bytes [lo, hi) of the written buffer the kernel may write. */
static void write_range(const struct kspec *k, uint64_t *lo, uint64_t *hi)
{
	*lo = *hi = 0;
	switch (k->kernel) {
	case VSVM_KERNEL_FILL:
	case VSVM_KERNEL_COPY:
		*lo = k->doff * 4;
		*hi = (k->doff + k->n) * 4;
		break;
	case VSVM_KERNEL_GATHER:
		*lo = k->doff * 8;
		*hi = (k->doff + k->n) * 8;
		break;
	case VSVM_KERNEL_HISTOGRAM:
		*hi = k->k * 8;
		break;
	}
}

/*
 * What the kernel does, applied to the buffers sh[] (the written one is
 * changed in place); returns the kernel's result, or sets *bad when the
 * model meets something the data should never hold.
 */
static uint64_t model(const struct kspec *k, uint8_t *const sh[NBUF], bool *bad)
{
	uint64_t i, sum = 0;

	switch (k->kernel) {
	case VSVM_KERNEL_FILL: {
		uint32_t *d = (uint32_t *)sh[k->dst] + k->doff;

		for (i = 0; i < k->n; i++)
			d[i] = k->value;
		return k->n;
	}
	case VSVM_KERNEL_COPY:
		memmove(sh[k->dst] + k->doff * 4, sh[k->src] + k->soff * 4,
			k->n * 4);
		return k->n * 4;
	case VSVM_KERNEL_GATHER: {
		uint64_t *d = (uint64_t *)sh[k->dst] + k->doff;
		const uint64_t *s = (const uint64_t *)sh[k->src] + k->soff;
		const uint32_t *idx = (const uint32_t *)sh[k->src] + k->ioff;

		for (i = 0; i < k->n; i++) {
			d[i] = s[idx[i] % k->m];
			sum += d[i];
		}
		return sum;
	}
	case VSVM_KERNEL_HISTOGRAM: {
		uint64_t *bins = (uint64_t *)sh[BUF_H];
		const uint32_t *data = (const uint32_t *)sh[k->src] + k->soff;

		for (i = 0; i < k->n; i++)
			bins[data[i] % k->k]++;
		return k->n;
	}
	case VSVM_KERNEL_CHASE: {
		const uint64_t *l = (const uint64_t *)sh[BUF_L];
		uint64_t ptr = k->args[0];

		for (i = 0; i < k->steps && ptr; i++) {
			uint64_t off = ptr - buf_va(BUF_L);

			if (ptr < buf_va(BUF_L) || off >= L_BYTES || off % 16) {
				*bad = true;
				return sum;
			}
			sum += l[off / 8 + 1];
			ptr = l[off / 8];
		}
		return sum;
	}
	}
	*bad = true;
	return 0;
}

/* The model's result on the current shadow, leaving the shadow alone. */
static uint64_t model_result(struct worker *w, const struct sproc *sp,
			     const struct kspec *k)
{
	uint8_t *sh[NBUF];
	bool bad = false;
	unsigned int b;

	for (b = 0; b < NBUF; b++)
		sh[b] = sp->shadow[b];
	if (k->writes) {
		memcpy(w->scratch, sp->shadow[k->dst], buf_size[k->dst]);
		sh[k->dst] = w->scratch;
	}
	return model(k, sh, &bad);
}

/* ---- CPU side: reading, writing, comparing -------------------------- */

static int read_buf(struct worker *w, struct sproc *sp, unsigned int b,
		    uint8_t *out)
{
	int ret = gsim_mm_read(sp->p->mm, buf_va(b), out, buf_size[b]);

	if (ret)
		return st_fail(w, "pid %u: CPU read of buffer %s failed: %d",
			       sp->pid, buf_name[b], ret);
	return 0;
}

/* Compare buffer b as read back with what it must hold, exactly. */
static int compare_buf(struct worker *w, const struct sproc *sp, unsigned int b,
		       const uint8_t *got, const uint8_t *want, uint64_t lo,
		       uint64_t hi, const char *when)
{
	uint64_t off, step = b == BUF_A || b == BUF_B ? 4 : 8;

	if (lo >= hi || !memcmp(got + lo, want + lo, hi - lo))
		return 0;
	for (off = lo; off + step < hi; off += step)
		if (memcmp(got + off, want + off, step))
			break;
	if (step == 4) {
		uint32_t g, x;

		memcpy(&g, got + off, 4);
		memcpy(&x, want + off, 4);
		return st_fail(w,
			       "pid %u: %s: buffer %s word at VA 0x%" PRIx64
			       " is 0x%08x (%s), want 0x%08x",
			       sp->pid, when, buf_name[b], buf_va(b) + off, g,
			       word_kind(sp, g), x);
	} else {
		uint64_t g, x;

		memcpy(&g, got + off, 8);
		memcpy(&x, want + off, 8);
		return st_fail(w,
			       "pid %u: %s: buffer %s at VA 0x%" PRIx64
			       " is 0x%016" PRIx64 ", want 0x%016" PRIx64 "%s",
			       sp->pid, when, buf_name[b], buf_va(b) + off, g,
			       x,
			       g == 0x0101010101010101ull * GSIM_POISON ?
				       " (POISON: a freed frame)" :
				       "");
	}
}

/* Every buffer must equal the shadow (want[b] instead, where given). */
static int verify_all(struct worker *w, struct sproc *sp,
		      uint8_t *const want[NBUF], const char *when)
{
	unsigned int b;

	for (b = 0; b < NBUF; b++) {
		const uint8_t *x = want && want[b] ? want[b] : sp->shadow[b];

		if (read_buf(w, sp, b, w->got) ||
		    compare_buf(w, sp, b, w->got, x, 0, buf_size[b], when))
			return -1;
	}
	return 0;
}

/*
 * Store pages [p0, p1) of buffer b as the CPU does, 8 aligned bytes at a
 * time (a device reading concurrently sees old or new words, never torn
 * ones), and put them in the shadow.
 */
static int cpu_store(struct worker *w, struct sproc *sp, unsigned int b,
		     uint64_t p0, uint64_t p1, uint32_t id, bool zero)
{
	uint64_t pg;

	for (pg = p0; pg < p1; pg++) {
		uint8_t *sh = sp->shadow[b] + pg * PAGE;
		uint64_t *src = (uint64_t *)sh;

		gen_page(sp->pid, b, pg, id, zero, sh);
		/*
		 * Under the mm lock, word by word (gsim_mm_write): a pointer
		 * to the frame could go stale under us when the event thread
		 * migrates the page at the host's request.
		 */
		if (gsim_mm_write(sp->p->mm, buf_va(b) + pg * PAGE, src, PAGE))
			return st_fail(w,
				       "pid %u: CPU write of buffer %s page "
				       "%" PRIu64 " faulted",
				       sp->pid, buf_name[b], pg);
	}
	return 0;
}

/* ---- processes ------------------------------------------------------ */

static uint32_t new_pid(struct worker *w)
{
	uint32_t n = w->s->cfg.processes;

	return 100 + w->slot + n * w->gen++;
}

static int sproc_alloc(struct sproc *sp)
{
	unsigned int b;

	for (b = 0; b < NBUF; b++) {
		sp->shadow[b] = calloc(1, buf_size[b]);
		if (!sp->shadow[b])
			return -ENOMEM;
	}
	return 0;
}

static void sproc_free(struct sproc *sp)
{
	unsigned int b;

	for (b = 0; b < NBUF; b++) {
		free(sp->shadow[b]);
		sp->shadow[b] = NULL;
	}
}

static void sproc_exit(struct worker *w, struct sproc *sp)
{
	struct vsvmg_ctx_stats st;

	if (!sp->p)
		return;
	vsvmg_ctx_stats(sp->p->ctx, &st);
	add(&w->s->inval_dead, st.invalidations);
	if (!sp->parent_pid)
		__atomic_store_n(&w->inval_live, 0, __ATOMIC_RELAXED);
	gsim_proc_exit(sp->p);
	sp->p = NULL;
	sproc_free(sp);
}

/* A new process: the four buffers mapped and given their first data. */
static int sproc_create(struct worker *w, struct sproc *sp)
{
	uint64_t *l, i, *perm;
	unsigned int b;
	int ret;

	memset(sp, 0, sizeof(*sp));
	sp->pid = new_pid(w);
	if (sproc_alloc(sp))
		return st_fail(w, "out of memory");
	ret = gsim_proc_create(w->s->dev, w->s->ram, sp->pid, &sp->p);
	if (ret) {
		sproc_free(sp);
		return st_fail(w, "creating process %u: %s", sp->pid,
			       strerror(-ret));
	}
	for (b = 0; b < NBUF; b++) {
		ret = gsim_proc_mmap_fixed(sp->p, buf_va(b), buf_size[b]);
		if (ret)
			return st_fail(w, "pid %u: mmap of buffer %s: %s",
				       sp->pid, buf_name[b], strerror(-ret));
	}
	if (cpu_store(w, sp, BUF_A, 0, DATA_BYTES / PAGE, 0, false) ||
	    cpu_store(w, sp, BUF_B, 0, DATA_BYTES / PAGE, 1, false))
		return -1;
	/* H stays zero (untouched pages); L: one chain in random order. */
	perm = malloc(L_NODES * sizeof(*perm));
	if (!perm)
		return st_fail(w, "out of memory");
	for (i = 0; i < L_NODES; i++)
		perm[i] = i;
	for (i = L_NODES - 1; i > 0; i--) {
		uint64_t j = rnd_below(&w->rng, i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	l = (uint64_t *)sp->shadow[BUF_L];
	for (i = 0; i < L_NODES; i++) {
		l[perm[i] * 2] =
			i + 1 < L_NODES ? buf_va(BUF_L) + perm[i + 1] * 16 : 0;
		l[perm[i] * 2 + 1] =
			(uint64_t)tag32(sp->pid,
					(uint32_t)rnd(&w->rng) & 0x7fffu)
			<< CHASE_SHIFT;
	}
	free(perm);
	ret = gsim_mm_write(sp->p->mm, buf_va(BUF_L), l, L_BYTES);
	if (ret)
		return st_fail(w, "pid %u: writing the list: %d", sp->pid, ret);
	return 0;
}

/* ---- one kernel, checked exactly ------------------------------------ */

static int launch(struct worker *w, struct sproc *sp, const struct kspec *k,
		  struct vsvmg_launch_result *lr)
{
	int ret;

	memset(lr, 0, sizeof(*lr));
	ret = vsvmg_ctx_launch(sp->p->ctx, k->kernel, k->device,
			       (const __u64 *)k->args, k->nr_args, lr);
	add(&w->s->kernels, 1);
	add(&w->s->device_faults, lr->faults);
	return ret;
}

/*
 * Run k on nothing but the CPU's shadow; no mapping of its buffers may
 * change meanwhile.  Status, result and every buffer must be exact.
 */
static int run_strict(struct worker *w, struct sproc *sp, const struct kspec *k,
		      const char *when)
{
	struct vsvmg_launch_result lr;
	uint8_t *want[NBUF] = { NULL };
	uint8_t *sh[NBUF];
	bool bad = false;
	uint64_t expect;
	unsigned int b;
	int ret;

	for (b = 0; b < NBUF; b++)
		sh[b] = sp->shadow[b];
	if (k->writes) {
		memcpy(w->scratch, sp->shadow[k->dst], buf_size[k->dst]);
		sh[k->dst] = want[k->dst] = w->scratch;
	}
	expect = model(k, sh, &bad);
	if (bad)
		return st_fail(w, "pid %u: %s: the model met a bad node",
			       sp->pid, when);
	ret = launch(w, sp, k, &lr);
	if (ret)
		return st_fail(w, "pid %u: %s: %s: launch failed: %s", sp->pid,
			       when, k->desc, strerror(-ret));
	if (lr.status != VSVM_OK)
		return st_fail(w,
			       "pid %u: %s: %s: status %u at VA 0x%" PRIx64
			       " with no mapping change",
			       sp->pid, when, k->desc, lr.status,
			       (uint64_t)lr.fault_va);
	if (lr.result != expect)
		return st_fail(
			w,
			"pid %u: %s: %s: result 0x%" PRIx64 ", want 0x%" PRIx64,
			sp->pid, when, k->desc, (uint64_t)lr.result, expect);
	if (verify_all(w, sp, want, when))
		return -1;
	if (k->writes)
		memcpy(sp->shadow[k->dst], w->scratch, buf_size[k->dst]);
	add(&w->s->verified, 1);
	return 0;
}

/* ---- mapping changes ------------------------------------------------ */

enum op_kind {
	OP_REMAP,   /* munmap, a pause, mmap again + new data */
	OP_REPLACE, /* mmap MAP_FIXED over + new data: no hole */
	OP_RO,	    /* mprotect read-only, until the action ends */
	OP_NONE,    /* mprotect PROT_NONE, a pause, back to read-write */
	OP_WRITE,   /* the CPU writes new data */
	OP_FORK,    /* a child runs a kernel on the COW copy and exits */
	OP_SLEEP,
	OP_MIGRATE, /* to a device or back; changes neither data nor access */
};

static const char *const op_name[] = { "remap",	    "replace",	 "read-only",
				       "prot-none", "cpu-write", "fork",
				       "sleep",	    "migrate" };

struct op_rec {
	enum op_kind kind;
	unsigned int buf;
	uint64_t p0, p1; /* pages of buf */
	uint32_t id;	 /* pattern */
	bool zero;	 /* new data is zero */
	uint64_t o0, o1; /* ticks; o1 UINT64_MAX while in force */
	uint64_t e0, e1; /* ticks: the range surely was unmapped,
				   PROT_NONE or read-only from e0 to e1 */
	uint64_t expect; /* model result after it (gather, chase) */
};

static bool op_changes_content(const struct op_rec *op)
{
	return op->kind == OP_REMAP || op->kind == OP_REPLACE ||
	       op->kind == OP_WRITE;
}

static bool op_covers(const struct op_rec *op, unsigned int b, uint64_t off)
{
	return op_changes_content(op) && op->buf == b && off / PAGE >= op->p0 &&
	       off / PAGE < op->p1;
}

/* The 32-bit word the op left at byte off of A or B (0 if it wrote 0). */
static uint32_t op_word(const struct sproc *sp, const struct op_rec *op,
			uint64_t off)
{
	return op->zero ? 0 : pat32(sp->pid, op->id, off / 4);
}

struct launch_rec {
	uint64_t t0, t1;
	int err;
	uint32_t status;
	uint64_t result, fault_va;
};

/* A "changes" action: one kernel relaunched while mappings change. */
struct run {
	struct worker *w;
	struct sproc *sp;
	struct kspec k;
	uint64_t tick; /* atomic */
	int stop;      /* atomic */
	int done;      /* atomic: the launcher finished */
	struct launch_rec rec[MAX_RECS];
	uint32_t nrec; /* written by the launcher, read after join */
	struct op_rec op[MAX_OPS];
	uint32_t nop;
	uint8_t *before[NBUF]; /* the shadow when the action began */
	uint64_t expect0;      /* model result then */
	unsigned int ro_bufs;  /* buffers with read-only ranges */
};

static uint64_t tick(struct run *run)
{
	return __atomic_fetch_add(&run->tick, 1, __ATOMIC_SEQ_CST);
}

static bool overlaps(const struct op_rec *op, const struct launch_rec *r)
{
	return op->o0 < r->t1 && r->t0 < op->o1;
}

static void pick_range(struct worker *w, unsigned int b, uint64_t *p0,
		       uint64_t *p1)
{
	uint64_t np = buf_size[b] / PAGE, max;

	*p0 = rnd_below(&w->rng, np);
	max = np - *p0 < OP_MAX_PAGES ? np - *p0 : OP_MAX_PAGES;
	*p1 = *p0 + 1 + rnd_below(&w->rng, max);
}

static int fork_child(struct worker *w, struct sproc *parent, struct run *run,
		      bool parent_first);
static void dump_run(struct run *run);
static bool word_legal(const struct run *run, uint64_t off, uint32_t v);

/*
 * Carry out op (kind, buf, range and data chosen) on sp; ticks if run.
 * An OP_RO stays in force: the caller restores it.
 */
static int do_op(struct worker *w, struct sproc *sp, struct run *run,
		 struct op_rec *op)
{
	uint64_t va = buf_va(op->buf) + op->p0 * PAGE;
	uint64_t len = (op->p1 - op->p0) * PAGE;
	struct gsim_mm *mm = sp->p->mm;
	int ret = 0;

	op->o0 = run ? tick(run) : 0;
	switch (op->kind) {
	case OP_REMAP:
		ret = gsim_mm_munmap(mm, va, len);
		if (ret)
			break;
		op->e0 = run ? tick(run) : 0;
		usleep((useconds_t)rnd_below(&w->rng, 150));
		op->e1 = run ? tick(run) : 0;
		/* fall through */
	case OP_REPLACE:
		ret = gsim_proc_mmap_fixed(sp->p, va, len);
		if (ret)
			break;
		add(&w->s->remaps, 1);
		if (op->zero) /* leave the pages to be faulted in */
			memset(sp->shadow[op->buf] + op->p0 * PAGE, 0, len);
		else if (cpu_store(w, sp, op->buf, op->p0, op->p1, op->id,
				   false))
			return -1;
		break;
	case OP_WRITE:
		if (cpu_store(w, sp, op->buf, op->p0, op->p1, op->id, op->zero))
			return -1;
		break;
	case OP_RO:
		ret = gsim_mm_mprotect(mm, va, len, GSIM_PROT_READ);
		add(&w->s->protects, 1);
		op->e0 = run ? tick(run) : 0;
		op->e1 = UINT64_MAX;
		break;
	case OP_NONE:
		ret = gsim_mm_mprotect(mm, va, len, GSIM_PROT_NONE);
		if (ret)
			break;
		add(&w->s->protects, 1);
		op->e0 = run ? tick(run) : 0;
		usleep((useconds_t)rnd_below(&w->rng, 200));
		op->e1 = run ? tick(run) : 0;
		ret = gsim_mm_mprotect(mm, va, len,
				       GSIM_PROT_READ | GSIM_PROT_WRITE);
		break;
	case OP_FORK:
		if (fork_child(w, sp, run, false))
			return -1;
		break;
	case OP_SLEEP:
		usleep((useconds_t)(50 + rnd_below(&w->rng, 500)));
		break;
	case OP_MIGRATE: {
		uint32_t to = rnd_below(&w->rng, 3) ?
				      (uint32_t)rnd_below(&w->rng,
							  w->s->num_devices) :
				      VSVM_LOC_SYSTEM;

		/*
		 * What cannot move stays (no device memory offered, device
		 * full, invalidations racing): none of it is a failure.
		 */
		ret = vsvmg_ctx_migrate(sp->p->ctx, va, len, to, NULL);
		if (!ret)
			add(&w->s->migrations, 1);
		if (ret == -EOPNOTSUPP || ret == -ENOSPC || ret == -EAGAIN)
			ret = 0;
		break;
	}
	}
	if (ret)
		return st_fail(w,
			       "pid %u: %s of buffer %s pages [%" PRIu64
			       ", %" PRIu64 "): %s",
			       sp->pid, op_name[op->kind], buf_name[op->buf],
			       op->p0, op->p1, strerror(-ret));
	op->o1 = run ? (op->kind == OP_RO ? UINT64_MAX : tick(run)) : 0;
	return 0;
}

/* Choose a change; kernel_bufs are preferred targets. */
static void pick_op(struct worker *w, struct sproc *sp,
		    unsigned int kernel_bufs, unsigned int ro_bufs,
		    bool allow_fork, struct op_rec *op)
{
	uint64_t *r = &w->rng;
	uint64_t x = rnd_below(r, 100);
	unsigned int b;

	memset(op, 0, sizeof(*op));
	do {
		b = (unsigned int)rnd_below(r, NBUF);
	} while (kernel_bufs && rnd_below(r, 4) && !(kernel_bufs & 1u << b));
	op->buf = b;
	pick_range(w, b, &op->p0, &op->p1);
	op->id = ++w->pattern;
	op->zero = rnd_below(r, 5) == 0;
	if (x < 30)
		op->kind = OP_REMAP;
	else if (x < 50)
		op->kind = OP_REPLACE;
	else if (x < 65)
		op->kind = OP_RO;
	else if (x < 75)
		op->kind = OP_NONE;
	else if (x < 83)
		op->kind = OP_WRITE;
	else if (x < 91 && allow_fork && !sp->parent_pid)
		op->kind = OP_FORK;
	else if (x < 96)
		op->kind = OP_MIGRATE;
	else
		op->kind = OP_SLEEP;
	/* The CPU cannot write a read-only range: replace it instead. */
	if (op->kind == OP_WRITE && (ro_bufs & 1u << b))
		op->kind = OP_REPLACE;
}

/* ---- fork ----------------------------------------------------------- */

/*
 * Half the time: the CPU writes pages the kernel k just used, shared
 * copy-on-write with a live parent or child, then k runs again.  The
 * write breaks copy-on-write; the device, which mapped the shared frames
 * (read-only) for the first run, must now reach the new ones.
 */
static int cow_rerun(struct worker *w, struct sproc *sp, const struct kspec *k,
		     const char *who)
{
	unsigned int used = k->reads | k->writes, b;
	uint64_t p0, p1;
	char when[64];

	if (rnd_below(&w->rng, 2))
		return 0;
	do {
		b = (unsigned int)rnd_below(&w->rng, NBUF);
	} while (used && rnd_below(&w->rng, 4) && !(used & 1u << b));
	pick_range(w, b, &p0, &p1);
	if (cpu_store(w, sp, b, p0, p1, ++w->pattern, false))
		return -1;
	snprintf(when, sizeof(when), "%s's kernel again after a CPU write",
		 who);
	return run_strict(w, sp, k, when);
}

/*
 * Fork sp; the child must see exactly the parent's data (where the
 * parent's running kernel, if any, writes: only what may legitimately be
 * there), then runs a kernel of its own, exactly checked, maybe writes
 * shared pages with the CPU and runs it again (cow_rerun), and exits.
 * parent_first: the parent first does the same (no kernel of the parent
 * may be running), and the child's copy must not change meanwhile.
 */
static int fork_child(struct worker *w, struct sproc *parent, struct run *run,
		      bool parent_first)
{
	struct sproc c = { .parent_pid = parent->pid };
	const char *prev = w->doing;
	struct kspec k;
	unsigned int b;
	uint64_t i;
	int ret;

	set_doing(w, "fork");
	c.pid = new_pid(w);
	if (sproc_alloc(&c)) {
		sproc_free(&c);
		return st_fail(w, "out of memory");
	}
	ret = gsim_proc_fork(parent->p, w->s->dev, c.pid, &c.p);
	if (ret) {
		sproc_free(&c);
		return st_fail(w, "pid %u: fork: %s", parent->pid,
			       strerror(-ret));
	}
	add(&w->s->forks, 1);
	/* The child's own business: it inherited read-only ranges. */
	for (b = 0; b < NBUF; b++)
		if (gsim_mm_mprotect(c.p->mm, buf_va(b), buf_size[b],
				     GSIM_PROT_READ | GSIM_PROT_WRITE))
			goto fail_exit;
	for (b = 0; b < NBUF; b++) {
		if (read_buf(w, &c, b, c.shadow[b]))
			goto out_exit;
		if (!run || !(run->k.writes & 1u << b)) {
			if (compare_buf(w, &c, b, c.shadow[b],
					parent->shadow[b], 0, buf_size[b],
					"child's copy right after fork"))
				goto out_exit;
			continue;
		}
		/* The parent's kernel is writing it: what may be there. */
		for (i = 0; b != BUF_H && i < buf_size[b] / 4; i++) {
			uint32_t v = ((uint32_t *)c.shadow[b])[i];

			if (!word_legal(run, i * 4, v)) {
				uint32_t pw = 0;

				gsim_mm_read(parent->p->mm, buf_va(b) + i * 4,
					     &pw, 4);
				dump_run(run);
				st_fail(w,
					"pid %u: child's copy of buffer %s "
					"at VA 0x%" PRIx64 " is 0x%08x (%s); "
					"the parent's word is 0x%08x, was "
					"0x%08x",
					c.pid, buf_name[b], buf_va(b) + i * 4,
					v, word_kind(&c, v), pw,
					((uint32_t *)run->before[b])[i]);
				goto out_exit;
			}
		}
		for (i = 0; b == BUF_H && i < H_BINS; i++) {
			uint64_t v = ((uint64_t *)c.shadow[b])[i];

			if (v >> 40) {
				st_fail(w,
					"pid %u: child's bin %" PRIu64
					" is 0x%" PRIx64,
					c.pid, i, v);
				goto out_exit;
			}
		}
	}
	if (parent_first) {
		set_doing(w, "fork: parent kernel");
		kspec_pick(w, parent, &k);
		if (run_strict(w, parent, &k, "parent's kernel after fork") ||
		    cow_rerun(w, parent, &k, "parent") ||
		    verify_all(w, &c, NULL,
			       "child's copy after the parent's "
			       "kernel"))
			goto out_exit;
	}
	set_doing(w, "fork: child kernel");
	kspec_pick(w, &c, &k);
	if (run_strict(w, &c, &k, "child's kernel") ||
	    cow_rerun(w, &c, &k, "child"))
		goto out_exit;
	sproc_exit(w, &c);
	set_doing(w, prev);
	return 0;

fail_exit:
	st_fail(w, "pid %u: mprotect in the child failed", c.pid);
out_exit:
	sproc_exit(w, &c);
	return -1;
}

/* ---- actions -------------------------------------------------------- */

static int act_kernel(struct worker *w)
{
	struct kspec k;

	set_doing(w, "kernel");
	kspec_pick(w, &w->proc, &k);
	return run_strict(w, &w->proc, &k, "kernel");
}

static int act_idle_change(struct worker *w)
{
	struct sproc *sp = &w->proc;
	struct op_rec op;

	set_doing(w, "idle change");
	pick_op(w, sp, 0, 0, false, &op);
	if (do_op(w, sp, NULL, &op))
		return -1;
	if (op.kind == OP_RO &&
	    gsim_mm_mprotect(sp->p->mm, buf_va(op.buf), buf_size[op.buf],
			     GSIM_PROT_READ | GSIM_PROT_WRITE))
		return st_fail(w, "pid %u: mprotect back failed", sp->pid);
	return 0;
}

static int act_rewrite(struct worker *w)
{
	struct sproc *sp = &w->proc;
	struct op_rec op = { .kind = OP_WRITE };

	set_doing(w, "rewrite");
	op.buf = (unsigned int)rnd_below(&w->rng, NBUF);
	pick_range(w, op.buf, &op.p0, &op.p1);
	op.id = ++w->pattern;
	return do_op(w, sp, NULL, &op);
}

static int act_fork(struct worker *w)
{
	return fork_child(w, &w->proc, NULL, rnd_below(&w->rng, 2));
}

static int act_exit(struct worker *w)
{
	set_doing(w, "exit");
	sproc_exit(w, &w->proc);
	add(&w->s->exits, 1);
	return sproc_create(w, &w->proc);
}

static void *launcher(void *arg)
{
	struct run *run = arg;

	while (!__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE) &&
	       run->nrec < MAX_RECS) {
		struct launch_rec *r = &run->rec[run->nrec];
		struct vsvmg_launch_result lr;

		r->t0 = tick(run);
		r->err = launch(run->w, run->sp, &run->k, &lr);
		r->t1 = tick(run);
		r->status = lr.status;
		r->result = lr.result;
		r->fault_va = lr.fault_va;
		run->nrec++;
		if (r->err)
			break;
	}
	__atomic_store_n(&run->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void dump_run(struct run *run)
{
	uint32_t i;

	fprintf(stderr, "stress: the action: pid %u, %s\n", run->sp->pid,
		run->k.desc);
	for (i = 0; i < run->nop; i++) {
		const struct op_rec *op = &run->op[i];

		fprintf(stderr,
			"  change %u: %s buffer %s pages [%" PRIu64 ", %" PRIu64
			") (VA 0x%" PRIx64 ") data %s ticks %" PRIu64
			"..%" PRId64 "\n",
			i, op_name[op->kind], buf_name[op->buf], op->p0, op->p1,
			buf_va(op->buf) + op->p0 * PAGE,
			op->zero ? "zero" : "pattern", op->o0,
			op->o1 == UINT64_MAX ? (int64_t)-1 : (int64_t)op->o1);
	}
	for (i = 0; i < run->nrec; i++) {
		const struct launch_rec *r = &run->rec[i];

		fprintf(stderr,
			"  launch %u: ticks %" PRIu64 "..%" PRIu64
			" err %d status %u result 0x%" PRIx64
			" fault_va 0x%" PRIx64 "\n",
			i, r->t0, r->t1, r->err, r->status, r->result,
			r->fault_va);
	}
}

/* Whether an overlapping change explains VSVM_ERR_FAULT at r->fault_va. */
static bool fault_explained(const struct run *run, const struct launch_rec *r)
{
	uint32_t i;

	for (i = 0; i < run->nop; i++) {
		const struct op_rec *op = &run->op[i];
		uint64_t lo = buf_va(op->buf) + op->p0 * PAGE;
		uint64_t hi = buf_va(op->buf) + op->p1 * PAGE;
		unsigned int bit = 1u << op->buf;

		if (!overlaps(op, r) || r->fault_va < lo || r->fault_va >= hi)
			continue;
		if ((op->kind == OP_REMAP || op->kind == OP_NONE) &&
		    ((run->k.reads | run->k.writes) & bit))
			return true;
		if (op->kind == OP_RO && (run->k.writes & bit))
			return true;
	}
	return false;
}

/* Whether a content change of buffer b overlapped launch r. */
static bool content_changed_during(const struct run *run, unsigned int b,
				   const struct launch_rec *r)
{
	uint32_t i;

	for (i = 0; i < run->nop; i++)
		if (run->op[i].buf == b && op_changes_content(&run->op[i]) &&
		    overlaps(&run->op[i], r))
			return true;
	return false;
}

/* The model's result for a launch that began at t0 with no overlap. */
static uint64_t expect_at(const struct run *run, uint64_t t0)
{
	uint64_t e = run->expect0;
	uint32_t i;

	for (i = 0; i < run->nop; i++)
		if (op_changes_content(&run->op[i]) && run->op[i].o1 < t0)
			e = run->op[i].expect;
	return e;
}

/*
 * Whether a launch of k that succeeded certainly touched page pg of
 * buffer b: every element of these ranges is accessed (gather's and
 * chase's other reads depend on the data and are left out).
 */
static bool touches(const struct kspec *k, unsigned int b, uint64_t pg,
		    bool write)
{
	uint64_t lo, hi;

	if (k->writes & 1u << b) {
		write_range(k, &lo, &hi);
		if (k->kernel == VSVM_KERNEL_HISTOGRAM)
			hi = 8; /* some bin of the page, at least */
		if (lo < hi && pg >= lo / PAGE && pg <= (hi - 1) / PAGE)
			return true;
	}
	if (write)
		return false;
	switch (k->kernel) {
	case VSVM_KERNEL_COPY:
	case VSVM_KERNEL_HISTOGRAM:
		lo = k->soff * 4;
		hi = (k->soff + k->n) * 4;
		break;
	case VSVM_KERNEL_GATHER:
		lo = k->ioff * 4;
		hi = (k->ioff + k->n) * 4;
		break;
	case VSVM_KERNEL_CHASE:
		return b == BUF_L && pg == k->head * 16 / PAGE;
	default:
		return false;
	}
	return b == k->src && pg >= lo / PAGE && pg <= (hi - 1) / PAGE;
}

/*
 * Whether a change after the read-only op (begun before tick t) made page
 * pg writable again: a remap, or PROT_NONE and back to read-write.
 */
static bool remapped_after(const struct run *run, const struct op_rec *op,
			   uint64_t pg, uint64_t t)
{
	uint32_t i;

	for (i = 0; i < run->nop; i++) {
		const struct op_rec *o = &run->op[i];

		if ((o->kind == OP_REMAP || o->kind == OP_REPLACE ||
		     o->kind == OP_NONE) &&
		    o->buf == op->buf && o->o0 > op->o0 && o->o0 < t &&
		    pg >= o->p0 && pg < o->p1)
			return true;
	}
	return false;
}

/*
 * A launch that succeeded must not have reached a page that was read-only
 * (for its writes), PROT_NONE or unmapped for the whole of its run.
 * Return the offending op, or NULL.
 */
static const struct op_rec *forbidden_access(const struct run *run,
					     const struct launch_rec *r,
					     uint64_t *page)
{
	uint32_t i;
	uint64_t pg;

	for (i = 0; i < run->nop; i++) {
		const struct op_rec *op = &run->op[i];
		bool write;

		if (op->kind != OP_RO && op->kind != OP_NONE &&
		    op->kind != OP_REMAP)
			continue;
		if (!(op->e0 < r->t0 && r->t1 < op->e1))
			continue;
		write = op->kind == OP_RO;
		for (pg = op->p0; pg < op->p1; pg++) {
			if (!touches(&run->k, op->buf, pg, write))
				continue;
			if (op->kind == OP_RO &&
			    remapped_after(run, op, pg, r->t1))
				continue;
			*page = pg;
			return op;
		}
	}
	return NULL;
}

static int check_forbidden(struct run *run, const struct launch_rec *r,
			   uint32_t i)
{
	const struct op_rec *op;
	uint64_t pg = 0;

	op = forbidden_access(run, r, &pg);
	if (!op)
		return 0;
	return st_fail(run->w,
		       "pid %u: %s: launch %u succeeded, yet it reached VA "
		       "0x%" PRIx64 " which was %s all the while it ran",
		       run->sp->pid, run->k.desc, i,
		       buf_va(op->buf) + pg * PAGE,
		       op->kind == OP_RO   ? "read-only" :
		       op->kind == OP_NONE ? "PROT_NONE" :
					     "unmapped");
}

static int judge_launches(struct run *run, uint64_t *nok, uint64_t *nfault)
{
	struct worker *w = run->w;
	const struct kspec *k = &run->k;
	uint32_t i;

	*nok = *nfault = 0;
	for (i = 0; i < run->nrec; i++) {
		const struct launch_rec *r = &run->rec[i];

		if (r->err)
			return st_fail(w, "pid %u: %s: launch %u failed: %s",
				       run->sp->pid, k->desc, i,
				       strerror(-r->err));
		if (r->status == VSVM_ERR_FAULT) {
			if (!fault_explained(run, r))
				return st_fail(w,
					       "pid %u: %s: launch %u: "
					       "VSVM_ERR_FAULT at VA 0x%" PRIx64
					       " that no change unmapped or "
					       "protected",
					       run->sp->pid, k->desc, i,
					       r->fault_va);
			(*nfault)++;
			add(&w->s->expected_faults, 1);
			continue;
		}
		if (r->status != VSVM_OK)
			return st_fail(w,
				       "pid %u: %s: launch %u: status %u at "
				       "VA 0x%" PRIx64,
				       run->sp->pid, k->desc, i, r->status,
				       r->fault_va);
		(*nok)++;
		if (check_forbidden(run, r, i))
			return -1;
		switch (k->kernel) {
		case VSVM_KERNEL_FILL:
		case VSVM_KERNEL_HISTOGRAM:
			if (r->result != k->n)
				goto bad_result;
			break;
		case VSVM_KERNEL_COPY:
			if (r->result != k->n * 4)
				goto bad_result;
			break;
		case VSVM_KERNEL_GATHER:
		case VSVM_KERNEL_CHASE: {
			unsigned int rb =
				k->kernel == VSVM_KERNEL_CHASE ? BUF_L : k->src;

			if (!content_changed_during(run, rb, r)) {
				if (r->result != expect_at(run, r->t0))
					goto bad_result;
				add(&w->s->verified, 1);
			} else if (k->kernel == VSVM_KERNEL_CHASE &&
				   r->result % (1ull << CHASE_SHIFT)) {
				goto bad_result;
			}
			break;
		}
		}
		continue;
bad_result:
		return st_fail(w,
			       "pid %u: %s: launch %u: result 0x%" PRIx64
			       " is wrong (want 0x%" PRIx64 " if nothing "
			       "changed)",
			       run->sp->pid, k->desc, i, r->result,
			       expect_at(run, r->t0));
	}
	return 0;
}

/* Whether a content change that could still matter to last touched off. */
static bool late_cover(const struct run *run, const struct launch_rec *last,
		       unsigned int b, uint64_t off)
{
	uint32_t i;

	for (i = 0; i < run->nop; i++)
		if (op_covers(&run->op[i], b, off) &&
		    (!last || run->op[i].o1 > last->t0))
			return true;
	return false;
}

/* Add to c[] the words changes of this run left at byte off of b. */
static uint32_t op_values(const struct run *run, unsigned int b, uint64_t off,
			  uint32_t *c, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < run->nop; i++) {
		const struct op_rec *op = &run->op[i];

		if (!op_covers(op, b, off))
			continue;
		c[n++] = op_word(run->sp, op, off);
		if (op->kind != OP_WRITE)
			c[n++] = 0; /* mapped afresh, not yet written */
	}
	return n;
}

static bool one_of(uint32_t v, const uint32_t *c, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (v == c[i])
			return true;
	return false;
}

/*
 * Whether each byte of v is that byte of one of c[].  The device copies
 * with memmove, which may move a word in more than one access, so a copy
 * racing with a CPU write can legitimately leave a word made of both.
 */
static bool bytes_from(uint32_t v, const uint32_t *c, uint32_t n)
{
	uint32_t i, j;

	for (j = 0; j < 32; j += 8) {
		for (i = 0; i < n; i++)
			if (((v ^ c[i]) >> j & 0xff) == 0)
				break;
		if (i == n)
			return false;
	}
	return true;
}

/*
 * Whether v may legitimately be the word at byte off of the buffer the
 * run's kernel writes (A or B), with launches and changes racing: its old
 * value, what a change left there, or what the kernel may have put there.
 */
static bool word_legal(const struct run *run, uint64_t off, uint32_t v)
{
	const struct kspec *k = &run->k;
	uint32_t c[4 + 4 * MAX_OPS], n = 0;
	uint64_t lo, hi, soff;

	memcpy(&c[n++], run->before[k->dst] + off, 4);
	n = op_values(run, k->dst, off, c, n);
	write_range(k, &lo, &hi);
	if (off < lo || off >= hi)
		return one_of(v, c, n);
	switch (k->kernel) {
	case VSVM_KERNEL_FILL:
		c[n++] = k->value;
		return one_of(v, c, n);
	case VSVM_KERNEL_COPY:
		soff = off - lo + k->soff * 4;
		memcpy(&c[n++], run->before[k->src] + soff, 4);
		memcpy(&c[n++], run->sp->shadow[k->src] + soff, 4);
		n = op_values(run, k->src, soff, c, n);
		return bytes_from(v, c, n);
	case VSVM_KERNEL_GATHER:
		/* Any word of the source: of this process, or 0. */
		return word_ok(run->sp, v);
	}
	return one_of(v, c, n);
}

static int bad_word(struct run *run, unsigned int b, uint64_t off, uint32_t v,
		    const char *rule)
{
	return st_fail(run->w,
		       "pid %u: %s: buffer %s word at VA 0x%" PRIx64
		       " is 0x%08x (%s): %s",
		       run->sp->pid, run->k.desc, buf_name[b], buf_va(b) + off,
		       v, word_kind(run->sp, v), rule);
}

/* Judge the written range of the written buffer, as read back in got. */
static int judge_written(struct run *run, const uint8_t *got, uint64_t nok,
			 uint64_t nfault)
{
	const struct kspec *k = &run->k;
	struct sproc *sp = run->sp;
	const struct launch_rec *last = NULL;
	const uint8_t *sfinal = sp->shadow[k->src];
	const uint8_t *dbefore = run->before[k->dst];
	uint64_t i;

	if (run->nrec && !run->rec[run->nrec - 1].err &&
	    run->rec[run->nrec - 1].status == VSVM_OK)
		last = &run->rec[run->nrec - 1];

	switch (k->kernel) {
	case VSVM_KERNEL_FILL:
		for (i = 0; i < k->n; i++) {
			uint64_t off = (k->doff + i) * 4;
			uint32_t v;

			memcpy(&v, got + off, 4);
			if (last && !late_cover(run, last, k->dst, off)) {
				if (v != k->value)
					return bad_word(run, k->dst, off, v,
							"the last fill "
							"succeeded and nothing "
							"changed here since");
			} else if (!word_legal(run, off, v)) {
				return bad_word(run, k->dst, off, v,
						"neither old, filled nor "
						"remapped data");
			}
		}
		break;
	case VSVM_KERNEL_COPY:
		for (i = 0; i < k->n; i++) {
			uint64_t off = (k->doff + i) * 4;
			uint64_t soff = (k->soff + i) * 4;
			uint32_t v, sf;

			memcpy(&v, got + off, 4);
			memcpy(&sf, sfinal + soff, 4);
			if (last && !late_cover(run, last, k->dst, off) &&
			    !late_cover(run, last, k->src, soff)) {
				if (v != sf)
					return bad_word(run, k->dst, off, v,
							"the last copy "
							"succeeded and nothing "
							"changed here since");
			} else if (!word_legal(run, off, v)) {
				return bad_word(run, k->dst, off, v,
						"not made of old, copied or "
						"remapped data");
			}
		}
		break;
	case VSVM_KERNEL_GATHER:
		for (i = 0; i < k->n; i++) {
			uint64_t off = (k->doff + i) * 8;
			uint64_t ioff = (k->ioff + i) * 4;
			uint64_t v, want, soff;
			uint32_t idx;

			memcpy(&v, got + off, 8);
			memcpy(&idx, sfinal + ioff, 4);
			soff = (k->soff + idx % k->m) * 8;
			memcpy(&want, sfinal + soff, 8);
			if (last && !late_cover(run, last, k->dst, off) &&
			    !late_cover(run, last, k->src, ioff) &&
			    !late_cover(run, last, k->src, soff)) {
				if (v != want)
					return bad_word(run, k->dst, off,
							(uint32_t)v,
							"the last gather "
							"succeeded and nothing "
							"changed here since");
			} else if (!word_legal(run, off, (uint32_t)v) ||
				   !word_legal(run, off + 4,
					       (uint32_t)(v >> 32))) {
				bool lo_ok = word_legal(run, off, (uint32_t)v);

				return bad_word(run, k->dst,
						off + (lo_ok ? 4 : 0),
						lo_ok ? (uint32_t)(v >> 32) :
							(uint32_t)v,
						"not a word of this process");
			}
		}
		break;
	case VSVM_KERNEL_HISTOGRAM: {
		const uint64_t *bins = (const uint64_t *)got;
		const uint64_t *was = (const uint64_t *)dbefore;
		bool h_changed = false, d_changed = false;
		uint64_t delta = 0, maxwas = 1ull << CHASE_SHIFT;
		uint32_t j;

		for (j = 0; j < run->nop; j++) {
			if (!op_changes_content(&run->op[j]))
				continue;
			h_changed |= run->op[j].buf == BUF_H;
			d_changed |= run->op[j].buf == k->src;
		}
		for (i = 0; i < H_BINS; i++)
			if (was[i] > maxwas)
				maxwas = was[i];
		for (i = 0; i < k->k; i++) {
			if (bins[i] > maxwas + k->n * run->nrec ||
			    (!h_changed && bins[i] < was[i])) {
				return st_fail(
					run->w,
					"pid %u: %s: bin %" PRIu64
					" went from %" PRIu64 " to 0x%" PRIx64,
					sp->pid, k->desc, i, was[i], bins[i]);
			}
			delta += bins[i] - was[i];
		}
		if (!h_changed &&
		    (delta < k->n * nok || delta > k->n * (nok + nfault))) {
			return st_fail(run->w,
				       "pid %u: %s: bins grew by %" PRIu64
				       " in %" PRIu64 " good and %" PRIu64
				       " faulted launches of n = %" PRIu64,
				       sp->pid, k->desc, delta, nok, nfault,
				       k->n);
		}
		if (!h_changed && !d_changed && !nfault) {
			uint8_t *sh[NBUF];
			uint64_t r;
			bool bad = false;
			unsigned int b;

			for (b = 0; b < NBUF; b++)
				sh[b] = sp->shadow[b];
			memcpy(run->w->scratch, dbefore, PAGE);
			sh[BUF_H] = run->w->scratch;
			for (r = 0; r < nok; r++)
				model(k, sh, &bad);
			if (memcmp(run->w->scratch, got, k->k * 8)) {
				return st_fail(run->w,
					       "pid %u: %s: bins differ from "
					       "%" PRIu64 " exact histograms",
					       sp->pid, k->desc, nok);
			}
		}
		break;
	}
	}
	return 0;
}

/*
 * The "changes" action: a second thread relaunches one kernel back to
 * back while this one changes the mappings (DOC: Judging a launch ...).
 */
static int act_changes(struct worker *w)
{
	struct sproc *sp = &w->proc;
	struct run *run;
	pthread_t t;
	uint32_t nops, i;
	uint64_t nok, nfault, lo, hi;
	unsigned int b;
	int ret = -1;

	set_doing(w, "changes");
	run = calloc(1, sizeof(*run));
	if (!run)
		return st_fail(w, "out of memory");
	run->w = w;
	run->sp = sp;
	kspec_pick(w, sp, &run->k);
	for (b = 0; b < NBUF; b++) {
		run->before[b] = malloc(buf_size[b]);
		if (!run->before[b]) {
			st_fail(w, "out of memory");
			goto out;
		}
		memcpy(run->before[b], sp->shadow[b], buf_size[b]);
	}
	run->expect0 = model_result(w, sp, &run->k);
	nops = 1 + (uint32_t)rnd_below(&w->rng, MAX_OPS);
	if (pthread_create(&t, NULL, launcher, run)) {
		st_fail(w, "cannot start a thread");
		goto out;
	}
	for (i = 0; i < nops; i++) {
		struct op_rec *op = &run->op[run->nop];
		bool forked = false;
		uint32_t j;

		if (__atomic_load_n(&run->done, __ATOMIC_ACQUIRE) ||
		    stopped(w->s))
			break;
		for (j = 0; j < run->nop; j++)
			forked |= run->op[j].kind == OP_FORK;
		pick_op(w, sp, run->k.reads | run->k.writes, run->ro_bufs,
			!forked, op);
		if (op->kind == OP_RO)
			run->ro_bufs |= 1u << op->buf;
		run->nop++;
		if (do_op(w, sp, run, op))
			break;
		if (op_changes_content(op))
			op->expect = model_result(w, sp, &run->k);
		usleep((useconds_t)rnd_below(&w->rng, 300));
	}
	__atomic_store_n(&run->stop, 1, __ATOMIC_RELEASE);
	set_doing(w, "changes: waiting for the kernel");
	pthread_join(t, NULL);
	if (failed(w->s))
		goto out;

	set_doing(w, "changes: judging");
	for (b = 0; b < NBUF; b++)
		if ((run->ro_bufs & 1u << b) &&
		    gsim_mm_mprotect(sp->p->mm, buf_va(b), buf_size[b],
				     GSIM_PROT_READ | GSIM_PROT_WRITE)) {
			st_fail(w, "pid %u: mprotect back failed", sp->pid);
			goto out;
		}
	if (judge_launches(run, &nok, &nfault)) {
		dump_run(run);
		goto out;
	}
	/* Every buffer but the written range: exactly the shadow. */
	write_range(&run->k, &lo, &hi);
	for (b = 0; b < NBUF; b++) {
		if (read_buf(w, sp, b, w->got))
			goto out;
		if (!(run->k.writes & 1u << b)) {
			if (compare_buf(w, sp, b, w->got, sp->shadow[b], 0,
					buf_size[b], "after changes")) {
				dump_run(run);
				goto out;
			}
			continue;
		}
		if (compare_buf(w, sp, b, w->got, sp->shadow[b], 0, lo,
				"after changes, outside the kernel's range") ||
		    compare_buf(w, sp, b, w->got, sp->shadow[b], hi,
				buf_size[b],
				"after changes, outside the kernel's range") ||
		    judge_written(run, w->got, nok, nfault)) {
			dump_run(run);
			goto out;
		}
		memcpy(sp->shadow[b] + lo, w->got + lo, hi - lo);
	}
	/* And once more with nothing changing: exact. */
	set_doing(w, "changes: final kernel");
	ret = run_strict(w, sp, &run->k, "kernel after the changes");
out:
	for (b = 0; b < NBUF; b++)
		free(run->before[b]);
	free(run);
	return ret;
}

/* ---- threads -------------------------------------------------------- */

static bool worker_done(struct worker *w)
{
	struct stress *s = w->s;

	if (stopped(s))
		return true;
	if (s->cfg.iterations)
		return w->actions >= s->cfg.iterations;
	return now_ns() >= s->deadline_ns;
}

static void publish(struct worker *w)
{
	struct vsvmg_ctx_stats st;

	if (!w->proc.p)
		return;
	vsvmg_ctx_stats(w->proc.p->ctx, &st);
	__atomic_store_n(&w->inval_live, st.invalidations, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	/*
	 * Each action draws from a generator of its own, seeded from the
	 * worker's: what one action does (cut short by timing, say) never
	 * shifts the decisions of the next.
	 */
	w->rng = splitmix64(rnd(&w->main_rng)) | 1;
	if (sproc_create(w, &w->proc))
		goto out;
	while (!worker_done(w)) {
		uint64_t x = rnd_below(&w->main_rng, 100);
		int ret;

		w->rng = splitmix64(rnd(&w->main_rng)) | 1;

		if (x < 40)
			ret = act_changes(w);
		else if (x < 62)
			ret = act_kernel(w);
		else if (x < 74)
			ret = act_idle_change(w);
		else if (x < 84)
			ret = act_fork(w);
		else if (x < 96)
			ret = act_rewrite(w);
		else
			ret = act_exit(w);
		if (ret)
			break;
		set_doing(w, "checking");
		if (verify_all(w, &w->proc, NULL, "after the action"))
			break;
		w->actions++;
		add(&w->s->actions, 1);
		publish(w);
	}
out:
	set_doing(w, "exiting");
	sproc_exit(w, &w->proc);
	set_doing(w, "done");
	return NULL;
}

static uint64_t invalidations(struct stress *s)
{
	uint64_t n = load(&s->inval_dead);
	uint32_t i;

	for (i = 0; i < s->cfg.processes; i++)
		n += load(&s->workers[i].inval_live);
	return n;
}

struct monitor {
	struct stress *s;
	int stop; /* atomic */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
};

static void check_poison(struct stress *s)
{
	uint64_t n;

	gsim_ram_poison_scan(s->ram);
	n = gsim_ram_poison_violations(s->ram);
	__atomic_store_n(&s->poison, n, __ATOMIC_RELAXED);
	if (n && !failed(s)) {
		pthread_mutex_lock(&s->fail_lock);
		if (!s->failed) {
			snprintf(s->why, sizeof(s->why),
				 "%" PRIu64
				 " freed guest frame(s) were written "
				 "after they were freed (see the POISON "
				 "VIOLATION lines): a device access through a "
				 "stale translation",
				 n);
			__atomic_store_n(&s->failed, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&s->fail_lock);
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	}
}

/* Once a second: progress, the poison scan, and the stall watchdog. */
static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct stress *s = m->s;
	uint64_t last_actions = 0, last_change = now_ns();
	uint32_t stall = s->cfg.stall_seconds ? s->cfg.stall_seconds : 60;
	struct timespec ts;
	uint32_t i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		uint64_t a, t;

		ts.tv_sec++;
		while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock,
							  &ts) != ETIMEDOUT)
			;
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->lock);
		check_poison(s);
		a = load(&s->actions);
		t = now_ns();
		if (a != last_actions) {
			last_actions = a;
			last_change = t;
		}
		if (!s->cfg.quiet)
			fprintf(s->out,
				"stress: %4.0fs actions=%" PRIu64
				" kernels=%" PRIu64 " verified=%" PRIu64
				" err_fault=%" PRIu64 " dev_faults=%" PRIu64
				" invalidations=%" PRIu64 " remaps=%" PRIu64
				" protects=%" PRIu64 " forks=%" PRIu64
				" exits=%" PRIu64 " migrations=%" PRIu64
				" poison=%" PRIu64 "\n",
				(double)(t - s->start_ns) / 1e9, a,
				load(&s->kernels), load(&s->verified),
				load(&s->expected_faults),
				load(&s->device_faults), invalidations(s),
				load(&s->remaps), load(&s->protects),
				load(&s->forks), load(&s->exits),
				load(&s->migrations), load(&s->poison));
		fflush(s->out);
		if (t - last_change > (uint64_t)stall * 1000000000ull) {
			fprintf(s->out,
				"stress: FAIL seed=%" PRIu64 " reason: no "
				"action completed for %u s (a hang); "
				"threads:\n",
				s->cfg.seed, stall);
			for (i = 0; i < s->cfg.processes; i++)
				fprintf(s->out, "  process slot %u: %s\n", i,
					__atomic_load_n(&s->workers[i].doing,
							__ATOMIC_RELAXED));
			fflush(s->out);
			fflush(stderr);
			_exit(3); /* a hung thread cannot be joined */
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/**
 * gsim_stress_run - the stress test; see stress.h
 * @dev: the device, connected and with no contexts of others running
 * @ram: its guest RAM
 * @cfg: seed, length, processes
 * @out: the counters and the first failure; may be NULL
 *
 * Return: 0 on PASS, -1 on FAIL.
 */
int gsim_stress_run(struct vsvmg_dev *dev, struct gsim_ram *ram,
		    const struct gsim_stress_config *cfg,
		    struct gsim_stress_stats *out)
{
	struct stress *s;
	struct monitor m = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_condattr_t ca;
	struct gsim_stress_stats st = { 0 };
	uint64_t baseline, used;
	uint32_t i, started = 0;
	double secs;
	int ok;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->dev = dev;
	s->ram = ram;
	s->cfg = *cfg;
	if (!s->cfg.processes)
		s->cfg.processes = 4;
	if (s->cfg.processes > GSIM_STRESS_MAX_PROCS)
		s->cfg.processes = GSIM_STRESS_MAX_PROCS;
	s->out = cfg->out ? cfg->out : stdout;
	s->num_devices = vsvmg_dev_caps(dev)->num_devices;
	if (!s->num_devices)
		s->num_devices = 1;
	pthread_mutex_init(&s->fail_lock, NULL);
	baseline = gsim_ram_pages_used(ram);
	fprintf(s->out,
		"stress: seed=%" PRIu64 " %s%" PRIu64 " processes=%u "
		"devices=%u (replay: --seed %" PRIu64 ")\n",
		s->cfg.seed, s->cfg.iterations ? "iterations=" : "seconds=",
		s->cfg.iterations ? s->cfg.iterations :
				    (uint64_t)s->cfg.seconds,
		s->cfg.processes, s->num_devices, s->cfg.seed);
	fflush(s->out);
	s->start_ns = now_ns();
	s->deadline_ns = s->start_ns + (uint64_t)s->cfg.seconds * 1000000000ull;

	m.s = s;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&m.thread, NULL, monitor_main, &m)) {
		free(s);
		return -1;
	}
	for (i = 0; i < s->cfg.processes; i++) {
		struct worker *w = &s->workers[i];

		w->s = s;
		w->slot = i;
		w->main_rng = splitmix64(s->cfg.seed + 100 + i) | 1;
		w->doing = "starting";
		w->scratch = malloc(MAX_BUF);
		w->got = malloc(MAX_BUF);
		if (!w->scratch || !w->got ||
		    pthread_create(&w->thread, NULL, worker_main, w)) {
			st_fail(w, "cannot start process thread");
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(s->workers[i].thread, NULL);
	pthread_mutex_lock(&m.lock);
	m.stop = 1;
	pthread_cond_signal(&m.cond);
	pthread_mutex_unlock(&m.lock);
	pthread_join(m.thread, NULL);
	pthread_cond_destroy(&m.cond);

	check_poison(s);
	used = gsim_ram_pages_used(ram);
	secs = (double)(now_ns() - s->start_ns) / 1e9;
	if (used != baseline && !s->failed)
		snprintf(s->why, sizeof(s->why),
			 "guest RAM: %" PRId64 " pages still allocated after "
			 "every process exited",
			 (int64_t)(used - baseline));
	ok = !s->failed && used == baseline;

	st.actions = load(&s->actions);
	st.kernels = load(&s->kernels);
	st.verified = load(&s->verified);
	st.expected_faults = load(&s->expected_faults);
	st.device_faults = load(&s->device_faults);
	st.invalidations = load(&s->inval_dead);
	st.remaps = load(&s->remaps);
	st.protects = load(&s->protects);
	st.forks = load(&s->forks);
	st.exits = load(&s->exits);
	st.poison = load(&s->poison);
	st.pages_leaked = used - baseline;
	st.seconds = secs;
	snprintf(st.why, sizeof(st.why), "%s", s->why);

	fprintf(s->out,
		"stress: %s seed=%" PRIu64 " seconds=%.0f processes=%u "
		"kernels=%" PRIu64 " invalidations=%" PRIu64 " forks=%" PRIu64
		" migrations=%" PRIu64 " poison=%" PRIu64 "%s%s\n",
		ok ? "PASS" : "FAIL", s->cfg.seed, secs, s->cfg.processes,
		st.kernels, st.invalidations, st.forks, load(&s->migrations),
		st.poison,
		ok ? "" : " reason: ", ok ? "" : s->why);
	fflush(s->out);
	for (i = 0; i < GSIM_STRESS_MAX_PROCS; i++) {
		free(s->workers[i].scratch);
		free(s->workers[i].got);
	}
	pthread_mutex_destroy(&s->fail_lock);
	free(s);
	if (out)
		*out = st;
	return ok ? 0 : -1;
}
