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
 *
 * metroctl_report.c reads the records (through lib/records only: store.h, store_report.h)
 * and builds each document's model (metroctl_report_model.h); metroctl_report_pdf.c renders
 * it and metroctl_report_stats.c writes the statistics table.
 */
#ifndef METROCTL_REPORT_H
#define METROCTL_REPORT_H

#include "metroctl_cmd.h"

/* argv[0] is "report" / "export". */
int metroctl_report(int argc, char **argv, const struct metroctl_opts *o);
int metroctl_export(int argc, char **argv, const struct metroctl_opts *o);

#endif
