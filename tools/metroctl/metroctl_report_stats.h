/* metroctl_report_stats.h — the special-inspection statistics table
 * (民用“三表”计量专项监督检查统计表) of `metroctl report stats`: counted from the records for the
 * sampling and complaint-verification columns, read from a side YAML file for the others, written
 * as XLSX (libxlsxwriter) or CSV.  docs/reports.md describes the layout and the side file.
 */
#ifndef METROCTL_REPORT_STATS_H
#define METROCTL_REPORT_STATS_H

#include <stddef.h>
#include <stdio.h>

enum { RPT_ELECTRICITY, RPT_WATER, RPT_GAS, RPT_KINDS };

/* The columns after 类别, in the order of the official attachment. */
enum {
	RPT_IN_USE,		    /* side */
	RPT_SAMPLED_NEW,	    /* records: sampling-new */
	RPT_SAMPLED_NEW_FAIL,	    /* records */
	RPT_SAMPLED_IN_USE,	    /* records: sampling-in-use */
	RPT_SAMPLED_IN_USE_FAIL,    /* records */
	RPT_VIOLATIONS,		    /* side */
	RPT_PRODUCERS,		    /* side, text */
	RPT_INSTITUTIONS,	    /* side */
	RPT_INSTITUTION_VIOLATIONS, /* side */
	RPT_INSTITUTION_NOTES,	    /* side, text */
	RPT_SERVICE_COMPLAINTS,	    /* side */
	RPT_SERVICE_REPLACED,	    /* side */
	RPT_COMPLAINT_VERIFIED,	    /* records: complaint */
	RPT_COMPLAINT_FAIL,	    /* records */
	RPT_REGULATOR_COMPLAINTS,   /* side */
	RPT_CASES,		    /* side */
	RPT_NCOLS
};

struct rpt_seen; /* meters already counted */

struct rpt_stats {
	char from[11], to[11];
	char *unit, *date, *person, *contact; /* the header block (side file), may be NULL */
	/* side file totals.institutions_inspected: the institutions inspected, each counted once
	 * however many kinds it verifies (-1: not given, the total stays empty) */
	long long institutions_total;
	const char *household; /* the household rule applied (its file), or NULL: every meter */
	long long v[RPT_KINDS][RPT_NCOLS]; /* -1: not given (an empty cell, not a zero) */
	char *text[RPT_KINDS][RPT_NCOLS];  /* the text columns */
	int simulated;			   /* simulated records were counted */
	struct rpt_seen *seen;
	size_t nseen, capseen;
};

/* Columns: their header text on the form (verbatim), and whether the records or the side file
 * fill them. */
const char *rpt_stats_header(int col);
/* The group header over a column (民用“三表”检查情况, 处理投诉举报情况) or NULL for
 * 在用计量器具数量. */
const char *rpt_stats_group(int col);
/* The column's CSV name: its group, then the column it qualifies (for the 不合格数量 and
 * 发现违法行为数量 that follow one), then its header, joined by '/': no two share a name. */
void rpt_stats_csv_name(int col, char *out, size_t cap);
int rpt_stats_from_records(int col);
const char *rpt_stats_kind_name(int kind); /* 电能表, 水表, 燃气表 */

void rpt_stats_init(struct rpt_stats *s, const char *from, const char *to);
void rpt_stats_free(struct rpt_stats *s);
/* Read the side file; problems go to stderr as FILE:LINE:COL.  Returns 0 or -1. */
int rpt_stats_extra(struct rpt_stats *s, const char *path);
/* Count one verified meter (kind "water", "electricity" or "gas"; vtype "sampling-new",
 * "sampling-in-use" or "complaint").  A meter counted again under the same kind and type
 * replaces its earlier conclusion: the table counts meters, not verifications.  Returns 0, or
 * -1 for a meter of another kind (or without a serial), which no row of the form can take
 * (the caller says so); another vtype is not a column of the form and returns 0. */
int rpt_stats_count(struct rpt_stats *s, const char *kind, const char *vtype, const char *serial,
		    int fail);
/* Write the table as XLSX to the file path (name: what messages call it).  Returns 0, or -1
 * with a message in err. */
int rpt_stats_xlsx(const struct rpt_stats *s, const char *path, const char *name, char *err,
		   size_t cap);
/* The CSV: a warning line first when simulated records were counted, the header row of the CSV
 * names, then the rows 电能表, 水表, 燃气表 (no total row: the form has none). */
void rpt_stats_csv(const struct rpt_stats *s, FILE *f);
/* The warning written into a table that counted simulated records. */
extern const char rpt_simulated_warning[];
/* One CSV field: quoted (with quotes doubled) when it holds a comma, quote or line break. */
void rpt_csv_field(FILE *f, const char *s);

#endif
