/* metroctl_report_summary.h — the routine per-period summary of `metroctl report summary`:
 * verifications, passed, failed and the pass rate per meter kind and verification type, with
 * a subtotal per kind and a total, as text, CSV or XLSX.  docs/reports.md "Summary".
 */
#ifndef METROCTL_REPORT_SUMMARY_H
#define METROCTL_REPORT_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

struct rpt_summary_row {
	char *kind, *vtype; /* "water", "initial", ... */
	long long verified, passed, failed;
};

struct rpt_summary {
	char from[11], to[11];
	struct rpt_summary_row *rows; /* in the order of rpt_summary_sort() once sorted */
	size_t n, cap;
	long long not_verified; /* positions aborted or in error: no conclusion, not counted */
	int simulated;		/* simulated records were counted */
	const char *household;	/* the household rule applied (its file), NULL: every meter */
};

void rpt_summary_init(struct rpt_summary *s, const char *from, const char *to);
void rpt_summary_free(struct rpt_summary *s);
/* One position's current verdict: pass and conditional count as passed, fail as failed (each
 * a verification); aborted and error are not verifications (not_verified). */
void rpt_summary_count(struct rpt_summary *s, const char *kind, const char *vtype,
		       const char *verdict);
/* Order the rows: kinds electricity, water, gas, then others by name; within a kind the
 * verification types initial, subsequent, in-service, sampling-new, sampling-in-use,
 * complaint, then others by name. */
void rpt_summary_sort(struct rpt_summary *s);
/* The pass rate passed/verified in percent to one decimal, rounded half to even on the exact
 * fraction ("95.5"); "" when verified is 0. */
void rpt_summary_rate(long long passed, long long verified, char *out, size_t cap);
/* Output (rows sorted first).  The CSV and the text begin with a warning line when simulated
 * records were counted. */
void rpt_summary_csv(struct rpt_summary *s, FILE *f);
void rpt_summary_text(struct rpt_summary *s, FILE *f);
int rpt_summary_xlsx(struct rpt_summary *s, const char *path, const char *name, char *err,
		     size_t cap);

#endif
