/* publish.c — the way out of the daemon, and its one rule: a result is committed to the
 * record store before it is published.
 *
 * A result (a run event, a prompt, a point result, a verdict: typed, evidence.h) goes through
 * metro_server_record_*(): its record and its document are written in one transaction, and only
 * after the commit returned does the document go out; a result that cannot be stored is not
 * published (the log says so). Alarms are stored as documents before they go out too; readings and
 * health only take a seq number.  Every document leaves through send_frames(), which counts what
 * ZeroMQ drops. test_store_full.sh and test_kill.sh hold the rule to account.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <zmq.h>

#include "error.h"
#include "log.h"
#include "util.h"

void metro_time_rfc3339(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

/* Stamp a document (schema, station, time, rig, seq) and, for results, store it for replay.
 * Its topic is "<kind>.<sub>" (or "<kind>" for a NULL sub), its "rig" field rig (none for
 * NULL).  Returns the text to send (caller frees) with its topic in topic[], or NULL (not
 * stored: then it must not be published).  Consumes doc. */
static char *prepare_as(struct metro_server *s, const char *kind, const char *sub, const char *rig,
			json_t *doc, char topic[128])
{
	char now[40];
	if (sub)
		snprintf(topic, 128, "%s.%s", kind, sub);
	else
		snprintf(topic, 128, "%s", kind);
	metro_time_rfc3339(now);
	char schema[64];
	snprintf(schema, sizeof schema, "metrod.%s/1", kind);
	json_object_set_new(doc, "schema", json_string(schema));
	json_object_set_new(doc, "station", json_string(s->cfg->station.id));
	json_object_set_new(doc, "time", json_string(now));
	if (rig)
		json_object_set_new(doc, "rig", json_string(rig));
	/* seq comes from the store, so it continues across restarts; results are stored with
	 * it (for `replay`), readings and health only take a number. */
	int64_t seq = 0;
	int stored = strcmp(kind, "reading") != 0 && strcmp(kind, "health") != 0;
	int rc = stored ? metro_store_document(s->store, topic, doc, &seq)
			: metro_store_next_seq(s->store, &seq);
	if (rc) {
		metro_log_limited(&s->store_rl, METRO_LOG_ERR,
				  "record store: cannot store %s document: %s", topic,
				  metro_store_errmsg(s->store));
		s->publish_drops++;
		json_decref(doc);
		return NULL;
	}
	s->seq = (uint64_t)seq;
	json_object_set_new(doc, "seq", json_integer(seq));
	char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(METRO_DOC_REAL_PRECISION));
	json_decref(doc);
	return text;
}

static char *prepare(struct metro_server *s, const char *kind, const char *rig, json_t *doc,
		     char topic[128])
{
	return prepare_as(s, kind, rig, rig, doc, topic);
}

/* Every document leaves through here: topic frame, body frame.  PUB never blocks: at the
 * high-water mark ZeroMQ drops, and subscribers see the gap in seq; a failed send is counted
 * in publish_drops (status) for the same reason. */
static void send_frames(struct metro_server *s, const char *topic, size_t tlen, const char *body,
			size_t blen)
{
	if (zmq_send(s->publish, topic, tlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(s->publish, body, blen, ZMQ_DONTWAIT) < 0)
		s->publish_drops++;
}

/* A prepared document: sent, then freed. */
static void send_doc(struct metro_server *s, const char *topic, char *text)
{
	send_frames(s, topic, strlen(topic), text, strlen(text));
	free(text);
}

void metro_server_publish(struct metro_server *s, const char *kind, const char *rig, json_t *doc)
{
	char topic[128];
	char *text = prepare(s, kind, rig, doc, topic);
	if (text)
		send_doc(s, topic, text);
}

void metro_server_publish_body(struct metro_server *s, const char *kind, const char *rig,
			       const char *rig_q, const char *body, size_t len)
{
	if (!s->stamp.station_q) /* first use, or a reload freed it (the station may change) */
		metro_stamp_init(&s->stamp, s->cfg->station.id);
	int64_t seq;
	if (metro_store_next_seq(s->store, &seq)) {
		metro_log_limited(&s->store_rl, METRO_LOG_ERR,
				  "record store: cannot number a %s document: %s", kind,
				  metro_store_errmsg(s->store));
		s->publish_drops++;
		return;
	}
	s->seq = (uint64_t)seq;
	char topic[128];
	size_t kl = strlen(kind), rl = strlen(rig);
	if (kl + 1 + rl >= sizeof topic) { /* rig ids are at most 64 characters */
		s->publish_drops++;
		return;
	}
	snprintf(topic, sizeof topic, "%s.%s", kind, rig); /* fits: checked above */
	size_t n;
	const char *doc = metro_stamp_document(&s->stamp, kind, rig_q, seq, body, len, &n);
	send_frames(s, topic, kl + 1 + rl, doc, n);
}

/* The end of every record: the document stored in the open transaction, the commit,
 * and only then the publication.  Returns doc (stamped) or NULL (nothing published; rolled
 * back).  Consumes doc. */
static json_t *commit_publish(struct metro_server *s, const char *kind, const char *rig,
			      json_t *doc, const char *run)
{
	char topic[128];
	char *text = prepare(s, kind, rig, json_incref(doc), topic);
	if (!text || metro_store_tx_commit(s->store)) {
		if (text)
			metro_err("record store: commit failed for %s of run %s: %s; not published",
				  kind, run, metro_store_errmsg(s->store));
		else
			metro_store_tx_rollback(s->store);
		free(text);
		json_decref(doc);
		return NULL;
	}
	send_doc(s, topic, text); /* only what is committed is published */
	return doc;
}

/* The published body of a result, with its run number as the documents carry it. */
static json_t *with_run(json_t *doc, int64_t run, char out[24])
{
	snprintf(out, 24, "%lld", (long long)run);
	json_object_set_new(doc, "run", json_string(out));
	return doc;
}

static void forget_run(struct metro_server *s, int64_t run)
{
	size_t k = 0;
	for (size_t i = 0; i < s->nunrecorded; i++)
		if (s->unrecorded[i].run != run)
			s->unrecorded[k++] = s->unrecorded[i];
	s->nunrecorded = k;
}

/* The end of a commissioning run is an audit event of its own: the rig, the run, who ran
 * it, the profile digest it proved (or not), so the audit trail says when a rig's position
 * map was last proved and for which profile (docs/operations.md "Commissioning a rig"). */
static int record_commissioning(struct metro_server *s, const char *rig, int64_t run)
{
	int yes = 0;
	int rc = metro_store_run_is_commissioning(s->store, run, &yes);
	if (rc || !yes)
		return rc;
	struct metro_store_commissioned c;
	if ((rc = metro_store_commissioning(s->store, rig, &c)))
		return rc;
	json_t *v =
		json_pack("{sIsssssssb}", "run", (json_int_t)c.run, "operator", c.operator_id,
			  "profile_sha256", c.profile_sha256, "state", c.state, "passed", c.passed);
	char subject[160];
	snprintf(subject, sizeof subject, "rig/%s", rig);
	rc = metro_store_audit(s->store, "metrod", "rig.commissioned", subject, NULL, v,
			       c.passed ? "the position check passed: the rig's position map is "
					  "proved for this profile"
					: "the position check did not pass: the rig stays "
					  "uncommissioned for this profile",
			       NULL);
	json_decref(v);
	return rc;
}

static json_t *record_run(struct metro_server *s, const char *rig, const struct metro_run_event *ev)
{
	char run[24];
	json_t *doc = with_run(metro_run_event_doc(ev), ev->run, run);
	int rc = metro_store_tx_begin(s->store);
	if (!rc && ev->state == METRO_RUN_DONE) {
		rc = metro_store_run_end(s->store, ev->run, metro_run_end_name(ev->end), ev->fault);
		forget_run(s, ev->run); /* every verdict of the run has come before its end */
		if (!rc)
			rc = record_commissioning(s, rig, ev->run);
	}
	if (rc) {
		metro_store_tx_rollback(s->store);
		metro_err("record store: cannot record the %s state of run %s: %s; not published",
			  metro_run_state_name(ev->state), run, metro_store_errmsg(s->store));
		json_decref(doc);
		return NULL;
	}
	return commit_publish(s, "run", rig, doc, run);
}

static json_t *record_prompt(struct metro_server *s, const char *rig,
			     const struct metro_prompt_event *p)
{
	char run[24];
	json_t *doc = with_run(metro_prompt_event_doc(p), p->run, run);
	if (metro_store_tx_begin(s->store)) {
		metro_err("record store: cannot record prompt %s of run %s: %s; not published",
			  p->id, run, metro_store_errmsg(s->store));
		json_decref(doc);
		return NULL;
	}
	return commit_publish(s, "prompt", rig, doc, run);
}

/* Sign the chain head and publish the checkpoint on `audit` (at every run end and every few
 * minutes).  Returns the checkpoint (new reference) or NULL when nothing new was recorded. */
json_t *metro_server_checkpoint(struct metro_server *s)
{
	json_t *cp = NULL;
	if (metro_store_checkpoint(s->store, &cp)) {
		metro_err("record store: checkpoint failed: %s", metro_store_errmsg(s->store));
		return NULL;
	}
	if (cp) {
		/* The store has already kept it as an `audit` document with its seq. */
		send_doc(s, "audit", json_dumps(cp, JSON_COMPACT));
		json_int_t seq = json_integer_value(json_object_get(cp, "seq"));
		if (seq > 0)
			s->seq = (uint64_t)seq;
	}
	return cp;
}

static json_t *record_point(struct metro_server *s, const char *rig,
			    const struct metro_point_result *r)
{
	char run[24];
	json_t *doc = with_run(metro_point_result_doc(r), r->run, run);
	int rc = metro_store_tx_begin(s->store);
	if (!rc)
		rc = metro_store_point_result(s->store, r, json_object_get(doc, "values"), NULL);
	if (rc) {
		metro_store_tx_rollback(s->store);
		metro_err("record store: cannot record point %s of position %d in run %s: %s; not "
			  "published",
			  r->item, r->position, run, metro_store_errmsg(s->store));
		json_decref(doc);
		return NULL;
	}
	return commit_publish(s, "point", rig, doc, run);
}

/* Why a position of a run has a point that could not be recorded, or NULL. */
static const char *unrecorded_reason(const struct metro_server *s, int64_t run, int position)
{
	for (size_t i = 0; i < s->nunrecorded; i++)
		if (s->unrecorded[i].run == run && s->unrecorded[i].position == position)
			return s->unrecorded[i].reason;
	return NULL;
}

static json_t *record_verdict(struct metro_server *s, const char *rig,
			      const struct metro_verdict_result *r)
{
	/* A meter whose evidence is not all in the store gets no pass and no fail. */
	struct metro_verdict_result gated = *r;
	const char *missing = unrecorded_reason(s, r->run, r->position);
	if (missing && r->verdict < METRO_VERDICT_ERROR) {
		gated.verdict = METRO_VERDICT_ERROR;
		gated.reason = (char *)missing;
		r = &gated;
	}
	char run[24];
	json_t *doc = with_run(metro_verdict_result_doc(r), r->run, run);
	struct metro_store_verdict vd = {
		.run = r->run,
		.position = r->position,
		.verdict = metro_verdict_name(r->verdict),
		.failed_items = r->failed_items,
		.rule = "procedure",
		.actor = "metrod",
	};
	int rc = metro_store_tx_begin(s->store);
	if (!rc)
		rc = metro_store_verdict(s->store, &vd, NULL);
	/* A pass earns a verification certificate, a fail a notice of nonconformity; an error or
	 * an aborted run earns neither (the meter must be tested again).  With a person registry
	 * the number is a draft that people sign through the workflow (verified, checked,
	 * approved, issued: docs/operations.md); without one it is issued at once. */
	char number[METRO_STORE_CERT_MAX];
	int commissioning = 0;
	if (!rc)
		rc = metro_store_run_is_commissioning(s->store, r->run, &commissioning);
	if (!rc && !commissioning &&
	    (r->verdict == METRO_VERDICT_PASS || r->verdict == METRO_VERDICT_FAIL)) {
		rc = s->cfg->npeople
			     ? metro_store_certificate_draft(s->store, r->run, r->position, number)
			     : metro_store_certificate(s->store, r->run, r->position, number);
		if (!rc)
			json_object_set_new(doc, "certificate", json_string(number));
	}
	if (rc) {
		metro_store_tx_rollback(s->store);
		metro_err("record store: cannot record the verdict of position %d in run %s: %s; "
			  "not published",
			  r->position, run, metro_store_errmsg(s->store));
		json_decref(doc);
		return NULL;
	}
	return commit_publish(s, "verdict", rig, doc, run);
}

json_t *metro_server_record_result(struct metro_server *s, const char *rig,
				   const struct metro_result *res)
{
	switch (res->kind) {
	case METRO_DOC_RUN:
		return record_run(s, rig, res->u.run);
	case METRO_DOC_PROMPT:
		return record_prompt(s, rig, res->u.prompt);
	case METRO_DOC_POINT:
		return record_point(s, rig, res->u.point);
	case METRO_DOC_VERDICT:
		return record_verdict(s, rig, res->u.verdict);
	default:
		metro_err("record store: a %s document is not a result; not published",
			  res->kind < METRO_DOC_KINDS ? metro_doc_kind_names[res->kind] : "?");
		return NULL;
	}
}

int metro_server_store_failed(struct metro_server *s)
{
	const char *why = metro_store_failed(s->store);
	if (!why)
		return 0;
	if (s->store_failure_seen)
		return 1;
	s->store_failure_seen = 1;
	metro_log(METRO_LOG_ERR,
		  "record store failed: %s: every run stops, no run starts until metrod restarts "
		  "on a working store",
		  why);
	char reason[600];
	snprintf(reason, sizeof reason, "record store failed: %s", why);
	for (size_t i = 0; i < s->nrigs; i++) {
		json_t *cmd = json_pack("{ss}", "reason", reason);
		metro_rig_command(s->rigs[i], "record-failed", cmd);
		json_decref(cmd);
	}
	/* Not stored (the store is what failed), so it carries no seq: published as it is. */
	json_t *alarm = json_pack("{sssssbss}", "alarm", "store-failed", "severity", "error",
				  "active", 1, "message", reason);
	char now[40];
	metro_time_rfc3339(now);
	json_object_set_new(alarm, "schema", json_string("metrod.alarm/1"));
	json_object_set_new(alarm, "station", json_string(s->cfg->station.id));
	json_object_set_new(alarm, "time", json_string(now));
	json_object_set_new(alarm, "recorded", json_false());
	send_doc(s, "alarm.store", json_dumps(alarm, JSON_COMPACT));
	json_decref(alarm);
	return 1;
}

void metro_server_record_refused(struct metro_server *s, struct metro_rig *rig,
				 const struct metro_result *res)
{
	if (metro_server_store_failed(s))
		return;
	if (res->kind != METRO_DOC_POINT)
		return; /* logged by record_*; a verdict or an event refused leaves no certificate
			 */
	const struct metro_point_result *p = res->u.point;
	if (unrecorded_reason(s, p->run, p->position))
		return;
	s->unrecorded = metro_realloc(s->unrecorded, (s->nunrecorded + 1) * sizeof *s->unrecorded);
	struct metro_unrecorded *u = &s->unrecorded[s->nunrecorded++];
	u->run = p->run;
	u->position = p->position;
	snprintf(u->reason, sizeof u->reason, "point %s could not be recorded: %s", p->item,
		 metro_store_errmsg(s->store));
	json_t *cmd = json_pack("{sIsiss}", "run", (json_int_t)p->run, "position", p->position,
				"reason", u->reason);
	metro_rig_command(rig, "record-failed", cmd);
	json_decref(cmd);
}

void metro_server_publish_store_alarm(struct metro_server *s, json_t *doc)
{
	char topic[128];
	char *text = prepare_as(s, "alarm", "store", NULL, doc, topic);
	if (text)
		send_doc(s, topic, text);
}

int metro_server_check_space(struct metro_server *s, uint64_t *free_mb)
{
	*free_mb = UINT64_MAX;
	long reserve = s->cfg->store_reserve_mb;
	char *dir = metro_dirname(s->cfg->store_path);
	struct statvfs v;
	int low = 0;
	if (reserve > 0 && statvfs(dir, &v) == 0) {
		*free_mb = (uint64_t)v.f_bavail * v.f_frsize / (1024 * 1024);
		low = *free_mb < (uint64_t)reserve;
	}
	free(dir);
	if (low != s->space_low) {
		s->space_low = low;
		char msg[300];
		snprintf(msg, sizeof msg,
			 low ? "the record store's file system has %llu MB free, below the reserve "
			       "of %ld MB (store.reserve_mb): no run starts until space is freed"
			     : "the record store's file system has %llu MB free again (reserve %ld "
			       "MB)",
			 (unsigned long long)*free_mb, reserve);
		if (low)
			metro_warn("%s", msg);
		else
			metro_notice("%s", msg);
		json_t *doc = json_pack("{sssssbss}", "alarm", "store-space-low", "severity",
					"warning", "active", low, "message", msg);
		char topic[128];
		char *text = prepare_as(s, "alarm", "store", NULL, doc, topic);
		if (text)
			send_doc(s, topic, text);
	}
	return low;
}
