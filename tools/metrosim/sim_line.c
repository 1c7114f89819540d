/* sim_line.c — serial-line server: mirrored templates and command dispatch (see sim_line.h).
 *
 * Dispatch tries every channel's read command, then its write command, in profile order; the
 * first template that parses the line wins.  A per-position channel's command carries the
 * position as its first value, so "MV 3?" parses against every pos[N].volume template and is
 * taken by the one whose position is 3.  Skipped fields of a reply (%*d) echo the command's
 * values in order (the position, then a written value), 0 or "" when there are none left.
 */
#include "sim_line.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

struct chan_tmpl {
	struct metro_line_tmpl *rcmd, *rrep, *wcmd, *wrep; /* rcmd/wcmd: IN, rrep/wrep: OUT */
	struct sim_line_convs rconv, wconv;		   /* conversions of rrep and wrep */
};

struct sim_line {
	const struct metro_profile *p;
	struct sim_image *img;
	struct chan_tmpl *t;
	char cterm[8], rterm[8];
	size_t cterm_len, rterm_len;
	int last_csum; /* the last reply served ends with a checksum */
};

static int put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o + n >= cap)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	return 0;
}

int sim_line_mirror(const char *src, enum metro_line_dir from, char *out, size_t cap,
		    struct sim_line_convs *convs, char *err, size_t errlen)
{
	size_t o = 0, i = 0;
	convs->n = 0;
	convs->ends_csum = 0;
	while (src[i]) {
		size_t start = i;
		convs->ends_csum = 0;
		if ((src[i] == '\\' && src[i + 1]) || (src[i] == '%' && src[i + 1] == '%')) {
			/* An escape or %% is the same in both directions (\xHH's digits follow
			 * as text). */
			i += 2;
		} else if (src[i] == '%' && src[i + 1] == '<') {
			const char *close = strchr(src + i, '>');
			if (!close) {
				snprintf(err, errlen, "column %zu: '%%<' without '>'", i + 1);
				return METRO_E_INVAL;
			}
			i = (size_t)(close - src) + 1;
			convs->ends_csum = strncmp(src + start, "%<begin>", 8) != 0;
		} else if (src[i] == '%') {
			size_t j = i + 1;
			int skip = 0;
			while (src[j] == '*' || src[j] == '0' || src[j] == '-')
				skip |= src[j++] == '*';
			size_t w0 = j;
			while (src[j] >= '0' && src[j] <= '9')
				j++;
			size_t w1 = j;
			if (src[j] == '.') {
				j++;
				while (src[j] >= '0' && src[j] <= '9')
					j++;
			}
			char c = src[j];
			if (!c || !strchr("duxXfeEs", c)) {
				snprintf(err, errlen, "column %zu: bad conversion", i + 1);
				return METRO_E_INVAL;
			}
			if (skip && from == METRO_LINE_OUT) {
				snprintf(err, errlen, "column %zu: '*' in a command template",
					 i + 1);
				return METRO_E_INVAL;
			}
			if (convs->n == METRO_ARRAY_SIZE(convs->conv)) {
				snprintf(err, errlen, "column %zu: too many conversions", i + 1);
				return METRO_E_INVAL;
			}
			convs->conv[convs->n] = c;
			convs->skip[convs->n++] = skip;
			/* '%', the width, the conversion: flags, '*' and precision are dropped */
			if (put(out, cap, &o, "%", 1) || put(out, cap, &o, src + w0, w1 - w0) ||
			    put(out, cap, &o, &c, 1))
				goto full;
			i = j + 1;
			continue;
		} else {
			i++;
		}
		if (put(out, cap, &o, src + start, i - start))
			goto full;
	}
	out[o] = '\0';
	return METRO_OK;
full:
	snprintf(err, errlen, "mirrored template too long");
	return METRO_E_RANGE;
}

static int compile_mirror(const struct metro_channel *ch, const char *what, const char *src,
			  enum metro_line_dir from, struct metro_line_tmpl **t,
			  struct sim_line_convs *convs, char *err, size_t errlen)
{
	if (!src)
		return METRO_OK;
	char buf[METRO_LINE_TMPL_MAX + 1], why[200];
	struct sim_line_convs scratch;
	if (!convs)
		convs = &scratch;
	enum metro_line_dir to = from == METRO_LINE_OUT ? METRO_LINE_IN : METRO_LINE_OUT;
	if (sim_line_mirror(src, from, buf, sizeof buf, convs, why, sizeof why) ||
	    metro_line_compile(buf, to, t, why, sizeof why)) {
		snprintf(err, errlen, "channel %s: %s template '%s' cannot be mirrored: %s",
			 ch->name, what, src, why);
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

static int unescape_term(const char *s, char *out, size_t cap, size_t *len)
{
	char why[100];
	return metro_line_unescape(s ? s : "\\r\\n", out, cap, len, why, sizeof why) || !*len;
}

int sim_line_new(const struct metro_profile *p, struct sim_image *img, struct sim_line **out,
		 char *err, size_t errlen)
{
	*out = NULL;
	struct sim_line *l = metro_calloc(1, sizeof *l);
	l->p = p;
	l->img = img;
	l->t = metro_calloc(p->nchannels ? p->nchannels : 1, sizeof *l->t);
	/* Terminators arrive from YAML already unescaped ("\r\n" in double quotes is CR LF); a
	 * single-quoted '\r\n' still holds backslashes, which the template escapes handle. */
	if (unescape_term(p->out_terminator, l->cterm, sizeof l->cterm, &l->cterm_len) ||
	    unescape_term(p->in_terminator, l->rterm, sizeof l->rterm, &l->rterm_len)) {
		snprintf(err, errlen, "profile %s: bad terminator", p->path);
		sim_line_destroy(&l);
		return METRO_E_INVAL;
	}
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *ch = &p->channels[i];
		struct chan_tmpl *t = &l->t[i];
		if (compile_mirror(ch, "read command", ch->read_cmd, METRO_LINE_OUT, &t->rcmd, NULL,
				   err, errlen) ||
		    compile_mirror(ch, "read reply", ch->read_reply, METRO_LINE_IN, &t->rrep,
				   &t->rconv, err, errlen) ||
		    compile_mirror(ch, "write command", ch->write_cmd, METRO_LINE_OUT, &t->wcmd,
				   NULL, err, errlen) ||
		    compile_mirror(ch, "write reply", ch->write_reply, METRO_LINE_IN, &t->wrep,
				   &t->wconv, err, errlen)) {
			sim_line_destroy(&l);
			return METRO_E_INVAL;
		}
	}
	*out = l;
	return METRO_OK;
}

void sim_line_destroy(struct sim_line **pl)
{
	struct sim_line *l = *pl;
	if (!l)
		return;
	*pl = NULL;
	for (size_t i = 0; i < l->p->nchannels; i++) {
		metro_line_destroy(&l->t[i].rcmd);
		metro_line_destroy(&l->t[i].rrep);
		metro_line_destroy(&l->t[i].wcmd);
		metro_line_destroy(&l->t[i].wrep);
	}
	free(l->t);
	free(l);
}

const char *sim_line_cmd_term(const struct sim_line *l, size_t *len)
{
	*len = l->cterm_len;
	return l->cterm;
}

const char *sim_line_reply_term(const struct sim_line *l, size_t *len)
{
	*len = l->rterm_len;
	return l->rterm;
}

static double as_double(const struct metro_line_value *v)
{
	switch (v->type) {
	case METRO_LINE_INT:
		return (double)v->i;
	case METRO_LINE_UINT:
		return (double)v->u;
	case METRO_LINE_DOUBLE:
		return v->f;
	default:
		return strtod(v->s, NULL);
	}
}

/* A number as an argument for conversion c. */
static void make_arg(struct metro_line_value *a, char c, double v)
{
	memset(a, 0, sizeof *a);
	if (!isfinite(v))
		v = 0.0;
	switch (c) {
	case 'd':
		a->type = METRO_LINE_INT;
		a->i = (int64_t)fmin(fmax(nearbyint(v), -9.2e18), 9.2e18);
		break;
	case 'u':
	case 'x':
	case 'X':
		a->type = METRO_LINE_UINT;
		a->u = (uint64_t)fmin(fmax(nearbyint(v), 0.0), 1.8e19);
		break;
	case 's': {
		char s[64];
		snprintf(s, sizeof s, "%.10g", v);
		a->type = METRO_LINE_STR;
		metro_line_set_str(a, s);
		break;
	}
	default:
		a->type = METRO_LINE_DOUBLE;
		a->f = v;
		break;
	}
}

/* Format a reply: skipped fields take echo[0..necho) in order, value fields take value. */
static size_t reply(struct sim_line *l, const struct metro_line_tmpl *t,
		    const struct sim_line_convs *cv, const double *echo, size_t necho, double value,
		    char *out, size_t cap)
{
	struct metro_line_value args[METRO_ARRAY_SIZE(cv->conv)];
	size_t e = 0;
	for (size_t k = 0; k < cv->n; k++) {
		if (!cv->skip[k]) {
			make_arg(&args[k], cv->conv[k], value);
		} else if (e < necho) {
			make_arg(&args[k], cv->conv[k], echo[e++]);
		} else if (cv->conv[k] == 's') {
			memset(&args[k], 0, sizeof args[k]);
			args[k].type = METRO_LINE_STR;
		} else {
			make_arg(&args[k], cv->conv[k], 0.0);
		}
	}
	size_t len;
	l->last_csum = cv->ends_csum;
	if (cap <= l->rterm_len ||
	    metro_line_format(t, args, cv->n, out, cap - l->rterm_len, &len, NULL, 0))
		return sim_line_error_reply(l, out, cap);
	memcpy(out + len, l->rterm, l->rterm_len);
	return len + l->rterm_len;
}

/* Does a parsed command belong to channel ch?  A position's command names the position first. */
static int position_matches(const struct metro_channel *ch, const struct metro_line_value *v,
			    size_t n)
{
	if (!ch->position)
		return 1;
	return n >= 1 && v[0].type != METRO_LINE_STR && as_double(&v[0]) == ch->position;
}

size_t sim_line_serve(struct sim_line *l, const char *cmd, size_t len, char *out, size_t cap,
		      int *wrote)
{
	struct metro_line_value v[METRO_LINE_MAX_VALUES];
	double echo[METRO_LINE_MAX_VALUES];
	*wrote = 0;
	l->last_csum = 0;
	for (size_t i = 0; i < l->p->nchannels; i++) {
		const struct metro_channel *ch = &l->p->channels[i];
		struct chan_tmpl *t = &l->t[i];
		size_t n = METRO_LINE_MAX_VALUES;
		if (t->rcmd && t->rrep && !metro_line_parse(t->rcmd, cmd, len, v, &n, NULL, 0) &&
		    position_matches(ch, v, n)) {
			for (size_t k = 0; k < n; k++)
				echo[k] = as_double(&v[k]);
			return reply(l, t->rrep, &t->rconv, echo, n, sim_image_value(l->img, ch),
				     out, cap);
		}
		n = METRO_LINE_MAX_VALUES;
		if (t->wcmd && !metro_line_parse(t->wcmd, cmd, len, v, &n, NULL, 0) &&
		    position_matches(ch, v, n) && n >= 1 && v[n - 1].type != METRO_LINE_STR) {
			double value = as_double(&v[n - 1]);
			if (sim_image_put(l->img, ch, value))
				return sim_line_error_reply(l, out, cap);
			*wrote = 1;
			if (!t->wrep)
				return 0;
			for (size_t k = 0; k < n; k++)
				echo[k] = as_double(&v[k]);
			return reply(l, t->wrep, &t->wconv, echo, n, value, out, cap);
		}
	}
	return sim_line_error_reply(l, out, cap);
}

void sim_line_corrupt(const struct sim_line *l, char *reply, size_t len)
{
	if (!len)
		return;
	char *c = &reply[len - 1];
	int hex = (*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'F') || (*c >= 'a' && *c <= 'f');
	if (l->last_csum && hex)
		*c = *c == '0' ? '1' : '0';
	else
		*c = 0x7f;
}

size_t sim_line_error_reply(struct sim_line *l, char *out, size_t cap)
{
	size_t n = strlen(SIM_LINE_ERROR);
	l->last_csum = 0;
	if (n + l->rterm_len > cap)
		return 0;
	/* not a C string: the reply is bytes with a length, the terminator may hold anything */
	memcpy(out, SIM_LINE_ERROR, n); /* NOLINT(bugprone-not-null-terminated-result) */
	memcpy(out + n, l->rterm, l->rterm_len);
	return n + l->rterm_len;
}
