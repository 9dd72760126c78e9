// SPDX-License-Identifier: MIT
/*
 * vsvmh_test.c - booted-kernel tests of vsvm_host.ko through its uapi.
 *
 * Runs as a static program in the test initramfs (tests/kernel/run.sh),
 * after /init loaded the module with num_devices=2 mem_size_mb=64.  Each
 * case is one behaviour of <linux/vsvm_host.h>; the ACCESS ioctl makes the
 * software device play the GPU.  A case that needs what the kernel lacks
 * (device-private pages on Debian's stock kernel) is skipped with the
 * reason; a case the module fails is a failure, never a skip.
 *
 * Layout: helpers (one per ioctl, returning 0 or -errno), the fault
 * resolver thread (the proxy's part), then the cases grouped as the issue
 * lists them: mirroring of anonymous, read-only and file memory, fork,
 * mprotect/munmap/mremap, huge pages, migration, isolation, shared pages,
 * the fault queue, teardown, device memory, native VMs, bad arguments,
 * and a short concurrency run.  docs/kernel-tests.md describes each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vsvm_host.h>

#include "harness.h"

#define PAGE		4096UL
#define HUGE		(2UL << 20)
#define MIB		(1UL << 20)
#define NR_DEVICES	2
#define DEV_MEM_SIZE	(64UL << 20)	/* init.sh loads mem_size_mb=64 */
#define MAX_ACCESS	(16UL << 20)	/* struct vsvmh_access.len limit */
/* GPU VAs the tests use: 2 MiB aligned, far from any host mapping. */
#define GVA		0x100000000000ULL
#define GVA2		0x200000000000ULL
#define PROT_RW		(VSVMH_PROT_READ | VSVMH_PROT_WRITE)
#define PROT_RWA	(PROT_RW | VSVMH_PROT_ATOMIC)

/* ---- helpers: one per ioctl, 0 or -errno ---------------------------- */

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static int dev_open(int index)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vsvm_host%d", index);
	return open(path, O_RDWR | O_CLOEXEC);
}

static int get_caps(int fd, struct vsvmh_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	return xioctl(fd, VSVMH_IOCTL_GET_CAPS, caps);
}

static uint64_t mem_used(int fd)
{
	struct vsvmh_caps caps;

	if (get_caps(fd, &caps))
		return ~0ULL;
	return caps.mem_used;
}

/* Device memory is freed when the last page reference goes: allow 2 s. */
static uint64_t mem_used_settled(int fd, uint64_t want)
{
	uint64_t used = 0;
	int i;

	for (i = 0; i < 200; i++) {
		used = mem_used(fd);
		if (used == want)
			break;
		usleep(10000);
	}
	return used;
}

static int vm_create(int fd, uint32_t flags, uint32_t va_bits, uint32_t *id)
{
	struct vsvmh_vm_create c = { .flags = flags, .va_bits = va_bits };
	int ret = xioctl(fd, VSVMH_IOCTL_VM_CREATE, &c);

	if (!ret && id)
		*id = c.vm_id;
	return ret;
}

static int vm_destroy(int fd, uint32_t id)
{
	struct vsvmh_vm v = { .vm_id = id };

	return xioctl(fd, VSVMH_IOCTL_VM_DESTROY, &v);
}

static int mirror(int fd, uint32_t vm, uint64_t gva, const void *hva,
		  uint64_t len, uint32_t prot, uint32_t flags)
{
	struct vsvmh_mirror m = {
		.vm_id = vm, .prot = prot, .gpu_va = gva,
		.host_va = (uintptr_t)hva, .len = len, .flags = flags,
	};

	return xioctl(fd, VSVMH_IOCTL_MIRROR, &m);
}

static int unmap(int fd, uint32_t vm, uint64_t gva, uint64_t len)
{
	struct vsvmh_range r = { .vm_id = vm, .gpu_va = gva, .len = len };

	return xioctl(fd, VSVMH_IOCTL_UNMAP, &r);
}

static int access_full(int fd, uint32_t vm, uint32_t op, uint64_t gva,
		       void *buf, uint64_t len, uint32_t flags,
		       uint32_t timeout_ms, struct vsvmh_access *out)
{
	struct vsvmh_access a = {
		.vm_id = vm, .op = op, .gpu_va = gva, .len = len,
		.buf = (uintptr_t)buf, .flags = flags,
		.timeout_ms = timeout_ms,
	};
	int ret = xioctl(fd, VSVMH_IOCTL_ACCESS, &a);

	if (out)
		*out = a;
	return ret;
}

static int dev_read(int fd, uint32_t vm, uint64_t gva, void *buf,
		    uint64_t len)
{
	return access_full(fd, vm, VSVMH_ACCESS_READ, gva, buf, len, 0, 0,
			   NULL);
}

static int dev_write(int fd, uint32_t vm, uint64_t gva, const void *buf,
		     uint64_t len)
{
	return access_full(fd, vm, VSVMH_ACCESS_WRITE, gva, (void *)buf,
			   len, 0, 0, NULL);
}

static int dev_atomic_add(int fd, uint32_t vm, uint64_t gva, uint64_t *val)
{
	return access_full(fd, vm, VSVMH_ACCESS_ATOMIC_ADD, gva, val, 8, 0,
			   0, NULL);
}

static int vm_stats(int fd, uint32_t vm, struct vsvmh_vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->vm_id = vm;
	return xioctl(fd, VSVMH_IOCTL_VM_STATS, st);
}

/* The fault fd, or -errno. */
static int fault_fd(int fd)
{
	struct vsvmh_fault_fd f = { .fd = -1 };
	int ret = xioctl(fd, VSVMH_IOCTL_FAULT_FD, &f);

	return ret ? ret : f.fd;
}

static int fault_reply(int fd, const struct vsvmh_fault_resolution *res,
		       uint32_t nr, uint32_t *resolved)
{
	struct vsvmh_fault_reply r = { .nr = nr, .res = (uintptr_t)res };
	int ret = xioctl(fd, VSVMH_IOCTL_FAULT_REPLY, &r);

	if (resolved)
		*resolved = r.resolved;
	return ret;
}

static int reply_one(int fd, uint32_t id, int32_t status, uint32_t *resolved)
{
	struct vsvmh_fault_resolution res = { .id = id, .status = status };

	return fault_reply(fd, &res, 1, resolved);
}

/* Wait up to @ms for one record; 1 with it, 0 on timeout, -errno. */
static int fault_next(int ffd, struct vsvmh_fault *rec, int ms)
{
	struct pollfd p = { .fd = ffd, .events = POLLIN };
	ssize_t n;
	int ret;

	ret = poll(&p, 1, ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	n = read(ffd, rec, sizeof(*rec));
	if (n < 0)
		return -errno;
	return n == sizeof(*rec) ? 1 : -EIO;
}

static int migrate(int fd, const void *hva, uint64_t len, uint32_t dir,
		   uint64_t *pages)
{
	struct vsvmh_migrate m = {
		.host_va = (uintptr_t)hva, .len = len, .dir = dir,
	};
	int ret = xioctl(fd, VSVMH_IOCTL_MIGRATE, &m);

	if (pages)
		*pages = m.pages;
	return ret;
}

static int devmem_alloc(int fd, uint64_t size, uint32_t *handle)
{
	struct vsvmh_devmem d = { .size = size };
	int ret = xioctl(fd, VSVMH_IOCTL_DEVMEM_ALLOC, &d);

	if (!ret && handle)
		*handle = d.handle;
	return ret;
}

static int devmem_free(int fd, uint32_t handle)
{
	struct vsvmh_devmem d = { .handle = handle };

	return xioctl(fd, VSVMH_IOCTL_DEVMEM_FREE, &d);
}

static int copy_to_devmem(int fd, uint32_t h, uint64_t off, const void *hva,
			  uint64_t len)
{
	struct vsvmh_copy c = {
		.dir = VSVMH_COPY_TO_DEVMEM, .peer_fd = -1, .handle = h,
		.offset = off, .host_va = (uintptr_t)hva, .len = len,
	};

	return xioctl(fd, VSVMH_IOCTL_COPY, &c);
}

static int copy_from_devmem(int fd, uint32_t h, uint64_t off, void *hva,
			    uint64_t len)
{
	struct vsvmh_copy c = {
		.dir = VSVMH_COPY_FROM_DEVMEM, .peer_fd = -1, .handle = h,
		.offset = off, .host_va = (uintptr_t)hva, .len = len,
	};

	return xioctl(fd, VSVMH_IOCTL_COPY, &c);
}

static int copy_peer(int fd, uint32_t h, uint64_t off, int peer_fd,
		     uint32_t peer_h, uint64_t peer_off, uint64_t len)
{
	struct vsvmh_copy c = {
		.dir = VSVMH_COPY_PEER, .peer_fd = peer_fd, .handle = h,
		.peer_handle = peer_h, .offset = off, .peer_offset = peer_off,
		.len = len,
	};

	return xioctl(fd, VSVMH_IOCTL_COPY, &c);
}

static int devmem_map(int fd, uint32_t vm, uint32_t h, uint64_t gva,
		      uint64_t off, uint64_t len, uint32_t prot)
{
	struct vsvmh_devmem_map m = {
		.vm_id = vm, .handle = h, .gpu_va = gva, .offset = off,
		.len = len, .prot = prot,
	};

	return xioctl(fd, VSVMH_IOCTL_DEVMEM_MAP, &m);
}

/* ---- memory and patterns ------------------------------------------- */

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Anonymous memory aligned to @align (a power of two). */
static void *map_anon_aligned(size_t len, size_t align)
{
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t start;

	if (p == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	munmap((char *)start + len, (uintptr_t)p + align - start);
	return (void *)start;
}

/* Every 8-byte word: the seed in the high half, the offset in the low. */
static uint64_t pattern(uint64_t seed, uint64_t off)
{
	return (seed << 40) ^ off ^ 0x5a5a0000ULL;
}

static void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern(seed, i * 8);
}

/* Offset of the first word that differs, or -1 when all match. */
static long check(const void *buf, size_t len, uint64_t seed)
{
	const uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern(seed, i * 8))
			return (long)(i * 8);
	return -1;
}

static long check_zero(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return (long)i;
	return -1;
}

/* Pattern with offsets counted from @base, so a slice checks alone. */
static long check_at(const void *buf, size_t len, uint64_t seed, size_t base)
{
	const uint64_t *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern(seed, base + i * 8))
			return (long)(base + i * 8);
	return -1;
}

static int memfd_filled(size_t len, uint64_t seed, void **map)
{
	int fd = memfd_create("vsvmh-test", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, len))
		return -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	fill(p, len, seed);
	*map = p;
	return fd;
}

/* AnonHugePages (bytes) of the mapping that holds @addr. */
static long anon_huge_bytes(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	unsigned long lo, hi, kb;
	int in = 0;
	long ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) {
			ret = (long)kb * 1024;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* 57 when the host runs 5-level page tables, else 48. */
static unsigned int host_va_bits(void)
{
	void *hint = (void *)(1ULL << 50);
	void *p = mmap(hint, PAGE, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return 48;
	munmap(p, PAGE);
	return p == hint ? 57 : 48;
}

/* What the runner knows of the kernel: VSVM_EXPECT_DEVICE_PRIVATE=0/1. */
static int kernel_has_device_private(void)
{
	const char *e = getenv("VSVM_EXPECT_DEVICE_PRIVATE");

	return e ? atoi(e) : -1;
}

/*
 * Device-private migration: skipped only where the kernel lacks
 * CONFIG_DEVICE_PRIVATE; a module that reports no support on a kernel
 * that has it fails.
 */
#define REQUIRE_DEVICE_PRIVATE(caps) do {				\
	if (!((caps).flags & VSVMH_CAP_DEVICE_PRIVATE)) {		\
		ASSERT_TRUE(kernel_has_device_private() != 1);		\
		SKIP("kernel lacks CONFIG_DEVICE_PRIVATE");		\
	}								\
} while (0)

/*
 * In a forked helper process ASSERT would run the harness's teardown and
 * exit 0; helpers check with this instead and exit with the failing line.
 */
#define CHILD_CHECK(cond) do {						\
	if (!(cond)) {							\
		printf("# child: %s:%d: %s\n", __FILE__, __LINE__, #cond);\
		fflush(stdout);						\
		_exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1);		\
	}								\
} while (0)

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- the fault resolver: what the proxy does ------------------------ */

enum resolve_mode {
	RESOLVE_MIRROR,		/* mirror the page, reply 0 */
	RESOLVE_FAIL,		/* reply -EFAULT */
	RESOLVE_DEVMEM,		/* map device memory there, reply 0 */
};

struct resolver {
	int fd, ffd;
	uint32_t vm;
	enum resolve_mode mode;
	uint32_t prot;
	uint64_t gva_base;	/* gpu_va - gva_base + host_base = host page */
	char *host_base;
	uint32_t devmem;	/* RESOLVE_DEVMEM: handle, offset as above */
	atomic_int stop;
	atomic_int records;
	atomic_int max_batch;
	atomic_int errors;
	pthread_t thread;
};

static void *resolver_main(void *arg)
{
	struct resolver *r = arg;
	struct vsvmh_fault recs[64];
	struct vsvmh_fault_resolution res[64];

	while (!atomic_load(&r->stop)) {
		struct pollfd p = { .fd = r->ffd, .events = POLLIN };
		ssize_t n;
		int i, nr, ret;
		uint32_t resolved;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(r->ffd, recs, sizeof(recs));
		if (n <= 0 || n % sizeof(recs[0])) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		nr = n / sizeof(recs[0]);
		atomic_fetch_add(&r->records, nr);
		if (nr > atomic_load(&r->max_batch))
			atomic_store(&r->max_batch, nr);
		for (i = 0; i < nr; i++) {
			uint64_t off = recs[i].gpu_va - r->gva_base;

			res[i].id = recs[i].id;
			res[i].status = 0;
			if (r->mode == RESOLVE_FAIL) {
				res[i].status = -EFAULT;
				continue;
			}
			if (r->mode == RESOLVE_MIRROR)
				ret = mirror(r->fd, recs[i].vm_id,
					     recs[i].gpu_va, r->host_base + off,
					     PAGE, r->prot, 0);
			else
				ret = devmem_map(r->fd, recs[i].vm_id,
						 r->devmem, recs[i].gpu_va, off,
						 PAGE, r->prot);
			if (ret) {
				atomic_fetch_add(&r->errors, 1);
				res[i].status = -EFAULT;
			}
		}
		if (fault_reply(r->fd, res, nr, &resolved) ||
		    resolved != (uint32_t)nr)
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

static int resolver_start(struct resolver *r)
{
	return -pthread_create(&r->thread, NULL, resolver_main, r);
}

static void resolver_stop(struct resolver *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
}

/* A blocking device access on its own thread. */
struct accessor {
	int fd;
	uint32_t vm, op, flags, timeout_ms;
	uint64_t gva, len;
	void *buf;
	int ret;
	struct vsvmh_access out;
	atomic_int done;
	pthread_t thread;
};

static void *accessor_main(void *arg)
{
	struct accessor *a = arg;

	a->ret = access_full(a->fd, a->vm, a->op, a->gva, a->buf, a->len,
			     a->flags, a->timeout_ms, &a->out);
	atomic_store(&a->done, 1);
	return NULL;
}

static int accessor_start(struct accessor *a)
{
	return -pthread_create(&a->thread, NULL, accessor_main, a);
}

/* ---- the fixture: both devices open, one proxy VM on device 0 ------ */

FIXTURE(dev) {
	int fd[NR_DEVICES];
	struct vsvmh_caps caps[NR_DEVICES];
	uint32_t vm;
};

FIXTURE_SETUP(dev)
{
	int i;

	for (i = 0; i < NR_DEVICES; i++) {
		self->fd[i] = dev_open(i);
		ASSERT_GE(self->fd[i], 0);
		ASSERT_RC(get_caps(self->fd[i], &self->caps[i]), 0);
	}
	ASSERT_RC(vm_create(self->fd[0], 0, 0, &self->vm), 0);
	ASSERT_NE(self->vm, 0);
}

FIXTURE_TEARDOWN(dev)
{
	int i;

	/* Closing without VM_DESTROY is part of what every case tests. */
	for (i = 0; i < NR_DEVICES; i++)
		if (self->fd[i] > 0)
			close(self->fd[i]);
}

/* ==== capabilities ==================================================== */

TEST(caps_report_the_devices)
{
	struct vsvmh_caps caps;
	int fd, i;

	for (i = 0; i < NR_DEVICES; i++) {
		fd = dev_open(i);
		ASSERT_GE(fd, 0);
		ASSERT_RC(get_caps(fd, &caps), 0);
		EXPECT_EQ(caps.version, VSVMH_UAPI_VERSION);
		EXPECT_EQ(caps.num_devices, NR_DEVICES);
		EXPECT_EQ(caps.index, i);
		EXPECT_EQ(caps.flags & ~VSVMH_CAP_DEVICE_PRIVATE, 0);
		EXPECT_EQ(caps.mem_size, DEV_MEM_SIZE);
		EXPECT_LE(caps.mem_used, caps.mem_size);
		EXPECT_GT(caps.max_vms, 0);
		EXPECT_GT(caps.max_faults, 0);
		close(fd);
	}
	EXPECT_ERRNO(dev_open(NR_DEVICES), ENOENT);
}

TEST(caps_device_private_matches_kernel)
{
	struct vsvmh_caps caps;
	int fd, want = kernel_has_device_private();

	if (want < 0)
		SKIP("VSVM_EXPECT_DEVICE_PRIVATE not set by the runner");
	fd = dev_open(0);
	ASSERT_GE(fd, 0);
	ASSERT_RC(get_caps(fd, &caps), 0);
	EXPECT_EQ(!!(caps.flags & VSVMH_CAP_DEVICE_PRIVATE), want);
	close(fd);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = dev_open(0);
	char buf[64] = { 0 };

	ASSERT_GE(fd, 0);
	EXPECT_ERRNO(ioctl(fd, _IO(VSVMH_IOCTL_MAGIC, 0x7f)), ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOWR(VSVMH_IOCTL_MAGIC, 0x01, char[24]), buf),
		     ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOWR('x', 0x01, struct vsvmh_vm_create), buf),
		     ENOTTY);
	close(fd);
}

/* ==== anonymous memory ================================================ */

TEST_F(dev, anon_read_write_atomic)
{
	size_t len = 8 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *in = malloc(len);
	struct vsvmh_vm_stats st;
	uint64_t v, *w;

	ASSERT_TRUE(buf && out && in);
	fill(buf, len, 1);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RWA, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 1), -1);

	fill(in, len, 2);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	ASSERT_EQ(check(buf, len, 2), -1);

	/* A read across a page boundary, at an odd offset. */
	memset(out, 0, 16);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + PAGE - 8, out, 16), 0);
	ASSERT_EQ(memcmp(out, buf + PAGE - 8, 16), 0);

	w = (uint64_t *)(buf + 3 * PAGE + 64);
	*w = 40;
	v = 2;
	ASSERT_RC(dev_atomic_add(self->fd[0], self->vm, GVA + 3 * PAGE + 64,
				 &v), 0);
	EXPECT_EQ(v, 40);
	EXPECT_EQ(*w, 42);

	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 1);
	EXPECT_EQ(st.mapped_bytes, len);
	EXPECT_GT(st.pt_bytes, 0);
	EXPECT_GT(st.faults_kernel, 0);
	EXPECT_EQ(st.faults_user, 0);
}

TEST_F(dev, anon_unpopulated_reads_zero)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *in = malloc(len);

	ASSERT_TRUE(buf && out && in);
	memset(out, 0xff, len);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check_zero(out, len), -1);
	/* The device writes first; the CPU then sees the device's data. */
	fill(in, len, 3);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	ASSERT_EQ(check(buf, len, 3), -1);
}

TEST_F(dev, mirror_populate_maps_now)
{
	size_t len = 16 * PAGE;
	char *buf = map_anon(len);
	struct vsvmh_vm_stats st;

	ASSERT_TRUE(buf);
	fill(buf, len, 4);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW,
			 VSVMH_MIRROR_POPULATE), 0);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mapped_bytes, len);
}

TEST_F(dev, access_reports_done_and_fault_va)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	struct vsvmh_access a;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 5);
	/* Pages 0, 1 and 3 mirrored; page 2 is a hole with no fault fd. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, 2 * PAGE, PROT_RW,
			 0), 0);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA + 3 * PAGE, buf + 3 * PAGE,
			 PAGE, PROT_RW, 0), 0);
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ,
			      GVA + 8, out, len - 8, 0, 0, &a), -ENODEV);
	EXPECT_EQ(a.done, 2 * PAGE - 8);
	EXPECT_EQ(a.fault_va, GVA + 2 * PAGE);
	EXPECT_EQ(memcmp(out, buf + 8, 2 * PAGE - 8), 0);
}

TEST_F(dev, access_largest_len)
{
	char *buf = map_anon(MAX_ACCESS), *out = map_anon(MAX_ACCESS);

	ASSERT_TRUE(buf && out);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, MAX_ACCESS, PROT_RW,
			 0), 0);
	buf[MAX_ACCESS - 1] = 7;
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, MAX_ACCESS), 0);
	EXPECT_EQ(out[MAX_ACCESS - 1], 7);
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, MAX_ACCESS + 1),
		  -EINVAL);
}

/* ==== protection ====================================================== */

TEST_F(dev, read_only_mirror_refuses_writes)
{
	size_t len = 2 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *in = malloc(len);
	struct vsvmh_access a;
	uint64_t v = 1;

	ASSERT_TRUE(buf && out && in);
	fill(buf, len, 6);
	fill(in, len, 7);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len,
			 VSVMH_PROT_READ, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 6), -1);
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_WRITE, GVA,
			      in, len, 0, 0, &a), -EFAULT);
	EXPECT_EQ(a.done, 0);
	EXPECT_EQ(a.fault_va, GVA);
	EXPECT_RC(dev_atomic_add(self->fd[0], self->vm, GVA, &v), -EFAULT);
	EXPECT_EQ(check(buf, len, 6), -1);
}

TEST_F(dev, atomic_needs_prot_atomic)
{
	char *buf = map_anon(PAGE);
	uint64_t v = 1;

	ASSERT_TRUE(buf);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, PAGE, PROT_RW, 0), 0);
	EXPECT_RC(dev_atomic_add(self->fd[0], self->vm, GVA, &v), -EFAULT);
	EXPECT_EQ(*(uint64_t *)buf, 0);
	EXPECT_RC(dev_write(self->fd[0], self->vm, GVA, &v, 8), 0);
	EXPECT_EQ(*(uint64_t *)buf, 1);
}

TEST_F(dev, read_only_host_mapping_mirrors_read_only)
{
	size_t len = 2 * PAGE;
	void *rw;
	int mfd = memfd_filled(len, 8, &rw);
	char *ro, *out = malloc(len), *in = malloc(len);

	ASSERT_GE(mfd, 0);
	ASSERT_TRUE(out && in);
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, mfd, 0);
	ASSERT_NE(ro, MAP_FAILED);
	/* prot asks for RW; the host mapping is read-only, so is the mirror. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, ro, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 8), -1);
	fill(in, len, 9);
	EXPECT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), -EFAULT);
	EXPECT_EQ(check(rw, len, 8), -1);
	close(mfd);
}

/* ==== file-backed memory ============================================== */

TEST_F(dev, file_backed_read)
{
	size_t len = 4 * PAGE;
	char *data = malloc(len), *out = malloc(len), *map;
	int f = open("/tmp/vsvmh-file", O_RDWR | O_CREAT | O_TRUNC, 0600);

	ASSERT_GE(f, 0);
	ASSERT_TRUE(data && out);
	fill(data, len, 10);
	ASSERT_EQ(write(f, data, len), (ssize_t)len);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, f, 0);
	ASSERT_NE(map, MAP_FAILED);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, map, len,
			 VSVMH_PROT_READ, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 10), -1);
	/* A write() to the file shows through the mirror. */
	fill(data, PAGE, 11);
	ASSERT_EQ(pwrite(f, data, PAGE, PAGE), (ssize_t)PAGE);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + PAGE, out, PAGE), 0);
	EXPECT_EQ(check(out, PAGE, 11), -1);
	close(f);
	unlink("/tmp/vsvmh-file");
}

TEST_F(dev, file_shared_write_reaches_file)
{
	size_t len = 2 * PAGE;
	char *in = malloc(len), *back = malloc(len), *map;
	int f = open("/tmp/vsvmh-file2", O_RDWR | O_CREAT | O_TRUNC, 0600);

	ASSERT_GE(f, 0);
	ASSERT_TRUE(in && back);
	ASSERT_OK(ftruncate(f, len));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	ASSERT_NE(map, MAP_FAILED);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, map, len, PROT_RW, 0), 0);
	fill(in, len, 12);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	ASSERT_EQ(pread(f, back, len, 0), (ssize_t)len);
	EXPECT_EQ(check(back, len, 12), -1);
	close(f);
	unlink("/tmp/vsvmh-file2");
}

TEST_F(dev, file_private_write_copies_on_write)
{
	size_t len = 2 * PAGE;
	char *data = malloc(len), *in = malloc(len), *back = malloc(len), *map;
	int f = open("/tmp/vsvmh-file3", O_RDWR | O_CREAT | O_TRUNC, 0600);

	ASSERT_GE(f, 0);
	ASSERT_TRUE(data && in && back);
	fill(data, len, 13);
	ASSERT_EQ(write(f, data, len), (ssize_t)len);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, f, 0);
	ASSERT_NE(map, MAP_FAILED);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, map, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, back, len), 0);
	EXPECT_EQ(check(back, len, 13), -1);
	/* The device's write lands in the private copy, not in the file. */
	fill(in, len, 14);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	EXPECT_EQ(check(map, len, 14), -1);
	ASSERT_EQ(pread(f, back, len, 0), (ssize_t)len);
	EXPECT_EQ(check(back, len, 13), -1);
	close(f);
	unlink("/tmp/vsvmh-file3");
}

TEST_F(dev, memfd_hole_punch_invalidates)
{
	size_t len = 4 * PAGE;
	void *map;
	int mfd = memfd_filled(len, 15, &map);
	char *out = malloc(len);
	struct vsvmh_vm_stats st;

	ASSERT_GE(mfd, 0);
	ASSERT_TRUE(out);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, map, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 15), -1);
	ASSERT_OK(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    PAGE, 2 * PAGE));
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check_at(out, PAGE, 15, 0), -1);
	EXPECT_EQ(check_zero(out + PAGE, 2 * PAGE), -1);
	EXPECT_EQ(check_at(out + 3 * PAGE, PAGE, 15, 3 * PAGE), -1);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_GE(st.invalidations, 1);
	close(mfd);
}

/* ==== fork ============================================================ */

TEST_F(dev, fork_cow_parent_writes_after_fork)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	int go[2], status;
	pid_t pid;

	ASSERT_TRUE(buf && out);
	ASSERT_OK(pipe(go));
	fill(buf, len, 20);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 20), -1);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char c, *cout = malloc(len);
		uint32_t vm;
		int fd;

		/* Wait until the parent wrote its new data. */
		CHILD_CHECK(read(go[0], &c, 1) == 1);
		CHILD_CHECK(check(buf, len, 20) == -1);
		/* The inherited file is bound to the parent's mm. */
		CHILD_CHECK(mirror(self->fd[0], self->vm, GVA2, buf, len,
				   PROT_RW, 0) == -EINVAL);
		/* The child's own file mirrors the child's own pages. */
		fill(buf, len, 22);
		fd = dev_open(0);
		CHILD_CHECK(fd >= 0);
		CHILD_CHECK(vm_create(fd, 0, 0, &vm) == 0);
		CHILD_CHECK(mirror(fd, vm, GVA, buf, len, PROT_RW, 0) == 0);
		CHILD_CHECK(dev_read(fd, vm, GVA, cout, len) == 0);
		CHILD_CHECK(check(cout, len, 22) == -1);
		_exit(0);
	}
	/* The parent's write breaks COW: the device must follow it. */
	fill(buf, len, 21);
	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 21), -1);
	status = wait_child(pid);
	EXPECT_EQ(status, 0);
	/* Nothing of the child's reached the parent's mirror. */
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 21), -1);
}

TEST_F(dev, fork_cow_device_write_after_fork)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *in = malloc(len);
	int go[2];
	pid_t pid;

	ASSERT_TRUE(buf && in);
	ASSERT_OK(pipe(go));
	fill(buf, len, 23);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, in, len), 0);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char c;

		CHILD_CHECK(read(go[0], &c, 1) == 1);
		/* The device wrote the parent's pages, never the child's. */
		CHILD_CHECK(check(buf, len, 23) == -1);
		_exit(0);
	}
	fill(in, len, 24);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	EXPECT_EQ(check(buf, len, 24), -1);
	ASSERT_EQ(write(go[1], "g", 1), 1);
	EXPECT_EQ(wait_child(pid), 0);
}

/* ==== mprotect, munmap, mremap ======================================== */

TEST_F(dev, mprotect_revokes_and_restores_write)
{
	size_t len = 2 * PAGE;
	char *buf = map_anon(len), *in = malloc(len), *out = malloc(len);
	struct vsvmh_vm_stats st;

	ASSERT_TRUE(buf && in && out);
	fill(buf, len, 30);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	fill(in, len, 31);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	ASSERT_EQ(check(buf, len, 31), -1);

	ASSERT_OK(mprotect(buf, len, PROT_READ));
	fill(in, len, 32);
	EXPECT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), -EFAULT);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 31), -1);
	EXPECT_EQ(check(buf, len, 31), -1);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_GE(st.invalidations, 1);

	ASSERT_OK(mprotect(buf, len, PROT_NONE));
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), -EFAULT);

	ASSERT_OK(mprotect(buf, len, PROT_READ | PROT_WRITE));
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	EXPECT_EQ(check(buf, len, 32), -1);
}

TEST_F(dev, munmap_invalidates_and_remap_shows_new_pages)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *again;
	struct vsvmh_vm_stats st;
	struct vsvmh_access a;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 33);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_OK(munmap(buf, len));
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mapped_bytes, 0);
	EXPECT_GE(st.invalidations, 1);
	EXPECT_EQ(st.mirrors, 1);	/* the mirror names addresses */
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, len, 0, 0, &a), -EFAULT);
	EXPECT_EQ(a.done, 0);
	EXPECT_EQ(a.fault_va, GVA);

	again = mmap(buf, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(again, buf);
	fill(again, len, 34);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 34), -1);
}

TEST_F(dev, partial_munmap)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	struct vsvmh_access a;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 35);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_OK(munmap(buf + PAGE, PAGE));
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, len, 0, 0, &a), -EFAULT);
	EXPECT_EQ(a.done, PAGE);
	EXPECT_EQ(a.fault_va, GVA + PAGE);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, PAGE), 0);
	EXPECT_EQ(check_at(out, PAGE, 35, 0), -1);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + 2 * PAGE, out,
			   2 * PAGE), 0);
	EXPECT_EQ(check_at(out, 2 * PAGE, 35, 2 * PAGE), -1);
}

/*
 * At the mapping limit, punching a hole would need one more mapping: the
 * unmap must still succeed (an invalidation cannot fail) and leave no PTE
 * inside the hole.  It may drop the straddling mapping whole.
 */
TEST_F(dev, unmap_at_the_mapping_limit_never_fails)
{
	const unsigned int limit = 16384;	/* VSVMH_MAX_MAPPINGS */
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), out[8];
	unsigned int i;

	ASSERT_TRUE(buf);
	fill(buf, len, 38);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	for (i = 1; i < limit; i++)
		ASSERT_RC(mirror(self->fd[0], self->vm, GVA + (uint64_t)i * len,
				 buf, PAGE, PROT_RW, 0), 0);
	/* Full: a new mirror is refused... */
	EXPECT_RC(mirror(self->fd[0], self->vm, GVA + (uint64_t)limit * len,
			 buf, PAGE, PROT_RW, 0), -ENOSPC);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + PAGE, out, 8), 0);
	/* ...but a hole in the first one is not. */
	ASSERT_RC(unmap(self->fd[0], self->vm, GVA + PAGE, PAGE), 0);
	EXPECT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ,
			      GVA + PAGE, out, 8, VSVMH_ACCESS_NOWAIT, 0, NULL),
		  -ENODEV);
}

TEST_F(dev, mremap_moves_pages_away_and_in)
{
	size_t len = 4 * PAGE;
	char *a = map_anon(len), *b = map_anon(len), *out = malloc(len), *dst;

	ASSERT_TRUE(a && b && out);
	fill(a, len, 36);
	fill(b, len, 37);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, a, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 36), -1);

	/* Move A's pages elsewhere: the mirror of A's addresses loses them. */
	dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(dst, MAP_FAILED);
	ASSERT_EQ(mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst), dst);
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), -EFAULT);
	/* Mirroring the new place finds the data intact. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA2, dst, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA2, out, len), 0);
	EXPECT_EQ(check(out, len, 36), -1);

	/* Move B's pages onto A's old addresses: the first mirror sees B. */
	ASSERT_EQ(mremap(b, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, a), a);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 37), -1);
}

TEST_F(dev, mirror_replaces_and_unmap_splits)
{
	size_t len = 4 * PAGE;
	char *a = map_anon(len), *b = map_anon(len), *out = malloc(len);
	struct vsvmh_vm_stats st;
	struct vsvmh_access acc;

	ASSERT_TRUE(a && b && out);
	fill(a, len, 38);
	fill(b, len, 39);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, a, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	/* Pages 1-2 now show B's pages 1-2, as mmap(MAP_FIXED) would. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA + PAGE, b + PAGE,
			 2 * PAGE, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check_at(out, PAGE, 38, 0), -1);
	EXPECT_EQ(check_at(out + PAGE, 2 * PAGE, 39, PAGE), -1);
	EXPECT_EQ(check_at(out + 3 * PAGE, PAGE, 38, 3 * PAGE), -1);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 3);
	/* Unmap straddles A's first part and B: both are cut. */
	ASSERT_RC(unmap(self->fd[0], self->vm, GVA + PAGE / 1, PAGE), 0);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 3);
	EXPECT_EQ(st.mapped_bytes, 3 * PAGE);
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, len, 0, 0, &acc), -ENODEV);
	EXPECT_EQ(acc.done, PAGE);
	EXPECT_EQ(acc.fault_va, GVA + PAGE);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + 2 * PAGE, out,
			   2 * PAGE), 0);
	EXPECT_EQ(check_at(out, PAGE, 39, 2 * PAGE), -1);
	EXPECT_EQ(check_at(out + PAGE, PAGE, 38, 3 * PAGE), -1);
	/* Unmapping what holds nothing is fine. */
	EXPECT_RC(unmap(self->fd[0], self->vm, GVA2, 16 * PAGE), 0);
	ASSERT_RC(unmap(self->fd[0], self->vm, GVA, len), 0);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 0);
	EXPECT_EQ(st.mapped_bytes, 0);
}

/* ==== huge pages ====================================================== */

TEST_F(dev, thp_mirrored_huge_and_split)
{
	size_t len = 2 * HUGE;
	char *buf = map_anon_aligned(len, HUGE), *out = malloc(len);
	struct vsvmh_vm_stats st;
	uint32_t vm2;
	long huge;

	ASSERT_TRUE(buf && out);
	ASSERT_OK(madvise(buf, len, MADV_HUGEPAGE));
	fill(buf, len, 40);
	huge = anon_huge_bytes(buf);
	if (huge <= 0)
		SKIP("the kernel gave no transparent huge page (AnonHugePages %ld)",
		     huge);
	TH_LOG("AnonHugePages of the buffer: %ld kB", huge / 1024);

	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_EQ(check(out, len, 40), -1);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mapped_bytes, len);
	EXPECT_EQ(st.huge_mapped_bytes, (uint64_t)huge);

	/* At a GPU VA that is not 2 MiB aligned only 4 KiB entries fit. */
	ASSERT_RC(vm_create(self->fd[0], 0, 0, &vm2), 0);
	ASSERT_RC(mirror(self->fd[0], vm2, GVA + PAGE, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], vm2, GVA + PAGE, out, len), 0);
	EXPECT_EQ(check(out, len, 40), -1);
	ASSERT_RC(vm_stats(self->fd[0], vm2, &st), 0);
	EXPECT_EQ(st.huge_mapped_bytes, 0);
	EXPECT_EQ(st.mapped_bytes, len);

	/* Punch a 4 KiB hole: the huge entry goes, the rest stays right. */
	ASSERT_OK(madvise(buf + 5 * PAGE, PAGE, MADV_DONTNEED));
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_LE(st.huge_mapped_bytes, len - HUGE);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check_at(out, 5 * PAGE, 40, 0), -1);
	EXPECT_EQ(check_zero(out + 5 * PAGE, PAGE), -1);
	EXPECT_EQ(check_at(out + 6 * PAGE, len - 6 * PAGE, 40, 6 * PAGE), -1);
}

/* ==== migration to device-private memory ============================== */

TEST_F(dev, migrate_to_device_and_cpu_fault_back)
{
	size_t n = 16, len = n * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	uint64_t base, pages = 0;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 50);
	if (!(self->caps[0].flags & VSVMH_CAP_DEVICE_PRIVATE)) {
		/* What the module must say where migration cannot be. */
		EXPECT_RC(migrate(self->fd[0], buf, len,
				  VSVMH_MIGRATE_TO_DEVICE, &pages),
			  -EOPNOTSUPP);
		EXPECT_EQ(check(buf, len, 50), -1);
	}
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	base = mem_used(self->fd[0]);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n);
	EXPECT_EQ(mem_used(self->fd[0]), base + len);

	/* The device reads its own memory through a mirror. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 50), -1);

	/* A CPU read brings every page back (migrate_to_ram). */
	EXPECT_EQ(check(buf, len, 50), -1);
	EXPECT_EQ(mem_used_settled(self->fd[0], base), base);

	/* Again, with CPU writes. */
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n);
	fill(buf, len, 51);
	EXPECT_EQ(check(buf, len, 51), -1);
	EXPECT_EQ(mem_used_settled(self->fd[0], base), base);

	/* Explicitly back; what is already in RAM is not counted. */
	ASSERT_RC(migrate(self->fd[0], buf, len / 2, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n / 2);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_SYSTEM,
			  &pages), 0);
	EXPECT_EQ(pages, n / 2);
	EXPECT_EQ(mem_used_settled(self->fd[0], base), base);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 51), -1);
	EXPECT_EQ(check(buf, len, 51), -1);
}

TEST_F(dev, migrate_device_write_then_cpu_read)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *in = malloc(len);
	uint64_t pages;

	ASSERT_TRUE(buf && in);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	fill(buf, len, 52);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	ASSERT_EQ(pages, 4);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	fill(in, len, 53);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	EXPECT_EQ(check(buf, len, 53), -1);
}

TEST_F(dev, migrate_leaves_file_pages)
{
	size_t len = 4 * PAGE;
	void *map;
	int mfd = memfd_filled(len, 54, &map);
	uint64_t pages = 99, base;

	ASSERT_GE(mfd, 0);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	base = mem_used(self->fd[0]);
	ASSERT_RC(migrate(self->fd[0], map, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, 0);
	EXPECT_EQ(mem_used(self->fd[0]), base);
	EXPECT_EQ(check(map, len, 54), -1);
	close(mfd);
}

TEST_F(dev, migrate_two_devices)
{
	size_t n = 8, len = n * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	uint64_t b0, b1, pages;
	uint32_t vm1;

	ASSERT_TRUE(buf && out);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	REQUIRE_DEVICE_PRIVATE(self->caps[1]);
	fill(buf, len, 55);
	b0 = mem_used(self->fd[0]);
	b1 = mem_used(self->fd[1]);
	ASSERT_RC(migrate(self->fd[0], buf, len / 2, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n / 2);
	ASSERT_RC(migrate(self->fd[1], buf + len / 2, len / 2,
			  VSVMH_MIGRATE_TO_DEVICE, &pages), 0);
	EXPECT_EQ(pages, n / 2);
	EXPECT_EQ(mem_used(self->fd[0]), b0 + len / 2);
	EXPECT_EQ(mem_used(self->fd[1]), b1 + len / 2);

	/* Device 1 reads the whole range, half of it in device 0's memory. */
	ASSERT_RC(vm_create(self->fd[1], 0, 0, &vm1), 0);
	ASSERT_RC(mirror(self->fd[1], vm1, GVA, buf, len, VSVMH_PROT_READ, 0),
		  0);
	ASSERT_RC(dev_read(self->fd[1], vm1, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 55), -1);

	EXPECT_EQ(check(buf, len, 55), -1);
	EXPECT_EQ(mem_used_settled(self->fd[0], b0), b0);
	EXPECT_EQ(mem_used_settled(self->fd[1], b1), b1);
}

TEST_F(dev, migrate_between_devices)
{
	size_t n = 8, len = n * PAGE;
	char *buf = map_anon(len);
	uint64_t b0, b1, pages;

	ASSERT_TRUE(buf);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	REQUIRE_DEVICE_PRIVATE(self->caps[1]);
	fill(buf, len, 56);
	b0 = mem_used(self->fd[0]);
	b1 = mem_used(self->fd[1]);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n);
	/* Pages in device 0's memory move on to device 1. */
	ASSERT_RC(migrate(self->fd[1], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	EXPECT_EQ(pages, n);
	EXPECT_EQ(mem_used_settled(self->fd[0], b0), b0);
	EXPECT_EQ(mem_used(self->fd[1]), b1 + len);
	EXPECT_EQ(check(buf, len, 56), -1);
	EXPECT_EQ(mem_used_settled(self->fd[1], b1), b1);
}

TEST_F(dev, migrate_then_munmap_frees_device_memory)
{
	size_t len = 8 * PAGE;
	char *buf = map_anon(len);
	uint64_t base, pages;

	ASSERT_TRUE(buf);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	fill(buf, len, 57);
	base = mem_used(self->fd[0]);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	ASSERT_EQ(pages, 8);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_OK(munmap(buf, len));
	EXPECT_EQ(mem_used_settled(self->fd[0], base), base);
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, &pages, 8), -EFAULT);
}

/* Device-private pages shared by fork: both sides read their data back. */
TEST_F(dev, migrate_then_fork)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	uint64_t base, pages;
	pid_t pid;

	ASSERT_TRUE(buf && out);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
	fill(buf, len, 58);
	base = mem_used(self->fd[0]);
	ASSERT_RC(migrate(self->fd[0], buf, len, VSVMH_MIGRATE_TO_DEVICE,
			  &pages), 0);
	ASSERT_EQ(pages, 4);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		CHILD_CHECK(check(buf, len, 58) == -1);
		fill(buf, len, 59);
		CHILD_CHECK(check(buf, len, 59) == -1);
		_exit(0);
	}
	EXPECT_EQ(wait_child(pid), 0);
	EXPECT_EQ(check(buf, len, 58), -1);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 58), -1);
	EXPECT_EQ(mem_used_settled(self->fd[0], base), base);
}

/* ==== isolation ======================================================= */

TEST_F(dev, isolation_identical_gpu_va)
{
	size_t len = 4 * PAGE;
	char *ha = map_anon(len), *hb = map_anon(len), *hc = map_anon(len);
	char *out = malloc(len), *in = malloc(len);
	uint32_t va, vb, vc;

	ASSERT_TRUE(ha && hb && hc && out && in);
	fill(ha, len, 60);
	fill(hb, len, 61);
	fill(hc, len, 62);
	va = self->vm;
	ASSERT_RC(vm_create(self->fd[0], 0, 0, &vb), 0);
	ASSERT_NE(va, vb);
	ASSERT_RC(vm_create(self->fd[1], 0, 0, &vc), 0);
	ASSERT_RC(mirror(self->fd[0], va, GVA, ha, len, PROT_RW, 0), 0);
	ASSERT_RC(mirror(self->fd[0], vb, GVA, hb, len, PROT_RW, 0), 0);
	ASSERT_RC(mirror(self->fd[1], vc, GVA, hc, len, PROT_RW, 0), 0);

	ASSERT_RC(dev_read(self->fd[0], va, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 60), -1);
	ASSERT_RC(dev_read(self->fd[0], vb, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 61), -1);
	ASSERT_RC(dev_read(self->fd[1], vc, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 62), -1);

	fill(in, len, 63);
	ASSERT_RC(dev_write(self->fd[0], va, GVA, in, len), 0);
	EXPECT_EQ(check(ha, len, 63), -1);
	EXPECT_EQ(check(hb, len, 61), -1);
	EXPECT_EQ(check(hc, len, 62), -1);

	/* Unmapping in one VM leaves the others alone. */
	ASSERT_RC(unmap(self->fd[0], va, GVA, len), 0);
	EXPECT_RC(dev_read(self->fd[0], va, GVA, out, len), -ENODEV);
	ASSERT_RC(dev_read(self->fd[0], vb, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 61), -1);
	ASSERT_RC(dev_read(self->fd[1], vc, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 62), -1);
}

TEST_F(dev, isolation_vm_ids_are_per_file)
{
	int other = dev_open(0);
	struct vsvmh_vm_stats st;
	char *buf = map_anon(PAGE);
	char out[8];

	ASSERT_GE(other, 0);
	ASSERT_TRUE(buf);
	/* The other file has no VM: this file's vm_id names nothing there. */
	EXPECT_RC(vm_stats(other, self->vm, &st), -EINVAL);
	EXPECT_RC(mirror(other, self->vm, GVA, buf, PAGE, PROT_RW, 0), -EINVAL);
	EXPECT_RC(dev_read(other, self->vm, GVA, out, 8), -EINVAL);
	EXPECT_RC(vm_destroy(other, self->vm), -EINVAL);
	/* Nor does it across devices. */
	EXPECT_RC(vm_stats(self->fd[1], self->vm, &st), -EINVAL);
	EXPECT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	close(other);
}

/* ==== one host page in two VMs ======================================== */

/* Mirror @host in VM A (device 0) and VM B (device 1); read both. */
static int two_vm_setup(struct _th_fixture_dev *self, void *host, size_t len,
			uint32_t *vb)
{
	char *out = malloc(len);
	int ret;

	ret = vm_create(self->fd[1], 0, 0, vb);
	ret = ret ? ret : mirror(self->fd[0], self->vm, GVA, host, len,
				 PROT_RW, 0);
	ret = ret ? ret : mirror(self->fd[1], *vb, GVA2 + 7 * PAGE, host, len,
				 PROT_RW, 0);
	ret = ret ? ret : dev_read(self->fd[0], self->vm, GVA, out, len);
	ret = ret ? ret : dev_read(self->fd[1], *vb, GVA2 + 7 * PAGE, out, len);
	free(out);
	return ret;
}

TEST_F(dev, shared_page_two_vms_dontneed)
{
	size_t len = 2 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	struct vsvmh_vm_stats st;
	uint32_t vb;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 64);
	ASSERT_RC(two_vm_setup(self, buf, len, &vb), 0);
	/* The old pages are freed: a stale PTE would still show seed 64. */
	ASSERT_OK(madvise(buf, len, MADV_DONTNEED));
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check_zero(out, len), -1);
	ASSERT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len), 0);
	EXPECT_EQ(check_zero(out, len), -1);
	fill(buf, len, 65);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 65), -1);
	ASSERT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len), 0);
	EXPECT_EQ(check(out, len, 65), -1);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_GE(st.invalidations, 1);
	ASSERT_RC(vm_stats(self->fd[1], vb, &st), 0);
	EXPECT_GE(st.invalidations, 1);
}

TEST_F(dev, shared_page_two_vms_memfd_hole_punch)
{
	size_t len = 2 * PAGE;
	void *map;
	int mfd = memfd_filled(len, 66, &map);
	char *out = malloc(len);
	uint32_t vb;

	ASSERT_GE(mfd, 0);
	ASSERT_TRUE(out);
	/* Guest RAM is a memfd shared with the proxy: this is its case. */
	ASSERT_RC(two_vm_setup(self, map, len, &vb), 0);
	ASSERT_OK(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    0, len));
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check_zero(out, len), -1);
	ASSERT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len), 0);
	EXPECT_EQ(check_zero(out, len), -1);
	fill(map, len, 67);
	ASSERT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len), 0);
	EXPECT_EQ(check(out, len, 67), -1);
	close(mfd);
}

TEST_F(dev, shared_page_two_vms_munmap)
{
	size_t len = 2 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *again;
	uint32_t vb;

	ASSERT_TRUE(buf && out);
	fill(buf, len, 68);
	ASSERT_RC(two_vm_setup(self, buf, len, &vb), 0);
	ASSERT_OK(munmap(buf, len));
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), -EFAULT);
	EXPECT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len),
		  -EFAULT);
	again = mmap(buf, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(again, buf);
	fill(again, len, 69);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 69), -1);
	ASSERT_RC(dev_read(self->fd[1], vb, GVA2 + 7 * PAGE, out, len), 0);
	EXPECT_EQ(check(out, len, 69), -1);
}

/* ==== the fault queue ================================================= */

TEST_F(dev, fault_nowait_queues_a_record)
{
	char *buf = map_anon(4 * PAGE), out[16];
	struct vsvmh_fault rec;
	struct vsvmh_access a;
	uint32_t resolved = 99;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	ASSERT_TRUE(buf);
	fill(buf, 4 * PAGE, 70);
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ,
			      GVA + 3 * PAGE + 5, out, 10, VSVMH_ACCESS_NOWAIT,
			      0, &a), -EAGAIN);
	EXPECT_EQ(a.done, 0);
	EXPECT_EQ(a.fault_va, GVA + 3 * PAGE);
	ASSERT_EQ(fault_next(ffd, &rec, 2000), 1);
	EXPECT_EQ(rec.vm_id, self->vm);
	EXPECT_EQ(rec.gpu_va, GVA + 3 * PAGE);
	EXPECT_EQ(rec.access, VSVMH_FAULT_READ);
	EXPECT_EQ(rec.flags, 0);
	/* The proxy answers: mirror, then reply; the fault was pending. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, 4 * PAGE, PROT_RW, 0),
		  0);
	ASSERT_RC(reply_one(self->fd[0], rec.id, 0, &resolved), 0);
	EXPECT_EQ(resolved, 1);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA + 3 * PAGE + 8, out, 8),
		  0);
	EXPECT_EQ(check_at(out, 8, 70, 3 * PAGE + 8), -1);
	close(ffd);
}

TEST_F(dev, fault_record_names_the_access)
{
	static const struct { uint32_t op, access; } ops[] = {
		{ VSVMH_ACCESS_READ, VSVMH_FAULT_READ },
		{ VSVMH_ACCESS_WRITE, VSVMH_FAULT_WRITE },
		{ VSVMH_ACCESS_ATOMIC_ADD, VSVMH_FAULT_ATOMIC },
	};
	int ffd = fault_fd(self->fd[0]);
	struct vsvmh_fault rec;
	uint64_t v = 1;
	unsigned int i;

	ASSERT_GE(ffd, 0);
	for (i = 0; i < 3; i++) {
		uint64_t gva = GVA + i * PAGE;

		ASSERT_RC(access_full(self->fd[0], self->vm, ops[i].op, gva,
				      &v, 8, VSVMH_ACCESS_NOWAIT, 0, NULL),
			  -EAGAIN);
		ASSERT_EQ(fault_next(ffd, &rec, 2000), 1);
		EXPECT_EQ(rec.gpu_va, gva);
		EXPECT_EQ(rec.access, ops[i].access);
		ASSERT_RC(reply_one(self->fd[0], rec.id, -EFAULT, NULL), 0);
	}
	close(ffd);
}

TEST_F(dev, fault_replay_by_resolver_thread)
{
	size_t n = 8, len = n * PAGE;
	char *host = map_anon(len), *out = malloc(len), *in = malloc(len);
	struct resolver r = { .fd = self->fd[0], .mode = RESOLVE_MIRROR,
			      .prot = PROT_RWA, .gva_base = GVA };
	struct vsvmh_vm_stats st;
	uint64_t v = 5;

	ASSERT_TRUE(host && out && in);
	fill(host, len, 71);
	r.host_base = host;
	r.ffd = fault_fd(self->fd[0]);
	ASSERT_GE(r.ffd, 0);
	ASSERT_RC(resolver_start(&r), 0);
	/* Nothing is mirrored: every page faults to the resolver. */
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 71), -1);
	fill(in, len, 72);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	EXPECT_EQ(check(host, len, 72), -1);
	*(uint64_t *)host = 10;
	ASSERT_RC(dev_atomic_add(self->fd[0], self->vm, GVA, &v), 0);
	EXPECT_EQ(v, 10);
	EXPECT_EQ(*(uint64_t *)host, 15);
	resolver_stop(&r);
	EXPECT_EQ(atomic_load(&r.errors), 0);
	EXPECT_EQ(atomic_load(&r.records), n);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.faults_user, n);
	EXPECT_EQ(st.mapped_bytes, len);
	close(r.ffd);
}

TEST_F(dev, fault_records_batched)
{
	size_t n = 16, len = n * PAGE, i;
	char *host = map_anon(len), *out = malloc(len);
	struct vsvmh_fault recs[64];
	struct vsvmh_fault_resolution res[64];
	uint32_t resolved = 0;
	ssize_t got;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	ASSERT_TRUE(host && out);
	if (self->caps[0].max_faults < n)
		n = self->caps[0].max_faults, len = n * PAGE;
	fill(host, len, 73);
	for (i = 0; i < n; i++)
		ASSERT_RC(access_full(self->fd[0], self->vm,
				      VSVMH_ACCESS_READ, GVA + i * PAGE, out,
				      8, VSVMH_ACCESS_NOWAIT, 0, NULL),
			  -EAGAIN);
	/* One read takes them all, whole records only. */
	got = read(ffd, recs, sizeof(recs));
	ASSERT_EQ(got, (ssize_t)(n * sizeof(recs[0])));
	for (i = 0; i < n; i++) {
		size_t j;

		EXPECT_EQ(recs[i].gpu_va, GVA + i * PAGE);
		for (j = 0; j < i; j++)
			EXPECT_NE(recs[i].id, recs[j].id);
		res[i].id = recs[i].id;
		res[i].status = 0;
	}
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, host, len, PROT_RW, 0), 0);
	ASSERT_RC(fault_reply(self->fd[0], res, n, &resolved), 0);
	EXPECT_EQ(resolved, n);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 73), -1);
	close(ffd);
}

TEST_F(dev, fault_concurrent_accesses_share_one_record)
{
	enum { THREADS = 4 };
	struct accessor acc[THREADS];
	char *host = map_anon(PAGE);
	uint64_t vals[THREADS];
	struct vsvmh_fault rec;
	uint32_t resolved = 0;
	int ffd = fault_fd(self->fd[0]), i;

	ASSERT_GE(ffd, 0);
	ASSERT_TRUE(host);
	fill(host, PAGE, 74);
	for (i = 0; i < THREADS; i++) {
		acc[i] = (struct accessor){
			.fd = self->fd[0], .vm = self->vm,
			.op = VSVMH_ACCESS_READ, .gva = GVA + 8 * i, .len = 8,
			.buf = &vals[i],
		};
		ASSERT_RC(accessor_start(&acc[i]), 0);
	}
	ASSERT_EQ(fault_next(ffd, &rec, 5000), 1);
	EXPECT_EQ(rec.gpu_va, GVA);
	/* Give every thread time to sleep on the page: still one record. */
	usleep(500000);
	EXPECT_EQ(fault_next(ffd, &rec, 200) == 1 ? rec.gpu_va : 0, 0);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, host, PAGE, PROT_RW, 0), 0);
	ASSERT_RC(reply_one(self->fd[0], rec.id, 0, &resolved), 0);
	EXPECT_EQ(resolved, 1);
	for (i = 0; i < THREADS; i++) {
		pthread_join(acc[i].thread, NULL);
		EXPECT_RC(acc[i].ret, 0);
		EXPECT_EQ(vals[i], pattern(74, 8 * i));
	}
	close(ffd);
}

TEST_F(dev, fault_failed_resolution_is_efault)
{
	size_t len = 2 * PAGE;
	char *host = map_anon(len), *out = malloc(len);
	struct resolver r = { .fd = self->fd[0], .mode = RESOLVE_FAIL,
			      .gva_base = GVA };
	struct vsvmh_access a;

	ASSERT_TRUE(host && out);
	fill(host, len, 75);
	r.host_base = host;
	r.ffd = fault_fd(self->fd[0]);
	ASSERT_GE(r.ffd, 0);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, host, PAGE, PROT_RW, 0), 0);
	ASSERT_RC(resolver_start(&r), 0);
	ASSERT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, len, 0, 0, &a), -EFAULT);
	EXPECT_EQ(a.done, PAGE);
	EXPECT_EQ(a.fault_va, GVA + PAGE);
	EXPECT_EQ(check_at(out, PAGE, 75, 0), -1);
	resolver_stop(&r);
	EXPECT_EQ(atomic_load(&r.records), 1);
	close(r.ffd);
}

TEST_F(dev, fault_replay_needs_the_permission)
{
	char *host = map_anon(PAGE);
	struct resolver r = { .fd = self->fd[0], .mode = RESOLVE_MIRROR,
			      .prot = VSVMH_PROT_READ, .gva_base = GVA };
	uint64_t v = 1;

	ASSERT_TRUE(host);
	r.host_base = host;
	r.ffd = fault_fd(self->fd[0]);
	ASSERT_GE(r.ffd, 0);
	ASSERT_RC(resolver_start(&r), 0);
	/* The resolver mirrors read-only: the replayed write still fails. */
	EXPECT_RC(dev_write(self->fd[0], self->vm, GVA, &v, 8), -EFAULT);
	EXPECT_EQ(*(uint64_t *)host, 0);
	resolver_stop(&r);
	close(r.ffd);
}

TEST_F(dev, fault_resolved_with_device_memory)
{
	size_t len = 4 * PAGE;
	char *data = map_anon(len), *out = malloc(len);
	struct resolver r = { .fd = self->fd[0], .mode = RESOLVE_DEVMEM,
			      .prot = PROT_RW, .gva_base = GVA };

	ASSERT_TRUE(data && out);
	fill(data, len, 76);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &r.devmem), 0);
	ASSERT_RC(copy_to_devmem(self->fd[0], r.devmem, 0, data, len), 0);
	r.ffd = fault_fd(self->fd[0]);
	ASSERT_GE(r.ffd, 0);
	ASSERT_RC(resolver_start(&r), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 76), -1);
	resolver_stop(&r);
	EXPECT_EQ(atomic_load(&r.errors), 0);
	close(r.ffd);
}

TEST_F(dev, fault_timeout)
{
	int ffd = fault_fd(self->fd[0]);
	double start;
	char out[8];

	ASSERT_GE(ffd, 0);
	start = th_now();
	/* Nobody answers. */
	EXPECT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, 8, 0, 300, NULL), -ETIMEDOUT);
	EXPECT_GE(th_now() - start, 0.29);
	EXPECT_LT(th_now() - start, 8.0);
	close(ffd);
}

TEST_F(dev, fault_without_fault_fd_is_enodev)
{
	char out[8];

	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, 8), -ENODEV);
	EXPECT_RC(access_full(self->fd[0], self->vm, VSVMH_ACCESS_READ, GVA,
			      out, 8, VSVMH_ACCESS_NOWAIT, 0, NULL), -ENODEV);
}

TEST_F(dev, fault_fd_rules)
{
	struct vsvmh_fault_fd f = { .fd = -1, .flags = 1 };
	struct vsvmh_fault rec;
	struct pollfd p;
	char small[sizeof(rec) - 1];
	int ffd, fl;

	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_FAULT_FD, &f), -EINVAL);
	ffd = fault_fd(self->fd[0]);
	ASSERT_GE(ffd, 0);
	fl = fcntl(ffd, F_GETFD);
	EXPECT_TRUE(fl & FD_CLOEXEC);
	EXPECT_RC(fault_fd(self->fd[0]), -EBUSY);
	/* The other device's file has its own. */
	fl = fault_fd(self->fd[1]);
	EXPECT_GE(fl, 0);
	close(fl);
	p = (struct pollfd){ .fd = ffd, .events = POLLIN };
	EXPECT_EQ(poll(&p, 1, 0), 0);
	ASSERT_OK(fcntl(ffd, F_SETFL, O_NONBLOCK));
	EXPECT_ERRNO(read(ffd, &rec, sizeof(rec)), EAGAIN);
	EXPECT_ERRNO(read(ffd, small, sizeof(small)), EINVAL);
	/* An unknown id is ignored, not an error. */
	{
		uint32_t resolved = 7;

		EXPECT_RC(reply_one(self->fd[0], 0x7fffffff, 0, &resolved), 0);
		EXPECT_EQ(resolved, 0);
	}
	close(ffd);
}

TEST_F(dev, fault_fd_close_fails_pending_with_enodev)
{
	struct accessor a = { .fd = self->fd[0], .vm = self->vm,
			      .op = VSVMH_ACCESS_READ, .gva = GVA, .len = 8 };
	uint64_t v;
	struct vsvmh_fault rec;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	a.buf = &v;
	ASSERT_RC(accessor_start(&a), 0);
	ASSERT_EQ(fault_next(ffd, &rec, 5000), 1);
	close(ffd);
	pthread_join(a.thread, NULL);
	EXPECT_RC(a.ret, -ENODEV);
}

/* A process killed while its access waits for userspace dies at once. */
TEST(fault_wait_is_killable)
{
	int ready[2], status;
	double start;
	pid_t pid;
	char c;

	ASSERT_OK(pipe(ready));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct accessor a = { .op = VSVMH_ACCESS_READ, .gva = GVA,
				      .len = 8, .timeout_ms = 60000 };
		struct vsvmh_fault rec;
		uint64_t v;
		int ffd;

		a.fd = dev_open(0);
		a.buf = &v;
		CHILD_CHECK(a.fd >= 0);
		CHILD_CHECK(vm_create(a.fd, 0, 0, &a.vm) == 0);
		ffd = fault_fd(a.fd);
		CHILD_CHECK(ffd >= 0);
		CHILD_CHECK(accessor_start(&a) == 0);
		CHILD_CHECK(fault_next(ffd, &rec, 5000) == 1);
		CHILD_CHECK(write(ready[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	usleep(100000);
	start = th_now();
	ASSERT_OK(kill(pid, SIGKILL));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_LT(th_now() - start, 5.0);
}

static void on_usr1(int sig)
{
	(void)sig;
}

TEST_F(dev, fault_wait_interrupted_by_signal)
{
	struct accessor a = { .fd = self->fd[0], .vm = self->vm,
			      .op = VSVMH_ACCESS_READ, .gva = GVA, .len = 8 };
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	struct vsvmh_fault rec;
	uint64_t v;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
	a.buf = &v;
	ASSERT_RC(accessor_start(&a), 0);
	ASSERT_EQ(fault_next(ffd, &rec, 5000), 1);
	usleep(100000);
	ASSERT_OK(pthread_kill(a.thread, SIGUSR1));
	pthread_join(a.thread, NULL);
	EXPECT_RC(a.ret, -EINTR);
	close(ffd);
}

/* ==== teardown ======================================================== */

TEST_F(dev, teardown_destroy_wakes_accessor_with_ecanceled)
{
	struct accessor a = { .fd = self->fd[0], .vm = self->vm,
			      .op = VSVMH_ACCESS_READ, .gva = GVA, .len = 8 };
	struct vsvmh_fault rec;
	uint32_t resolved = 9;
	uint64_t v;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	a.buf = &v;
	ASSERT_RC(accessor_start(&a), 0);
	ASSERT_EQ(fault_next(ffd, &rec, 5000), 1);
	ASSERT_RC(vm_destroy(self->fd[0], self->vm), 0);
	pthread_join(a.thread, NULL);
	EXPECT_RC(a.ret, -ECANCELED);
	/* The VM and its fault are gone. */
	EXPECT_RC(reply_one(self->fd[0], rec.id, 0, &resolved), 0);
	EXPECT_EQ(resolved, 0);
	EXPECT_RC(vm_destroy(self->fd[0], self->vm), -EINVAL);
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, &v, 8), -EINVAL);
	close(ffd);
}

TEST_F(dev, teardown_destroy_with_live_mirrors_and_devmem)
{
	size_t len = 8 * PAGE;
	char *buf = map_anon(len), *out = malloc(len);
	struct vsvmh_vm_stats st;
	uint32_t h, vm2;
	uint64_t base = mem_used(self->fd[0]);

	ASSERT_TRUE(buf && out);
	fill(buf, len, 80);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h), 0);
	ASSERT_RC(devmem_map(self->fd[0], self->vm, h, GVA2, 0, len, PROT_RW),
		  0);
	ASSERT_RC(vm_create(self->fd[0], 0, 0, &vm2), 0);
	ASSERT_RC(mirror(self->fd[0], vm2, GVA, buf, len, PROT_RW, 0), 0);
	ASSERT_RC(vm_destroy(self->fd[0], self->vm), 0);
	EXPECT_RC(vm_stats(self->fd[0], self->vm, &st), -EINVAL);
	/* The other VM, the host memory and the allocation live on. */
	ASSERT_RC(dev_read(self->fd[0], vm2, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 80), -1);
	EXPECT_EQ(check(buf, len, 80), -1);
	EXPECT_RC(devmem_free(self->fd[0], h), 0);
	EXPECT_EQ(mem_used(self->fd[0]), base);
	/* Host invalidation after the destroy touches only vm2. */
	ASSERT_OK(munmap(buf, len));
	EXPECT_RC(dev_read(self->fd[0], vm2, GVA, out, len), -EFAULT);
}

TEST(teardown_exit_without_destroy_frees_everything)
{
	int fd = dev_open(0), status;
	uint64_t base0, base1;
	pid_t pid;

	ASSERT_GE(fd, 0);
	base0 = mem_used(fd);
	{
		int fd1 = dev_open(1);

		ASSERT_GE(fd1, 0);
		base1 = mem_used(fd1);
		close(fd1);
	}
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		size_t len = 16 * PAGE;
		char *buf = map_anon(len), out[8];
		int f0 = dev_open(0), f1 = dev_open(1), ffd, i;
		struct vsvmh_caps caps;
		uint32_t vm[4], h0, h1;
		uint64_t pages;

		CHILD_CHECK(buf && f0 >= 0 && f1 >= 0);
		fill(buf, len, 81);
		for (i = 0; i < 4; i++) {
			CHILD_CHECK(vm_create(i & 1 ? f1 : f0, 0, 0, &vm[i]) == 0);
			CHILD_CHECK(mirror(i & 1 ? f1 : f0, vm[i], GVA, buf, len,
					   PROT_RW, VSVMH_MIRROR_POPULATE) == 0);
		}
		CHILD_CHECK(devmem_alloc(f0, len, &h0) == 0);
		CHILD_CHECK(devmem_alloc(f1, len, &h1) == 0);
		CHILD_CHECK(devmem_map(f0, vm[0], h0, GVA2, 0, len, PROT_RW) == 0);
		CHILD_CHECK(copy_peer(f0, h0, 0, f1, h1, 0, len) == 0);
		ffd = fault_fd(f0);
		CHILD_CHECK(ffd >= 0);
		/* Pending faults nobody will answer. */
		for (i = 0; i < 4; i++)
			CHILD_CHECK(access_full(f0, vm[0], VSVMH_ACCESS_READ,
						GVA2 + len + i * PAGE, out, 8,
						VSVMH_ACCESS_NOWAIT, 0,
						NULL) == -EAGAIN);
		CHILD_CHECK(get_caps(f0, &caps) == 0);
		if (caps.flags & VSVMH_CAP_DEVICE_PRIVATE)
			CHILD_CHECK(migrate(f0, buf, len / 2,
					    VSVMH_MIGRATE_TO_DEVICE,
					    &pages) == 0);
		_exit(0);	/* no close, no destroy */
	}
	status = wait_child(pid);
	ASSERT_EQ(status, 0);
	EXPECT_EQ(mem_used_settled(fd, base0), base0);
	{
		int fd1 = dev_open(1);

		ASSERT_GE(fd1, 0);
		EXPECT_EQ(mem_used_settled(fd1, base1), base1);
		close(fd1);
	}
	close(fd);
}

/* The file outlives the mm it is bound to: no stale PTE, no crash. */
TEST(teardown_file_outlives_its_mm)
{
	struct result { atomic_int state; int code; } *res;
	pid_t pid;
	int i;

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(res, MAP_FAILED);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		size_t len = 4 * PAGE;
		char *buf = map_anon(len), out[16];
		int fd = dev_open(0), hold[2];
		uint32_t vm;
		pid_t gc;

		CHILD_CHECK(buf && fd >= 0 && pipe(hold) == 0);
		fill(buf, len, 82);
		CHILD_CHECK(vm_create(fd, 0, 0, &vm) == 0);
		CHILD_CHECK(mirror(fd, vm, GVA, buf, len, PROT_RW, 0) == 0);
		CHILD_CHECK(dev_read(fd, vm, GVA, out, 16) == 0);
		gc = fork();
		CHILD_CHECK(gc >= 0);
		if (gc == 0) {
			char c;
			int ret;

			/* EOF on the pipe: the mm's owner has exited. */
			close(hold[1]);
			CHILD_CHECK(read(hold[0], &c, 1) == 0);
			usleep(200000);
			ret = dev_read(fd, vm, GVA, out, 16);
			res->code = ret;
			/* Success would read freed pages through a stale PTE. */
			atomic_store(&res->state, ret ? 1 : 2);
			close(fd);
			_exit(0);
		}
		_exit(0);
	}
	EXPECT_EQ(wait_child(pid), 0);
	for (i = 0; i < 1000 && !atomic_load(&res->state); i++)
		usleep(10000);
	ASSERT_NE(atomic_load(&res->state), 0);
	TH_LOG("access after the mm exited: %s", th_errname(-res->code));
	EXPECT_EQ(atomic_load(&res->state), 1);
}

/* ==== device memory =================================================== */

TEST_F(dev, devmem_alloc_copy_free)
{
	size_t len = 16 * PAGE;
	char *in = map_anon(len), *out = map_anon(len);
	uint64_t base = mem_used(self->fd[0]);
	uint32_t h, h2;

	ASSERT_TRUE(in && out);
	fill(in, len, 90);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h), 0);
	EXPECT_EQ(mem_used(self->fd[0]), base + len);
	ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h2), 0);
	EXPECT_NE(h, h2);
	ASSERT_RC(copy_to_devmem(self->fd[0], h, 0, in, len), 0);
	ASSERT_RC(copy_from_devmem(self->fd[0], h, 0, out, len), 0);
	EXPECT_EQ(check(out, len, 90), -1);
	/* Offsets on both sides. */
	memset(out, 0, len);
	ASSERT_RC(copy_from_devmem(self->fd[0], h, 5 * PAGE, out + PAGE, PAGE),
		  0);
	EXPECT_EQ(check_at(out + PAGE, PAGE, 90, 5 * PAGE), -1);
	EXPECT_EQ(check_zero(out, PAGE), -1);
	ASSERT_RC(devmem_free(self->fd[0], h), 0);
	ASSERT_RC(devmem_free(self->fd[0], h2), 0);
	EXPECT_EQ(mem_used(self->fd[0]), base);
	/* The copy engine faults host pages in as needed. */
	{
		char *fresh = map_anon(PAGE);

		ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h), 0);
		ASSERT_RC(copy_from_devmem(self->fd[0], h, 0, fresh, PAGE), 0);
		ASSERT_RC(devmem_free(self->fd[0], h), 0);
	}
}

TEST_F(dev, devmem_map_device_access)
{
	size_t len = 4 * PAGE;
	char *in = map_anon(len), *out = map_anon(len), *host = map_anon(len);
	struct vsvmh_vm_stats st;
	uint64_t v = 3;
	uint32_t h;

	ASSERT_TRUE(in && out && host);
	fill(in, len, 91);
	fill(host, len, 92);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h), 0);
	ASSERT_RC(copy_to_devmem(self->fd[0], h, 0, in, len), 0);
	/* Device memory replaces a mirror at the same GPU range. */
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, host, len, PROT_RW, 0), 0);
	ASSERT_RC(devmem_map(self->fd[0], self->vm, h, GVA, 0, len, PROT_RWA),
		  0);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 1);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA, out, len), 0);
	EXPECT_EQ(check(out, len, 91), -1);
	fill(in, len, 93);
	ASSERT_RC(dev_write(self->fd[0], self->vm, GVA, in, len), 0);
	ASSERT_RC(copy_from_devmem(self->fd[0], h, 0, out, len), 0);
	EXPECT_EQ(check(out, len, 93), -1);
	EXPECT_EQ(check(host, len, 92), -1);
	ASSERT_RC(dev_atomic_add(self->fd[0], self->vm, GVA + PAGE, &v), 0);
	EXPECT_EQ(v, pattern(93, PAGE));
	/* A read-only mapping of an offset. */
	ASSERT_RC(devmem_map(self->fd[0], self->vm, h, GVA2, 2 * PAGE, PAGE,
			     VSVMH_PROT_READ), 0);
	ASSERT_RC(dev_read(self->fd[0], self->vm, GVA2, out, PAGE), 0);
	EXPECT_EQ(check_at(out, PAGE, 93, 2 * PAGE), -1);
	EXPECT_RC(dev_write(self->fd[0], self->vm, GVA2, in, 8), -EFAULT);
	/* FREE removes every mapping first. */
	ASSERT_RC(devmem_free(self->fd[0], h), 0);
	ASSERT_RC(vm_stats(self->fd[0], self->vm, &st), 0);
	EXPECT_EQ(st.mirrors, 0);
	EXPECT_EQ(st.mapped_bytes, 0);
	EXPECT_RC(dev_read(self->fd[0], self->vm, GVA, out, 8), -ENODEV);
}

TEST_F(dev, devmem_peer_copy_between_devices)
{
	size_t len = 8 * PAGE;
	char *in = map_anon(len), *out = map_anon(len);
	uint32_t h0, h0b, h1;

	ASSERT_TRUE(in && out);
	fill(in, len, 94);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h0), 0);
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h0b), 0);
	ASSERT_RC(devmem_alloc(self->fd[1], len, &h1), 0);
	ASSERT_RC(copy_to_devmem(self->fd[1], h1, 0, in, len), 0);
	/* Device 1 -> device 0, whole, then a slice at offsets. */
	ASSERT_RC(copy_peer(self->fd[0], h0, 0, self->fd[1], h1, 0, len), 0);
	ASSERT_RC(copy_from_devmem(self->fd[0], h0, 0, out, len), 0);
	EXPECT_EQ(check(out, len, 94), -1);
	/* Same file as its own peer. */
	ASSERT_RC(copy_peer(self->fd[0], h0b, PAGE, self->fd[0], h0, 3 * PAGE,
			    2 * PAGE), 0);
	ASSERT_RC(copy_from_devmem(self->fd[0], h0b, PAGE, out, 2 * PAGE), 0);
	EXPECT_EQ(check_at(out, 2 * PAGE, 94, 3 * PAGE), -1);
	/* And back to device 1, the source intact. */
	ASSERT_RC(copy_peer(self->fd[1], h1, 0, self->fd[0], h0, 0, len), 0);
	ASSERT_RC(copy_from_devmem(self->fd[1], h1, 0, out, len), 0);
	EXPECT_EQ(check(out, len, 94), -1);
}

TEST_F(dev, devmem_enospc)
{
	uint64_t size = self->caps[0].mem_size;
	uint32_t h, h2;

	EXPECT_RC(devmem_alloc(self->fd[0], size + PAGE, &h), -ENOSPC);
	EXPECT_RC(devmem_alloc(self->fd[0], 1ULL << 62, &h), -ENOSPC);
	if (mem_used(self->fd[0]) != 0)
		return;
	ASSERT_RC(devmem_alloc(self->fd[0], size, &h), 0);
	EXPECT_RC(devmem_alloc(self->fd[0], PAGE, &h2), -ENOSPC);
	ASSERT_RC(devmem_free(self->fd[0], h), 0);
	ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h2), 0);
}

/* ==== native VMs ====================================================== */

TEST_F(dev, native_vm_gpu_va_is_host_va)
{
	size_t len = 8 * PAGE;
	char *buf = map_anon(len), *out = malloc(len), *in = malloc(len);
	struct vsvmh_vm_stats st;
	struct vsvmh_fault rec;
	uint32_t nvm;
	uint64_t v = 1;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
	ASSERT_TRUE(buf && out && in);
	fill(buf, len, 100);
	ASSERT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, 0, &nvm), 0);
	ASSERT_RC(dev_read(self->fd[0], nvm, (uintptr_t)buf, out, len), 0);
	EXPECT_EQ(check(out, len, 100), -1);
	fill(in, len, 101);
	ASSERT_RC(dev_write(self->fd[0], nvm, (uintptr_t)buf, in, len), 0);
	EXPECT_EQ(check(buf, len, 101), -1);
	*(uint64_t *)buf = 1;
	ASSERT_RC(dev_atomic_add(self->fd[0], nvm, (uintptr_t)buf, &v), 0);
	EXPECT_EQ(*(uint64_t *)buf, 2);
	/* An unmapped host address fails in the kernel, never queued. */
	ASSERT_OK(munmap(buf + 4 * PAGE, PAGE));
	EXPECT_RC(dev_read(self->fd[0], nvm, (uintptr_t)buf + 4 * PAGE, out,
			   8), -EFAULT);
	EXPECT_EQ(fault_next(ffd, &rec, 100), 0);
	ASSERT_RC(vm_stats(self->fd[0], nvm, &st), 0);
	EXPECT_GT(st.faults_kernel, 0);
	EXPECT_EQ(st.faults_user, 0);
	EXPECT_GE(st.invalidations, 1);
	close(ffd);
}

TEST_F(dev, native_and_proxy_vm_side_by_side)
{
	size_t len = 2 * PAGE;
	char *a = map_anon(len), *b = map_anon(len), *out = malloc(len);
	uint32_t nvm;

	ASSERT_TRUE(a && b && out);
	fill(a, len, 102);
	fill(b, len, 103);
	ASSERT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, 0, &nvm), 0);
	/* The proxy VM shows B at A's address; the native VM shows A. */
	ASSERT_RC(mirror(self->fd[0], self->vm, (uintptr_t)a, b, len, PROT_RW,
			 0), 0);
	ASSERT_RC(dev_read(self->fd[0], nvm, (uintptr_t)a, out, len), 0);
	EXPECT_EQ(check(out, len, 102), -1);
	ASSERT_RC(dev_read(self->fd[0], self->vm, (uintptr_t)a, out, len), 0);
	EXPECT_EQ(check(out, len, 103), -1);
}

TEST_F(dev, native_vm_refuses_proxy_ioctls)
{
	char *buf = map_anon(PAGE);
	uint32_t nvm, h;

	ASSERT_TRUE(buf);
	ASSERT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, 0, &nvm), 0);
	EXPECT_RC(mirror(self->fd[0], nvm, GVA, buf, PAGE, PROT_RW, 0), -EPERM);
	EXPECT_RC(unmap(self->fd[0], nvm, GVA, PAGE), -EPERM);
	ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h), 0);
	EXPECT_RC(devmem_map(self->fd[0], nvm, h, GVA, 0, PAGE, PROT_RW),
		  -EPERM);
}

TEST_F(dev, native_vm_va_bits)
{
	unsigned int host = host_va_bits();
	uint32_t id;

	TH_LOG("host user VA: %u bits", host);
	EXPECT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, 0, &id), 0);
	EXPECT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, host, &id), 0);
	EXPECT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, host == 48 ? 57 : 48,
			    &id), -EINVAL);
	EXPECT_RC(vm_create(self->fd[0], VSVMH_VM_NATIVE, 47, &id), -EINVAL);
}

/* ==== bad arguments =================================================== */

TEST_F(dev, bad_args_vm_create)
{
	struct vsvmh_vm_create c;
	uint32_t id, ids[4];
	unsigned int i, n;

	c = (struct vsvmh_vm_create){ .flags = 2 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_CREATE, &c), -EINVAL);
	c = (struct vsvmh_vm_create){ .flags = 1u << 31 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_CREATE, &c), -EINVAL);
	c = (struct vsvmh_vm_create){ .reserved = 1 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_CREATE, &c), -EINVAL);
	EXPECT_RC(vm_create(self->fd[0], 0, 46, &id), -EINVAL);
	EXPECT_RC(vm_create(self->fd[0], 0, 58, &id), -EINVAL);
	EXPECT_RC(vm_create(self->fd[0], 0, 1, &id), -EINVAL);
	EXPECT_RC(vm_create(self->fd[0], 0, 64, &id), -EINVAL);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_CREATE, (void *)8),
		  -EFAULT);
	/* Every valid width; ids unique and never 0. */
	for (i = 0; i < 4; i++) {
		ASSERT_RC(vm_create(self->fd[0], 0, 47 + i * 3, &ids[i]), 0);
		EXPECT_NE(ids[i], 0);
		EXPECT_NE(ids[i], self->vm);
		if (i)
			EXPECT_NE(ids[i], ids[i - 1]);
	}
	/* max_vms per file, then -ENOSPC. */
	for (n = 5; n < self->caps[0].max_vms && n < 100000; n++)
		ASSERT_RC(vm_create(self->fd[0], 0, 0, &id), 0);
	EXPECT_RC(vm_create(self->fd[0], 0, 0, &id), -ENOSPC);
	/* A freed slot can be taken again. */
	ASSERT_RC(vm_destroy(self->fd[0], ids[0]), 0);
	EXPECT_RC(vm_create(self->fd[0], 0, 0, &id), 0);
}

TEST_F(dev, bad_args_vm_destroy_and_stats)
{
	struct vsvmh_vm v = { .vm_id = self->vm, .reserved = 1 };
	struct vsvmh_vm_stats st = { .vm_id = self->vm, .reserved = 1 };

	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_DESTROY, &v), -EINVAL);
	EXPECT_RC(vm_destroy(self->fd[0], 0), -EINVAL);
	EXPECT_RC(vm_destroy(self->fd[0], self->vm + 1000), -EINVAL);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_STATS, &st), -EINVAL);
	st = (struct vsvmh_vm_stats){ .vm_id = self->vm, .reserved2 = 1 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_STATS, &st), -EINVAL);
	EXPECT_RC(vm_stats(self->fd[0], 0, &st), -EINVAL);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_VM_STATS, (void *)8),
		  -EFAULT);
	EXPECT_RC(vm_destroy(self->fd[0], self->vm), 0);
	EXPECT_RC(vm_destroy(self->fd[0], self->vm), -EINVAL);
}

TEST_F(dev, bad_args_mirror)
{
	char *buf = map_anon(4 * PAGE);
	struct vsvmh_mirror m;
	uint64_t top48 = 1ULL << 48;
	uint32_t vm57;

	ASSERT_TRUE(buf);
#define M(...) (m = (struct vsvmh_mirror){ .vm_id = self->vm,		\
	.prot = PROT_RW, .gpu_va = GVA, .host_va = (uintptr_t)buf,	\
	.len = PAGE, __VA_ARGS__ }, xioctl(self->fd[0], VSVMH_IOCTL_MIRROR, &m))
	EXPECT_RC(M(), 0);
	EXPECT_RC(M(.vm_id = 0), -EINVAL);
	EXPECT_RC(M(.vm_id = self->vm + 1000), -EINVAL);
	EXPECT_RC(M(.reserved = 1), -EINVAL);
	EXPECT_RC(M(.flags = 2), -EINVAL);
	EXPECT_RC(M(.prot = 0), -EINVAL);
	EXPECT_RC(M(.prot = VSVMH_PROT_WRITE), -EINVAL);
	EXPECT_RC(M(.prot = VSVMH_PROT_READ | VSVMH_PROT_ATOMIC), -EINVAL);
	EXPECT_RC(M(.prot = PROT_RWA | 8), -EINVAL);
	EXPECT_RC(M(.gpu_va = GVA + 1), -EINVAL);
	EXPECT_RC(M(.gpu_va = GVA + PAGE / 2), -EINVAL);
	EXPECT_RC(M(.host_va = (uintptr_t)buf + 8), -EINVAL);
	EXPECT_RC(M(.len = 0), -EINVAL);
	EXPECT_RC(M(.len = PAGE + 1), -EINVAL);
	EXPECT_RC(M(.len = PAGE - 1), -EINVAL);
	/* Overflowing ranges. */
	EXPECT_RC(M(.gpu_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(M(.len = ~0ULL & ~(PAGE - 1)), -EINVAL);
	EXPECT_RC(M(.host_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	/* Beyond the VM's va_bits. */
	EXPECT_RC(M(.gpu_va = top48), -ERANGE);
	EXPECT_RC(M(.gpu_va = top48 - PAGE, .len = 2 * PAGE), -ERANGE);
	EXPECT_RC(M(.gpu_va = top48 - PAGE), 0);
	ASSERT_RC(vm_create(self->fd[0], 0, 57, &vm57), 0);
	EXPECT_RC(M(.vm_id = vm57, .gpu_va = top48), 0);
	EXPECT_RC(M(.vm_id = vm57, .gpu_va = 1ULL << 57), -ERANGE);
	/* A host range outside the user address space. */
	EXPECT_RC(M(.host_va = 0xffff800000000000ULL), -EINVAL);
	/* POPULATE of host pages that are not there. */
	ASSERT_OK(munmap(buf + 2 * PAGE, PAGE));
	EXPECT_RC(M(.host_va = (uintptr_t)buf + 2 * PAGE,
		    .flags = VSVMH_MIRROR_POPULATE), -EFAULT);
	/* Without POPULATE the hole is fine until the device touches it. */
	EXPECT_RC(M(.host_va = (uintptr_t)buf + 2 * PAGE), 0);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_MIRROR, (void *)8), -EFAULT);
#undef M
}

TEST_F(dev, bad_args_unmap)
{
	struct vsvmh_range r;

#define U(...) (r = (struct vsvmh_range){ .vm_id = self->vm, .gpu_va = GVA,\
	.len = PAGE, __VA_ARGS__ }, xioctl(self->fd[0], VSVMH_IOCTL_UNMAP, &r))
	EXPECT_RC(U(), 0);
	EXPECT_RC(U(.vm_id = 0), -EINVAL);
	EXPECT_RC(U(.vm_id = self->vm + 1000), -EINVAL);
	EXPECT_RC(U(.reserved = 1), -EINVAL);
	EXPECT_RC(U(.gpu_va = GVA + 8), -EINVAL);
	EXPECT_RC(U(.len = 0), -EINVAL);
	EXPECT_RC(U(.len = 12), -EINVAL);
	EXPECT_RC(U(.gpu_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	/* Beyond va_bits: the header names no -ERANGE for UNMAP: -EINVAL. */
	EXPECT_RC(U(.gpu_va = 1ULL << 48), -EINVAL);
	EXPECT_RC(U(.gpu_va = (1ULL << 48) - PAGE, .len = 2 * PAGE), -EINVAL);
#undef U
}

TEST_F(dev, bad_args_access)
{
	char *buf = map_anon(2 * PAGE), *ro;
	struct vsvmh_access a;

	ASSERT_TRUE(buf);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, 2 * PAGE, PROT_RWA,
			 0), 0);
#define A(...) (a = (struct vsvmh_access){ .vm_id = self->vm,		\
	.op = VSVMH_ACCESS_READ, .gpu_va = GVA, .len = 8,		\
	.buf = (uintptr_t)buf, __VA_ARGS__ },				\
	xioctl(self->fd[0], VSVMH_IOCTL_ACCESS, &a))
	EXPECT_RC(A(), 0);
	EXPECT_RC(A(.vm_id = 0), -EINVAL);
	EXPECT_RC(A(.vm_id = self->vm + 1000), -EINVAL);
	EXPECT_RC(A(.op = 0), -EINVAL);
	EXPECT_RC(A(.op = 4), -EINVAL);
	EXPECT_RC(A(.flags = 2), -EINVAL);
	EXPECT_RC(A(.len = 0), -EINVAL);
	EXPECT_RC(A(.len = MAX_ACCESS + 1), -EINVAL);
	EXPECT_RC(A(.len = ~0ULL), -EINVAL);
	EXPECT_RC(A(.gpu_va = ~0ULL - 3), -EINVAL);
	EXPECT_RC(A(.op = VSVMH_ACCESS_ATOMIC_ADD, .len = 4), -EINVAL);
	EXPECT_RC(A(.op = VSVMH_ACCESS_ATOMIC_ADD, .len = 16), -EINVAL);
	EXPECT_RC(A(.op = VSVMH_ACCESS_ATOMIC_ADD, .gpu_va = GVA + 4), -EINVAL);
	EXPECT_RC(A(.op = VSVMH_ACCESS_ATOMIC_ADD), 0);
	/* The caller's buffer must be readable/writable as the op needs. */
	EXPECT_RC(A(.buf = 8), -EFAULT);
	ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(ro, MAP_FAILED);
	EXPECT_RC(A(.buf = (uintptr_t)ro), -EFAULT);
	EXPECT_RC(A(.op = VSVMH_ACCESS_WRITE, .buf = (uintptr_t)ro), 0);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_ACCESS, (void *)8), -EFAULT);
#undef A
}

TEST_F(dev, bad_args_fault_reply)
{
	struct vsvmh_fault_resolution res[2] = { { .id = 1 }, { .id = 2 } };
	struct vsvmh_fault_reply r;
	int ffd = fault_fd(self->fd[0]);

	ASSERT_GE(ffd, 0);
#define R(...) (r = (struct vsvmh_fault_reply){ .nr = 1,		\
	.res = (uintptr_t)res, __VA_ARGS__ },				\
	xioctl(self->fd[0], VSVMH_IOCTL_FAULT_REPLY, &r))
	EXPECT_RC(R(), 0);
	EXPECT_EQ(r.resolved, 0);
	EXPECT_RC(R(.nr = 0), -EINVAL);
	EXPECT_RC(R(.nr = 4097), -EINVAL);
	EXPECT_RC(R(.nr = ~0u), -EINVAL);
	EXPECT_RC(R(.res = 8), -EFAULT);
	EXPECT_RC(R(.nr = 4096, .res = (uintptr_t)res), -EFAULT);
#undef R
	close(ffd);
}

TEST_F(dev, bad_args_migrate)
{
	char *buf = map_anon(4 * PAGE);
	struct vsvmh_migrate m;

	ASSERT_TRUE(buf);
	REQUIRE_DEVICE_PRIVATE(self->caps[0]);
#define G(...) (m = (struct vsvmh_migrate){ .host_va = (uintptr_t)buf,	\
	.len = PAGE, .dir = VSVMH_MIGRATE_TO_DEVICE, __VA_ARGS__ },	\
	xioctl(self->fd[0], VSVMH_IOCTL_MIGRATE, &m))
	EXPECT_RC(G(.dir = 0), -EINVAL);
	EXPECT_RC(G(.dir = 3), -EINVAL);
	EXPECT_RC(G(.flags = 1), -EINVAL);
	EXPECT_RC(G(.host_va = (uintptr_t)buf + 1), -EINVAL);
	EXPECT_RC(G(.len = 0), -EINVAL);
	EXPECT_RC(G(.len = PAGE + 8), -EINVAL);
	EXPECT_RC(G(.host_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE),
		  -EINVAL);
	EXPECT_RC(G(.host_va = 0xffff800000000000ULL), -EINVAL);
	EXPECT_RC(G(), 0);
#undef G
}

TEST_F(dev, bad_args_devmem)
{
	struct vsvmh_devmem d;
	uint32_t h, h1;

	d = (struct vsvmh_devmem){ .size = 0 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_ALLOC, &d), -EINVAL);
	d = (struct vsvmh_devmem){ .size = PAGE + 1 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_ALLOC, &d), -EINVAL);
	d = (struct vsvmh_devmem){ .size = PAGE, .flags = 1 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_ALLOC, &d), -EINVAL);
	ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h), 0);
	ASSERT_RC(devmem_alloc(self->fd[1], PAGE, &h1), 0);
	d = (struct vsvmh_devmem){ .handle = h, .flags = 1 };
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_FREE, &d), -EINVAL);
	EXPECT_RC(devmem_free(self->fd[0], h + 1000), -EINVAL);
	/* Another file's handle names nothing here. */
	{
		int other = dev_open(0);

		ASSERT_GE(other, 0);
		EXPECT_RC(devmem_free(other, h), -EINVAL);
		close(other);
	}
	EXPECT_RC(devmem_free(self->fd[0], h), 0);
	EXPECT_RC(devmem_free(self->fd[0], h), -EINVAL);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_ALLOC, (void *)8),
		  -EFAULT);
}

TEST_F(dev, bad_args_copy)
{
	size_t len = 4 * PAGE;
	char *buf = map_anon(len);
	struct vsvmh_copy c;
	uint32_t h, h1;
	int pfd[2];

	ASSERT_TRUE(buf);
	ASSERT_OK(pipe(pfd));
	ASSERT_RC(devmem_alloc(self->fd[0], len, &h), 0);
	ASSERT_RC(devmem_alloc(self->fd[1], len, &h1), 0);
#define C(...) (c = (struct vsvmh_copy){ .dir = VSVMH_COPY_TO_DEVMEM,	\
	.peer_fd = -1, .handle = h, .host_va = (uintptr_t)buf,		\
	.len = PAGE, __VA_ARGS__ }, xioctl(self->fd[0], VSVMH_IOCTL_COPY, &c))
	EXPECT_RC(C(), 0);
	EXPECT_RC(C(.dir = VSVMH_COPY_FROM_DEVMEM), 0);
	EXPECT_RC(C(.dir = 0), -EINVAL);
	EXPECT_RC(C(.dir = 4), -EINVAL);
	EXPECT_RC(C(.handle = h + 1000), -EINVAL);
	EXPECT_RC(C(.handle = h1 + 1000), -EINVAL);
	EXPECT_RC(C(.offset = 8), -EINVAL);
	EXPECT_RC(C(.host_va = (uintptr_t)buf + 8), -EINVAL);
	EXPECT_RC(C(.len = 0), -EINVAL);
	EXPECT_RC(C(.len = 100), -EINVAL);
	EXPECT_RC(C(.len = len + PAGE), -EINVAL);
	EXPECT_RC(C(.offset = len), -EINVAL);
	EXPECT_RC(C(.offset = len - PAGE, .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(C(.offset = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(C(.host_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	/* Peer fields must be unused outside COPY_PEER. */
	EXPECT_RC(C(.peer_fd = self->fd[1]), -EINVAL);
	EXPECT_RC(C(.peer_handle = h1), -EINVAL);
	/* A host page that is not there. */
	ASSERT_OK(munmap(buf + PAGE, PAGE));
	EXPECT_RC(C(.host_va = (uintptr_t)buf + PAGE), -EFAULT);
	/* COPY_PEER: the peer must be a vsvm_host file of the same mm. */
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = self->fd[1],
		    .peer_handle = h1), 0);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = -1,
		    .peer_handle = h1), -EBADF);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = 999,
		    .peer_handle = h1), -EBADF);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = pfd[0],
		    .peer_handle = h1), -EBADF);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = self->fd[1],
		    .peer_handle = h1 + 1000), -EINVAL);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = self->fd[1],
		    .peer_handle = h1, .peer_offset = len), -EINVAL);
	EXPECT_RC(C(.dir = VSVMH_COPY_PEER, .host_va = 0, .peer_fd = self->fd[1],
		    .peer_handle = h1, .peer_offset = 8), -EINVAL);
	EXPECT_RC(xioctl(self->fd[0], VSVMH_IOCTL_COPY, (void *)8), -EFAULT);
#undef C
}

/* A file of another mm, taken with pidfd_getfd(): not a valid peer. */
TEST_F(dev, bad_args_copy_peer_of_another_mm)
{
	int ready[2], hold[2], pidfd, theirs, status;
	uint32_t h, their_h;
	pid_t pid;
	char c;

	ASSERT_OK(pipe(ready));
	ASSERT_OK(pipe(hold));
	ASSERT_RC(devmem_alloc(self->fd[0], PAGE, &h), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd = dev_open(1);
		uint32_t hh;

		CHILD_CHECK(fd >= 0);
		CHILD_CHECK(devmem_alloc(fd, PAGE, &hh) == 0);
		CHILD_CHECK(dup2(fd, 100) == 100);
		CHILD_CHECK(write(ready[1], &hh, sizeof(hh)) == sizeof(hh));
		close(hold[1]);
		CHILD_CHECK(read(hold[0], &c, 1) == 0);
		_exit(0);
	}
	close(hold[0]);
	ASSERT_EQ(read(ready[0], &their_h, sizeof(their_h)),
		  (ssize_t)sizeof(their_h));
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_GE(pidfd, 0);
	theirs = syscall(SYS_pidfd_getfd, pidfd, 100, 0);
	ASSERT_GE(theirs, 0);
	EXPECT_RC(copy_peer(self->fd[0], h, 0, theirs, their_h, 0, PAGE),
		  -EBADF);
	/* Nor may this process use that file with its own addresses. */
	{
		char *buf = map_anon(PAGE);
		uint32_t vm;

		EXPECT_RC(copy_to_devmem(theirs, their_h, 0, buf, PAGE), -EINVAL);
		if (vm_create(theirs, 0, 0, &vm) == 0)
			EXPECT_RC(mirror(theirs, vm, GVA, buf, PAGE, PROT_RW, 0),
				  -EINVAL);
	}
	close(theirs);
	close(hold[1]);
	status = wait_child(pid);
	EXPECT_EQ(status, 0);
}

TEST_F(dev, bad_args_devmem_map)
{
	size_t len = 4 * PAGE;
	struct vsvmh_devmem_map m;
	uint32_t h;

	ASSERT_RC(devmem_alloc(self->fd[0], len, &h), 0);
#define D(...) (m = (struct vsvmh_devmem_map){ .vm_id = self->vm,	\
	.handle = h, .gpu_va = GVA, .len = PAGE, .prot = PROT_RW,	\
	__VA_ARGS__ }, xioctl(self->fd[0], VSVMH_IOCTL_DEVMEM_MAP, &m))
	EXPECT_RC(D(), 0);
	EXPECT_RC(D(.vm_id = 0), -EINVAL);
	EXPECT_RC(D(.vm_id = self->vm + 1000), -EINVAL);
	EXPECT_RC(D(.handle = h + 1000), -EINVAL);
	EXPECT_RC(D(.reserved = 1), -EINVAL);
	EXPECT_RC(D(.prot = 0), -EINVAL);
	EXPECT_RC(D(.prot = VSVMH_PROT_WRITE), -EINVAL);
	EXPECT_RC(D(.prot = 16 | PROT_RW), -EINVAL);
	EXPECT_RC(D(.gpu_va = GVA + 8), -EINVAL);
	EXPECT_RC(D(.offset = 8), -EINVAL);
	EXPECT_RC(D(.len = 0), -EINVAL);
	EXPECT_RC(D(.len = 10), -EINVAL);
	EXPECT_RC(D(.len = len + PAGE), -EINVAL);
	EXPECT_RC(D(.offset = len - PAGE, .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(D(.offset = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(D(.gpu_va = ~0ULL & ~(PAGE - 1), .len = 2 * PAGE), -EINVAL);
	EXPECT_RC(D(.gpu_va = 1ULL << 48), -ERANGE);
#undef D
}

/* ==== concurrency ===================================================== */

struct churn {
	int fd;
	uint32_t vm;
	size_t len;
	atomic_int stop;
	atomic_int bad;
	atomic_int reads;
	pthread_t thread;
};

/* Reads while the host side churns: a word is 0 or a seed seen so far. */
static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	uint64_t *out = malloc(c->len);
	size_t i;
	int ret;

	while (!atomic_load(&c->stop)) {
		ret = dev_read(c->fd, c->vm, GVA, out, c->len);
		if (ret && ret != -EFAULT) {
			atomic_fetch_add(&c->bad, 1);
			continue;
		}
		atomic_fetch_add(&c->reads, 1);
		if (ret)
			continue;
		for (i = 0; i < c->len / 8; i++)
			if (out[i] && (out[i] >> 40) > 1000)
				atomic_fetch_add(&c->bad, 1);
	}
	free(out);
	return NULL;
}

TEST_F_TIMEOUT(dev, concurrent_invalidation_during_access, 120)
{
	struct churn c = { .fd = self->fd[0], .vm = self->vm, .len = 8 * PAGE };
	char *buf = map_anon(c.len);
	int i;

	ASSERT_TRUE(buf);
	ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, c.len, PROT_RW, 0),
		  0);
	ASSERT_OK(pthread_create(&c.thread, NULL, churn_reader, &c));
	for (i = 1; i <= 200; i++) {
		fill(buf, c.len, i);
		ASSERT_OK(madvise(buf, c.len, MADV_DONTNEED));
		if (i % 20 == 0) {
			ASSERT_OK(munmap(buf, c.len));
			ASSERT_EQ(mmap(buf, c.len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_FIXED_NOREPLACE, -1, 0), buf);
		}
		if (i % 50 == 0)
			ASSERT_RC(mirror(self->fd[0], self->vm, GVA, buf, c.len,
					 PROT_RW, 0), 0);
	}
	atomic_store(&c.stop, 1);
	pthread_join(c.thread, NULL);
	TH_LOG("%d device reads during 200 host invalidations",
	       atomic_load(&c.reads));
	EXPECT_EQ(atomic_load(&c.bad), 0);
	EXPECT_GT(atomic_load(&c.reads), 0);
}

TEST_HARNESS_MAIN
