// SPDX-License-Identifier: GPL-2.0
/*
 * What nesting costs and saves on the real SMMUv3 driver, measured on
 * QEMU's emulated SMMUv3 (stage=nested) with two edu devices, in a
 * non-debug arm64 kernel. This program is the VMM and the guest, as the
 * e2e tests are: edu0 translates through a guest stage 1 (its own CD and
 * page tables in "guest RAM") nested on the host's stage 2, edu1 through
 * a host paging domain that the VMM keeps as a shadow.
 *
 * A guest mapping change is, with nesting, a PTE write and one TLBI_NH_VA
 * through the vIOMMU, and with shadowing an IOAS_UNMAP and an IOAS_MAP.
 * Both are measured alone and followed by an edu DMA that proves the new
 * mapping (edu starts its DMA from a 100 ms timer, so those figures are
 * mostly edu's). Also: the ioctl floor, vIOMMU invalidation per command,
 * the fan-out of a stage-2 unmap to 1, 2 and 8 vIOMMUs on one parent, and
 * the object lifecycles.
 *
 * usage: smmu_bench [ROUNDS]   (BENCH_ROUNDS, BENCH_ROUND_MS also work)
 */
#include "nest.h"
#include "bench.h"

#define RAM_IPA		0x100000ULL
#define RAM_SIZE	(1UL << 20)
#define IPA(gp)		(RAM_IPA + (uint64_t)(gp) * PAGE_SZ)
#define GP_CD		0
#define GP_TBL(lvl)	(lvl)		/* levels 1-3 */
#define GP_NEST(k)	(4 + (k))	/* the two pages edu0's IOVA moves between */
#define GP_SHADOW(k)	(6 + (k))	/* the two pages edu1's IOVA moves between */
#define GP_MARK		8		/* what the devices' buffers are loaded from */
/* A page of its own in the IOAS, for the stage-2 unmap figures */
#define S2_IPA		(RAM_IPA + RAM_SIZE + PAGE_SZ)

#define IOVA_DATA	0x4000000ULL
#define VSID		0x20
#define ASID		1
#define MAX_VIOMMUS	8
#define MAX_BATCH	4096
#define MARK		"BENCHMRK"

#define IDR5_OAS(r)	((r) & 7)

struct bench {
	int fd;
	uint8_t *ram;
	uint8_t *s2page;
	unsigned int ips;
	uint32_t ioas_id, shadow_ioas_id, parent_id;
	struct edu edu[2];
	uint32_t viommu_id, vdev_id, nested_id;
	/* More vIOMMUs on the parent, for the stage-2 fan-out */
	uint32_t extra[MAX_VIOMMUS];
	unsigned int nr_extra;
	unsigned int k;		/* which of the two pages is mapped now */
};

static struct bench B;

static uint8_t *gva(uint64_t ipa)
{
	return B.ram + (ipa - RAM_IPA);
}

static void gwr64(uint64_t ipa, uint64_t val)
{
	*(uint64_t *)gva(ipa) = htole64(val);
}

static void guest_pte(uint64_t iova, uint64_t ipa)
{
	gwr64(IPA(GP_TBL(3)) + 8 * L3_IDX(iova), s1_pte_page(ipa, 0));
	dma_fence();
}

static void guest_boot(void)
{
	memset(B.ram, 0, RAM_SIZE);
	gwr64(IPA(GP_TBL(1)) + 8 * L1_IDX(IOVA_DATA),
	      PTE_ADDR(IPA(GP_TBL(2))) | PTE_TABLE);
	gwr64(IPA(GP_TBL(2)) + 8 * L2_IDX(IOVA_DATA),
	      PTE_ADDR(IPA(GP_TBL(3))) | PTE_TABLE);
	guest_pte(IOVA_DATA, IPA(GP_MARK));
	guest_cd_write(gva(IPA(GP_CD)), IPA(GP_TBL(1)), B.ips, ASID);
	memcpy(gva(IPA(GP_MARK)), MARK, 8);
	dma_fence();
}

static int vste_s1(uint32_t *id)
{
	uint64_t ste[2];

	vste_words(VSTE_S1, IPA(GP_CD), ste);
	return nested_alloc(B.fd, B.viommu_id, B.edu[0].dev_id, ste[0], ste[1],
			    id);
}

static int tlbi_va(uint64_t iova)
{
	struct iommu_viommu_arm_smmuv3_invalidate cmd;
	uint32_t num = 1;

	mkcmd(&cmd, OP_TLBI_NH_VA | CMD0_ASID(ASID),
	      CMD1_ADDR(iova) | CMD1_LEAF);
	return viommu_cmds(B.fd, B.viommu_id, &cmd, &num);
}

/* DMA MARK from the device's buffer to IOVA_DATA; it must land in page */
static int dma_proves(struct edu *e, uint8_t *page)
{
	int rc;

	memset(page, 0, 8);
	dma_fence();
	rc = edu_dma(e, IOVA_DATA, 0, 8, false);
	dma_fence();
	if (rc)
		return rc;
	return memcmp(page, MARK, 8) ? -EIO : 0;
}

/* Figures */

static int op_floor(void *arg)
{
	return obj_destroy(B.fd, 0) == -ENOENT ? 0 : -EINVAL;
}

struct inval {
	unsigned int num;
	struct iommu_viommu_arm_smmuv3_invalidate *cmds;
};

static int op_inval(void *arg)
{
	struct inval *iv = arg;
	uint32_t num = iv->num;
	int rc = viommu_cmds(B.fd, B.viommu_id, iv->cmds, &num);

	return rc ?: num == iv->num ? 0 : -EIO;
}

/* The guest moves IOVA_DATA to its other page: a PTE and a TLBI */
static int nested_change(void)
{
	B.k ^= 1;
	guest_pte(IOVA_DATA, IPA(GP_NEST(B.k)));
	return tlbi_va(IOVA_DATA);
}

/* The VMM moves IOVA_DATA of the shadow to the other page */
static int shadow_change(void)
{
	int rc;

	B.k ^= 1;
	rc = ioas_unmap(B.fd, B.shadow_ioas_id, IOVA_DATA, PAGE_SZ);
	return rc ?: ioas_map(B.fd, B.shadow_ioas_id,
			      gva(IPA(GP_SHADOW(B.k))), PAGE_SZ, IOVA_DATA);
}

static int op_nested_change(void *arg)
{
	return nested_change();
}

static int op_shadow_change(void *arg)
{
	return shadow_change();
}

static int op_nested_change_dma(void *arg)
{
	return nested_change() ?: dma_proves(&B.edu[0], gva(IPA(GP_NEST(B.k))));
}

static int op_shadow_change_dma(void *arg)
{
	return shadow_change() ?: dma_proves(&B.edu[1],
					      gva(IPA(GP_SHADOW(B.k))));
}

/* Have exactly n vIOMMUs on the parent: the first and n - 1 others */
static int set_viommus(void *arg)
{
	unsigned int n = (uintptr_t)arg;
	int rc;

	while (B.nr_extra + 1 > n)
		if (obj_destroy(B.fd, B.extra[--B.nr_extra]))
			return -errno;
	while (B.nr_extra + 1 < n) {
		rc = viommu_alloc(B.fd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				  B.edu[0].dev_id, B.parent_id,
				  &B.extra[B.nr_extra]);
		if (rc)
			return rc;
		B.nr_extra++;
	}
	return 0;
}

/* A stage-2 change: every vIOMMU on the parent has its VMID invalidated */
static int op_s2_change(void *arg)
{
	int rc = ioas_unmap(B.fd, B.ioas_id, S2_IPA, PAGE_SZ);

	return rc ?: ioas_map(B.fd, B.ioas_id, B.s2page, PAGE_SZ, S2_IPA);
}

static int op_vdevice(void *arg)
{
	uint32_t id = 0;
	int rc = vdevice_alloc(B.fd, B.viommu_id, B.edu[1].dev_id, VSID + 1,
			       &id);

	return rc ?: obj_destroy(B.fd, id);
}

static int op_viommu(void *arg)
{
	uint32_t id = 0;
	int rc = viommu_alloc(B.fd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
			      B.edu[0].dev_id, B.parent_id, &id);

	return rc ?: obj_destroy(B.fd, id);
}

/* The guest rewrites edu0's STE: a nested HWPT and the switch to it */
static int op_ste_change(void *arg)
{
	uint32_t id = 0;
	int rc = vste_s1(&id);

	if (rc)
		return rc;
	rc = dev_attach(&B.edu[0], id);
	if (rc) {
		obj_destroy(B.fd, id);
		return rc;
	}
	rc = obj_destroy(B.fd, B.nested_id);
	B.nested_id = id;
	return rc;
}

static void setup(void)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hw_info_arm_smmuv3 hw = {};
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.data_len = sizeof(hw),
		.data_uptr = (uintptr_t)&hw,
	};
	int d, rc;

	B.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	B.s2page = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (B.ram == MAP_FAILED || B.s2page == MAP_FAILED)
		bench_die("mmap: %m");
	B.fd = open("/dev/iommu", O_RDWR);
	if (B.fd < 0)
		bench_die("/dev/iommu: %m");
	for (d = 0; d < 2; d++) {
		rc = edu_open(&B.edu[d], d, B.fd);
		if (rc)
			bench_die("edu%d: %s", d, strerror(-rc));
	}
	info.dev_id = B.edu[0].dev_id;
	if (ioctl(B.fd, IOMMU_GET_HW_INFO, &info))
		bench_die("GET_HW_INFO: %m");
	B.ips = IDR5_OAS(hw.idr[5]) > 5 ? 5 : IDR5_OAS(hw.idr[5]);

	/* The VM's IOAS: guest RAM, and the stage-2 test page on its own */
	if (ioctl(B.fd, IOMMU_IOAS_ALLOC, &ioas))
		bench_die("IOAS_ALLOC: %m");
	B.ioas_id = ioas.out_ioas_id;
	if (ioas_map(B.fd, B.ioas_id, B.ram, RAM_SIZE, RAM_IPA) ||
	    ioas_map(B.fd, B.ioas_id, B.s2page, PAGE_SZ, S2_IPA))
		bench_die("IOAS_MAP: %m");
	rc = hwpt_alloc(B.fd, IOMMU_HWPT_ALLOC_NEST_PARENT, B.edu[0].dev_id,
			B.ioas_id, IOMMU_HWPT_DATA_NONE, NULL, 0, &B.parent_id);
	rc = rc ?: viommu_alloc(B.fd, 0, IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
				B.edu[0].dev_id, B.parent_id, &B.viommu_id);
	rc = rc ?: vdevice_alloc(B.fd, B.viommu_id, B.edu[0].dev_id, VSID,
				 &B.vdev_id);
	if (rc)
		bench_die("nesting parent, vIOMMU, vDEVICE: %s", strerror(-rc));

	/* edu0: the guest's stage 1; its buffer is loaded with MARK */
	guest_boot();
	rc = vste_s1(&B.nested_id);
	rc = rc ?: dev_attach(&B.edu[0], B.nested_id);
	rc = rc ?: edu_dma(&B.edu[0], IOVA_DATA, 0, 8, true);
	if (rc)
		bench_die("nested attach: %s", strerror(-rc));

	/* edu1: the shadow, an IOAS of IOVAs the VMM maps */
	if (ioctl(B.fd, IOMMU_IOAS_ALLOC, &ioas))
		bench_die("IOAS_ALLOC: %m");
	B.shadow_ioas_id = ioas.out_ioas_id;
	rc = ioas_map(B.fd, B.shadow_ioas_id, gva(IPA(GP_MARK)), PAGE_SZ,
		      IOVA_DATA);
	rc = rc ?: dev_attach(&B.edu[1], B.shadow_ioas_id);
	rc = rc ?: edu_dma(&B.edu[1], IOVA_DATA, 0, 8, true);
	if (rc)
		bench_die("shadow attach: %s", strerror(-rc));

	/* Both buffers now hold MARK; the first change proves DMA works */
	guest_pte(IOVA_DATA, IPA(GP_NEST(0)));
	if (tlbi_va(IOVA_DATA) ||
	    dma_proves(&B.edu[0], gva(IPA(GP_NEST(0)))))
		bench_die("nested DMA does not reach the guest's page");
	if (ioas_unmap(B.fd, B.shadow_ioas_id, IOVA_DATA, PAGE_SZ) ||
	    ioas_map(B.fd, B.shadow_ioas_id, gva(IPA(GP_SHADOW(0))), PAGE_SZ,
		     IOVA_DATA) ||
	    dma_proves(&B.edu[1], gva(IPA(GP_SHADOW(0)))))
		bench_die("shadow DMA does not reach the VMM's page");
}

static const unsigned int batches[] = { 1, 16, 256, 4096 };
#define NR_BATCHES (sizeof(batches) / sizeof(batches[0]))

int main(int argc, char **argv)
{
	static struct iommu_viommu_arm_smmuv3_invalidate cmds[MAX_BATCH];
	static const unsigned int fanout[] = { 1, 2, MAX_VIOMMUS };
	struct bench_fig figs[BENCH_MAX_FIGS];
	struct inval inv[NR_BATCHES];
	char names[NR_BATCHES][48];
	unsigned int i;

	bench_args(argc, argv);
	fprintf(stderr, "bench: setting up edu0 (nested) and edu1 (shadow)\n");
	setup();

	memset(figs, 0, sizeof(figs));
	figs[0] = BENCH_FIG("smmu_ioctl_floor", op_floor, NULL, 1);
	bench_group(figs, 1);

	/* TLBI_NH_VA of distinct pages of the guest's ASID */
	for (i = 0; i < MAX_BATCH; i++)
		mkcmd(&cmds[i], OP_TLBI_NH_VA | CMD0_ASID(ASID),
		      CMD1_ADDR(IOVA_DATA + (uint64_t)i * PAGE_SZ) | CMD1_LEAF);
	memset(figs, 0, sizeof(figs));
	for (i = 0; i < NR_BATCHES; i++) {
		inv[i] = (struct inval){ batches[i], cmds };
		snprintf(names[i], sizeof(names[i]),
			 "smmu_viommu_inval_b%u", batches[i]);
		figs[i] = BENCH_FIG(names[i], op_inval, &inv[i], batches[i]);
	}
	bench_group(figs, NR_BATCHES);

	memset(figs, 0, sizeof(figs));
	figs[0] = BENCH_FIG("smmu_map_change_nested", op_nested_change, NULL, 1);
	figs[1] = BENCH_FIG("smmu_map_change_shadow", op_shadow_change, NULL, 1);
	bench_group(figs, 2);
	bench_ratio("smmu_shadow_vs_nested_map_change", &figs[1], &figs[0]);

	memset(figs, 0, sizeof(figs));
	figs[0] = BENCH_FIG("smmu_map_change_nested_dma", op_nested_change_dma,
			    NULL, 1);
	figs[1] = BENCH_FIG("smmu_map_change_shadow_dma", op_shadow_change_dma,
			    NULL, 1);
	bench_group(figs, 2);
	bench_ratio("smmu_shadow_vs_nested_map_change_dma", &figs[1], &figs[0]);

	memset(figs, 0, sizeof(figs));
	for (i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "smmu_s2_change_%uviommu",
			 fanout[i]);
		figs[i] = BENCH_FIG(names[i], op_s2_change, NULL, 1);
		figs[i].arg = (void *)(uintptr_t)fanout[i];
		figs[i].prepare = set_viommus;
	}
	bench_group(figs, 3);
	bench_ratio("smmu_s2_change_2_vs_1_viommu", &figs[1], &figs[0]);
	bench_ratio("smmu_s2_change_8_vs_1_viommu", &figs[2], &figs[0]);
	set_viommus((void *)1UL);

	memset(figs, 0, sizeof(figs));
	figs[0] = BENCH_FIG("smmu_vdevice_alloc_destroy", op_vdevice, NULL, 1);
	figs[1] = BENCH_FIG("smmu_viommu_alloc_destroy", op_viommu, NULL, 1);
	figs[2] = BENCH_FIG("smmu_guest_ste_change", op_ste_change, NULL, 1);
	bench_group(figs, 3);

	/* The objects go with the fds */
	edu_close(&B.edu[0]);
	edu_close(&B.edu[1]);
	close(B.fd);
	bench_end();
	return 0;
}
