// SPDX-License-Identifier: MIT
/*
 * dev_sim_device_memory.c - the simulated device reports its
 * configuration; its memory pool hands out zeroed, aligned pages and takes
 * them back; page tables live in that pool (an empty VM holds none of it);
 * a map that runs the pool dry fails cleanly; data placed in device memory
 * and mapped with vm_map() is used by kernels like any host memory; a bad
 * configuration is refused.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

#define RW (VP_PROT_READ | VP_PROT_WRITE)

static uint64_t mem_used(struct vp_device *dev)
{
	struct vp_device_info info;

	dev->ops->info(dev, &info);
	return info.mem_used;
}

static void info_reports_the_configuration(void **state)
{
	struct dev_sim_config cfg = {
		.index = 3,
		.exec_units = 7,
		.mem_size = (16ull << 20) + 100,
	};
	struct vp_device *dev = dev_sim_create(&cfg);
	struct vp_device_info info;

	(void)state;
	assert_non_null(dev);
	assert_true(dev_sim_is_sim(dev));
	assert_int_equal(dev->index, 3);
	dev->ops->info(dev, &info);
	assert_string_equal(info.name, "sim3");
	assert_int_equal(info.index, 3);
	assert_int_equal(info.exec_units, 7);
	assert_int_equal(info.mem_size, 16ull << 20);
	assert_int_equal(info.mem_used, 0);
	dev->ops->destroy(dev);

	dev = dev_sim_create(NULL);
	assert_non_null(dev);
	dev->ops->info(dev, &info);
	assert_string_equal(info.name, "sim0");
	assert_int_equal(info.exec_units, DEV_SIM_DEFAULT_EXEC_UNITS);
	assert_int_equal(info.mem_size, DEV_SIM_DEFAULT_MEM_SIZE);
	dev->ops->destroy(dev);
}

static void bad_configuration_is_refused(void **state)
{
	static const struct dev_sim_config bad[] = {
		{ .exec_units = DEV_SIM_MAX_EXEC_UNITS + 1 },
		{ .tlb_entries = 48 },
		{ .tlb_entries = DEV_SIM_MAX_TLB_ENTRIES * 2 },
		{ .mem_size = 100 },
		{ .mem_size = DEV_SIM_MAX_MEM_SIZE + PAGE },
		{ .reserved = 1 },
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(dev_sim_create(&bad[i]));
		assert_int_equal(errno, EINVAL);
	}
}

static void empty_vms_hold_no_device_memory(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	struct vp_dev_vm *vm[100];
	struct vp_vm_stats st;
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(
			dev->ops->vm_create(dev, 57, NULL, NULL, &vm[i]), 0);
		dev->ops->vm_stats(vm[i], &st);
		assert_int_equal(st.pt_bytes, 0);
		assert_int_equal(st.mapped_bytes, 0);
	}
	assert_int_equal(mem_used(dev), 0);
	assert_int_equal(dev->ops->vm_create(dev, 46, NULL, NULL, &vm[0]),
			 -EINVAL);
	assert_int_equal(dev->ops->vm_create(dev, 58, NULL, NULL, &vm[0]),
			 -EINVAL);
	for (i = 0; i < 100; i++)
		dev->ops->vm_destroy(vm[i]);
	dev->ops->destroy(dev);
}

static void page_tables_live_in_device_memory(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	uint8_t *buf = test_alloc(PAGE, PAGE);
	struct vp_dev_vm *a, *b;
	struct vp_vm_stats sa, sb;

	(void)state;
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &a), 0);
	assert_int_equal(dev->ops->vm_create(dev, 57, NULL, NULL, &b), 0);
	assert_int_equal(dev->ops->vm_map(a, TEST_VA, PAGE, buf, RW), 0);
	assert_int_equal(dev->ops->vm_map(b, TEST_VA, PAGE, buf, RW), 0);
	dev->ops->vm_stats(a, &sa);
	dev->ops->vm_stats(b, &sb);
	assert_int_equal(sa.pt_bytes, 4 * PAGE);
	assert_int_equal(sb.pt_bytes, 5 * PAGE);
	assert_int_equal(mem_used(dev), sa.pt_bytes + sb.pt_bytes);
	dev->ops->vm_unmap(a, TEST_VA, PAGE);
	assert_int_equal(mem_used(dev), sb.pt_bytes);
	/* Destroying a VM with mappings gives its tables back. */
	dev->ops->vm_destroy(b);
	assert_int_equal(mem_used(dev), 0);
	dev->ops->vm_destroy(a);
	dev->ops->destroy(dev);
	free(buf);
}

static void pool_hands_out_zeroed_aligned_memory(void **state)
{
	struct dev_sim_config cfg = { .exec_units = 1, .mem_size = 8 << 20 };
	struct vp_device *dev = dev_sim_create(&cfg);
	struct vp_device_ops fake_ops = { 0 };
	struct vp_device fake = { .ops = &fake_ops };
	uint8_t *p, *q, *h;

	(void)state;
	assert_non_null(dev);
	p = dev_sim_mem_alloc(dev, 100, 0);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % PAGE, 0);
	assert_true(dev_sim_mem_contains(dev, p, PAGE));
	assert_int_equal(mem_used(dev), PAGE);
	memset(p, 0xff, PAGE);
	dev_sim_mem_free(dev, p, 100);
	assert_int_equal(mem_used(dev), 0);
	q = dev_sim_mem_alloc(dev, PAGE, PAGE);
	assert_non_null(q);
	assert_true(q[0] == 0 && q[PAGE - 1] == 0);

	h = dev_sim_mem_alloc(dev, HUGE, HUGE);
	assert_non_null(h);
	assert_int_equal((uintptr_t)h % HUGE, 0);
	assert_int_equal(mem_used(dev), PAGE + HUGE);
	/* 8 MiB pool: at most two more 2 MiB-aligned blocks fit. */
	assert_non_null(dev_sim_mem_alloc(dev, HUGE, HUGE));
	assert_non_null(dev_sim_mem_alloc(dev, HUGE, HUGE));
	assert_null(dev_sim_mem_alloc(dev, HUGE, HUGE));
	assert_null(dev_sim_mem_alloc(dev, 0, 0));
	assert_null(dev_sim_mem_alloc(dev, PAGE, 3 * PAGE));
	assert_null(dev_sim_mem_alloc(dev, 9 << 20, 0));
	assert_null(dev_sim_mem_alloc(&fake, PAGE, 0));
	assert_false(dev_sim_is_sim(&fake));
	assert_false(dev_sim_mem_contains(dev, &fake, 1));
	assert_false(dev_sim_mem_contains(dev, h, 8 << 20));
	dev_sim_mem_free(dev, h, HUGE);
	assert_int_equal(mem_used(dev), PAGE + 2 * HUGE);
	dev->ops->destroy(dev);
}

static void map_fails_cleanly_when_device_memory_runs_out(void **state)
{
	/* 6 pages: one 4-level path (4 pages) and a bit. */
	struct dev_sim_config cfg = { .exec_units = 1, .mem_size = 6 * PAGE };
	struct vp_device *dev = dev_sim_create(&cfg);
	uint8_t *buf = test_alloc(PAGE, PAGE);
	struct vp_vm_stats st;
	struct vp_dev_vm *vm;

	(void)state;
	assert_non_null(dev);
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(dev->ops->vm_map(vm, TEST_VA, PAGE, buf, RW), 0);
	/* Needs three more tables: L3, L2, L1 under another root entry. */
	assert_int_equal(dev->ops->vm_map(vm, 1ull << 47, PAGE, buf, RW),
			 -ENOMEM);
	dev->ops->vm_stats(vm, &st);
	assert_int_equal(st.mapped_bytes, PAGE);
	assert_int_equal(st.pt_bytes, 4 * PAGE);
	assert_int_equal(mem_used(dev), 4 * PAGE);
	dev->ops->vm_unmap(vm, TEST_VA, PAGE);
	assert_int_equal(mem_used(dev), 0);
	assert_int_equal(dev->ops->vm_map(vm, 1ull << 47, PAGE, buf, RW), 0);
	dev->ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(buf);
}

static void kernels_use_data_in_device_memory(void **state)
{
	struct vp_device *dev = test_device(4, 64);
	uint64_t n = HUGE / 8, i, sum = 0;
	/* Host buffers off 2 MiB alignment: they map with 4 KiB leaves. */
	uint64_t *src_mem = test_alloc(HUGE + PAGE, HUGE);
	uint64_t *dst_mem = test_alloc(HUGE + PAGE, HUGE);
	uint64_t *src = src_mem + PAGE / 8, *dst = dst_mem + PAGE / 8;
	uint64_t *vram;
	struct vp_vm_stats st;
	struct vp_dev_vm *vm;
	struct vp_launch l;

	(void)state;
	for (i = 0; i < n; i++) {
		src[i] = i ^ 0x5555;
		sum += src[i];
	}
	vram = dev_sim_mem_alloc(dev, HUGE, HUGE);
	assert_non_null(vram);
	assert_int_equal(dev->ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(dev->ops->vm_map(vm, TEST_VA, HUGE, src, RW), 0);
	assert_int_equal(dev->ops->vm_map(vm, TEST_VA2, HUGE, vram, RW), 0);
	assert_int_equal(dev->ops->vm_map(vm, TEST_VA2 + HUGE, HUGE, dst, RW),
			 0);
	dev->ops->vm_stats(vm, &st);
	/*
	 * Root, an L3 and an L2 for each of TEST_VA and TEST_VA2, a level-1
	 * table for src and one for dst, none for vram: one 2 MiB leaf.
	 */
	assert_int_equal(st.pt_bytes, (1 + 2 + 2 + 2) * PAGE);
	/* "Migrate" to device memory with the device's own COPY... */
	l = RUN(dev, vm, VSVM_KERNEL_COPY, TEST_VA2, TEST_VA, HUGE);
	assert_int_equal(l.status, 0);
	assert_memory_equal(vram, src, HUGE);
	/* ...and read it back out of device memory. */
	l = RUN(dev, vm, VSVM_KERNEL_COPY, TEST_VA2 + HUGE, TEST_VA2, HUGE);
	assert_int_equal(l.status, 0);
	assert_memory_equal(dst, src, HUGE);
	dev->ops->vm_unmap(vm, TEST_VA2, HUGE);
	dev_sim_mem_free(dev, vram, HUGE);
	dev->ops->vm_destroy(vm);
	assert_int_equal(mem_used(dev), 0);
	dev->ops->destroy(dev);
	assert_true(sum != 0);
	free(src_mem);
	free(dst_mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(info_reports_the_configuration),
		cmocka_unit_test(bad_configuration_is_refused),
		cmocka_unit_test(empty_vms_hold_no_device_memory),
		cmocka_unit_test(page_tables_live_in_device_memory),
		cmocka_unit_test(pool_hands_out_zeroed_aligned_memory),
		cmocka_unit_test(map_fails_cleanly_when_device_memory_runs_out),
		cmocka_unit_test(kernels_use_data_in_device_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
