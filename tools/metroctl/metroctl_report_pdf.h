/* metroctl_report_pdf.h — certificates, notices of nonconformity and batch reports as PDF
 * (metroctl_report_pdf.c): the models of metroctl_report_model.h rendered, nothing read. */
#ifndef METROCTL_REPORT_PDF_H
#define METROCTL_REPORT_PDF_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "metroctl_report_model.h"

/* Write a certificate (pass) or a notice of nonconformity (anything else) for one meter to
 * out (flushed; name is the file's name for messages).  Returns 0, or -1 with a message in
 * err. */
int rpt_pdf_certificate(FILE *out, const char *name, const struct rpt_ctx *c,
			const struct rpt_meter *m, char *err, size_t cap);
/* Write a batch report to out: the run (run JSON of metro_store_run) and the evidence of each
 * of its positions (n of them), with an error curve per meter. */
int rpt_pdf_run(FILE *out, const char *name, const struct rpt_ctx *c, json_t *run,
		const struct rpt_meter *m, size_t n, char *err, size_t cap);

/* Release the PDF libraries' caches (before exit). */
void rpt_pdf_shutdown(void);

#endif
