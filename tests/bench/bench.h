/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The measuring loop shared by the benchmark programs. A figure is a
 * callback doing one operation; it is timed in rounds of a calibrated
 * number of calls, and the min and median of the per-operation times over
 * the rounds are reported. Figures that are compared with each other are
 * measured in one group whose rounds are interleaved (A B C A B C ...), so
 * that drift of the emulated machine hits both sides of a ratio alike.
 *
 * Where a figure depends on where things sit in memory (under TCG, on the
 * emulated TLB above all), one layout can be lucky or unlucky for a whole
 * process. A program may then set everything up again several times (in
 * "runs", BENCH_RUNS) and measure each group in each: bench_measure()
 * adds the rounds of one run, bench_report() takes min and median over the
 * rounds of all runs. bench_group() is both, for a single run.
 *
 * Output, on stdout: one "figure NAME MIN MEDIAN UNIT" line per figure and
 * one "ratio NAME VALUE x" line per ratio (of medians), framed as a TAP plan
 * of one test, which fails if a call fails (a DMA that does not reach the
 * page it must, say); progress goes to stderr.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_ROUNDS	31
#define BENCH_MAX_RUNS		15
#define BENCH_MAX_FIGS		16

struct bench_fig {
	const char *name;
	/* One call; returns 0 or a -errno, which aborts the program */
	int (*op)(void *arg);
	void *arg;
	/* Optional, untimed, before each round: set the stage for it */
	int (*prepare)(void *arg);
	/* Operations per call: a batch of commands is timed per command */
	unsigned int per_call;
	unsigned long calls;		/* per round, from calibration */
	/* Per operation, one per round, of all runs so far */
	double ns[BENCH_MAX_ROUNDS * BENCH_MAX_RUNS];
	unsigned int nr_ns;
	double min, median;
};

#define BENCH_FIG(_name, _op, _arg, _per_call)				\
	((struct bench_fig){ .name = (_name), .op = (_op), .arg = (_arg),	\
			     .per_call = (_per_call) })

static unsigned int bench_rounds = 9;
static unsigned int bench_runs = 1;
/* Calibrate a round to take at least this long */
static double bench_round_ns = 30e6;

static const char *bench_name = "bench";

static void bench_die(const char *fmt, ...)
{
	int err = errno;	/* for %m */
	va_list ap;

	va_start(ap, fmt);
	printf("not ok 1 %s: ", bench_name);
	errno = err;
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double bench_time_calls(struct bench_fig *f, unsigned long calls)
{
	unsigned long i;
	double t0;
	int rc;

	if (f->prepare) {
		rc = f->prepare(f->arg);
		if (rc)
			bench_die("%s: prepare failed: %s", f->name,
				  strerror(-rc));
	}
	t0 = bench_now_ns();
	for (i = 0; i < calls; i++) {
		rc = f->op(f->arg);
		if (rc)
			bench_die("%s: call %lu failed: %s", f->name, i,
				  strerror(-rc));
	}
	return bench_now_ns() - t0;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double bench_median(const double *ns, unsigned int nr)
{
	double sorted[BENCH_MAX_ROUNDS * BENCH_MAX_RUNS];

	memcpy(sorted, ns, nr * sizeof(*sorted));
	qsort(sorted, nr, sizeof(*sorted), bench_cmp_double);
	return sorted[nr / 2];
}

/*
 * Add a run's rounds to the figures of one group, interleaved; calibrate
 * them first if this is their first run
 */
static void bench_measure(struct bench_fig *figs, unsigned int nfigs)
{
	unsigned int r, i;

	for (i = 0; i < nfigs; i++) {
		struct bench_fig *f = &figs[i];
		unsigned long calls = 1;
		double t;

		if (f->calls)
			continue;
		if (!f->per_call)
			f->per_call = 1;
		/* Warm up, then double the calls until a round is long enough */
		bench_time_calls(f, 1);
		for (;;) {
			t = bench_time_calls(f, calls);
			if (t >= bench_round_ns || calls >= (1UL << 24))
				break;
			calls *= t < bench_round_ns / 8 ? 4 : 2;
		}
		f->calls = calls;
	}
	for (r = 0; r < bench_rounds; r++)
		for (i = 0; i < nfigs; i++) {
			struct bench_fig *f = &figs[i];

			if (f->nr_ns == sizeof(f->ns) / sizeof(f->ns[0]))
				bench_die("%s: too many rounds", f->name);
			f->ns[f->nr_ns++] = bench_time_calls(f, f->calls) /
					    ((double)f->calls * f->per_call);
		}
	if (bench_runs == 1)
		return;
	for (i = 0; i < nfigs; i++) {
		struct bench_fig *f = &figs[i];

		fprintf(stderr, "bench:   %-38s run median %9.0f ns\n", f->name,
			bench_median(f->ns + f->nr_ns - bench_rounds,
				     bench_rounds));
	}
}

/* Report the figures of one group over the rounds of all runs */
static void bench_report(struct bench_fig *figs, unsigned int nfigs)
{
	unsigned int i, r;

	for (i = 0; i < nfigs; i++) {
		struct bench_fig *f = &figs[i];

		f->min = f->ns[0];
		for (r = 1; r < f->nr_ns; r++)
			if (f->ns[r] < f->min)
				f->min = f->ns[r];
		f->median = bench_median(f->ns, f->nr_ns);
		printf("figure %s %.0f %.0f ns\n", f->name, f->min, f->median);
		fprintf(stderr, "bench: %-40s min %9.0f ns  median %9.0f ns  (%u rounds of %lu calls)\n",
			f->name, f->min, f->median, f->nr_ns, f->calls);
		fflush(stdout);
	}
}

/* Measure and report the figures of one group, in one run */
static inline void bench_group(struct bench_fig *figs, unsigned int nfigs)
{
	bench_measure(figs, nfigs);
	bench_report(figs, nfigs);
}

static void bench_ratio(const char *name, const struct bench_fig *num,
			const struct bench_fig *den)
{
	printf("ratio %s %.2f x\n", name, num->median / den->median);
	fprintf(stderr, "bench: ratio %-34s %.2f (%s / %s)\n", name,
		num->median / den->median, num->name, den->name);
	fflush(stdout);
}

static void bench_end(void)
{
	printf("ok 1 %s\n", bench_name);
}

static void bench_args(int argc, char **argv)
{
	const char *s = getenv("BENCH_ROUNDS");

	bench_name = argv[0];
	if (strrchr(bench_name, '/'))
		bench_name = strrchr(bench_name, '/') + 1;
	printf("1..1\n");
	fflush(stdout);

	if (argc > 1)
		s = argv[1];
	if (s) {
		bench_rounds = strtoul(s, NULL, 0);
		if (bench_rounds < 1 || bench_rounds > BENCH_MAX_ROUNDS)
			bench_die("rounds must be 1..%d", BENCH_MAX_ROUNDS);
	}
	s = getenv("BENCH_RUNS");
	if (s) {
		bench_runs = strtoul(s, NULL, 0);
		if (bench_runs < 1 || bench_runs > BENCH_MAX_RUNS)
			bench_die("runs must be 1..%d", BENCH_MAX_RUNS);
	}
	s = getenv("BENCH_ROUND_MS");
	if (s)
		bench_round_ns = strtod(s, NULL) * 1e6;
}

#endif
