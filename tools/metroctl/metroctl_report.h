/* metroctl_report.h — reports from a record store: certificates and notices (PDF), batch
 * reports with error curves (PDF), the special-inspection statistics table (XLSX, CSV) and
 * exports (CSV, JSON).  docs/reports.md describes every command and field.
 *
 * Everything here reads a record store offline (read-only) after verifying it the way
 * `metroctl audit verify` does: a store that fails verification is refused, and so are
 * records that no signed checkpoint covers yet.
 *
 *   metroctl report certificate|run|stats ...   exit 0 ok, 1 refused (not verified, not
 *                                               signed, nothing found), 2 usage,
 *                                               5 cannot read the store or write the output
 *   metroctl export results|inventory ...       the same
 */
#ifndef METROCTL_REPORT_H
#define METROCTL_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "store_report.h"

struct metroctl_opts;
struct metro_procedure;

/* argv[0] is "report" / "export". */
int metroctl_report(int argc, char **argv, const struct metroctl_opts *o);
int metroctl_export(int argc, char **argv, const struct metroctl_opts *o);

/* ---- shared between the data side (metroctl_report.c) and the PDF side ------------------- */

/* What every document of one store carries besides its records. */
struct rpt_ctx {
	struct metro_store_station_info station; /* the registry row; NULL fields not recorded */
	const char *checker;			 /* 核验员, NULL: a blank line to sign */
	const char *approver;			 /* 批准人, NULL: a blank line to sign */
	char verification[320];			 /* one sentence: how the records were verified */
	char generated[32]; /* local time the document was made, "YYYY-MM-DD HH:MM" */
};

/* One meter's evidence (an element of metro_store_trace's "results") with the procedure it
 * was verified under, parsed from the content stored with the run. */
struct rpt_meter {
	json_t *e; /* borrowed */
	const struct metro_procedure *proc;
};

/* ISO 8601 UTC time ("2026-11-28T14:10:29.794Z") to a local date "YYYY-MM-DD" (and, when
 * withtime, " HH:MM").  Copies s on a parse failure. */
void rpt_local_time(const char *iso, int withtime, char *out, size_t cap);
/* A local date plus months, minus one day ("valid until"); out "YYYY-MM-DD". */
void rpt_add_months(const char *date, long months, char *out, size_t cap);
/* An item title for a test point id ("q3" -> "Q3 常用流量"), or the id. */
const char *rpt_item_title(const struct metro_procedure *p, const char *test_point);
/* 水表 / 电能表 / 燃气表 etc. for a procedure (its certificate.instrument when given). */
const char *rpt_instrument(const struct metro_procedure *p);
/* The Chinese and English name of a verification type ("initial" -> "首次检定 / Initial"). */
const char *rpt_vtype_name(const char *vtype);
/* The conclusion of a verdict ("pass" -> "合格 / Pass"). */
const char *rpt_verdict_name(const char *verdict);

/* Write a certificate (pass) or a notice of nonconformity (anything else) for one meter.
 * Returns 0, or -1 with a message in err. */
int rpt_pdf_certificate(const char *path, const struct rpt_ctx *c, const struct rpt_meter *m,
			char *err, size_t cap);
/* Write a batch report: the run (run JSON of metro_store_run) and the evidence of each of its
 * positions (n of them), with an error curve per meter. */
int rpt_pdf_run(const char *path, const struct rpt_ctx *c, json_t *run, const struct rpt_meter *m,
		size_t n, char *err, size_t cap);

/* Release the PDF libraries' caches (before exit). */
void rpt_pdf_shutdown(void);

#endif
