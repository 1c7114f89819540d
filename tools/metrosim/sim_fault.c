/* sim_fault.c — the --faults grammar, random streams and fault counters (see sim_fault.h). */
#include "sim_fault.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

static const char *const names[SIM_F_NKINDS] = {
	"noreply", "late",	 "exception",  "crc",	       "wrongunit",
	"stuck",   "lostpulses", "disconnect", "ignorewrites",
};

const char *sim_fault_name(enum sim_fault_kind k)
{
	return (unsigned)k < SIM_F_NKINDS ? names[k] : "?";
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

double sim_rng_uniform(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

/* A whole decimal number in [min, max] spanning exactly [s, s + n). */
static int number(const char *s, size_t n, double min, double max, double *out)
{
	char buf[64];
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* strtod would take hex, "inf" and "nan": allow plain decimals only. */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", buf[i]))
			return -1;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Split "a:b:c" (value text of one item) into at most max fields. */
static size_t split(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t k = 0;
	const char *start = s;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == ':') {
			if (k == max)
				return max + 1;
			f[k] = start;
			fl[k] = (size_t)(s + i - start);
			k++;
			start = s + i + 1;
		}
	}
	return k;
}

static int item(struct sim_fault *f, const char *it, size_t len, char *err, size_t errlen)
{
	const char *eq = memchr(it, '=', len);
	if (!eq) {
		snprintf(err, errlen, "'%.*s': expected KIND=VALUE", (int)len, it);
		return METRO_E_INVAL;
	}
	size_t kl = (size_t)(eq - it);
	int kind = -1;
	for (int k = 0; k < SIM_F_NKINDS; k++)
		if (strlen(names[k]) == kl && !memcmp(names[k], it, kl))
			kind = k;
	if (kind < 0) {
		snprintf(err, errlen,
			 "'%.*s': unknown fault (known: noreply, late, exception, crc, wrongunit, "
			 "stuck, lostpulses, disconnect, ignorewrites)",
			 (int)kl, it);
		return METRO_E_INVAL;
	}
	if (f->configured[kind] && kind != SIM_F_STUCK && kind != SIM_F_IGNOREWRITES) {
		snprintf(err, errlen, "'%s' given twice", names[kind]);
		return METRO_E_INVAL;
	}
	const char *v = eq + 1;
	size_t vl = len - kl - 1;
	const char *fv[4];
	size_t fl[4];
	size_t nf = split(v, vl, fv, fl, 3);
	double a = 0, b = 0, c = 1;
	int ok = 0;
	switch (kind) {
	case SIM_F_NOREPLY:
	case SIM_F_CRC:
	case SIM_F_WRONGUNIT:
	case SIM_F_LOSTPULSES:
		ok = nf == 1 && !number(fv[0], fl[0], 0, 1, &a);
		f->p[kind] = a;
		if (!ok)
			snprintf(err, errlen, "%s=%.*s: expected a probability 0..1", names[kind],
				 (int)vl, v);
		break;
	case SIM_F_LATE:
		ok = nf == 2 && !number(fv[0], fl[0], 0, 1, &a) &&
		     !number(fv[1], fl[1], 0, 60000, &b) && b == floor(b);
		f->p[kind] = a;
		f->late_ms = (unsigned)b;
		if (!ok)
			snprintf(err, errlen, "late=%.*s: expected P:MS (P 0..1, MS 0..60000)",
				 (int)vl, v);
		break;
	case SIM_F_EXCEPTION:
		ok = nf == 2 && !number(fv[0], fl[0], 0, 1, &a) &&
		     !number(fv[1], fl[1], 1, 255, &b) && b == floor(b);
		f->p[kind] = a;
		f->exception_code = (int)b;
		if (!ok)
			snprintf(err, errlen,
				 "exception=%.*s: expected P:CODE (P 0..1, CODE 1..255)", (int)vl,
				 v);
		break;
	case SIM_F_STUCK:
	case SIM_F_IGNOREWRITES:
		ok = (nf == 1 || nf == 2) && fl[0] > 0 && fl[0] <= 80 &&
		     (nf == 1 || !number(fv[1], fl[1], 0, 1e6, &a));
		if (ok && kind == SIM_F_STUCK) {
			f->stuck = metro_realloc(f->stuck, (f->nstuck + 1) * sizeof *f->stuck);
			f->stuck[f->nstuck++] = (struct sim_chan_fault){
				.channel = metro_strndup(fv[0], fl[0]), .after_s = a};
		} else if (ok) {
			f->ignore = metro_realloc(f->ignore, (f->nignore + 1) * sizeof *f->ignore);
			f->ignore[f->nignore++] = (struct sim_chan_fault){
				.channel = metro_strndup(fv[0], fl[0]), .after_s = a};
		} else if (kind == SIM_F_STUCK) {
			snprintf(err, errlen, "stuck=%.*s: expected CHANNEL or CHANNEL:AFTER_S",
				 (int)vl, v);
		} else {
			snprintf(err, errlen,
				 "ignorewrites=%.*s: expected CHANNEL or * (every channel), then "
				 "optionally :AFTER_S",
				 (int)vl, v);
		}
		break;
	case SIM_F_DISCONNECT:
		ok = (nf == 2 || nf == 3) && !number(fv[0], fl[0], 0, 1e6, &a) &&
		     !number(fv[1], fl[1], 0.001, 1e6, &b) &&
		     (nf == 2 || (!number(fv[2], fl[2], 0, 1e9, &c) && c == floor(c)));
		f->disc_after_s = a;
		f->disc_down_s = b;
		f->disc_count = (long)c;
		if (!ok)
			snprintf(err, errlen,
				 "disconnect=%.*s: expected AFTER_S:DOWN_S[:COUNT] (seconds; COUNT "
				 "0 = forever)",
				 (int)vl, v);
		break;
	default:
		break;
	}
	if (!ok)
		return METRO_E_INVAL;
	f->configured[kind] = 1;
	return METRO_OK;
}

int sim_fault_parse(struct sim_fault *f, const char *spec, uint64_t seed, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	f->seed = seed;
	/* Derive the two streams from the seed so that neither is a shifted copy of the other. */
	struct sim_rng mix;
	sim_rng_seed(&mix, seed);
	sim_rng_seed(&f->req_rng, sim_rng_next(&mix));
	sim_rng_seed(&f->pulse_rng, sim_rng_next(&mix));
	for (int k = 0; k < SIM_F_NKINDS; k++)
		f->applicable[k] = 1;
	f->spec = metro_strdup(spec ? spec : "");
	const char *s = f->spec;
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (len == 0) {
			snprintf(err, errlen, "empty item in the fault list");
			sim_fault_free(f);
			return METRO_E_INVAL;
		}
		if (item(f, s, len, err, errlen)) {
			sim_fault_free(f);
			return METRO_E_INVAL;
		}
		s += len + (comma ? 1 : 0);
		if (comma && !*s) {
			snprintf(err, errlen, "trailing ',' in the fault list");
			sim_fault_free(f);
			return METRO_E_INVAL;
		}
	}
	return METRO_OK;
}

void sim_fault_free(struct sim_fault *f)
{
	for (size_t i = 0; i < f->nstuck; i++)
		free(f->stuck[i].channel);
	for (size_t i = 0; i < f->nignore; i++)
		free(f->ignore[i].channel);
	free(f->stuck);
	free(f->ignore);
	free(f->spec);
	f->stuck = NULL;
	f->ignore = NULL;
	f->spec = NULL;
	f->nstuck = 0;
	f->nignore = 0;
}

/* One draw for a configured probabilistic kind; unconfigured kinds draw nothing, so adding a
 * kind to the spec changes the stream but the same spec always gives the same sequence. */
static int draw(struct sim_fault *f, enum sim_fault_kind k)
{
	if (!f->configured[k])
		return 0;
	double u = sim_rng_uniform(&f->req_rng);
	return u < f->p[k] && f->applicable[k];
}

void sim_fault_decide(struct sim_fault *f, struct sim_fault_action *a)
{
	memset(a, 0, sizeof *a);
	f->requests++;
	int noreply = draw(f, SIM_F_NOREPLY);
	int exc = draw(f, SIM_F_EXCEPTION);
	int crc = draw(f, SIM_F_CRC);
	int wrongunit = draw(f, SIM_F_WRONGUNIT);
	int late = draw(f, SIM_F_LATE);
	if (noreply) {
		a->noreply = 1;
		f->counts[SIM_F_NOREPLY]++;
		f->faulted++;
		return;
	}
	/* At most one way of spoiling a reply, so that a client sees exactly one error per
	 * faulted request and can reconcile its error counts with ours kind by kind. */
	if (exc) {
		a->exception = f->exception_code;
		f->counts[SIM_F_EXCEPTION]++;
	} else if (crc) {
		a->crc = 1;
		f->counts[SIM_F_CRC]++;
	} else if (wrongunit) {
		a->wrongunit = 1;
		f->counts[SIM_F_WRONGUNIT]++;
	}
	if (late) {
		a->delay_ms = f->late_ms;
		f->counts[SIM_F_LATE]++;
	}
	/* A late reply may also be spoilt: the client sees one fault, so count requests too. */
	if (exc || crc || wrongunit || late)
		f->faulted++;
}

int sim_fault_lose_pulse(struct sim_fault *f)
{
	if (!f->configured[SIM_F_LOSTPULSES])
		return 0;
	if (sim_rng_uniform(&f->pulse_rng) < f->p[SIM_F_LOSTPULSES]) {
		f->counts[SIM_F_LOSTPULSES]++;
		return 1;
	}
	return 0;
}

void sim_fault_summary(const struct sim_fault *f, FILE *out)
{
	int any = 0;
	fputs("faults injected:", out);
	for (int k = 0; k < SIM_F_NKINDS; k++) {
		if (!f->configured[k])
			continue;
		fprintf(out, " %s=%llu", names[k], f->counts[k]);
		any = 1;
	}
	fprintf(out, "%s (%llu requests)\n", any ? "" : " none", f->requests);
}

int sim_fault_write_log(const struct sim_fault *f, const char *path)
{
	json_t *counts = json_object();
	for (int k = 0; k < SIM_F_NKINDS; k++)
		if (f->configured[k])
			json_object_set_new(counts, names[k],
					    json_integer((json_int_t)f->counts[k]));
	json_t *doc = json_pack("{s:s, s:I, s:I, s:I, s:o}", "spec", f->spec ? f->spec : "", "seed",
				(json_int_t)f->seed, "requests", (json_int_t)f->requests,
				"faulted_requests", (json_int_t)f->faulted, "injected", counts);
	if (!doc)
		return METRO_E_NOMEM;
	int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	return rc ? METRO_E_IO : METRO_OK;
}
