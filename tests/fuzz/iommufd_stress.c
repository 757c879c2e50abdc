// SPDX-License-Identifier: GPL-2.0
/*
 * A concurrency stress of the vIOMMU objects on the mock driver
 * (CONFIG_IOMMUFD_TEST, the x86_64 test VM), with its invariants checked
 * while it runs.
 *
 * Each round opens an iommufd and builds two vIOMMUs on one nesting parent:
 * vIOMMU 1 with devices whose vDEVICEs have virtual IDs 1, 2 and 5, and
 * vIOMMU 2 whose one device has virtual ID 1 too. Then threads race on
 * that iommufd:
 *
 *  - invalidation through vIOMMU 1 (virtual IDs 1, 2, 5, unknown ones) and
 *    through a 6.12 nested HWPT;
 *  - DESTROY and VDEVICE_ALLOC of the vDEVICE with virtual ID 2;
 *  - nested HWPT allocation through vIOMMU 1, replace between it and the
 *    parent, DESTROY of the HWPT left behind;
 *  - unbinding a device whose vDEVICE (virtual ID 5) and nested attachment
 *    are alive, and binding a new one in its place;
 *  - vEVENTQ allocation, events triggered and read, DESTROY;
 *  - a third vIOMMU allocated, given a vDEVICE and destroyed, and DESTROY
 *    of vIOMMU 1 (which must fail with EBUSY while it is in use);
 *
 * and then the main thread closes the iommufd under them with everything
 * alive. A second process does the same with its own iommufd, vIOMMU and
 * virtual IDs 1 and 2 throughout.
 *
 * Checked: the device on vIOMMU 2 and the second process's devices (which
 * nothing invalidates) keep their caches and nested IOTLB untouched (an
 * invalidation never reaches another vIOMMU or another process's devices,
 * whatever virtual ID it names); DESTROY of vIOMMU 1 fails with EBUSY; no mock device outlives its iommufd (the mock bus is empty after
 * each round); no thread stalls for a minute (a deadlock; lockdep and the
 * hung-task detector report on the console, which the harness reads, as
 * they do KASAN, UBSAN and kmemleak).
 *
 * usage: iommufd_stress [-t SECONDS] [-s SEED] [-x]     (default 20 s)
 *   -x  the checks' own red test: the watching process invalidates one of
 *       its devices itself, once, and the run must fail
 * Output is TAP, one test, with the figures as comments.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_mock.h"

#define PAGE_SZ		4096UL
#define IOVA_BASE	(1UL << 24)
#define BUF_PAGES	16
#define WATCHDOG_S	60
#define NR_WORKERS	6

/* What the processes share: progress, counters, the first failure */
struct shared {
	unsigned long progress;
	unsigned long rounds[2];
	unsigned long ops[NR_WORKERS + 1], errs[NR_WORKERS + 1];
	unsigned long by_errno[NR_WORKERS + 1][134];
	unsigned long checks;
	char failure[256];
};

static const char * const worker_names[NR_WORKERS + 1] = {
	"invalidate", "vdevice", "replace", "unbind", "veventq", "viommu",
	"checks",
};

static struct shared *sh;
static volatile int stop;
/* Set before the iommufd is closed under the workers */
static volatile int closing;
static uint8_t *buf;
/* -x: the watching process invalidates its own device once, to go red */
static bool red_check;

/* The objects of one round */
struct round {
	int fd;
	uint32_t ioas_id, parent_id, viommu1, viommu2, nested612;
	uint32_t stdev[4], idev[4];	/* 0, 1: vIOMMU 1; 2: vIOMMU 2; 3: spare */
	uint32_t vdev2;			/* virtual ID 2, of device 1 */
	unsigned int seed;
};

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (sh->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(sh->failure, sizeof(sh->failure), fmt, ap);
	va_end(ap);
	stop = 1;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static unsigned int rnd(unsigned int *seed, unsigned int n)
{
	*seed = *seed * 1103515245 + 12345;
	return (*seed >> 8) % n;
}

/* 0 if every cache entry of the device still holds its first value */
static int check_caches(int fd, uint32_t idev)
{
	unsigned int i;
	int rc;

	for (i = 0; i < MOCK_DEV_CACHE_NUM; i++) {
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_DEV_CHECK_CACHE,
			.id = idev,
			.check_dev_cache = {
				.id = i, .cache = IOMMU_TEST_DEV_CACHE_DEFAULT,
			},
		};

		rc = xioctl(fd, IOMMU_TEST_CMD, &c);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_iotlbs(int fd, uint32_t hwpt)
{
	unsigned int i;
	int rc;

	for (i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) {
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_MD_CHECK_IOTLB,
			.id = hwpt,
			.check_iotlb = {
				.id = i, .iotlb = IOMMU_TEST_IOTLB_DEFAULT,
			},
		};

		rc = xioctl(fd, IOMMU_TEST_CMD, &c);
		if (rc)
			return rc;
	}
	return 0;
}

static void count(int worker, int rc)
{
	__atomic_add_fetch(&sh->ops[worker], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sh->progress, 1, __ATOMIC_RELAXED);
	if (rc) {
		__atomic_add_fetch(&sh->errs[worker], 1, __ATOMIC_RELAXED);
		if (-rc < 134)
			__atomic_add_fetch(&sh->by_errno[worker][-rc], 1,
					   __ATOMIC_RELAXED);
	}
}

/* The workers. Errors are expected: the races are the point. */

static void *w_invalidate(void *arg)
{
	struct round *r = arg;
	unsigned int seed = r->seed ^ 1;
	static const uint32_t vids[] = { 1, 2, 5, 3, 0xffffffff };

	while (!stop && !closing) {
		struct iommu_viommu_invalidate_selftest v[8];
		struct iommu_hwpt_invalidate_selftest h = {
			.flags = IOMMU_TEST_INVALIDATE_FLAG_ALL,
		};
		uint32_t i, n = 1 + rnd(&seed, 8), one = 1;

		for (i = 0; i < n; i++)
			v[i] = (struct iommu_viommu_invalidate_selftest){
				.flags = rnd(&seed, 3) ? 0 :
					 IOMMU_TEST_INVALIDATE_FLAG_ALL,
				.vdev_id = vids[rnd(&seed, 5)],
				.cache_id = rnd(&seed, MOCK_DEV_CACHE_NUM),
			};
		count(0, invalidate(r->fd, r->viommu1,
				    IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, v,
				    sizeof(v[0]), &n));
		if (!rnd(&seed, 4))
			count(0, invalidate(r->fd, r->nested612,
					    IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
					    &h, sizeof(h), &one));
	}
	return NULL;
}

static void *w_vdevice(void *arg)
{
	struct round *r = arg;

	while (!stop && !closing) {
		count(1, obj_destroy(r->fd, r->vdev2));
		count(1, vdevice_alloc(r->fd, r->viommu1, r->idev[1], 2,
				       &r->vdev2));
	}
	return NULL;
}

static void *w_replace(void *arg)
{
	struct round *r = arg;
	uint32_t nested, old = 0;
	unsigned int n = 0;

	while (!stop && !closing) {
		int rc = mock_nested_alloc(r->fd, r->idev[0], r->viommu1,
					   &nested);

		count(2, rc);
		if (rc)
			continue;
		count(2, mock_replace(r->fd, r->stdev[0], nested));
		if (old)
			count(2, obj_destroy(r->fd, old));
		old = nested;
		if (!(n++ % 3)) {
			count(2, mock_replace(r->fd, r->stdev[0],
					      r->parent_id));
			count(2, obj_destroy(r->fd, old));
			old = 0;
		}
	}
	return NULL;
}

/* Device 3 comes and goes, with its vDEVICE and nested HWPT alive */
static void *w_unbind(void *arg)
{
	struct round *r = arg;
	uint32_t nested;
	int rc;

	while (!stop && !closing) {
		rc = mock_domain(r->fd, r->ioas_id, &r->stdev[3], &r->idev[3]);
		count(3, rc);
		if (rc)
			continue;
		count(3, vdevice_alloc(r->fd, r->viommu1, r->idev[3], 5, NULL));
		if (!mock_nested_alloc(r->fd, r->idev[3], r->viommu1, &nested))
			count(3, mock_replace(r->fd, r->stdev[3], nested));
		/* The selftest object's DESTROY unbinds the device */
		count(3, obj_destroy(r->fd, r->stdev[3]));
	}
	return NULL;
}

/*
 * DESTROY of an object nothing else should hold: a transient EBUSY (an
 * ioctl of another thread still holding the object) is waited out, so
 * that the check for a vEVENTQ outliving its DESTROY cannot misfire
 */
static int destroy_settled(int fd, uint32_t id)
{
	int rc, i;

	for (i = 0; i < 100; i++) {
		rc = obj_destroy(fd, id);
		if (rc != -EBUSY)
			break;
		usleep(1000);
	}
	return rc;
}

static void *w_veventq(void *arg)
{
	struct round *r = arg;
	unsigned int n = 0;
	char rec[256];

	while (!stop && !closing) {
		struct iommu_veventq_alloc a = {
			.size = sizeof(a),
			.viommu_id = r->viommu1,
			.type = IOMMU_VEVENTQ_TYPE_SELFTEST,
			.veventq_depth = 4,
		};
		struct iommu_test_cmd t = {
			.size = sizeof(t),
			.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
			.trigger_vevent.dev_id = r->idev[0],
		};
		int rc = xioctl(r->fd, IOMMU_VEVENTQ_ALLOC, &a), i;

		if (rc == -EEXIST && !closing)
			fail("a vEVENTQ outlived its DESTROY");

		count(4, rc);
		if (rc)
			continue;
		for (i = 0; i < 8; i++)
			count(4, xioctl(r->fd, IOMMU_TEST_CMD, &t));
		count(4, read(a.out_veventq_fd, rec, sizeof(rec)) < 0 ?
				 -errno : 0);
		/*
		 * The fd before the object, or the object first: EBUSY while
		 * the fd holds it
		 */
		if (n++ & 1) {
			close(a.out_veventq_fd);
			count(4, destroy_settled(r->fd, a.out_veventq_id));
			continue;
		}
		rc = obj_destroy(r->fd, a.out_veventq_id);
		if (rc != -EBUSY && !closing)
			fail("DESTROY of a vEVENTQ with its fd open: %s",
			     rc ? strerror(-rc) : "it succeeded");
		close(a.out_veventq_fd);
		count(4, destroy_settled(r->fd, a.out_veventq_id));
	}
	return NULL;
}

static void *w_viommu(void *arg)
{
	struct round *r = arg;
	uint32_t v3;

	while (!stop && !closing) {
		int rc = viommu_alloc(r->fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST,
				      r->idev[2], r->parent_id, &v3);

		count(5, rc);
		if (!rc) {
			/* Device 2 has its vDEVICE on vIOMMU 2: EEXIST */
			count(5, vdevice_alloc(r->fd, v3, r->idev[2], 1, NULL));
			count(5, obj_destroy(r->fd, v3));
		}
		/* In use by vDEVICEs and nested HWPTs: EBUSY, never freed */
		rc = obj_destroy(r->fd, r->viommu1);
		/* Unless the iommufd went away under the call */
		if (rc != -EBUSY && !closing)
			fail("DESTROY of a vIOMMU in use: %s",
			     rc ? strerror(-rc) : "it succeeded");
		count(5, rc);
	}
	return NULL;
}

static void *(*const workers[NR_WORKERS])(void *) = {
	w_invalidate, w_vdevice, w_replace, w_unbind, w_veventq, w_viommu,
};

static void setup_round(struct round *r)
{
	uint32_t nested;
	int i;

	r->fd = open("/dev/iommu", O_RDWR);
	if (r->fd < 0 || ioas_alloc(r->fd, &r->ioas_id))
		return fail("iommufd: %m");
	for (i = 0; i < 3; i++)
		if (mock_domain(r->fd, r->ioas_id, &r->stdev[i], &r->idev[i]))
			return fail("mock device: %m");
	if (ioas_map(r->fd, r->ioas_id, buf, BUF_PAGES * PAGE_SZ, IOVA_BASE) ||
	    hwpt_alloc(r->fd, IOMMU_HWPT_ALLOC_NEST_PARENT, r->idev[0],
		       r->ioas_id, IOMMU_HWPT_DATA_NONE, NULL, 0,
		       &r->parent_id) ||
	    mock_nested_alloc(r->fd, r->idev[0], r->parent_id,
			      &r->nested612) ||
	    viommu_alloc(r->fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST, r->idev[0],
			 r->parent_id, &r->viommu1) ||
	    viommu_alloc(r->fd, 0, IOMMU_VIOMMU_TYPE_SELFTEST, r->idev[2],
			 r->parent_id, &r->viommu2) ||
	    vdevice_alloc(r->fd, r->viommu1, r->idev[0], 1, NULL) ||
	    vdevice_alloc(r->fd, r->viommu1, r->idev[1], 2, &r->vdev2) ||
	    vdevice_alloc(r->fd, r->viommu2, r->idev[2], 1, NULL) ||
	    mock_nested_alloc(r->fd, r->idev[2], r->viommu2, &nested) ||
	    mock_replace(r->fd, r->stdev[2], nested))
		return fail("round setup: %m");
}

/* The mock devices on the mock bus: none once every iommufd is closed */
static int mock_devices(void)
{
	DIR *d = opendir("/sys/bus/iommufd_mock/devices");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * One process: rounds until the time is up. @who: 0 races, 1 sets up the
 * same objects in its own iommufd and only watches them
 */
static void run(int who, time_t end, unsigned int seed)
{
	while (time(NULL) < end && !sh->failure[0]) {
		struct round r = { .seed = seed++ };
		pthread_t th[NR_WORKERS];
		time_t until = time(NULL) + 2;
		int i, rc;

		stop = 0;
		closing = 0;
		setup_round(&r);
		if (sh->failure[0])
			return;
		if (who == 0)
			for (i = 0; i < NR_WORKERS; i++)
				if (pthread_create(&th[i], NULL, workers[i], &r))
					fail("pthread_create");
		/*
		 * Meanwhile: the device on vIOMMU 2 has virtual ID 1 like one
		 * on vIOMMU 1, which is invalidated all the time; the other
		 * process has IDs 1 and 2 on its own vIOMMU, and never
		 * invalidates them
		 */
		while (time(NULL) < until && !sh->failure[0]) {
			if (red_check && who == 1 && sh->checks > 100) {
				struct iommu_viommu_invalidate_selftest v = {
					.vdev_id = 1,
				};
				uint32_t one = 1;

				invalidate(r.fd, r.viommu1,
					   IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					   &v, sizeof(v), &one);
			}
			rc = check_caches(r.fd, r.idev[2]);
			if (!rc && who == 1)
				rc = check_caches(r.fd, r.idev[0]) ?:
				     check_caches(r.fd, r.idev[1]) ?:
				     check_iotlbs(r.fd, r.nested612);
			if (rc)
				fail("process %d: a device or IOTLB that no invalidation of its own named changed (%s)",
				     who, strerror(-rc));
			count(NR_WORKERS, rc);
			__atomic_add_fetch(&sh->checks, 1, __ATOMIC_RELAXED);
			usleep(1000);
		}
		/* Close with everything alive, the workers still at it */
		closing = 1;
		close(r.fd);
		stop = 1;
		if (who == 0)
			for (i = 0; i < NR_WORKERS; i++)
				pthread_join(th[i], NULL);
		sh->rounds[who]++;
	}
}

int main(int argc, char **argv)
{
	unsigned int seconds = 20, seed = 1, still = 0;
	unsigned long last = 0;
	pid_t kids[2];
	time_t end;
	int c, i, status, n;

	while ((c = getopt(argc, argv, "t:s:x")) != -1) {
		switch (c) {
		case 't':
			seconds = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'x':
			red_check = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-x]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..1\n");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	buf = mmap(NULL, BUF_PAGES * PAGE_SZ, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (sh == MAP_FAILED || buf == MAP_FAILED) {
		printf("not ok 1 iommufd_stress: mmap: %m\n");
		return 1;
	}
	end = time(NULL) + seconds;
	for (i = 0; i < 2; i++) {
		kids[i] = fork();
		if (!kids[i]) {
			run(i, end, seed + 1000 * i);
			exit(0);
		}
	}

	/* Watch: the first failure, or a minute without progress, ends it */
	for (n = 0; n < 2;) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				fail("a stress process died (status %#x)",
				     status);
			n++;
			continue;
		}
		sleep(1);
		if (sh->progress != last) {
			last = sh->progress;
			still = 0;
		} else if (++still == WATCHDOG_S) {
			fail("no progress for %u s: a deadlock?", WATCHDOG_S);
			kill(kids[0], SIGKILL);
			kill(kids[1], SIGKILL);
		}
	}

	/* Nothing outlives its iommufd: the mock bus is empty again */
	for (i = 0; i < 50 && mock_devices() > 0; i++)
		usleep(100000);
	if (mock_devices() > 0)
		fail("%d mock devices outlived their iommufds", mock_devices());

	printf("# %lu + %lu rounds, %lu invariant checks; calls (failed) per worker:\n",
	       sh->rounds[0], sh->rounds[1], sh->checks);
	for (i = 0; i <= NR_WORKERS; i++)
	{
		char line[512];
		int e, len;

		len = snprintf(line, sizeof(line), "#   %-12s %8lu, failed %lu:",
			       worker_names[i], sh->ops[i], sh->errs[i]);
		for (e = 1; e < 134 && len < (int)sizeof(line); e++)
			if (sh->by_errno[i][e])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %lu", strerrorname_np(e),
						sh->by_errno[i][e]);
		printf("%s\n", line);
	}
	if (sh->failure[0]) {
		printf("not ok 1 iommufd_stress: %s\n", sh->failure);
		return 1;
	}
	if (!sh->rounds[0] || !sh->rounds[1] || !sh->ops[0]) {
		printf("not ok 1 iommufd_stress: nothing ran\n");
		return 1;
	}
	printf("ok 1 iommufd_stress: %u s, seed %u\n", seconds, seed);
	return 0;
}
