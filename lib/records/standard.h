/* standard.h — a reference standard as the registry knows it: what it is, its calibration
 * certificate and due date, its uncertainty or class.  The configuration's `standards:` fill it
 * (daemon/config.c), a manager's standard-set changes it, the store keeps every version. */
#ifndef METRO_STANDARD_H
#define METRO_STANDARD_H

#include "yfile.h"

struct metro_standard_conf {
	char *id;
	char *description;
	char *serial;
	char *certificate; /* calibration certificate number */
	char *issuer;	   /* issuing body */
	struct metro_date calibrated;
	struct metro_date due; /* 有效期至 */
	/* Expanded uncertainty in % (relative) with its coverage factor, or an accuracy class. */
	double uncertainty_pct; /* 0 when a class is given instead */
	double k;
	char *accuracy_class;	      /* NULL when an uncertainty is given */
	char *assessment_certificate; /* 计量标准考核证书 */
	struct metro_date assessment_due;
	char *measuring_range; /* 测量范围, optional ("0.01-10 m3/h") */
	unsigned line;	       /* where it was defined, for messages */
};

#endif
