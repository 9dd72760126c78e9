// SPDX-License-Identifier: MIT
/*
 * memtable.c - the guest memory table of one vhost-user connection.
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * DOC: Overview
 *
 * The frontend describes guest RAM as up to VP_MEMTABLE_MAX_REGIONS regions.
 * Each region is mapped whole, from offset 0 of its fd up to the region's
 * end, so that an mmap_offset that is not page aligned needs no rounding:
 *
 *   fd:   |<-- mmap_offset -->|<------------ size ------------>|
 *         ^ map                ^ gpa / uva of the region
 *
 * Every translation checks that [addr, addr + len) lies inside one region,
 * written so that no sum can wrap: "off < size && len <= size - off".
 * Nothing here is locked: a table belongs to its connection thread, and
 * whoever replaces it makes every other user drop its pointers first.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memtable.h"

static void close_fds(uint32_t nr, const int *fds)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* A region whose arithmetic cannot wrap in any address space we use. */
static int check_region(uint64_t gpa, uint64_t size, uint64_t uva,
			uint64_t mmap_offset)
{
	if (size == 0)
		return -EINVAL;
	if (gpa > UINT64_MAX - size || uva > UINT64_MAX - size)
		return -EINVAL;
	if (mmap_offset > UINT64_MAX - size)
		return -EINVAL;
	/* The mapping length must fit size_t and off_t. */
	if (mmap_offset + size > (uint64_t)SIZE_MAX ||
	    mmap_offset + size > (uint64_t)INT64_MAX)
		return -EINVAL;
	return 0;
}

static int overlaps(const struct vp_memtable *mt, uint64_t gpa, uint64_t size)
{
	uint32_t i;

	for (i = 0; i < mt->nr; i++) {
		const struct vp_memregion *r = &mt->regions[i];

		/* Both ranges are known not to wrap. */
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return 1;
	}
	return 0;
}

/*
 * A file shorter than the mapping would make an access past its end raise
 * SIGBUS in the proxy; refuse it up front.  (A frontend that truncates the
 * file later can still do that: it is trusted not to.)
 */
static int check_fd_size(int fd, uint64_t need)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < need)
		return -EINVAL;
	return 0;
}

static int map_region(struct vp_memregion *r, int fd)
{
	uint64_t len = r->mmap_offset + r->size;
	void *map;
	int ret;

	ret = check_fd_size(fd, len);
	if (ret)
		return ret;
	map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (map == MAP_FAILED)
		return -errno;
	r->map = map;
	r->map_len = (size_t)len;
	return 0;
}

int vp_memtable_build(struct vp_memtable *mt, uint32_t nr, const uint64_t *gpa,
		      const uint64_t *size, const uint64_t *uva,
		      const uint64_t *mmap_offset, const int *fds)
{
	uint32_t i;
	int ret = -EINVAL;

	memset(mt, 0, sizeof(*mt));
	if (nr > VP_MEMTABLE_MAX_REGIONS)
		goto err_close;
	for (i = 0; i < nr; i++) {
		struct vp_memregion *r = &mt->regions[i];

		ret = -EINVAL;
		if (fds[i] < 0 ||
		    check_region(gpa[i], size[i], uva[i], mmap_offset[i]) ||
		    overlaps(mt, gpa[i], size[i]))
			goto err_unmap;
		r->gpa = gpa[i];
		r->size = size[i];
		r->uva = uva[i];
		r->mmap_offset = mmap_offset[i];
		ret = map_region(r, fds[i]);
		if (ret)
			goto err_unmap;
		mt->nr = i + 1;
	}
	close_fds(nr, fds);
	return 0;

err_unmap:
	vp_memtable_clear(mt);
err_close:
	close_fds(nr, fds);
	return ret;
}

void vp_memtable_clear(struct vp_memtable *mt)
{
	uint32_t i;

	for (i = 0; i < mt->nr; i++)
		munmap(mt->regions[i].map, mt->regions[i].map_len);
	memset(mt, 0, sizeof(*mt));
}

/* Host pointer to [addr, addr + len) by GPA or by frontend VA. */
static void *lookup(const struct vp_memtable *mt, uint64_t addr, uint64_t len,
		    int by_uva)
{
	uint32_t i;

	for (i = 0; i < mt->nr; i++) {
		const struct vp_memregion *r = &mt->regions[i];
		uint64_t base = by_uva ? r->uva : r->gpa;
		uint64_t off;

		if (addr < base)
			continue;
		off = addr - base;
		if (off >= r->size || len > r->size - off)
			continue;
		return (uint8_t *)r->map + r->mmap_offset + off;
	}
	return NULL;
}

void *vp_memtable_gpa(const struct vp_memtable *mt, uint64_t gpa, uint64_t len)
{
	return lookup(mt, gpa, len, 0);
}

void *vp_memtable_gpa_extent(const struct vp_memtable *mt, uint64_t gpa,
			     uint64_t *len)
{
	uint32_t i;

	for (i = 0; i < mt->nr; i++) {
		const struct vp_memregion *r = &mt->regions[i];
		uint64_t off;

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		off = gpa - r->gpa;
		*len = r->size - off;
		return (uint8_t *)r->map + r->mmap_offset + off;
	}
	*len = 0;
	return NULL;
}

void *vp_memtable_uva(const struct vp_memtable *mt, uint64_t uva, uint64_t len)
{
	return lookup(mt, uva, len, 1);
}
