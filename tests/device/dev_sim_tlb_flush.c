// SPDX-License-Identifier: MIT
/*
 * dev_sim_tlb_flush.c - TLB shootdowns are counted exactly when a change
 * removes, retargets or downgrades a translation (not for new mappings or
 * added permissions); after any such change the very next launch sees the
 * new page table, even on an EU whose TLB held the old entry; an EU that
 * moves between VMs flushes; 2 MiB leaves are cached as such; any TLB size
 * gives the same results.
 *
 * Copyright (C) 2026 The vsvm authors
 */
#include "sim_test.h"

#define RW  (VP_PROT_READ | VP_PROT_WRITE)
#define ALL VSVM_PROT_ALL

static uint64_t flushes(struct vp_device *dev, struct vp_dev_vm *vm)
{
	struct vp_vm_stats st;

	dev->ops->vm_stats(vm, &st);
	return st.tlb_flushes;
}

static void shootdowns_counted_when_translations_change(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	uint8_t *a = test_alloc(2 * HUGE, HUGE), *b = test_alloc(PAGE, PAGE);
	const struct vp_device_ops *ops = dev->ops;
	struct vp_dev_vm *vm;

	(void)state;
	assert_int_equal(ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(flushes(dev, vm), 0);
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, a, VP_PROT_READ), 0);
	assert_int_equal(flushes(dev, vm), 0);
	/* Identical, then more permissions: no flush needed. */
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, a, VP_PROT_READ), 0);
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, a, ALL), 0);
	assert_int_equal(flushes(dev, vm), 0);
	/* Fewer permissions, another target, a removal: one each. */
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, a, RW), 0);
	assert_int_equal(flushes(dev, vm), 1);
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, b, RW), 0);
	assert_int_equal(flushes(dev, vm), 2);
	ops->vm_unmap(vm, TEST_VA, PAGE);
	assert_int_equal(flushes(dev, vm), 3);
	/* Nothing mapped there any more. */
	ops->vm_unmap(vm, TEST_VA, PAGE);
	ops->vm_unmap(vm, TEST_VA2, 1ull << 30);
	assert_int_equal(flushes(dev, vm), 3);
	/* A page out of a 2 MiB leaf. */
	assert_int_equal(ops->vm_map(vm, TEST_VA, 2 * HUGE, a, RW), 0);
	assert_int_equal(flushes(dev, vm), 3);
	ops->vm_unmap(vm, TEST_VA + HUGE + 5 * PAGE, PAGE);
	assert_int_equal(flushes(dev, vm), 4);
	/* A range the page table would refuse is widened and clipped. */
	ops->vm_unmap(vm, TEST_VA + 1, 1);
	assert_int_equal(flushes(dev, vm), 5);
	ops->vm_unmap(vm, TEST_VA, UINT64_MAX);
	assert_int_equal(flushes(dev, vm), 6);
	ops->vm_unmap(vm, UINT64_MAX - PAGE, PAGE);
	assert_int_equal(flushes(dev, vm), 6);
	ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(a);
	free(b);
}

/* Sum of n u64 words at va read by GATHER, through the device. */
static uint64_t device_sum(struct vp_device *dev, struct vp_dev_vm *vm,
			   uint64_t va, uint64_t n, uint64_t scratch)
{
	struct vp_launch l;

	/* dst and idx share the scratch page; idx[i] = i. */
	l = RUN(dev, vm, VSVM_KERNEL_GATHER, scratch + PAGE, va, scratch, n, n);
	assert_int_equal(l.status, 0);
	return l.result;
}

static void retarget_is_seen_by_the_next_launch(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	const struct vp_device_ops *ops = dev->ops;
	uint64_t *a = test_alloc(PAGE, PAGE), *b = test_alloc(PAGE, PAGE);
	uint32_t *scratch = test_alloc(2 * PAGE, PAGE);
	struct vp_dev_vm *vm;
	struct vp_launch l;
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		a[i] = 1;
		b[i] = 100;
		scratch[i] = (uint32_t)i;
	}
	assert_int_equal(ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(ops->vm_map(vm, TEST_VA2, 2 * PAGE, scratch, RW), 0);
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, a, RW), 0);
	/* One EU: its TLB now holds TEST_VA -> a. */
	assert_int_equal(device_sum(dev, vm, TEST_VA, 8, TEST_VA2), 8);
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, b, RW), 0);
	assert_int_equal(device_sum(dev, vm, TEST_VA, 8, TEST_VA2), 800);

	/* A downgrade to read-only: the next write faults. */
	assert_int_equal(ops->vm_map(vm, TEST_VA, PAGE, b, VP_PROT_READ), 0);
	l = RUN(dev, vm, VSVM_KERNEL_FILL, TEST_VA, 2, 7);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(b[0], 100);
	/* An unmap: the next read faults. */
	ops->vm_unmap(vm, TEST_VA, PAGE);
	l = RUN(dev, vm, VSVM_KERNEL_GATHER, TEST_VA2 + PAGE, TEST_VA, TEST_VA2,
		8, 8);
	assert_int_equal(l.status, -VSVM_ERR_FAULT);
	assert_int_equal(l.fault_va, TEST_VA);
	ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(a);
	free(b);
	free(scratch);
}

static void eu_flushes_when_it_moves_to_another_vm(void **state)
{
	struct vp_device *dev = test_device(1, 64);
	const struct vp_device_ops *ops = dev->ops;
	uint64_t *a = test_alloc(PAGE, PAGE), *b = test_alloc(PAGE, PAGE);
	uint32_t *scratch = test_alloc(2 * PAGE, PAGE);
	struct dev_sim_stats s0, s1;
	struct vp_dev_vm *vm[2];
	int i, round;

	(void)state;
	for (i = 0; i < 4; i++) {
		a[i] = 3;
		b[i] = 5;
		scratch[i] = (uint32_t)i;
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(ops->vm_create(dev, 48, NULL, NULL, &vm[i]),
				 0);
		assert_int_equal(
			ops->vm_map(vm[i], TEST_VA2, 2 * PAGE, scratch, RW), 0);
	}
	/* Identical VA, different memory. */
	assert_int_equal(ops->vm_map(vm[0], TEST_VA, PAGE, a, RW), 0);
	assert_int_equal(ops->vm_map(vm[1], TEST_VA, PAGE, b, RW), 0);
	dev_sim_get_stats(dev, &s0);
	for (round = 0; round < 10; round++) {
		assert_int_equal(device_sum(dev, vm[0], TEST_VA, 4, TEST_VA2),
				 12);
		assert_int_equal(device_sum(dev, vm[1], TEST_VA, 4, TEST_VA2),
				 20);
	}
	dev_sim_get_stats(dev, &s1);
	assert_true(s1.tlb_flushes - s0.tlb_flushes >= 20);
	/* ...and neither VM counts a shootdown for it. */
	assert_int_equal(flushes(dev, vm[0]), 0);
	assert_int_equal(flushes(dev, vm[1]), 0);
	ops->vm_destroy(vm[0]);
	ops->vm_destroy(vm[1]);
	dev->ops->destroy(dev);
	free(a);
	free(b);
	free(scratch);
}

static void huge_leaves_are_cached_whole(void **state)
{
	struct vp_device *dev = test_device(1, 4);
	const struct vp_device_ops *ops = dev->ops;
	uint32_t *buf = test_alloc(HUGE, HUGE);
	struct dev_sim_stats s0, s1;
	struct vp_dev_vm *vm;
	struct vp_launch l;

	(void)state;
	assert_int_equal(ops->vm_create(dev, 48, NULL, NULL, &vm), 0);
	assert_int_equal(ops->vm_map(vm, TEST_VA, HUGE, buf, RW), 0);
	dev_sim_get_stats(dev, &s0);
	l = RUN(dev, vm, VSVM_KERNEL_FILL, TEST_VA, HUGE / 4, 1);
	assert_int_equal(l.status, 0);
	dev_sim_get_stats(dev, &s1);
	/* 512 pages through a 4-entry TLB: one walk, then 2 MiB hits. */
	assert_true(s1.tlb_misses - s0.tlb_misses <= 2);
	assert_int_equal(buf[HUGE / 4 - 1], 1);
	ops->vm_destroy(vm);
	dev->ops->destroy(dev);
	free(buf);
}

/* Random gathers over 64 pages give one answer whatever the TLB size. */
static void any_tlb_size_gives_the_same_results(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 64, 4096 };
	uint64_t pages = 64, n = 4096, m = pages * PAGE / 8, i, want = 0;
	uint64_t *src = test_alloc(pages * PAGE, PAGE);
	uint32_t *idx = test_alloc(n * 4, PAGE);
	uint64_t *dst = test_alloc(n * 8, PAGE);
	unsigned s;

	(void)state;
	for (i = 0; i < m; i++)
		src[i] = i * 31 + 7;
	for (i = 0; i < n; i++) {
		idx[i] = (uint32_t)((i * 2654435761u) % m);
		want += src[idx[i]];
	}
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct vp_device *dev = test_device(3, sizes[s]);
		struct vp_dev_vm *vm;
		struct vp_launch l;

		assert_int_equal(dev->ops->vm_create(dev, 57, NULL, NULL, &vm),
				 0);
		/* Scattered over the 57-bit space: five-level walks. */
		assert_int_equal(dev->ops->vm_map(vm, 1ull << 56, pages * PAGE,
						  src, VP_PROT_READ),
				 0);
		assert_int_equal(dev->ops->vm_map(vm, 1ull << 50, n * 4, idx,
						  VP_PROT_READ),
				 0);
		assert_int_equal(dev->ops->vm_map(vm, TEST_VA, n * 8, dst, RW),
				 0);
		l = RUN(dev, vm, VSVM_KERNEL_GATHER, TEST_VA, 1ull << 56,
			1ull << 50, n, m);
		assert_int_equal(l.status, 0);
		assert_int_equal(l.result, want);
		dev->ops->vm_destroy(vm);
		dev->ops->destroy(dev);
	}
	free(src);
	free(idx);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shootdowns_counted_when_translations_change),
		cmocka_unit_test(retarget_is_seen_by_the_next_launch),
		cmocka_unit_test(eu_flushes_when_it_moves_to_another_vm),
		cmocka_unit_test(huge_leaves_are_cached_whole),
		cmocka_unit_test(any_tlb_size_gives_the_same_results),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
