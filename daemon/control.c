/* control.c — the control API: JSON requests in, JSON replies out.
 *
 * A request is {"id": <string or integer>, "cmd": <name>, ...}.  The reply is
 * {"id":..,"ok":true,...} or {"id":..,"ok":false,"error":{"code":..,"message":..}}.  Commands
 * are listed in one table; the protocol is documented in docs/protocol.md.
 */
#include <string.h>
#include <time.h>

#include "batch.h"
#include "engine.h"
#include "error.h"
#include "guard.h"
#include "log.h"
#include "metrology.h"
#include "runs.h"
#include "server.h"
#include "sha256.h"
#include "util.h"
#include "yfile.h"

static json_t *error_reply(json_t *id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *error_reply(json_t *id, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = metro_vasprintf(fmt, ap);
	va_end(ap);
	json_t *r = json_pack("{sOsbs{ssss}}", "id", id ? id : json_null(), "ok", 0, "error",
			      "code", code, "message", msg);
	free(msg);
	return r;
}

static double dd_of(struct metro_dec d)
{
	return metro_dec_to_double(d);
}

static json_t *ok_reply(json_t *id)
{
	return json_pack("{sOsb}", "id", id, "ok", 1);
}

static json_t *cmd_ping(struct metro_server *s, json_t *req, json_t *id)
{
	(void)s;
	(void)req;
	json_t *r = ok_reply(id);
	json_object_set_new(r, "pong", json_true());
	json_object_set_new(r, "version", json_string(METRO_VERSION));
	return r;
}

static json_t *cmd_status(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_t *rigs = json_array();
	for (size_t i = 0; i < s->nrigs; i++) {
		const struct metro_rig_conf *rc = metro_rig_conf(s->rigs[i]);
		json_array_append_new(rigs,
				      json_pack("{sssssssIss}", "id", rc->id, "kind",
						metro_rig_kind_name(rc->kind), "driver", rc->driver,
						"positions", (json_int_t)rc->positions, "state",
						metro_rig_state(s->rigs[i])));
	}
	json_object_set_new(r, "station", json_string(s->cfg->station.id));
	json_object_set_new(r, "version", json_string(METRO_VERSION));
	json_object_set_new(r, "uptime_s", json_real((double)(metro_now_ns() - s->start_ns) / 1e9));
	json_object_set_new(r, "config", json_string(s->cfg->path));
	json_object_set_new(r, "publish", json_string(s->cfg->publish_endpoint));
	json_object_set_new(r, "config_generation", json_integer(s->generation));
	json_object_set_new(r, "reloads_failed", json_integer(s->reloads_failed));
	if (s->last_reload_error[0])
		json_object_set_new(r, "last_reload_error", json_string(s->last_reload_error));
	json_object_set_new(r, "requests", json_integer((json_int_t)s->requests));
	json_object_set_new(r, "seq", json_integer((json_int_t)s->seq));
	json_object_set_new(r, "publish_drops", json_integer((json_int_t)s->publish_drops));
	json_object_set_new(r, "executable_sha256", json_string(s->swid.exe_sha256));
	json_object_set_new(r, "store", json_string(s->cfg->store_path));
	if (metro_store_failed(s->store))
		json_object_set_new(r, "store_failed", json_string(metro_store_failed(s->store)));
	json_object_set_new(r, "rigs", rigs);
	return r;
}

static struct metro_rig *find_rig(struct metro_server *s, json_t *req, json_t *id, json_t **reply)
{
	const char *name = json_string_value(json_object_get(req, "rig"));
	if (!name) {
		*reply = error_reply(id, "bad-request", "'rig' must be a string");
		return NULL;
	}
	for (size_t i = 0; i < s->nrigs; i++)
		if (!strcmp(metro_rig_conf(s->rigs[i])->id, name))
			return s->rigs[i];
	*reply = error_reply(id, "not-found", "no rig '%s'", name);
	return NULL;
}

static json_t *cmd_rigs(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_t *rigs = json_array();
	for (size_t i = 0; i < s->nrigs; i++) {
		const struct metro_rig_conf *rc = metro_rig_conf(s->rigs[i]);
		json_t *o =
			json_pack("{sssssssIsssbsbsfs[]}", "id", rc->id, "kind",
				  metro_rig_kind_name(rc->kind), "driver", rc->driver, "positions",
				  (json_int_t)rc->positions, "state", metro_rig_state(s->rigs[i]),
				  "connected", metro_rig_connected(s->rigs[i]), "simulated",
				  rc->simulated, "sample_hz", rc->sample_hz, "standards");
		for (size_t k = 0; k < rc->nstandards; k++)
			json_array_append_new(json_object_get(o, "standards"),
					      json_string(rc->standards[k]));
		if (rc->profile_data)
			json_object_set_new(o, "profile",
					    json_pack("{ssss}", "file", rc->profile_data->path,
						      "sha256", rc->profile_data->sha256));
		const char *run = metro_runs_active(s->runs, rc->id);
		if (run)
			json_object_set_new(o, "run", json_string(run));
		const char *prompt = metro_runs_prompt(s->runs, rc->id);
		if (prompt)
			json_object_set_new(o, "prompt", json_string(prompt));
		json_t *popen = json_object_get(metro_runs_prompt_doc(s->runs, rc->id), "open");
		if (prompt && popen)
			json_object_set(o, "prompt_open", popen);
		json_t *dev = metro_rig_device(s->rigs[i]);
		if (dev)
			json_object_set_new(o, "device", json_deep_copy(dev));
		json_array_append_new(rigs, o);
	}
	json_object_set_new(r, "rigs", rigs);
	return r;
}

static json_t *cmd_procedures(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_t *list = json_array();
	for (size_t i = 0; i < s->cfg->nprocedures; i++) {
		const struct metro_procedure *p = s->cfg->procedures[i];
		json_array_append_new(list, json_pack("{sssssssssssssssssssI}", "id", p->id,
						      "title", p->title, "regulation",
						      p->regulation, "edition", p->edition, "meter",
						      p->meter, "rig", p->rig, "verification",
						      p->verification, "file", p->path, "sha256",
						      p->sha256, "items", (json_int_t)p->nitems));
	}
	json_object_set_new(r, "procedures", list);
	return r;
}

static char *date_text(const struct metro_date *d)
{
	return metro_asprintf("%04d-%02d-%02d", d->year, d->month, d->day);
}

static json_t *cmd_standards(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_t *list = json_array();
	struct metro_date now = metro_date_today();
	for (size_t i = 0; i < s->cfg->nstandards; i++) {
		const struct metro_standard_conf *st = &s->cfg->standards[i];
		char *due = date_text(&st->due), *cal = date_text(&st->calibrated);
		long left = metro_date_days(&st->due) - metro_date_days(&now);
		json_t *o = json_pack("{sssssssssssssIsb}", "id", st->id, "description",
				      st->description, "certificate", st->certificate, "issuer",
				      st->issuer, "calibrated", cal, "due", due, "days_left",
				      (json_int_t)left, "in_date", left >= 0);
		if (st->accuracy_class)
			json_object_set_new(o, "class", json_string(st->accuracy_class));
		else
			json_object_set_new(
				o, "uncertainty",
				json_pack("{sfsf}", "value", st->uncertainty_pct, "k", st->k));
		if (st->serial)
			json_object_set_new(o, "serial", json_string(st->serial));
		if (st->assessment_certificate) {
			char *ad = date_text(&st->assessment_due);
			json_object_set_new(o, "assessment",
					    json_pack("{ssss}", "certificate",
						      st->assessment_certificate, "due", ad));
			free(ad);
		}
		free(due);
		free(cal);
		json_array_append_new(list, o);
	}
	json_object_set_new(r, "standards", list);
	return r;
}

/* The smallest MPE the batch's meters are judged against at the procedure's upper zone: what
 * the standard's uncertainty must be small against. */
static int tightest_mpe(const struct metro_batch *b, struct metro_dec *out)
{
	const struct metro_procedure *p = b->proc;
	struct metro_mx_limits l = {0};
	metro_mx_parse_vtype(!strcmp(p->verification, "supervision-new")      ? "sampling-new"
			     : !strcmp(p->verification, "supervision-in-use") ? "sampling-in-use"
									      : p->verification,
			     &l.type);
	l.complaint = !strcmp(p->limits, "in-service") ? METRO_MX_COMPLAINT_IN_SERVICE
						       : METRO_MX_COMPLAINT_NEW;
	l.mpe_factor = metro_procedure_param(p, "mpe_factor", metro_dec_e(1, 0));
	int have = 0;
	for (size_t i = 0; i < b->nmeters; i++) {
		const struct metro_batch_meter *m = &b->meters[i];
		const char *cls = metro_batch_text(b, m, "class");
		struct metro_dec mpe;
		int rc;
		if (!strcmp(p->meter, "water")) {
			struct metro_mx_water_meter wm = {metro_batch_value(b, m, "q3"),
							  metro_batch_value(b, m, "r"),
							  METRO_MX_WCLASS_2};
			struct metro_mx_water_point wp;
			metro_mx_parse_wclass(cls, &wm.cls);
			rc = metro_mx_water_mpe(&wm, wm.q3, metro_dec_e(20, 0), &l, &wp);
			mpe = wp.mpe.mpe;
		} else if (!strcmp(p->meter, "gas")) {
			enum metro_mx_gclass gc = METRO_MX_GCLASS_1_5;
			struct metro_mx_gas_point gp;
			metro_mx_parse_gclass(cls, &gc);
			struct metro_dec qmax = metro_batch_value(b, m, "qmax");
			rc = metro_mx_gas_mpe(gc, qmax, metro_dec_e(0, 0), qmax, &l, &gp);
			mpe = gp.mpe.mpe;
		} else {
			struct metro_mx_elec_meter em = {0};
			struct metro_mx_elec_point ep;
			metro_mx_parse_eclass(cls, &em.cls);
			metro_mx_parse_connection(metro_batch_text(b, m, "connection"), &em.conn);
			em.rated_a = metro_batch_value(b, m, "ib");
			em.imax_a = metro_batch_value(b, m, "imax");
			struct metro_mx_current one = {metro_dec_e(1, 0), em.conn == METRO_MX_CT
										  ? METRO_MX_IN
										  : METRO_MX_IB};
			rc = metro_mx_elec_mpe(&em, &one, METRO_MX_PF_1, &l, &ep);
			mpe = ep.mpe.mpe;
		}
		if (rc)
			continue;
		if (!have || metro_dec_cmp(mpe, *out) < 0)
			*out = mpe;
		have = 1;
	}
	return have ? METRO_OK : METRO_E_INVAL;
}

/* The traceability gate: every standard of the rig in date today, and its uncertainty small
 * enough against the tightest MPE of the batch (ratio from the procedure). */
static json_t *check_standards(struct metro_server *s, const struct metro_rig_conf *rc,
			       const struct metro_batch *b, json_t *id, json_t *used)
{
	struct metro_date now = metro_date_today();
	struct metro_dec mpe, limit;
	/* a commissioning batch has no meter to judge: no MPE to hold the uncertainty against */
	int have_mpe =
		!metro_procedure_is_commissioning(b->proc) && tightest_mpe(b, &mpe) == METRO_OK;
	limit = metro_procedure_param(b->proc, "uncertainty_ratio", metro_dec_invalid());
	for (size_t i = 0; i < rc->nstandards; i++) {
		const struct metro_standard_conf *st =
			metro_config_standard(s->cfg, rc->standards[i]);
		char *due = date_text(&st->due);
		if (metro_date_cmp(&st->due, &now) < 0) {
			json_t *r =
				error_reply(id, "standard-expired",
					    "standard %s (certificate %s) was due %s: the run is "
					    "refused",
					    st->id, st->certificate, due);
			free(due);
			return r;
		}
		if (st->assessment_certificate && metro_date_cmp(&st->assessment_due, &now) < 0) {
			char *ad = date_text(&st->assessment_due);
			json_t *r =
				error_reply(id, "standard-expired",
					    "the assessment certificate %s of standard %s was due "
					    "%s: the run is refused",
					    st->assessment_certificate, st->id, ad);
			free(ad);
			free(due);
			return r;
		}
		struct metro_dec u;
		char text[40];
		if (st->accuracy_class)
			metro_dec_parse(st->accuracy_class, &u);
		else
			u = metro_dec_from_double(st->uncertainty_pct);
		if (have_mpe && metro_dec_valid(limit) && metro_dec_valid(u)) {
			struct metro_mx_uncertainty uc;
			if (!metro_mx_uncertainty_check(u, mpe, limit, &uc) &&
			    uc.verdict == METRO_MX_FAIL) {
				char lim[40], m[40];
				metro_dec_format_sig(uc.ratio, 4, text, sizeof text);
				metro_dec_format_sig(limit, 4, lim, sizeof lim);
				metro_dec_format_sig(mpe, 6, m, sizeof m);
				free(due);
				return error_reply(
					id, "uncertainty-inadequate",
					"standard %s: U = %.6g %% is %s of the MPE %s %%, "
					"more than the %s the procedure allows",
					st->id, dd_of(u), text, m, lim);
			}
		}
		json_t *o =
			json_pack("{sssssssssb}", "id", st->id, "description", st->description,
				  "certificate", st->certificate, "due", due, "simulated_check", 0);
		json_object_del(o, "simulated_check");
		if (st->serial)
			json_object_set_new(o, "serial", json_string(st->serial));
		long left = metro_date_days(&st->due) - metro_date_days(&now);
		if (left <= s->cfg->due_warning_days)
			json_object_set_new(o, "warning", json_string("due soon"));
		json_array_append_new(used, o);
		free(due);
	}
	return NULL;
}

static const char *store_vtype(const char *v)
{
	if (!strcmp(v, "supervision-new"))
		return "sampling-new";
	if (!strcmp(v, "supervision-in-use"))
		return "sampling-in-use";
	return v;
}

/* The rig's profile into the store, like the procedure: the file read once, its digest
 * computed from exactly those bytes and compared with the digest of what the rig loaded.  A
 * file changed since the rig loaded it is refused: the rig would drive one profile while the
 * record named another. */
static json_t *record_profile(struct metro_server *s, const struct metro_rig_conf *rc, json_t *id,
			      int64_t *profile)
{
	const struct metro_profile *p = rc->profile_data;
	char *content = NULL, hex[METRO_SHA256_HEX];
	size_t len = 0;
	if (!p)
		return error_reply(id, "internal", "rig %s has no loaded profile", rc->id);
	int err = metro_read_file(p->path, METRO_Y_MAX_BYTES, &content, &len);
	if (err)
		return error_reply(
			id, "profile-changed",
			"rig %s: its profile %s cannot be read (%s): put it back, reload "
			"metrod (SIGHUP) and start again",
			rc->id, p->path, metro_strerror(err));
	metro_sha256_hex(content, len, hex);
	if (strcmp(hex, p->sha256) != 0) {
		free(content);
		return error_reply(id, "profile-changed",
				   "rig %s: its profile %s changed since the rig loaded it (sha256 "
				   "%.12s… loaded, %.12s… now): reload metrod (SIGHUP) so that the "
				   "rig runs the profile the record names, then start again",
				   rc->id, p->path, p->sha256, hex);
	}
	const char *slash = strrchr(p->path, '/');
	err = metro_store_profile(s->store, slash ? slash + 1 : p->path, p->path, content, len, hex,
				  profile);
	free(content);
	if (err)
		return error_reply(id, "store-failed",
				   "the record store refused the rig's profile: %s",
				   metro_store_errmsg(s->store));
	return NULL;
}

static json_t *record_run(struct metro_server *s, const struct metro_rig_conf *rc,
			  const struct metro_batch *b, json_t *id, int64_t *run)
{
	char *content = NULL;
	size_t len = 0;
	if (metro_read_file(b->proc->path, 1 << 22, &content, &len))
		return error_reply(id, "procedure-invalid", "cannot read %s", b->proc->path);
	int64_t proc_id;
	int err = metro_store_procedure(s->store, b->proc->id, content, len, b->proc->sha256,
					&proc_id);
	if (err == METRO_E_IO || metro_store_failed(s->store)) {
		free(content);
		return error_reply(id, "store-failed", "the record store refused the run: %s",
				   metro_store_errmsg(s->store));
	}
	if (err) {
		free(content);
		return error_reply(id, "procedure-invalid",
				   "%s changed while it was loaded (%s): start again",
				   b->proc->path, metro_store_errmsg(s->store));
	}
	free(content);
	int64_t profile_id;
	json_t *refused = record_profile(s, rc, id, &profile_id);
	if (refused)
		return refused;
	struct metro_store_meter *meters = metro_calloc(b->nmeters, sizeof *meters);
	for (size_t i = 0; i < b->nmeters; i++) {
		const struct metro_batch_meter *m = &b->meters[i];
		meters[i] = (struct metro_store_meter){m->position, m->serial,
						       m->model,    m->manufacturer,
						       m->approval, metro_batch_text(b, m, "class"),
						       m->nameplate};
	}
	json_t *params = json_object();
	for (size_t i = 0; i < b->proc->nparams; i++) {
		char v[64];
		metro_dec_format_sig(b->proc->params[i].value, 15, v, sizeof v);
		json_object_set_new(params, b->proc->params[i].name, json_string(v));
	}
	struct metro_store_run r = {
		.rig = rc->id,
		.procedure = proc_id,
		.profile = profile_id,
		.software_version = METRO_VERSION,
		.software_sha256 = s->swid.exe_sha256,
		.verification_type = b->verification_type ? b->verification_type
							  : store_vtype(b->proc->verification),
		.operator_id = b->operator_name,
		.client = b->submitter,
		.simulated = b->simulated,
		.parameters = params,
		.standards = (const char *const *)rc->standards,
		.nstandards = rc->nstandards,
		.meters = meters,
		.nmeters = b->nmeters,
		.resumed_from = b->resumed_from,
	};
	err = metro_store_run_begin(s->store, &r, run);
	json_decref(params);
	free(meters);
	if (err == METRO_E_DENIED)
		return error_reply(id, "standard-expired", "%s", metro_store_errmsg(s->store));
	if (b->resumed_from && (err == METRO_E_STATE || err == METRO_E_EXISTS))
		return error_reply(id, err == METRO_E_STATE ? "state" : "exists", "%s",
				   metro_store_errmsg(s->store));
	if (err)
		return error_reply(id, "store-failed", "the record store refused the run: %s",
				   metro_store_errmsg(s->store));
	return NULL;
}

/* ---- the wall clock (docs/records.md "Wall time") ------------------------------------------ */

/* How far the wall clock may be behind the newest record before runs are refused: more than a
 * time service's step, less than anything that would put a run's records out of order by a
 * meaningful amount. */
#define CLOCK_TOLERANCE_S 60

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void us_text(int64_t us, char out[40])
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Raise or clear the clock-behind alarm on alarm.store when its state changes. */
static void clock_alarm(struct metro_server *s, int behind, const char *msg, const char *newest,
			const char *clock)
{
	if (behind == s->clock_behind)
		return;
	s->clock_behind = behind;
	if (behind)
		metro_err("%s", msg);
	else
		metro_notice("%s", msg);
	json_t *doc =
		json_pack("{sssssbssssss}", "alarm", "clock-behind", "severity", "error", "active",
			  behind, "message", msg, "newest_record", newest, "clock", clock);
	if (doc)
		metro_server_publish_store_alarm(s, doc);
}

/* The wall clock against the newest record: *behind_us is how far behind it is (negative:
 * ahead).  Returns nonzero when the record store cannot say. */
static int clock_behind(struct metro_server *s, int64_t *behind_us, char newest[40], char clock[40])
{
	int64_t last, now = wall_us();
	if (metro_store_newest_time(s->store, &last))
		return -1;
	*behind_us = last - now;
	us_text(last, newest);
	us_text(now, clock);
	return 0;
}

/* The clock watch: 1 when the wall clock is behind the newest record by more than the
 * tolerance (msg says so), 0 when not, -1 when the record store cannot say (msg says why).
 * The clock-behind alarm follows the answer.  The event loop looks every time round
 * (metro_control_tick) and every start looks again. */
static int clock_watch(struct metro_server *s, char msg[400])
{
	int64_t behind;
	char newest[40], clock[40];
	if (clock_behind(s, &behind, newest, clock)) {
		snprintf(msg, 400, "the record store cannot say its newest time: %s",
			 metro_store_errmsg(s->store));
		return -1;
	}
	if (behind <= (int64_t)CLOCK_TOLERANCE_S * 1000000) {
		snprintf(msg, 400, "the wall clock (%s) is no longer behind the newest record (%s)",
			 clock, newest);
		clock_alarm(s, 0, msg, newest, clock);
		return 0;
	}
	snprintf(msg, 400,
		 "the wall clock (%s) is %lld s behind the newest record (%s): no run starts until "
		 "the clock is right (or a manager accepts it with clock-accept)",
		 clock, (long long)(behind / 1000000), newest);
	clock_alarm(s, 1, msg, newest, clock);
	return 1;
}

/* No run starts while the wall clock is behind the newest record: its records would be
 * stamped before what is recorded already. */
static json_t *clock_gate(struct metro_server *s, json_t *id)
{
	char msg[400];
	int rc = clock_watch(s, msg);
	return rc < 0	? error_reply(id, "store-failed", "%s", msg)
	       : rc > 0 ? error_reply(id, "clock-behind", "%s", msg)
			: NULL;
}

/* clock-accept: a manager accepts the wall clock as it is although records carry later times
 * (they were stamped by a clock that ran ahead).  Recorded as the audit event clock.accepted,
 * with the newest record's time and the clock's; runs start again.  Refused while the clock
 * is not behind: there is nothing to accept. */
static json_t *cmd_clock_accept(struct metro_server *s, json_t *req, json_t *id)
{
	const char *why = json_string_value(json_object_get(req, "why"));
	if (!why || !*why)
		return error_reply(
			id, "bad-request",
			"'why' is required: accepting a clock behind the records says why");
	int64_t behind;
	char newest[40], clock[40], msg[400];
	if (clock_behind(s, &behind, newest, clock))
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	if (behind <= (int64_t)CLOCK_TOLERANCE_S * 1000000)
		return error_reply(
			id, "state",
			"the wall clock (%s) is not behind the newest record (%s): there is "
			"nothing to accept",
			clock, newest);
	if (metro_store_clock_accept(s->store, s->client ? s->client : "local", why))
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	snprintf(msg, sizeof msg,
		 "the wall clock (%s), %lld s behind the newest record (%s), was accepted by %s "
		 "(audit event clock.accepted)",
		 clock, (long long)(behind / 1000000), newest, s->client ? s->client : "local");
	clock_alarm(s, 0, msg, newest, clock);
	json_t *r = ok_reply(id);
	json_object_set_new(r, "newest_record", json_string(newest));
	json_object_set_new(r, "clock", json_string(clock));
	return r;
}

/* Who runs a batch or answers a prompt, as recorded: the authenticated person (a request's
 * `operator` may only repeat their id), or on an unauthenticated connection the `operator`
 * typed, which must then be a person of the registry when there is one (the record says the
 * connection was unauthenticated: the audit event's actor).  proc_id NULL: answering a prompt.
 * Returns the operator's id, or NULL with *reply set: `not-you`, `unknown-person`,
 * `not-qualified` (lapsed, not authorised for the procedure, no such role). */
static const char *operator_of(struct metro_server *s, json_t *req, json_t *id, const char *proc_id,
			       json_t **reply)
{
	const char *typed = json_string_value(json_object_get(req, "operator"));
	const struct metro_person *p = s->ident ? s->ident->person : NULL;
	if (p && typed && *typed && strcmp(typed, p->id) != 0) {
		*reply = error_reply(id, "not-you",
				     "'operator' is %s, but this connection is authenticated as "
				     "%s: a person acts in their own name",
				     typed, p->id);
		return NULL;
	}
	if (!p && (!typed || !*typed)) {
		*reply = error_reply(id, "bad-request",
				     "'operator' must name who %s (this connection is not "
				     "authenticated as a person)",
				     proc_id ? "runs the batch" : "answers");
		return NULL;
	}
	if (!p && s->cfg->npeople) {
		p = metro_person_by_id(s->cfg, typed);
		if (!p) {
			*reply = error_reply(id, "unknown-person",
					     "operator %s is not in the people registry", typed);
			return NULL;
		}
	}
	char why[300];
	if (p && (proc_id ? metro_person_may_verify(p, proc_id, why, sizeof why)
			  : metro_person_may_answer(p, why, sizeof why))) {
		*reply = error_reply(id, "not-qualified", "%s", why);
		return NULL;
	}
	return p ? p->id : typed;
}

/* The commissioning gate (docs/operations.md "Commissioning a rig"): a run on a rig that is
 * not simulated needs the rig's position map proved for the profile it drives now — its
 * newest commissioning run drove a profile with this SHA-256 and passed.  A manager may
 * override with a reason (`commissioning_override`), recorded as the audit event
 * commissioning.override.  Commissioning runs themselves, and simulated rigs, pass. */
static json_t *check_commissioned(struct metro_server *s, const struct metro_rig_conf *rc,
				  const struct metro_batch *b, json_t *req, json_t *id)
{
	if (rc->simulated || metro_procedure_is_commissioning(b->proc))
		return NULL;
	const char *sha = rc->profile_data->sha256;
	struct metro_store_commissioned c;
	int err = metro_store_commissioning(s->store, rc->id, &c);
	if (err && err != METRO_E_NOTFOUND)
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	if (!err && c.passed && !strcmp(c.profile_sha256, sha))
		return NULL;
	char why[300];
	if (err)
		snprintf(why, sizeof why, "rig %s has never been commissioned", rc->id);
	else if (!c.passed)
		snprintf(why, sizeof why,
			 "rig %s's newest commissioning (run %lld) did not pass (%s)", rc->id,
			 (long long)c.run, c.state);
	else
		snprintf(why, sizeof why,
			 "rig %s's profile changed since its commissioning (run %lld proved "
			 "%.12s…, the rig drives %.12s… now)",
			 rc->id, (long long)c.run, c.profile_sha256, sha);
	json_t *ov = json_object_get(req, "commissioning_override");
	if (!ov)
		return error_reply(id, "not-commissioned",
				   "%s: run a commissioning procedure on it first "
				   "(procedures/commission-*.yaml), or a manager overrides with a "
				   "reason",
				   why);
	const char *reason = json_string_value(ov);
	if (!reason || !*reason)
		return error_reply(id, "bad-request",
				   "'commissioning_override' must be the reason (a string)");
	if (!s->ident || s->ident->role < METRO_ROLE_MANAGER)
		return error_reply(id, "denied",
				   "only a manager may override the commissioning gate (%s)", why);
	json_t *old = json_pack("{ss}", "why", why),
	       *now = json_pack("{ss}", "profile_sha256", sha);
	char subject[160];
	snprintf(subject, sizeof subject, "rig/%s", rc->id);
	err = metro_store_audit(s->store, s->ident->who, "commissioning.override", subject, old,
				now, reason, NULL);
	json_decref(old);
	json_decref(now);
	if (err)
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	metro_notice("rig %s: commissioning gate overridden by %s: %s (%s)", rc->id, s->ident->who,
		     reason, why);
	return NULL;
}

/* Validate, record and submit a batch; resumed_from, done (borrowed) and the procedure's
 * digest then describe a resume-run. */
static json_t *start_batch(struct metro_server *s, json_t *req, json_t *id, int64_t resumed_from,
			   json_t *done, const char *sha256)
{
	json_t *reply = NULL;
	if (metro_server_store_failed(s))
		return error_reply(id, "store-failed",
				   "the record store has failed (%s): no run starts until metrod "
				   "restarts on a working store",
				   metro_store_failed(s->store));
	if ((reply = clock_gate(s, id)))
		return reply;
	uint64_t free_mb;
	if (metro_server_check_space(s, &free_mb))
		return error_reply(
			id, "store-reserve",
			"the record store's file system has %llu MB free, below the "
			"reserve of %ld MB (store.reserve_mb): free space before starting a "
			"run",
			(unsigned long long)free_mb, s->cfg->store_reserve_mb);
	struct metro_rig *rig = find_rig(s, req, id, &reply);
	if (!rig)
		return reply;
	const struct metro_rig_conf *rc = metro_rig_conf(rig);
	const char *pid = json_string_value(json_object_get(req, "procedure"));
	if (!pid)
		return error_reply(id, "bad-request", "'procedure' must be a string");
	const struct metro_procedure *lib = metro_config_procedure(s->cfg, pid);
	if (!lib)
		return error_reply(id, "not-found", "no procedure '%s'", pid);
	/* The batch gets its own copy, read again now: the run records exactly what it ran. */
	struct metro_diag diag;
	struct metro_procedure *proc;
	metro_diag_init(&diag);
	if (metro_procedure_load(lib->path, &diag, &proc)) {
		reply = error_reply(id, "procedure-invalid", "%s",
				    diag.n ? diag.msgs[0] : "procedure no longer loads");
		metro_diag_free(&diag);
		return reply;
	}
	metro_diag_free(&diag);
	if (sha256 && strcmp(sha256, proc->sha256) != 0) {
		metro_procedure_destroy(&proc);
		return error_reply(
			id, "procedure-changed",
			"procedure %s has changed since the interrupted run (sha256 %.12s… "
			"then, %.12s… now): a resume-run must run the same procedure",
			pid, sha256, lib->sha256);
	}
	const char *op = operator_of(s, req, id, proc->id, &reply);
	if (!op) {
		metro_procedure_destroy(&proc);
		return reply;
	}
	struct metro_batch *b;
	char err[300];
	const struct metro_batch_rig br = {rc->id, rc->kind, rc->positions, rc->simulated,
					   rc->time_scale};
	/* The batch names the operator as established above, not as typed. */
	json_t *breq = json_copy(req);
	json_object_set_new(breq, "operator", json_string(op));
	int bad = metro_batch_from_json(breq, proc, &br, &b, err, sizeof err);
	json_decref(breq);
	if (bad)
		return error_reply(id, "bad-batch", "%s", err);
	b->resumed_from = resumed_from;
	b->done = json_incref(done);
	/* A well-formed batch, and only then: is the rig free and safe? */
	const char *active = metro_runs_active(s->runs, rc->id);
	if (active || strcmp(metro_rig_state(rig), "idle") != 0) {
		metro_batch_destroy(&b);
		return error_reply(id, "busy", "rig %s is %s%s%s", rc->id, metro_rig_state(rig),
				   active ? " with run " : "", active ? active : "");
	}
	json_t *used = json_array();
	if ((reply = check_standards(s, rc, b, id, used)) ||
	    (reply = check_commissioned(s, rc, b, req, id))) {
		json_decref(used);
		metro_batch_destroy(&b);
		return reply;
	}
	/* The run is recorded before anything moves: procedure content, standards as of today,
	 * software, operator, meters.  Its number in the store is the run's id. */
	int64_t run = 0;
	if ((reply = record_run(s, rc, b, id, &run))) {
		json_decref(used);
		metro_batch_destroy(&b);
		return reply;
	}
	b->run_id = metro_asprintf("%lld", (long long)run);
	char *run_id = metro_strdup(b->run_id);
	metro_runs_submitted(s->runs, rc->id, run_id);
	if (metro_rig_submit(rig, b)) {
		free(run_id);
		json_decref(used);
		return error_reply(id, "internal", "cannot hand the batch to rig %s", rc->id);
	}
	metro_notice("run %s submitted on rig %s: procedure %s, %zu meters", run_id, rc->id, pid,
		     json_array_size(json_object_get(req, "meters")));
	reply = ok_reply(id);
	json_object_set_new(reply, "run", json_string(run_id));
	json_object_set_new(reply, "rig", json_string(rc->id));
	json_object_set_new(reply, "standards", used);
	free(run_id);
	return reply;
}

static json_t *cmd_start(struct metro_server *s, json_t *req, json_t *id)
{
	return start_batch(s, req, id, 0, NULL, NULL);
}

/* resume-run: continue a run a crash left incomplete, as a new run linked to it that runs
 * only the points without a committed result (docs/records.md).  The meters, procedure
 * (which must be unchanged), submitter and verification type are those of the record. */
static json_t *cmd_resume_run(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *jr = json_object_get(req, "run");
	const char *op = json_string_value(json_object_get(req, "operator"));
	long long old = json_is_integer(jr)  ? (long long)json_integer_value(jr)
			: json_is_string(jr) ? strtoll(json_string_value(jr), NULL, 10)
					     : 0;
	if (old <= 0)
		return error_reply(id, "bad-request", "'run' must be a run id");
	json_t *rec;
	if (metro_store_run(s->store, old, &rec))
		return error_reply(id, "not-found", "no run %lld in the record store", old);
	const char *state = json_string_value(json_object_get(rec, "state"));
	if (!state || strcmp(state, "incomplete") != 0) {
		json_t *r = error_reply(id, "state",
					"run %lld is %s: only a run left incomplete by a crash can "
					"be resumed",
					old, state ? state : "?");
		json_decref(rec);
		return r;
	}
	json_t *proc = json_object_get(rec, "procedure"), *meters = json_array();
	size_t i;
	json_t *p;
	json_array_foreach (json_object_get(rec, "positions"), i, p) {
		json_t *m = json_pack("{sIsO}", "position",
				      json_integer_value(json_object_get(p, "position")), "serial",
				      json_object_get(p, "serial"));
		static const char *const keys[][2] = {{"model", "model"},
						      {"manufacturer", "manufacturer"},
						      {"pattern_approval", "approval"},
						      {"nameplate", "nameplate"}};
		for (size_t k = 0; k < METRO_ARRAY_SIZE(keys); k++) {
			json_t *v = json_object_get(p, keys[k][0]);
			if (v && !json_is_null(v))
				json_object_set(m, keys[k][1], v);
		}
		json_array_append_new(meters, m);
	}
	json_t *start = json_pack("{sOsOsO}", "rig", json_object_get(rec, "rig"), "procedure",
				  json_object_get(proc, "name"), "meters", meters);
	json_decref(meters);
	if (op) /* checked by start_batch (operator_of) */
		json_object_set_new(start, "operator", json_string(op));
	if (json_is_string(json_object_get(rec, "client")))
		json_object_set(start, "submitter", json_object_get(rec, "client"));
	const char *vt = json_string_value(json_object_get(rec, "verification_type"));
	if (vt && (!strcmp(vt, "sampling-new") || !strcmp(vt, "sampling-in-use") ||
		   !strcmp(vt, "complaint")))
		json_object_set_new(start, "verification_type", json_string(vt));
	/* what the interrupted run (and any run it resumed) committed */
	json_t *pts = NULL, *done = json_object();
	if (metro_store_committed_points(s->store, old, &pts) == 0) {
		json_array_foreach (pts, i, p) {
			const char *v = json_string_value(json_object_get(p, "verdict"));
			/* an attempt the repeat rule extended, or an error: run it again */
			if (!v || (strcmp(v, "pass") != 0 && strcmp(v, "conditional") != 0 &&
				   strcmp(v, "fail") != 0))
				continue;
			char key[24];
			snprintf(key, sizeof key, "%lld",
				 (long long)json_integer_value(json_object_get(p, "position")));
			json_t *pos = json_object_get(done, key);
			if (!pos)
				json_object_set_new(done, key, pos = json_object());
			json_object_set(pos, json_string_value(json_object_get(p, "test_point")),
					json_object_get(p, "verdict"));
		}
	}
	json_decref(pts);
	json_t *reply = start_batch(s, start, id, old, done,
				    json_string_value(json_object_get(proc, "sha256")));
	json_decref(done);
	if (json_is_true(json_object_get(reply, "ok")))
		json_object_set_new(reply, "resumes", json_sprintf("%lld", old));
	json_decref(start);
	json_decref(rec);
	return reply;
}

/* pause, resume, stop, abort, halt: checked against the rig's run and forwarded.  What the
 * engine would refuse is refused here, to the client: a pause while one is requested, a
 * resume while none is (the actor reads the command later and could only log it). */
static json_t *run_control(struct metro_server *s, json_t *req, json_t *id, const char *verb)
{
	json_t *reply = NULL;
	struct metro_rig *rig = find_rig(s, req, id, &reply);
	if (!rig)
		return reply;
	const char *run = metro_runs_active(s->runs, metro_rig_conf(rig)->id);
	if (!run)
		return error_reply(id, "no-run", "no run is active on rig %s",
				   metro_rig_conf(rig)->id);
	int paused = metro_rig_pause_requested(rig);
	if ((!strcmp(verb, "pause") && paused) || (!strcmp(verb, "resume") && !paused))
		return error_reply(id, "state", "run %s on rig %s is %s", run,
				   metro_rig_conf(rig)->id,
				   paused ? "already pausing or paused" : "not paused");
	if (metro_rig_command(rig, verb, req))
		return error_reply(id, "internal", "cannot reach rig %s", metro_rig_conf(rig)->id);
	reply = ok_reply(id);
	json_object_set_new(reply, "run", json_string(run));
	return reply;
}

static json_t *cmd_pause(struct metro_server *s, json_t *req, json_t *id)
{
	return run_control(s, req, id, "pause");
}

static json_t *cmd_resume(struct metro_server *s, json_t *req, json_t *id)
{
	return run_control(s, req, id, "resume");
}

static json_t *cmd_stop(struct metro_server *s, json_t *req, json_t *id)
{
	return run_control(s, req, id, "stop");
}

static json_t *cmd_abort(struct metro_server *s, json_t *req, json_t *id)
{
	return run_control(s, req, id, "abort");
}

static json_t *cmd_halt(struct metro_server *s, json_t *req, json_t *id)
{
	return run_control(s, req, id, "halt");
}

/* input: an answer to the open prompt of a rig.  It is checked as the engine will check it
 * (metro_engine_check_answer, on the prompt document the rig published and the answers taken
 * since), recorded as what it decides and who gave it, then handed to the engine. */
static json_t *cmd_input(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *reply = NULL;
	struct metro_rig *rig = find_rig(s, req, id, &reply);
	if (!rig)
		return reply;
	const char *rig_id = metro_rig_conf(rig)->id;
	const char *open = metro_runs_prompt(s->runs, rig_id);
	const char *prompt = json_string_value(json_object_get(req, "prompt"));
	if (!prompt)
		return error_reply(id, "bad-request", "'prompt' must be a string");
	if (!open || strcmp(open, prompt) != 0)
		return error_reply(id, "no-prompt", "prompt '%s' is not open on rig %s%s%s", prompt,
				   rig_id, open ? " (open: " : "", open ? open : "");
	json_t *jauto = json_object_get(req, "automated");
	if (jauto && !json_is_boolean(jauto))
		return error_reply(id, "bad-request", "'automated' must be true or false");
	int automated = json_is_true(jauto);
	if (automated && json_object_get(req, "operator"))
		return error_reply(id, "bad-request",
				   "an automated answer names no operator: it is recorded as "
				   "automated, with the client that sent it");
	json_t *ans = json_object_get(req, "answer");
	json_t *pdoc = metro_runs_prompt_doc(s->runs, rig_id);
	json_t *pj = json_object_get(pdoc, "positions");
	int positions[1024];
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(pj) && n < METRO_ARRAY_SIZE(positions); i++)
		positions[n++] = (int)json_integer_value(json_array_get(pj, i));
	const char *sensor = json_string_value(json_object_get(pdoc, "sensor"));
	struct metro_engine_prompt p = {
		json_string_value(json_object_get(pdoc, "item")),
		!strcmp(json_string_value(json_object_get(pdoc, "kind")) ?: "", "readings"),
		positions,
		n,
		json_object_get(pdoc, "decided"),
		json_is_true(json_object_get(metro_runs_active_run(s->runs, rig_id), "simulated")),
		sensor};
	char err[400];
	json_t *decides = NULL;
	int rc = metro_engine_check_answer(&p, ans, automated, &decides, err, sizeof err);
	if (rc)
		return error_reply(id, rc == METRO_E_DENIED ? "automated-refused" : "bad-request",
				   "%s", err);
	/* A person's answer names the person (operator_of); an automated one nobody. */
	const char *op = automated ? "automated" : operator_of(s, req, id, NULL, &reply);
	if (!op) {
		json_decref(decides);
		return reply;
	}
	/* The answer is a record: what it decided and who said it, before the engine acts on
	 * it.  An automated answer is recorded as automated, with the client that sent it. */
	const char *client = s->client;
	json_t *rec = json_pack("{sOsOss}", "answer", ans, "decided", decides, "client", client);
	if (automated) {
		json_object_set_new(rec, "by", json_string("automated"));
		if (sensor)
			json_object_set_new(rec, "sensor", json_string(sensor));
	}
	char *answer = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	const char *run = metro_runs_active(s->runs, rig_id);
	struct metro_store_input in = {run ? strtoll(run, NULL, 10) : 0, 0, prompt, answer, op};
	rc = metro_store_input(s->store, &in, NULL);
	free(answer);
	if (rc) {
		json_decref(decides);
		return error_reply(id, "store-failed", "cannot record the answer: %s",
				   metro_store_errmsg(s->store));
	}
	json_t *fwd = json_deep_copy(req);
	json_object_set_new(fwd, "operator", json_string(op));
	json_object_set_new(fwd, "client", json_string(client));
	reply = run_control(s, fwd, id, "input");
	json_decref(fwd);
	/* Taken: what it decided is decided from now on, not only once the engine has said so
	 * (a second answer naming it would be recorded, then refused by the engine).  Typed
	 * readings close the prompt, a judgement once every position is decided. */
	if (json_is_true(json_object_get(reply, "ok")))
		metro_runs_prompt_decided(s->runs, rig_id, p.readings ? NULL : decides);
	json_decref(decides);
	return reply;
}

static json_t *cmd_runs(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *r = ok_reply(id);
	json_object_set_new(r, "runs", metro_runs_list(s->runs));
	return r;
}

static json_t *cmd_run(struct metro_server *s, json_t *req, json_t *id)
{
	const char *run = json_string_value(json_object_get(req, "run"));
	if (!run)
		return error_reply(id, "bad-request", "'run' must be a string");
	json_t *detail = metro_runs_get(s->runs, run);
	if (!detail)
		return error_reply(id, "not-found", "no run '%s'", run);
	json_t *r = ok_reply(id);
	json_object_set_new(r, "run", detail);
	return r;
}

/* Stored result documents from a seq on (the Clone pattern: a subscriber that saw a gap
 * asks for what it missed). */
static json_t *cmd_replay(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *from = json_object_get(req, "from");
	json_t *limit = json_object_get(req, "limit");
	if (!json_is_integer(from) || json_integer_value(from) < 0)
		return error_reply(id, "bad-request", "'from' must be a seq (integer >= 0)");
	if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
		      json_integer_value(limit) > 10000))
		return error_reply(id, "bad-request", "'limit' must be 1..10000");
	json_t *docs;
	if (metro_store_replay(s->store, json_integer_value(from),
			       limit ? (size_t)json_integer_value(limit) : 1000, &docs))
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	json_t *r = ok_reply(id);
	json_object_set_new(r, "documents", docs);
	json_object_set_new(r, "seq", json_integer((json_int_t)s->seq));
	return r;
}

/* The signed head of the audit chain: a new checkpoint when anything was recorded since the
 * last one, else null (the last published checkpoint still holds). */
static json_t *cmd_audit_head(struct metro_server *s, json_t *req, json_t *id)
{
	(void)req;
	json_t *cp = NULL;
	if (metro_store_checkpoint(s->store, &cp))
		return error_reply(id, "store-failed", "%s", metro_store_errmsg(s->store));
	json_t *r = ok_reply(id);
	json_object_set_new(r, "checkpoint", cp ? cp : json_null());
	json_object_set_new(r, "pubkey", json_string(metro_store_pubkey(s->store)));
	return r;
}

static json_t *cmd_snapshot(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *r = cmd_rigs(s, req, id);
	/* the newest reading of each rig: its tick, read time and every channel's value */
	json_t *rigs = json_object_get(r, "rigs");
	for (size_t i = 0; i < s->nrigs && i < json_array_size(rigs); i++) {
		size_t len;
		const char *body = metro_rig_reading(s->rigs[i], &len);
		char *text = body ? metro_asprintf("{%.*s}", (int)len, body) : NULL;
		json_t *last = text ? json_loads(text, 0, NULL) : NULL;
		free(text);
		json_object_set_new(json_array_get(rigs, i), "reading", last ? last : json_null());
	}
	json_object_set_new(r, "runs", metro_runs_list(s->runs));
	json_object_set_new(r, "station", json_string(s->cfg->station.id));
	json_object_set_new(r, "seq", json_integer((json_int_t)s->seq));
	return r;
}

/* A request's object refused by the configuration's validator: "standard-set:1:57:
 * standard.due: ..." has a position in the compact request, so the reply keeps what follows
 * it, which names the field.  Frees the diagnostics. */
static json_t *diag_reply(json_t *id, struct metro_diag *d, const char *what)
{
	const char *m = d->n ? d->msgs[0] : what;
	for (int colons = 0; colons < 3 && strchr(m, ':'); colons++)
		m = strchr(m, ':') + 1;
	m += *m == ' ';
	json_t *r =
		error_reply(id, "bad-request", "%s%s", m, d->n > 1 ? " (and more problems)" : "");
	metro_diag_free(d);
	return r;
}

/* standard-set: a manager changes an existing reference standard (a new certificate after a
 * recalibration, a corrected due date).  The standard is given whole and checked with the
 * configuration's own rules; the store records the change (old and new values, who, why)
 * before the running configuration uses it.  The configuration file stays authoritative: a
 * reload that still holds the old values sets them back, again as audited changes
 * (docs/records.md). */
static json_t *cmd_standard_set(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *o = json_object_get(req, "standard");
	const char *why = json_string_value(json_object_get(req, "why"));
	if (!json_is_object(o))
		return error_reply(id, "bad-request", "'standard' must be an object");
	if (!why || !*why)
		return error_reply(id, "bad-request",
				   "'why' is required: every change of a standard says why");
	char *text = json_dumps(o, JSON_COMPACT);
	struct metro_diag d;
	struct metro_standard_conf c;
	metro_diag_init(&d);
	int bad = !text ||
		  metro_standard_conf_parse("standard-set", text, strlen(text), "standard", &d, &c);
	free(text);
	if (bad)
		return diag_reply(id, &d, "not a standard");
	metro_diag_free(&d);
	struct metro_standard_conf *cur = NULL;
	for (size_t i = 0; i < s->cfg->nstandards; i++)
		if (!strcmp(s->cfg->standards[i].id, c.id))
			cur = &s->cfg->standards[i];
	if (!cur) {
		json_t *r = error_reply(id, "not-found",
					"standard %s is not in the configuration (add a standard "
					"there: the rigs name the standards they use)",
					c.id);
		metro_standard_conf_free(&c);
		return r;
	}
	int err = metro_store_standard_change(s->store, &c, s->client ? s->client : "local", why);
	if (err) {
		json_t *r = error_reply(id, "store-failed", "standard %s: %s", c.id,
					metro_store_errmsg(s->store));
		metro_standard_conf_free(&c);
		return r;
	}
	c.line = cur->line;
	metro_standard_conf_free(cur);
	*cur = c;
	s->due_checked_day = 0; /* due dates may have moved: check again */
	json_t *r = ok_reply(id);
	json_object_set_new(r, "standard", json_string(cur->id));
	return r;
}

/* person-set: a manager changes a person of the registry (a renewed qualification, another
 * procedure, a new key), given whole and checked with the configuration's own rules; the
 * store records each changed field and an audit event (who, why) before the running
 * configuration uses it, and the person's next request is judged by it.  As for standards,
 * the configuration file stays authoritative: a reload sets it back unless the file says the
 * same. */
static json_t *cmd_person_set(struct metro_server *s, json_t *req, json_t *id)
{
	json_t *o = json_object_get(req, "person");
	const char *why = json_string_value(json_object_get(req, "why"));
	if (!json_is_object(o))
		return error_reply(id, "bad-request", "'person' must be an object");
	if (!why || !*why)
		return error_reply(id, "bad-request",
				   "'why' is required: every change of a person says why");
	char *text = json_dumps(o, JSON_COMPACT);
	struct metro_diag d;
	struct metro_person p;
	metro_diag_init(&d);
	int bad = !text ||
		  metro_person_conf_parse("person-set", text, strlen(text), "person", &d, &p);
	free(text);
	if (bad)
		return diag_reply(id, &d, "not a person");
	metro_diag_free(&d);
	struct metro_config *c = s->cfg;
	struct metro_person *cur = NULL;
	const char *same_key = NULL, *same_client = NULL; /* one key, one identity */
	for (size_t i = 0; i < c->npeople; i++) {
		if (!strcmp(c->people[i].id, p.id))
			cur = &c->people[i];
		else if (p.curve_z85[0] && !strcmp(c->people[i].curve_z85, p.curve_z85))
			same_key = c->people[i].id;
	}
	for (size_t k = 0; p.curve_z85[0] && k < c->control_curve.nclients; k++)
		if (!strcmp(c->control_curve.clients[k].public_z85, p.curve_z85))
			same_client = c->control_curve.clients[k].name;
	json_t *r = NULL;
	if (same_key || same_client)
		r = error_reply(id, "bad-request",
				"person.key: the key of %s %s: one key, one identity",
				same_key ? "person" : "client", same_key ? same_key : same_client);
	else if (!cur)
		r = error_reply(id, "not-found",
				"person %s is not in the configuration (add a person there)", p.id);
	else if (metro_store_person_change(s->store, &p, s->client, why))
		r = error_reply(id, "store-failed", "person %s: %s", p.id,
				metro_store_errmsg(s->store));
	if (r || !cur) {
		metro_person_free(&p);
		return r;
	}
	p.line = cur->line;
	metro_person_free(cur);
	*cur = p;
	r = ok_reply(id);
	json_object_set_new(r, "person", json_string(cur->id));
	return r;
}

/* certificate-step: a person signs a step of a certificate's workflow (verified, checked,
 * approved, issued, voided).  The connection must be that person's (their CURVE key or Unix
 * user): a step is never signed on someone else's behalf; the store checks the signature
 * under the person's registered key, the order, who may sign what and that the checker and
 * approver are not the verifier (metro_store_cert_step), and records the step in the chain. */
static json_t *cmd_certificate_step(struct metro_server *s, json_t *req, json_t *id)
{
	const struct metro_person *me = s->ident ? s->ident->person : NULL;
	const char *person = json_string_value(json_object_get(req, "person"));
	if (!me)
		return error_reply(id, "not-a-person",
				   "a certificate step is signed by a person: connect with your "
				   "own key (metroctl keygen --person) or as your Unix user");
	if (!person || strcmp(person, me->id) != 0)
		return error_reply(id, "not-you",
				   "'person' is %s, but this connection is authenticated as %s: "
				   "a person signs only their own steps",
				   person ? person : "missing", me->id);
	struct metro_cert_step st = {
		json_string_value(json_object_get(req, "number")),
		json_string_value(json_object_get(req, "step")),
		person,
		json_string_value(json_object_get(req, "time")),
		json_string_value(json_object_get(req, "why")),
		json_string_value(json_object_get(req, "replaces")),
		json_string_value(json_object_get(req, "signature")),
	};
	if (!st.number || !st.step || !st.time || !st.signature)
		return error_reply(id, "bad-request",
				   "'number', 'step', 'time' and 'signature' are required strings");
	char code[METRO_STORE_CODE_MAX] = "";
	if (metro_store_cert_step(s->store, &st, code))
		return error_reply(id, code[0] ? code : "store", "%s",
				   metro_store_errmsg(s->store));
	metro_notice("certificate %s: %s by %s", st.number, st.step, person);
	/* Signed at once: an issued certificate prints only from records a checkpoint covers,
	 * and steps come at people's pace, long after the run's own checkpoint. */
	json_decref(metro_server_checkpoint(s));
	json_t *r = ok_reply(id);
	json_object_set_new(r, "number", json_string(st.number));
	json_object_set_new(r, "step", json_string(st.step));
	json_object_set_new(r, "person", json_string(person));
	return r;
}

/* certificate-reissue: a voided certificate's replacement, a new draft for the same position
 * (metro_store_cert_reissue); asked by an approver or a manager, saying why. */
static json_t *cmd_certificate_reissue(struct metro_server *s, json_t *req, json_t *id)
{
	const struct metro_person *me = s->ident ? s->ident->person : NULL;
	const char *number = json_string_value(json_object_get(req, "number"));
	const char *why = json_string_value(json_object_get(req, "why"));
	if (!me || !(me->roles & (METRO_PERSON_APPROVER | METRO_PERSON_MANAGER)))
		return error_reply(id, "forbidden",
				   "a certificate is reissued by an approver or a manager, "
				   "authenticated as a person");
	if (!number || !why || !*why)
		return error_reply(id, "bad-request", "'number' and 'why' are required");
	char fresh[METRO_STORE_CERT_MAX], code[METRO_STORE_CODE_MAX] = "";
	if (metro_store_cert_reissue(s->store, number, me->id, why, fresh, code))
		return error_reply(id, code[0] ? code : "store", "%s",
				   metro_store_errmsg(s->store));
	metro_notice("certificate %s reissued as %s by %s", number, fresh, me->id);
	json_t *r = ok_reply(id);
	json_object_set_new(r, "number", json_string(fresh));
	json_object_set_new(r, "reissued", json_string(number));
	return r;
}

/* Every command with the least role that may use it: observers read, operators run batches,
 * managers change the registry (docs/protocol.md). */
static const struct {
	const char *name;
	json_t *(*fn)(struct metro_server *s, json_t *req, json_t *id);
	enum metro_role role;
	int records; /* changes something: recorded in the audit trail with the client */
} commands[] = {
	{"ping", cmd_ping, METRO_ROLE_OBSERVER, 0},
	{"status", cmd_status, METRO_ROLE_OBSERVER, 0},
	{"rigs", cmd_rigs, METRO_ROLE_OBSERVER, 0},
	{"procedures", cmd_procedures, METRO_ROLE_OBSERVER, 0},
	{"standards", cmd_standards, METRO_ROLE_OBSERVER, 0},
	{"standard-set", cmd_standard_set, METRO_ROLE_MANAGER, 1},
	{"person-set", cmd_person_set, METRO_ROLE_MANAGER, 1},
	{"clock-accept", cmd_clock_accept, METRO_ROLE_MANAGER, 1},
	{"start", cmd_start, METRO_ROLE_OPERATOR, 1},
	{"resume-run", cmd_resume_run, METRO_ROLE_OPERATOR, 1},
	{"pause", cmd_pause, METRO_ROLE_OPERATOR, 1},
	{"resume", cmd_resume, METRO_ROLE_OPERATOR, 1},
	{"stop", cmd_stop, METRO_ROLE_OPERATOR, 1},
	{"abort", cmd_abort, METRO_ROLE_OPERATOR, 1},
	{"halt", cmd_halt, METRO_ROLE_OPERATOR, 1},
	{"input", cmd_input, METRO_ROLE_OPERATOR, 1},
	{"runs", cmd_runs, METRO_ROLE_OBSERVER, 0},
	{"run", cmd_run, METRO_ROLE_OBSERVER, 0},
	{"snapshot", cmd_snapshot, METRO_ROLE_OBSERVER, 0},
	{"replay", cmd_replay, METRO_ROLE_OBSERVER, 0},
	{"audit-head", cmd_audit_head, METRO_ROLE_OBSERVER, 0},
	/* the store decides who may sign which step (a checker holds only the observer level) */
	{"certificate-step", cmd_certificate_step, METRO_ROLE_OBSERVER, 1},
	{"certificate-reissue", cmd_certificate_reissue, METRO_ROLE_OBSERVER, 1},
};

/* The connection a request came on, as the repeat cache knows it: the peer's ROUTER routing
 * id (hex) and its CURVE identity ("" for a local client). */
static char *connection_name(const unsigned char *peer, size_t peerlen, const char *user)
{
	char *out = metro_calloc(2 * peerlen + 2 + strlen(user) + 1, 1);
	size_t n = 0;
	for (size_t i = 0; i < peerlen; i++)
		n += (size_t)sprintf(out + n, "%02x", peer[i]);
	sprintf(out + n, "/%s", user);
	return out;
}

/* A refused state-changing request: audited in bounded form and logged (guard.h). */
static void refused(struct metro_server *s, const char *who, enum metro_role role,
		    const char *action, const char *subject, const char *cmd, json_t *req,
		    json_t *reply)
{
	json_t *err = json_object_get(reply, "error");
	struct metro_refusal r = {who,
				  metro_role_name(role),
				  action,
				  subject,
				  cmd,
				  json_string_value(json_object_get(err, "code")) ?: "refused",
				  json_string_value(json_object_get(err, "message")) ?: "",
				  req};
	metro_guard_refused(s->guard, s->store, &r, metro_now_ns());
}

/* Run command i for a client whose role allows it: answered from the repeat cache when the
 * same connection sent the same request before (guard.h), else executed and, when it changes
 * something, recorded with who sent it. */
static json_t *dispatch(struct metro_server *s, size_t i, json_t *req, json_t *id,
			const struct metro_identity *ident, const char *conn)
{
	const char *who = ident->who;
	enum metro_role role = ident->role;
	char *canon = NULL;
	json_t *reply;
	if (commands[i].records) {
		/* The same id with the same request is a repeat; the same id with another request
		 * is another request (the key holds the canonical request's digest). */
		canon = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
		reply = canon ? metro_guard_repeat_get(s->guard, conn, canon, metro_now_ns())
			      : NULL;
		if (reply) {
			json_object_set_new(reply, "repeated", json_true());
			free(canon);
			return reply;
		}
	}
	s->client = who;
	s->ident = ident;
	reply = commands[i].fn(s, req, id);
	s->client = NULL;
	s->ident = NULL;
	if (!commands[i].records)
		return reply;
	if (canon)
		metro_guard_repeat_put(s->guard, conn, canon, reply, metro_now_ns());
	free(canon);
	const char *rig = json_string_value(json_object_get(req, "rig"));
	if (!json_is_true(json_object_get(reply, "ok"))) {
		refused(s, who, role, commands[i].name, rig, commands[i].name, req, reply);
		return reply;
	}
	/* The client's refusals counted so far come first in the audit trail. */
	metro_guard_flush(s->guard, s->store, who, metro_now_ns(), 1);
	metro_notice("control: %s (%s) %s %s: done", who, metro_role_name(role), commands[i].name,
		     rig ?: "");
	metro_store_audit(s->store, who, commands[i].name, rig, NULL, req, "accepted", NULL);
	return reply;
}

json_t *metro_control_handle(struct metro_server *s, const char *msg, size_t len,
			     const struct metro_identity *ident, const void *peer, size_t peerlen)
{
	s->requests++;
	if (len > METRO_CONTROL_MAX_MSG)
		return error_reply(NULL, "too-large", "request of %zu bytes exceeds %d", len,
				   METRO_CONTROL_MAX_MSG);
	json_error_t jerr;
	json_t *req = json_loadb(msg, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!req)
		return error_reply(NULL, "bad-json", "line %d column %d: %s", jerr.line,
				   jerr.column, jerr.text);
	json_t *reply;
	if (!json_is_object(req)) {
		reply = error_reply(NULL, "bad-request", "request must be a JSON object");
		goto out;
	}
	json_t *id = json_object_get(req, "id");
	if (!id || !(json_is_string(id) || json_is_integer(id))) {
		reply = error_reply(NULL, "bad-request", "'id' must be a string or an integer");
		goto out;
	}
	json_t *cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		reply = error_reply(id, "bad-request", "'cmd' must be a string");
		goto out;
	}
	for (size_t i = 0; i < METRO_ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, json_string_value(cmd)) != 0)
			continue;
		enum metro_role role = ident->role;
		const char *who = ident->who;
		if (role == METRO_ROLE_NONE || role < commands[i].role) {
			reply = role == METRO_ROLE_NONE
					? error_reply(id, "forbidden",
						      "'%s': %s requests are refused here "
						      "(control.unauthenticated: none): use a "
						      "person's CURVE key or a Unix user of the "
						      "people registry",
						      commands[i].name, who)
					: error_reply(id, "forbidden",
						      "'%s' needs the role %s; client %s is %s",
						      commands[i].name,
						      metro_role_name(commands[i].role), who,
						      metro_role_name(role));
			if (commands[i].records)
				refused(s, who, role, "refused", commands[i].name, commands[i].name,
					req, reply);
			else
				metro_warn("control: %s (%s) refused '%s': needs %s", who,
					   metro_role_name(role), commands[i].name,
					   metro_role_name(commands[i].role));
			goto out;
		}
		char *conn = connection_name(peer, peer ? peerlen : 0, who);
		reply = dispatch(s, i, req, id, ident, conn);
		free(conn);
		goto out;
	}
	reply = error_reply(id, "unknown-command", "unknown command '%s'", json_string_value(cmd));
out:
	json_decref(req);
	return reply;
}

void metro_control_tick(struct metro_server *s)
{
	char msg[400];
	metro_guard_flush(s->guard, s->store, NULL, metro_now_ns(), 0);
	/* (cheap when nothing changed: the newest time is kept in memory, the texts are made
	 * only when the alarm changes) */
	int64_t newest;
	if (metro_store_failed(s->store) || metro_store_newest_time(s->store, &newest))
		return;
	int behind = newest - wall_us() > (int64_t)CLOCK_TOLERANCE_S * 1000000;
	if (behind != s->clock_behind)
		clock_watch(s, msg);
}
