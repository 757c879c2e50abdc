// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer for the iommufd ioctls of the vIOMMU series, for the two
 * drivers that implement them here: the mock driver (CONFIG_IOMMUFD_TEST,
 * the x86_64 test VM) and the ARM SMMUv3 driver on QEMU's SMMUv3 with edu
 * devices bound to vfio-pci (the arm64 test VM).
 *
 * A run is a number of sequences. Each sequence is derived from the seed and
 * its own number alone, opens two fresh iommufds, makes up to -l random
 * operations on them and closes everything it holds, alive or not. The
 * operations are VIOMMU_ALLOC, VDEVICE_ALLOC, HWPT_ALLOC (paging, nesting
 * parent, nested through a vIOMMU), HWPT_INVALIDATE, DESTROY, VEVENTQ_ALLOC
 * and reads of its fd, HW_QUEUE_ALLOC, IOAS_ALLOC/MAP/MAP_FILE/UNMAP,
 * GET_HW_INFO, device bind, attach/replace, detach, unbind and closing an
 * iommufd with everything in it. Every argument is chosen among valid
 * values, values of the wrong kind and random ones: struct sizes around
 * the accepted ones and far beyond (with zero and non-zero tails), IDs that
 * are live, of the wrong type, destroyed, of the other iommufd or random,
 * flags, data types and lengths, entry_len and entry_num, random vSTE words
 * and random commands over all 256 SMMUv3 opcodes.
 *
 * The calls are made by a child process. After each sequence it reads the
 * kernel log: a splat (WARNING, BUG, KASAN, UBSAN, lockdep, hung task, ...)
 * stops the run, and the parent prints the seed, the sequence number, the
 * command that replays that sequence alone and its calls. It does the same
 * when the child dies (an oops kills the task that made the call) or makes
 * no progress for a minute. Where an oops panics the kernel, as in the test
 * VMs, the last "iommufd_fuzz: -T TARGET -s SEED -r SEQUENCE" line the
 * child logged before each sequence is on the console with the oops. The
 * test harness also judges the console and a kmemleak scan at the end of
 * the VM run.
 *
 * Output is TAP: one test, with the calls per ioctl and an errno histogram
 * as comments.
 *
 * usage: iommufd_fuzz [-T mock|smmu] [-s SEED] [-n SEQUENCES] [-t SECONDS]
 *                     [-l OPS] [-r SEQUENCE] [-v]
 *   -T  target (default: mock if IOMMU_TEST_CMD answers, else smmu)
 *   -s  seed (default: from the clock; printed)
 *   -n  number of sequences (default 1000), -t stop after SECONDS anyway
 *   -l  operations per sequence (default 48)
 *   -r  replay one sequence of the seed, printing every call (-v too)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"
#include "edu.h"
#include "kmsg.h"
#include "smmu_guest.h"

#define PAGE_SZ		4096UL
/* Where the buffer is mapped: in the mock domain's aperture, at 16M */
#define IOVA_BASE	(1UL << 24)
#define BUF_PAGES	64
#define ARENA_SZ	(64UL << 10)
#define MAX_OBJS	256
#define MAX_DEVS	4
#define MAX_QFDS	8
#define MAX_OPS		256
#define LOG_LEN		200
#define WATCHDOG_S	60

enum target { T_MOCK, T_SMMU };

/* What the fuzzer remembers of an object it was given an ID for */
enum otype {
	OT_IOAS, OT_HWPT, OT_PARENT, OT_NESTED, OT_VIOMMU, OT_VDEV,
	OT_VEVENTQ, OT_HWQ, OT_IDEV, OT_STDEV, NR_OT
};

struct obj {
	uint32_t id;
	uint8_t type;
	uint8_t fdi;	/* which of the two iommufds */
	bool live;
	uint32_t parent;	/* vDEVICE: its vIOMMU */
	uint32_t dev;		/* vDEVICE: its device */
	uint64_t virt_id;	/* vDEVICE: its virtual ID */
};

/* A device: a mock device, or an edu behind a VFIO cdev */
struct dev {
	bool bound;
	int fdi;
	uint32_t idev_id;
	uint32_t stdev_id;	/* mock: the selftest object, its unbind */
	int devfd;		/* smmu: the cdev */
	char cdev[300];
};

enum op {
	OP_IOAS_ALLOC, OP_IOAS_MAP, OP_IOAS_MAP_FILE, OP_IOAS_UNMAP,
	OP_HWPT_ALLOC, OP_GET_HW_INFO, OP_VIOMMU_ALLOC, OP_VDEVICE_ALLOC,
	OP_HWPT_INVALIDATE, OP_VEVENTQ_ALLOC, OP_VEVENTQ_READ,
	OP_HW_QUEUE_ALLOC, OP_DESTROY, OP_BIND, OP_UNBIND, OP_ATTACH,
	OP_DETACH, OP_TRIGGER_VEVENT, OP_CLOSE_FD, NR_OPS
};

static const char * const op_names[NR_OPS] = {
	[OP_IOAS_ALLOC] = "IOAS_ALLOC",
	[OP_IOAS_MAP] = "IOAS_MAP",
	[OP_IOAS_MAP_FILE] = "IOAS_MAP_FILE",
	[OP_IOAS_UNMAP] = "IOAS_UNMAP",
	[OP_HWPT_ALLOC] = "HWPT_ALLOC",
	[OP_GET_HW_INFO] = "GET_HW_INFO",
	[OP_VIOMMU_ALLOC] = "VIOMMU_ALLOC",
	[OP_VDEVICE_ALLOC] = "VDEVICE_ALLOC",
	[OP_HWPT_INVALIDATE] = "HWPT_INVALIDATE",
	[OP_VEVENTQ_ALLOC] = "VEVENTQ_ALLOC",
	[OP_VEVENTQ_READ] = "vEVENTQ read",
	[OP_HW_QUEUE_ALLOC] = "HW_QUEUE_ALLOC",
	[OP_DESTROY] = "DESTROY",
	[OP_BIND] = "bind",
	[OP_UNBIND] = "unbind",
	[OP_ATTACH] = "attach/replace",
	[OP_DETACH] = "detach",
	[OP_TRIGGER_VEVENT] = "TRIGGER_VEVENT",
	[OP_CLOSE_FD] = "close iommufd",
};

#define MAX_ERRNO 134

static enum target target;
static uint64_t seed;
static unsigned int nr_ops = 48;
static bool verbose;
/* While building the first nest of a sequence, IDs are mostly right */
static bool bootstrapping;

/* The state of the current sequence */
static uint64_t rng;
static int fds[2];
static struct obj objs[MAX_OBJS];
static unsigned int nr_objs;
static struct dev devs[MAX_DEVS];
static unsigned int nr_devs;
static int qfds[MAX_QFDS];
/* Device fds still bound to an iommufd that was closed */
static int zombies[MAX_DEVS * 8];
static unsigned int nr_zombies;
static uint64_t virt_ids[8];
/* The virtual IDs VDEVICE_ALLOC took, most recent last */
static uint64_t used_vids[8];
static unsigned int nr_used_vids;
/* IOVAs IOAS_MAP mapped something at */
static uint64_t mapped[8];
static unsigned int nr_mapped;

/* Memory the ioctls point at */
static uint8_t *arena;		/* the ioctl structs; a guard page follows */
static uint8_t *data;		/* driver data and commands; guarded too */
static uint8_t *buf;		/* pages to map */
static int memfd;
static size_t arena_dirty, data_dirty;

/*
 * What the process running the sequences shares with the one watching it,
 * which reports when the first dies (an oops kills the caller) or hangs
 */
struct shared {
	unsigned long calls[NR_OPS], errs[NR_OPS][MAX_ERRNO + 1];
	unsigned long total_calls, sequences;
	unsigned long progress, cur_seq;
	unsigned int seq_calls;
	char seq_log[MAX_OPS][LOG_LEN];
};

static struct shared *sh;
static int kmsg_fd = -1;
static int kmsg_wfd = -1;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rnd64(void)
{
	rng = mix(rng);
	return rng;
}

static uint32_t rnd(uint32_t n)
{
	return n ? rnd64() % n : 0;
}

static bool chance(unsigned int pct)
{
	return rnd(100) < pct;
}

static bool in_child;

/* Fail the run; the child only says why, its parent gives the verdict */
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf(in_child ? "# " : "not ok 1 fuzz: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(1);
}

static void logf_(const char *fmt, ...)
{
	char *line = sh->seq_log[sh->seq_calls % MAX_OPS];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, LOG_LEN, fmt, ap);
	va_end(ap);
	if (verbose)
		printf("# %4u %s\n", sh->seq_calls, line);
	sh->seq_calls++;
	sh->progress++;
}

static void count(enum op op, int err)
{
	sh->calls[op]++;
	sh->total_calls++;
	sh->errs[op][err > MAX_ERRNO ? MAX_ERRNO : err]++;
}

/* Objects */

static struct obj *obj_add(enum otype type, int fdi, uint32_t id)
{
	struct obj *o;
	unsigned int i;

	if (nr_objs < MAX_OBJS) {
		o = &objs[nr_objs++];
	} else {
		/* Full: forget a dead one if there is one, else any */
		o = &objs[rnd(MAX_OBJS)];
		for (i = 0; i < MAX_OBJS; i++)
			if (!objs[i].live) {
				o = &objs[i];
				break;
			}
	}
	*o = (struct obj){ .id = id, .type = type, .fdi = fdi, .live = true };
	return o;
}

static struct obj *obj_find(int fdi, uint32_t id)
{
	unsigned int i;

	for (i = 0; i < nr_objs; i++)
		if (objs[i].live && objs[i].fdi == fdi && objs[i].id == id)
			return &objs[i];
	return NULL;
}

static struct obj *obj_pick(int type, int fdi, bool live)
{
	unsigned int i, n = 0, k;

	for (i = 0; i < nr_objs; i++)
		if ((type < 0 || objs[i].type == type) &&
		    objs[i].live == live && objs[i].fdi == fdi)
			n++;
	if (!n)
		return NULL;
	k = rnd(n);
	for (i = 0; i < nr_objs; i++)
		if ((type < 0 || objs[i].type == type) &&
		    objs[i].live == live && objs[i].fdi == fdi && !k--)
			return &objs[i];
	return NULL;
}

/*
 * An ID for an argument that wants an object of @type on iommufd @fdi:
 * mostly a live one of that type, else one of another type, a destroyed
 * one, one of the other iommufd, or a number.
 */
static uint32_t pick_id(int type, int fdi)
{
	static const uint32_t odd[] = { 0, 1, 2, 0xffffffff, 0x7fffffff, 64 };
	struct obj *o = NULL;
	unsigned int r = rnd(100);

	if (bootstrapping && chance(90))
		r = 0;
	if (r < 60)
		o = obj_pick(type, fdi, true);
	else if (r < 72)
		o = obj_pick(-1, fdi, true);
	else if (r < 82)
		o = obj_pick(chance(70) ? type : -1, fdi, false);
	else if (r < 90)
		o = obj_pick(chance(50) ? type : -1, !fdi, chance(80));
	if (o)
		return o->id;
	if (r < 60 && chance(80))
		o = obj_pick(-1, fdi, true);
	if (o)
		return o->id;
	return chance(50) ? odd[rnd(6)] : rnd(48);
}

static void obj_died(int fdi, uint32_t id)
{
	struct obj *o = obj_find(fdi, id);
	unsigned int i;

	if (!o)
		return;
	o->live = false;
	/* A device's vDEVICE goes with it */
	if (o->type == OT_IDEV)
		for (i = 0; i < nr_objs; i++)
			if (objs[i].type == OT_VDEV && objs[i].fdi == fdi &&
			    objs[i].dev == id)
				objs[i].live = false;
}

/* Memory for arguments */

/*
 * A size for a struct whose kernel size is @sz: mostly @sz, sometimes
 * shorter, longer with a zero or a non-zero tail, or far beyond. Returns
 * the size and sets *tail when the bytes past @sz must not be zero.
 */
static uint32_t fuzz_size(uint32_t sz, bool *tail)
{
	*tail = false;
	if (bootstrapping && chance(95))
		return sz;
	switch (rnd(40)) {
	case 0:
		return 0;
	case 1:
		return rnd(sz);
	case 2:
		return sz - 4;
	case 3:
		return sz + 8 * (1 + rnd(8));
	case 4:
		*tail = true;
		return sz + 8 * (1 + rnd(8));
	case 5:
		return PAGE_SZ;
	case 6:
		return ARENA_SZ;
	case 7:
		/* Past the arena, into its guard page */
		return ARENA_SZ + 8;
	case 8:
		return rnd64();
	default:
		return sz;
	}
}

static void clear_tail(uint8_t *mem, size_t *dirty, size_t upto)
{
	if (*dirty > upto)
		upto = *dirty;
	if (upto > ARENA_SZ)
		upto = ARENA_SZ;
	memset(mem, 0, upto);
	*dirty = 0;
}

/*
 * Issue @req with the struct @s of @sz bytes placed in the arena, with a
 * fuzzed size word at its start; the struct is copied back afterwards.
 * Returns 0 or the errno.
 */
static int fuzz_ioctl(enum op op, int fd, unsigned long req, void *s,
		      uint32_t sz, const char *what)
{
	uint32_t size;
	bool tail;
	int rc;

	clear_tail(arena, &arena_dirty, sz + 64);
	size = fuzz_size(sz, &tail);
	memcpy(arena, s, sz);
	memcpy(arena, &size, sizeof(size));
	if (tail && size > sz && size <= ARENA_SZ)
		arena[size - 1 - rnd(size - sz)] = 1 + rnd(255);
	arena_dirty = size > ARENA_SZ ? ARENA_SZ : (size > sz ? size : sz);
	rc = ioctl(fd, req, arena) ? errno : 0;
	memcpy(s, arena, sz);
	count(op, rc);
	logf_("%s fd%d size=%u%s %s -> %s", op_names[op], fd == fds[1],
	      size, tail ? "+tail" : "", what, rc ? strerrorname_np(rc) : "ok");
	return rc;
}

static int pick_fdi(void)
{
	return chance(90) ? 0 : 1;
}

/* An IOVA: the few that overlap, and odd ones */
static uint64_t pick_iova(void)
{
	if (bootstrapping)
		return IOVA_BASE + rnd(BUF_PAGES) * PAGE_SZ;
	if (nr_mapped && chance(30))
		return mapped[rnd(nr_mapped)];
	switch (rnd(10)) {
	case 0:
		return 0;
	case 1:
		return rnd64();
	case 2:
		return (rnd64() & 0xffffffffULL) & ~(PAGE_SZ - 1);
	case 3:
		return (1ULL << 30) + rnd(32) * PAGE_SZ;	/* mock MSI window */
	case 4:
		return IOVA_BASE + rnd(PAGE_SZ);
	default:
		return IOVA_BASE + rnd(BUF_PAGES) * PAGE_SZ;
	}
}

static uint64_t pick_len(void)
{
	switch (rnd(10)) {
	case 0:
		return 0;
	case 1:
		return rnd64();
	case 2:
		return 1 + rnd(3 * PAGE_SZ);
	case 3:
		return ~0ULL;
	default:
		return (1 + rnd(8)) * PAGE_SZ;
	}
}

/* The ioctls */

static void op_ioas_alloc(int fdi)
{
	struct iommu_ioas_alloc s = {
		.size = sizeof(s),
		.flags = chance(95) ? 0 : rnd64(),
	};

	if (!fuzz_ioctl(OP_IOAS_ALLOC, fds[fdi], IOMMU_IOAS_ALLOC, &s,
			sizeof(s), "") && s.out_ioas_id)
		obj_add(OT_IOAS, fdi, s.out_ioas_id);
}

static uint32_t map_flags(void)
{
	uint32_t f = IOMMU_IOAS_MAP_READABLE;

	if (chance(80))
		f |= IOMMU_IOAS_MAP_WRITEABLE;
	if (chance(70))
		f |= IOMMU_IOAS_MAP_FIXED_IOVA;
	if (chance(10))
		f = rnd64();
	return f;
}

static void op_ioas_map(int fdi)
{
	unsigned int pg = rnd(BUF_PAGES);
	struct iommu_ioas_map s = {
		.size = sizeof(s),
		.flags = map_flags(),
		.ioas_id = pick_id(OT_IOAS, fdi),
		.user_va = (uintptr_t)buf + pg * PAGE_SZ,
		.length = (1 + rnd(BUF_PAGES - pg)) * PAGE_SZ,
		.iova = pick_iova(),
	};
	char what[120];

	if (chance(10))
		s.user_va = chance(50) ? rnd64() : s.user_va + 1 + rnd(64);
	if (chance(10))
		s.length = pick_len();
	snprintf(what, sizeof(what), "ioas=%u flags=%#x va+%#llx len=%#llx iova=%#llx",
		 s.ioas_id, s.flags,
		 (unsigned long long)(s.user_va - (uintptr_t)buf),
		 (unsigned long long)s.length, (unsigned long long)s.iova);
	if (fuzz_ioctl(OP_IOAS_MAP, fds[fdi], IOMMU_IOAS_MAP, &s, sizeof(s),
		       what))
		return;
	mapped[nr_mapped++ % 8] = s.iova;
	if (nr_mapped > 8)
		nr_mapped = 8;
}

static void op_ioas_map_file(int fdi)
{
	int files[] = { memfd, fds[0], -1, 0, 1000 };
	struct iommu_ioas_map_file s = {
		.size = sizeof(s),
		.flags = map_flags(),
		.ioas_id = pick_id(OT_IOAS, fdi),
		.fd = chance(85) ? memfd : files[rnd(5)],
		.start = rnd(BUF_PAGES) * PAGE_SZ,
		.length = (1 + rnd(8)) * PAGE_SZ,
		.iova = pick_iova(),
	};
	char what[120];

	if (chance(10))
		s.start = chance(50) ? rnd64() : s.start + 1 + rnd(64);
	if (chance(10))
		s.length = pick_len();
	snprintf(what, sizeof(what), "ioas=%u flags=%#x fd=%d start=%#llx len=%#llx iova=%#llx",
		 s.ioas_id, s.flags, s.fd, (unsigned long long)s.start,
		 (unsigned long long)s.length, (unsigned long long)s.iova);
	fuzz_ioctl(OP_IOAS_MAP_FILE, fds[fdi], IOMMU_IOAS_MAP_FILE, &s,
		   sizeof(s), what);
}

static void op_ioas_unmap(int fdi)
{
	struct iommu_ioas_unmap s = {
		.size = sizeof(s),
		.ioas_id = pick_id(OT_IOAS, fdi),
		.iova = pick_iova(),
		.length = pick_len(),
	};
	char what[80];

	if (chance(30)) {
		s.iova = 0;
		s.length = UINT64_MAX;
	}
	snprintf(what, sizeof(what), "ioas=%u iova=%#llx len=%#llx", s.ioas_id,
		 (unsigned long long)s.iova, (unsigned long long)s.length);
	fuzz_ioctl(OP_IOAS_UNMAP, fds[fdi], IOMMU_IOAS_UNMAP, &s, sizeof(s),
		   what);
}

/* Driver data of @len bytes at data: random, or valid-looking for the type */
static uint32_t fuzz_len(uint32_t len)
{
	switch (rnd(20)) {
	case 0:
		return 0;
	case 1:
		return len - 1;
	case 2:
		return len + 8;
	case 3:
		return rnd(PAGE_SZ);
	case 4:
		return ARENA_SZ + PAGE_SZ;
	default:
		return len;
	}
}

/* Random words, some of them vSTE-shaped */
static void fuzz_vste(uint64_t *ste)
{
	static const uint8_t cfgs[] = { 0, 4, 5, 5, 5, 6, 7, 1 };

	ste[0] = STE0_V | STE0_CFG(cfgs[rnd(8)]) | STE0_S1FMT(rnd(4)) |
		 STE0_S1CTXPTR(IOVA_BASE + rnd(BUF_PAGES) * PAGE_SZ) |
		 STE0_S1CDMAX(rnd(4) ? 0 : rnd(32));
	ste[1] = rnd(4) ? rnd64() & 0xff : rnd64() & 0x3ffffffULL;
	if (chance(10))
		ste[0] &= ~STE0_V;
	if (chance(15))
		ste[rnd(2)] ^= 1ULL << rnd(64);
	if (chance(5)) {
		ste[0] = rnd64();
		ste[1] = rnd64();
	}
}

static uint32_t nested_type(void)
{
	static const uint32_t odd[] = { IOMMU_HWPT_DATA_NONE,
					IOMMU_HWPT_DATA_VTD_S1,
					IOMMU_HWPT_DATA_ARM_SMMUV3,
					IOMMU_HWPT_DATA_SELFTEST, 0xffffffff };

	if (chance(85))
		return target == T_MOCK ? IOMMU_HWPT_DATA_SELFTEST :
					  IOMMU_HWPT_DATA_ARM_SMMUV3;
	return chance(80) ? odd[rnd(5)] : rnd64();
}

static uint32_t fill_hwpt_data(uint32_t type)
{
	if (type == IOMMU_HWPT_DATA_SELFTEST) {
		struct iommu_hwpt_selftest d = {
			.iotlb = chance(90) ? IOMMU_TEST_IOTLB_DEFAULT : rnd64(),
			/* For a paging HWPT: MOCK_IOMMUPT_*, or an unknown one */
			.pagetable_type = chance(80) ? 0 : rnd(3),
		};

		memcpy(data, &d, sizeof(d));
		return sizeof(d);
	}
	fuzz_vste((uint64_t *)data);
	return sizeof(struct iommu_hwpt_arm_smmuv3);
}

/* @want: OT_PARENT or OT_NESTED to make one more likely, or -1 */
static void op_hwpt_alloc(int fdi, int want)
{
	static const uint32_t flags[] = { 0, IOMMU_HWPT_ALLOC_NEST_PARENT,
					  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
					  IOMMU_HWPT_FAULT_ID_VALID };
	struct iommu_hwpt_alloc s = {
		.size = sizeof(s),
		.flags = flags[rnd(4)],
		.dev_id = pick_id(OT_IDEV, fdi),
	};
	bool nested = want == OT_NESTED ? chance(90) :
		      want == OT_PARENT ? chance(10) : chance(50);
	char what[120];
	uint32_t len;

	if (want == OT_PARENT && chance(90))
		s.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
	if (chance(5))
		s.flags = rnd64();
	clear_tail(data, &data_dirty, 64);
	if (nested) {
		s.pt_id = pick_id(chance(80) ? OT_VIOMMU : OT_PARENT, fdi);
		s.data_type = nested_type();
		len = fill_hwpt_data(s.data_type);
		s.data_len = fuzz_len(len);
		s.data_uptr = (uintptr_t)data;
		data_dirty = s.data_len;
		if (chance(5))
			s.data_uptr = chance(50) ? 0 : rnd64();
	} else {
		s.pt_id = pick_id(OT_IOAS, fdi);
		if (chance(10)) {
			s.data_type = nested_type();
			s.data_len = rnd(64);
			s.data_uptr = (uintptr_t)data;
		}
	}
	if (s.flags & IOMMU_HWPT_FAULT_ID_VALID)
		s.fault_id = pick_id(-1, fdi);
	if (chance(3))
		s.__reserved = 1;
	snprintf(what, sizeof(what), "flags=%#x dev=%u pt=%u type=%#x len=%u ste=%#llx,%#llx",
		 s.flags, s.dev_id, s.pt_id, s.data_type, s.data_len,
		 (unsigned long long)((uint64_t *)data)[0],
		 (unsigned long long)((uint64_t *)data)[1]);
	if (fuzz_ioctl(OP_HWPT_ALLOC, fds[fdi], IOMMU_HWPT_ALLOC, &s,
		       sizeof(s), what) || !s.out_hwpt_id)
		return;
	if (s.flags & IOMMU_HWPT_ALLOC_NEST_PARENT)
		obj_add(OT_PARENT, fdi, s.out_hwpt_id);
	else
		obj_add(s.data_type ? OT_NESTED : OT_HWPT, fdi, s.out_hwpt_id);
}

static void op_get_hw_info(int fdi)
{
	struct iommu_hw_info s = {
		.size = sizeof(s),
		.dev_id = pick_id(OT_IDEV, fdi),
		.data_len = fuzz_len(64),
		.data_uptr = (uintptr_t)data,
	};
	char what[80];

	if (chance(30)) {
		s.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
		s.in_data_type = chance(50) ? rnd(4) : rnd64();
	} else if (chance(5)) {
		s.flags = rnd64();
	}
	if (chance(5))
		s.data_uptr = rnd64();
	snprintf(what, sizeof(what), "flags=%#x dev=%u len=%u type=%#x",
		 s.flags, s.dev_id, s.data_len, s.in_data_type);
	fuzz_ioctl(OP_GET_HW_INFO, fds[fdi], IOMMU_GET_HW_INFO, &s, sizeof(s),
		   what);
	data_dirty = ARENA_SZ;
}

static uint32_t viommu_type(void)
{
	static const uint32_t odd[] = { IOMMU_VIOMMU_TYPE_DEFAULT,
					IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
					IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
					IOMMU_VIOMMU_TYPE_SELFTEST, 3 };

	if (chance(85))
		return target == T_MOCK ? IOMMU_VIOMMU_TYPE_SELFTEST :
					  IOMMU_VIOMMU_TYPE_ARM_SMMUV3;
	return chance(80) ? odd[rnd(5)] : rnd64();
}

static void op_viommu_alloc(int fdi)
{
	struct iommu_viommu_alloc s = {
		.size = sizeof(s),
		.flags = chance(95) ? 0 : rnd64(),
		.type = viommu_type(),
		.dev_id = pick_id(OT_IDEV, fdi),
		.hwpt_id = pick_id(chance(85) ? OT_PARENT : OT_HWPT, fdi),
	};
	char what[80];

	if (chance(10)) {
		s.data_len = fuzz_len(16);
		s.data_uptr = chance(80) ? (uintptr_t)data : rnd64();
	}
	if (chance(3))
		s.__reserved = 1 + rnd(7);
	snprintf(what, sizeof(what), "flags=%#x type=%#x dev=%u hwpt=%u len=%u",
		 s.flags, s.type, s.dev_id, s.hwpt_id, s.data_len);
	if (!fuzz_ioctl(OP_VIOMMU_ALLOC, fds[fdi], IOMMU_VIOMMU_ALLOC, &s,
			sizeof(s), what) && s.out_viommu_id)
		obj_add(OT_VIOMMU, fdi, s.out_viommu_id);
}

static uint64_t pick_virt_id(void)
{
	switch (rnd(10)) {
	case 0:
		return rnd64();
	case 1:
		return rnd64() & 0xffffffffULL;
	case 2:
		return 1ULL << 32;
	default:
		return virt_ids[rnd(8)];
	}
}

/* A virtual ID for a command: mostly one that has a vDEVICE */
static uint64_t cmd_virt_id(void)
{
	if (nr_used_vids && chance(70))
		return used_vids[rnd(nr_used_vids)];
	return chance(70) ? virt_ids[rnd(8)] : rnd64();
}

static void op_vdevice_alloc(int fdi)
{
	struct iommu_vdevice_alloc s = {
		.size = sizeof(s),
		.viommu_id = pick_id(OT_VIOMMU, fdi),
		.dev_id = pick_id(OT_IDEV, fdi),
		.virt_id = pick_virt_id(),
	};
	struct obj *o, *d;
	char what[80];

	/* Often a pair that may fit, for the invalidations to have targets */
	o = obj_pick(OT_VIOMMU, fdi, true);
	d = obj_pick(OT_IDEV, fdi, true);
	if (o && d && chance(50)) {
		s.viommu_id = o->id;
		s.dev_id = d->id;
	}
	snprintf(what, sizeof(what), "viommu=%u dev=%u virt=%#llx",
		 s.viommu_id, s.dev_id, (unsigned long long)s.virt_id);
	if (fuzz_ioctl(OP_VDEVICE_ALLOC, fds[fdi], IOMMU_VDEVICE_ALLOC, &s,
		       sizeof(s), what) || !s.out_vdevice_id)
		return;
	o = obj_add(OT_VDEV, fdi, s.out_vdevice_id);
	o->parent = s.viommu_id;
	o->dev = s.dev_id;
	o->virt_id = s.virt_id;
	used_vids[nr_used_vids++ % 8] = s.virt_id;
	if (nr_used_vids > 8)
		nr_used_vids = 8;
}

/* One SMMUv3 command: any of the 256 opcodes, fields valid or random */
/*
 * Command @opc, well formed, with the fields the opcode has; its StreamID
 * is *@sid, or a virtual ID picked when it is needed if @sid is NULL. A
 * TLBI_NH_VA/VAA is of one page (no range fields: TG 0 and NUM, SCALE,
 * TTL 0), a CFGI_CD of SubstreamID 0, so that they are legal on any SMMU
 * (16-bit ASIDs aside). Not so the opcodes a guest may not send, nor
 * ATC_INV on an SMMU without ATS (SMMU_IDR0.ATS): those are refused,
 * and good_inv() does not use them.
 */
static void well_formed_cmd(uint64_t *cmd, uint8_t opc, const uint64_t *sid)
{
	cmd[0] = opc;
	cmd[1] = 0;
	switch (opc) {
	case 0x01: case 0x03: case 0x05: case 0x06:
		cmd[0] |= CMD0_SID(sid ? *sid : cmd_virt_id());
		if (opc != 0x06)
			cmd[1] = rnd(2);
		break;
	case 0x04:
		cmd[1] = 31;
		break;
	case 0x11:
		cmd[0] |= CMD0_ASID(rnd(1 << 16));
		break;
	case 0x12: case 0x13:
		if (opc == 0x12)
			cmd[0] |= CMD0_ASID(rnd(1 << 16));
		cmd[1] = ((IOVA_BASE + rnd(BUF_PAGES) * PAGE_SZ) & ~0xfffULL) |
			 rnd(2);
		break;
	case 0x40:
		cmd[0] |= CMD0_SID(sid ? *sid : cmd_virt_id());
		cmd[1] = (rnd64() & 0xfffffffff000ULL) | rnd(8);
		break;
	default:
		break;
	}
}

static void fuzz_smmu_cmd(uint64_t *cmd)
{
	static const uint8_t ops[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
				       0x10, 0x11, 0x12, 0x13, 0x20, 0x28,
				       0x2a, 0x30, 0x40, 0x41, 0x46 };
	uint8_t opc = chance(60) ? ops[rnd(sizeof(ops))] : rnd(256);

	cmd[0] = opc;
	cmd[1] = 0;
	if (chance(50)) {
		well_formed_cmd(cmd, opc, NULL);
		return;
	}
	switch (rnd(6)) {
	case 0:	/* a StreamID, virtual or not */
		cmd[0] |= CMD0_SID(cmd_virt_id());
		if (chance(20))
			cmd[0] |= CMD0_SSID(rnd(1 << 20));
		cmd[1] = rnd(4) ? rnd(2) : rnd64();
		break;
	case 1:	/* an ASID and an address */
		cmd[0] |= CMD0_ASID(rnd(1 << 16));
		cmd[1] = (rnd64() & ~0xfffULL) | rnd(2);
		break;
	case 2:	/* a VMID, which the kernel must override */
		cmd[0] |= CMD0_VMID(rnd(1 << 16));
		cmd[1] = rnd64() & ~0xfffULL;
		break;
	case 3:
		cmd[0] = rnd64();
		cmd[0] = (cmd[0] & ~0xffULL) | opc;
		cmd[1] = rnd64();
		break;
	default:
		break;
	}
	if (chance(10))
		cmd[rnd(2)] ^= 1ULL << rnd(64);
}

static void fill_inv(uint32_t type, uint32_t len, uint32_t num)
{
	size_t total = (size_t)len * num;
	unsigned int i;

	if (total > ARENA_SZ)
		total = ARENA_SZ;
	clear_tail(data, &data_dirty, total);
	data_dirty = total;
	for (i = 0; len && (size_t)(i + 1) * len <= total; i++) {
		uint8_t *e = data + (size_t)i * len;

		if (type == IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 ||
		    (type != IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST &&
		     type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST &&
		     len >= 16)) {
			if (len >= 16)
				fuzz_smmu_cmd((uint64_t *)e);
		} else if (type == IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST &&
			   len >= sizeof(struct iommu_viommu_invalidate_selftest)) {
			struct iommu_viommu_invalidate_selftest c = {
				.flags = chance(70) ? 0 :
					 chance(90) ? rnd(4) : rnd64(),
				.vdev_id = cmd_virt_id(),
				.cache_id = chance(95) ? rnd(4) : rnd64(),
			};

			memcpy(e, &c, sizeof(c));
		} else if (len >= sizeof(struct iommu_hwpt_invalidate_selftest)) {
			struct iommu_hwpt_invalidate_selftest c = {
				.flags = chance(95) ? rnd(2) : rnd64(),
				.iotlb_id = chance(95) ? rnd(4) : rnd64(),
			};

			memcpy(e, &c, sizeof(c));
		}
		if (len > 16 && chance(5))
			e[len - 1] = 1;
	}
}

/*
 * A batch that the kernel should take whole: commands for live vDEVICEs of
 * one vIOMMU, well formed. Random batches mostly stop at their first entry
 * (an unknown virtual ID, a bad opcode), so the driver's handling of each
 * command and of longer batches needs these. Returns false if @fdi has no
 * vDEVICE.
 */
static bool good_inv(int fdi, struct iommu_hwpt_invalidate *s)
{
	/* CFGI_CD, CFGI_CD_ALL, TLBI_NH_ALL/ASID/VA/VAA, TLBI_NSNH_ALL */
	static const uint8_t ops[] = { 0x05, 0x06, 0x10, 0x11, 0x12, 0x13,
				       0x30 };
	struct obj *v = obj_pick(OT_VDEV, fdi, true), *vdevs[8];
	unsigned int i, n = 0;

	if (!v)
		return false;
	for (i = 0; i < nr_objs && n < 8; i++)
		if (objs[i].live && objs[i].type == OT_VDEV &&
		    objs[i].fdi == fdi && objs[i].parent == v->parent)
			vdevs[n++] = &objs[i];
	s->hwpt_id = v->parent;
	s->entry_num = 1 + rnd(chance(70) ? 8 : 64);
	if (target == T_MOCK) {
		s->data_type = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST;
		s->entry_len = sizeof(struct iommu_viommu_invalidate_selftest);
	} else {
		s->data_type = IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3;
		s->entry_len = sizeof(struct iommu_viommu_arm_smmuv3_invalidate);
	}
	clear_tail(data, &data_dirty, (size_t)s->entry_len * s->entry_num);
	data_dirty = (size_t)s->entry_len * s->entry_num;
	for (i = 0; i < s->entry_num; i++) {
		uint64_t virt_id = vdevs[rnd(n)]->virt_id;

		if (target == T_MOCK) {
			struct iommu_viommu_invalidate_selftest *c =
				(void *)(data + (size_t)i * s->entry_len);

			c->vdev_id = virt_id;
			c->flags = chance(80) ? 0 : 1 << rnd(2);
			c->cache_id = rnd(4);
		} else {
			well_formed_cmd((uint64_t *)(data +
						     (size_t)i * s->entry_len),
					ops[rnd(sizeof(ops))], &virt_id);
		}
	}
	return true;
}

static void op_hwpt_invalidate(int fdi)
{
	struct iommu_hwpt_invalidate s = {
		.size = sizeof(s),
		.data_uptr = (uintptr_t)data,
	};
	bool viommu = chance(70);
	uint32_t len;
	char what[100];

	if (viommu && chance(50) && good_inv(fdi, &s))
		goto call;
	s.hwpt_id = pick_id(viommu ? OT_VIOMMU : OT_NESTED, fdi);
	if (target == T_MOCK) {
		s.data_type = viommu ? IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST :
				       IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
		len = viommu ? sizeof(struct iommu_viommu_invalidate_selftest) :
			       sizeof(struct iommu_hwpt_invalidate_selftest);
	} else {
		s.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3;
		len = sizeof(struct iommu_viommu_arm_smmuv3_invalidate);
	}
	if (chance(10))
		s.data_type = chance(50) ? rnd(4) : rnd64();
	s.entry_len = chance(85) ? len : fuzz_len(len);
	switch (rnd(10)) {
	case 0:
		s.entry_num = 0;
		break;
	case 1:
		s.entry_num = 32 + rnd(128);
		break;
	case 2:
		s.entry_num = chance(50) ? 0xffffffff : rnd64();
		break;
	case 3 ... 5:
		s.entry_num = 1;
		break;
	default:
		s.entry_num = 1 + rnd(8);
		break;
	}
	fill_inv(s.data_type, s.entry_len, s.entry_num);
	if (chance(3))
		s.data_uptr = chance(50) ? 0 : rnd64();
	if (chance(3))
		s.__reserved = 1;
call:
	snprintf(what, sizeof(what), "id=%u type=%#x len=%u num=%u cmd0=%#llx",
		 s.hwpt_id, s.data_type, s.entry_len, s.entry_num,
		 (unsigned long long)((uint64_t *)data)[0]);
	fuzz_ioctl(OP_HWPT_INVALIDATE, fds[fdi], IOMMU_HWPT_INVALIDATE, &s,
		   sizeof(s), what);
}

static void op_veventq_alloc(int fdi)
{
	static const uint32_t depths[] = { 0, 1, 2, 64, 1 << 19,
					   (1 << 19) + 1, 0xffffffff };
	struct iommu_veventq_alloc s = {
		.size = sizeof(s),
		.flags = chance(95) ? 0 : rnd64(),
		.viommu_id = pick_id(OT_VIOMMU, fdi),
		.type = target == T_MOCK ? IOMMU_VEVENTQ_TYPE_SELFTEST :
					   IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
		.veventq_depth = chance(70) ? 1 + rnd(8) : depths[rnd(7)],
	};
	char what[80];
	unsigned int i;

	if (chance(10))
		s.type = chance(50) ? rnd(4) : rnd64();
	snprintf(what, sizeof(what), "flags=%#x viommu=%u type=%#x depth=%u",
		 s.flags, s.viommu_id, s.type, s.veventq_depth);
	if (fuzz_ioctl(OP_VEVENTQ_ALLOC, fds[fdi], IOMMU_VEVENTQ_ALLOC, &s,
		       sizeof(s), what))
		return;
	if (s.out_veventq_id)
		obj_add(OT_VEVENTQ, fdi, s.out_veventq_id);
	for (i = 0; i < MAX_QFDS; i++)
		if (qfds[i] < 0) {
			qfds[i] = s.out_veventq_fd;
			return;
		}
	close(s.out_veventq_fd);
}

static void op_veventq_read(int fdi)
{
	unsigned int i, k = rnd(MAX_QFDS);
	int fd = -1;
	struct pollfd pfd = { .events = POLLIN };
	size_t len = chance(50) ? rnd(64) : rnd(2 * PAGE_SZ);
	ssize_t n;
	int rc;

	for (i = 0; i < MAX_QFDS && fd < 0; i++)
		fd = qfds[(k + i) % MAX_QFDS];
	if (fd < 0)
		return;
	pfd.fd = fd;
	if (chance(30)) {
		if (poll(&pfd, 1, 0) < 0) {
			count(OP_VEVENTQ_READ, errno);
			return;
		}
	}
	n = read(fd, data, len);
	rc = n < 0 ? errno : 0;
	count(OP_VEVENTQ_READ, rc);
	data_dirty = ARENA_SZ;
	logf_("read vEVENTQ fd len=%zu -> %zd %s", len, n,
	      rc ? strerrorname_np(rc) : "");
}

static void op_hw_queue_alloc(int fdi)
{
	struct iommu_hw_queue_alloc s = {
		.size = sizeof(s),
		.flags = chance(95) ? 0 : rnd64(),
		.viommu_id = pick_id(OT_VIOMMU, fdi),
		.type = chance(80) ? IOMMU_HW_QUEUE_TYPE_SELFTEST : rnd(3),
		.index = chance(80) ? rnd(3) : rnd64(),
		.nesting_parent_iova = pick_iova(),
		.length = chance(80) ? PAGE_SZ : pick_len(),
	};
	char what[100];

	snprintf(what, sizeof(what), "viommu=%u type=%#x index=%u iova=%#llx len=%#llx",
		 s.viommu_id, s.type, s.index,
		 (unsigned long long)s.nesting_parent_iova,
		 (unsigned long long)s.length);
	if (!fuzz_ioctl(OP_HW_QUEUE_ALLOC, fds[fdi], IOMMU_HW_QUEUE_ALLOC, &s,
			sizeof(s), what) && s.out_hw_queue_id)
		obj_add(OT_HWQ, fdi, s.out_hw_queue_id);
}

static void op_destroy(int fdi)
{
	struct iommu_destroy s = {
		.size = sizeof(s),
		.id = pick_id(chance(50) ? -1 : (int)rnd(NR_OT), fdi),
	};
	char what[40];
	unsigned int i;

	snprintf(what, sizeof(what), "id=%u", s.id);
	if (fuzz_ioctl(OP_DESTROY, fds[fdi], IOMMU_DESTROY, &s, sizeof(s),
		       what))
		return;
	obj_died(fdi, s.id);
	/* Destroying the selftest object unbinds its mock device */
	for (i = 0; i < nr_devs; i++)
		if (target == T_MOCK && devs[i].bound && devs[i].fdi == fdi &&
		    devs[i].stdev_id == s.id) {
			devs[i].bound = false;
			obj_died(fdi, devs[i].idev_id);
		}
}

/* Devices: bind (a mock device is created bound), unbind, attach, detach */

static void op_bind(int fdi)
{
	struct dev *d = &devs[rnd(nr_devs)];
	int rc;

	if (d->bound)
		return;
	if (target == T_MOCK) {
		struct iommu_test_cmd s = {
			.size = sizeof(s),
			.op = IOMMU_TEST_OP_MOCK_DOMAIN,
			.id = pick_id(OT_IOAS, fdi),
		};
		char what[40];

		snprintf(what, sizeof(what), "mock device on %u", s.id);
		if (fuzz_ioctl(OP_BIND, fds[fdi], IOMMU_TEST_CMD, &s,
			       sizeof(s), what))
			return;
		d->stdev_id = s.mock_domain.out_stdev_id;
		d->idev_id = s.mock_domain.out_idev_id;
		obj_add(OT_STDEV, fdi, d->stdev_id);
		obj_add(OT_HWPT, fdi, s.mock_domain.out_hwpt_id);
	} else {
		struct vfio_device_bind_iommufd b = {
			.argsz = sizeof(b),
			.iommufd = fds[fdi],
		};

		d->devfd = open(d->cdev, O_RDWR);
		if (d->devfd < 0)
			rc = errno;
		else
			rc = ioctl(d->devfd, VFIO_DEVICE_BIND_IOMMUFD, &b) ?
				errno : 0;
		count(OP_BIND, rc);
		logf_("bind %s to fd%d -> %s", d->cdev, fdi,
		      rc ? strerrorname_np(rc) : "ok");
		if (rc) {
			if (d->devfd >= 0)
				close(d->devfd);
			d->devfd = -1;
			return;
		}
		d->idev_id = b.out_devid;
	}
	d->bound = true;
	d->fdi = fdi;
	obj_add(OT_IDEV, fdi, d->idev_id);
}

static void op_unbind(void)
{
	struct dev *d = &devs[rnd(nr_devs)];
	int rc = 0;

	if (!d->bound)
		return;
	if (target == T_MOCK) {
		struct iommu_destroy s = { .size = sizeof(s),
					   .id = d->stdev_id };

		rc = ioctl(fds[d->fdi], IOMMU_DESTROY, &s) ? errno : 0;
		obj_died(d->fdi, d->stdev_id);
	} else {
		close(d->devfd);
		d->devfd = -1;
	}
	count(OP_UNBIND, rc);
	logf_("unbind device %u (fd%d) -> %s", d->idev_id, d->fdi,
	      rc ? strerrorname_np(rc) : "ok");
	obj_died(d->fdi, d->idev_id);
	d->bound = false;
}

static void op_attach(void)
{
	struct dev *d = &devs[rnd(nr_devs)];
	static const int types[] = { OT_NESTED, OT_NESTED, OT_HWPT, OT_PARENT,
				     OT_IOAS, OT_VIOMMU, -1 };
	uint32_t pt = pick_id(bootstrapping ? OT_NESTED : types[rnd(7)],
			      d->fdi);
	int rc;

	if (!d->bound)
		return;
	if (target == T_MOCK) {
		struct iommu_test_cmd s = {
			.size = sizeof(s),
			.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
			.id = d->stdev_id,
			.mock_domain_replace.pt_id = pt,
		};
		char what[60];

		snprintf(what, sizeof(what), "replace stdev %u -> pt %u",
			 d->stdev_id, pt);
		fuzz_ioctl(OP_ATTACH, fds[d->fdi], IOMMU_TEST_CMD, &s,
			   sizeof(s), what);
		return;
	}
	{
		struct vfio_device_attach_iommufd_pt a = {
			.argsz = sizeof(a),
			.flags = chance(95) ? 0 : rnd64(),
			.pt_id = pt,
		};

		rc = ioctl(d->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a) ?
			errno : 0;
		count(OP_ATTACH, rc);
		logf_("attach device %u to %u -> %s", d->idev_id, pt,
		      rc ? strerrorname_np(rc) : "ok");
	}
}

static void op_detach(void)
{
	struct dev *d = &devs[rnd(nr_devs)];
	struct vfio_device_detach_iommufd_pt s = { .argsz = sizeof(s) };
	int rc;

	if (!d->bound || target == T_MOCK)
		return;
	rc = ioctl(d->devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &s) ? errno : 0;
	count(OP_DETACH, rc);
	logf_("detach device %u -> %s", d->idev_id,
	      rc ? strerrorname_np(rc) : "ok");
}

static void op_trigger_vevent(int fdi)
{
	struct iommu_test_cmd s = {
		.size = sizeof(s),
		.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
		.trigger_vevent.dev_id = pick_id(OT_IDEV, fdi),
	};
	char what[40];

	if (target != T_MOCK)
		return;
	snprintf(what, sizeof(what), "dev=%u", s.trigger_vevent.dev_id);
	fuzz_ioctl(OP_TRIGGER_VEVENT, fds[fdi], IOMMU_TEST_CMD, &s, sizeof(s),
		   what);
}

static int open_iommufd(void)
{
	int fd = open("/dev/iommu", O_RDWR);

	if (fd < 0)
		die("/dev/iommu: %m");
	return fd;
}

/*
 * Close an iommufd with whatever it holds. A mock device goes with it; an
 * edu stays bound to it until its cdev is closed, now or at the end of the
 * sequence (the fuzzer then needs another device to bind it again).
 */
static void op_close_fd(void)
{
	int fdi = rnd(2);
	unsigned int i;

	close(fds[fdi]);
	count(OP_CLOSE_FD, 0);
	logf_("close fd%d with everything in it", fdi);
	for (i = 0; i < nr_objs; i++)
		if (objs[i].fdi == fdi)
			objs[i].live = false;
	for (i = 0; i < nr_devs; i++) {
		if (!devs[i].bound || devs[i].fdi != fdi)
			continue;
		/* Unbound now, or later: the cdev keeps the context alive */
		if (target == T_SMMU) {
			if (chance(50) || nr_zombies == MAX_DEVS * 8)
				close(devs[i].devfd);
			else
				zombies[nr_zombies++] = devs[i].devfd;
			devs[i].devfd = -1;
		}
		devs[i].bound = false;
	}
	fds[fdi] = open_iommufd();
}

/* A sequence */

static void seq_setup(void)
{
	unsigned int i;

	fds[0] = open_iommufd();
	fds[1] = open_iommufd();
	nr_objs = 0;
	nr_used_vids = 0;
	nr_mapped = 0;
	sh->seq_calls = 0;
	for (i = 0; i < MAX_QFDS; i++)
		qfds[i] = -1;
	for (i = 0; i < nr_devs; i++) {
		devs[i].bound = false;
		devs[i].devfd = -1;
	}
	/* A few virtual IDs per sequence: small, SMMUv3-sized, large */
	for (i = 0; i < 8; i++)
		virt_ids[i] = i < 4 ? rnd(8) : rnd64() & (i < 6 ? 0xffff :
								     0xffffffff);
}

static void seq_teardown(void)
{
	unsigned int i;

	for (i = 0; i < MAX_QFDS; i++)
		if (qfds[i] >= 0)
			close(qfds[i]);
	/* Devices before or after their iommufd, either way */
	if (chance(50))
		for (i = 0; i < nr_devs; i++)
			if (devs[i].devfd >= 0) {
				close(devs[i].devfd);
				devs[i].devfd = -1;
			}
	close(fds[0]);
	close(fds[1]);
	for (i = 0; i < nr_devs; i++)
		if (devs[i].devfd >= 0)
			close(devs[i].devfd);
	for (i = 0; i < nr_zombies; i++)
		close(zombies[i]);
	nr_zombies = 0;
}

/*
 * Most sequences start by building a working nest, so that random
 * operations reach the deep states as well as the shallow errors
 */
static void seq_bootstrap(void)
{
	unsigned int i;

	if (chance(20))
		return;
	bootstrapping = true;
	op_ioas_alloc(0);
	for (i = 0; i < 1 + rnd(nr_devs); i++)
		op_bind(0);
	for (i = 0; i < 3; i++)
		op_ioas_map(0);
	op_hwpt_alloc(0, OT_PARENT);
	op_viommu_alloc(0);
	if (chance(50))
		op_veventq_alloc(0);
	for (i = 0; i < 2; i++)
		op_vdevice_alloc(0);
	for (i = 0; i < 2; i++)
		op_hwpt_alloc(0, OT_NESTED);
	op_attach();
	op_hw_queue_alloc(0);
	op_trigger_vevent(0);
	op_veventq_read(0);
	bootstrapping = false;
}

static void seq_run(void)
{
	unsigned int i;

	seq_bootstrap();
	for (i = 0; sh->seq_calls < nr_ops && i < 4 * nr_ops; i++) {
		int fdi = pick_fdi();

		switch (rnd(64)) {
		case 0 ... 2: op_ioas_alloc(fdi); break;
		case 3 ... 6: op_ioas_map(fdi); break;
		case 7 ... 8: op_ioas_map_file(fdi); break;
		case 9 ... 11: op_ioas_unmap(fdi); break;
		case 12 ... 19: op_hwpt_alloc(fdi, -1); break;
		case 20: op_get_hw_info(fdi); break;
		case 21 ... 26: op_viommu_alloc(fdi); break;
		case 27 ... 31: op_vdevice_alloc(fdi); break;
		case 32 ... 41: op_hwpt_invalidate(fdi); break;
		case 42 ... 43: op_veventq_alloc(fdi); break;
		case 44 ... 45: op_veventq_read(fdi); break;
		case 46 ... 47: op_hw_queue_alloc(fdi); break;
		case 48 ... 52: op_destroy(fdi); break;
		case 53 ... 54: op_bind(fdi); break;
		case 55: op_unbind(); break;
		case 56 ... 58: op_attach(); break;
		case 59: op_detach(); break;
		case 60 ... 61: op_trigger_vevent(fdi); break;
		case 62: if (chance(25)) op_close_fd(); break;
		default: break;
		}
	}
}

/*
 * The kernel log: anything that looks like a splat (a leak too) since the
 * last look; the first one's line in found
 */
static bool kmsg_splat(char *found, size_t len)
{
	char rec[KMSG_REC_SIZE], *msg;
	bool hit = false;

	if (kmsg_fd < 0)
		return false;
	while (kmsg_next(kmsg_fd, rec, &msg) > 0)
		if (!hit && kmsg_is_splat(msg, true)) {
			snprintf(found, len, "%s", msg);
			hit = true;
		}
	return hit;
}

static void print_seq(unsigned long seq)
{
	unsigned int i, first = sh->seq_calls > MAX_OPS ? sh->seq_calls - MAX_OPS : 0;

	printf("# seed %#llx sequence %lu: replay it alone with\n",
	       (unsigned long long)seed, seq);
	printf("#   iommufd_fuzz -T %s -s %#llx -l %u -r %lu\n",
	       target == T_MOCK ? "mock" : "smmu", (unsigned long long)seed,
	       nr_ops, seq);
	printf("# its calls:\n");
	for (i = first; i < sh->seq_calls; i++)
		printf("#   %4u %s\n", i, sh->seq_log[i % MAX_OPS]);
	fflush(stdout);
}

static void report(void)
{
	unsigned int op, e;

	printf("# %lu sequences, %lu calls; per call, how often each result came:\n",
	       sh->sequences, sh->total_calls);
	for (op = 0; op < NR_OPS; op++) {
		char line[1024];
		int n;

		if (!sh->calls[op])
			continue;
		n = snprintf(line, sizeof(line), "#   %-16s %7lu:", op_names[op],
			     sh->calls[op]);
		for (e = 0; e <= MAX_ERRNO && n < (int)sizeof(line); e++)
			if (sh->errs[op][e])
				n += snprintf(line + n, sizeof(line) - n,
					      " %s %lu",
					      e ? strerrorname_np(e) : "ok",
					      sh->errs[op][e]);
		printf("%s\n", line);
	}
}

static void *guarded(size_t len)
{
	uint8_t *p = mmap(NULL, len + PAGE_SZ, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + len, PAGE_SZ, PROT_NONE))
		die("mmap: %m");
	return p;
}

static void setup_target(void)
{
	struct iommu_test_cmd probe = {
		.size = sizeof(probe),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
	};
	bool have_mock;
	int fd = open_iommufd();
	unsigned int i;

	/* A mock answers its test command (EINVAL or so), else ENOTTY */
	have_mock = !ioctl(fd, IOMMU_TEST_CMD, &probe) || errno != ENOTTY;
	close(fd);
	if ((int)target < 0)
		target = have_mock ? T_MOCK : T_SMMU;
	if (target == T_MOCK) {
		if (!have_mock)
			die("no mock driver (CONFIG_IOMMUFD_TEST)");
		nr_devs = 3;
		return;
	}
	for (i = 0; i < 2; i++) {
		char bdf[64];

		if (edu_find(i, bdf, sizeof(bdf), devs[i].cdev,
			     sizeof(devs[i].cdev)) || !devs[i].cdev[0])
			break;
		nr_devs++;
	}
	if (!nr_devs)
		die("no edu device bound to vfio-pci");
}

static const char *target_name(void)
{
	return target == T_MOCK ? "mock" : "smmu";
}

/* The process that makes the calls; exits 0, or 3 after a splat */
static int run(unsigned long nr_seqs, unsigned long replay,
	       unsigned int seconds, time_t start)
{
	char found[512];
	unsigned long seq;

	for (seq = 0; seq < nr_seqs; seq++) {
		if (replay != ~0UL)
			seq = replay;
		if (seconds && time(NULL) - start >= seconds)
			break;
		sh->cur_seq = seq;
		/*
		 * Where an oops panics the kernel (the test kernels), the
		 * last of these on the console names the sequence
		 */
		if (kmsg_wfd >= 0) {
			char mark[96];
			int len = snprintf(mark, sizeof(mark),
					   "<6>iommufd_fuzz: -T %s -s %#llx -r %lu\n",
					   target_name(),
					   (unsigned long long)seed, seq);

			if (write(kmsg_wfd, mark, len) != len && !seq)
				printf("# /dev/kmsg: %m\n");
		}
		rng = mix(seed ^ mix(seq));
		seq_setup();
		seq_run();
		seq_teardown();
		sh->sequences++;
		if (kmsg_splat(found, sizeof(found))) {
			printf("# kernel splat after sequence %lu: %s\n", seq,
			       found);
			fflush(stdout);
			return 3;
		}
		if (seq && !(seq % 200)) {
			printf("# %lu sequences, %lu calls, %lds\n", seq,
			       sh->total_calls, (long)(time(NULL) - start));
			fflush(stdout);
		}
		if (replay != ~0UL)
			break;
	}
	fflush(stdout);
	return 0;
}

/*
 * The process that watches: it reports the sequence that was running when
 * the other found a splat, died (an oops kills the task that made the
 * call) or made no progress for WATCHDOG_S seconds
 */
static int watch(pid_t child, time_t start)
{
	unsigned long last = 0, still = 0;
	const char *why = NULL;
	char how[64];
	int status;

	for (;;) {
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child)
			break;
		if (r < 0)
			die("waitpid: %m");
		sleep(1);
		if (sh->progress != last) {
			last = sh->progress;
			still = 0;
		} else if (++still == WATCHDOG_S) {
			printf("# no progress for %u s: stuck in the kernel?\n",
			       WATCHDOG_S);
			why = "stuck";
			kill(child, SIGKILL);
			break;
		}
	}
	if (!why && WIFSIGNALED(status)) {
		snprintf(how, sizeof(how), "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		printf("# the fuzzing process was %s\n", how);
		why = how;
	} else if (!why && WEXITSTATUS(status) == 3) {
		why = "kernel splat";
	} else if (!why && WEXITSTATUS(status)) {
		snprintf(how, sizeof(how), "exit status %d",
			 WEXITSTATUS(status));
		why = how;
	}
	if (why)
		print_seq(sh->cur_seq);
	report();
	if (why) {
		printf("not ok 1 fuzz %s: %s\n", target_name(), why);
		return 1;
	}
	printf("ok 1 fuzz %s: seed %#llx, %lu sequences, %lu calls in %lds, no splat\n",
	       target_name(), (unsigned long long)seed, sh->sequences,
	       sh->total_calls, (long)(time(NULL) - start));
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long nr_seqs = 1000, replay = ~0UL;
	unsigned int seconds = 0;
	time_t start;
	pid_t child;
	int c;

	target = (enum target)-1;
	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt(argc, argv, "T:s:n:t:l:r:v")) != -1) {
		switch (c) {
		case 'T':
			target = !strcmp(optarg, "mock") ? T_MOCK : T_SMMU;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			nr_seqs = strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			nr_ops = strtoul(optarg, NULL, 0);
			if (nr_ops < 1 || nr_ops > MAX_OPS)
				die("-l takes 1 to %u", MAX_OPS);
			break;
		case 'r':
			replay = strtoul(optarg, NULL, 0);
			verbose = true;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-T mock|smmu] [-s SEED] [-n SEQS] [-t SECONDS] [-l OPS] [-r SEQ] [-v]\n",
				argv[0]);
			return 2;
		}
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..1\n");
	setup_target();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	arena = guarded(ARENA_SZ);
	data = guarded(ARENA_SZ);
	buf = mmap(NULL, BUF_PAGES * PAGE_SZ, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	memfd = memfd_create("iommufd_fuzz", 0);
	if (sh == MAP_FAILED || buf == MAP_FAILED || memfd < 0 ||
	    ftruncate(memfd, BUF_PAGES * PAGE_SZ))
		die("memory: %m");
	kmsg_wfd = open("/dev/kmsg", O_WRONLY);
	/* Every sequence's line, not ten per five seconds */
	c = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY);
	if (c >= 0) {
		if (write(c, "on\n", 3) != 3)
			printf("# printk_devkmsg: %m\n");
		close(c);
	}
	kmsg_fd = kmsg_open_at_end();
	printf("# target %s (%u devices), seed %#llx, %s%lu sequences of %u operations%s\n",
	       target == T_MOCK ? "mock" : "smmu", nr_devs,
	       (unsigned long long)seed, replay != ~0UL ? "replaying 1 of " : "",
	       nr_seqs, nr_ops, kmsg_fd < 0 ? " (no /dev/kmsg!)" : "");
	fflush(stdout);

	start = time(NULL);
	child = fork();
	if (child < 0)
		die("fork: %m");
	if (!child) {
		in_child = true;
		exit(run(nr_seqs, replay, seconds, start));
	}
	return watch(child, start);
}
