// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsvm_host_fault.c - GPU faults queued to userspace, answered and replayed.
 *
 * Copyright (C) 2026 The vsvm authors
 */

/**
 * DOC: Fault queue
 *
 * A device access that misses in a proxy VM where nothing is mapped is a
 * GPU fault the kernel cannot resolve: the proxy must decide (ask the
 * guest, mirror something, map device memory).  The access becomes a fault
 * record in the file's queue; userspace reads records from the fault fd
 * (VSVMH_IOCTL_FAULT_FD), answers them by id with VSVMH_IOCTL_FAULT_REPLY,
 * and the accesses that wait on a record replay their page::
 *
 *   accessor                      queue                      userspace
 *   miss, no mapping  --raise-->  record (dedup per VM and
 *   sleep on waiters              page), on pending+unread
 *                                 readers woken ------------> read(): batch of
 *                                 (record leaves unread)      records
 *                                                   <-------- FAULT_REPLY(id, 0)
 *                                 record answered, freed
 *   woken, replay <---------------when its last waiter left
 *
 * Concurrent accesses to one page share one record (a stronger access may
 * join a record not yet read, raising its access type).  The queue holds
 * at most VSVMH_MAX_FAULTS records; accessors wait for room, NOWAIT ones
 * get -EAGAIN.  A record ends when userspace answers it (0: replay; an
 * error: the access fails with -EFAULT), when its VM is destroyed
 * (-ECANCELED), when the fault fd is closed (-ENODEV), or when the last
 * accessor waiting on it gives up (timeout or signal).
 *
 * Locking: vsvmh_fault_queue.lock guards the lists, the id table, every
 * record's fields and @fd_open/@closed; it is taken with no other vsvm lock
 * held.  A record lives until it is answered and no accessor waits on it.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vsvm_host_internal.h"

/* Records one read() returns at most (the batch size). */
#define VSVMH_FAULT_BATCH	256

/**
 * struct vsvmh_fault_rec - one pending GPU fault
 * @pending_node: in fq->pending until answered
 * @unread_node: in fq->unread until read(); empty afterwards
 * @vm: the VM (compared only; the VM cancels its records before it goes)
 * @vm_id: the VM's id for userspace
 * @id: the fault's name in FAULT_REPLY
 * @gpu_va: the page
 * @access: VSVMH_FAULT_*
 * @answered: the record has left the queue; @result holds the outcome
 * @result: 0 (replay) or the errno the waiting accesses return
 * @waiters: accesses sleeping on the record
 */
struct vsvmh_fault_rec {
	struct list_head pending_node;
	struct list_head unread_node;
	struct vsvmh_gpuvm *vm;
	u32 vm_id;
	u32 id;
	u64 gpu_va;
	u32 access;
	bool answered;
	int result;
	unsigned int waiters;
};

/**
 * vsvmh_fault_queue_init - an empty queue with no fault fd
 * @fq: the queue
 */
void vsvmh_fault_queue_init(struct vsvmh_fault_queue *fq)
{
	mutex_init(&fq->lock);
	INIT_LIST_HEAD(&fq->pending);
	INIT_LIST_HEAD(&fq->unread);
	xa_init_flags(&fq->ids, XA_FLAGS_ALLOC1);
	init_waitqueue_head(&fq->readers);
	init_waitqueue_head(&fq->waiters);
}

/* Takes @rec off the queue with @result; frees it if nobody waits. */
static void vsvmh_fault_finish(struct vsvmh_fault_queue *fq,
			       struct vsvmh_fault_rec *rec, int result)
{
	lockdep_assert_held(&fq->lock);
	list_del(&rec->pending_node);
	list_del_init(&rec->unread_node);
	xa_erase(&fq->ids, rec->id);
	fq->nr_pending--;
	WRITE_ONCE(rec->answered, true);
	rec->result = result;
	if (!rec->waiters)
		kfree(rec);
	wake_up_all(&fq->waiters);
}

static void vsvmh_fault_fail_all(struct vsvmh_fault_queue *fq, int result)
{
	struct vsvmh_fault_rec *rec, *tmp;

	lockdep_assert_held(&fq->lock);
	list_for_each_entry_safe(rec, tmp, &fq->pending, pending_node)
		vsvmh_fault_finish(fq, rec, result);
}

/**
 * vsvmh_fault_queue_close - the device file is going away
 * @fq: the queue
 *
 * Fails what is left (VM teardown already cancelled the VMs' records) and
 * makes a still open fault fd read end of file.
 */
void vsvmh_fault_queue_close(struct vsvmh_fault_queue *fq)
{
	mutex_lock(&fq->lock);
	fq->closed = true;
	vsvmh_fault_fail_all(fq, -ECANCELED);
	mutex_unlock(&fq->lock);
	wake_up_all(&fq->readers);
}

/**
 * vsvmh_fault_cancel_vm - fail every record of a VM with -ECANCELED
 * @vm: the VM, already marked dead
 */
void vsvmh_fault_cancel_vm(struct vsvmh_gpuvm *vm)
{
	struct vsvmh_fault_queue *fq = &vm->file->faults;
	struct vsvmh_fault_rec *rec, *tmp;

	mutex_lock(&fq->lock);
	list_for_each_entry_safe(rec, tmp, &fq->pending, pending_node)
		if (rec->vm == vm)
			vsvmh_fault_finish(fq, rec, -ECANCELED);
	/* Accessors waiting for room see the VM dead. */
	wake_up_all(&fq->waiters);
	mutex_unlock(&fq->lock);
}

/* A record this access can share, raising its access if still unread. */
static struct vsvmh_fault_rec *vsvmh_fault_find(struct vsvmh_fault_queue *fq,
						struct vsvmh_gpuvm *vm,
						u64 page_va, u32 access)
{
	struct vsvmh_fault_rec *rec;

	list_for_each_entry(rec, &fq->pending, pending_node) {
		if (rec->vm != vm || rec->gpu_va != page_va)
			continue;
		if (rec->access >= access)
			return rec;
		if (!list_empty(&rec->unread_node)) {
			rec->access = access;
			return rec;
		}
	}
	return NULL;
}

static struct vsvmh_fault_rec *vsvmh_fault_new(struct vsvmh_fault_queue *fq,
					       struct vsvmh_gpuvm *vm,
					       u64 page_va, u32 access)
{
	struct vsvmh_fault_rec *rec;
	int ret;

	rec = kzalloc(sizeof(*rec), GFP_KERNEL_ACCOUNT);
	if (!rec)
		return ERR_PTR(-ENOMEM);
	ret = xa_alloc_cyclic(&fq->ids, &rec->id, rec, xa_limit_32b,
			      &fq->next_id, GFP_KERNEL_ACCOUNT);
	if (ret < 0) {
		kfree(rec);
		return ERR_PTR(ret);
	}
	rec->vm = vm;
	rec->vm_id = vm->id;
	rec->gpu_va = page_va;
	rec->access = access;
	list_add_tail(&rec->pending_node, &fq->pending);
	list_add_tail(&rec->unread_node, &fq->unread);
	fq->nr_pending++;
	atomic64_inc(&vm->faults_user);
	wake_up_all(&fq->readers);
	return rec;
}

static bool vsvmh_fault_room(struct vsvmh_fault_queue *fq,
			     struct vsvmh_gpuvm *vm)
{
	return READ_ONCE(fq->nr_pending) < VSVMH_MAX_FAULTS ||
	       !READ_ONCE(fq->fd_open) || READ_ONCE(vm->dead);
}

/* Finds or makes the record for the page.  Called and returns locked. */
static struct vsvmh_fault_rec *vsvmh_fault_get(struct vsvmh_fault_queue *fq,
					       struct vsvmh_gpuvm *vm,
					       u64 page_va, u32 access,
					       bool nowait,
					       unsigned long timeout)
{
	struct vsvmh_fault_rec *rec;
	long left;

	for (;;) {
		if (!fq->fd_open)
			return ERR_PTR(-ENODEV);
		if (READ_ONCE(vm->dead))
			return ERR_PTR(-ECANCELED);
		rec = vsvmh_fault_find(fq, vm, page_va, access);
		if (rec)
			return rec;
		if (fq->nr_pending < VSVMH_MAX_FAULTS)
			return vsvmh_fault_new(fq, vm, page_va, access);
		if (nowait)
			return ERR_PTR(-EAGAIN);

		mutex_unlock(&fq->lock);
		left = wait_event_interruptible_timeout(fq->waiters,
							vsvmh_fault_room(fq, vm),
							timeout);
		mutex_lock(&fq->lock);
		if (!left)
			return ERR_PTR(-ETIMEDOUT);
		if (left < 0)
			return ERR_PTR(-EINTR);
	}
}

/**
 * vsvmh_fault_raise - report a GPU fault to userspace and wait for it
 * @vm: the VM (a reference held)
 * @page_va: the faulting page
 * @access: VSVMH_FAULT_*
 * @nowait: queue the fault but do not wait for the answer
 * @timeout: jiffies to wait for an answer (and for room in the queue)
 *
 * Return: 0 (userspace resolved it: replay), -EAGAIN (@nowait, queued or
 * queue full), -EFAULT (userspace failed it), -ETIMEDOUT, -EINTR,
 * -ECANCELED (the VM was destroyed), -ENODEV (no fault fd), -ENOMEM,
 * -EBUSY (no free id).
 */
int vsvmh_fault_raise(struct vsvmh_gpuvm *vm, u64 page_va, u32 access,
		      bool nowait, unsigned long timeout)
{
	struct vsvmh_fault_queue *fq = &vm->file->faults;
	struct vsvmh_fault_rec *rec;
	long left;
	int ret;

	mutex_lock(&fq->lock);
	rec = vsvmh_fault_get(fq, vm, page_va, access, nowait, timeout);
	if (IS_ERR(rec)) {
		ret = PTR_ERR(rec);
		goto out_unlock;
	}
	if (nowait) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	rec->waiters++;
	mutex_unlock(&fq->lock);

	left = wait_event_interruptible_timeout(fq->waiters,
						READ_ONCE(rec->answered),
						timeout);

	mutex_lock(&fq->lock);
	rec->waiters--;
	if (rec->answered) {
		ret = rec->result;
		if (!rec->waiters)
			kfree(rec);
	} else {
		ret = left ? -EINTR : -ETIMEDOUT;
		/* Nobody waits any more: withdraw it. */
		if (!rec->waiters)
			vsvmh_fault_finish(fq, rec, ret);
	}
out_unlock:
	mutex_unlock(&fq->lock);
	return ret;
}

static ssize_t vsvmh_fault_read(struct file *f, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct vsvmh_file *file = f->private_data;
	struct vsvmh_fault_queue *fq = &file->faults;
	struct vsvmh_fault_rec *rec, *tmp;
	struct vsvmh_fault *out;
	size_t n, i = 0;
	ssize_t ret;

	if (count < sizeof(*out))
		return -EINVAL;
	n = min_t(size_t, count / sizeof(*out), VSVMH_FAULT_BATCH);
	out = kmalloc_array(n, sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;

	mutex_lock(&fq->lock);
	while (list_empty(&fq->unread)) {
		if (fq->closed) {
			ret = 0;
			goto out_unlock;
		}
		if (f->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto out_unlock;
		}
		mutex_unlock(&fq->lock);
		if (wait_event_interruptible(fq->readers,
					     !list_empty_careful(&fq->unread) ||
					     READ_ONCE(fq->closed))) {
			ret = -ERESTARTSYS;
			goto out_free;
		}
		mutex_lock(&fq->lock);
	}
	list_for_each_entry_safe(rec, tmp, &fq->unread, unread_node) {
		if (i == n)
			break;
		out[i++] = (struct vsvmh_fault) {
			.vm_id = rec->vm_id,
			.id = rec->id,
			.gpu_va = rec->gpu_va,
			.access = rec->access,
		};
		list_del_init(&rec->unread_node);
	}
	mutex_unlock(&fq->lock);

	ret = i * sizeof(*out);
	if (copy_to_user(buf, out, ret)) {
		/* Put back what is still pending, in its order. */
		mutex_lock(&fq->lock);
		while (i--) {
			rec = xa_load(&fq->ids, out[i].id);
			if (rec && list_empty(&rec->unread_node))
				list_add(&rec->unread_node, &fq->unread);
		}
		ret = -EFAULT;
		goto out_unlock;
	}
	goto out_free;

out_unlock:
	mutex_unlock(&fq->lock);
out_free:
	kfree(out);
	return ret;
}

static __poll_t vsvmh_fault_poll(struct file *f, poll_table *wait)
{
	struct vsvmh_file *file = f->private_data;
	struct vsvmh_fault_queue *fq = &file->faults;
	__poll_t mask = 0;

	poll_wait(f, &fq->readers, wait);
	mutex_lock(&fq->lock);
	if (!list_empty(&fq->unread))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (fq->closed)
		mask |= EPOLLHUP;
	mutex_unlock(&fq->lock);
	return mask;
}

static int vsvmh_fault_release(struct inode *inode, struct file *f)
{
	struct vsvmh_file *file = f->private_data;
	struct vsvmh_fault_queue *fq = &file->faults;

	mutex_lock(&fq->lock);
	fq->fd_open = false;
	vsvmh_fault_fail_all(fq, -ENODEV);
	mutex_unlock(&fq->lock);
	vsvmh_file_put(file);
	return 0;
}

static const struct file_operations vsvmh_fault_fops = {
	.owner = THIS_MODULE,
	.read = vsvmh_fault_read,
	.poll = vsvmh_fault_poll,
	.release = vsvmh_fault_release,
	.llseek = noop_llseek,
};

/**
 * vsvmh_ioctl_fault_fd - VSVMH_IOCTL_FAULT_FD
 * @file: the file
 * @uarg: struct vsvmh_fault_fd
 *
 * Return: 0, -EINVAL, -EBUSY (the file has a fault fd), -EMFILE, -ENOMEM,
 * -EFAULT.
 */
int vsvmh_ioctl_fault_fd(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_fault_queue *fq = &file->faults;
	struct vsvmh_fault_fd arg;
	struct file *f;
	int fd, ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags)
		return -EINVAL;

	mutex_lock(&fq->lock);
	ret = fq->fd_open ? -EBUSY : 0;
	fq->fd_open = true;
	mutex_unlock(&fq->lock);
	if (ret)
		return ret;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_closed;
	}
	kref_get(&file->ref);
	f = anon_inode_getfile("[vsvm_host_fault]", &vsvmh_fault_fops, file,
			       O_RDONLY);
	if (IS_ERR(f)) {
		ret = PTR_ERR(f);
		vsvmh_file_put(file);
		goto err_put_fd;
	}
	arg.fd = fd;
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		put_unused_fd(fd);
		/* Release clears fd_open and drops the file reference. */
		fput(f);
		return -EFAULT;
	}
	fd_install(fd, f);
	return 0;

err_put_fd:
	put_unused_fd(fd);
err_closed:
	mutex_lock(&fq->lock);
	fq->fd_open = false;
	mutex_unlock(&fq->lock);
	return ret;
}

/**
 * vsvmh_ioctl_fault_reply - VSVMH_IOCTL_FAULT_REPLY
 * @file: the file
 * @uarg: struct vsvmh_fault_reply
 *
 * Every resolution is checked before any is applied.
 *
 * Return: 0, -EINVAL (@nr out of range, a positive or out-of-range
 * status), -ENOMEM, -EFAULT.
 */
int vsvmh_ioctl_fault_reply(struct vsvmh_file *file, void __user *uarg)
{
	struct vsvmh_fault_queue *fq = &file->faults;
	struct vsvmh_fault_resolution *res;
	struct vsvmh_fault_reply arg;
	struct vsvmh_fault_rec *rec;
	unsigned int i;
	int ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.nr || arg.nr > VSVMH_MAX_REPLY)
		return -EINVAL;
	res = vmemdup_user(u64_to_user_ptr(arg.res),
			   array_size(arg.nr, sizeof(*res)));
	if (IS_ERR(res))
		return PTR_ERR(res);
	for (i = 0; i < arg.nr; i++) {
		if (res[i].status > 0 || res[i].status < -MAX_ERRNO) {
			ret = -EINVAL;
			goto out_free;
		}
	}

	arg.resolved = 0;
	mutex_lock(&fq->lock);
	for (i = 0; i < arg.nr; i++) {
		rec = res[i].id ? xa_load(&fq->ids, res[i].id) : NULL;
		if (!rec)
			continue;
		vsvmh_fault_finish(fq, rec, res[i].status ? -EFAULT : 0);
		arg.resolved++;
	}
	mutex_unlock(&fq->lock);
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
out_free:
	kvfree(res);
	return ret;
}
