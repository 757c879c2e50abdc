// SPDX-License-Identifier: GPL-2.0
/*
 * What the vIOMMU paths of iommufd cost, measured on the mock driver
 * (CONFIG_IOMMUFD_TEST) in a non-debug kernel: the ioctl floor, a shadow
 * mapping change, invalidations through a vIOMMU against the 6.12 path
 * through a nested HWPT, with one vDEVICE and with 1024 spread-out ones,
 * and the object lifecycles a VMM goes through. The vIOMMU invalidations are
 * also measured lookup-only (IOMMU_TEST_INVALIDATE_FLAG_LOOKUP_ONLY): what
 * iommufd does per command without the mock device's write to its cache,
 * which with 1024 devices is a store to one of hundreds of scattered pages
 * and, under TCG, costs a softmmu TLB miss that no lookup structure avoids.
 *
 * usage: iommufd_bench [ROUNDS]   (BENCH_ROUNDS, BENCH_ROUND_MS also work;
 * BENCH_RUNS, default 5, is how many times everything is set up anew)
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_mock.h"

#include "bench.h"

#define NR_VDEVS	1024
#define MAX_BATCH	4096
#define PAGE_SZ		4096UL

static int fd;

/* An IOAS; none ends the program */
static uint32_t ioas_new(void)
{
	uint32_t id;

	if (ioas_alloc(fd, &id))
		bench_die("IOAS_ALLOC: %m");
	return id;
}

/* A mock device attached to @ioas_id: its selftest ID and its device ID */
static void mock_dev(uint32_t ioas_id, uint32_t *stdev_id, uint32_t *idev_id)
{
	if (mock_domain(fd, ioas_id, stdev_id, idev_id))
		bench_die("MOCK_DOMAIN: %m");
}

/* A xorshift generator, so that runs target the same virtual IDs */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng32(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state >> 32;
}

/* Figures */

static int op_floor(void *arg)
{
	/* ID 0 never exists: the cheapest ioctl that reaches iommufd */
	return obj_destroy(fd, 0) == -ENOENT ? 0 : -EINVAL;
}

struct shadow {
	uint32_t ioas_id;
	uint64_t iova;
	void *buf;
};

static int op_shadow(void *arg)
{
	struct shadow *s = arg;
	int rc;

	rc = ioas_unmap(fd, s->ioas_id, s->iova, PAGE_SZ);
	if (rc)
		return rc;
	return ioas_map(fd, s->ioas_id, s->buf, PAGE_SZ, s->iova);
}

struct inval {
	uint32_t id;		/* nested HWPT or vIOMMU */
	uint32_t data_type;
	uint32_t entry_len;
	uint32_t num;
	void *entries;
};

static int op_inval(void *arg)
{
	struct inval *iv = arg;
	uint32_t num = iv->num;
	int rc = invalidate(fd, iv->id, iv->data_type, iv->entries,
			    iv->entry_len, &num);

	if (!rc && num != iv->num)
		rc = -EIO;
	return rc;
}

struct lifecycle {
	uint32_t viommu_id, parent_id;
	/* A device with a vDEVICE, attached to the nested HWPT cur_id */
	uint32_t idev_id, stdev_id, cur_id;
	/* A device without one */
	uint32_t spare_idev_id;
};

static int op_vdevice(void *arg)
{
	struct lifecycle *l = arg;
	uint32_t id = 0;
	int rc;

	rc = vdevice_alloc(fd, l->viommu_id, l->spare_idev_id, 0x5678, &id);
	return rc ?: obj_destroy(fd, id);
}

static int op_viommu(void *arg)
{
	struct lifecycle *l = arg;
	uint32_t id = 0;
	int rc;

	rc = viommu_alloc(fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST, l->idev_id,
			  l->parent_id, &id);
	return rc ?: obj_destroy(fd, id);
}

static int op_ste_change(void *arg)
{
	struct lifecycle *l = arg;
	uint32_t id = 0;
	int rc;

	/* The guest writes a new STE: a nested HWPT, then the switch to it */
	rc = mock_nested_alloc(fd, l->idev_id, l->viommu_id, &id);
	if (rc)
		return rc;
	rc = mock_replace(fd, l->stdev_id, id);
	if (rc) {
		obj_destroy(fd, id);
		return rc;
	}
	rc = obj_destroy(fd, l->cur_id);
	l->cur_id = id;
	return rc;
}

static const unsigned int batches[] = { 1, 16, 256, 4096 };
#define NR_BATCHES (sizeof(batches) / sizeof(batches[0]))

/*
 * The invalidation paths: the 6.12 one, the vIOMMU with one and with 1024
 * vDEVICEs, and the latter two lookup-only
 */
enum { P_HWPT, P_ONE, P_MANY, P_ONE_LOOKUP, P_MANY_LOOKUP, NR_PATHS };

/* What the figures of a run work on; set up again for each run */
static struct iommu_hwpt_invalidate_selftest hwpt_cmds[MAX_BATCH];
static struct iommu_viommu_invalidate_selftest one_cmds[2][MAX_BATCH];
static struct iommu_viommu_invalidate_selftest many_cmds[2][MAX_BATCH];
static uint32_t virt_ids[NR_VDEVS];
static struct shadow shadow;
static struct inval inv[NR_BATCHES][NR_PATHS];
static struct lifecycle life;

/* The figures, kept over the runs */
static struct bench_fig base_figs[2], inval_figs[NR_BATCHES][NR_PATHS];
static struct bench_fig life_figs[3];
static char inval_names[NR_BATCHES][NR_PATHS][48];

/* Open /dev/iommu and set up the devices, vIOMMUs and commands of a run */
static void setup(void)
{
	uint32_t ioas_id, dev_ioas_id, stdev_id, idev_id, parent_id;
	uint32_t nested_id, viommu_one, viommu_many, id;
	unsigned int i, b, l;

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		bench_die("/dev/iommu: %m");

	/* The shadow IOAS has one device, so a map reaches one domain */
	ioas_id = ioas_new();
	mock_dev(ioas_id, &stdev_id, &idev_id);
	shadow.ioas_id = ioas_id;
	if (ioas_map(fd, ioas_id, shadow.buf, PAGE_SZ, shadow.iova))
		bench_die("IOAS_MAP: %m");

	/* The nesting parent, its vIOMMUs and the 6.12-style nested HWPT */
	if (hwpt_alloc(fd, IOMMU_HWPT_ALLOC_NEST_PARENT, idev_id, ioas_id,
		       IOMMU_HWPT_DATA_NONE, NULL, 0, &parent_id))
		bench_die("nesting parent: %m");
	if (mock_nested_alloc(fd, idev_id, parent_id, &nested_id))
		bench_die("nested HWPT: %m");
	if (viommu_alloc(fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST, idev_id, parent_id,
			 &viommu_one) ||
	    viommu_alloc(fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST, idev_id, parent_id,
			 &viommu_many))
		bench_die("VIOMMU_ALLOC: %m");

	/* Virtual IDs spread over 32 bits, as a guest's StreamIDs may be */
	for (i = 0; i < NR_VDEVS; i++) {
		unsigned int j;

again:
		virt_ids[i] = rng32();
		for (j = 0; j < i; j++)
			if (virt_ids[j] == virt_ids[i])
				goto again;
	}
	if (vdevice_alloc(fd, viommu_one, idev_id, virt_ids[0], &id))
		bench_die("VDEVICE_ALLOC: %m");
	/* The 1024 devices sit in an IOAS of their own, with nothing mapped */
	dev_ioas_id = ioas_new();
	for (i = 0; i < NR_VDEVS; i++) {
		uint32_t sid, did;

		mock_dev(dev_ioas_id, &sid, &did);
		if (vdevice_alloc(fd, viommu_many, did, virt_ids[i], &id))
			bench_die("VDEVICE_ALLOC %u: %m", i);
	}

	/* The same targets with and without the lookup-only flag */
	for (i = 0; i < MAX_BATCH; i++) {
		uint32_t target = virt_ids[rng32() % NR_VDEVS];

		hwpt_cmds[i].iotlb_id = i % MOCK_NESTED_DOMAIN_IOTLB_NUM;
		for (l = 0; l < 2; l++) {
			uint32_t flags =
				l ? IOMMU_TEST_INVALIDATE_FLAG_LOOKUP_ONLY : 0;

			one_cmds[l][i] = (struct iommu_viommu_invalidate_selftest){
				.flags = flags,
				.vdev_id = virt_ids[0],
				.cache_id = i % MOCK_DEV_CACHE_NUM,
			};
			many_cmds[l][i] = one_cmds[l][i];
			many_cmds[l][i].vdev_id = target;
		}
	}
	for (b = 0; b < NR_BATCHES; b++) {
		inv[b][P_HWPT] = (struct inval){
			nested_id, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
			sizeof(hwpt_cmds[0]), batches[b], hwpt_cmds };
		for (l = 0; l < 2; l++) {
			inv[b][l ? P_ONE_LOOKUP : P_ONE] = (struct inval){
				viommu_one,
				IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
				sizeof(one_cmds[l][0]), batches[b],
				one_cmds[l] };
			inv[b][l ? P_MANY_LOOKUP : P_MANY] = (struct inval){
				viommu_many,
				IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
				sizeof(many_cmds[l][0]), batches[b],
				many_cmds[l] };
		}
	}

	/* Lifecycles: a spare device, and one attached to a nested HWPT */
	memset(&life, 0, sizeof(life));
	mock_dev(dev_ioas_id, &stdev_id, &life.spare_idev_id);
	mock_dev(dev_ioas_id, &life.stdev_id, &life.idev_id);
	life.parent_id = parent_id;
	life.viommu_id = viommu_one;
	if (vdevice_alloc(fd, viommu_one, life.idev_id, 0x1234, &id) ||
	    mock_nested_alloc(fd, life.idev_id, viommu_one, &life.cur_id) ||
	    mock_replace(fd, life.stdev_id, life.cur_id))
		bench_die("nested attach: %m");
}

int main(int argc, char **argv)
{
	static const char * const paths[NR_PATHS] = {
		[P_HWPT] = "hwpt_inval",
		[P_ONE] = "viommu_inval_1vdev",
		[P_MANY] = "viommu_inval_1024vdev",
		[P_ONE_LOOKUP] = "viommu_lookup_1vdev",
		[P_MANY_LOOKUP] = "viommu_lookup_1024vdev",
	};
	unsigned int i, b, run;
	char ratio[48];

	/*
	 * The 1024 vDEVICEs and their devices land in different places each
	 * time: measure over several layouts
	 */
	bench_runs = 5;
	bench_args(argc, argv);

	shadow.iova = 1UL << 30;
	shadow.buf = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (shadow.buf == MAP_FAILED)
		bench_die("mmap: %m");

	base_figs[0] = BENCH_FIG("ioctl_floor", op_floor, NULL, 1);
	base_figs[1] = BENCH_FIG("shadow_map_change", op_shadow, &shadow, 1);
	/* Each batch size: the three invalidation paths side by side */
	for (b = 0; b < NR_BATCHES; b++)
		for (i = 0; i < NR_PATHS; i++) {
			snprintf(inval_names[b][i], sizeof(inval_names[b][i]),
				 "%s_b%u", paths[i], batches[b]);
			inval_figs[b][i] = BENCH_FIG(inval_names[b][i],
						     op_inval, &inv[b][i],
						     batches[b]);
		}
	life_figs[0] = BENCH_FIG("vdevice_alloc_destroy", op_vdevice, &life, 1);
	life_figs[1] = BENCH_FIG("viommu_alloc_destroy", op_viommu, &life, 1);
	life_figs[2] = BENCH_FIG("guest_ste_change", op_ste_change, &life, 1);

	for (run = 1; run <= bench_runs; run++) {
		fprintf(stderr, "bench: run %u of %u: setting up the mock devices and vIOMMUs\n",
			run, bench_runs);
		setup();
		bench_measure(base_figs, 2);
		for (b = 0; b < NR_BATCHES; b++)
			bench_measure(inval_figs[b], NR_PATHS);
		bench_measure(life_figs, 3);
		/* Closing the fd frees everything */
		close(fd);
	}

	bench_report(base_figs, 2);
	for (b = 0; b < NR_BATCHES; b++) {
		bench_report(inval_figs[b], NR_PATHS);
		snprintf(ratio, sizeof(ratio), "viommu_vs_hwpt_b%u", batches[b]);
		bench_ratio(ratio, &inval_figs[b][P_ONE], &inval_figs[b][P_HWPT]);
		snprintf(ratio, sizeof(ratio),
			 "viommu_%uvdev_vs_1vdev_b%u", NR_VDEVS, batches[b]);
		bench_ratio(ratio, &inval_figs[b][P_MANY], &inval_figs[b][P_ONE]);
		snprintf(ratio, sizeof(ratio),
			 "viommu_lookup_%uvdev_vs_1vdev_b%u", NR_VDEVS,
			 batches[b]);
		bench_ratio(ratio, &inval_figs[b][P_MANY_LOOKUP],
			    &inval_figs[b][P_ONE_LOOKUP]);
	}
	bench_report(life_figs, 3);
	bench_end();
	return 0;
}
