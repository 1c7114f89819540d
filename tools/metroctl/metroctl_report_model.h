/* metroctl_report_model.h — what a report document shows, built by metroctl_report.c from
 * the records and rendered by metroctl_report_pdf.c: the context every document of one store
 * carries, one meter's evidence with its procedure, and the words and dates both sides write
 * (metroctl_report_model.c).  docs/reports.md describes the documents.
 */
#ifndef METROCTL_REPORT_MODEL_H
#define METROCTL_REPORT_MODEL_H

#include <jansson.h>
#include <stddef.h>

#include "store_report.h"

struct metro_procedure;

/* What every document of one store carries besides its records. */
struct rpt_ctx {
	struct metro_store_station_info station; /* the registry row; NULL fields not recorded */
	/* 核验员 and 批准人 of a certificate without signed steps (issued when numbered): names
	 * given by hand, NULL: a blank line to sign.  A certificate with signed steps prints the
	 * people who signed them instead (docs/reports.md). */
	const char *checker;
	const char *approver;
	char verification[320]; /* one sentence: how the records were verified */
	char generated[32];	/* local time the document was made, "YYYY-MM-DD HH:MM" */
};

/* One meter's evidence (an element of metro_store_trace's "results") with the procedure it
 * was verified under, parsed from the content stored with the run. */
struct rpt_meter {
	json_t *e; /* borrowed */
	const struct metro_procedure *proc;
	/* The certificate or notice printed, an element of e's "certificates" (borrowed), with
	 * its signed "steps" (schema 4); NULL: the latest. */
	json_t *cert;
	/* The procedure's certificate validity rule this meter falls under (its nameplate as
	 * recorded), NULL when the procedure has none: then certificate.valid_months. */
	const struct metro_cert_rule *rule;
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
/* The nameplate as people read it, by meter kind: "220 V 5(60) A 1200 imp/kWh 单相 single-phase
 * 直接接入 direct", "Q3 2.5 m³/h R100 DN15 (δ 0.05 L)", "G4 qmax 6 m³/h qmin 0.04 m³/h 天然气
 * natural gas"; fields it does not know follow as "name value"; the class is left out (it has
 * its own line).  meter: water | electricity | gas. */
void rpt_nameplate_text(const char *meter, json_t *np, char *out, size_t cap);
/* The validity rule of a meter's procedure for its recorded nameplate (metro_procedure_cert_rule
 * over the JSON), or NULL. */
const struct metro_cert_rule *rpt_cert_rule(const struct metro_procedure *p, json_t *nameplate);
/* The conclusion of a verdict ("pass" -> "合格 / Pass"). */
const char *rpt_verdict_name(const char *verdict);

#endif
