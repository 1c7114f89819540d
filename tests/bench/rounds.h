/* rounds.h — what the benchmarks share to report a figure over rounds.
 *
 * A benchmark that can be disturbed by the machine (a VM stall, another process) runs its
 * loop and its baseline in paired rounds, one after the other, and reports the median of the
 * rounds' ratios with their range, so that one disturbed round does not decide the figure and
 * the reader sees how far the rounds spread.  The JSON object of such a figure carries, besides
 * the fields tools/scripts/bench.sh documents, "rounds" (how many), "quartiles" ("q1..q3": the
 * middle half of the rounds' ratios) and "spread" ("min..max": all of them), printed as the
 * ratio is. */
#ifndef METRO_BENCH_ROUNDS_H
#define METRO_BENCH_ROUNDS_H

#include <stdio.h>
#include <stdlib.h>

static inline int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline double bench_sorted_median(const double *s, int n)
{
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The median, the quartiles (Tukey's hinges: the medians of the lower and the upper half, the
 * median in both when n is odd), the smallest and the largest of n values (n >= 1). */
struct bench_spread {
	double median, q1, q3, min, max;
	int n;
};

static inline struct bench_spread bench_spread(const double *v, int n)
{
	double *s = malloc((size_t)n * sizeof *s);
	if (!s)
		abort();
	for (int i = 0; i < n; i++)
		s[i] = v[i];
	qsort(s, (size_t)n, sizeof *s, bench_cmp);
	int half = (n + 1) / 2;
	struct bench_spread r = {bench_sorted_median(s, n),
				 bench_sorted_median(s, half),
				 bench_sorted_median(s + n - half, half),
				 s[0],
				 s[n - 1],
				 n};
	free(s);
	return r;
}

/* The median of n values (n >= 1). */
static inline double bench_median(const double *v, int n)
{
	return bench_spread(v, n).median;
}

/* `"ratio":M,"rounds":N,"quartiles":"Q1..Q3","spread":"MIN..MAX"`, `decimals` digits after
 * the point. */
static inline void bench_print_ratio(FILE *f, struct bench_spread s, int decimals)
{
	fprintf(f,
		"\"ratio\":%.*f,\"rounds\":%d,\"quartiles\":\"%.*f..%.*f\",\"spread\":\"%.*f..%.*"
		"f\"",
		decimals, s.median, s.n, decimals, s.q1, decimals, s.q3, decimals, s.min, decimals,
		s.max);
}

#endif
