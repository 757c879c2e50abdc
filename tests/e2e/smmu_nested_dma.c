// SPDX-License-Identifier: GPL-2.0
/*
 * Real DMA through nested SMMUv3 translation: this program is both the VMM
 * and the guest, and proves on QEMU's SMMUv3 (stage=nested, which really
 * walks both stages) with two edu devices that:
 *
 *  - a guest's stage 1 works as written: the "guest" builds in its RAM (an
 *    anonymous buffer the VMM maps into the IOAS at IPA 0x100000) a linear
 *    CD table and 4K-granule AArch64 page tables whose pointers are all
 *    IPAs, the VMM turns the guest STE into a nested HWPT on a vIOMMU, and
 *    edu DMA, both ways, reaches exactly the page the guest mapped:
 *    IOVA -(guest stage 1)-> IPA -(host stage 2)-> PA;
 *  - two vIOMMUs on one nesting parent are two VMIDs: both guests use ASID
 *    1, the same IOVA and the same virtual StreamID, and never see each
 *    other's translations or invalidations;
 *  - the guest's invalidations are needed and work: a changed PTE stays
 *    invisible (stale) until TLBI_NH_VA/ASID/VAA/NSNH_ALL goes through
 *    IOMMU_HWPT_INVALIDATE on the device's vIOMMU, a changed CD until
 *    CFGI_CD/CFGI_CD_ALL names the device's virtual StreamID; a range
 *    TLBI_NH_VA/VAA (SMMU_IDR3.RIL) refreshes exactly the pages it covers;
 *  - a stage-2 change (IOMMU_IOAS_UNMAP, then a map of another page at the
 *    same IPA) reaches both devices at once with no guest command;
 *  - replacing the nested HWPT switches the device between the guest's
 *    stage 1, bypass (the device address is an IPA) and abort (nothing
 *    moves), and back;
 *  - a guest's faults reach its vEVENTQ with its vSID, and once the device
 *    moved to the other vIOMMU only that one's, with the new vSID;
 *  - everything can be torn down in any order, or by closing file
 *    descriptors, and a vIOMMU's VMID is clean when reused.
 *
 * It prints a walkthrough: the objects, each guest and VMM step, and for
 * every DMA which page it reached and the first bytes it read.
 */
#include <endian.h>
#include <poll.h>

#include "nest.h"
#include "kselftest_harness.h"

/* See smmu_nested.c: only skipped teardowns, which exit does anyway */
#pragma GCC diagnostic ignored "-Wclobbered"

/*
 * Guest RAM: RAM_SIZE bytes at IPA RAM_IPA, in 4K guest pages. Every
 * address the guest's tables hold is an IPA in here; all stay below edu's
 * 28-bit DMA mask, as do the stage-1 IOVAs.
 */
#define RAM_IPA		0x100000ULL
#define RAM_SIZE	(4UL << 20)
#define GP_CD(d)	(d)			/* CD table of device d */
#define GP_TBL(d, set, lvl) (2 + ((set) * 2 + (d)) * 3 + (lvl) - 1)
#define GP_MBOX(d)	(16 + (d) * 8)		/* readback page */
#define GP_DATA(d, k)	(17 + (d) * 8 + (k))	/* k: OLD, NEW, CD2 */
#define GP_RNG(d, k, i) (32 + ((d) * 2 + (k)) * 8 + (i)) /* k: OLD, NEW */
#define GP_SHARED	64	/* mapped into the IOAS by itself */
#define IPA(gp)		(RAM_IPA + (uint64_t)(gp) * PAGE_SZ)

/* The guests' stage-1 IOVAs: not IPAs of the VM, so bypass cannot hit them */
#define IOVA_DATA	0x4000000ULL	/* OLD, NEW or CD2 page */
#define IOVA_MBOX	(IOVA_DATA + PAGE_SZ)
#define IOVA_SHARED	(IOVA_DATA + 2 * PAGE_SZ)
/*
 * RNG_PAGES consecutive pages for the range TLBIs, each mapping one of the
 * device's OLD range pages until a test points it at its NEW one. 64K
 * aligned, in the same level-3 table as IOVA_DATA.
 */
#define RNG_PAGES	5
#define IOVA_RNG	(IOVA_DATA + 16 * PAGE_SZ)
#define RNG_IOVA(i)	(IOVA_RNG + (uint64_t)(i) * PAGE_SZ)

/*
 * Both guests use the same virtual StreamID, ASID and IOVAs. That is what
 * two VMs do, and it means only the vIOMMUs keep them apart: the VMID for
 * the TLB, the vIOMMU's own vSID table for CFGI_CD. 0x20 is neither edu's
 * physical StreamID (0x8 and 0x10 on QEMU's virt), so an untranslated vSID
 * would name no device (objects checks that).
 */
#define VSID		0x20
#define VSID_MOVED	0x31
#define ASID		1

/* IDR bits this program relies on */
#define IDR0_S2P	(1U << 0)
#define IDR0_S1P	(1U << 1)
#define IDR0_TTF_AA64	(1U << 3)
#define IDR0_ASID16	(1U << 12)
#define IDR5_OAS(r)	((r) & 7)
#define IDR5_GRAN4K	(1U << 4)

/* The data pages DMA may reach; each holds its 8-byte tag, repeated */
enum { OLD, NEW, CD2 };
#define DP(d, k)	((d) * 3 + (k))
enum { S2_OLD = 6, S2_NEW, RNG0 };
/* Range page i of device d, k OLD or NEW: RNG_PAGES names each below */
#define RP(d, k, i)	(RNG0 + ((d) * 2 + (k)) * RNG_PAGES + (i))
#define NPAGES		RP(2, OLD, 0)
static const char *const page_name[NPAGES] = {
	"A.old", "A.new", "A.cd2", "B.old", "B.new", "B.cd2", "S2.old",
	"S2.new",
	"A.old.r0", "A.old.r1", "A.old.r2", "A.old.r3", "A.old.r4",
	"A.new.r0", "A.new.r1", "A.new.r2", "A.new.r3", "A.new.r4",
	"B.old.r0", "B.old.r1", "B.old.r2", "B.old.r3", "B.old.r4",
	"B.new.r0", "B.new.r1", "B.new.r2", "B.new.r3", "B.new.r4",
};
_Static_assert(RNG_PAGES == 5, "page_name[] names 5 range pages a set");

/* What a probe found instead of a page */
#define NOWHERE		-1	/* nothing moved: blocked */
#define SEVERAL		-2	/* a write landed in several pages */
#define GARBLED		-3	/* read bytes of no known page */

/* By enum vste (smmu_guest.h) */
static const char *const vste_name[] = { "S1", "bypass", "abort" };

struct gdev {
	struct edu edu;
	char vname;		/* its vIOMMU: 'A' (edu0) or 'B' (edu1) */
	uint32_t viommu_id;
	uint32_t vdev_id;
	uint32_t hwpt[3];	/* nested HWPTs, by enum vste */
	enum vste mode;		/* attached to hwpt[mode] */
};

struct ctx {
	int iommufd;
	uint8_t *ram;		/* guest RAM */
	uint8_t *alt;		/* another host page, for the S2 swap */
	uint32_t ioas_id;
	uint32_t parent_id;
	struct gdev d[2];
	uint8_t *pg[NPAGES];
	struct iommu_hw_info_arm_smmuv3 hw;
	unsigned int ips;
};

/* The walkthrough: TAP comments, unbuffered (the tests end in _exit()) */
#define say(fmt, ...)	fprintf(stderr, "#   " fmt "\n", ##__VA_ARGS__)

/* The guest's view of its RAM */

static uint8_t *gva(struct ctx *c, uint64_t ipa)
{
	return c->ram + (ipa - RAM_IPA);
}

/* dma_fence() orders these against the SMMU's and the device's accesses */
static void gwr64(struct ctx *c, uint64_t ipa, uint64_t val)
{
	*(uint64_t *)gva(c, ipa) = htole64(val);
}

static uint64_t grd64(struct ctx *c, uint64_t ipa)
{
	return le64toh(*(uint64_t *)gva(c, ipa));
}

static unsigned long long tbl(int d, int set, int lvl)
{
	return IPA(GP_TBL(d, set, lvl));
}

/* The PA behind a host virtual address, from /proc/self/pagemap, or 0 */
static unsigned long long host_pa(const void *va)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)va / psz * sizeof(ent)) !=
	    sizeof(ent))
		ent = 0;
	close(fd);
	if (!(ent & (1ULL << 63)))
		return 0;
	return (ent & ((1ULL << 55) - 1)) * psz + (uintptr_t)va % psz;
}

static void tag_of(int page, char tag[8])
{
	char buf[9];

	snprintf(buf, sizeof(buf), "%-8s", page_name[page]);
	memcpy(tag, buf, 8);
}

static void fill_tag(uint8_t *p, const char *tag)
{
	unsigned int i;

	for (i = 0; i < PAGE_SZ; i++)
		p[i] = tag[i % 8];
}

static bool has_tag(const uint8_t *p, const char *tag)
{
	unsigned int i;

	for (i = 0; i < PAGE_SZ; i++)
		if (p[i] != (uint8_t)tag[i % 8])
			return false;
	return true;
}

static bool page_intact(struct ctx *c, int page)
{
	char tag[8];

	tag_of(page, tag);
	return has_tag(c->pg[page], tag);
}

static bool all_zero(const uint8_t *p)
{
	unsigned int i;

	for (i = 0; i < PAGE_SZ; i++)
		if (p[i])
			return false;
	return true;
}

/* The first 8 bytes, quoted if printable, else in hex */
static const char *show8(const uint8_t *p, char out[24])
{
	int i;

	for (i = 0; i < 8; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			break;
	if (i == 8)
		snprintf(out, 24, "'%.8s'", (const char *)p);
	else
		snprintf(out, 24, "%02x%02x%02x%02x%02x%02x%02x%02x", p[0],
			 p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
	return out;
}

static const char *where(int page)
{
	switch (page) {
	case NOWHERE:
		return "nothing";
	case SEVERAL:
		return "SEVERAL PAGES";
	case GARBLED:
		return "unknown bytes";
	}
	return page_name[page];
}

/*
 * The guest's stage 1 for device d, table set 0 (the first root) or 1 (the
 * root a CD switch moves to): IOVA_DATA -> data, IOVA_MBOX -> the device's
 * mailbox page, IOVA_SHARED -> the shared page, RNG_IOVA(i) -> the
 * device's OLD range page i.
 */
static void guest_pte(struct ctx *c, int d, int set, uint64_t iova,
		      uint64_t ipa)
{
	gwr64(c, tbl(d, set, 3) + 8 * L3_IDX(iova), s1_pte_page(ipa, 0));
	dma_fence();
}

static void guest_tables(struct ctx *c, int d, int set, uint64_t data_ipa)
{
	int lvl, i;

	for (lvl = 1; lvl <= 3; lvl++)
		memset(gva(c, tbl(d, set, lvl)), 0, PAGE_SZ);
	gwr64(c, tbl(d, set, 1) + 8 * L1_IDX(IOVA_DATA),
	      PTE_ADDR(tbl(d, set, 2)) | PTE_TABLE);
	gwr64(c, tbl(d, set, 2) + 8 * L2_IDX(IOVA_DATA),
	      PTE_ADDR(tbl(d, set, 3)) | PTE_TABLE);
	guest_pte(c, d, set, IOVA_DATA, data_ipa);
	guest_pte(c, d, set, IOVA_MBOX, IPA(GP_MBOX(d)));
	guest_pte(c, d, set, IOVA_SHARED, IPA(GP_SHARED));
	for (i = 0; i < RNG_PAGES; i++)
		guest_pte(c, d, set, RNG_IOVA(i), IPA(GP_RNG(d, OLD, i)));
}

/* One CD, S1Fmt linear, S1CDMax 0: the whole table is CD 0 */
static void guest_cd(struct ctx *c, int d)
{
	uint64_t cd = IPA(GP_CD(d));

	memset(gva(c, cd), 0, PAGE_SZ);
	guest_cd_write(gva(c, cd), tbl(d, 0, 1), c->ips, ASID);
}

static void guest_set_ttb0(struct ctx *c, int d, int set)
{
	gwr64(c, IPA(GP_CD(d)) + 8, CD1_TTB0(tbl(d, set, 1)));
	dma_fence();
}

/* Boot both guests: data pages, page tables, CDs */
static void guest_boot(struct ctx *c)
{
	char tag[8];
	int d, k, i;

	for (d = 0; d < 2; d++)
		for (k = OLD; k <= CD2; k++)
			c->pg[DP(d, k)] = gva(c, IPA(GP_DATA(d, k)));
	for (d = 0; d < 2; d++)
		for (k = OLD; k <= NEW; k++)
			for (i = 0; i < RNG_PAGES; i++)
				c->pg[RP(d, k, i)] =
					gva(c, IPA(GP_RNG(d, k, i)));
	c->pg[S2_OLD] = gva(c, IPA(GP_SHARED));
	c->pg[S2_NEW] = c->alt;
	for (i = 0; i < NPAGES; i++) {
		tag_of(i, tag);
		fill_tag(c->pg[i], tag);
	}
	for (d = 0; d < 2; d++) {
		memset(gva(c, IPA(GP_MBOX(d))), 0, PAGE_SZ);
		guest_tables(c, d, 0, IPA(GP_DATA(d, OLD)));
		guest_tables(c, d, 1, IPA(GP_DATA(d, CD2)));
		guest_cd(c, d);
	}
}

/* The VMM */

static int attach(struct ctx *c, int d, enum vste v)
{
	int rc = dev_attach(&c->d[d].edu, c->d[d].hwpt[v]);

	if (!rc)
		c->d[d].mode = v;
	return rc;
}

static unsigned int psid(const struct edu *e)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(e->bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return ~0U;
	return bus << 8 | dev << 3 | fn;
}

static void ctx_setup(struct __test_metadata *_metadata, struct ctx *c)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	uint64_t ste[2];
	int fd, d, v;

	memset(c, 0, sizeof(*c));
	c->iommufd = -1;
	for (d = 0; d < 2; d++) {
		c->d[d].edu.fd = -1;
		c->d[d].vname = 'A' + d;
	}

	c->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->ram);
	c->alt = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->alt);
	c->iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, c->iommufd);
	fd = c->iommufd;
	ASSERT_EQ(0, ioctl(fd, IOMMU_IOAS_ALLOC, &ioas));
	c->ioas_id = ioas.out_ioas_id;
	/* In three pieces, so that the shared page can be unmapped alone */
	ASSERT_EQ(0, ioas_map(fd, c->ioas_id, c->ram, GP_SHARED * PAGE_SZ,
			      RAM_IPA));
	ASSERT_EQ(0, ioas_map(fd, c->ioas_id, gva(c, IPA(GP_SHARED)), PAGE_SZ,
			      IPA(GP_SHARED)));
	ASSERT_EQ(0, ioas_map(fd, c->ioas_id, gva(c, IPA(GP_SHARED + 1)),
			      RAM_SIZE - (GP_SHARED + 1) * PAGE_SZ,
			      IPA(GP_SHARED + 1)));
	for (d = 0; d < 2; d++)
		ASSERT_EQ(0, edu_open(&c->d[d].edu, d, fd));

	/* What the guest may use: this SMMU's stage-1 features */
	ASSERT_EQ(0, smmu_hw_info(fd, c->d[0].edu.dev_id, &c->hw));
	ASSERT_EQ(IDR0_S1P | IDR0_S2P,
		  c->hw.idr[0] & (IDR0_S1P | IDR0_S2P));
	ASSERT_NE(0, c->hw.idr[0] & IDR0_TTF_AA64);
	ASSERT_NE(0, c->hw.idr[5] & IDR5_GRAN4K);
	/* Output size: the SMMU's, at most 48 bits with 4K pages */
	c->ips = IDR5_OAS(c->hw.idr[5]) > 5 ? 5 : IDR5_OAS(c->hw.idr[5]);

	ASSERT_EQ(0, hwpt_alloc(fd, IOMMU_HWPT_ALLOC_NEST_PARENT,
				c->d[0].edu.dev_id, c->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &c->parent_id));
	for (d = 0; d < 2; d++) {
		struct gdev *g = &c->d[d];

		ASSERT_EQ(0, viommu_alloc(fd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
					  g->edu.dev_id, c->parent_id,
					  &g->viommu_id));
		ASSERT_EQ(0, vdevice_alloc(fd, g->viommu_id, g->edu.dev_id,
					   VSID, &g->vdev_id));
	}

	guest_boot(c);

	for (d = 0; d < 2; d++) {
		struct gdev *g = &c->d[d];

		for (v = VSTE_S1; v <= VSTE_ABORT; v++) {
			vste_words(v, IPA(GP_CD(d)), ste);
			ASSERT_EQ(0, nested_alloc(fd, g->viommu_id,
						  g->edu.dev_id, ste[0],
						  ste[1], &g->hwpt[v]));
		}
		ASSERT_EQ(0, attach(c, d, VSTE_S1));
	}
}

static void ctx_teardown(struct ctx *c)
{
	edu_close(&c->d[0].edu);
	edu_close(&c->d[1].edu);
	if (c->iommufd >= 0)
		close(c->iommufd);
	c->iommufd = -1;
	if (c->ram && c->ram != MAP_FAILED)
		munmap(c->ram, RAM_SIZE);
	if (c->alt && c->alt != MAP_FAILED)
		munmap(c->alt, PAGE_SZ);
	c->ram = NULL;
	c->alt = NULL;
}

/* Forward n guest commands to device d's vIOMMU */
static void send(struct __test_metadata *_metadata, struct ctx *c, int d,
		 const char *what,
		 const struct iommu_viommu_arm_smmuv3_invalidate *cmds,
		 unsigned int n)
{
	uint32_t num = n;

	say("VMM: IOMMU_HWPT_INVALIDATE on vIOMMU %c (%u): %s", c->d[d].vname,
	    c->d[d].viommu_id, what);
	ASSERT_EQ(0, viommu_cmds(c->iommufd, c->d[d].viommu_id, cmds, &num));
	ASSERT_EQ(n, num);
}

#define GCMDS(...)							\
	((const struct iommu_viommu_arm_smmuv3_invalidate[]){ __VA_ARGS__ })
#define SEND(c, d, what, ...)						\
	send(_metadata, c, d, what, GCMDS(__VA_ARGS__),			\
	     sizeof(GCMDS(__VA_ARGS__)) / sizeof(GCMDS(__VA_ARGS__)[0]))

static struct iommu_viommu_arm_smmuv3_invalidate gcmd(uint64_t w0,
						      uint64_t w1)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmd;

	mkcmd(&cmd, w0, w1);
	return cmd;
}

/*
 * Guest commands as the guest writes them: its VMID field is 0 (it has
 * none), its StreamIDs are virtual.
 */
#define NH_VA(asid, va)	gcmd(OP_TLBI_NH_VA | CMD0_ASID(asid),	\
			     CMD1_ADDR(va) | CMD1_LEAF)
#define NH_VAA(va)	gcmd(OP_TLBI_NH_VAA, CMD1_ADDR(va) | CMD1_LEAF)
/* As a range (SMMU_IDR3.RIL): (num + 1) << scale 4K pages, level ttl */
#define NH_VA_RNG(asid, va, num, scale, ttl)				\
	gcmd(OP_TLBI_NH_VA | CMD0_ASID(asid) | CMD0_NUM(num) |		\
	     CMD0_SCALE(scale),						\
	     CMD1_ADDR(va) | CMD1_TG(TG_4K) | CMD1_TTL(ttl) | CMD1_LEAF)
#define NH_VAA_RNG(va, num, scale, ttl)					\
	gcmd(OP_TLBI_NH_VAA | CMD0_NUM(num) | CMD0_SCALE(scale),	\
	     CMD1_ADDR(va) | CMD1_TG(TG_4K) | CMD1_TTL(ttl) | CMD1_LEAF)
#define NH_ASID(asid)	gcmd(OP_TLBI_NH_ASID | CMD0_ASID(asid), 0)
#define NH_ALL		gcmd(OP_TLBI_NH_ALL, 0)
#define NSNH_ALL	gcmd(OP_TLBI_NSNH_ALL, 0)
#define CFGI_CD(sid)	gcmd(OP_CFGI_CD | CMD0_SID(sid) |		\
			     CMD0_SSID(0), CMD1_LEAF)
#define CFGI_CD_ALL(sid) gcmd(OP_CFGI_CD_ALL | CMD0_SID(sid), 0)

/* DMA */

static int dma(struct gdev *g, uint64_t addr, bool to_dev)
{
	int rc;

	dma_fence();
	rc = edu_dma(&g->edu, addr, 0, EDU_BUF_SIZE, to_dev);
	dma_fence();
	return rc;
}

/* Where device d reaches its mailbox page in its current mode */
static uint64_t mbox_addr(struct ctx *c, int d)
{
	return c->d[d].mode == VSTE_BYPASS ? IPA(GP_MBOX(d)) : IOVA_MBOX;
}

struct seen {
	int wr;			/* the page a device write landed in */
	int rd;			/* the page a device read came from */
	uint8_t first[8];	/* what the read brought */
};

/*
 * Which page device d reaches at DMA address addr, both ways. Write: the
 * edu buffer is loaded with the device's write tag from its mailbox, then
 * written to addr; the data page that got it is found and restored. Read:
 * addr is read into the edu buffer, which is then written to the mailbox.
 * A read that fails leaves zeros or the write tag in the edu buffer.
 */
static void probe(struct __test_metadata *_metadata, struct ctx *c, int d,
		  uint64_t addr, struct seen *s)
{
	struct gdev *g = &c->d[d];
	uint8_t *mbox = gva(c, IPA(GP_MBOX(d)));
	const char *wtag = d ? "wr.edu1 " : "wr.edu0 ";
	char tag[8];
	int i, hits = 0;

	fill_tag(mbox, wtag);
	ASSERT_EQ(0, dma(g, mbox_addr(c, d), true));
	ASSERT_EQ(0, dma(g, addr, false));
	s->wr = NOWHERE;
	for (i = 0; i < NPAGES; i++) {
		if (!has_tag(c->pg[i], wtag))
			continue;
		s->wr = hits++ ? SEVERAL : i;
		tag_of(i, tag);
		fill_tag(c->pg[i], tag);
	}

	ASSERT_EQ(0, dma(g, addr, true));
	memset(mbox, 0, PAGE_SZ);
	ASSERT_EQ(0, dma(g, mbox_addr(c, d), false));
	memcpy(s->first, mbox, sizeof(s->first));
	s->rd = all_zero(mbox) || has_tag(mbox, wtag) ? NOWHERE : GARBLED;
	for (i = 0; i < NPAGES; i++) {
		tag_of(i, tag);
		if (has_tag(mbox, tag))
			s->rd = i;
	}
}

/* DMA of device d at addr must reach page want (or NOWHERE) both ways */
static void expect_dma(struct __test_metadata *_metadata, struct ctx *c,
		       int d, uint64_t addr, int want, const char *why)
{
	struct seen s;
	char b[24];

	probe(_metadata, c, d, addr, &s);
	say("  edu%d %-6s DMA %#9llx: read %s = %s, write -> %s   [want %s: %s]",
	    d, vste_name[c->d[d].mode], (unsigned long long)addr,
	    show8(s.first, b), where(s.rd), where(s.wr), where(want), why);
	ASSERT_EQ(want, s.rd) {
		TH_LOG("edu%d read at %#llx: %s, not %s", d,
		       (unsigned long long)addr, where(s.rd), where(want));
	}
	ASSERT_EQ(want, s.wr) {
		TH_LOG("edu%d write at %#llx: %s, not %s", d,
		       (unsigned long long)addr, where(s.wr), where(want));
	}
}

static void show_route(struct ctx *c, int d, uint64_t iova, int page)
{
	const uint8_t *va = c->pg[page];

	say("route edu%d: IOVA %#llx -(guest S1, vIOMMU %c, ASID %d)-> IPA %#llx -(host S2)-> PA %#llx = %s",
	    d, (unsigned long long)iova, c->d[d].vname, ASID,
	    (unsigned long long)(va == c->alt ? IPA(GP_SHARED) :
				 RAM_IPA + (va - c->ram)),
	    host_pa(va), page_name[page]);
}

/*
 * Both devices DMA at IOVA_DATA (so the translation is cached), then each
 * guest points its PTE at its NEW page without telling anyone: both still
 * reach the OLD page. Without this staleness the invalidation tests below
 * could not tell a missing invalidation from a working one.
 */
static void repoint_ptes(struct __test_metadata *_metadata, struct ctx *c)
{
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "cached now");
	for (d = 0; d < 2; d++) {
		guest_pte(c, d, 0, IOVA_DATA, IPA(GP_DATA(d, NEW)));
		say("guest %c: PTE of IOVA %#llx -> IPA %#llx (%s), no invalidation",
		    c->d[d].vname, IOVA_DATA, IPA(GP_DATA(d, NEW)),
		    page_name[DP(d, NEW)]);
	}
	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "stale until a TLBI");
}

/*
 * repoint_ptes() for the range pages of device d: DMA at each RNG_IOVA(i)
 * caches its translation, then the guest points the PTEs at the NEW range
 * pages without telling anyone: every one still reaches its OLD page.
 */
static void repoint_range(struct __test_metadata *_metadata, struct ctx *c,
			  int d)
{
	int i;

	for (i = 0; i < RNG_PAGES; i++)
		expect_dma(_metadata, c, d, RNG_IOVA(i), RP(d, OLD, i),
			   "cached now");
	for (i = 0; i < RNG_PAGES; i++)
		guest_pte(c, d, 0, RNG_IOVA(i), IPA(GP_RNG(d, NEW, i)));
	say("guest %c: PTEs of IOVAs %#llx-%#llx -> IPAs %#llx-%#llx (%s-%s), no invalidation",
	    c->d[d].vname, RNG_IOVA(0), RNG_IOVA(RNG_PAGES - 1),
	    IPA(GP_RNG(d, NEW, 0)), IPA(GP_RNG(d, NEW, RNG_PAGES - 1)),
	    page_name[RP(d, NEW, 0)], page_name[RP(d, NEW, RNG_PAGES - 1)]);
	for (i = 0; i < RNG_PAGES; i++)
		expect_dma(_metadata, c, d, RNG_IOVA(i), RP(d, OLD, i),
			   "stale until a TLBI");
}

/*
 * After repoint_range() and a TLBI of range pages [first, first + n) of
 * device d: those reach their NEW pages, the others still their OLD ones.
 * QEMU's SMMU drops from its TLB the pages a range covers and no others,
 * as it keeps the page of another IOVA after a single-page TLBI (a real
 * SMMU may drop more). The pages outside the range are probed first,
 * nearest to the TLBI.
 */
static void expect_range(struct __test_metadata *_metadata, struct ctx *c,
			 int d, int first, int n)
{
	int i;

	for (i = 0; i < RNG_PAGES; i++)
		if (i < first || i >= first + n)
			expect_dma(_metadata, c, d, RNG_IOVA(i), RP(d, OLD, i),
				   "outside the range");
	for (i = first; i < first + n; i++)
		expect_dma(_metadata, c, d, RNG_IOVA(i), RP(d, NEW, i),
			   "in the range");
}

/*
 * A range TLBI needs SMMU_IDR3.RIL: without it the kernel refuses its range
 * fields, as the SMMU would.
 */
#define NEED_RIL(c)							\
	do {								\
		if (!((c)->hw.idr[3] & IDR3_RIL))			\
			SKIP(return, "SMMU_IDR3.RIL is 0: no range TLBI"); \
	} while (0)

/*
 * Both guests point their CD's TTB0 at their second tables (IOVA_DATA ->
 * CD2 page). The old tables stay intact, so a cached CD keeps leading to
 * the OLD page: stale without any command, and still after a TLBI for the
 * ASID alone, since the SMMU also caches the CD until CFGI_CD.
 */
static void switch_cds(struct __test_metadata *_metadata, struct ctx *c)
{
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "cached now");
	for (d = 0; d < 2; d++) {
		guest_set_ttb0(c, d, 1);
		say("guest %c: CD TTB0 -> IPA %#llx (new tables: IOVA %#llx -> IPA %#llx, %s), no invalidation",
		    c->d[d].vname, tbl(d, 1, 1), IOVA_DATA,
		    IPA(GP_DATA(d, CD2)), page_name[DP(d, CD2)]);
	}
	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "stale: CD and TLB cached");
	for (d = 0; d < 2; d++) {
		SEND(c, d, "TLBI_NH_ASID 1 (no CFGI_CD)", NH_ASID(ASID));
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "old CD still cached");
	}
}

/*
 * With device d on its abort vSTE no byte may move: memory keeps its bytes
 * and the edu buffer does not get memory's. The edu buffer is loaded
 * before (in the current mode) and read after, back on stage 1.
 */
static void check_abort(struct __test_metadata *_metadata, struct ctx *c,
			int d)
{
	struct gdev *g = &c->d[d];
	uint8_t *mbox = gva(c, IPA(GP_MBOX(d)));
	const char *ld = d ? "ld.edu1 " : "ld.edu0 ";
	unsigned long long old_ipa = IPA(GP_DATA(d, OLD));
	char tag[8], b[24];
	int i;

	fill_tag(mbox, ld);
	ASSERT_EQ(0, dma(g, mbox_addr(c, d), true));
	memset(mbox, 0, PAGE_SZ);

	ASSERT_EQ(0, attach(c, d, VSTE_ABORT));
	say("VMM: edu%d -> nested HWPT %u (vSTE Cfg=abort)", d,
	    g->hwpt[VSTE_ABORT]);
	/* device -> memory, at the IOVA and at IPAs */
	ASSERT_EQ(0, dma(g, IOVA_DATA, false));
	ASSERT_EQ(0, dma(g, old_ipa, false));
	ASSERT_EQ(0, dma(g, IPA(GP_MBOX(d)), false));
	for (i = 0; i < NPAGES; i++)
		ASSERT_TRUE(page_intact(c, i));
	ASSERT_TRUE(all_zero(mbox));
	/* memory -> device */
	ASSERT_EQ(0, dma(g, IOVA_DATA, true));
	ASSERT_EQ(0, dma(g, old_ipa, true));

	ASSERT_EQ(0, attach(c, d, VSTE_S1));
	ASSERT_EQ(0, dma(g, IOVA_MBOX, false));
	tag_of(DP(d, OLD), tag);
	ASSERT_FALSE(has_tag(mbox, tag));
	say("  edu%d abort  DMA: 3 writes (IOVA %#llx, IPAs %#llx, %#llx) and 2 reads: memory unchanged, edu buffer then held %s%s",
	    d, IOVA_DATA, old_ipa, IPA(GP_MBOX(d)), show8(mbox, b),
	    has_tag(mbox, ld) ? " (kept)" : "");
	say("VMM: edu%d -> nested HWPT %u (vSTE Cfg=S1)", d, g->hwpt[VSTE_S1]);
}

/* Detach device d and destroy its vIOMMU with all it holds */
static void destroy_viommu(struct __test_metadata *_metadata, struct ctx *c,
			   int d)
{
	struct gdev *g = &c->d[d];
	int v;

	ASSERT_EQ(0, dev_detach(&g->edu));
	for (v = VSTE_S1; v <= VSTE_ABORT; v++)
		ASSERT_EQ(0, obj_destroy(c->iommufd, g->hwpt[v]));
	ASSERT_EQ(0, obj_destroy(c->iommufd, g->vdev_id));
	ASSERT_EQ(0, obj_destroy(c->iommufd, g->viommu_id));
	say("VMM: edu%d detached; nested HWPTs %u %u %u, vDEVICE %u, vIOMMU %c (%u) destroyed",
	    d, g->hwpt[0], g->hwpt[1], g->hwpt[2], g->vdev_id, g->vname,
	    g->viommu_id);
}

FIXTURE(nested)
{
	struct ctx c;
};

FIXTURE_SETUP(nested)
{
	ctx_setup(_metadata, &self->c);
}

FIXTURE_TEARDOWN(nested)
{
	ctx_teardown(&self->c);
}

/* 1. The objects, and the guest structures in guest RAM */
TEST_F(nested, objects)
{
	struct ctx *c = &self->c;
	uint32_t ids[2 + 2 * 5] = { c->ioas_id, c->parent_id };
	unsigned int i, j, n = 2;
	int d;

	say("SMMU IDR0 %08x IDR1 %08x IDR3 %08x IDR5 %08x: %s-bit ASIDs, RIL %s, OAS code %u",
	    c->hw.idr[0], c->hw.idr[1], c->hw.idr[3], c->hw.idr[5],
	    c->hw.idr[0] & IDR0_ASID16 ? "16" : "8",
	    c->hw.idr[3] & IDR3_RIL ? "yes" : "no (single-page TLBI only)",
	    IDR5_OAS(c->hw.idr[5]));
	say("IOAS %u: guest RAM %lu KiB at IPA %#llx (host VA %p), the page at IPA %#llx mapped alone",
	    c->ioas_id, RAM_SIZE >> 10, RAM_IPA, c->ram, IPA(GP_SHARED));
	say("parent HWPT %u (NEST_PARENT): the VM's stage 2, shared by both vIOMMUs",
	    c->parent_id);
	for (d = 0; d < 2; d++) {
		struct gdev *g = &c->d[d];
		unsigned long long cd = IPA(GP_CD(d));
		uint64_t ste[2];

		vste_words(VSTE_S1, IPA(GP_CD(d)), ste);
		say("vIOMMU %c %u: edu%d %s (dev %u, pSID %#x) as vDEVICE %u, vSID %#x; nested HWPTs S1 %u, bypass %u, abort %u",
		    g->vname, g->viommu_id, d, g->edu.bdf, g->edu.dev_id,
		    psid(&g->edu), g->vdev_id, VSID, g->hwpt[VSTE_S1],
		    g->hwpt[VSTE_BYPASS], g->hwpt[VSTE_ABORT]);
		say("guest %c: vSTE %016llx %016llx -> CD @IPA %#llx: %016llx (ASID %d, T0SZ %d, 4K, IPS %u), TTB0 %#llx, MAIR0 %#llx",
		    g->vname, (unsigned long long)ste[0],
		    (unsigned long long)ste[1], cd,
		    (unsigned long long)grd64(c, cd), ASID, T0SZ, c->ips,
		    (unsigned long long)grd64(c, cd + 8),
		    (unsigned long long)grd64(c, cd + 24));
		show_route(c, d, IOVA_DATA, DP(d, OLD));
		ids[n++] = g->viommu_id;
		ids[n++] = g->vdev_id;
		for (i = 0; i < 3; i++)
			ids[n++] = g->hwpt[i];
		/* An untranslated vSID must not name either device */
		EXPECT_NE(VSID, psid(&g->edu));
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			EXPECT_NE(ids[i], ids[j]);
}

/* 2. DMA through the guest's stage 1 and the host's stage 2 */

TEST_F(nested, s1_dma_edu0)
{
	struct ctx *c = &self->c;

	show_route(c, 0, IOVA_DATA, DP(0, OLD));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "guest PTE");
	show_route(c, 0, IOVA_SHARED, S2_OLD);
	expect_dma(_metadata, c, 0, IOVA_SHARED, S2_OLD, "guest PTE");
}

TEST_F(nested, s1_dma_edu1)
{
	struct ctx *c = &self->c;

	show_route(c, 1, IOVA_DATA, DP(1, OLD));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD), "guest PTE");
	show_route(c, 1, IOVA_SHARED, S2_OLD);
	expect_dma(_metadata, c, 1, IOVA_SHARED, S2_OLD, "guest PTE");
}

/*
 * Same ASID, same IOVA, both cached at once: only the VMIDs of the two
 * vIOMMUs keep the translations apart.
 */
TEST_F(nested, s1_same_asid_iova)
{
	struct ctx *c = &self->c;
	int i;

	for (i = 0; i < 4; i++)
		expect_dma(_metadata, c, i % 2, IOVA_DATA, DP(i % 2, OLD),
			   "own VMID");
}

/* An IOVA the guest did not map faults in stage 1 */
TEST_F(nested, s1_unmapped_iova)
{
	struct ctx *c = &self->c;
	uint64_t hole = IOVA_DATA + 3 * PAGE_SZ;

	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "guest PTE");
	expect_dma(_metadata, c, 0, hole, NOWHERE, "no guest PTE");
	expect_dma(_metadata, c, 1, hole, NOWHERE, "no guest PTE");
}

/* 3. Guest TLB invalidation */

TEST_F(nested, stale_without_tlbi)
{
	repoint_ptes(_metadata, &self->c);
}

TEST_F(nested, tlbi_nh_va)
{
	struct ctx *c = &self->c;

	repoint_ptes(_metadata, c);
	SEND(c, 0, "TLBI_NH_VA ASID 1 VA 0x4000000",
	     NH_VA(ASID, IOVA_DATA));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
		   "TLBI was for vIOMMU A");
	SEND(c, 1, "TLBI_NH_VA ASID 1 VA 0x4000000",
	     NH_VA(ASID, IOVA_DATA));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "after TLBI");
}

/*
 * The guest of vIOMMU B leaves junk in the VMID field: the kernel must
 * replace it, not pass it on or merge it.
 */
TEST_F(nested, tlbi_nh_asid)
{
	struct ctx *c = &self->c;

	repoint_ptes(_metadata, c);
	SEND(c, 1, "TLBI_NH_ASID 2", NH_ASID(2));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD), "other ASID");
	SEND(c, 1, "TLBI_NH_ASID 1, guest VMID field 0xbeef",
	     gcmd(OP_TLBI_NH_ASID | CMD0_VMID(0xbeef) | CMD0_ASID(ASID), 0));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "after TLBI");
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD),
		   "TLBI was for vIOMMU B");
	SEND(c, 0, "TLBI_NH_ASID 1", NH_ASID(ASID));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
}

TEST_F(nested, tlbi_nh_vaa)
{
	struct ctx *c = &self->c;

	repoint_ptes(_metadata, c);
	SEND(c, 0, "TLBI_NH_VAA VA 0x4000000", NH_VAA(IOVA_DATA));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
		   "TLBI was for vIOMMU A");
	SEND(c, 1, "TLBI_NH_VAA VA 0x4000000", NH_VAA(IOVA_DATA));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "after TLBI");
}

/* The guest's "everything" is only its own VMID's everything */
TEST_F(nested, tlbi_nsnh_all)
{
	struct ctx *c = &self->c;

	repoint_ptes(_metadata, c);
	SEND(c, 0, "TLBI_NSNH_ALL", NSNH_ALL);
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
		   "TLBI was for vIOMMU A");
	SEND(c, 1, "TLBI_NH_ALL", NH_ALL);
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "after TLBI");
}

/* 3b. Range TLB invalidation (SMMU_IDR3.RIL) */

/*
 * One TLBI_NH_VA for 4 pages of 4K (TG 4K, NUM 3, SCALE 0, TTL 3: level-3
 * entries): all 4 fresh, the fifth, just past the range, still stale. Were
 * NUM or TG lost on the way (a TLBI of one page), r1-r3 would stay stale;
 * were the range widened (to the whole ASID, say), r4 would be fresh.
 */
TEST_F(nested, tlbi_nh_va_range)
{
	struct ctx *c = &self->c;

	NEED_RIL(c);
	repoint_range(_metadata, c, 0);
	SEND(c, 0, "TLBI_NH_VA ASID 1 VA 0x4010000 TG 4K NUM 3 SCALE 0 TTL 3 (4 pages)",
	     NH_VA_RNG(ASID, RNG_IOVA(0), 3, 0, 3));
	expect_range(_metadata, c, 0, 0, 4);
}

/*
 * TLBI_NH_VAA (any ASID) with a scale, on vIOMMU B: (NUM 1 + 1) << SCALE 1
 * = 4 pages. Without SCALE, or without NUM, it would cover 2 pages (r2 and
 * r3 stale), without TG one.
 */
TEST_F(nested, tlbi_nh_vaa_range_scale)
{
	struct ctx *c = &self->c;

	NEED_RIL(c);
	repoint_range(_metadata, c, 1);
	SEND(c, 1, "TLBI_NH_VAA VA 0x4010000 TG 4K NUM 1 SCALE 1 TTL 3 (4 pages)",
	     NH_VAA_RNG(RNG_IOVA(0), 1, 1, 3));
	expect_range(_metadata, c, 1, 0, 4);
}

/*
 * A range from the second page, of two pages, with no level hint (TTL 0):
 * r1 and r2 fresh; r0 before it and r3, r4 after it stale. The start
 * address counts as much as the length.
 */
TEST_F(nested, tlbi_nh_va_range_partial)
{
	struct ctx *c = &self->c;

	NEED_RIL(c);
	repoint_range(_metadata, c, 0);
	SEND(c, 0, "TLBI_NH_VA ASID 1 VA 0x4011000 TG 4K NUM 1 SCALE 0 TTL 0 (2 pages)",
	     NH_VA_RNG(ASID, RNG_IOVA(1), 1, 0, 0));
	expect_range(_metadata, c, 0, 1, 2);
}

/*
 * A range of one page with a level hint (TG 4K, NUM 0, SCALE 0, TTL 3)
 * does what the plain single-page TLBI_NH_VA and TLBI_NH_VAA do, each on
 * its own vIOMMU.
 */
TEST_F(nested, tlbi_nh_va_ttl)
{
	struct ctx *c = &self->c;

	NEED_RIL(c);
	repoint_ptes(_metadata, c);
	SEND(c, 0, "TLBI_NH_VA ASID 1 VA 0x4000000 TG 4K NUM 0 SCALE 0 TTL 3",
	     NH_VA_RNG(ASID, IOVA_DATA, 0, 0, 3));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
		   "TLBI was for vIOMMU A");
	SEND(c, 1, "TLBI_NH_VAA VA 0x4000000 TG 4K NUM 0 SCALE 0 TTL 3",
	     NH_VAA_RNG(IOVA_DATA, 0, 0, 3));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "after TLBI");
}

/* 4. Guest CD changes */

/* ...and a CFGI_CD alone does not drop the TLB's old walk either */
TEST_F(nested, cfgi_cd_needed)
{
	struct ctx *c = &self->c;
	int d;

	switch_cds(_metadata, c);
	for (d = 0; d < 2; d++) {
		SEND(c, d, "CFGI_CD vSID 0x20 SSID 0 (no TLBI)", CFGI_CD(VSID));
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "old walk still in the TLB");
		SEND(c, d, "TLBI_NH_ASID 1", NH_ASID(ASID));
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, CD2), "new CD");
	}
}

/* CFGI_CD vSID 0x20 on vIOMMU A is edu0's, not edu1's vSID 0x20 on B */
TEST_F(nested, cfgi_cd_edu0)
{
	struct ctx *c = &self->c;

	switch_cds(_metadata, c);
	SEND(c, 0, "CFGI_CD vSID 0x20 SSID 0 + TLBI_NH_ASID 1",
	     CFGI_CD(VSID), NH_ASID(ASID));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, CD2), "new CD");
	SEND(c, 1, "TLBI_NH_ASID 1", NH_ASID(ASID));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
		   "CFGI_CD was for vIOMMU A");
}

TEST_F(nested, cfgi_cd_all_edu1)
{
	struct ctx *c = &self->c;

	switch_cds(_metadata, c);
	SEND(c, 1, "CFGI_CD_ALL vSID 0x20 + TLBI_NH_ASID 1",
	     CFGI_CD_ALL(VSID), NH_ASID(ASID));
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, CD2), "new CD");
	SEND(c, 0, "TLBI_NH_ASID 1", NH_ASID(ASID));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD),
		   "CFGI_CD_ALL was for vIOMMU B");
}

/* 5. Stage-2 changes reach every vIOMMU, without guest commands */

TEST_F(nested, s2_unmap)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_SHARED, S2_OLD, "cached now");
	ASSERT_EQ(0, ioas_unmap(c->iommufd, c->ioas_id, IPA(GP_SHARED),
				PAGE_SZ));
	say("VMM: IOMMU_IOAS_UNMAP IPA %#llx (%s)", IPA(GP_SHARED),
	    page_name[S2_OLD]);
	for (d = 0; d < 2; d++) {
		expect_dma(_metadata, c, d, IOVA_SHARED, NOWHERE,
			   "IPA unmapped");
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "rest of stage 2");
	}
}

TEST_F(nested, s2_remap)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_SHARED, S2_OLD, "cached now");
	ASSERT_EQ(0, ioas_unmap(c->iommufd, c->ioas_id, IPA(GP_SHARED),
				PAGE_SZ));
	ASSERT_EQ(0, ioas_map(c->iommufd, c->ioas_id, c->alt, PAGE_SZ,
			      IPA(GP_SHARED)));
	say("VMM: IOMMU_IOAS_UNMAP IPA %#llx (PA %#llx), IOMMU_IOAS_MAP there another host page (PA %#llx); no guest command",
	    IPA(GP_SHARED), host_pa(c->pg[S2_OLD]), host_pa(c->alt));
	for (d = 0; d < 2; d++) {
		show_route(c, d, IOVA_SHARED, S2_NEW);
		expect_dma(_metadata, c, d, IOVA_SHARED, S2_NEW, "new S2 page");
	}
}

/* 6. Switching the vSTE by replacing the nested HWPT */

TEST_F(nested, vste_bypass)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++) {
		uint64_t new_ipa = IPA(GP_DATA(d, NEW));

		ASSERT_EQ(0, attach(c, d, VSTE_BYPASS));
		say("VMM: edu%d -> nested HWPT %u (vSTE Cfg=bypass: stage 2 only)",
		    d, c->d[d].hwpt[VSTE_BYPASS]);
		expect_dma(_metadata, c, d, new_ipa, DP(d, NEW), "IPA");
		expect_dma(_metadata, c, d, IPA(GP_SHARED), S2_OLD, "IPA");
		expect_dma(_metadata, c, d, IOVA_DATA, NOWHERE,
			   "no such IPA");
		/* The other device, on its own vIOMMU, still on stage 1 */
		if (!d)
			expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD),
				   "still S1");
	}
}

TEST_F(nested, vste_abort)
{
	struct ctx *c = &self->c;

	check_abort(_metadata, c, 0);
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD), "unaffected");
	check_abort(_metadata, c, 1);
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "S1 again");
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD), "S1 again");
}

/* S1 -> bypass -> abort -> S1, each a replace of the attached HWPT */
TEST_F(nested, vste_cycle)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++) {
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
		ASSERT_EQ(0, attach(c, d, VSTE_BYPASS));
		say("VMM: edu%d -> nested HWPT %u (vSTE Cfg=bypass)", d,
		    c->d[d].hwpt[VSTE_BYPASS]);
		expect_dma(_metadata, c, d, IPA(GP_DATA(d, OLD)), DP(d, OLD),
			   "IPA");
		expect_dma(_metadata, c, d, IOVA_DATA, NOWHERE, "no S1");
		check_abort(_metadata, c, d);
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1 again");
	}
}

/* 6. The guest's faults go to the VMM */

struct vevent_rec {
	struct iommufd_vevent_header hdr;
	struct iommu_vevent_arm_smmuv3 evt;
};

/*
 * With a vEVENTQ on its vIOMMU, a stage-1 fault of the guest's is the VMM's
 * to forward: the record names the guest's virtual StreamID, and what the
 * queue cannot hold is lost and reported so. Each faulting edu DMA makes
 * many events (QEMU records one per access), so a queue of one record
 * overflows. The loss shows as a lost-events header while it is the last
 * thing queued, or, once a later event took its place (as soon as a read
 * freed the slot), as a gap in the sequence numbers; which one a read sees
 * depends on when the events arrive.
 */
TEST_F(nested, veventq_s1_fault)
{
	struct ctx *c = &self->c;
	struct gdev *g = &c->d[0];
	uint64_t hole = IOVA_DATA + 3 * PAGE_SZ;
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = g->viommu_id,
		.type = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
		.veventq_depth = 1,
	};
	char buf[16 * sizeof(struct vevent_rec)];
	unsigned int nr = 0, lost = 0, gaps = 0;
	struct pollfd pfd = { .events = POLLIN };
	uint32_t seq = 0;
	uint64_t evt0 = 0;
	bool first = true;
	ssize_t n, off;

	ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_VEVENTQ_ALLOC, &cmd));
	say("VMM: vEVENTQ %u (fd %u, depth 1) on vIOMMU %c", cmd.out_veventq_id,
	    cmd.out_veventq_fd, g->vname);
	expect_dma(_metadata, c, 0, hole, NOWHERE, "no guest PTE");

	pfd.fd = cmd.out_veventq_fd;
	ASSERT_EQ(1, poll(&pfd, 1, 2000));
	usleep(200000);		/* the rest of the events, if any */
	/* Everything there is, until the queue is empty */
	while ((n = read(cmd.out_veventq_fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n;) {
			struct vevent_rec *r = (void *)(buf + off);

			ASSERT_LE(off + (ssize_t)sizeof(r->hdr), n);
			/* Every event takes a sequence number, lost or not */
			if (!first && r->hdr.sequence != seq + 1)
				gaps++;
			first = false;
			seq = r->hdr.sequence;
			if (r->hdr.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
				lost++;
				off += sizeof(r->hdr);
				continue;
			}
			ASSERT_EQ(0, r->hdr.flags);
			ASSERT_LE(off + (ssize_t)sizeof(*r), n);
			evt0 = le64toh(r->evt.evt[0]);
			/* F_TRANSLATION, of the vSID the guest knows it by */
			EXPECT_EQ(0x10, evt0 & 0xff);
			EXPECT_EQ(VSID, evt0 >> 32);
			nr++;
			off += sizeof(*r);
		}
	}
	ASSERT_EQ(-1, n);
	ASSERT_EQ(EAGAIN, errno);
	say("  vEVENTQ: %u record(s), event %#llx of SID %#llx (pSID %#x); loss seen as %u lost-events header(s) and %u sequence gap(s)",
	    nr, (unsigned long long)(evt0 & 0xff),
	    (unsigned long long)(evt0 >> 32), psid(&g->edu), lost, gaps);
	EXPECT_LE(1, nr);
	/* Some of the events could not be queued, and the VMM can tell */
	EXPECT_LE(1, lost + gaps);

	/* The device still works */
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "guest PTE");
	EXPECT_EQ(0, close(cmd.out_veventq_fd));
	EXPECT_EQ(0, obj_destroy(c->iommufd, cmd.out_veventq_id));
}

/* A vEVENTQ of depth 64 on a vIOMMU */
static void veventq_open(struct __test_metadata *_metadata, struct ctx *c,
			 uint32_t viommu_id, uint32_t *id, int *fd)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.type = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
		.veventq_depth = 64,
	};

	ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_VEVENTQ_ALLOC, &cmd));
	*id = cmd.out_veventq_id;
	*fd = cmd.out_veventq_fd;
}

/* Read a vEVENTQ empty: how many records, each of vSID vsid */
static unsigned int veventq_drain(struct __test_metadata *_metadata, int fd,
				  uint32_t vsid)
{
	char buf[16 * sizeof(struct vevent_rec)];
	unsigned int nr = 0;
	ssize_t n, off;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off + (ssize_t)sizeof(struct vevent_rec) <= n ||
			      off + (ssize_t)sizeof(struct iommufd_vevent_header) == n;) {
			struct vevent_rec *r = (void *)(buf + off);
			uint64_t evt0;

			/* QEMU records a fault per access: more than 64 */
			if (r->hdr.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
				off += sizeof(r->hdr);
				continue;
			}
			EXPECT_EQ(0, r->hdr.flags);
			evt0 = le64toh(r->evt.evt[0]);
			EXPECT_EQ(0x10, evt0 & 0xff);
			EXPECT_EQ(vsid, evt0 >> 32);
			nr++;
			off += sizeof(*r);
		}
		EXPECT_EQ(n, off);
	}
	EXPECT_EQ(-1, n);
	EXPECT_EQ(EAGAIN, errno);
	return nr;
}

/*
 * A device moves from one VM's vIOMMU to the other's, with another vSID:
 * its faults then reach only the new owner's vEVENTQ, with the new vSID.
 * The SMMU driver records the owner and vSID when the device is attached;
 * nothing is looked up per event.
 */
TEST_F(nested, veventq_device_move)
{
	struct ctx *c = &self->c;
	struct gdev *a = &c->d[0], *b = &c->d[1];
	uint64_t hole = IOVA_DATA + 3 * PAGE_SZ;
	struct pollfd pfd = { .events = POLLIN };
	uint32_t qa, qb, vdev, hwpt;
	uint64_t ste[2];
	int fda, fdb;

	veventq_open(_metadata, c, a->viommu_id, &qa, &fda);
	veventq_open(_metadata, c, b->viommu_id, &qb, &fdb);
	expect_dma(_metadata, c, 0, hole, NOWHERE, "no guest PTE");
	pfd.fd = fda;
	ASSERT_EQ(1, poll(&pfd, 1, 2000));
	usleep(200000);		/* the rest of the events, if any */
	EXPECT_LE(1, veventq_drain(_metadata, fda, VSID));
	EXPECT_EQ(0, veventq_drain(_metadata, fdb, VSID));

	/* Through the stage 2 alone, then into vIOMMU B as vSID VSID_MOVED */
	ASSERT_EQ(0, dev_attach(&a->edu, c->parent_id));
	ASSERT_EQ(0, obj_destroy(c->iommufd, a->vdev_id));
	ASSERT_EQ(0, vdevice_alloc(c->iommufd, b->viommu_id, a->edu.dev_id,
				   VSID_MOVED, &vdev));
	vste_words(VSTE_S1, IPA(GP_CD(0)), ste);
	ASSERT_EQ(0, nested_alloc(c->iommufd, b->viommu_id, a->edu.dev_id,
				  ste[0], ste[1], &hwpt));
	ASSERT_EQ(0, dev_attach(&a->edu, hwpt));
	say("VMM: edu0 moved to vIOMMU B (%u): vDEVICE %u vSID %#x, nested HWPT %u",
	    b->viommu_id, vdev, VSID_MOVED, hwpt);
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "same tables");
	expect_dma(_metadata, c, 0, hole, NOWHERE, "no guest PTE");
	pfd.fd = fdb;
	ASSERT_EQ(1, poll(&pfd, 1, 2000));
	usleep(200000);
	EXPECT_LE(1, veventq_drain(_metadata, fdb, VSID_MOVED));
	EXPECT_EQ(0, veventq_drain(_metadata, fda, VSID));

	EXPECT_EQ(0, close(fda));
	EXPECT_EQ(0, close(fdb));
	EXPECT_EQ(0, obj_destroy(c->iommufd, qa));
	EXPECT_EQ(0, obj_destroy(c->iommufd, qb));
}


/* 7. Teardown */

/* One vIOMMU goes away; the other, on the same parent, keeps working */
TEST_F(nested, teardown_one_viommu)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
	destroy_viommu(_metadata, c, 1);
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "unaffected");
	guest_pte(c, 0, 0, IOVA_DATA, IPA(GP_DATA(0, NEW)));
	say("guest A: PTE of IOVA %#llx -> %s", IOVA_DATA,
	    page_name[DP(0, NEW)]);
	SEND(c, 0, "TLBI_NH_VA ASID 1 VA 0x4000000",
	     NH_VA(ASID, IOVA_DATA));
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, NEW), "after TLBI");
}

/*
 * A new vIOMMU must not find the old one's translations, though it gets
 * its VMID back (the lowest free one): the guest "reboots" with a changed
 * PTE and sends no TLBI.
 */
TEST_F(nested, viommu_realloc)
{
	struct ctx *c = &self->c;
	struct gdev *g = &c->d[1];
	uint64_t ste[2];
	int v;

	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, OLD), "cached now");
	destroy_viommu(_metadata, c, 1);
	guest_pte(c, 1, 0, IOVA_DATA, IPA(GP_DATA(1, NEW)));
	say("guest B: PTE of IOVA %#llx -> %s, no invalidation", IOVA_DATA,
	    page_name[DP(1, NEW)]);

	ASSERT_EQ(0, viommu_alloc(c->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  g->edu.dev_id, c->parent_id, &g->viommu_id));
	ASSERT_EQ(0, vdevice_alloc(c->iommufd, g->viommu_id, g->edu.dev_id,
				   VSID, &g->vdev_id));
	for (v = VSTE_S1; v <= VSTE_ABORT; v++) {
		vste_words(v, IPA(GP_CD(1)), ste);
		ASSERT_EQ(0, nested_alloc(c->iommufd, g->viommu_id,
					  g->edu.dev_id, ste[0], ste[1],
					  &g->hwpt[v]));
	}
	ASSERT_EQ(0, attach(c, 1, VSTE_S1));
	say("VMM: new vIOMMU B %u, vDEVICE %u vSID %#x, nested HWPT %u attached",
	    g->viommu_id, g->vdev_id, VSID, g->hwpt[VSTE_S1]);
	expect_dma(_metadata, c, 1, IOVA_DATA, DP(1, NEW), "fresh TLB");
	expect_dma(_metadata, c, 0, IOVA_DATA, DP(0, OLD), "unaffected");
}

TEST_F(nested, teardown_in_order)
{
	struct ctx *c = &self->c;
	int fd = c->iommufd, d, v;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
	/* In use, so refused */
	EXPECT_EQ(-EBUSY, obj_destroy(fd, c->d[0].hwpt[VSTE_S1]));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, c->d[0].viommu_id));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, c->parent_id));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, c->ioas_id));

	for (d = 0; d < 2; d++)
		ASSERT_EQ(0, dev_detach(&c->d[d].edu));
	for (d = 0; d < 2; d++)
		for (v = VSTE_S1; v <= VSTE_ABORT; v++)
			EXPECT_EQ(0, obj_destroy(fd, c->d[d].hwpt[v]));
	for (d = 0; d < 2; d++)
		EXPECT_EQ(0, obj_destroy(fd, c->d[d].vdev_id));
	for (d = 0; d < 2; d++)
		EXPECT_EQ(0, obj_destroy(fd, c->d[d].viommu_id));
	EXPECT_EQ(0, obj_destroy(fd, c->parent_id));
	EXPECT_EQ(0, obj_destroy(fd, c->ioas_id));
	EXPECT_EQ(-ENOENT, obj_destroy(fd, c->d[0].viommu_id));
	say("VMM: detached both, destroyed nested HWPTs, vDEVICEs, vIOMMUs, parent, IOAS");
}

/* vDEVICEs first, devices still attached: only the vSIDs go */
TEST_F(nested, teardown_vdevices_first)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	struct ctx *c = &self->c;
	int fd = c->iommufd, d, v;
	uint32_t num;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
	for (d = 0; d < 2; d++)
		ASSERT_EQ(0, obj_destroy(fd, c->d[d].vdev_id));
	say("VMM: vDEVICEs %u and %u destroyed, devices still attached",
	    c->d[0].vdev_id, c->d[1].vdev_id);
	for (d = 0; d < 2; d++) {
		cmd = CFGI_CD_ALL(VSID);
		num = 1;
		EXPECT_EQ(-EIO, viommu_cmds(fd, c->d[d].viommu_id, &cmd,
					    &num));
		EXPECT_EQ(0, num);
		say("VMM: CFGI_CD_ALL vSID 0x20 on vIOMMU %c: EIO, no such vSID now",
		    c->d[d].vname);
		SEND(c, d, "TLBI_NH_ASID 1", NH_ASID(ASID));
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD),
			   "nested HWPT still attached");
	}
	for (d = 0; d < 2; d++)
		ASSERT_EQ(0, dev_detach(&c->d[d].edu));
	for (d = 0; d < 2; d++)
		for (v = VSTE_S1; v <= VSTE_ABORT; v++)
			EXPECT_EQ(0, obj_destroy(fd, c->d[d].hwpt[v]));
	for (d = 0; d < 2; d++)
		EXPECT_EQ(0, obj_destroy(fd, c->d[d].viommu_id));
	EXPECT_EQ(0, obj_destroy(fd, c->parent_id));
	EXPECT_EQ(0, obj_destroy(fd, c->ioas_id));
}

/* Everything alive and in use; the device fds go first, then iommufd */
TEST_F(nested, teardown_close_devices_first)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
	for (d = 0; d < 2; d++)
		edu_close(&c->d[d].edu);
	/* Unbinding took the vDEVICEs along */
	for (d = 0; d < 2; d++)
		EXPECT_EQ(-ENOENT, obj_destroy(c->iommufd, c->d[d].vdev_id));
	EXPECT_EQ(0, close(c->iommufd));
	c->iommufd = -1;
	say("closed both device fds, then the iommufd");
}

/* ...and the iommufd first, the devices still bound and attached */
TEST_F(nested, teardown_close_iommufd_first)
{
	struct ctx *c = &self->c;
	int d;

	for (d = 0; d < 2; d++)
		expect_dma(_metadata, c, d, IOVA_DATA, DP(d, OLD), "S1");
	EXPECT_EQ(0, close(c->iommufd));
	c->iommufd = -1;
	for (d = 0; d < 2; d++)
		edu_close(&c->d[d].edu);
	say("closed the iommufd, then both device fds");
}

TEST_HARNESS_MAIN
