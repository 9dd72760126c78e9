/*
 * SPDX-License-Identifier: MIT
 *
 * vsvm.pml - a Promela model of vsvm's coherency protocol AS IMPLEMENTED:
 *            the guest mm and the guest shim (notifier path, fault path,
 *            event thread), the ordered controlq, the proxy's context
 *            (in-order application, range map, STALE rule, fault records,
 *            events, DESTROY) and the simulated device (per-EU TLBs, the
 *            access lock, the TLB generation, faults).
 *
 * Copyright (C) 2026 The vsvm authors
 *
 * Run by tests/model/check.sh.  Which function each process and step
 * stands for, what is abstracted away and why that is sound, and the
 * measured state counts: docs/coherency.md.
 *
 * The scenario.  One guest process with one SVM context, one page P, one
 * device with NEU execution units (EUs), each running a launch of NCHUNKS
 * chunks that each access P.  P starts mapped in the guest to frame F0
 * (and, as init chooses, maybe already on the host and in the device page
 * table).  The guest CPU then changes P NCHANGES times: each change is one
 * invalidation of the frame P has, and P ends up on a new frame, either by
 * munmap followed by mmap + touch, or by a copy-on-write style replacement
 * inside the one invalidation.  Then the process exits, either after its
 * launches returned or while they still run (killed): DESTROY, join of the
 * event thread, the guest frees the last frame.
 *
 * Properties (docs/coherency.md maps them to DESIGN.md section 5):
 *  (a) no device access touches a frame once the invalidation that took it
 *      away returned to the guest mm, nor a freed frame      assert in eu()
 *  (b) no MAP installs a frame on the host after the host applied the
 *      UNMAP that took that frame away                      assert in host()
 *  (c) every fault is answered: no invalid end state (safety run), and the
 *      LTL claim `answered' under weak fairness (liveness run)
 *  (d) teardown frees everything                            asserts in init
 *
 * Deliberately broken variants; check.sh requires each to be rejected:
 *  BROKEN_QUEUE_OUTSIDE_LOCK  the fault path drops ctx->lock after its
 *                             read_retry check and only then queues
 *  BROKEN_NO_STALE            the host never refuses a MAP as STALE
 *  BROKEN_NO_RETRY_CHECK      the fault path skips read_retry
 *  BROKEN_NO_ACK_WAIT         the notifier does not wait for the UNMAP's
 *                             completion
 *  BROKEN_NO_DRAIN            vm_unmap does not take the access lock for
 *                             write (no wait for accesses in flight)
 *  BROKEN_NO_TLB_FLUSH        vm_unmap does not move the TLB generation
 *  BROKEN_NO_CANCEL           DESTROY does not cancel faults or launches
 *  BROKEN_RESET_NO_WAIT       DESTROY does not wait for running launches
 *  BROKEN_LOST_ANSWER         the fault path drops a fault whose MAP was
 *                             refused instead of answering it again
 * Environment: failures the code meets today (findings, docs/coherency.md):
 *  MODEL_UNMAP_NOMEM          the host's UNMAP may fail with ERR_NOMEM
 *                             (malloc failing in range_map.c split())
 *  MODEL_UNMAP_QUEUE_FAIL     the guest may fail to queue the UNMAP
 *                             (vsvmg_call_queue: no guest RAM for the
 *                             bounce buffer, ring stopped)
 * Probes:
 *  ASSERT_NO_STALE            assert that the host never refuses a MAP as
 *                             STALE (fails as implemented: a fresh read
 *                             can carry an old inval_seq)
 *  MODEL_READ_BEGIN_WAITS     read_begin waits out an invalidation in
 *                             progress, as Linux's mmu_interval_read_begin
 *
 * Modelling conventions.  A lock is a bit taken with atomic { !l -> l = 1 }.
 * A condition-variable wait is one step: wait until the predicate holds and
 * the lock is free, then take it (spurious wake-ups only re-check).  The
 * statements of one critical section that touch only data under that lock
 * (and a completion sent at its end) form one atomic step: no other process
 * can tell the difference.  What another process can observe in between
 * stays its own step: the wait for the access rwlock, the lockless read of
 * the mm sequence, the translation before the access.
 */

/* ---- bounds ---------------------------------------------------------------- */

#ifndef NEU
#define NEU	 2	/* execution units, one launch each (>= 2: the ltl names 0, 1) */
#endif
#ifndef NCHUNKS
#define NCHUNKS	 2	/* chunks per launch, each accessing P */
#endif
#ifndef NCHANGES
#define NCHANGES 1	/* invalidations of P by the guest CPU */
#endif
#ifndef READS
#define READS	 1	/* VSVMG_FAULT_READS (16 in the code) */
#endif
#ifndef ROUNDS
#define ROUNDS	 2	/* VSVMG_FAULT_ROUNDS (4 in the code) */
#endif
#define MAXREC	 NEU	/* fault records alive at once: at most one per EU */
#define NOREC	 255

/* Frames: F0 first, then one new frame per change.  NONE: absent PTE. */
#define NONE	 0
#define F0	 1
#define NFRAMES	 (NCHANGES + 2)

/* Frame states (guest RAM). */
#define FR_UNUSED 0
#define FR_ALLOC  1
#define FR_FREED  2

/* Fault record states (proxy/context.h enum vp_fault_state; 0: free slot). */
#define R_FREE      0
#define R_QUEUED    1
#define R_DELIVERED 2
#define R_DONE      3

/* Resolution and fault status (ST_OK: replay). */
#define ST_OK       0
#define ST_FAULT    1	/* VSVM_ERR_FAULT */
#define ST_CANCELED 2	/* VSVM_ERR_CANCELED */

/* The fault path's unit states (vsvmg_fault.c enum unit_state). */
#define U_READ     0
#define U_FRESH    1
#define U_GIVEN_UP 2
#define U_FAILED   3

mtype = {
	/* controlq commands, guest -> host, in queue order */
	UNMAP,		/* seq; ghost: the frame it takes away */
	MAPREPLY,	/* one submission: MAP(frame, inval_seq), FAULT_REPLY(id, OK) */
	REPLY,		/* a submission of one FAULT_REPLY(id, status) */
	EWAIT,		/* EVENT_WAIT (parks) */
	DESTROY,
	/* completions, host -> guest */
	C_OK,		/* every command of the submission applied */
	C_STALE,	/* MAP refused with ERR_STALE, its FAULT_REPLY canceled */
	C_FAIL,		/* the first command failed otherwise */
	EV_FAULT,	/* EVENT_WAIT completed with one FAULT event */
	EV_CANCELED,	/* EVENT_WAIT completed by DESTROY */
	EV_ERR		/* EVENT_WAIT failed: context not initialised */
};

/* ---- channels ---------------------------------------------------------------- */

/* The controlq: the context's submissions, applied in order (svm.c). */
chan ctrlq = [3] of { mtype, byte, byte, byte };
/* Completions: of the notifier's UNMAP, of the event thread's one
 * outstanding submission, of DESTROY. */
chan ackq = [1] of { mtype };
chan evtc = [1] of { mtype, byte };
chan dq = [1] of { mtype };

/* ---- guest: mm (guest-shim/sim/guest_mm.c) -------------------------------------- */

bit  mm_lock;			/* mm->lock */
byte mm_seq;			/* mm->seq: bumped before the notifier runs */
byte gpte = NONE;		/* the guest PTE of P: a frame or NONE */
byte fstate[NFRAMES];		/* FR_* */

/* ---- guest: shim context (guest-shim/core/vsvmg_internal.h) --------------------- */

bit  glock;			/* ctx->lock */
byte unmap_seq;			/* ctx->unmap_seq */
bit  gdying;			/* ctx->dying */

/* ---- host: context (proxy/context.h) --------------------------------------------- */

bit  hlock;			/* ctx->lock */
bit  initialised;
bit  hdying;			/* ctx->dying */
byte hmap = NONE;		/* ctx->maps at P: a frame or NONE */
byte last_unmap_seq;		/* ctx->last_unmap_seq */
byte launches;			/* ctx->launches */
bit  parked;			/* ctx->parked_wait != NULL */
byte nr_faults;			/* ctx->nr_faults */
byte next_id;			/* ctx->next_fault_id */
byte rs[MAXREC];		/* fault records: R_* */
byte rid[MAXREC];		/* id */
byte rwait[MAXREC];		/* waiters */
byte rstat[MAXREC];		/* status once R_DONE */

/* ---- device (proxy/dev_sim.c) ----------------------------------------------------- */

byte dpte = NONE;		/* the VM's page table at P */
byte vm_gen;			/* vm->tlb_gen */
byte gen_source;		/* dev->gen_source */
byte readers;			/* vm->access held for read */
bit  wwait;			/* a writer waits for vm->access (writer preference) */
bit  cancel_epoch;		/* vm->cancel_epoch moved (vm_cancel) */
byte tlb[NEU];			/* each EU's cached translation of P */
byte tlb_gen[NEU];		/* eu->tlb_gen */

/* ---- ghosts: bookkeeping for the properties only ---------------------------------- */

bit  inval_done[NFRAMES];	/* the invalidation that took it away returned */
bit  host_revoked[NFRAMES];	/* the host applied the UNMAP that took it away */
bit  euw[NEU];			/* EU i sleeps on a fault record */
byte eus_done;			/* launches whose LAUNCH completed */
bit  evt_done;			/* the event thread returned */
bit  app_done;			/* the process exited */
#ifdef ASSERT_NO_STALE
bit  stale_refused;		/* the host refused a MAP as STALE */
#endif

/* (c) every fault an EU waits on is answered (or canceled by DESTROY) */
ltl answered { [] ((euw[0] -> <> !euw[0]) && (euw[1] -> <> !euw[1])) }

/* ---- helpers ------------------------------------------------------------------------- */

#define LOCK(l)		atomic { !l -> l = 1 }

/* The STALE rule (context.c map_is_stale): every UNMAP overlaps P, and the
 * history (64 entries) never overflows here. */
#ifdef BROKEN_NO_STALE
#define STALE(s)	false
#else
#define STALE(s)	((s) < last_unmap_seq)
#endif

/* A translation went away: a new generation (sim_vm_invalidate). */
#define NEW_GEN		gen_source++; vm_gen = gen_source

/*
 * sim_vm_unmap, with ctx->lock held: first step.  Announces the writer
 * (from here no new chunk starts), unless BROKEN_NO_DRAIN.
 */
inline vm_unmap_begin() {
#ifndef BROKEN_NO_DRAIN
	wwait = 1
#else
	skip
#endif
}

/* Second step, atomic with what follows it in the caller: the write lock
 * (no chunk in flight), the PTE cleared, the generation moved. */
#ifdef BROKEN_NO_DRAIN
#define DRAINED		true
#else
#define DRAINED		(readers == 0)
#endif
#ifdef BROKEN_NO_TLB_FLUSH
#define UNMAP_PTE	if :: dpte != NONE -> dpte = NONE :: else fi
#else
#define UNMAP_PTE	if :: dpte != NONE -> dpte = NONE; NEW_GEN :: else fi
#endif

/* vp_ctx_fault_reply, one resolution; ctx->lock held. */
inline fault_reply(id, st) {
	k = 0;
	do
	:: k < MAXREC ->
		if
		:: (rs[k] == R_QUEUED || rs[k] == R_DELIVERED) && rid[k] == id ->
			rs[k] = R_DONE;
			rstat[k] = st
		:: else
		fi;
		k++
	:: else -> break
	od;
	k = 0
}

/* ---- the host: the connection thread applying the controlq (svm.c, context.c) ------- */

proctype host()
{
	mtype op;
	byte a, b, c, k;
	bit go, rep;

end_idle:
	do
	:: ctrlq?op, a, b, c ->
		if
		:: op == UNMAP ->		/* cmd_unmap: a = seq, b = ghost frame */
			atomic {
				!hlock -> hlock = 1;
				if
				:: !initialised || a <= last_unmap_seq ->
					hlock = 0;
					ackq!C_FAIL
#ifdef MODEL_UNMAP_NOMEM
				:: initialised && a > last_unmap_seq ->
					hlock = 0;	/* vp_range_map_remove: -ENOMEM */
					ackq!C_FAIL
#endif
				:: initialised && a > last_unmap_seq ->
					hmap = NONE;	/* vp_range_map_remove */
					vm_unmap_begin();
					go = 1
				fi
			};
			if
			:: go -> go = 0;
				atomic {
					DRAINED -> wwait = 0;	/* unmap_all_devices */
					UNMAP_PTE;
					last_unmap_seq = a;	/* and into the history */
					host_revoked[b] = 1;
					hlock = 0;
					ackq!C_OK		/* the reply, the completion */
				}
			:: else
			fi
		:: op == MAPREPLY ->		/* a = frame, b = inval_seq, c = id */
			atomic {
				!hlock -> hlock = 1;	/* cmd_map */
				if
				:: !initialised ->
					hlock = 0;
					evtc!C_FAIL, 0
				:: initialised && STALE(b) ->
#ifdef ASSERT_NO_STALE
					stale_refused = 1;
					assert(!stale_refused);
#endif
					hlock = 0;
					evtc!C_STALE, 0
				:: else ->
					go = 1;
					if	/* a remap replaces: old PTEs go first */
					:: hmap != NONE -> vm_unmap_begin(); rep = 1
					:: else
					fi
				fi
			};
			if
			:: go -> go = 0;
				atomic {
					(!rep || DRAINED) ->
					if
					:: rep -> rep = 0; wwait = 0; UNMAP_PTE
					:: else
					fi;
					/* (b): never install what an applied UNMAP took away */
					assert(!host_revoked[a]);
					hmap = a;
					hlock = 0
				};
				atomic {
					!hlock -> hlock = 1;	/* the FAULT_REPLY after it */
					fault_reply(c, ST_OK);
					hlock = 0;
					evtc!C_OK, 0
				}
			:: else
			fi
		:: op == REPLY ->		/* b = status, c = id */
			atomic {
				!hlock -> hlock = 1;
				if
				:: !initialised -> evtc!C_FAIL, 0
				:: else -> fault_reply(c, b); evtc!C_OK, 0
				fi;
				hlock = 0
			}
		:: op == EWAIT ->		/* vp_ctx_event_wait */
			atomic {
				!hlock -> hlock = 1;
				if
				:: !initialised -> evtc!EV_ERR, 0
				:: else ->
					k = 0;
					do
					:: k < MAXREC && rs[k] != R_QUEUED -> k++
					:: else -> break
					od;
					if
					:: k < MAXREC ->	/* an event is pending */
						rs[k] = R_DELIVERED;
						evtc!EV_FAULT, rid[k]
					:: else ->		/* park */
						parked = 1
					fi;
					k = 0
				fi;
				hlock = 0
			}
		:: op == DESTROY ->		/* vp_ctx_reset */
			atomic {
				!hlock -> hlock = 1;	/* vp_ctx_cancel */
				hdying = 1;
#ifndef BROKEN_NO_CANCEL
				k = 0;		/* vp_ctx_cancel_faults */
				do
				:: k < MAXREC ->
					if
					:: rs[k] != R_FREE ->
						rs[k] = R_DONE;
						rstat[k] = ST_CANCELED;
						if
						:: rwait[k] == 0 ->
							rs[k] = R_FREE;
							nr_faults--
						:: else
						fi
					:: else
					fi;
					k++
				:: else -> break
				od;
				k = 0;
				cancel_epoch = 1;	/* vm_cancel */
#endif
				hlock = 0;
				if	/* the parked EVENT_WAIT completes CANCELED */
				:: parked -> parked = 0; evtc!EV_CANCELED, 0
				:: else
				fi
			};
			atomic {
#ifndef BROKEN_RESET_NO_WAIT
				launches == 0 &&	/* cond wait for the launches */
#endif
				!hlock -> hlock = 1;
				dpte = NONE;		/* vm_destroy */
				hmap = NONE;		/* maps, history cleared */
				last_unmap_seq = 0;
				initialised = 0;
				hdying = 0;
				hlock = 0;
				dq!C_OK
			}
		fi;
		a = 0; b = 0; c = 0
	od
}

/* ---- the device: one EU running one launch (dev_sim.c sim_eu_run) ------------------ */

proctype eu(byte i)
{
	byte fr, r, k, ret, chunk;
	bit mnr;

	do
	:: chunk == NCHUNKS -> break
	:: chunk < NCHUNKS ->
		if	/* sim_launch_stopped */
		:: cancel_epoch -> ret = ST_CANCELED; break
		:: else
		fi;
		/* rdlock (new readers wait behind a waiting writer), the TLB
		 * generation check, the translation: TLB hit or table walk */
		atomic {
			!wwait -> readers++;
			if
			:: tlb_gen[i] != vm_gen -> tlb[i] = NONE; tlb_gen[i] = vm_gen
			:: else
			fi;
			if
			:: tlb[i] != NONE -> fr = tlb[i]
			:: else -> fr = dpte; tlb[i] = dpte
			fi
		};
		if
		:: fr != NONE ->
			atomic {	/* the access, in flight under the read lock */
				/* (a) */
				assert(!inval_done[fr] && fstate[fr] != FR_FREED);
				readers--;
				fr = NONE;
				chunk++
			}
		:: else ->	/* a miss: release, then vp_ctx_fault */
			readers--;
			ret = NOREC;
			do
			:: ret == NOREC ->
				atomic {
					!hlock -> hlock = 1;
					if
					:: hdying || !initialised ->
						ret = ST_CANCELED
					:: else ->
						if
						:: hmap != NONE ->	/* minor: map_window, vm_map */
							wwait = 1;
							mnr = 1
						:: else ->
							r = NOREC;	/* find_fault */
							k = 0;
							do
							:: k < MAXREC ->
								if
								:: rs[k] == R_QUEUED || rs[k] == R_DELIVERED -> r = k
								:: else
								fi;
								k++
							:: else -> break
							od;
							if
							:: r == NOREC ->	/* queue_fault */
								k = 0;
								do
								:: rs[k] == R_FREE -> break
								:: else -> k++; assert(k < MAXREC)
								od;
								r = k;
								rs[r] = R_QUEUED;
								next_id++;
								rid[r] = next_id;
								rwait[r] = 1;
								nr_faults++;
								if	/* vp_ctx_deliver_events */
								:: parked ->
									parked = 0;
									rs[r] = R_DELIVERED;
									evtc!EV_FAULT, rid[r]
								:: else
								fi
							:: else ->
								rwait[r]++
							fi;
							k = 0;
							euw[i] = 1	/* wait_answer */
						fi
					fi;
					if
					:: !mnr -> hlock = 0
					:: else
					fi
				};
				if
				:: ret != NOREC -> skip		/* canceled */
				:: ret == NOREC && mnr ->	/* vm_map, under the write lock */
					atomic {
						readers == 0 -> wwait = 0;
						mnr = 0;
						if
						:: dpte != NONE && dpte != hmap -> NEW_GEN
						:: else
						fi;
						dpte = hmap;
						ret = ST_OK;
						hlock = 0
					}
				:: ret == NOREC && !mnr ->	/* sleep on ctx->cond */
					atomic {
						rs[r] == R_DONE && !hlock -> hlock = 1;
						euw[i] = 0;
						ret = rstat[r];
						rwait[r]--;
						if
						:: rwait[r] == 0 ->	/* free_fault */
							rs[r] = R_FREE;
							rid[r] = 0;
							rstat[r] = 0;
							nr_faults--
						:: else
						fi;
						r = NOREC;
						if
						:: ret == ST_OK -> ret = NOREC	/* replay: loop */
						:: else
						fi;
						hlock = 0
					}
				fi
			:: else -> break
			od;
			if
			:: ret != ST_OK -> break	/* the launch fails */
			:: else -> ret = 0		/* the chunk runs again */
			fi
		fi
	od;
	/* launch_done: the LAUNCH completes, then the count drops */
	eus_done++;
	atomic { !hlock -> launches-- }
}

/* ---- the guest: event thread and fault path (vsvmg_ctx.c, vsvmg_fault.c) --------------- */

/* queue_round: the round's stream (build_chunks, vsvmg_call_queue). */
inline queue_stream() {
	if
	:: ustate == U_FRESH && fr != NONE -> ctrlq!MAPREPLY, fr, s, id
	:: ustate == U_FRESH && fr == NONE -> ctrlq!REPLY, 0, ST_FAULT, id
	:: ustate == U_GIVEN_UP -> ctrlq!REPLY, 0, ST_OK, id
	:: ustate == U_FAILED -> ctrlq!REPLY, 0, ST_FAULT, id
	fi
}

proctype evt()
{
	mtype kind, res;
	byte id, n, s, fr, reads, round, ustate, x;
	bit q;

	do
	:: atomic { !glock && gdying } -> break	/* vsvmg_ctx_is_dying */
	:: atomic { !glock && !gdying } ->
		ctrlq!EWAIT, 0, 0, 0;
		evtc?kind, id;
		if
		:: kind != EV_FAULT -> break	/* CANCELED or an error: stop */
		:: else
		fi;
		/* vsvmg_fault_batch: one fault, one unit */
		round = 0;
		reads = 0;
		ustate = U_READ;
		do
		:: round < ROUNDS - 1 ->
			do	/* queue_round */
			:: ustate == U_READ ->		/* unit_read */
#ifdef MODEL_READ_BEGIN_WAITS
				/* read_begin as Linux's: waits out an invalidation */
				atomic { !mm_lock -> n = mm_seq };
#else
				n = mm_seq;		/* read_begin: lockless */
#endif
				atomic { !glock -> s = unmap_seq };	/* inval_seq */
				atomic { !mm_lock -> fr = gpte };	/* range_fault */
				reads++;
				ustate = U_FRESH
			:: ustate != U_READ ->
				atomic {
					!glock -> glock = 1;
					if
					:: gdying -> glock = 0; goto batch_out	/* ROUND_DYING */
					:: else
					fi;
					if	/* drop_stale_locked: read_retry */
#ifndef BROKEN_NO_RETRY_CHECK
					:: ustate == U_FRESH && mm_seq != n ->
						if
						:: reads < READS -> ustate = U_READ
						:: else -> ustate = U_GIVEN_UP
						fi
#endif
					:: else ->	/* the stream goes to the queue */
						q = 1;
#ifndef BROKEN_QUEUE_OUTSIDE_LOCK
						queue_stream()	/* under ctx->lock */
#else
						skip
#endif
					fi;
					glock = 0
				};
#ifdef BROKEN_QUEUE_OUTSIDE_LOCK
				if
				:: q -> queue_stream()	/* after ctx->lock was dropped */
				:: else
				fi;
#endif
				if
				:: q -> q = 0; break
				:: else
				fi
			od;
			evtc?res, x;	/* wait, account_chunk, next_round */
			if
			:: res == C_OK -> goto batch_out	/* answered */
			:: res == C_STALE ->
#ifdef BROKEN_LOST_ANSWER
				goto batch_out;
#endif
				round++;
				if
				:: ustate == U_FRESH -> ustate = U_READ
				:: else
				fi
			:: res == C_FAIL ->
				round++;
				if
				:: ustate == U_FRESH && fr != NONE -> ustate = U_FAILED	/* map_failed */
				:: ustate == U_FRESH && fr == NONE -> ustate = U_READ
				:: else
				fi
			fi
		:: else -> break
		od;
		/* the last round: answer_plain, a bare FAULT_REPLY nothing cancels */
		if
		:: ustate == U_FAILED -> ctrlq!REPLY, 0, ST_FAULT, id
		:: else -> ctrlq!REPLY, 0, ST_OK, id
		fi;
		evtc?res, x;
batch_out:
		id = 0; n = 0; s = 0; fr = NONE; reads = 0; round = 0; ustate = 0; x = 0
	od;
	evt_done = 1
}

/* ---- the guest process: CPU, notifier, exit (guest_mm.c, vsvmg_invalidate.c,
 *      guest_proc.c gsim_proc_exit, vsvmg_ctx.c vsvmg_ctx_destroy) ------------------- */

proctype app()
{
	byte old, ch, nextf = F0 + 1;
	mtype st;
	bit sent;

	xr ackq;
	xr dq;
	do
	:: ch < NCHANGES ->
		/* munmap(P) or a COW replacement: notify_locked under the mm lock */
		atomic { !mm_lock -> mm_lock = 1; mm_seq++ };
		atomic {	/* the notifier: vsvmg_ctx_invalidate */
			!glock -> glock = 1;
			unmap_seq++;
#ifdef MODEL_UNMAP_QUEUE_FAIL
			if
			:: skip		/* vsvmg_call_queue failed: return at once */
			:: ctrlq!UNMAP, unmap_seq, gpte, 0; sent = 1
			fi;
#else
			ctrlq!UNMAP, unmap_seq, gpte, 0;
			sent = 1;
#endif
			glock = 0
		};
#ifndef BROKEN_NO_ACK_WAIT
		if
		:: sent -> ackq?st	/* the acknowledgement; an error is only logged */
		:: else
		fi;
#endif
		sent = 0;
		atomic {	/* the entry changes, the old frame is freed */
			inval_done[gpte] = 1;
			old = gpte;
			if
			:: gpte = NONE					/* munmap */
			:: gpte = nextf; fstate[nextf] = FR_ALLOC	/* COW break */
			fi;
			fstate[old] = FR_FREED;
			old = NONE;
			mm_lock = 0
		};
		if	/* mmap again and touch: gaining access needs no invalidation */
		:: gpte == NONE ->
			atomic { !mm_lock -> gpte = nextf; fstate[nextf] = FR_ALLOC }
		:: else
		fi;
		nextf++;
		ch++
	:: else -> break
	od;

	/* exit: orderly (after the launches returned), or killed */
	if
	:: skip -> eus_done == NEU	/* waits: the launches returned */
	:: skip
	fi;
	/* gsim_proc_exit: notifier off, vsvmg_ctx_destroy, gsim_mm_destroy */
	atomic { !glock -> gdying = 1 };
	ctrlq!DESTROY, 0, 0, 0;
	dq?st;
	evt_done;		/* join the event thread */
	atomic { fstate[gpte] = FR_FREED; gpte = NONE };
#ifdef BROKEN_NO_ACK_WAIT
	do
	:: ackq?st
	:: empty(ackq) -> break
	od;
#endif
	assert(empty(ackq) && empty(dq));
	app_done = 1
}

init
{
	byte i;

	atomic {
		fstate[F0] = FR_ALLOC;
		gpte = F0;
		initialised = 1;
		launches = NEU;
		gen_source = 1;
		vm_gen = 1;
		if	/* P already mapped on the host, and in the device table? */
		:: skip
		:: hmap = F0
		:: hmap = F0; dpte = F0
		fi;
		run host();
		run evt();
		run app();
		i = 0;
		do
		:: i < NEU -> run eu(i); i++
		:: else -> break
		od;
		i = 0
	};
	/* (d) teardown frees everything */
	app_done;
	assert(launches == 0 && eus_done == NEU && nr_faults == 0);
	do
	:: i < MAXREC -> assert(rs[i] == R_FREE && rwait[i] == 0); i++
	:: else -> break
	od;
	assert(!parked && !initialised && !hdying && hmap == NONE && dpte == NONE);
	assert(readers == 0 && !wwait && !hlock && !glock && !mm_lock);
	assert(gpte == NONE);
	i = F0;
	do
	:: i < NFRAMES -> assert(fstate[i] == FR_FREED); i++
	:: else -> break
	od;
	assert(len(ctrlq) == 0 && len(evtc) == 0)
}
