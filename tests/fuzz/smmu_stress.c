// SPDX-License-Identifier: GPL-2.0
/*
 * smmu_stress: isolation of two vIOMMUs on one real SMMUv3 driver (QEMU's
 * SMMUv3 in nested mode, the arm64 test VM), under concurrency.
 *
 * Two processes play two VMs, each with its own /dev/iommu, one edu device
 * (A: edu0, B: edu1), an IOAS holding its "guest RAM" at IPA 0x100000, a
 * nesting parent, its own vIOMMU (so its own VMID), a vDEVICE and a nested
 * HWPT made from a guest STE whose CD and stage-1 tables are in that RAM.
 * Both use the same virtual StreamID on purpose: edu1's physical StreamID,
 * so that a vSID of A's that reached the SMMU untranslated would name B's
 * device. Both guests use ASIDs 1 and 2 and the same IOVA.
 *
 * B, the victim, makes a translation that only an invalidation of its own
 * can change, twice over:
 *
 *  - the TLB: IOVA_V maps to page P1, a DMA caches that, then the guest
 *    points its PTE at page P2 without any invalidation;
 *  - the configuration: the guest also rewrites the ASID in its CD (1 <-> 2)
 *    without CFGI_CD, so the SMMU keeps using the cached CD and its ASID.
 *
 * QEMU's SMMU keeps both (see stale_without_tlbi and cfgi_cd_needed in
 * tests/e2e/smmu_nested_dma.c), so DMA through IOVA_V keeps reaching P1 as
 * long as nothing drops B's TLB entry for (B's VMID, old ASID, IOVA_V) and
 * nothing drops the cached configuration of B's StreamID: any TLBI of B's
 * VMID, or any CFGI of B's StreamID, turns B's DMA to P2 (a new walk, or a
 * new CD whose ASID has no TLB entry). B checks that without pause until
 * the end: every check is a DMA read and a DMA write through IOVA_V, which
 * must both go to P1 and never to P2.
 *
 * A, the attacker, races on its own iommufd with four threads:
 *
 *  - invalidate: batches of commands through IOMMU_HWPT_INVALIDATE on its
 *    vIOMMU, of every opcode (TLBI_NH_ALL, NH_ASID and NH_VA with B's ASIDs
 *    and IOVA, NH_VAA, S12_VMALL, NSNH_ALL, EL2_ALL, S2_IPA, CFGI_ALL,
 *    CFGI_STE, CFGI_CD, CFGI_CD_ALL, ATC_INV, PREFETCH_CFG, CMD_SYNC and
 *    random ones), with the shared vSID, A's and B's physical StreamIDs
 *    and random ones, random VMID fields (small ones above all: B's VMID
 *    is one of the first), range fields and now and then a junk bit. Most
 *    are refused; what matters is their effect on B;
 *  - churn: replaces the device's attachment between the nested HWPTs (S1,
 *    bypass and abort vSTEs) and the parent, detaches it, destroys and
 *    re-allocates the vDEVICE, the nested HWPTs and the whole vIOMMU (a
 *    VMID freed and taken again), and tries to destroy what is in use;
 *  - stage 2: IOAS_UNMAP and IOAS_MAP of pages, of the page-table area
 *    and of everything, and of a 2 MiB range elsewhere (all of which the
 *    driver invalidates under A's VMIDs only);
 *  - DMA: A's own DMA through its stage 1, racing with the rest.
 *
 * A's run is cut into epochs; each ends by closing A's iommufd and device
 * fd with every object alive, in turn iommufd or device first and before
 * or after the threads stopped (under their feet), and A's process must
 * then have no pinned page left (VmPin of /proc/self/status).
 *
 * Invariants checked:
 *
 *  - isolation: no check of B's ever reaches P2 (or goes nowhere), during
 *    the run and after A closed everything; and B's detector is proved to
 *    see an invalidation: at the end B's own TLBI_NH_ASID, and B's own
 *    CFGI_CD, each turn B's DMA to P2. Were B itself (or anything else) to
 *    invalidate its VMID or StreamID in the middle of the run, the next
 *    check would find P2 and the test would fail;
 *  - no object outlives its fd: no pin is left after each close, and
 *    afterwards both edus bind to a fresh iommufd, get a vIOMMU each with
 *    the same vSID again and DMA through it;
 *  - no deadlock: every thread of A and B reports progress; the parent
 *    fails the test and dumps the stuck thread's kernel stack when one
 *    makes none for 60 s;
 *  - A's own ioctls behave: its object churn and stage-2 changes only fail
 *    where they must: EBUSY to destroy what is in use, ENOENT to attach a
 *    guest stage 1 to a device without a vDEVICE. (IOMMU_DESTROY does not
 *    wait for another thread's ioctl on the object, so a transient EBUSY
 *    there is retried, and counted);
 *  - the kernel log from the start: no splat (lockdep, KASAN, WARN, hung
 *    task, ...), no command-queue error or timeout (the driver promises no
 *    guest command can make the queue stop). Leaks are for the kmemleak
 *    scan that the test VM runs at its end.
 *
 * Output is TAP, one test, with the figures as comments.
 *
 * usage: smmu_stress [-t SECONDS] [-s SEED]
 *   -t  how long A attacks (default 20); B must check 2.5 DMAs a second
 *       (at least 10), edu taking 100 ms a DMA
 *   -s  seed of A's random choices (default: from the clock; printed); the
 *       interleaving of the threads is not reproducible
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "nest.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define INC(x)		__atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)

/*
 * Guest RAM: RAM_PAGES pages at IPA RAM_IPA, the same layout in A and B.
 * The pages below GP_SCRATCH are one IOAS mapping, each page from there on
 * a mapping of its own (for A's stage-2 churn).
 */
#define RAM_IPA		0x100000ULL
#define RAM_PAGES	16
#define GP_CD		0
#define GP_L1		1
#define GP_L2		2
#define GP_L3		3
#define GP_P1		4
#define GP_P2		5
#define GP_SCRATCH	8
#define IPA(gp)		(RAM_IPA + (uint64_t)(gp) * PAGE_SZ)

/* The one stage-1 IOVA; not an IPA of the guests, below edu's DMA mask */
#define IOVA_V		0x4000000ULL
/* A's far stage-2 range, mapped and unmapped again */
#define FAR_IPA		0x40000000ULL
#define FAR_SIZE	(2UL << 20)

#define VSID_DEFAULT	0x10
#define WATCHDOG_S	60
#define READY_S		60
#define POST_CHECKS	5	/* B's checks after A closed everything */
#define MAX_BATCH	8
#define RING		32

/* The nested HWPTs, by the guest STE each is made from */
enum {
	NH_S1 = VSTE_S1, NH_BYPASS = VSTE_BYPASS, NH_ABORT = VSTE_ABORT,
	NR_NH
};
#define AT_PARENT	NR_NH	/* attached to the nesting parent */
#define AT_NONE		(-1)

/* Where a check's DMA went */
enum { AT_P1, AT_P2, AT_NOWHERE, AT_GARBLED, NR_AT };
static const char *const at_name[NR_AT] = {
	"P1", "P2", "nowhere", "unknown bytes",
};

/* Everything that reports progress to the watchdog */
enum { W_B, W_A, W_AINV, W_ACHURN, W_AS2, W_ADMA, NR_W };
static const char *const w_name[NR_W] = {
	"B", "A main", "A invalidate", "A churn", "A stage 2", "A DMA",
};

/* ioctl results of A's invalidations */
enum {
	RC_OK, RC_EIO, RC_ENOENT, RC_EINVAL, RC_EOPNOTSUPP, RC_EBADF,
	RC_OTHER, NR_RC
};
static const char *const rc_name[NR_RC] = {
	"ok", "EIO", "ENOENT", "EINVAL", "EOPNOTSUPP", "EBADF", "other",
};

/* A's churn */
enum {
	CH_REPLACE, CH_DETACH, CH_VDEV, CH_HWPT, CH_VIOMMU, CH_BUSY, CH_S2,
	NR_CH
};
static const char *const ch_name[NR_CH] = {
	"replace", "detach", "vDEVICE destroy/alloc",
	"nested HWPT destroy/alloc", "vIOMMU cycles", "in-use destroy",
	"stage-2 unmap/map",
};

/* The close orders of A's epochs */
enum {
	CL_IOMMUFD_FIRST, CL_DEVICE_FIRST, CL_IOMMUFD_UNDER_FIRE,
	CL_DEVICE_UNDER_FIRE, NR_CL
};
static const char *const cl_name[NR_CL] = {
	"iommufd first", "device first", "iommufd under fire",
	"device under fire",
};

struct worker {
	uint64_t hb;		/* progress: bumped by the worker */
	int active;
	pid_t pid, tid;
};

struct bstats {
	uint64_t checks;	/* check rounds: a read and a write */
	uint64_t dmas;		/* DMAs through IOVA_V checked */
	uint64_t post_a;	/* of them after A closed everything */
	uint64_t hits;		/* rounds that reached P2 */
	uint64_t broken;	/* rounds that went nowhere or garbled */
	uint64_t arms;
	int ctl_tlbi, ctl_cfgi;	/* positive controls: 1 when P2 seen */
	char bad[1024];		/* the first bad round, explained */
};

struct astats {
	uint64_t calls, rc[NR_RC];
	uint64_t ent_sent, ent_ok;
	uint64_t sent[256], ok[256];
	uint64_t ch_ok[NR_CH], ch_err[NR_CH];
	uint64_t dma[NR_AT], dma_err;
	uint64_t viommus;	/* whole vIOMMU cycles */
	uint64_t busy_retries;	/* DESTROY raced with an ioctl on it */
	char ch_first[NR_CH][112];	/* the first surprise of each */
	uint64_t epochs, close_order[NR_CL];
	long vmpin_max;		/* kB left pinned after a close, max */
	uint64_t unexpected;
};

struct acmd {
	uint64_t t_ns;
	uint64_t w0, w1;
};

/* Shared by the parent, A and B (MAP_SHARED) */
struct shared {
	/* written by the parent */
	int go, stop_a, a_gone;
	uint32_t vsid, psid[2];
	uint64_t seed;
	uint64_t t_go;
	/* written by the children */
	int b_ready, a_ready;
	int b_claim, a_claim;
	char b_err[512], a_err[512];
	struct worker w[NR_W];
	struct bstats b;
	struct astats a;
	struct acmd ring[RING];	/* A's last accepted commands */
	uint32_t ring_head;
	char a_last[64];	/* A's churn: what it did last */
	uint64_t a_last_ns;
};

static struct shared *sh;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* TAP: unbuffered, one write a line, from any process */
#define note(fmt, ...)	dprintf(STDOUT_FILENO, "# " fmt "\n", ##__VA_ARGS__)

/* The first error of a child, for the parent to print */
static void report(int *claim, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(int *claim, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(claim, 1, __ATOMIC_ACQ_REL))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* snprintf at the end of buf, never past it */
static void cat(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

#define b_fail(fmt, ...)						\
	report(&sh->b_claim, sh->b_err, sizeof(sh->b_err), fmt,		\
	       ##__VA_ARGS__)
#define a_fail(fmt, ...)						\
	report(&sh->a_claim, sh->a_err, sizeof(sh->a_err), fmt,		\
	       ##__VA_ARGS__)

static void worker_on(int w)
{
	sh->w[w].pid = getpid();
	sh->w[w].tid = gettid();
	STORE(sh->w[w].active, 1);
}

static void worker_off(int w)
{
	STORE(sh->w[w].active, 0);
}

static void beat(int w)
{
	INC(sh->w[w].hb);
}

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* The last failed step of a setup, per thread */
static __thread char why[256];

#define TRY(expr)							\
	do {								\
		int __rc = (expr);					\
									\
		if (__rc < 0) {						\
			snprintf(why, sizeof(why), "%s: %s (line %d)",	\
				 #expr, strerror(-__rc), __LINE__);	\
			return __rc;					\
		}							\
	} while (0)

/* A guest: a process's VM, with one edu */

struct guest {
	char name;		/* 'A' or 'B' */
	int fd;			/* its own iommufd */
	struct edu edu;
	uint8_t *ram;
	uint32_t ioas_id;
	uint32_t parent_id;
	/* A's churn thread changes these under the others' feet */
	uint32_t viommu_id;
	uint32_t vdev_id;
	uint32_t hwpt[NR_NH];
	uint32_t vsid;
	unsigned int ips;
	unsigned int asid;	/* the ASID in the guest's CD */
	unsigned int asid_smmu;	/* the one the SMMU has cached (B) */
};

static uint8_t *gpage(struct guest *g, unsigned int gp)
{
	return g->ram + (size_t)gp * PAGE_SZ;
}

static void gwr64(struct guest *g, uint64_t ipa, uint64_t val)
{
	*(volatile uint64_t *)(g->ram + (ipa - RAM_IPA)) = htole64(val);
}

static void guest_pte(struct guest *g, unsigned int gp)
{
	gwr64(g, IPA(GP_L3) + 8 * L3_IDX(IOVA_V), s1_pte_page(IPA(gp), 0));
	dma_fence();
}

/* CD 0, the only one: 4K granule, 39-bit VA, TTB0 the level-1 table */
static void guest_cd(struct guest *g, unsigned int asid)
{
	guest_cd_write(gpage(g, GP_CD), IPA(GP_L1), g->ips, asid);
	g->asid = asid;
}

static void guest_boot(struct guest *g)
{
	memset(g->ram, 0, RAM_PAGES * PAGE_SZ);
	gwr64(g, IPA(GP_L1) + 8 * L1_IDX(IOVA_V),
	      PTE_ADDR(IPA(GP_L2)) | PTE_TABLE);
	gwr64(g, IPA(GP_L2) + 8 * L2_IDX(IOVA_V),
	      PTE_ADDR(IPA(GP_L3)) | PTE_TABLE);
	guest_pte(g, GP_P1);
	guest_cd(g, 1);
}

static int hwpt_new(struct guest *g, int nh)
{
	uint64_t ste[2];
	uint32_t id = 0;
	int rc;

	vste_words(nh, IPA(GP_CD), ste);
	rc = nested_alloc(LOAD(g->fd), LOAD(g->viommu_id), g->edu.dev_id,
			  ste[0], ste[1], &id);
	if (!rc)
		STORE(g->hwpt[nh], id);
	return rc;
}

static int vdev_new(struct guest *g)
{
	uint32_t id = 0;
	int rc = vdevice_alloc(LOAD(g->fd), LOAD(g->viommu_id), g->edu.dev_id,
			       g->vsid, &id);

	if (!rc)
		STORE(g->vdev_id, id);
	return rc;
}

/* A vIOMMU, its vDEVICE and nested HWPTs, the device on the S1 one */
static int guest_viommu(struct guest *g)
{
	uint32_t id = 0;
	int nh;

	TRY(viommu_alloc(LOAD(g->fd), 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
			 g->edu.dev_id, g->parent_id, &id));
	STORE(g->viommu_id, id);
	TRY(vdev_new(g));
	for (nh = 0; nh < NR_NH; nh++)
		TRY(hwpt_new(g, nh));
	TRY(dev_attach(&g->edu, g->hwpt[NH_S1]));
	return 0;
}

/* The guest RAM into the IOAS: the tables' part in one, the rest by page */
static int map_ram(struct guest *g)
{
	unsigned int gp;

	TRY(ioas_map(LOAD(g->fd), g->ioas_id, g->ram, GP_SCRATCH * PAGE_SZ,
		     RAM_IPA));
	for (gp = GP_SCRATCH; gp < RAM_PAGES; gp++)
		TRY(ioas_map(LOAD(g->fd), g->ioas_id, gpage(g, gp), PAGE_SZ,
			     IPA(gp)));
	return 0;
}

static int guest_open(struct guest *g, char name, int idx, uint32_t vsid)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hw_info_arm_smmuv3 hw = {};
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.data_len = sizeof(hw),
		.data_uptr = (uintptr_t)&hw,
	};
	unsigned int oas;

	memset(g, 0, sizeof(*g));
	g->name = name;
	g->vsid = vsid;
	g->fd = -1;
	g->edu.fd = -1;
	g->ram = mmap(NULL, RAM_PAGES * PAGE_SZ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->ram == MAP_FAILED) {
		g->ram = NULL;
		TRY(-errno);
	}
	g->fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (g->fd < 0)
		TRY(-errno);
	if (ioctl(g->fd, IOMMU_IOAS_ALLOC, &ioas))
		TRY(-errno);
	g->ioas_id = ioas.out_ioas_id;
	TRY(map_ram(g));
	TRY(edu_open(&g->edu, idx, g->fd));
	info.dev_id = g->edu.dev_id;
	if (ioctl(g->fd, IOMMU_GET_HW_INFO, &info))
		TRY(-errno);
	if (info.out_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
		TRY(-EOPNOTSUPP);
	/* Output size: the SMMU's, at most 48 bits with 4K pages */
	oas = hw.idr[5] & 7;
	g->ips = oas > 5 ? 5 : oas;
	TRY(hwpt_alloc(g->fd, IOMMU_HWPT_ALLOC_NEST_PARENT, g->edu.dev_id,
		       g->ioas_id, IOMMU_HWPT_DATA_NONE, NULL, 0,
		       &g->parent_id));
	guest_boot(g);
	TRY(guest_viommu(g));
	return 0;
}

/* Close the device first or the iommufd first; all objects alive */
static void guest_close(struct guest *g, bool device_first)
{
	if (device_first)
		edu_close(&g->edu);
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	edu_close(&g->edu);
}

static void guest_free_ram(struct guest *g)
{
	if (g->ram)
		munmap(g->ram, RAM_PAGES * PAGE_SZ);
	g->ram = NULL;
}

/* Forward commands to the guest's own vIOMMU; all must be handled */
static int guest_cmds(struct guest *g,
		      const struct iommu_viommu_arm_smmuv3_invalidate *cmds,
		      uint32_t n)
{
	uint32_t num = n;
	int rc = viommu_cmds(g->fd, g->viommu_id, cmds, &num);

	if (rc)
		return rc;
	return num == n ? 0 : -EIO;
}

static struct iommu_viommu_arm_smmuv3_invalidate gcmd(uint64_t w0,
						      uint64_t w1)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmd;

	mkcmd(&cmd, w0, w1);
	return cmd;
}

#define NH_ASID(asid)	gcmd(OP_TLBI_NH_ASID | CMD0_ASID(asid), 0)
#define NH_ALL		gcmd(OP_TLBI_NH_ALL, 0)
#define CFGI_CD(sid)	gcmd(OP_CFGI_CD | CMD0_SID(sid) | CMD0_SSID(0),	\
			     CMD1_LEAF)

/*
 * Page contents: a tag per 8-byte word, made of a kind, the guest, the
 * round and the word's index, so that no two fills are alike.
 */
#define TAG(kind, name, seq)						\
	((uint64_t)(kind) << 56 | (uint64_t)(name) << 48 |		\
	 ((uint64_t)(seq) & 0xffffffffULL) << 16)

static void fill(uint8_t *p, uint64_t tag)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	unsigned int i;

	for (i = 0; i < PAGE_SZ / 8; i++)
		w[i] = tag ^ i;
}

static bool holds(const uint8_t *p, uint64_t tag)
{
	const volatile uint64_t *w = (const volatile uint64_t *)p;
	unsigned int i;

	for (i = 0; i < PAGE_SZ / 8; i++)
		if (w[i] != (tag ^ i))
			return false;
	return true;
}

/*
 * One check of DMA through IOVA_V, both ways, in two DMAs (edu starts each
 * from a 100 ms timer): the device reads IOVA_V into its buffer and writes
 * the buffer back to IOVA_V, and before each the CPU gives P1 and P2 fresh
 * contents. Only a read and a write that both went to P1 leave P1 with
 * what P1 held before the read; a read or a write through P2 leaves one of
 * P2's or P1's old contents in P2, or P2's in P1. Returns AT_* or -errno.
 */
static int probe(struct guest *g, uint64_t seq)
{
	uint8_t *p1 = gpage(g, GP_P1), *p2 = gpage(g, GP_P2);
	uint64_t x = TAG('X', g->name, seq), t = TAG('T', g->name, seq);
	uint64_t y = TAG('Y', g->name, seq), u = TAG('U', g->name, seq);
	int rc;

	fill(p1, x);
	fill(p2, t);
	dma_fence();
	rc = edu_dma(&g->edu, IOVA_V, 0, PAGE_SZ, true);
	if (rc)
		return rc;
	dma_fence();
	fill(p1, y);
	fill(p2, u);
	dma_fence();
	rc = edu_dma(&g->edu, IOVA_V, 0, PAGE_SZ, false);
	if (rc)
		return rc;
	dma_fence();
	if (holds(p1, x) && holds(p2, u))
		return AT_P1;
	if (holds(p2, x) || holds(p2, t) || holds(p1, t))
		return AT_P2;
	if (holds(p1, y) && holds(p2, u))
		return AT_NOWHERE;
	return AT_GARBLED;
}

static const char *where(int at)
{
	return at < 0 ? strerror(-at) : at_name[at];
}

/* B: the victim */

/*
 * Make B's translation of IOVA_V stale twice over. From a clean state (B's
 * own CFGI_CD and TLBI_NH_ALL), with IOVA_V -> P1, a DMA caches the CD and
 * the walk; then the guest points IOVA_V at P2 and changes the ASID in its
 * CD, and tells nobody. A check must still reach P1.
 */
static int b_arm(struct guest *g, uint64_t *seq)
{
	const struct iommu_viommu_arm_smmuv3_invalidate clean[] = {
		CFGI_CD(g->vsid), NH_ALL,
	};
	int at;

	guest_pte(g, GP_P1);
	TRY(guest_cmds(g, clean, ARRAY_SIZE(clean)));
	at = probe(g, ++*seq);
	if (at != AT_P1) {
		snprintf(why, sizeof(why),
			 "a fresh translation of IOVA %#llx reached %s, not P1",
			 IOVA_V, where(at));
		return -EIO;
	}
	g->asid_smmu = g->asid;
	guest_pte(g, GP_P2);
	guest_cd(g, g->asid == 1 ? 2 : 1);
	at = probe(g, ++*seq);
	if (at != AT_P1) {
		snprintf(why, sizeof(why),
			 "IOVA %#llx reached %s, not P1, right after the guest changed its PTE and CD without invalidating (QEMU's SMMU keeps no stale entry?)",
			 IOVA_V, where(at));
		return -EIO;
	}
	sh->b.arms++;
	return 0;
}

/* A check of B's went elsewhere than P1: explain the first one */
static void b_bad(uint64_t round, int at)
{
	struct bstats *b = &sh->b;
	uint64_t t = now_ns();
	size_t len = sizeof(b->bad);
	uint32_t head = LOAD(sh->ring_head), i;

	if (at == AT_P2)
		b->hits++;
	else
		b->broken++;
	if (b->bad[0])
		return;
	snprintf(b->bad, len,
		 "B's check %llu (a DMA read and write through IOVA %#llx) reached %s instead of P1, %.1f s into the run%s; A's churn last did '%s' %lld ms before; A's last accepted commands (as A wrote them):",
		 (unsigned long long)round, IOVA_V, where(at),
		 (t - sh->t_go) / 1e9,
		 LOAD(sh->a_gone) ? ", after A closed everything" : "",
		 sh->a_last, (long long)(t - sh->a_last_ns) / 1000000);
	for (i = head > 4 ? head - 4 : 0; i < head; i++) {
		struct acmd *c = &sh->ring[i % RING];

		cat(b->bad, len, "\n  %016llx %016llx, %lld ms before",
		    (unsigned long long)c->w0, (unsigned long long)c->w1,
		    (long long)(t - c->t_ns) / 1000000);
	}
}

/*
 * B's end: B's own invalidations must turn its DMA to P2, one through the
 * TLB (TLBI_NH_ASID of the cached ASID) and, armed again, one through the
 * configuration (CFGI_CD of its vSID). Were the detector blind, these
 * would stay on P1.
 */
static int b_controls(struct guest *g, uint64_t *seq)
{
	const struct iommu_viommu_arm_smmuv3_invalidate tlbi[] = {
		NH_ASID(g->asid_smmu),
	};
	const struct iommu_viommu_arm_smmuv3_invalidate cfgi[] = {
		CFGI_CD(g->vsid),
	};
	int at;

	TRY(guest_cmds(g, tlbi, ARRAY_SIZE(tlbi)));
	at = probe(g, ++*seq);
	sh->b.ctl_tlbi = at == AT_P2;
	if (at != AT_P2)
		b_fail("control: after B's own TLBI_NH_ASID %u, B's DMA reached %s, not P2",
		       g->asid_smmu, where(at));
	TRY(b_arm(g, seq));
	TRY(guest_cmds(g, cfgi, ARRAY_SIZE(cfgi)));
	at = probe(g, ++*seq);
	sh->b.ctl_cfgi = at == AT_P2;
	if (at != AT_P2)
		b_fail("control: after B's own CFGI_CD vSID %#x, B's DMA reached %s, not P2",
		       g->vsid, where(at));
	return 0;
}

static int b_main(int idx)
{
	struct bstats *b = &sh->b;
	uint64_t seq = 0, post = 0;
	struct guest g;
	int at;

	worker_on(W_B);
	if (guest_open(&g, 'B', idx, sh->vsid) || b_arm(&g, &seq)) {
		b_fail("B's setup: %s", why);
		return 1;
	}
	STORE(sh->b_ready, 1);
	while (!LOAD(sh->go)) {
		beat(W_B);
		sleep_ms(10);
	}
	/*
	 * Until A is gone and a few rounds after. Nothing here invalidates:
	 * a TLBI_NH_ASID of g.asid_smmu sent here would make the next round
	 * reach P2 (that is what b_controls() shows at the end).
	 */
	while (!LOAD(sh->a_gone) || post < POST_CHECKS) {
		bool gone = LOAD(sh->a_gone);

		at = probe(&g, ++seq);
		if (at < 0) {
			b_fail("B's DMA engine: %s", strerror(-at));
			return 1;
		}
		b->checks++;
		b->dmas += 2;
		if (gone) {
			post++;
			b->post_a += 2;
		}
		if (at != AT_P1) {
			b_bad(b->checks, at);
			if (b_arm(&g, &seq)) {
				b_fail("B's re-arm: %s", why);
				return 1;
			}
		}
		beat(W_B);
	}
	if (b_controls(&g, &seq))
		b_fail("B's controls: %s", why);
	/* Everything alive and the device attached: the iommufd goes first */
	guest_close(&g, false);
	guest_free_ram(&g);
	worker_off(W_B);
	return b->hits || b->broken || sh->b_err[0];
}

/* A: the attacker */

struct actx {
	struct guest g;
	int stop;		/* the threads end their loops */
	int closing;		/* fds going away: errors are expected */
	int attached;		/* NH_*, AT_PARENT or AT_NONE */
	uint8_t *alt;		/* other pages for the stage 2 */
	uint8_t *far;		/* FAR_SIZE bytes */
};

struct athr {
	struct actx *a;
	int w;
	uint64_t rng;
	pthread_t t;
};

static void a_did(const char *what)
{
	snprintf(sh->a_last, sizeof(sh->a_last), "%s", what);
	sh->a_last_ns = now_ns();
}

/* Count one churn result: want is the expected return */
static void a_expect(struct actx *a, int ch, int rc, int want,
		     const char *what)
{
	struct astats *st = &sh->a;

	/* Once the fds are going, anything goes */
	if (LOAD(a->closing))
		return;
	if (rc == want) {
		st->ch_ok[ch]++;
		return;
	}
	if (!st->ch_err[ch]++)
		snprintf(st->ch_first[ch], sizeof(st->ch_first[ch]),
			 "%s: %s, expected %s", what, strerror(-rc),
			 want ? strerror(-want) : "success");
	INC(st->unexpected);
	a_fail("A's %s: %s, expected %s", what, strerror(-rc),
	       want ? strerror(-want) : "success");
}

/*
 * IOMMU_DESTROY of an object that is not in use. It fails with EBUSY
 * while an ioctl of another thread holds the object for a moment (the
 * invalidate thread names the vIOMMU, a nested HWPT or a random ID), as
 * iommufd_destroy() does not wait for short-term users: try again then.
 */
static int a_destroy(struct actx *a, uint32_t id)
{
	int rc, i;

	for (i = 0; i < 200; i++) {
		rc = obj_destroy(LOAD(a->g.fd), id);
		if (rc != -EBUSY)
			break;
		sh->a.busy_retries++;
		sleep_ms(1);
	}
	return rc;
}

static int rc_class(int rc)
{
	switch (rc) {
	case 0:
		return RC_OK;
	case -EIO:
		return RC_EIO;
	case -ENOENT:
		return RC_ENOENT;
	case -EINVAL:
		return RC_EINVAL;
	case -EOPNOTSUPP:
		return RC_EOPNOTSUPP;
	case -EBADF:
		return RC_EBADF;
	}
	return RC_OTHER;
}

static const char *op_name(unsigned int op)
{
	switch (op) {
	case OP_PREFETCH_CFG:
		return "PREFETCH_CFG";
	case OP_CFGI_STE:
		return "CFGI_STE";
	case OP_CFGI_ALL:
		return "CFGI_ALL";
	case OP_CFGI_CD:
		return "CFGI_CD";
	case OP_CFGI_CD_ALL:
		return "CFGI_CD_ALL";
	case OP_TLBI_NH_ALL:
		return "TLBI_NH_ALL";
	case OP_TLBI_NH_ASID:
		return "TLBI_NH_ASID";
	case OP_TLBI_NH_VA:
		return "TLBI_NH_VA";
	case OP_TLBI_NH_VAA:
		return "TLBI_NH_VAA";
	case OP_TLBI_EL2_ALL:
		return "TLBI_EL2_ALL";
	case OP_TLBI_S12_VMALL:
		return "TLBI_S12_VMALL";
	case OP_TLBI_S2_IPA:
		return "TLBI_S2_IPA";
	case OP_TLBI_NSNH_ALL:
		return "TLBI_NSNH_ALL";
	case OP_ATC_INV:
		return "ATC_INV";
	case OP_CMD_SYNC:
		return "CMD_SYNC";
	}
	return NULL;
}

/* Fields of A's commands: B's values above all */
static uint64_t pick_vmid(uint64_t *r)
{
	uint64_t x = rnd(r);

	switch (x % 4) {
	case 0:
	case 1:
		return 0;	/* as a guest writes it */
	case 2:
		return (x >> 8) % 16;	/* the first VMIDs: B's among them */
	}
	return (x >> 8) & 0xffff;
}

static uint64_t pick_asid(uint64_t *r)
{
	uint64_t x = rnd(r);

	switch (x % 8) {
	case 0:
		return 0;
	case 1:
		return (x >> 8) & 0xffff;
	case 2:
	case 3:
	case 4:
		return 1;
	}
	return 2;
}

static uint64_t pick_sid(uint64_t *r)
{
	uint64_t x = rnd(r);

	switch (x % 8) {
	case 0:
	case 1:
	case 2:
		return sh->vsid;	/* A's own vDEVICE, and B's vSID */
	case 3:
		return sh->psid[0];	/* A's physical StreamID */
	case 4:
		return sh->psid[1];	/* B's physical StreamID */
	case 5:
		return (x >> 8) & 0xff;
	}
	return (x >> 8) & 0xffffffff;
}

static uint64_t pick_va(uint64_t *r)
{
	uint64_t x = rnd(r);

	switch (x % 4) {
	case 0:
	case 1:
		return IOVA_V;
	case 2:
		return (x >> 8) & EDU_DMA_MASK;
	}
	return x >> 16;
}

static uint8_t gen_cmd(uint64_t *r,
		       struct iommu_viommu_arm_smmuv3_invalidate *cmd)
{
	static const uint8_t ops[] = {
		OP_TLBI_NH_ALL, OP_TLBI_NH_ASID, OP_TLBI_NH_VA,
		OP_TLBI_NH_VAA, OP_TLBI_S12_VMALL, OP_TLBI_NSNH_ALL,
		OP_TLBI_EL2_ALL, OP_TLBI_S2_IPA, OP_CFGI_ALL, OP_CFGI_STE,
		OP_CFGI_CD, OP_CFGI_CD_ALL, OP_ATC_INV, OP_PREFETCH_CFG,
		OP_CMD_SYNC,
	};
	uint64_t x = rnd(r), w0, w1 = 0;
	uint8_t op = x % 16 ? ops[(x >> 8) % ARRAY_SIZE(ops)] : x >> 24;

	w0 = op;
	switch (op) {
	case OP_TLBI_NH_ALL:
	case OP_TLBI_S12_VMALL:
	case OP_TLBI_NSNH_ALL:
		w0 |= CMD0_VMID(pick_vmid(r));
		break;
	case OP_TLBI_NH_ASID:
	case OP_TLBI_EL2_ALL:
		w0 |= CMD0_VMID(pick_vmid(r)) | CMD0_ASID(pick_asid(r));
		break;
	case OP_TLBI_NH_VA:
		w0 |= CMD0_ASID(pick_asid(r));
		/* fall through */
	case OP_TLBI_NH_VAA:
	case OP_TLBI_S2_IPA:
		w0 |= CMD0_VMID(pick_vmid(r));
		w1 = CMD1_ADDR(pick_va(r)) | (x >> 32 & 1 ? CMD1_LEAF : 0);
		if (!(x >> 33 & 3)) {
			/* a range: NUM, SCALE; TTL, TG */
			x = rnd(r);
			w0 |= (x & 0x1f) << 12 | (x >> 5 & 0x1f) << 20;
			w1 |= (x >> 10 & 3) << 8 | (x >> 12 & 3) << 10;
		}
		break;
	case OP_CFGI_ALL:
		w1 = 31;
		break;
	case OP_CFGI_STE:
	case OP_PREFETCH_CFG:
		w0 |= CMD0_SID(pick_sid(r));
		w1 = CMD1_LEAF;
		break;
	case OP_CFGI_CD:
		w0 |= CMD0_SID(pick_sid(r)) |
		      CMD0_SSID(x >> 32 & 3 ? 0 : x >> 40 & 0xfffff);
		w1 = CMD1_LEAF;
		break;
	case OP_CFGI_CD_ALL:
		w0 |= CMD0_SID(pick_sid(r));
		break;
	case OP_ATC_INV:
		/* SID, GLOBAL; SIZE, ADDR */
		w0 |= CMD0_SID(pick_sid(r)) | (x >> 32 & 1) << 9;
		w1 = CMD1_ADDR(pick_va(r)) | (x >> 40) % 53;
		break;
	case OP_CMD_SYNC:
		w0 |= (x >> 32 & 3) << 12;
		break;
	default:
		w0 |= rnd(r) & ~0xffULL;
		w1 = rnd(r);
		break;
	}
	x = rnd(r);
	if (!(x % 16)) {
		if (x & 16)
			w0 ^= 1ULL << (8 + (x >> 8) % 56);
		else
			w1 ^= 1ULL << ((x >> 8) % 64);
	}
	mkcmd(cmd, w0, w1);
	return op;
}

static void *a_invalidate(void *arg)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmds[MAX_BATCH];
	struct athr *t = arg;
	struct actx *a = t->a;
	struct astats *st = &sh->a;
	uint8_t ops[MAX_BATCH];
	uint32_t n, num, id, i;
	uint64_t x;
	int rc;

	worker_on(t->w);
	while (!LOAD(a->stop)) {
		x = rnd(&t->rng);
		n = 1 + x % MAX_BATCH;
		for (i = 0; i < n; i++)
			ops[i] = gen_cmd(&t->rng, &cmds[i]);
		/* now and then, an object of the wrong kind */
		switch (x >> 8 & 63) {
		case 0:
			id = LOAD(a->g.hwpt[NH_S1]);
			break;
		case 1:
			id = a->g.parent_id;
			break;
		case 2:
			id = x >> 16 & 31;
			break;
		default:
			id = LOAD(a->g.viommu_id);
		}
		num = n;
		rc = viommu_cmds(LOAD(a->g.fd), id, cmds, &num);
		/* a closed fd: the ioctl did not run, entry_num is as sent */
		if (rc == -EBADF)
			num = 0;
		st->calls++;
		st->rc[rc_class(rc)]++;
		st->ent_sent += n;
		if (num > n || (!rc && num != n)) {
			INC(st->unexpected);
			a_fail("IOMMU_HWPT_INVALIDATE of %u entries: %s with entry_num %u",
			       n, strerror(-rc), num);
			num = 0;
		}
		st->ent_ok += num;
		for (i = 0; i < n; i++)
			st->sent[ops[i]]++;
		for (i = 0; i < num; i++) {
			uint32_t h = sh->ring_head;
			struct acmd *c = &sh->ring[h % RING];

			st->ok[ops[i]]++;
			c->t_ns = now_ns();
			c->w0 = le64toh(cmds[i].cmd[0]);
			c->w1 = le64toh(cmds[i].cmd[1]);
			STORE(sh->ring_head, h + 1);
		}
		beat(t->w);
	}
	worker_off(t->w);
	return NULL;
}

/* Replace the attachment: the parent or a nested HWPT, made if missing */
static void a_replace(struct actx *a, uint64_t x)
{
	struct guest *g = &a->g;
	/* stage 1 half of the time, so that A's own DMA goes somewhere */
	static const int tos[] = {
		NH_S1, NH_S1, NH_S1, AT_PARENT, NH_BYPASS, NH_ABORT,
	};
	int to = tos[x % ARRAY_SIZE(tos)], rc;
	uint32_t id;

	if (to != AT_PARENT && !LOAD(g->hwpt[to]))
		a_expect(a, CH_HWPT, hwpt_new(g, to), 0,
			 "nested HWPT alloc");
	id = to == AT_PARENT ? g->parent_id : LOAD(g->hwpt[to]);
	if (!id)
		return;
	/*
	 * A guest stage 1 is refused (ENOENT) to a device without a vDEVICE:
	 * the guest could not name it in CFGI_CD. A replace by the HWPT
	 * already attached changes nothing and succeeds.
	 */
	rc = dev_attach(&g->edu, id);
	a_expect(a, CH_REPLACE, rc,
		 to == NH_S1 && a->attached != NH_S1 && !LOAD(g->vdev_id) ?
		 -ENOENT : 0, "attach/replace");
	if (!rc)
		a->attached = to;
	a_did(to == AT_PARENT ? "replace: parent" : "replace: nested");
}

/* Everything of the vIOMMU destroyed and made again: a VMID freed */
static void a_viommu_cycle(struct actx *a)
{
	struct guest *g = &a->g;
	uint32_t id;
	int nh, rc;

	rc = dev_attach(&g->edu, g->parent_id);
	a_expect(a, CH_VIOMMU, rc, 0, "replace to the parent");
	if (rc)
		return;
	a->attached = AT_PARENT;
	for (nh = 0; nh < NR_NH; nh++) {
		id = LOAD(g->hwpt[nh]);
		if (!id)
			continue;
		a_expect(a, CH_HWPT, a_destroy(a, id), 0,
			 "nested HWPT destroy");
		STORE(g->hwpt[nh], 0);
	}
	id = LOAD(g->vdev_id);
	if (id) {
		a_expect(a, CH_VDEV, a_destroy(a, id), 0, "vDEVICE destroy");
		STORE(g->vdev_id, 0);
	}
	rc = a_destroy(a, LOAD(g->viommu_id));
	a_expect(a, CH_VIOMMU, rc, 0, "vIOMMU destroy");
	if (rc)
		return;
	STORE(g->viommu_id, 0);
	a_did("vIOMMU destroyed");
	rc = guest_viommu(g);
	a_expect(a, CH_VIOMMU, rc, 0, "vIOMMU, vDEVICE, HWPTs, attach");
	if (!rc) {
		a->attached = NH_S1;
		sh->a.viommus++;
	}
	a_did("vIOMMU made again");
}

static void a_churn_step(struct actx *a, uint64_t *r)
{
	struct guest *g = &a->g;
	uint64_t x = rnd(r);
	uint32_t id;
	int nh, rc;

	switch (x % 16) {
	case 0 ... 4:
		a_replace(a, x >> 8);
		break;
	case 5:
		rc = dev_detach(&g->edu);
		a_expect(a, CH_DETACH, rc, 0, "detach");
		if (!rc)
			a->attached = AT_NONE;
		a_did("detach");
		break;
	case 6 ... 8:
		/* allowed while the device is on a nested HWPT */
		id = LOAD(g->vdev_id);
		if (id) {
			rc = a_destroy(a, id);
			a_expect(a, CH_VDEV, rc, 0, "vDEVICE destroy");
			if (!rc)
				STORE(g->vdev_id, 0);
			a_did("vDEVICE destroyed");
		} else {
			a_expect(a, CH_VDEV, vdev_new(g), 0, "vDEVICE alloc");
			a_did("vDEVICE made");
		}
		break;
	case 9 ... 11:
		nh = (x >> 8) % NR_NH;
		id = LOAD(g->hwpt[nh]);
		if (!id) {
			a_expect(a, CH_HWPT, hwpt_new(g, nh), 0,
				 "nested HWPT alloc");
			a_did("nested HWPT made");
			break;
		}
		if (a->attached == nh)
			rc = obj_destroy(LOAD(g->fd), id);
		else
			rc = a_destroy(a, id);
		a_expect(a, CH_HWPT, rc, a->attached == nh ? -EBUSY : 0,
			 "nested HWPT destroy");
		if (!rc)
			STORE(g->hwpt[nh], 0);
		a_did("nested HWPT destroy");
		break;
	case 12:
		a_viommu_cycle(a);
		break;
	default:
		/* what others hold: the vIOMMU (when held), parent, IOAS */
		if (LOAD(g->vdev_id) || LOAD(g->hwpt[0]) ||
		    LOAD(g->hwpt[1]) || LOAD(g->hwpt[2]))
			a_expect(a, CH_BUSY,
				 obj_destroy(LOAD(g->fd), LOAD(g->viommu_id)),
				 -EBUSY, "destroy of the vIOMMU in use");
		a_expect(a, CH_BUSY, obj_destroy(LOAD(g->fd), g->parent_id),
			 -EBUSY, "destroy of the parent in use");
		a_expect(a, CH_BUSY, obj_destroy(LOAD(g->fd), g->ioas_id),
			 -EBUSY, "destroy of the IOAS in use");
		a_did("in-use destroys");
		break;
	}
}

static void *a_churn(void *arg)
{
	struct athr *t = arg;

	worker_on(t->w);
	while (!LOAD(t->a->stop)) {
		a_churn_step(t->a, &t->rng);
		beat(t->w);
	}
	worker_off(t->w);
	return NULL;
}

static void a_s2_step(struct actx *a, uint64_t *r)
{
	struct guest *g = &a->g;
	uint64_t x = rnd(r);
	int fd = LOAD(g->fd);
	unsigned int gp;
	uint8_t *va;

	switch (x % 16) {
	case 0 ... 11:
		/* a page alone, back from the guest RAM or elsewhere */
		gp = GP_SCRATCH + (x >> 8) % (RAM_PAGES - GP_SCRATCH);
		va = x >> 16 & 1 ? gpage(g, gp) :
				   a->alt + (gp - GP_SCRATCH) * PAGE_SZ;
		a_expect(a, CH_S2, ioas_unmap(fd, g->ioas_id, IPA(gp),
					      PAGE_SZ), 0, "IOAS_UNMAP page");
		a_expect(a, CH_S2, ioas_map(fd, g->ioas_id, va, PAGE_SZ,
					    IPA(gp)), 0, "IOAS_MAP page");
		break;
	case 12 ... 13:
		/* the CD and page tables, under A's DMA */
		a_expect(a, CH_S2, ioas_unmap(fd, g->ioas_id, RAM_IPA,
					      GP_SCRATCH * PAGE_SZ), 0,
			 "IOAS_UNMAP tables");
		a_expect(a, CH_S2, ioas_map(fd, g->ioas_id, g->ram,
					    GP_SCRATCH * PAGE_SZ, RAM_IPA),
			 0, "IOAS_MAP tables");
		break;
	case 14:
		a_expect(a, CH_S2, ioas_map(fd, g->ioas_id, a->far, FAR_SIZE,
					    FAR_IPA), 0, "IOAS_MAP 2 MiB");
		a_expect(a, CH_S2, ioas_unmap(fd, g->ioas_id, FAR_IPA,
					      FAR_SIZE), 0, "IOAS_UNMAP 2 MiB");
		break;
	default:
		/* everything: iova 0, length ~0 */
		a_expect(a, CH_S2, ioas_unmap(fd, g->ioas_id, 0, ~0ULL), 0,
			 "IOAS_UNMAP all");
		a_expect(a, CH_S2, map_ram(g), 0, "IOAS_MAP all");
		break;
	}
}

static void *a_stage2(void *arg)
{
	struct athr *t = arg;

	worker_on(t->w);
	while (!LOAD(t->a->stop)) {
		a_s2_step(t->a, &t->rng);
		beat(t->w);
	}
	worker_off(t->w);
	return NULL;
}

static void *a_dma(void *arg)
{
	struct athr *t = arg;
	uint64_t seq = 0;
	int at;

	worker_on(t->w);
	while (!LOAD(t->a->stop)) {
		at = probe(&t->a->g, ++seq);
		if (at < 0)
			sh->a.dma_err++;
		else
			sh->a.dma[at]++;
		beat(t->w);
	}
	worker_off(t->w);
	return NULL;
}

/* VmPin of this process, in kB, or -1 */
static long vmpin_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * One epoch of A: set up, attack for epoch_ms or until told to stop, then
 * close everything alive in the given order. Returns 1 when A must stop.
 */
static int a_epoch(struct actx *a, int idx, unsigned int epoch,
		   unsigned int epoch_ms)
{
	static void *(*const fns[])(void *) = {
		a_invalidate, a_churn, a_stage2, a_dma,
	};
	struct athr thr[ARRAY_SIZE(fns)];
	struct astats *st = &sh->a;
	int order = epoch % NR_CL, fd, i, done;
	uint64_t end;
	long pin;

	if (guest_open(&a->g, 'A', idx, sh->vsid)) {
		a_fail("A's setup (epoch %u): %s", epoch, why);
		guest_close(&a->g, true);
		guest_free_ram(&a->g);
		return 1;
	}
	a->attached = NH_S1;
	STORE(a->stop, 0);
	STORE(a->closing, 0);
	if (!epoch) {
		STORE(sh->a_ready, 1);
		while (!LOAD(sh->go)) {
			beat(W_A);
			sleep_ms(10);
		}
	}
	for (i = 0; i < (int)ARRAY_SIZE(fns); i++) {
		thr[i].a = a;
		thr[i].w = W_AINV + i;
		thr[i].rng = sh->seed ^ (epoch * 0x9e3779b97f4a7c15ULL) ^
			     (i + 1) * 0xbf58476d1ce4e5b9ULL;
		rnd(&thr[i].rng);
		if (pthread_create(&thr[i].t, NULL, fns[i], &thr[i])) {
			a_fail("pthread_create failed");
			STORE(a->stop, 1);
			while (--i >= 0)
				pthread_join(thr[i].t, NULL);
			return 1;
		}
	}
	end = now_ns() + epoch_ms * 1000000ULL;
	while (!(done = LOAD(sh->stop_a)) && now_ns() < end) {
		beat(W_A);
		sleep_ms(20);
	}

	/*
	 * Close with everything alive. Under fire: while the threads still
	 * make ioctls on the fds; the BAR mapping, which holds the device
	 * file as well, goes after they stopped.
	 */
	if (order == CL_IOMMUFD_UNDER_FIRE || order == CL_DEVICE_UNDER_FIRE) {
		STORE(a->closing, 1);
		if (order == CL_DEVICE_UNDER_FIRE) {
			fd = a->g.edu.fd;
			STORE(a->g.edu.fd, -1);
			close(fd);
		}
		fd = a->g.fd;
		STORE(a->g.fd, -1);
		close(fd);
		sleep_ms(5);
		a_did("closed its fds under fire");
		STORE(a->stop, 1);
		for (i = 0; i < (int)ARRAY_SIZE(fns); i++)
			pthread_join(thr[i].t, NULL);
		edu_close(&a->g.edu);
	} else {
		STORE(a->stop, 1);
		for (i = 0; i < (int)ARRAY_SIZE(fns); i++)
			pthread_join(thr[i].t, NULL);
		STORE(a->closing, 1);
		guest_close(&a->g, order == CL_DEVICE_FIRST);
		a_did("closed its fds");
	}
	beat(W_A);
	pin = vmpin_kb();
	if (pin > st->vmpin_max)
		st->vmpin_max = pin;
	if (pin)
		a_fail("A's VmPin is %ld kB after closing its iommufd and device (%s, epoch %u)",
		       pin, cl_name[order], epoch);
	guest_free_ram(&a->g);
	st->epochs++;
	st->close_order[order]++;
	return done || LOAD(sh->stop_a);
}

static int a_main(int idx, unsigned int secs)
{
	unsigned int epoch_ms = secs * 1000 / 4, e;
	struct actx *a;

	worker_on(W_A);
	a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	a->alt = mmap(NULL, (RAM_PAGES - GP_SCRATCH) * PAGE_SZ,
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	a->far = mmap(NULL, FAR_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a->alt == MAP_FAILED || a->far == MAP_FAILED) {
		a_fail("A: mmap: %s", strerror(errno));
		return 1;
	}
	if (epoch_ms < 2000)
		epoch_ms = 2000;
	for (e = 0; !a_epoch(a, idx, e, epoch_ms); e++)
		;
	worker_off(W_A);
	return sh->a_err[0] || sh->a.unexpected;
}

/* The parent */

/* After both are gone: both edus bind to a fresh iommufd and work */
static int fresh_check(char *msg, size_t len)
{
	struct guest g[2];
	int d, at, rc = 0;
	long pin;

	for (d = 0; d < 2; d++) {
		if (guest_open(&g[d], 'F' + d, d, sh->vsid)) {
			snprintf(msg, len, "edu%d on a fresh iommufd: %s", d,
				 why);
			rc = -1;
		}
	}
	for (d = 0; d < 2 && !rc; d++) {
		at = probe(&g[d], 1);
		if (at != AT_P1) {
			snprintf(msg, len,
				 "edu%d on a fresh iommufd: its DMA reached %s, not P1",
				 d, where(at));
			rc = -1;
		}
	}
	for (d = 0; d < 2; d++)
		guest_close(&g[d], d);
	pin = vmpin_kb();
	if (!rc && pin) {
		snprintf(msg, len, "VmPin %ld kB after closing the fresh iommufds",
			 pin);
		rc = -1;
	}
	for (d = 0; d < 2; d++)
		guest_free_ram(&g[d]);
	return rc;
}

struct kscan {
	unsigned int splats, cmdq, events;
	char first[4][200];
	unsigned int nfirst;
};

static void kscan_keep(struct kscan *k, const char *msg)
{
	if (k->nfirst < ARRAY_SIZE(k->first))
		snprintf(k->first[k->nfirst++], sizeof(k->first[0]), "%s",
			 msg);
}

/* What the kernel logged since fd was opened (at the end of the log) */
static void kmsg_scan(int fd, struct kscan *k)
{
	char rec[KMSG_REC_SIZE], *msg;

	/* Leaks are for the kmemleak scan at the end of the VM run */
	while (kmsg_next(fd, rec, &msg) > 0) {
		if (kmsg_is_splat(msg, false)) {
			k->splats++;
			kscan_keep(k, msg);
		} else if (strstr(msg, "CMDQ error") ||
			   strstr(msg, "CMDQ timeout") ||
			   strstr(msg, "CMD_SYNC timeout")) {
			k->cmdq++;
			kscan_keep(k, msg);
		} else if (strstr(msg, "arm-smmu-v3") &&
			   strstr(msg, "event 0x")) {
			k->events++;
		}
	}
}

/* The stuck thread's kernel stack, and every blocked task on the console */
static void dump_stuck(int w)
{
	char path[64], line[256];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", sh->w[w].pid,
		 sh->w[w].tid);
	f = fopen(path, "r");
	if (f) {
		note("kernel stack of %s (task %d):", w_name[w], sh->w[w].tid);
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = 0;
			note("  %s", line);
		}
		fclose(f);
	}
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "w", 1) != 1)
			note("sysrq-w: %s", strerror(errno));
		close(fd);
	}
}

static void note_lines(const char *prefix, const char *text)
{
	const char *p = text, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		note("%s%.*s", prefix, (int)(nl - p), p);
		prefix = "";
		p = *nl ? nl + 1 : nl;
	}
}

static unsigned int psid_of(const char *bdf)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return ~0U;
	return bus << 8 | dev << 3 | fn;
}

static void print_figures(void)
{
	struct astats *a = &sh->a;
	struct bstats *b = &sh->b;
	uint64_t sent = 0, ok = 0;
	char buf[1024];
	unsigned int i;

	note("B (victim): %llu checks = %llu DMAs through IOVA %#llx checked (%llu after A closed everything); reached P2: %llu, nowhere/garbled: %llu; armed %llu times",
	     (unsigned long long)b->checks, (unsigned long long)b->dmas,
	     IOVA_V, (unsigned long long)b->post_a,
	     (unsigned long long)b->hits, (unsigned long long)b->broken,
	     (unsigned long long)b->arms);
	note("B's controls (its own invalidation must reach its DMA): TLBI_NH_ASID -> %s, CFGI_CD -> %s",
	     b->ctl_tlbi ? "P2, seen" : "NOT SEEN",
	     b->ctl_cfgi ? "P2, seen" : "NOT SEEN");

	buf[0] = 0;
	cat(buf, sizeof(buf),
	    "A: %llu IOMMU_HWPT_INVALIDATE, %llu entries sent, %llu accepted; results:",
	    (unsigned long long)a->calls, (unsigned long long)a->ent_sent,
	    (unsigned long long)a->ent_ok);
	for (i = 0; i < NR_RC; i++)
		if (a->rc[i])
			cat(buf, sizeof(buf), " %s %llu", rc_name[i],
			    (unsigned long long)a->rc[i]);
	note("%s", buf);

	buf[0] = 0;
	cat(buf, sizeof(buf), "A's commands, accepted/sent:");
	for (i = 0; i < 256; i++) {
		if (!op_name(i)) {
			sent += a->sent[i];
			ok += a->ok[i];
		} else if (a->sent[i]) {
			cat(buf, sizeof(buf), " %s %llu/%llu", op_name(i),
			    (unsigned long long)a->ok[i],
			    (unsigned long long)a->sent[i]);
		}
	}
	cat(buf, sizeof(buf), " other opcodes %llu/%llu",
	    (unsigned long long)ok, (unsigned long long)sent);
	note("%s", buf);

	buf[0] = 0;
	cat(buf, sizeof(buf), "A's churn, as expected/not:");
	for (i = 0; i < NR_CH; i++)
		cat(buf, sizeof(buf), "%s %s %llu/%llu", i ? "," : "",
		    ch_name[i], (unsigned long long)a->ch_ok[i],
		    (unsigned long long)a->ch_err[i]);
	cat(buf, sizeof(buf),
	    "; %llu whole vIOMMU cycles; %llu DESTROYs retried after a transient EBUSY",
	    (unsigned long long)a->viommus,
	    (unsigned long long)a->busy_retries);
	note("%s", buf);
	for (i = 0; i < NR_CH; i++)
		if (a->ch_first[i][0])
			note("  first unexpected %s: %s", ch_name[i],
			     a->ch_first[i]);

	note("A's DMA: P1 %llu, nowhere %llu, other %llu, engine errors %llu",
	     (unsigned long long)a->dma[AT_P1],
	     (unsigned long long)a->dma[AT_NOWHERE],
	     (unsigned long long)(a->dma[AT_P2] + a->dma[AT_GARBLED]),
	     (unsigned long long)a->dma_err);

	buf[0] = 0;
	cat(buf, sizeof(buf), "A: epochs %llu, each closed with all alive:",
	    (unsigned long long)a->epochs);
	for (i = 0; i < NR_CL; i++)
		cat(buf, sizeof(buf), "%s %s %llu", i ? "," : "", cl_name[i],
		    (unsigned long long)a->close_order[i]);
	cat(buf, sizeof(buf), "; VmPin after each close at most %ld kB",
	    a->vmpin_max);
	note("%s", buf);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	enum { P_B_READY, P_A_READY, P_RUN, P_A_EXIT, P_B_EXIT, P_DONE };
	char bdf[2][256], cdev[2][300], fresh[512] = "", verdict[512] = "";
	uint64_t last_hb[NR_W] = {}, last_ns[NR_W] = {}, t, t_phase;
	unsigned int secs = 20, min_dmas;
	int was_active[NR_W] = {};
	pid_t pid_a = 0, pid_b = 0;
	int st_a = -1, st_b = -1, phase = P_B_READY, stuck = -1;
	struct kscan k = {};
	int opt, kfd, w, rc;
	uint64_t seed = now_ns();

	while ((opt = getopt(argc, argv, "t:s:h")) != -1) {
		switch (opt) {
		case 't':
			secs = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!secs)
		usage(argv[0]);
	min_dmas = secs * 5 / 2 < 10 ? 10 : secs * 5 / 2;

	note("smmu_stress: two processes, two vIOMMUs, one SMMUv3");
	dprintf(STDOUT_FILENO, "1..1\n");
	for (w = 0; w < 2; w++) {
		cdev[w][0] = 0;
		if (edu_find(w, bdf[w], sizeof(bdf[w]), cdev[w],
			     sizeof(cdev[w])) || !cdev[w][0]) {
			dprintf(STDOUT_FILENO,
				"ok 1 smmu_stress # SKIP needs two edu devices bound to vfio-pci\n");
			return 0;
		}
	}
	if (access("/dev/iommu", R_OK | W_OK)) {
		dprintf(STDOUT_FILENO, "ok 1 smmu_stress # SKIP no /dev/iommu\n");
		return 0;
	}

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		dprintf(STDOUT_FILENO, "not ok 1 smmu_stress # mmap: %s\n",
			strerror(errno));
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	sh->seed = seed;
	sh->psid[0] = psid_of(bdf[0]);
	sh->psid[1] = psid_of(bdf[1]);
	/* A's vSID names B's device, were it used untranslated */
	sh->vsid = sh->psid[1] != ~0U ? sh->psid[1] : VSID_DEFAULT;
	note("%u s, seed %#llx; A: edu0 %s (pSID %#x), B: edu1 %s (pSID %#x); both use vSID %#x and ASIDs 1, 2 at IOVA %#llx",
	     secs, (unsigned long long)seed, bdf[0], sh->psid[0], bdf[1],
	     sh->psid[1], sh->vsid, IOVA_V);

	kfd = kmsg_open_at_end();
	if (kfd < 0)
		note("no /dev/kmsg (%s): the console is judged alone",
		     strerror(-kfd));

	pid_b = fork();
	if (pid_b < 0) {
		dprintf(STDOUT_FILENO, "not ok 1 smmu_stress # fork: %s\n",
			strerror(errno));
		return 1;
	}
	if (!pid_b)
		_exit(b_main(1));
	t_phase = now_ns();

	/* Supervise: phases, children, and the watchdog */
	while (phase != P_DONE) {
		sleep_ms(50);
		t = now_ns();
		if (pid_a > 0 && st_a < 0 && waitpid(pid_a, &rc, WNOHANG) > 0)
			st_a = rc;
		if (pid_b > 0 && st_b < 0 && waitpid(pid_b, &rc, WNOHANG) > 0)
			st_b = rc;

		for (w = 0; w < NR_W; w++) {
			uint64_t hb = LOAD(sh->w[w].hb);
			int on = LOAD(sh->w[w].active);

			if (!on || hb != last_hb[w] || !was_active[w])
				last_ns[w] = t;
			last_hb[w] = hb;
			was_active[w] = on;
			if (on && t - last_ns[w] > WATCHDOG_S * 1000000000ULL) {
				stuck = w;
				break;
			}
		}
		if (stuck >= 0) {
			snprintf(verdict, sizeof(verdict),
				 "deadlock? %s made no progress for %d s",
				 w_name[stuck], WATCHDOG_S);
			note("%s", verdict);
			dump_stuck(stuck);
			break;
		}

		switch (phase) {
		case P_B_READY:
			if (st_b >= 0 || t - t_phase > READY_S * 1000000000ULL) {
				snprintf(verdict, sizeof(verdict),
					 "B did not get ready");
				phase = P_DONE;
				break;
			}
			if (!LOAD(sh->b_ready))
				break;
			pid_a = fork();
			if (!pid_a)
				_exit(a_main(0, secs));
			if (pid_a < 0) {
				snprintf(verdict, sizeof(verdict),
					 "fork: %s", strerror(errno));
				phase = P_DONE;
				break;
			}
			phase = P_A_READY;
			t_phase = t;
			break;
		case P_A_READY:
			if (st_a >= 0 || st_b >= 0 ||
			    t - t_phase > READY_S * 1000000000ULL) {
				snprintf(verdict, sizeof(verdict),
					 "A did not get ready");
				phase = P_DONE;
				break;
			}
			if (!LOAD(sh->a_ready))
				break;
			sh->t_go = t;
			STORE(sh->go, 1);
			phase = P_RUN;
			t_phase = t;
			break;
		case P_RUN:
			if (st_a >= 0 || st_b >= 0) {
				snprintf(verdict, sizeof(verdict),
					 "%s exited during the run",
					 st_a >= 0 ? "A" : "B");
				STORE(sh->stop_a, 1);
				STORE(sh->a_gone, 1);
				phase = P_B_EXIT;
				break;
			}
			if (t - t_phase < secs * 1000000000ULL)
				break;
			STORE(sh->stop_a, 1);
			phase = P_A_EXIT;
			break;
		case P_A_EXIT:
			if (st_a < 0)
				break;
			STORE(sh->a_gone, 1);
			phase = P_B_EXIT;
			break;
		case P_B_EXIT:
			if (st_b >= 0 && (st_a >= 0 || pid_a <= 0))
				phase = P_DONE;
			break;
		}
	}
	if (stuck >= 0 || phase != P_DONE || verdict[0]) {
		/* Whatever still runs goes; a task stuck in D stays */
		if (pid_a > 0 && st_a < 0)
			kill(pid_a, SIGKILL);
		if (pid_b > 0 && st_b < 0)
			kill(pid_b, SIGKILL);
		for (w = 0; w < 40; w++) {
			if (pid_a > 0 && st_a < 0 &&
			    waitpid(pid_a, &rc, WNOHANG) > 0)
				st_a = rc;
			if (pid_b > 0 && st_b < 0 &&
			    waitpid(pid_b, &rc, WNOHANG) > 0)
				st_b = rc;
			if ((pid_a <= 0 || st_a >= 0) && st_b >= 0)
				break;
			sleep_ms(50);
		}
	}

	print_figures();
	if (stuck < 0 && st_a >= 0 && st_b >= 0 && fresh_check(fresh,
							       sizeof(fresh)))
		note("lifetimes: %s", fresh);
	else if (stuck < 0 && st_a >= 0 && st_b >= 0)
		note("lifetimes: after both processes closed everything, both edus bound to fresh iommufds, got a vIOMMU each with vSID %#x again and DMA'd through stage 1; VmPin 0 after",
		     sh->vsid);
	if (kfd >= 0) {
		kmsg_scan(kfd, &k);
		note("kernel log during the test: %u splats, %u command-queue errors, %u SMMU events",
		     k.splats, k.cmdq, k.events);
		for (w = 0; w < (int)k.nfirst; w++)
			note("  %s", k.first[w]);
	}
	if (sh->b.bad[0])
		note_lines("", sh->b.bad);
	if (sh->b_err[0])
		note("%s", sh->b_err);
	if (sh->a_err[0])
		note("%s", sh->a_err);

	/* The verdict: the first reason */
	if (verdict[0])
		;
	else if (sh->b.hits)
		snprintf(verdict, sizeof(verdict),
			 "%llu of B's checks reached P2: an invalidation reached B's VMID or StreamID",
			 (unsigned long long)sh->b.hits);
	else if (sh->b.broken)
		snprintf(verdict, sizeof(verdict),
			 "%llu of B's checks went nowhere: B's translation broke",
			 (unsigned long long)sh->b.broken);
	else if (sh->b_err[0] || !WIFEXITED(st_b) || WEXITSTATUS(st_b))
		snprintf(verdict, sizeof(verdict), "B failed");
	else if (sh->b.dmas < min_dmas)
		snprintf(verdict, sizeof(verdict),
			 "B checked %llu DMAs, fewer than %u",
			 (unsigned long long)sh->b.dmas, min_dmas);
	else if (!sh->b.ctl_tlbi || !sh->b.ctl_cfgi)
		snprintf(verdict, sizeof(verdict),
			 "B's detector missed its own invalidation");
	else if (sh->a_err[0] || !WIFEXITED(st_a) || WEXITSTATUS(st_a))
		snprintf(verdict, sizeof(verdict), "A failed");
	else if (!sh->a.ent_ok || !sh->a.viommus || !sh->a.epochs)
		snprintf(verdict, sizeof(verdict),
			 "A did not attack: no command accepted or no vIOMMU cycle");
	else if (fresh[0])
		snprintf(verdict, sizeof(verdict), "%s", fresh);
	else if (k.splats || k.cmdq)
		snprintf(verdict, sizeof(verdict),
			 "the kernel logged %u splats and %u command-queue errors",
			 k.splats, k.cmdq);

	if (verdict[0]) {
		dprintf(STDOUT_FILENO, "not ok 1 smmu_stress # %s\n", verdict);
		return 1;
	}
	dprintf(STDOUT_FILENO,
		"ok 1 smmu_stress # %llu DMAs of B checked against A's %llu accepted commands and %llu vIOMMU cycles\n",
		(unsigned long long)sh->b.dmas,
		(unsigned long long)sh->a.ent_ok,
		(unsigned long long)sh->a.viommus);
	return 0;
}
