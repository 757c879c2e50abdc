// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd vIOMMU nesting on ARM SMMUv3, end to end, on QEMU's SMMUv3 in
 * nested mode with a real PCI device (edu) behind it. It proves that a VMM
 * using only the uAPI can:
 *
 *  - read the physical SMMU's ID registers (IOMMU_GET_HW_INFO);
 *  - build a vIOMMU on a nesting-parent HWPT (IOMMU_VIOMMU_ALLOC), which then
 *    pins the parent, and give a device a virtual StreamID on it
 *    (IOMMU_VDEVICE_ALLOC);
 *  - turn guest STEs into nested HWPTs (IOMMU_HWPT_ALLOC on the vIOMMU),
 *    the kernel accepting exactly the guest-owned STE fields and configs;
 *  - attach the device to them and have the hardware do what the guest STE
 *    says: bypass translates by stage 2 alone (DMA reaches the pages mapped
 *    at IPA == IOVA), abort and V=0 stop DMA in both directions, stage 1 and
 *    the plain stage-2 parent can be switched to and from by replace;
 *  - forward guest invalidation commands through the vIOMMU
 *    (IOMMU_HWPT_INVALIDATE), with virtual StreamIDs translated, illegal
 *    commands refused and entry_num telling where a batch stopped;
 *  - tear it all down, in order or by just closing the file descriptors,
 *    without the kernel complaining (the harness checks the kernel log).
 *
 * The STE and command layouts are the SMMUv3 architecture's: the uAPI only
 * carries raw words, so tests/common/smmu_guest.h defines the bits.
 */
#include <endian.h>
#include <stddef.h>

#include "nest.h"
#include "kselftest_harness.h"

/*
 * TEST_F()'s wrapper keeps its fork() result in a plain local across
 * setjmp(), and GCC says so for some of the tests below depending on how
 * their bodies get inlined. If an ASSERT fails in the forked child, the
 * worst case is a skipped teardown, which here only closes file
 * descriptors that exit closes anyway; the failure is reported either
 * way. Nothing in this file reads its own locals after a longjmp().
 */
#pragma GCC diagnostic ignored "-Wclobbered"

/* IOVA == IPA; all DMA addresses stay within edu's 28-bit mask */
#define IOVA_BASE	0x100000ULL
#define BUF_SIZE	(2UL << 20)
#define CD_OFF		0x100000UL	/* a zeroed CD table */
#define CD_IPA		(IOVA_BASE + CD_OFF)
#define VSID0		0x10		/* virtual StreamID of edu 0 */
#define VSID1		0x20		/* virtual StreamID of edu 1 */
#define VSID_NONE	0x11		/* a virtual StreamID nobody has */

#define STE_S1_CD	(STE0_V | STE0_CFG(CFG_S1) | STE0_S1CTXPTR(CD_IPA))

#define TAINT_FIRMWARE_WORKAROUND	11

/* Everything a test may need, set up in layers by nest_setup() */
struct nest {
	int iommufd;
	struct edu edu[2];
	uint8_t *buf;		/* BUF_SIZE bytes at IOVA/IPA IOVA_BASE */
	uint32_t ioas_id;
	uint32_t parent_id;	/* HWPT_PAGING, NEST_PARENT, on the IOAS */
	uint32_t viommu_id;
	uint32_t vdev_id;	/* edu 0 as VSID0 */
	uint32_t abort_id;	/* nested HWPTs from guest STEs */
	uint32_t bypass_id;
	uint32_t s1_id;
	uint32_t v0_id;
};

enum nest_level {
	NEST_PARENT,		/* IOAS, buffer mapped, nest-parent HWPT */
	NEST_VIOMMU,		/* + vIOMMU, vDEVICE of edu 0 */
	NEST_HWPTS,		/* + nested HWPTs abort, bypass, s1, V=0 */
};

/* DMA helpers. Page p of the buffer is at IOVA IOVA_BASE + p * PAGE_SZ. */

static uint8_t *page(struct nest *n, unsigned int p)
{
	return n->buf + p * PAGE_SZ;
}

static uint64_t page_iova(unsigned int p)
{
	return IOVA_BASE + p * PAGE_SZ;
}

/*
 * Byte i is base + i % 125: with base 0x01 and 0x81 the two patterns share
 * no byte value at any position, and neither holds 0x00 or 0xff.
 */
#define PAT_A	0x01
#define PAT_B	0x81

static void fill(uint8_t *p, uint8_t base)
{
	unsigned int i;

	for (i = 0; i < EDU_BUF_SIZE; i++)
		p[i] = base + i % 125;
}

static unsigned int count_pat(const uint8_t *p, uint8_t base)
{
	unsigned int i, n = 0;

	for (i = 0; i < EDU_BUF_SIZE; i++)
		n += p[i] == (uint8_t)(base + i % 125);
	return n;
}

/* One whole-buffer DMA of edu 0: to_dev copies page p -> edu buffer */
static int dma(struct nest *n, unsigned int p, bool to_dev)
{
	int rc;

	dma_fence();
	rc = edu_dma(&n->edu[0], page_iova(p), 0, EDU_BUF_SIZE, to_dev);
	dma_fence();
	return rc;
}

/*
 * Page src -> edu -> page dst under edu 0's current translation. 0 when
 * the pattern came back, 1 when it did not, or a DMA engine error.
 */
static int dma_roundtrip(struct nest *n, unsigned int src, unsigned int dst,
			 uint8_t base)
{
	int rc;

	fill(page(n, src), base);
	memset(page(n, dst), 0, EDU_BUF_SIZE);
	rc = dma(n, src, true);
	if (!rc)
		rc = dma(n, dst, false);
	if (rc)
		return rc;
	return memcmp(page(n, src), page(n, dst), EDU_BUF_SIZE) ? 1 : 0;
}

/* Fixture plumbing shared by all fixtures */

static void nest_setup(struct __test_metadata *_metadata, struct nest *n,
		       enum nest_level level)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	int i;

	memset(n, 0, sizeof(*n));
	n->iommufd = -1;
	n->edu[0].fd = n->edu[1].fd = -1;

	n->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, n->buf);
	n->iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, n->iommufd);
	ASSERT_EQ(0, ioctl(n->iommufd, IOMMU_IOAS_ALLOC, &ioas));
	n->ioas_id = ioas.out_ioas_id;
	ASSERT_EQ(0, ioas_map(n->iommufd, n->ioas_id, n->buf, BUF_SIZE,
			      IOVA_BASE));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, edu_open(&n->edu[i], i, n->iommufd));
	ASSERT_EQ(0, hwpt_alloc(n->iommufd, IOMMU_HWPT_ALLOC_NEST_PARENT,
				n->edu[0].dev_id, n->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &n->parent_id));
	if (level == NEST_PARENT)
		return;

	ASSERT_EQ(0, viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  n->edu[0].dev_id, n->parent_id,
				  &n->viommu_id));
	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				   VSID0, &n->vdev_id));
	if (level == NEST_VIOMMU)
		return;

	ASSERT_EQ(0, nested_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				  STE0_V | STE0_CFG(CFG_ABORT), 0,
				  &n->abort_id));
	ASSERT_EQ(0, nested_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				  STE0_V | STE0_CFG(CFG_BYPASS), 0,
				  &n->bypass_id));
	ASSERT_EQ(0, nested_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				  STE_S1_CD, 0, &n->s1_id));
	ASSERT_EQ(0, nested_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				  0, 0, &n->v0_id));
}

/* Close whatever is still open: the kernel must clean up the rest */
static void nest_teardown(struct nest *n)
{
	edu_close(&n->edu[0]);
	edu_close(&n->edu[1]);
	if (n->iommufd >= 0)
		close(n->iommufd);
	n->iommufd = -1;
	if (n->buf && n->buf != MAP_FAILED)
		munmap(n->buf, BUF_SIZE);
	n->buf = NULL;
}

/* The binary layout VMMs built against mainline rely on */
TEST(uapi_layout)
{
	EXPECT_EQ(40, sizeof(struct iommu_viommu_alloc));
	EXPECT_EQ(24, offsetof(struct iommu_viommu_alloc, data_len));
	EXPECT_EQ(32, offsetof(struct iommu_viommu_alloc, data_uptr));
	EXPECT_EQ(24, sizeof(struct iommu_vdevice_alloc));
	EXPECT_EQ(16, offsetof(struct iommu_vdevice_alloc, virt_id));
	EXPECT_EQ(40, sizeof(struct iommu_hw_info_arm_smmuv3));
	EXPECT_EQ(8, offsetof(struct iommu_hw_info_arm_smmuv3, idr));
	EXPECT_EQ(32, offsetof(struct iommu_hw_info_arm_smmuv3, iidr));
	EXPECT_EQ(16, sizeof(struct iommu_hwpt_arm_smmuv3));
	EXPECT_EQ(16, sizeof(struct iommu_viommu_arm_smmuv3_invalidate));
	EXPECT_EQ(1, IOMMU_VIOMMU_TYPE_ARM_SMMUV3);
	EXPECT_EQ(2, IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
	EXPECT_EQ(2, IOMMU_HWPT_DATA_ARM_SMMUV3);
	EXPECT_EQ(1, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3);
	EXPECT_EQ(_IO(IOMMUFD_TYPE, 0x90), IOMMU_VIOMMU_ALLOC);
	EXPECT_EQ(_IO(IOMMUFD_TYPE, 0x91), IOMMU_VDEVICE_ALLOC);
}

/* 1. What the physical SMMU reports */

TEST(hw_info)
{
	struct {
		struct iommu_hw_info_arm_smmuv3 smmu;
		uint8_t tail[24];	/* must come back zeroed */
	} data;
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct edu edu = { .fd = -1 };
	unsigned int i;
	int iommufd;

	memset(&data, 0xa5, sizeof(data));
	iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, iommufd);
	ASSERT_EQ(0, edu_open(&edu, 0, iommufd));
	info.dev_id = edu.dev_id;

	ASSERT_EQ(0, ioctl(iommufd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, info.out_data_type);
	ASSERT_EQ(sizeof(struct iommu_hw_info_arm_smmuv3), info.data_len);
	for (i = 0; i < sizeof(data.tail); i++)
		ASSERT_EQ(0, data.tail[i]);
	EXPECT_EQ(0, data.smmu.flags);
	EXPECT_EQ(0, data.smmu.__reserved);
	TH_LOG("IDR0 %08x IDR1 %08x IDR2 %08x IDR3 %08x IDR4 %08x IDR5 %08x",
	       data.smmu.idr[0], data.smmu.idr[1], data.smmu.idr[2],
	       data.smmu.idr[3], data.smmu.idr[4], data.smmu.idr[5]);
	TH_LOG("IIDR %08x AIDR %08x capabilities %#llx max_pasid_log2 %u",
	       data.smmu.iidr, data.smmu.aidr,
	       (unsigned long long)info.out_capabilities,
	       info.out_max_pasid_log2);
	/* Nesting needs both stages: IDR0.S1P (bit 1), IDR0.S2P (bit 0) */
	EXPECT_EQ(0x2, data.smmu.idr[0] & 0x2);
	EXPECT_EQ(0x1, data.smmu.idr[0] & 0x1);
	/*
	 * The edu has no ATS capability: ATS is not supported whatever the
	 * SMMU says (bit 3, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, whose absence
	 * would tell a VMM that it may advertise ATS to its guest).
	 */
	EXPECT_EQ(1ULL << 3, info.out_capabilities & (1ULL << 3));

	/* Asked for by type, as QEMU asks: SMMUv3 yes, Tegra241 CMDQV no */
	info.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	info.in_data_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
	info.data_len = sizeof(data);
	ASSERT_EQ(0, ioctl(iommufd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, info.out_data_type);
	info.in_data_type = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV;
	ASSERT_EQ(-1, ioctl(iommufd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(EOPNOTSUPP, errno);

	edu_close(&edu);
	close(iommufd);
}

/* 2. vIOMMU allocation on the nesting parent */

FIXTURE(parent)
{
	struct nest n;
};

FIXTURE_SETUP(parent)
{
	nest_setup(_metadata, &self->n, NEST_PARENT);
}

FIXTURE_TEARDOWN(parent)
{
	nest_teardown(&self->n);
}

TEST_F(parent, viommu_alloc_errors)
{
	struct nest *n = &self->n;
	uint32_t dev = n->edu[0].dev_id, plain_id = 0, id = 0;
	uint64_t data = 0;
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = dev,
		.hwpt_id = n->parent_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};

	/* A paging HWPT that is not a nesting parent */
	ASSERT_EQ(0, hwpt_alloc(n->iommufd, 0, dev, n->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &plain_id));
	EXPECT_EQ(-EINVAL, viommu_alloc(n->iommufd, 0,
					IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev,
					plain_id, &id));
	/* Unknown flags and types */
	EXPECT_EQ(-EOPNOTSUPP, viommu_alloc(n->iommufd, 1,
					    IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev,
					    n->parent_id, &id));
	EXPECT_EQ(-EOPNOTSUPP, viommu_alloc(n->iommufd, 0, 0xdead, dev,
					    n->parent_id, &id));
	EXPECT_EQ(-EOPNOTSUPP, viommu_alloc(n->iommufd, 0,
					    IOMMU_VIOMMU_TYPE_DEFAULT, dev,
					    n->parent_id, &id));
	/* Unknown IDs: an IOAS is neither a device nor a HWPT */
	EXPECT_EQ(-ENOENT, viommu_alloc(n->iommufd, 0,
					IOMMU_VIOMMU_TYPE_ARM_SMMUV3, dev,
					n->ioas_id, &id));
	EXPECT_EQ(-ENOENT, viommu_alloc(n->iommufd, 0,
					IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
					n->ioas_id, n->parent_id, &id));
	EXPECT_EQ(0, id);
	EXPECT_EQ(0, obj_destroy(n->iommufd, plain_id));

	/* IOMMU_VIOMMU_TYPE_ARM_SMMUV3 takes no driver data */
	EXPECT_EQ(-1, ioctl(n->iommufd, IOMMU_VIOMMU_ALLOC, &cmd));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, cmd.out_viommu_id);
}

TEST_F(parent, viommu_alloc)
{
	struct nest *n = &self->n;
	uint32_t dev = n->edu[0].dev_id, id = 0, id2;
	struct iommu_viommu_alloc old = {
		.size = 24,	/* a VMM built before data_len existed */
		.type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = dev,
		.hwpt_id = n->parent_id,
	};
	struct iommu_hw_queue_alloc hwq = {
		.size = sizeof(hwq),
		.type = IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
		.nesting_parent_iova = 0x10000,
		.length = 0x1000,
	};

	ASSERT_EQ(0, viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  dev, n->parent_id, &id));
	TH_LOG("vIOMMU %u on parent HWPT %u", id, n->parent_id);

	/* The parent is pinned */
	EXPECT_EQ(-EBUSY, obj_destroy(n->iommufd, n->parent_id));

	/* No HW queue types on SMMUv3 without an extension like CMDQV */
	hwq.viommu_id = id;
	EXPECT_EQ(-1, ioctl(n->iommufd, IOMMU_HW_QUEUE_ALLOC, &hwq));
	EXPECT_EQ(EOPNOTSUPP, errno);

	/* A second vIOMMU may share the parent; old struct size works */
	ASSERT_EQ(0, ioctl(n->iommufd, IOMMU_VIOMMU_ALLOC, &old));
	id2 = old.out_viommu_id;
	EXPECT_NE(id, id2);

	EXPECT_EQ(0, obj_destroy(n->iommufd, id2));
	EXPECT_EQ(-EBUSY, obj_destroy(n->iommufd, n->parent_id));
	EXPECT_EQ(0, obj_destroy(n->iommufd, id));
	EXPECT_EQ(-ENOENT, obj_destroy(n->iommufd, id));
	EXPECT_EQ(0, obj_destroy(n->iommufd, n->parent_id));
}

/* 3.-7. Everything on a vIOMMU with edu 0 as vSID VSID0 */

FIXTURE(vsmmu)
{
	struct nest n;
};

FIXTURE_SETUP(vsmmu)
{
	nest_setup(_metadata, &self->n, NEST_HWPTS);
}

FIXTURE_TEARDOWN(vsmmu)
{
	nest_teardown(&self->n);
}

/* The driver needed arm_smmu_v3.nesting_assume_coherent=1 and says so */
TEST_F(vsmmu, taint_firmware_workaround)
{
	unsigned long taint = 0;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%lu", &taint));
	fclose(f);
	TH_LOG("tainted %#lx", taint);
	EXPECT_NE(0, taint & (1UL << TAINT_FIRMWARE_WORKAROUND));
}

TEST_F(vsmmu, vdevice_alloc)
{
	struct nest *n = &self->n;
	uint32_t dev0 = n->edu[0].dev_id, dev1 = n->edu[1].dev_id;
	uint32_t id = 0, id1 = 0;

	/* VSID0 is taken, and edu 0 already has a vDEVICE */
	EXPECT_EQ(-EEXIST, vdevice_alloc(n->iommufd, n->viommu_id, dev1,
					 VSID0, &id));
	EXPECT_EQ(-EEXIST, vdevice_alloc(n->iommufd, n->viommu_id, dev0,
					 VSID_NONE, &id));
	EXPECT_EQ(0, id);

	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, dev1, VSID1,
				   &id1));

	/* vDEVICEs (and nested HWPTs) pin the vIOMMU */
	EXPECT_EQ(-EBUSY, obj_destroy(n->iommufd, n->viommu_id));

	/* A virtual StreamID is free again once its vDEVICE is gone */
	EXPECT_EQ(0, obj_destroy(n->iommufd, id1));
	EXPECT_EQ(0, obj_destroy(n->iommufd, n->vdev_id));
	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, dev1, VSID0,
				   &id1));
	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, dev0, VSID1,
				   &n->vdev_id));
	EXPECT_EQ(0, obj_destroy(n->iommufd, id1));
	EXPECT_EQ(0, obj_destroy(n->iommufd, n->vdev_id));
}

/* 4. Nested HWPTs from guest STEs (the accepted shapes coexist) */

TEST_F(vsmmu, nested_alloc)
{
	struct nest *n = &self->n;
	struct iommu_hwpt_arm_smmuv3 vste = {
		.ste = { htole64(STE0_V | STE0_CFG(CFG_BYPASS)), 0 },
	};
	uint32_t ids[] = { n->abort_id, n->bypass_id, n->s1_id, n->v0_id };
	uint32_t id = 0;
	unsigned int i, j;
	int rc;

	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			EXPECT_NE(ids[i], ids[j]);

	/* Only flags 0 for a nested HWPT */
	rc = hwpt_alloc(n->iommufd, IOMMU_HWPT_ALLOC_NEST_PARENT,
			n->edu[0].dev_id, n->viommu_id,
			IOMMU_HWPT_DATA_ARM_SMMUV3, &vste, sizeof(vste), &id);
	EXPECT_NE(0, rc);
	TH_LOG("nested alloc with NEST_PARENT: %d", rc);

	/* edu 1 sits behind the same SMMU and may use the vIOMMU too */
	ASSERT_EQ(0, nested_alloc(n->iommufd, n->viommu_id, n->edu[1].dev_id,
				  STE0_V | STE0_CFG(CFG_BYPASS), 0, &id));
	EXPECT_EQ(0, obj_destroy(n->iommufd, id));

	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, obj_destroy(n->iommufd, ids[i]));
}

/* 5. Real DMA through the nested translations */

TEST_F(vsmmu, dma_bypass)
{
	struct nest *n = &self->n;

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));
	TH_LOG("bypass vSTE: %lu bytes to edu and back at IPA %#llx",
	       (unsigned long)EDU_BUF_SIZE, IOVA_BASE);
	ASSERT_EQ(0, dma_roundtrip(n, 2, 3, PAT_B));
	EXPECT_EQ(0, dev_detach(&n->edu[0]));
}

/*
 * With edu 0 on `blocked`, no byte may move either way. The edu buffer is
 * loaded and read back through the bypass HWPT. What a blocked read leaves
 * in the edu buffer is up to the device model (QEMU may store zeros for a
 * failed read), so only the absence of the memory's pattern is checked.
 */
static void check_dma_blocked(struct __test_metadata *_metadata,
			      struct nest *n, uint32_t blocked,
			      const char *what)
{
	uint8_t *p;

	/* edu buffer := pattern A, verified */
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));

	ASSERT_EQ(0, dev_attach(&n->edu[0], blocked));

	/* device -> memory: the page keeps its pattern B */
	p = page(n, 2);
	fill(p, PAT_B);
	ASSERT_EQ(0, dma(n, 2, false));
	ASSERT_EQ(EDU_BUF_SIZE, count_pat(p, PAT_B));

	/* memory -> device: pattern B must not reach the edu buffer */
	fill(page(n, 0), PAT_B);
	ASSERT_EQ(0, dma(n, 0, true));

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	p = page(n, 3);
	memset(p, 0, EDU_BUF_SIZE);
	ASSERT_EQ(0, dma(n, 3, false));
	ASSERT_EQ(0, count_pat(p, PAT_B));
	TH_LOG("%s: nothing moved; edu buffer %s", what,
	       count_pat(p, PAT_A) == EDU_BUF_SIZE ? "unchanged" :
	       "changed (but not to the memory's bytes)");
	/* and bypass really works again, so the read-back above was real */
	ASSERT_EQ(0, dma_roundtrip(n, 4, 5, PAT_A));
}

TEST_F(vsmmu, dma_abort_blocks)
{
	check_dma_blocked(_metadata, &self->n, self->n.abort_id,
			  "Cfg=abort vSTE");
	EXPECT_EQ(0, dev_detach(&self->n.edu[0]));
}

TEST_F(vsmmu, dma_v0_blocks)
{
	check_dma_blocked(_metadata, &self->n, self->n.v0_id, "V=0 vSTE");
	EXPECT_EQ(0, dev_detach(&self->n.edu[0]));
}

/* Stage 1 with an empty CD table: attach works (no DMA tried there) */
TEST_F(vsmmu, replace_s1_and_back)
{
	struct nest *n = &self->n;

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->s1_id));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->abort_id));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->s1_id));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 2, 3, PAT_B));
	EXPECT_EQ(0, dev_detach(&n->edu[0]));
}

/* The nesting parent alone (stage 2 only) and back to a nested HWPT */
TEST_F(vsmmu, replace_parent_and_back)
{
	struct nest *n = &self->n;

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->parent_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 2, 3, PAT_B));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->parent_id));
	ASSERT_EQ(0, dma_roundtrip(n, 4, 5, PAT_A));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->s1_id));
	ASSERT_EQ(0, dev_detach(&n->edu[0]));
	/* and from detached straight onto a nested HWPT */
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 6, 7, PAT_B));
	EXPECT_EQ(0, dev_detach(&n->edu[0]));
}

/* 6. Guest commands through the vIOMMU */

TEST_F(vsmmu, inval_batch)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[9];
	struct iommu_hw_info_arm_smmuv3 hw;
	uint32_t num = 9, done;
	int rc;

	/*
	 * ATC_INV (the last entry) is only legal on an SMMU with ATS: without
	 * it the batch stops there, after the 8 others went through.
	 */
	ASSERT_EQ(0, smmu_hw_info(n->iommufd, n->edu[0].dev_id, &hw));
	rc = hw.idr[0] & IDR0_ATS ? 0 : -EIO;
	done = rc ? 8 : 9;
	TH_LOG("SMMU_IDR0.ATS %d: ATC_INV %s", !rc,
	       rc ? "refused" : "accepted");

	/* As a guest would: its device on stage 1, then fix up caches */
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->s1_id));
	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[1], OP_TLBI_NH_ASID | CMD0_ASID(1), 0);
	mkcmd(&cmds[2], OP_TLBI_NH_VA | CMD0_ASID(1),
	      CMD1_ADDR(0x200000) | CMD1_LEAF);
	mkcmd(&cmds[3], OP_TLBI_NH_VAA, CMD1_ADDR(0x200000));
	mkcmd(&cmds[4], OP_TLBI_NSNH_ALL, 0);
	mkcmd(&cmds[5], OP_CFGI_CD | CMD0_SID(VSID0) | CMD0_SSID(0),
	      CMD1_LEAF);
	mkcmd(&cmds[6], OP_CFGI_CD_ALL | CMD0_SID(VSID0), 0);
	/* The guest's VMID means nothing; the kernel puts the vIOMMU's */
	mkcmd(&cmds[7], OP_TLBI_NH_ASID | CMD0_VMID(0xbeef) | CMD0_ASID(2), 0);
	/*
	 * An ATC invalidation (invalidate all: size 52): on an SMMU with ATS,
	 * for a device without ATS, it is accepted and does nothing, and the
	 * batch goes on after it.
	 */
	mkcmd(&cmds[8], OP_ATC_INV | CMD0_SID(VSID0), CMD1_ATC_SIZE(52));

	ASSERT_EQ(rc, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(done, num);
	/* The 8 before it alone are taken whole either way */
	num = 8;
	ASSERT_EQ(0, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(8, num);

	/* Once more with the device detached */
	ASSERT_EQ(0, dev_detach(&n->edu[0]));
	num = 9;
	ASSERT_EQ(rc, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(done, num);

	/*
	 * The ATC invalidation first, so a stop there would show (and, refused,
	 * stops the batch before anything went)
	 */
	cmds[0] = cmds[8];
	num = 2;
	ASSERT_EQ(rc, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(rc ? 0 : 2, num);
}

TEST_F(vsmmu, inval_probe)
{
	struct nest *n = &self->n;
	uint32_t num = 0;

	/* entry_num 0: data_uptr and entry_len are ignored */
	EXPECT_EQ(0, invalidate(n->iommufd, n->viommu_id,
				IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, NULL,
				0, &num));
	EXPECT_EQ(0, num);
	/* ...and an unsupported data_type says so */
	EXPECT_EQ(-EINVAL, invalidate(n->iommufd, n->viommu_id,
				      IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, NULL,
				      0, &num));
	EXPECT_EQ(0, num);
}

TEST_F(vsmmu, inval_bad_opcode)
{
	static const uint8_t bad[] = {
		OP_PREFETCH_CFG, OP_CFGI_STE, OP_CFGI_ALL, OP_TLBI_EL2_ALL,
		OP_TLBI_S12_VMALL, OP_TLBI_S2_IPA, OP_CMD_SYNC,
	};
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[5];
	unsigned int i;
	uint32_t num;

	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[1], OP_TLBI_NH_ASID | CMD0_ASID(1), 0);
	mkcmd(&cmds[2], OP_CFGI_CD_ALL | CMD0_SID(VSID0), 0);
	mkcmd(&cmds[4], OP_TLBI_NH_ALL, 0);
	for (i = 0; i < sizeof(bad); i++) {
		/* A valid vSID, so that only the opcode is wrong */
		mkcmd(&cmds[3], bad[i] | CMD0_SID(VSID0), 0);
		num = 5;
		EXPECT_EQ(-EIO, viommu_cmds(n->iommufd, n->viommu_id, cmds,
					    &num)) {
			TH_LOG("opcode %#x accepted", bad[i]);
		}
		EXPECT_EQ(3, num) {
			TH_LOG("opcode %#x: entry_num %u", bad[i], num);
		}
	}
}

/* The address of the TLBIs and ATC_INVs below: 2M aligned, any granule's */
#define RVA	0x200000ULL

/*
 * Commands of a legal opcode with an encoding the SMMUv3 architecture makes
 * illegal, on which a real SMMU would stop its command queue (CERROR_ILL):
 * each is refused (EIO) as entry 1 of 3, with entry_num 1. What is illegal
 * depends on the SMMU, so its ID registers decide each expectation; an
 * encoding that is legal on this SMMU is not sent.
 */
enum { ILL_ALWAYS, ILL_NO_DS, ILL_NO_ATS, ILL_NO_SSIDS, NR_ILL };

static const struct {
	const char *what;
	int when;
	uint64_t w0, w1;
} illegal_cmds[] = {
	/* NUM, SCALE and TTL are RES0 with TG 0 (no range) */
	{ "TLBI_NH_VA TG 0, NUM 1", ILL_ALWAYS,
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_NUM(1),
	  CMD1_ADDR(RVA) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 0, SCALE 1", ILL_ALWAYS,
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_SCALE(1),
	  CMD1_ADDR(RVA) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 0, TTL 3", ILL_ALWAYS,
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(RVA) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VAA TG 0, NUM 1", ILL_ALWAYS,
	  OP_TLBI_NH_VAA | CMD0_NUM(1), CMD1_ADDR(RVA) | CMD1_LEAF },
	/* A range with NUM, SCALE and TTL all 0 is reserved */
	{ "TLBI_NH_VA TG 4K, NUM 0, SCALE 0, TTL 0", ILL_ALWAYS,
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_LEAF },
	{ "TLBI_NH_VAA TG 4K, NUM 0, SCALE 0, TTL 0", ILL_ALWAYS,
	  OP_TLBI_NH_VAA, CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_LEAF },
	/* Level 1 of a 16K granule needs 52-bit addresses (DS) */
	{ "TLBI_NH_VA TG 16K, TTL 1 without IDR5.DS", ILL_NO_DS,
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_16K) | CMD1_TTL(1) | CMD1_LEAF },
	/* SCALE bit 5 (SCALE above 31) is RES0 without DS */
	{ "TLBI_NH_VA SCALE 32 without IDR5.DS", ILL_NO_DS,
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_SCALE(32),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	/* No ATC to invalidate without ATS */
	{ "ATC_INV without IDR0.ATS", ILL_NO_ATS,
	  OP_ATC_INV | CMD0_SID(VSID0), CMD1_ADDR(RVA) | CMD1_ATC_SIZE(0) },
	/* Size 52 is everything, 53-63 are reserved */
	{ "ATC_INV Size 53", ILL_ALWAYS,
	  OP_ATC_INV | CMD0_SID(VSID0), CMD1_ATC_SIZE(53) },
	/* A SubstreamID needs substreams (IDR1.SSIDSIZE) */
	{ "CFGI_CD SSID 1 without substreams", ILL_NO_SSIDS,
	  OP_CFGI_CD | CMD0_SID(VSID0) | CMD0_SSID(1), CMD1_LEAF },
};

TEST_F(vsmmu, inval_illegal_encodings)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[3];
	struct iommu_hw_info_arm_smmuv3 hw;
	bool illegal[NR_ILL];
	unsigned int i;
	uint32_t num;

	ASSERT_EQ(0, smmu_hw_info(n->iommufd, n->edu[0].dev_id, &hw));
	illegal[ILL_ALWAYS] = true;
	illegal[ILL_NO_DS] = !(hw.idr[5] & IDR5_DS);
	illegal[ILL_NO_ATS] = !(hw.idr[0] & IDR0_ATS);
	illegal[ILL_NO_SSIDS] = !IDR1_SSIDSIZE(hw.idr[1]);
	TH_LOG("SMMU_IDR0.ATS %d, IDR1.SSIDSIZE %u, IDR3.RIL %d, IDR5.DS %d",
	       !illegal[ILL_NO_ATS], IDR1_SSIDSIZE(hw.idr[1]),
	       !!(hw.idr[3] & IDR3_RIL), !illegal[ILL_NO_DS]);

	/* The batch around them is good: with a legal middle, taken whole */
	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[1], OP_TLBI_NH_VA | CMD0_ASID(1),
	      CMD1_ADDR(RVA) | CMD1_LEAF);
	mkcmd(&cmds[2], OP_TLBI_NH_ALL, 0);
	num = 3;
	ASSERT_EQ(0, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	ASSERT_EQ(3, num);

	for (i = 0; i < sizeof(illegal_cmds) / sizeof(illegal_cmds[0]); i++) {
		const char *what = illegal_cmds[i].what;

		if (!illegal[illegal_cmds[i].when]) {
			TH_LOG("%s: legal on this SMMU, not sent", what);
			continue;
		}
		mkcmd(&cmds[1], illegal_cmds[i].w0, illegal_cmds[i].w1);
		num = 3;
		EXPECT_EQ(-EIO, viommu_cmds(n->iommufd, n->viommu_id, cmds,
					    &num)) {
			TH_LOG("%s accepted", what);
		}
		EXPECT_EQ(1, num) {
			TH_LOG("%s: entry_num %u", what, num);
		}
	}
}

/*
 * The legal range forms of TLBI_NH_VA and TLBI_NH_VAA (TG 4K, and NUM,
 * SCALE or TTL not all 0): taken whole where the SMMU has range
 * invalidation (SMMU_IDR3.RIL), refused at the range where it has not.
 * smmu_nested_dma checks by DMA that they invalidate what they say.
 */
static const struct {
	const char *what;
	uint64_t w0, w1;
} range_forms[] = {
	{ "TLBI_NH_VA TG 4K, NUM 3, SCALE 0, TTL 3",
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_NUM(3),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VAA TG 4K, NUM 3, SCALE 0, TTL 3",
	  OP_TLBI_NH_VAA | CMD0_NUM(3),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 1, SCALE 1, TTL 3",
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_NUM(1) | CMD0_SCALE(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VAA TG 4K, NUM 1, SCALE 1, TTL 3",
	  OP_TLBI_NH_VAA | CMD0_NUM(1) | CMD0_SCALE(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 0, SCALE 0, TTL 3",
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VAA TG 4K, NUM 0, SCALE 0, TTL 3",
	  OP_TLBI_NH_VAA,
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 1, SCALE 0, TTL 0 (no level hint)",
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_NUM(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 31, SCALE 0, TTL 3",
	  OP_TLBI_NH_VA | CMD0_ASID(1) | CMD0_NUM(31),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(3) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 0, SCALE 0, TTL 2 (level 2)",
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(RVA) | CMD1_TG(TG_4K) | CMD1_TTL(2) | CMD1_LEAF },
	{ "TLBI_NH_VA TG 4K, NUM 0, SCALE 0, TTL 1 (level 1)",
	  OP_TLBI_NH_VA | CMD0_ASID(1),
	  CMD1_ADDR(1ULL << 30) | CMD1_TG(TG_4K) | CMD1_TTL(1) |
	  CMD1_LEAF },
};

TEST_F(vsmmu, inval_range_forms)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[3];
	struct iommu_hw_info_arm_smmuv3 hw;
	unsigned int i;
	uint32_t num;
	bool ril;

	ASSERT_EQ(0, smmu_hw_info(n->iommufd, n->edu[0].dev_id, &hw));
	ril = hw.idr[3] & IDR3_RIL;
	TH_LOG("SMMU_IDR3.RIL %d: range TLBIs %s", ril,
	       ril ? "accepted" : "refused");

	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[2], OP_TLBI_NH_ALL, 0);
	for (i = 0; i < sizeof(range_forms) / sizeof(range_forms[0]); i++) {
		mkcmd(&cmds[1], range_forms[i].w0, range_forms[i].w1);
		num = 3;
		EXPECT_EQ(ril ? 0 : -EIO, viommu_cmds(n->iommufd, n->viommu_id,
						      cmds, &num)) {
			TH_LOG("%s %s", range_forms[i].what,
			       ril ? "refused" : "accepted");
		}
		EXPECT_EQ(ril ? 3 : 1, num) {
			TH_LOG("%s: entry_num %u", range_forms[i].what, num);
		}
	}
}

TEST_F(vsmmu, inval_unknown_vsid)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[3];
	uint32_t num = 3;

	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[1], OP_CFGI_CD | CMD0_SID(VSID_NONE), CMD1_LEAF);
	mkcmd(&cmds[2], OP_TLBI_NH_ALL, 0);
	EXPECT_EQ(-EIO, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(1, num);

	/* edu 1 has a physical StreamID but no vDEVICE: unknown as well */
	mkcmd(&cmds[0], OP_CFGI_CD_ALL | CMD0_SID(VSID1), 0);
	num = 1;
	EXPECT_EQ(-EIO, viommu_cmds(n->iommufd, n->viommu_id, cmds, &num));
	EXPECT_EQ(0, num);
}

TEST_F(vsmmu, inval_vsid_after_vdevice_destroy)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t num = 1;

	mkcmd(&cmd, OP_CFGI_CD_ALL | CMD0_SID(VSID0), 0);
	ASSERT_EQ(0, viommu_cmds(n->iommufd, n->viommu_id, &cmd, &num));
	ASSERT_EQ(0, obj_destroy(n->iommufd, n->vdev_id));
	num = 1;
	EXPECT_EQ(-EIO, viommu_cmds(n->iommufd, n->viommu_id, &cmd, &num));
	EXPECT_EQ(0, num);
	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, n->edu[0].dev_id,
				   VSID0, &n->vdev_id));
	num = 1;
	EXPECT_EQ(0, viommu_cmds(n->iommufd, n->viommu_id, &cmd, &num));
	EXPECT_EQ(1, num);
}

TEST_F(vsmmu, inval_bad_type)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t num = 1;

	mkcmd(&cmd, OP_TLBI_NH_ALL, 0);
	EXPECT_EQ(-EINVAL, invalidate(n->iommufd, n->viommu_id,
				      IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, &cmd,
				      sizeof(cmd), &num));
	EXPECT_EQ(0, num);
	num = 1;
	EXPECT_EQ(-EINVAL, invalidate(n->iommufd, n->viommu_id, 0x1234, &cmd,
				      sizeof(cmd), &num));
	EXPECT_EQ(0, num);
}

TEST_F(vsmmu, inval_short_entry)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmds[2];
	uint32_t num;

	mkcmd(&cmds[0], OP_TLBI_NH_ALL, 0);
	mkcmd(&cmds[1], OP_TLBI_NH_ALL, 0);
	num = 2;
	EXPECT_EQ(-EINVAL, invalidate(n->iommufd, n->viommu_id,
				      IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
				      cmds, sizeof(cmds[0]) / 2, &num));
	EXPECT_EQ(0, num);
	num = 2;
	EXPECT_EQ(-EINVAL, invalidate(n->iommufd, n->viommu_id,
				      IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
				      cmds, 0, &num));
	EXPECT_EQ(0, num);
}

/* A nested HWPT of a vIOMMU takes no invalidations of its own */
TEST_F(vsmmu, inval_nested_hwpt)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t num = 1;

	mkcmd(&cmd, OP_TLBI_NH_ALL, 0);
	EXPECT_EQ(-EOPNOTSUPP, invalidate(n->iommufd, n->s1_id,
				IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, &cmd,
				sizeof(cmd), &num));
	EXPECT_EQ(0, num);
}

/* Only nested HWPTs and vIOMMUs take invalidations: EINVAL, as mainline */
TEST_F(vsmmu, inval_other_objects)
{
	struct nest *n = &self->n;
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t ids[] = { n->parent_id, n->ioas_id, n->edu[0].dev_id,
			   n->vdev_id };
	uint32_t num;
	int i;

	mkcmd(&cmd, OP_TLBI_NH_ALL, 0);
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		num = 1;
		EXPECT_EQ(-EINVAL, invalidate(n->iommufd, ids[i],
				IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, &cmd,
				sizeof(cmd), &num));
		EXPECT_EQ(0, num);
	}
	num = 1;
	EXPECT_EQ(-ENOENT, invalidate(n->iommufd, 0xfffff,
				IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, &cmd,
				sizeof(cmd), &num));
	EXPECT_EQ(0, num);
}

/*
 * A guest stage 1 needs the device's vDEVICE (ENOENT without one): the
 * guest's CFGI_CD and ATC_INV name the device by its vSID. Abort and bypass
 * need none.
 */
TEST_F(vsmmu, s1_needs_vdevice)
{
	struct nest *n = &self->n;
	struct edu *e1 = &n->edu[1];
	uint32_t id = 0;

	EXPECT_EQ(-ENOENT, dev_attach(e1, n->s1_id));
	EXPECT_EQ(0, dev_attach(e1, n->bypass_id));
	EXPECT_EQ(-ENOENT, dev_attach(e1, n->s1_id));
	EXPECT_EQ(0, dev_attach(e1, n->abort_id));
	EXPECT_EQ(-ENOENT, dev_attach(e1, n->s1_id));
	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, e1->dev_id, VSID1,
				   &id));
	EXPECT_EQ(0, dev_attach(e1, n->s1_id));
	EXPECT_EQ(0, dev_attach(e1, n->parent_id));
	EXPECT_EQ(0, obj_destroy(n->iommufd, id));
	EXPECT_EQ(-ENOENT, dev_attach(e1, n->s1_id));
}

/* A vDEVICE alloc that fails leaves out_vdevice_id alone */
static int vdevice_alloc_raw(int fd, uint32_t viommu_id, uint32_t dev_id,
			     uint64_t virt_id, uint32_t *out)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
		.out_vdevice_id = 0xdeadbeef,
	};
	int rc = ioctl(fd, IOMMU_VDEVICE_ALLOC, &cmd) ? -errno : 0;

	*out = cmd.out_vdevice_id;
	return rc;
}

/* One vDEVICE per device in total, on any vIOMMU, as mainline */
TEST_F(vsmmu, vdevice_one_per_device)
{
	struct nest *n = &self->n;
	uint32_t dev0 = n->edu[0].dev_id, dev1 = n->edu[1].dev_id;
	uint32_t viommu2 = 0, id = 0, out;

	ASSERT_EQ(0, viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  dev0, n->parent_id, &viommu2));
	/* edu 0 has its vDEVICE on the first vIOMMU */
	EXPECT_EQ(-EEXIST, vdevice_alloc_raw(n->iommufd, viommu2, dev0, VSID1,
					     &out));
	EXPECT_EQ(0xdeadbeef, out);
	/* VSID0 is taken on the first vIOMMU */
	EXPECT_EQ(-EEXIST, vdevice_alloc_raw(n->iommufd, n->viommu_id, dev1,
					     VSID0, &out));
	EXPECT_EQ(0xdeadbeef, out);
	EXPECT_EQ(-ENOENT, vdevice_alloc_raw(n->iommufd, n->parent_id, dev1,
					     VSID1, &out));
	EXPECT_EQ(0xdeadbeef, out);

	/* edu 1 on the second vIOMMU, then nowhere else */
	ASSERT_EQ(0, vdevice_alloc_raw(n->iommufd, viommu2, dev1, VSID0, &id));
	EXPECT_NE(0xdeadbeef, id);
	EXPECT_EQ(-EEXIST, vdevice_alloc_raw(n->iommufd, n->viommu_id, dev1,
					     VSID1, &out));
	EXPECT_EQ(0xdeadbeef, out);
	/* Once its vDEVICE is gone the device may have one elsewhere */
	EXPECT_EQ(0, obj_destroy(n->iommufd, id));
	ASSERT_EQ(0, vdevice_alloc_raw(n->iommufd, n->viommu_id, dev1, VSID1,
				       &out));
	EXPECT_EQ(0, obj_destroy(n->iommufd, out));
	EXPECT_EQ(0, obj_destroy(n->iommufd, viommu2));
}

/*
 * entry_num is exact also when the array cannot be read in the middle of a
 * chunk of the kernel's: a 24-byte entry with non-zero bytes past the
 * command (E2BIG), an entry on an unmapped page (EFAULT).
 */
#define INVAL_LONG	150	/* more than two of the kernel's chunks */
#define INVAL_BAD	100	/* in the second chunk, not at its start */

TEST_F(vsmmu, inval_entry_num_exact)
{
	struct nest *n = &self->n;
	struct entry24 {
		struct iommu_viommu_arm_smmuv3_invalidate cmd;
		uint64_t trailing;
	} *e;
	size_t pg = sysconf(_SC_PAGESIZE), len;
	struct iommu_viommu_arm_smmuv3_invalidate *c;
	uint8_t *map;
	uint32_t num;
	int i;

	/* E2BIG: entry INVAL_BAD has a non-zero trailing word */
	e = calloc(INVAL_LONG, sizeof(*e));
	ASSERT_NE(NULL, e);
	for (i = 0; i < INVAL_LONG; i++)
		mkcmd(&e[i].cmd, OP_TLBI_NH_ALL, 0);
	e[INVAL_BAD].trailing = 1;
	num = INVAL_LONG;
	EXPECT_EQ(-E2BIG, invalidate(n->iommufd, n->viommu_id,
				     IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, e,
				     sizeof(*e), &num));
	EXPECT_EQ(INVAL_BAD, num);
	/* All zero past the command is fine */
	e[INVAL_BAD].trailing = 0;
	num = INVAL_LONG;
	EXPECT_EQ(0, invalidate(n->iommufd, n->viommu_id,
				IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, e,
				sizeof(*e), &num));
	EXPECT_EQ(INVAL_LONG, num);
	free(e);

	/* EFAULT: the array runs into an unmapped page at entry INVAL_BAD */
	len = 2 * ((INVAL_BAD * sizeof(*c) + pg - 1) / pg + 1) * pg;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + len / 2, len / 2));
	c = (void *)(map + len / 2 - INVAL_BAD * sizeof(*c));
	for (i = 0; i < INVAL_BAD; i++)
		mkcmd(&c[i], OP_TLBI_NH_ALL, 0);
	num = INVAL_LONG;
	EXPECT_EQ(-EFAULT, invalidate(n->iommufd, n->viommu_id,
				      IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
				      c, sizeof(*c), &num));
	EXPECT_EQ(INVAL_BAD, num);
	munmap(map, len / 2);
}

/*
 * A parent takes at most 64 vIOMMUs (one command batch for its stage-2
 * invalidations): the next one gives ENOSPC, a freed place can be reused.
 */
#define VSMMUS_PER_PARENT	64

TEST_F(vsmmu, viommus_per_parent)
{
	struct nest *n = &self->n;
	uint32_t ids[VSMMUS_PER_PARENT], extra = 0, parent2 = 0;
	int i, rc;

	/* The fixture's vIOMMU is the first */
	for (i = 1; i < VSMMUS_PER_PARENT; i++) {
		rc = viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  n->edu[0].dev_id, n->parent_id, &ids[i]);
		ASSERT_EQ(0, rc) TH_LOG("vIOMMU %d of the parent", i + 1);
	}
	EXPECT_EQ(-ENOSPC, viommu_alloc(n->iommufd, 0,
					IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
					n->edu[0].dev_id, n->parent_id,
					&extra));
	/* Another parent has room of its own */
	ASSERT_EQ(0, hwpt_alloc(n->iommufd, IOMMU_HWPT_ALLOC_NEST_PARENT,
				n->edu[0].dev_id, n->ioas_id,
				IOMMU_HWPT_DATA_NONE, NULL, 0, &parent2));
	EXPECT_EQ(0, viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  n->edu[0].dev_id, parent2, &extra));
	EXPECT_EQ(0, obj_destroy(n->iommufd, extra));
	EXPECT_EQ(0, obj_destroy(n->iommufd, parent2));

	EXPECT_EQ(0, obj_destroy(n->iommufd, ids[1]));
	ASSERT_EQ(0, viommu_alloc(n->iommufd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  n->edu[0].dev_id, n->parent_id, &ids[1]));
	for (i = 1; i < VSMMUS_PER_PARENT; i++)
		EXPECT_EQ(0, obj_destroy(n->iommufd, ids[i]));
}

/* 7. Teardown */

TEST_F(vsmmu, teardown_in_order)
{
	struct nest *n = &self->n;
	int fd = n->iommufd;

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));

	/* Everything in use refuses to go */
	EXPECT_EQ(-EBUSY, obj_destroy(fd, n->bypass_id));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, n->viommu_id));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, n->parent_id));
	EXPECT_EQ(-EBUSY, obj_destroy(fd, n->ioas_id));

	ASSERT_EQ(0, dev_detach(&n->edu[0]));
	EXPECT_EQ(0, obj_destroy(fd, n->bypass_id));
	EXPECT_EQ(0, obj_destroy(fd, n->abort_id));
	EXPECT_EQ(0, obj_destroy(fd, n->s1_id));
	EXPECT_EQ(0, obj_destroy(fd, n->v0_id));
	EXPECT_EQ(0, obj_destroy(fd, n->vdev_id));
	EXPECT_EQ(0, obj_destroy(fd, n->viommu_id));
	EXPECT_EQ(0, obj_destroy(fd, n->parent_id));
	EXPECT_EQ(0, obj_destroy(fd, n->ioas_id));

	EXPECT_EQ(-ENOENT, obj_destroy(fd, n->viommu_id));
	EXPECT_EQ(-ENOENT, obj_destroy(fd, n->vdev_id));
}

/*
 * Unbinding a device (closing its VFIO cdev) with its vDEVICE alive and
 * a nested HWPT attached takes the vDEVICE with it.
 */
TEST_F(vsmmu, unbind_with_vdevice)
{
	struct nest *n = &self->n;
	int fd = n->iommufd;
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t num = 1;

	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));
	edu_close(&n->edu[0]);

	EXPECT_EQ(-ENOENT, obj_destroy(fd, n->vdev_id));
	mkcmd(&cmd, OP_CFGI_CD_ALL | CMD0_SID(VSID0), 0);
	EXPECT_EQ(-EIO, viommu_cmds(fd, n->viommu_id, &cmd, &num));
	EXPECT_EQ(0, num);

	EXPECT_EQ(0, obj_destroy(fd, n->bypass_id));
	EXPECT_EQ(0, obj_destroy(fd, n->abort_id));
	EXPECT_EQ(0, obj_destroy(fd, n->s1_id));
	EXPECT_EQ(0, obj_destroy(fd, n->v0_id));
	EXPECT_EQ(0, obj_destroy(fd, n->viommu_id));
	EXPECT_EQ(0, obj_destroy(fd, n->parent_id));
	EXPECT_EQ(0, obj_destroy(fd, n->ioas_id));
}

/* Everything alive and in use, then only close(): device fds first */
TEST_F(vsmmu, close_all_alive_devices_first)
{
	struct nest *n = &self->n;

	uint32_t vdev1;

	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, n->edu[1].dev_id,
				   VSID1, &vdev1));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->bypass_id));
	ASSERT_EQ(0, dev_attach(&n->edu[1], n->abort_id));
	ASSERT_EQ(0, dma_roundtrip(n, 0, 1, PAT_A));

	/* munmap of BAR0 and close: the last reference, so unbind */
	edu_close(&n->edu[0]);
	edu_close(&n->edu[1]);
	EXPECT_EQ(0, close(n->iommufd));
	n->iommufd = -1;
}

/* ...and the iommufd first, the devices still holding its context */
TEST_F(vsmmu, close_all_alive_iommufd_first)
{
	struct nest *n = &self->n;

	uint32_t vdev1;

	ASSERT_EQ(0, vdevice_alloc(n->iommufd, n->viommu_id, n->edu[1].dev_id,
				   VSID1, &vdev1));
	ASSERT_EQ(0, dev_attach(&n->edu[0], n->s1_id));
	ASSERT_EQ(0, dev_attach(&n->edu[1], n->bypass_id));

	EXPECT_EQ(0, close(n->iommufd));
	n->iommufd = -1;
	edu_close(&n->edu[0]);
	edu_close(&n->edu[1]);
}

/* 4. (cont.) Guest STE validation, one result per STE */

FIXTURE(vste)
{
	struct nest n;
};

FIXTURE_VARIANT(vste)
{
	uint64_t ste0;
	uint64_t ste1;
	int err;	/* 0, or IOMMU_HWPT_ALLOC's -errno */
};

FIXTURE_VARIANT_ADD(vste, abort)
{
	.ste0 = STE0_V | STE0_CFG(CFG_ABORT),
};

FIXTURE_VARIANT_ADD(vste, bypass)
{
	.ste0 = STE0_V | STE0_CFG(CFG_BYPASS),
};

FIXTURE_VARIANT_ADD(vste, s1)
{
	.ste0 = STE_S1_CD | STE0_S1FMT(0) | STE0_S1CDMAX(0),
};

FIXTURE_VARIANT_ADD(vste, v0)
{
	.ste0 = 0,
};

/* With V clear nothing else is looked at: still an abort */
FIXTURE_VARIANT_ADD(vste, v0_other_fields)
{
	.ste0 = STE0_CFG(CFG_NESTED) | (1ULL << 56),
	.ste1 = (1ULL << 8) | STE1_EATS(2),
};

/* Every guest-owned field set (EATS aside, see eats_split) */
FIXTURE_VARIANT_ADD(vste, s1_all_fields)
{
	.ste0 = STE_S1_CD | STE0_S1FMT(1) | STE0_S1CDMAX(5),
	.ste1 = STE1_S1DSS(1) | STE1_S1CIR(1) | STE1_S1COR(1) |
		STE1_S1CSH(3) | STE1_S1STALLD,
};

FIXTURE_VARIANT_ADD(vste, cfg_s2_only)
{
	.ste0 = STE0_V | STE0_CFG(CFG_S2),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, cfg_nested)
{
	.ste0 = STE0_V | STE0_CFG(CFG_NESTED),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, cfg_reserved)
{
	.ste0 = STE0_V | STE0_CFG(0x2),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, s1fmt_reserved)
{
	.ste0 = STE_S1_CD | STE0_S1FMT(3) | STE0_S1CDMAX(1),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, s1dss_reserved)
{
	.ste0 = STE_S1_CD,
	.ste1 = STE1_S1DSS(3),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, word0_bit56)
{
	.ste0 = STE0_V | STE0_CFG(CFG_BYPASS) | (1ULL << 56),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, word1_bit8)
{
	.ste0 = STE0_V | STE0_CFG(CFG_BYPASS),
	.ste1 = 1ULL << 8,
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, word1_strw)
{
	.ste0 = STE_S1_CD,
	.ste1 = STE1_STRW(2),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, word1_shcfg)
{
	.ste0 = STE0_V | STE0_CFG(CFG_BYPASS),
	.ste1 = STE1_SHCFG(1),
	.err = -EIO,
};

FIXTURE_VARIANT_ADD(vste, eats_split)
{
	.ste0 = STE_S1_CD,
	.ste1 = STE1_EATS(2),
	.err = -EIO,
};

FIXTURE_SETUP(vste)
{
	nest_setup(_metadata, &self->n, NEST_VIOMMU);
}

FIXTURE_TEARDOWN(vste)
{
	nest_teardown(&self->n);
}

TEST_F(vste, alloc)
{
	struct nest *n = &self->n;
	uint32_t id = 0;

	TH_LOG("vSTE %016llx %016llx", (unsigned long long)variant->ste0,
	       (unsigned long long)variant->ste1);
	ASSERT_EQ(variant->err, nested_alloc(n->iommufd, n->viommu_id,
					     n->edu[0].dev_id, variant->ste0,
					     variant->ste1, &id));
	if (variant->err) {
		EXPECT_EQ(0, id);
		return;
	}
	/* An accepted vSTE can be installed for the device */
	EXPECT_EQ(0, dev_attach(&n->edu[0], id));
	EXPECT_EQ(-EBUSY, obj_destroy(n->iommufd, id));
	EXPECT_EQ(0, dev_detach(&n->edu[0]));
	EXPECT_EQ(0, obj_destroy(n->iommufd, id));
}

TEST_HARNESS_MAIN
