#include "batch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

struct metro_dec metro_dec_from_double(double v)
{
	char buf[40];
	struct metro_dec d;
	if (!isfinite(v))
		return metro_dec_invalid();
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (metro_dec_parse(buf, &d))
		return metro_dec_invalid();
	return d;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return METRO_E_INVAL;
}

/* A string member: required or not, at most max bytes, printable. */
static int string(json_t *obj, const char *key, const char *path, int required, size_t max,
		  char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required)
			return fail(err, errlen, "%s%s: missing", path, key);
		return METRO_OK;
	}
	if (!json_is_string(v))
		return fail(err, errlen, "%s%s: must be a string", path, key);
	const char *s = json_string_value(v);
	size_t len = strlen(s);
	if (len == 0 || len > max)
		return fail(err, errlen, "%s%s: must be 1 to %zu bytes", path, key, max);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return fail(err, errlen, "%s%s: control character in text", path, key);
	*out = metro_strdup(s);
	return METRO_OK;
}

static int decimal(json_t *v, struct metro_dec *out)
{
	if (json_is_string(v))
		return metro_dec_parse(json_string_value(v), out);
	if (json_is_integer(v)) {
		*out = metro_dec_e(json_integer_value(v), 0);
		return metro_dec_valid(*out) ? 0 : -1;
	}
	if (json_is_real(v)) {
		*out = metro_dec_from_double(json_real_value(v));
		return metro_dec_valid(*out) ? 0 : -1;
	}
	return -1;
}

/* A nameplate field's text for the validity rules (metro_procedure_cert_rule), from the JSON
 * as given: a string as it stands, a number through its exact decimal form. */
struct np_text {
	json_t *np;
	char buf[64];
};

static const char *nameplate_text(const char *field, void *arg)
{
	struct np_text *t = arg;
	json_t *v = json_object_get(t->np, field);
	struct metro_dec d;
	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_number(v) || decimal(v, &d))
		return NULL;
	metro_dec_format_sig(d, 20, t->buf, sizeof t->buf);
	return t->buf;
}

static int meter(json_t *j, size_t idx, struct metro_batch *b, struct metro_batch_meter *m,
		 char *err, size_t errlen)
{
	const struct metro_procedure *p = b->proc;
	char path[48];
	snprintf(path, sizeof path, "meters[%zu].", idx);
	if (!json_is_object(j))
		return fail(err, errlen, "meters[%zu]: must be an object", idx);
	static const char *const keys[] = {"position", "serial",    "model", "manufacturer",
					   "approval", "nameplate", "empty"};
	const char *key;
	json_t *val;
	json_object_foreach (j, key, val) {
		size_t k;
		for (k = 0; k < METRO_ARRAY_SIZE(keys); k++)
			if (!strcmp(keys[k], key))
				break;
		if (k == METRO_ARRAY_SIZE(keys))
			return fail(err, errlen,
				    "%s%s: unknown key (expected position, serial, "
				    "model, manufacturer, approval, nameplate)",
				    path, key);
	}
	json_t *pos = json_object_get(j, "position");
	if (!json_is_integer(pos) || json_integer_value(pos) < 1 ||
	    json_integer_value(pos) > b->positions)
		return fail(err, errlen,
			    "%sposition: must be an integer from 1 to %d (the rig's "
			    "positions)",
			    path, b->positions);
	m->position = (int)json_integer_value(pos);
	if (string(j, "serial", path, 1, 64, &m->serial, err, errlen) ||
	    string(j, "model", path, 0, 100, &m->model, err, errlen) ||
	    string(j, "manufacturer", path, 0, 200, &m->manufacturer, err, errlen) ||
	    string(j, "approval", path, 0, 100, &m->approval, err, errlen))
		return METRO_E_INVAL;
	json_t *np = json_object_get(j, "nameplate");
	if (!json_is_object(np))
		return fail(err, errlen, "%snameplate: must be an object", path);
	m->nameplate = json_incref(np);
	m->values = metro_calloc(p->nnames ? p->nnames : 1, sizeof *m->values);
	m->text = metro_calloc(p->nfields ? p->nfields : 1, sizeof *m->text);
	json_object_foreach (np, key, val) {
		if (!metro_procedure_field(p, key))
			return fail(err, errlen, "%snameplate.%s: the procedure has no such field",
				    path, key);
	}
	size_t slot = 0;
	for (size_t i = 0; i < p->nfields; i++) {
		const struct metro_proc_field *f = &p->fields[i];
		json_t *v = json_object_get(np, f->name);
		if (!v)
			return fail(err, errlen, "%snameplate.%s: missing (the procedure needs it)",
				    path, f->name);
		if (f->is_text) {
			const char *s = json_is_string(v) ? json_string_value(v) : NULL;
			char num[40];
			if (!s && json_is_integer(v)) {
				snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
				s = num;
			}
			size_t k;
			for (k = 0; s && k < f->nvalues; k++)
				if (!strcmp(f->values[k], s))
					break;
			if (!s || k == f->nvalues) {
				char list[200] = "";
				size_t o = 0;
				for (size_t w = 0; w < f->nvalues && o < sizeof list; w++)
					o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
							      w ? ", " : "", f->values[w]);
				return fail(err, errlen, "%snameplate.%s: must be one of: %s", path,
					    f->name, list);
			}
			m->text[i] = metro_strdup(s);
			continue;
		}
		struct metro_dec d;
		if (decimal(v, &d)) {
			char *t = json_dumps(v, JSON_ENCODE_ANY);
			int rc = fail(err, errlen, "%snameplate.%s: %s is not a number", path,
				      f->name, t ? t : "?");
			free(t);
			return rc;
		}
		char text[64];
		metro_dec_format_sig(d, 20, text, sizeof text);
		if ((f->has_min && metro_dec_cmp(d, f->min) < 0) ||
		    (f->has_max && metro_dec_cmp(d, f->max) > 0)) {
			char lo[40] = "-", hi[40] = "-";
			if (f->has_min)
				metro_dec_format_sig(f->min, 20, lo, sizeof lo);
			if (f->has_max)
				metro_dec_format_sig(f->max, 20, hi, sizeof hi);
			return fail(err, errlen,
				    "%snameplate.%s: %s is out of the procedure's range "
				    "[%s, %s]",
				    path, f->name, text, lo, hi);
		}
		if (!f->has_min && metro_dec_sign(d) <= 0)
			return fail(err, errlen, "%snameplate.%s: %s must be positive", path,
				    f->name, text);
		m->values[slot++] = d;
	}
	for (size_t i = 0; i < p->nparams; i++)
		m->values[slot++] = p->params[i].value;
	struct np_text npt = {np, ""};
	if (p->ncert_rules && !metro_procedure_cert_rule(p, nameplate_text, &npt))
		return fail(
			err, errlen,
			"%snameplate: no certificate validity rule of the procedure applies to "
			"this meter (certificate.validity): its certificate could state neither "
			"a valid-until date nor a service life",
			path);
	return METRO_OK;
}

static int by_position(const void *a, const void *b)
{
	return ((const struct metro_batch_meter *)a)->position -
	       ((const struct metro_batch_meter *)b)->position;
}

/* Which names the stimulus expressions use: they must agree across the batch. */
static unsigned long long stimulus_names(const struct metro_procedure *p)
{
	unsigned long long used = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct metro_proc_item *it = &p->items[i];
		const struct metro_expr *e[] = {it->flow,      it->window_min, it->window_max,
						it->volume_l,  it->current,    it->voltage,
						it->energy_kwh};
		for (size_t k = 0; k < METRO_ARRAY_SIZE(e); k++)
			if (e[k])
				used |= metro_expr_names_used(e[k]);
	}
	/* a condition's guard is one for the batch too (conditions watch the rig, not a meter) */
	for (size_t i = 0; i < p->nconditions; i++)
		if (p->conditions[i].when)
			used |= metro_expr_names_used(p->conditions[i].when);
	return used;
}

int metro_batch_from_json(json_t *req, struct metro_procedure *proc,
			  const struct metro_batch_rig *rig, struct metro_batch **out, char *err,
			  size_t errlen)
{
	*out = NULL;
	struct metro_batch *b = metro_calloc(1, sizeof *b);
	b->proc = proc;
	b->rig = metro_strdup(rig->id);
	b->positions = (int)rig->positions;
	b->simulated = rig->simulated || rig->time_scale != 1.0;
	b->time_scale = rig->time_scale;
	int rc = METRO_E_INVAL;
	if (strcmp(proc->rig, metro_rig_kind_name(rig->kind)) != 0) {
		fail(err, errlen, "procedure: %s is for a %s, rig %s is a %s", proc->id, proc->rig,
		     rig->id, metro_rig_kind_name(rig->kind));
		goto out;
	}
	if (string(req, "operator", "", 1, 100, &b->operator_name, err, errlen) ||
	    string(req, "submitter", "", 0, 200, &b->submitter, err, errlen) ||
	    string(req, "verification_type", "", 0, 32, &b->verification_type, err, errlen))
		goto out;
	if (b->verification_type) {
		/* Supervision sampling and complaint verification run an ordinary procedure; the
		 * records count them apart (the special-inspection statistics). */
		static const char *const purposes[] = {"sampling-new", "sampling-in-use",
						       "complaint"};
		size_t k = 0;
		while (k < METRO_ARRAY_SIZE(purposes) &&
		       strcmp(purposes[k], b->verification_type) != 0)
			k++;
		if (k == METRO_ARRAY_SIZE(purposes)) {
			fail(err, errlen,
			     "verification_type: '%s' is not one of sampling-new, sampling-in-use, "
			     "complaint (leave it out for the procedure's own, %s)",
			     b->verification_type, proc->verification);
			goto out;
		}
	}
	json_t *meters = json_object_get(req, "meters");
	if (!json_is_array(meters) || json_array_size(meters) == 0) {
		fail(err, errlen, "meters: must be a non-empty array");
		goto out;
	}
	if (json_array_size(meters) > (size_t)rig->positions) {
		fail(err, errlen, "meters: %zu meters for %ld positions", json_array_size(meters),
		     rig->positions);
		goto out;
	}
	b->meters = metro_calloc(json_array_size(meters), sizeof *b->meters);
	size_t i;
	json_t *jm;
	json_array_foreach (meters, i, jm) {
		b->nmeters++;
		if (meter(jm, i, b, &b->meters[i], err, errlen))
			goto out;
		for (size_t k = 0; k < i; k++) {
			if (b->meters[k].position == b->meters[i].position) {
				fail(err, errlen,
				     "meters[%zu].position: %d is taken by meters[%zu]", i,
				     b->meters[i].position, k);
				goto out;
			}
			if (!strcmp(b->meters[k].serial, b->meters[i].serial)) {
				fail(err, errlen, "meters[%zu].serial: '%s' is also meters[%zu]", i,
				     b->meters[i].serial, k);
				goto out;
			}
		}
	}
	qsort(b->meters, b->nmeters, sizeof *b->meters, by_position);
	unsigned long long used = stimulus_names(proc);
	b->stimulus = metro_calloc(proc->nnames ? proc->nnames : 1, sizeof *b->stimulus);
	for (size_t n = 0; n < proc->nnames; n++) {
		b->stimulus[n] = b->meters[0].values[n];
		if (n >= 64 || !((used >> n) & 1))
			continue;
		for (size_t k = 1; k < b->nmeters; k++) {
			if (metro_dec_cmp(b->meters[k].values[n], b->stimulus[n]) != 0) {
				fail(err, errlen,
				     "meters: positions %d and %d differ in %s, which sets the "
				     "stimulus "
				     "(one flow or load serves the whole batch): verify them in "
				     "separate batches",
				     b->meters[0].position, b->meters[k].position, proc->names[n]);
				goto out;
			}
		}
	}
	rc = METRO_OK;
	*out = b;
out:
	if (rc)
		metro_batch_destroy(&b);
	return rc;
}

void metro_batch_destroy(struct metro_batch **pb)
{
	struct metro_batch *b = *pb;
	if (!b)
		return;
	for (size_t i = 0; i < b->nmeters; i++) {
		struct metro_batch_meter *m = &b->meters[i];
		free(m->serial);
		free(m->model);
		free(m->manufacturer);
		free(m->approval);
		free(m->values);
		if (m->text)
			for (size_t k = 0; b->proc && k < b->proc->nfields; k++)
				free(m->text[k]);
		free(m->text);
		json_decref(m->nameplate);
	}
	free(b->meters);
	free(b->stimulus);
	free(b->run_id);
	free(b->rig);
	free(b->operator_name);
	free(b->submitter);
	free(b->verification_type);
	json_decref(b->done);
	metro_procedure_destroy(&b->proc);
	free(b);
	*pb = NULL;
}

const char *metro_batch_text(const struct metro_batch *b, const struct metro_batch_meter *m,
			     const char *field)
{
	for (size_t i = 0; i < b->proc->nfields; i++)
		if (!strcmp(b->proc->fields[i].name, field))
			return m->text[i];
	return NULL;
}

struct metro_dec metro_batch_value(const struct metro_batch *b, const struct metro_batch_meter *m,
				   const char *name)
{
	for (size_t i = 0; i < b->proc->nnames; i++)
		if (!strcmp(b->proc->names[i], name))
			return m->values[i];
	return metro_dec_invalid();
}
