// SPDX-License-Identifier: GPL-2.0
/*
 * Device MSIs through every kind of iommufd domain on QEMU's SMMUv3, with
 * edu devices bound to vfio-pci (cdev) and their one MSI vector signalling
 * an eventfd (VFIO_DEVICE_SET_IRQS). An MSI is a DMA write of the device
 * to the GIC ITS doorbell, so it is translated like any DMA: the kernel
 * maps the doorbell into the stage 2 at the software MSI window
 * (IOMMU_RESV_SW_MSI, from the group's reserved_regions) and programs the
 * device with that IOVA. This program checks that:
 *
 *  - MSIs arrive on a paging domain (IOAS or paging HWPT) and on a
 *    nesting parent, and on nested HWPTs of a vIOMMU: with a bypass vSTE
 *    (stage 2 alone) and with a guest stage 1 that identity-maps the MSI
 *    window (as QEMU's IORT RMR makes real guests do);
 *  - they keep arriving across replacements between paging, parent and
 *    nested HWPTs in any order, whether MSI was enabled before or after;
 *  - two devices on two vIOMMUs sharing one parent each get their own
 *    interrupt, and only theirs;
 *  - a disabled MSI no longer signals, and enabling it again works;
 *  - the SMMU reports no event (such as F_TRANSLATION, 0x10, at the
 *    doorbell's address) in any of these: each case reads the kernel log
 *    written during it, in its teardown.
 *
 * Every raised interrupt is acknowledged (EDU_REG_IRQ_ACK); a missing one
 * fails after MSI_WAIT_MS, naming the case, the step and the MSI message
 * the host programmed into the device.
 */
#include <endian.h>

#include "nest.h"
#include "kselftest_harness.h"

/* See smmu_nested.c: only skipped teardowns, which exit does anyway */
#pragma GCC diagnostic ignored "-Wclobbered"

#define MSI_WAIT_MS	1000	/* for an interrupt that must come */
#define NO_MSI_WAIT_MS	500	/* for one that must not */
#define OTHER_WAIT_MS	100	/* for the other device's, after ours came */
#define IRQ_BIT(d)	(1U << (d))	/* what edu d raises */

/* Guest RAM: RAM_SIZE bytes at IPA RAM_IPA, in 4K guest pages */
#define RAM_IPA		0x100000ULL
#define RAM_SIZE	(1UL << 20)
#define IPA(gp)		(RAM_IPA + (uint64_t)(gp) * PAGE_SZ)
#define GP_CD(d)	(d)			/* CD table of device d */
#define GP_DATA(d, k)	(2 + (d) * 2 + (k))	/* DMA source, target */
#define GP_POOL		8			/* page tables from here */

/* The guests' stage-1 IOVA of their data pages: not an IPA of the VM */
#define IOVA_DATA	0x4000000ULL

#define VSID		0x20	/* both devices, each on its own vIOMMU */
#define ASID		1
/* Indexes into CD3_MAIR0 (smmu_guest.h), and a descriptor's valid bit */
#define ATTR_NORMAL	0
#define ATTR_DEVICE	2
#define PTE_VALID	1ULL

#define IDR5_OAS(r)	((r) & 7)

/* What a device can be attached to */
enum pt { PT_NONE, PT_IOAS, PT_PAGING, PT_PARENT, PT_BYPASS, PT_S1 };
static const char *const pt_name[] = {
	"nothing", "the IOAS (auto domain)", "a paging HWPT",
	"the nest-parent HWPT", "its nested bypass HWPT",
	"its nested stage-1 HWPT",
};

struct mdev {
	struct edu edu;
	int efd;		/* eventfd its MSI signals */
	bool msi;		/* MSI enabled */
	enum pt on;		/* attached to */
	uint32_t viommu_id;
	uint32_t vdev_id;
	uint32_t bypass_id;	/* nested HWPTs on its vIOMMU */
	uint32_t s1_id;
	uint64_t l1;		/* IPA of its guest's stage-1 root table */
};

struct ctx {
	int iommufd;
	int kmsg;		/* the kernel log since this case began */
	uint8_t *ram;
	unsigned int gp_next;	/* next free guest page for tables */
	unsigned int ips;
	uint64_t msi_start;	/* the SW MSI window: IOVA, size */
	uint64_t msi_len;
	uint32_t ioas_id;
	uint32_t paging_id;	/* HWPT_PAGING, no flags */
	uint32_t parent_id;	/* HWPT_PAGING, NEST_PARENT */
	struct mdev d[2];
};

#define say(fmt, ...)	fprintf(stderr, "#   " fmt "\n", ##__VA_ARGS__)

/* The guest */

static uint8_t *gva(struct ctx *c, uint64_t ipa)
{
	return c->ram + (ipa - RAM_IPA);
}

static void gwr64(struct ctx *c, uint64_t ipa, uint64_t val)
{
	*(uint64_t *)gva(c, ipa) = htole64(val);
}

static uint64_t grd64(struct ctx *c, uint64_t ipa)
{
	return le64toh(*(uint64_t *)gva(c, ipa));
}

/* The next-level table at index idx of table tbl, made if missing; 0: full */
static uint64_t guest_table(struct ctx *c, uint64_t tbl, unsigned int idx)
{
	uint64_t pte = grd64(c, tbl + 8 * idx), ipa;

	if (pte & PTE_VALID)
		return PTE_ADDR(pte);
	if (c->gp_next >= RAM_SIZE / PAGE_SZ)
		return 0;
	ipa = IPA(c->gp_next++);
	memset(gva(c, ipa), 0, PAGE_SZ);
	gwr64(c, tbl + 8 * idx, PTE_ADDR(ipa) | PTE_TABLE);
	return ipa;
}

/* Guest stage 1 of device d: IOVA iova -> IPA ipa, one 4K page */
static int guest_map(struct ctx *c, int d, uint64_t iova, uint64_t ipa,
		     unsigned int attr)
{
	uint64_t l2 = guest_table(c, c->d[d].l1, L1_IDX(iova)), l3;

	l3 = l2 ? guest_table(c, l2, L2_IDX(iova)) : 0;
	if (!l3)
		return -ENOMEM;
	gwr64(c, l3 + 8 * L3_IDX(iova), s1_pte_page(ipa, attr));
	return 0;
}

/*
 * Device d's guest: a CD (ASID 1, TTB0 -> its tables) whose stage 1 maps
 * IOVA_DATA and the next page to its two data pages, and the whole MSI
 * window to the same IPAs (device memory), as an RMR asks.
 */
static int guest_boot(struct ctx *c, int d)
{
	uint64_t cd = IPA(GP_CD(d)), off;
	int k, rc = 0;

	c->d[d].l1 = IPA(c->gp_next++);
	memset(gva(c, c->d[d].l1), 0, PAGE_SZ);
	for (k = 0; k < 2 && !rc; k++)
		rc = guest_map(c, d, IOVA_DATA + k * PAGE_SZ,
			       IPA(GP_DATA(d, k)), ATTR_NORMAL);
	for (off = 0; off < c->msi_len && !rc; off += PAGE_SZ)
		rc = guest_map(c, d, c->msi_start + off, c->msi_start + off,
			       ATTR_DEVICE);
	if (rc)
		return rc;

	memset(gva(c, cd), 0, PAGE_SZ);
	guest_cd_write(gva(c, cd), c->d[d].l1, c->ips, ASID);
	return 0;
}

/* The VMM */

/* The group's IOMMU_RESV_SW_MSI window ("msi" in reserved_regions) */
static int sw_msi_window(struct edu *e, uint64_t *start, uint64_t *len)
{
	unsigned long long s, end;
	char path[512], type[32];
	int found = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/bus/pci/devices/%s/iommu_group/reserved_regions",
		 e->bdf);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fscanf(f, "%llx %llx %31s", &s, &end, type) == 3) {
		if (strcmp(type, "msi"))
			continue;
		*start = s;
		*len = end - s + 1;
		found = 0;
	}
	fclose(f);
	return found;
}

static void ctx_setup(struct __test_metadata *_metadata, struct ctx *c)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hw_info_arm_smmuv3 hw = {};
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.data_len = sizeof(hw),
		.data_uptr = (uintptr_t)&hw,
	};
	uint64_t start, len, ste[2];
	int fd, d;

	memset(c, 0, sizeof(*c));
	c->iommufd = c->kmsg = -1;
	for (d = 0; d < 2; d++)
		c->d[d].edu.fd = c->d[d].efd = -1;

	/* First, so that the log covers everything the case does */
	c->kmsg = kmsg_open_at_end();
	ASSERT_LE(0, c->kmsg);

	c->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->ram);
	c->iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, c->iommufd);
	fd = c->iommufd;
	ASSERT_EQ(0, ioctl(fd, IOMMU_IOAS_ALLOC, &ioas));
	c->ioas_id = ioas.out_ioas_id;
	ASSERT_EQ(0, ioas_map(fd, c->ioas_id, c->ram, RAM_SIZE, RAM_IPA));
	for (d = 0; d < 2; d++) {
		ASSERT_EQ(0, edu_open(&c->d[d].edu, d, fd));
		c->d[d].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_LE(0, c->d[d].efd);
	}

	/* Where the kernel puts MSI doorbells, and the guest must map */
	ASSERT_EQ(0, sw_msi_window(&c->d[0].edu, &c->msi_start,
				   &c->msi_len));
	ASSERT_EQ(0, sw_msi_window(&c->d[1].edu, &start, &len));
	ASSERT_EQ(c->msi_start, start);
	ASSERT_EQ(c->msi_len, len);
	/* One level-3 table of the guest covers it (and no RAM is there) */
	ASSERT_EQ(0, c->msi_start % PAGE_SZ);
	ASSERT_EQ(0, c->msi_len % PAGE_SZ);
	ASSERT_EQ(c->msi_start >> 21, (c->msi_start + c->msi_len - 1) >> 21);
	ASSERT_TRUE(c->msi_start >= RAM_IPA + RAM_SIZE ||
		    c->msi_start + c->msi_len <= RAM_IPA);

	info.dev_id = c->d[0].edu.dev_id;
	ASSERT_EQ(0, ioctl(fd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, info.out_data_type);
	c->ips = IDR5_OAS(hw.idr[5]) > 5 ? 5 : IDR5_OAS(hw.idr[5]);

	ASSERT_EQ(0, hwpt_alloc(fd, 0, c->d[0].edu.dev_id, c->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &c->paging_id));
	ASSERT_EQ(0, hwpt_alloc(fd, IOMMU_HWPT_ALLOC_NEST_PARENT,
				c->d[0].edu.dev_id, c->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &c->parent_id));

	c->gp_next = GP_POOL;
	for (d = 0; d < 2; d++) {
		struct mdev *m = &c->d[d];

		ASSERT_EQ(0, viommu_alloc(fd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
					  m->edu.dev_id, c->parent_id,
					  &m->viommu_id));
		ASSERT_EQ(0, vdevice_alloc(fd, m->viommu_id, m->edu.dev_id,
					   VSID, &m->vdev_id));
		ASSERT_EQ(0, guest_boot(c, d));
		ASSERT_EQ(0, nested_alloc(fd, m->viommu_id, m->edu.dev_id,
					  STE0_V | STE0_CFG(CFG_BYPASS), 0,
					  &m->bypass_id));
		vste_words(VSTE_S1, IPA(GP_CD(d)), ste);
		ASSERT_EQ(0, nested_alloc(fd, m->viommu_id, m->edu.dev_id,
					  ste[0], ste[1], &m->s1_id));
	}
}

/* Sleep ms milliseconds */
static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Case 9, for every case: the arm-smmu-v3 driver logged no event since the
 * case began. Its event thread runs after the fault, hence the wait. This
 * runs in the teardown, so also after a failed ASSERT, which leaves the
 * harness's handler trigger set: hence no ASSERT and no handler blocks.
 */
static void check_smmu_log(struct __test_metadata *_metadata, struct ctx *c)
{
	char lines[4096], *line, *save;
	int n;

	msleep(200);
	n = smmu_events(c->kmsg, lines, sizeof(lines));
	if (n < 0)
		TH_LOG("reading /dev/kmsg: %s", strerror(-n));
	EXPECT_LE(0, n);
	if (n <= 0)
		return;
	for (line = strtok_r(lines, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		say("kernel: %s", line);
	TH_LOG("the SMMU reported %d event(s) during this case (above), expected none. Word 0: type (0x10 F_TRANSLATION) and StreamID (bits 63:32); word 2: the input address, the doorbell's PA for an MSI sent without an MSI mapping",
	       n);
	EXPECT_EQ(0, n);
}

static void ctx_teardown(struct __test_metadata *_metadata, struct ctx *c)
{
	int d;

	for (d = 0; d < 2; d++) {
		struct mdev *m = &c->d[d];

		if (m->edu.fd >= 0 && m->msi)
			edu_msi_disable(&m->edu);
		if (m->edu.bar0)
			edu_ack_irq(&m->edu, ~0U);
		edu_close(&m->edu);
		if (m->efd >= 0)
			close(m->efd);
		m->efd = -1;
	}
	if (c->iommufd >= 0)
		close(c->iommufd);
	c->iommufd = -1;
	if (c->ram && c->ram != MAP_FAILED)
		munmap(c->ram, RAM_SIZE);
	c->ram = NULL;
	if (c->kmsg >= 0) {
		check_smmu_log(_metadata, c);
		close(c->kmsg);
	}
	c->kmsg = -1;
}

static uint32_t pt_id(struct ctx *c, int d, enum pt pt)
{
	switch (pt) {
	case PT_IOAS:
		return c->ioas_id;
	case PT_PAGING:
		return c->paging_id;
	case PT_PARENT:
		return c->parent_id;
	case PT_BYPASS:
		return c->d[d].bypass_id;
	case PT_S1:
		return c->d[d].s1_id;
	default:
		return 0;
	}
}

/* Attach, or replace with, pt */
static void attach(struct __test_metadata *_metadata, struct ctx *c, int d,
		   enum pt pt)
{
	struct mdev *m = &c->d[d];

	ASSERT_EQ(0, dev_attach(&m->edu, pt_id(c, d, pt))) {
		TH_LOG("edu%d: attaching %s (%u) failed", d, pt_name[pt],
		       pt_id(c, d, pt));
	}
	say("edu%d: %s %s %u%s", d, m->on ? "replaced with" : "attached to",
	    pt_name[pt], pt_id(c, d, pt), m->msi ? ", MSI enabled" : "");
	m->on = pt;
}

static void show_msi_msg(struct ctx *c, int d, const char *what)
{
	uint64_t addr = 0;
	uint32_t data = 0;
	int rc = edu_msi_msg(&c->d[d].edu, &addr, &data);

	if (rc < 0)
		say("edu%d: %s; MSI message unreadable: %s", d, what,
		    strerror(-rc));
	else
		say("edu%d: %s; MSI %s, address %#llx data %#x", d, what,
		    rc ? "on" : "off", (unsigned long long)addr, data);
}

static void msi_enable(struct __test_metadata *_metadata, struct ctx *c,
		       int d)
{
	struct mdev *m = &c->d[d];
	uint64_t addr;
	uint32_t data;

	ASSERT_EQ(0, edu_msi_enable(&m->edu, m->efd)) {
		TH_LOG("edu%d: VFIO_DEVICE_SET_IRQS (MSI, eventfd) failed on %s",
		       d, pt_name[m->on]);
	}
	m->msi = true;
	show_msi_msg(c, d, "MSI enabled");
	ASSERT_EQ(1, edu_msi_msg(&m->edu, &addr, &data)) {
		TH_LOG("edu%d: MSI not enabled in its config space", d);
	}
}

static void msi_disable(struct __test_metadata *_metadata, struct ctx *c,
			int d)
{
	struct mdev *m = &c->d[d];

	ASSERT_EQ(0, edu_msi_disable(&m->edu));
	m->msi = false;
	show_msi_msg(c, d, "MSI disabled");
}

/* Raise edu d's interrupt and clear it again; its status, read between */
static void raise_and_ack(struct __test_metadata *_metadata, struct ctx *c,
			  int d, const char *step)
{
	struct edu *e = &c->d[d].edu;
	uint32_t status;

	/* Nothing may be pending from before */
	ASSERT_EQ(0, edu_irq_status(e));
	edu_raise_irq(e, IRQ_BIT(d));
	status = edu_irq_status(e);
	edu_ack_irq(e, IRQ_BIT(d));
	ASSERT_EQ(IRQ_BIT(d), status) {
		TH_LOG("%s: edu%d did not take the raise (status %#x)", step,
		       d, status);
	}
	ASSERT_EQ(0, edu_irq_status(e)) {
		TH_LOG("%s: edu%d did not take the ack", step, d);
	}
}

/*
 * The MSI of edu d must reach its eventfd within MSI_WAIT_MS, and not the
 * other device's (if that one has MSI on).
 */
static void expect_msi(struct __test_metadata *_metadata, struct ctx *c,
		       int d, const char *step)
{
	struct mdev *m = &c->d[d], *o = &c->d[!d];
	uint64_t addr = 0;
	uint32_t data = 0;
	int n, on;

	ASSERT_LE(0, eventfd_wait(m->efd, 0));
	ASSERT_LE(0, eventfd_wait(o->efd, 0));
	raise_and_ack(_metadata, c, d, step);
	n = eventfd_wait(m->efd, MSI_WAIT_MS);
	ASSERT_LE(0, n);
	if (!n) {
		on = edu_msi_msg(&m->edu, &addr, &data);
		TH_LOG("%s: edu%d on %s raised an interrupt, but no MSI reached its eventfd within %d ms; expected one. MSI %s, address %#llx data %#x; SW MSI window %#llx-%#llx",
		       step, d, pt_name[m->on], MSI_WAIT_MS,
		       on == 1 ? "on" : "off", (unsigned long long)addr, data,
		       (unsigned long long)c->msi_start,
		       (unsigned long long)(c->msi_start + c->msi_len - 1));
	}
	ASSERT_LT(0, n);
	if (o->msi) {
		n = eventfd_wait(o->efd, OTHER_WAIT_MS);
		ASSERT_EQ(0, n) {
			TH_LOG("%s: edu%d's interrupt also signalled edu%d's eventfd",
			       step, d, !d);
		}
	}
	say("edu%d on %s: interrupt raised -> MSI on its eventfd [%s]", d,
	    pt_name[m->on], step);
}

/* No MSI of edu d may reach its eventfd */
static void expect_no_msi(struct __test_metadata *_metadata, struct ctx *c,
			  int d, const char *step)
{
	struct mdev *m = &c->d[d];
	int n;

	ASSERT_LE(0, eventfd_wait(m->efd, 0));
	raise_and_ack(_metadata, c, d, step);
	n = eventfd_wait(m->efd, NO_MSI_WAIT_MS);
	ASSERT_EQ(0, n) {
		TH_LOG("%s: edu%d on %s raised an interrupt and its eventfd was signalled (%d); expected nothing",
		       step, d, pt_name[m->on], n);
	}
	say("edu%d on %s: interrupt raised -> nothing within %d ms [%s]", d,
	    pt_name[m->on], NO_MSI_WAIT_MS, step);
}

/* Page k of device d's data, through its guest's stage 1 */
static int s1_dma(struct ctx *c, int d, unsigned int k, bool to_dev)
{
	int rc;

	dma_fence();
	rc = edu_dma(&c->d[d].edu, IOVA_DATA + k * PAGE_SZ, 0, EDU_BUF_SIZE,
		     to_dev);
	dma_fence();
	return rc;
}

/* Device d copies its data page 0 to page 1 through its stage 1 */
static void expect_s1_dma(struct __test_metadata *_metadata, struct ctx *c,
			  int d, uint8_t seed)
{
	uint8_t *src = gva(c, IPA(GP_DATA(d, 0)));
	uint8_t *dst = gva(c, IPA(GP_DATA(d, 1)));
	unsigned int i;

	for (i = 0; i < PAGE_SZ; i++)
		src[i] = seed + i % 251;
	memset(dst, 0, PAGE_SZ);
	ASSERT_EQ(0, s1_dma(c, d, 0, true));
	ASSERT_EQ(0, s1_dma(c, d, 1, false));
	ASSERT_EQ(0, memcmp(src, dst, PAGE_SZ)) {
		TH_LOG("edu%d: DMA through the guest stage 1 (IOVA %#llx -> %#llx) did not copy",
		       d, IOVA_DATA, IOVA_DATA + PAGE_SZ);
	}
	say("edu%d on %s: DMA IOVA %#llx -> edu -> IOVA %#llx through the guest stage 1 (IPAs %#llx, %#llx)",
	    d, pt_name[c->d[d].on], IOVA_DATA, IOVA_DATA + PAGE_SZ,
	    IPA(GP_DATA(d, 0)), IPA(GP_DATA(d, 1)));
}

FIXTURE(msi)
{
	struct ctx c;
};

FIXTURE_SETUP(msi)
{
	ctx_setup(_metadata, &self->c);
}

FIXTURE_TEARDOWN(msi)
{
	ctx_teardown(_metadata, &self->c);
}

/* 1. Paging domains: what VFIO users always had */

TEST_F(msi, paging_ioas)
{
	struct ctx *c = &self->c;

	say("SW MSI window %#llx-%#llx; IOAS %u, paging HWPT %u, parent HWPT %u",
	    (unsigned long long)c->msi_start,
	    (unsigned long long)(c->msi_start + c->msi_len - 1), c->ioas_id,
	    c->paging_id, c->parent_id);
	attach(_metadata, c, 0, PT_IOAS);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled after the attach");
	expect_msi(_metadata, c, 0, "and again");
}

TEST_F(msi, paging_hwpt)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_PAGING);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled after the attach");
	expect_msi(_metadata, c, 0, "and again");
}

/* 2. The nest parent alone: stage 2 only, no vIOMMU in the way */

TEST_F(msi, nest_parent)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_PARENT);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled after the attach");
	expect_msi(_metadata, c, 0, "and again");
}

/* 3. A nested bypass HWPT: the MSI goes through the parent's stage 2 */

TEST_F(msi, bypass_enable_after_attach)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_BYPASS);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled after the attach");
	expect_msi(_metadata, c, 0, "and again");
}

/* 4. MSI enabled before the device moves to a nested HWPT, and back */

TEST_F(msi, bypass_enable_on_parent)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_PARENT);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on the parent");
	attach(_metadata, c, 0, PT_BYPASS);
	expect_msi(_metadata, c, 0, "after parent -> bypass");
	attach(_metadata, c, 0, PT_PARENT);
	expect_msi(_metadata, c, 0, "after bypass -> parent");
}

/*
 * ...from another paging domain: the nest parent has never seen this
 * device's MSI, so only a doorbell mapping made at the attach can work.
 */
TEST_F(msi, bypass_enable_on_paging)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_PAGING);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on the paging HWPT");
	attach(_metadata, c, 0, PT_BYPASS);
	expect_msi(_metadata, c, 0, "after paging -> bypass");
	attach(_metadata, c, 0, PT_PAGING);
	expect_msi(_metadata, c, 0, "after bypass -> paging");
}

/* 5. MSI enabled on a nested HWPT, then replacements */

TEST_F(msi, replace_nested_parent_nested)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_BYPASS);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on bypass");
	attach(_metadata, c, 0, PT_PARENT);
	expect_msi(_metadata, c, 0, "after bypass -> parent");
	attach(_metadata, c, 0, PT_BYPASS);
	expect_msi(_metadata, c, 0, "after parent -> bypass");
}

TEST_F(msi, replace_bypass_s1_bypass)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_BYPASS);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on bypass");
	attach(_metadata, c, 0, PT_S1);
	expect_msi(_metadata, c, 0, "after bypass -> stage 1");
	attach(_metadata, c, 0, PT_BYPASS);
	expect_msi(_metadata, c, 0, "after stage 1 -> bypass");
}

/*
 * 6. A guest stage 1 that identity-maps the MSI window: the MSI goes
 * IOVA -(guest S1)-> IPA -(parent S2)-> doorbell, and DMA shows that the
 * stage 1 is the guest's (IOVA_DATA is no IPA of the VM).
 */
TEST_F(msi, s1_msi_window)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_S1);
	expect_s1_dma(_metadata, c, 0, 0x11);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on stage 1");
	expect_msi(_metadata, c, 0, "and again");
	expect_s1_dma(_metadata, c, 0, 0x22);
}

/*
 * 7. Two devices on two vIOMMUs sharing the parent: each interrupt reaches
 * its own device's eventfd only, whichever nested HWPT each device is on.
 */
TEST_F(msi, two_devices)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_BYPASS);
	attach(_metadata, c, 1, PT_S1);
	msi_enable(_metadata, c, 0);
	msi_enable(_metadata, c, 1);
	expect_msi(_metadata, c, 0, "edu0 bypass, edu1 stage 1");
	expect_msi(_metadata, c, 1, "edu0 bypass, edu1 stage 1");
	expect_s1_dma(_metadata, c, 1, 0x33);

	attach(_metadata, c, 0, PT_S1);
	attach(_metadata, c, 1, PT_BYPASS);
	expect_msi(_metadata, c, 0, "edu0 stage 1, edu1 bypass");
	expect_msi(_metadata, c, 1, "edu0 stage 1, edu1 bypass");
	expect_s1_dma(_metadata, c, 0, 0x44);
}

/* 8. Disabled, an MSI signals nothing; enabled again, it works again */

TEST_F(msi, disable_on_nested)
{
	struct ctx *c = &self->c;

	attach(_metadata, c, 0, PT_BYPASS);
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled on bypass");
	msi_disable(_metadata, c, 0);
	expect_no_msi(_metadata, c, 0, "MSI disabled");
	msi_enable(_metadata, c, 0);
	expect_msi(_metadata, c, 0, "MSI enabled again on bypass");
}

TEST_HARNESS_MAIN
