/* metroctl: the daemon's commands for rigs and runs, and `watch`.
 *
 * Every command prints a readable summary, or with --json the daemon's reply as it is.
 * Exit codes: 0 ok, 2 usage, 3 daemon unreachable, 4 refused (the reply's error code and
 * message on stderr), 6 the record store failed while start --wait or follow waited; a run
 * waited on that ended: 0 done, every meter conforming, 1 done with a meter not conforming,
 * 7 ended without completing (run_exit, metroctl_cmd.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "diag.h"
#include "metroctl_client.h"
#include "metroctl_run.h"
#include "util.h"
#include "yfile.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

/* A prompt for typed meter readings cannot be auto-answered: say once how to answer it. */
static int typed_prompt(json_t *prompt, const char *rig)
{
	static char told[64];
	if (strcmp(str(prompt, "kind"), "readings") != 0)
		return 0;
	if (strcmp(told, str(prompt, "prompt")) != 0) {
		metro_strlcpy(told, str(prompt, "prompt"), sizeof told);
		fprintf(stderr,
			"%s: prompt %s asks for typed meter readings: metroctl input %s %s "
			"POSITION=READING... --operator NAME\n",
			rig, told, rig, told);
	}
	return 1;
}

static void print_rigs(json_t *r)
{
	size_t i;
	json_t *rig;
	printf("%-12s %-18s %-12s %5s %-10s %-5s %s\n", "RIG", "KIND", "DRIVER", "POS", "STATE",
	       "LINK", "RUN");
	json_array_foreach (json_object_get(r, "rigs"), i, rig) {
		printf("%-12s %-18s %-12s %5lld %-10s %-5s %s%s%s\n", str(rig, "id"),
		       str(rig, "kind"), str(rig, "driver"),
		       (long long)json_integer_value(json_object_get(rig, "positions")),
		       str(rig, "state"),
		       json_is_true(json_object_get(rig, "connected")) ? "up" : "down",
		       str(rig, "run"), json_object_get(rig, "prompt") ? "  prompt " : "",
		       json_object_get(rig, "prompt") ? str(rig, "prompt") : "");
	}
}

static void print_procedures(json_t *r)
{
	size_t i;
	json_t *p;
	json_array_foreach (json_object_get(r, "procedures"), i, p) {
		printf("%-28s %-8s %-5s %-12s %-12s %.12s  %s\n", str(p, "id"),
		       str(p, "regulation"), str(p, "edition"), str(p, "meter"),
		       str(p, "verification"), str(p, "sha256"), str(p, "title"));
	}
}

static void print_standards(json_t *r)
{
	size_t i;
	json_t *s;
	printf("%-12s %-20s %-10s %-10s %9s  %s\n", "ID", "CERTIFICATE", "CALIBRATED", "DUE",
	       "DAYS LEFT", "DESCRIPTION");
	json_array_foreach (json_object_get(r, "standards"), i, s) {
		printf("%-12s %-20s %-10s %-10s %9lld  %s%s\n", str(s, "id"), str(s, "certificate"),
		       str(s, "calibrated"), str(s, "due"),
		       (long long)json_integer_value(json_object_get(s, "days_left")),
		       str(s, "description"),
		       json_is_true(json_object_get(s, "in_date")) ? "" : "  ** EXPIRED **");
	}
}

static void print_runs(json_t *r)
{
	size_t i;
	json_t *run;
	printf("%-40s %-10s %-28s %-8s %s\n", "RUN", "RIG", "PROCEDURE", "RESULT", "VERDICTS");
	json_array_foreach (json_object_get(r, "runs"), i, run) {
		char counts[128] = "";
		size_t o = 0;
		const char *k;
		json_t *v;
		json_object_foreach (json_object_get(run, "verdicts"), k, v)
			o += (size_t)snprintf(counts + o, sizeof counts - o, "%s%s %lld",
					      o ? ", " : "", k, (long long)json_integer_value(v));
		printf("%-40s %-10s %-28s %-8s %s\n", str(run, "run"), str(run, "rig"),
		       str(run, "procedure"),
		       json_object_get(run, "result") ? str(run, "result") : str(run, "state"),
		       counts);
	}
}

/* The title of a run's item id ("q1" -> "Q1", "leak" -> "密封性检查 / Leak tightness"), from its
 * point documents; the id when none carries one (points trimmed from an old run). */
static const char *item_title(json_t *run, const char *id)
{
	size_t i;
	json_t *pt;
	json_array_foreach (json_object_get(run, "points"), i, pt) {
		if (id && !strcmp(str(pt, "item"), id) &&
		    json_is_string(json_object_get(pt, "title")))
			return str(pt, "title");
	}
	return id ? id : "?";
}

/* The verdict table of a run: one line per position, failed items by their titles. */
static void print_verdicts(json_t *run)
{
	size_t i;
	json_t *v;
	printf("%-4s %-16s %-12s %s\n", "POS", "SERIAL", "VERDICT", "FAILED ITEMS / REASON");
	json_array_foreach (json_object_get(run, "verdicts"), i, v) {
		char items[512] = "";
		size_t o = 0, k;
		json_t *it;
		json_array_foreach (json_object_get(v, "failed_items"), k, it) {
			if (o < sizeof items)
				o += (size_t)snprintf(items + o, sizeof items - o, "%s%s",
						      o ? "; " : "",
						      item_title(run, json_string_value(it)));
		}
		const char *verdict = str(v, "verdict");
		printf("%-4lld %-16s %-12s %s%s%s\n",
		       (long long)json_integer_value(json_object_get(v, "position")),
		       str(v, "serial"), verdict, items,
		       items[0] && json_object_get(v, "reason") ? " — " : "",
		       strcmp(verdict, "pass") != 0 && json_object_get(v, "reason")
			       ? str(v, "reason")
			       : "");
	}
}

static void print_run(json_t *r)
{
	json_t *run = json_object_get(r, "run");
	json_t *proc = json_object_get(run, "procedure");
	printf("run %s on rig %s: %s %s (%s), operator %s%s\n", str(run, "run"), str(run, "rig"),
	       str(proc, "id"), str(proc, "regulation"), str(proc, "verification"),
	       str(run, "operator"),
	       json_is_true(json_object_get(run, "simulated")) ? ", SIMULATED" : "");
	json_t *stored = json_object_get(run, "points_in_store");
	printf("state %s%s%s, %zu points%s\n", str(run, "state"),
	       json_object_get(run, "result") ? ", result " : "",
	       json_object_get(run, "result") ? str(run, "result") : "",
	       json_is_integer(stored) ? (size_t)json_integer_value(stored)
				       : json_array_size(json_object_get(run, "points")),
	       json_is_integer(stored) ? " (in the record store: metroctl trace, replay)" : "");
	print_verdicts(run);
}

static void print_head(json_t *r)
{
	json_t *cp = json_object_get(r, "checkpoint");
	if (json_is_null(cp) || !cp)
		printf("no new records since the last checkpoint; station key %s\n",
		       str(r, "pubkey"));
	else
		printf("checkpoint %s: epoch %lld, chain head %lld, station key %s\n",
		       str(cp, "id"), (long long)json_integer_value(json_object_get(cp, "epoch")),
		       (long long)json_integer_value(json_object_get(cp, "head_seq")),
		       str(r, "pubkey"));
}

static void print_replay(json_t *r)
{
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(r, "documents"), i, d) {
		char *t = json_dumps(json_object_get(d, "doc"), JSON_COMPACT);
		printf("%lld %s %s\n", (long long)json_integer_value(json_object_get(d, "seq")),
		       str(d, "topic"), t ? t : "");
		free(t);
	}
}

static void print_ok(json_t *r)
{
	printf("ok%s%s\n", json_object_get(r, "run") ? ": run " : "",
	       json_object_get(r, "run") ? str(r, "run") : "");
}

/* YAML batch file -> the JSON of a start request: scalars become strings (so numbers stay
 * exact decimal text), except `position`, which is an integer. */
static json_t *yaml_to_json(struct metro_yfile *f, yaml_node_t *n, const char *key)
{
	if (n->type == YAML_MAPPING_NODE) {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
			yaml_node_t *v = yaml_document_get_node(&f->doc, p->value);
			if (k->type != YAML_SCALAR_NODE)
				continue;
			const char *ks = (const char *)k->data.scalar.value;
			json_object_set_new(o, ks, yaml_to_json(f, v, ks));
		}
		return o;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			json_array_append_new(
				a, yaml_to_json(f, yaml_document_get_node(&f->doc, *it), key));
		return a;
	}
	const char *s = (const char *)n->data.scalar.value;
	if (key && !strcmp(key, "position")) {
		char *end;
		long v = strtol(s, &end, 10);
		if (*s && !*end)
			return json_integer(v);
	}
	return json_string(s);
}

/* Whether the daemon shows the rig in a run (not idle, not unsafe). */
static int rig_busy(const struct metroctl_opts *o, const char *rig)
{
	json_t *reply = metroctl_request(o, json_pack("{siss}", "id", 1, "cmd", "rigs"));
	json_t *rigs = json_object_get(reply, "rigs");
	int busy = 0;
	for (size_t i = 0; i < json_array_size(rigs); i++) {
		json_t *x = json_array_get(rigs, i);
		if (!strcmp(str(x, "id"), rig))
			busy = strcmp(str(x, "state"), "idle") != 0 &&
			       strcmp(str(x, "state"), "unsafe") != 0;
	}
	json_decref(reply);
	return busy;
}

/* The record store failed while metroctl waited on run RUN on RIG: say so on stderr (with
 * --json also as a document on stdout) and return the exit code.  ended: the run's end was
 * committed before the failure, so its results (already printed) are in the store. */
static int store_failed(const struct metroctl_opts *o, const char *run, const char *rig,
			const char *why, int ended)
{
	if (ended)
		fprintf(stderr,
			"metroctl: the record store failed after run %s on %s ended (its results "
			"are recorded): %s\n",
			run, rig, why);
	else
		fprintf(stderr,
			"metroctl: run %s on %s: the record store failed: %s; the run was stopped "
			"and its results are not recorded (no verdicts)\n",
			run, rig, why);
	if (o->json && !ended) {
		json_t *d = json_pack("{sssss{ssss}}", "run", run, "rig", rig, "error", "code",
				      "store-failed", "message", why);
		char *t = json_dumps(d, JSON_COMPACT);
		puts(t);
		free(t);
		json_decref(d);
	}
	return METROCTL_EXIT_STORE_FAILED;
}

/* The run's progress line when it changed; *last_points and last_state remember the last. */
static void wait_progress(int tty, const char *rig, json_t *r, size_t *last_points,
			  char last_state[32])
{
	size_t points = json_array_size(json_object_get(r, "points"));
	size_t meters = json_array_size(json_object_get(r, "meters"));
	const char *state = str(r, "state");
	if (points == *last_points && !strcmp(state, last_state))
		return;
	if (tty)
		printf("\r\033[K%s: %-10s %zu points, %zu meters", rig, state, points, meters);
	else
		printf("%s: %s, %zu points, %zu meters\n", rig, state, points, meters);
	fflush(stdout);
	*last_points = points;
	metro_strlcpy(last_state, state, 32);
}

/* Answer an open judgement prompt of rig once with auto_answer (answered remembers the last
 * prompt answered): an automated answer ("automated": true, no operator), which the daemon
 * records as automated with this client, and takes only on a simulated rig or for an item a
 * sensor decides.  It decides every position still open.  A refusal is said on stderr; the
 * wait goes on (a person may answer, or the prompt times out in the run). */
static void answer_prompt(const struct metroctl_opts *o, int say, const char *rig, json_t *prompt,
			  const char *auto_answer, char answered[64])
{
	if (!prompt || !auto_answer || !strcmp(str(prompt, "prompt"), answered) ||
	    typed_prompt(prompt, rig))
		return;
	metro_strlcpy(answered, str(prompt, "prompt"), 64);
	json_t *ans = metroctl_request(o, json_pack("{sisssssssssb}", "id", 2, "cmd", "input",
						    "rig", rig, "prompt", str(prompt, "prompt"),
						    "answer", auto_answer, "automated", 1));
	if (ans && !json_is_true(json_object_get(ans, "ok")))
		metroctl_refusal("input (--auto-answer)", ans);
	else if (ans && say)
		printf("%s: answered prompt %s (%s): %s (automated)\n", rig, str(prompt, "prompt"),
		       str(prompt, "question"), auto_answer);
	json_decref(ans);
}

/* How a run that ended ends the command that waited on it: start --wait, resume-run --wait
 * and follow all decide here (docs/protocol.md "metroctl").  Done with every meter conforming
 * (pass or conditional): METROCTL_EXIT_OK; done with a meter that does not (fail, or error:
 * it could not be verified): METROCTL_EXIT_FAIL, the batch's result, not a failure of the
 * run; ended without completing (stopped, aborted, error, incomplete):
 * METROCTL_EXIT_NOT_DONE. */
static int run_exit(json_t *run)
{
	if (strcmp(str(run, "result"), "done") != 0)
		return METROCTL_EXIT_NOT_DONE;
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(run, "verdicts"), i, v)
		if (strcmp(str(v, "verdict"), "pass") != 0 &&
		    strcmp(str(v, "verdict"), "conditional") != 0)
			return METROCTL_EXIT_FAIL;
	return METROCTL_EXIT_OK;
}

/* The exit of several runs followed together: the worst of their run_exit. */
static int worse_run_exit(int a, int b)
{
	static const int order[] = {METROCTL_EXIT_OK, METROCTL_EXIT_FAIL, METROCTL_EXIT_NOT_DONE};
	int ra = 0, rb = 0;
	for (int k = 0; k < 3; k++) {
		ra = order[k] == a ? k : ra;
		rb = order[k] == b ? k : rb;
	}
	return ra >= rb ? a : b;
}

/* start --wait: until the run's end is committed (its result), then its verdicts; the exit
 * status says how it ended (run_exit).  Stops at once, exit METROCTL_EXIT_STORE_FAILED, when
 * the daemon's record store fails: the run's end and verdicts can never be committed then,
 * so they never come. */
static int wait_run(const struct metroctl_opts *o, const char *rig, const char *run,
		    const char *auto_answer)
{
	int tty = isatty(1);
	size_t last_points = (size_t)-1;
	char last_state[32] = "", answered[64] = "", topic[96];
	int safe_waits = 0, rc = METROCTL_EXIT_OK;
	struct metroctl_store_watch *w = metroctl_store_watch_open(o);
	snprintf(topic, sizeof topic, "run.%s", rig);
	metroctl_store_watch_topic(w, topic); /* wakes on the run's state changes */
	const char *failed = NULL;
	for (;;) {
		json_t *reply = metroctl_request(
			o, json_pack("{sissss}", "id", 1, "cmd", "run", "run", run));
		if (!reply) {
			rc = METROCTL_EXIT_UNREACHABLE;
			break;
		}
		json_t *r = json_object_get(reply, "run");
		if (!r) { /* refused: the run is not (or no longer) in the daemon's view */
			metroctl_refusal("run", reply);
			json_decref(reply);
			rc = METROCTL_EXIT_REFUSED;
			break;
		}
		wait_progress(tty, rig, r, &last_points, last_state);
		answer_prompt(o, !o->json && !tty, rig, json_object_get(r, "prompt"), auto_answer,
			      answered);
		/* The run ends with its result, then the rig reaches its safe state (read back)
		 * and goes idle: wait for that too (up to 30 s), so that a start right after
		 * --wait finds the rig free. */
		int ended = json_object_get(r, "result") != NULL;
		if (ended && !failed && !json_object_get(r, "safe_state_verified") &&
		    safe_waits++ < 150) {
			json_decref(reply);
			failed = metroctl_store_watch_wait(w, 200);
			continue;
		}
		if (ended) {
			for (int k = 0; k < 50 && !failed && rig_busy(o, rig); k++)
				failed = metroctl_store_watch_wait(w, 100);
			if (tty)
				printf("\n");
			if (o->json) {
				char *t = json_dumps(r, JSON_COMPACT);
				puts(t);
				free(t);
			} else {
				printf("run %s: %s\n", run, str(r, "result"));
				print_verdicts(r);
			}
			rc = run_exit(r);
		}
		json_decref(reply);
		if (ended || failed) {
			if (tty && !ended)
				printf("\n");
			if (failed)
				rc = store_failed(o, run, rig, failed, ended);
			break;
		}
		failed = metroctl_store_watch_wait(w, 200);
	}
	metroctl_store_watch_close(&w);
	return rc;
}

/* A YAML file holding one mapping, as the JSON of a request (NULL after saying why). */
static json_t *yaml_request(const char *path, const char *cmd)
{
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return NULL;
	}
	metro_diag_free(&d);
	json_t *req = yaml_to_json(f, metro_y_root(f), NULL);
	metro_yfile_destroy(&f);
	if (!json_is_object(req)) {
		fprintf(stderr, "metroctl %s: %s: expected a mapping\n", cmd, path);
		json_decref(req);
		return NULL;
	}
	return req;
}

static int start(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {
		{"rig", required_argument, NULL, 'r'},
		{"operator", required_argument, NULL, 'p'},
		{"wait", no_argument, NULL, 'w'},
		{"auto-answer", required_argument, NULL, 'a'},
		{"override-commissioning", required_argument, NULL, 'O'},
		{0, 0, 0, 0},
	};
	const char *rig = NULL, *op = NULL, *auto_answer = NULL, *override = NULL;
	int wait = 0, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			rig = optarg;
		else if (c == 'O')
			override = optarg;
		else if (c == 'p')
			op = optarg;
		else if (c == 'w')
			wait = 1;
		else if (c == 'a')
			auto_answer = optarg;
		else
			return METROCTL_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: metroctl start BATCH.yaml [--rig RIG] [--operator NAME] "
				"[--wait] [--auto-answer pass|fail]\n"
				"                      [--override-commissioning WHY]\n");
		return METROCTL_EXIT_USAGE;
	}
	if (auto_answer && strcmp(auto_answer, "pass") != 0 && strcmp(auto_answer, "fail") != 0) {
		fprintf(stderr, "metroctl start: --auto-answer must be pass or fail\n");
		return METROCTL_EXIT_USAGE;
	}
	json_t *req = yaml_request(argv[optind], "start");
	if (!req)
		return METROCTL_EXIT_USAGE;
	if (rig)
		json_object_set_new(req, "rig", json_string(rig));
	if (op)
		json_object_set_new(req, "operator", json_string(op));
	if (override) /* a manager's reason to run on a rig not commissioned for its profile */
		json_object_set_new(req, "commissioning_override", json_string(override));
	json_object_set_new(req, "id", json_integer(1));
	json_object_set_new(req, "cmd", json_string("start"));
	char *rig_name = metro_strdup(str(req, "rig"));
	json_t *reply = NULL;
	int rc = metroctl_call(o, req, wait ? NULL : print_ok, &reply);
	if (rc == METROCTL_EXIT_OK && wait)
		rc = wait_run(o, rig_name, str(reply, "run"), auto_answer);
	json_decref(reply);
	free(rig_name);
	return rc;
}

/* resume-run RUN [--operator NAME] [--wait [--auto-answer pass|fail]]: continue an incomplete
 * run as a new run that runs only the points without a committed result. */
static int resume_run(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {{"operator", required_argument, NULL, 'p'},
					     {"wait", no_argument, NULL, 'w'},
					     {"auto-answer", required_argument, NULL, 'a'},
					     {0, 0, 0, 0}};
	const char *op = NULL, *auto_answer = NULL;
	int wait = 0, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			op = optarg;
		else if (c == 'w')
			wait = 1;
		else if (c == 'a')
			auto_answer = optarg;
		else
			return METROCTL_EXIT_USAGE;
	}
	if (optind + 1 != argc ||
	    (auto_answer && strcmp(auto_answer, "pass") != 0 && strcmp(auto_answer, "fail") != 0)) {
		fprintf(stderr, "usage: metroctl resume-run RUN [--operator NAME] [--wait] "
				"[--auto-answer pass|fail]\n");
		return METROCTL_EXIT_USAGE;
	}
	/* --operator: who runs it, when the connection does not authenticate a person */
	json_t *req = json_pack("{sissss}", "id", 1, "cmd", "resume-run", "run", argv[optind]);
	if (op)
		json_object_set_new(req, "operator", json_string(op));
	json_t *reply = NULL;
	int rc = metroctl_call(o, req, wait ? NULL : print_ok, &reply);
	if (rc == METROCTL_EXIT_OK && wait)
		rc = wait_run(o, str(reply, "rig"), str(reply, "run"), auto_answer);
	json_decref(reply);
	return rc;
}

/* standard-set STANDARD.yaml --why TEXT, person-set PERSON.yaml --why TEXT: a manager's
 * change of a reference standard or of a person of the registry; the file holds it as the
 * configuration writes it (docs/configuration.md). */
static int registry_set(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {{"why", required_argument, NULL, 'w'}, {0, 0, 0, 0}};
	const char *cmd = argv[0], *why = NULL;
	int standard = !strcmp(cmd, "standard-set"), c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'w')
			return METROCTL_EXIT_USAGE;
		why = optarg;
	}
	if (optind + 1 != argc || !why) {
		fprintf(stderr, "usage: metroctl %s %s.yaml --why TEXT\n", cmd,
			standard ? "STANDARD" : "PERSON");
		return METROCTL_EXIT_USAGE;
	}
	json_t *obj = yaml_request(argv[optind], cmd);
	if (!obj)
		return METROCTL_EXIT_USAGE;
	json_t *u = standard ? json_object_get(obj, "uncertainty") : NULL;
	static const char *const nums[] = {"value", "k"};
	for (size_t i = 0; json_is_object(u) && i < 2; i++) {
		const char *t = json_string_value(json_object_get(u, nums[i]));
		char *end = NULL;
		double v = t ? strtod(t, &end) : 0;
		if (t && *t && !*end)
			json_object_set_new(u, nums[i], json_real(v));
	}
	return metroctl_call(o,
			     json_pack("{sisssoss}", "id", 1, "cmd", cmd,
				       standard ? "standard" : "person", obj, "why", why),
			     print_ok, NULL);
}

/* Progress of a run as a fraction: final point results over meters × items. */
static double progress(json_t *run)
{
	size_t items = json_array_size(json_object_get(run, "items"));
	size_t meters = json_array_size(json_object_get(run, "meters"));
	size_t done = 0, i;
	json_t *p;
	json_array_foreach (json_object_get(run, "points"), i, p)
		done += strcmp(str(p, "verdict"), "pending") != 0;
	if (json_object_get(run, "result"))
		return 1.0;
	double f = items && meters ? (double)done / (double)(items * meters) : 0;
	return f > 0.99 ? 0.99 : f;
}

/* What follow keeps of the runs it follows (at most 16). */
struct follow {
	const struct metroctl_opts *o;
	const char *auto_answer;
	char **runs;
	int n, tty;
	char answered[16][64];
	char rig[16][64]; /* each run's rig, once known */
	int last_pct[16];
	json_t *finals[16]; /* a run once its result is committed */
	struct metroctl_store_watch *w;
};

/* Draw run i's progress (a bar on a terminal, a line per 10 % otherwise). */
static void follow_line(struct follow *f, int i, json_t *r)
{
	int pct = (int)(progress(r) * 100);
	const char *state = json_object_get(r, "result") ? str(r, "result") : str(r, "state");
	if (f->tty) {
		char bar[31];
		int fill = pct * 30 / 100;
		for (int k = 0; k < 30; k++)
			bar[k] = k < fill ? '#' : '.';
		bar[30] = '\0';
		printf("\033[K%-10s [%s] %3d%%  %-10s %zu points\n", str(r, "rig"), bar, pct, state,
		       json_array_size(json_object_get(r, "points")));
	} else if ((pct / 10 != f->last_pct[i] / 10 || json_object_get(r, "result")) &&
		   !f->finals[i]) {
		printf("%s: %d%% %s, %zu points\n", str(r, "rig"), pct, state,
		       json_array_size(json_object_get(r, "points")));
	}
	f->last_pct[i] = pct;
}

/* One look at run i: its line, its prompt answered when asked, kept once it has a result.
 * Returns 0, or the exit code to stop with (daemon unreachable, no such run). */
static int follow_one(struct follow *f, int i)
{
	json_t *reply = NULL, *r = f->finals[i];
	if (!r) {
		reply = metroctl_request(
			f->o, json_pack("{sissss}", "id", 1, "cmd", "run", "run", f->runs[i]));
		if (!reply)
			return METROCTL_EXIT_UNREACHABLE;
		r = json_object_get(reply, "run");
	}
	if (!r) {
		metroctl_refusal("follow", reply);
		json_decref(reply);
		return METROCTL_EXIT_REFUSED;
	}
	if (!f->rig[i][0] && json_string_value(json_object_get(r, "rig"))) {
		char topic[96];
		metro_strlcpy(f->rig[i], str(r, "rig"), sizeof f->rig[i]);
		snprintf(topic, sizeof topic, "run.%s", f->rig[i]);
		metroctl_store_watch_topic(f->w, topic); /* wakes on the run's state changes */
	}
	answer_prompt(f->o, 0, str(r, "rig"), json_object_get(r, "prompt"), f->auto_answer,
		      f->answered[i]);
	follow_line(f, i, r);
	if (!f->finals[i] && json_object_get(r, "result"))
		f->finals[i] = json_incref(r);
	json_decref(reply);
	return 0;
}

/* follow RUN...: a progress line per run (a bar on a terminal), prompts answered when asked,
 * then each run's verdict table.  The exit status says how the runs ended, the worst of them
 * (run_exit, as start --wait); METROCTL_EXIT_STORE_FAILED at once when the daemon's record
 * store fails (a run that had not ended then never will, and shows no verdicts: they are not
 * recorded). */
static int follow(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {{"auto-answer", required_argument, NULL, 'a'},
					     {0, 0, 0, 0}};
	struct follow f;
	memset(&f, 0, sizeof f);
	f.o = o;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			f.auto_answer = optarg;
		else
			return METROCTL_EXIT_USAGE;
	}
	f.n = argc - optind;
	if (f.n < 1 || f.n > 16 ||
	    (f.auto_answer && strcmp(f.auto_answer, "pass") != 0 &&
	     strcmp(f.auto_answer, "fail") != 0)) {
		fprintf(stderr, "usage: metroctl follow RUN... [--auto-answer pass|fail]\n");
		return METROCTL_EXIT_USAGE;
	}
	f.runs = argv + optind;
	f.tty = isatty(1);
	for (int i = 0; i < f.n; i++)
		f.last_pct[i] = -1;
	f.w = metroctl_store_watch_open(o);
	const char *failed = NULL;
	int rc = METROCTL_EXIT_OK, drawn = 0, ended = METROCTL_EXIT_OK;
	for (;;) {
		int done_all = 1;
		if (f.tty && drawn)
			printf("\033[%dA", f.n);
		for (int i = 0; i < f.n && !rc; i++) {
			rc = follow_one(&f, i);
			done_all &= f.finals[i] != NULL;
		}
		drawn = 1;
		fflush(stdout);
		/* once more after a failure is seen: a run may have ended just before it */
		if (rc || done_all || failed)
			break;
		failed = metroctl_store_watch_wait(f.w, 250);
	}
	for (int i = 0; i < f.n && !rc; i++) {
		if (!f.finals[i])
			continue;
		printf("\nrun %s on %s: %s\n", str(f.finals[i], "run"), str(f.finals[i], "rig"),
		       str(f.finals[i], "result"));
		print_verdicts(f.finals[i]);
	}
	for (int i = 0; i < f.n && !rc; i++) {
		if (failed)
			store_failed(o, f.runs[i], f.rig[i][0] ? f.rig[i] : "?", failed,
				     f.finals[i] != NULL);
		else
			ended = worse_run_exit(ended, run_exit(f.finals[i]));
	}
	if (!rc)
		rc = failed ? METROCTL_EXIT_STORE_FAILED : ended;
	for (int i = 0; i < f.n; i++)
		json_decref(f.finals[i]);
	metroctl_store_watch_close(&f.w);
	return rc;
}

static volatile sig_atomic_t stop_watch;
static void on_signal(int sig)
{
	(void)sig;
	stop_watch = 1;
}

static int watch(int argc, char **argv, const struct metroctl_opts *o)
{
	json_t *st = metroctl_request(o, json_pack("{siss}", "id", 1, "cmd", "status"));
	if (!st)
		return METROCTL_EXIT_UNREACHABLE;
	char *ep = metro_strdup(str(st, "publish"));
	json_decref(st);
	void *ctx = zmq_ctx_new();
	void *sub = zmq_socket(ctx, ZMQ_SUB);
	metroctl_curve_client(o, sub);
	zmq_connect(sub, ep);
	if (argc <= 1)
		zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
	for (int i = 1; i < argc; i++)
		zmq_setsockopt(sub, ZMQ_SUBSCRIBE, argv[i], strlen(argv[i]));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop_watch) {
		zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
		if (zmq_poll(&it, 1, 200) <= 0)
			continue;
		zmq_msg_t topic, body;
		zmq_msg_init(&topic);
		zmq_msg_init(&body);
		zmq_msg_recv(&topic, sub, 0);
		if (zmq_msg_more(&topic))
			zmq_msg_recv(&body, sub, 0);
		printf("%.*s %.*s\n", (int)zmq_msg_size(&topic), (char *)zmq_msg_data(&topic),
		       (int)zmq_msg_size(&body), (char *)zmq_msg_data(&body));
		fflush(stdout);
		zmq_msg_close(&topic);
		zmq_msg_close(&body);
	}
	zmq_close(sub);
	zmq_ctx_term(ctx);
	free(ep);
	return METROCTL_EXIT_OK;
}

/* clock-accept --why TEXT: a manager accepts the wall clock after it was set back (the
 * clock-behind alarm, docs/operations.md "The clock"). */
static void print_clock(json_t *r)
{
	printf("ok: the clock %s accepted (the newest record was %s)\n", str(r, "clock"),
	       str(r, "newest_record"));
}

static int clock_accept(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {{"why", required_argument, NULL, 'w'}, {0, 0, 0, 0}};
	const char *why = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'w')
			return METROCTL_EXIT_USAGE;
		why = optarg;
	}
	if (optind != argc || !why) {
		fprintf(stderr, "usage: metroctl clock-accept --why TEXT\n");
		return METROCTL_EXIT_USAGE;
	}
	return metroctl_call(o, json_pack("{sissss}", "id", 1, "cmd", "clock-accept", "why", why),
			     print_clock, NULL);
}

int metroctl_run(int argc, char **argv, const struct metroctl_opts *o)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "clock-accept"))
		return clock_accept(argc, argv, o);
	if (!strcmp(cmd, "start"))
		return start(argc, argv, o);
	if (!strcmp(cmd, "standard-set") || !strcmp(cmd, "person-set"))
		return registry_set(argc, argv, o);
	if (!strcmp(cmd, "resume-run"))
		return resume_run(argc, argv, o);
	if (!strcmp(cmd, "watch"))
		return watch(argc, argv, o);
	if (!strcmp(cmd, "follow"))
		return follow(argc, argv, o);
	if (!strcmp(cmd, "rigs") || !strcmp(cmd, "procedures") || !strcmp(cmd, "standards") ||
	    !strcmp(cmd, "runs")) {
		void (*print)(json_t *) = !strcmp(cmd, "rigs")	       ? print_rigs
					  : !strcmp(cmd, "procedures") ? print_procedures
					  : !strcmp(cmd, "standards")  ? print_standards
								       : print_runs;
		return metroctl_call(o, json_pack("{siss}", "id", 1, "cmd", cmd), print, NULL);
	}
	if (!strcmp(cmd, "audit-head"))
		return metroctl_call(o, json_pack("{siss}", "id", 1, "cmd", cmd), print_head, NULL);
	if (!strcmp(cmd, "replay")) {
		char *end = NULL;
		long long from = argc == 2 ? strtoll(argv[1], &end, 10) : -1;
		if (argc != 2 || *end || from < 0) {
			fprintf(stderr, "usage: metroctl replay FROM-SEQ\n");
			return METROCTL_EXIT_USAGE;
		}
		return metroctl_call(
			o, json_pack("{sisssI}", "id", 1, "cmd", cmd, "from", (json_int_t)from),
			print_replay, NULL);
	}
	if (!strcmp(cmd, "run")) {
		if (argc != 2) {
			fprintf(stderr, "usage: metroctl run RUN-ID\n");
			return METROCTL_EXIT_USAGE;
		}
		return metroctl_call(o,
				     json_pack("{sissss}", "id", 1, "cmd", "run", "run", argv[1]),
				     print_run, NULL);
	}
	if (!strcmp(cmd, "input")) {
		static const struct option opts[] = {{"operator", required_argument, NULL, 'p'},
						     {0, 0, 0, 0}};
		const char *op = NULL;
		int c;
		while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
			if (c != 'p')
				return METROCTL_EXIT_USAGE;
			op = optarg;
		}
		if (argc - optind < 3) {
			fprintf(stderr,
				"usage: metroctl input RIG PROMPT pass|fail [--operator NAME]\n"
				"       metroctl input RIG PROMPT POSITION=pass|fail... "
				"[--operator "
				"NAME]\n"
				"       metroctl input RIG PROMPT POSITION=READING... "
				"[--operator NAME]\n"
				"(--operator: who answers, when the connection does not "
				"authenticate a person)\n");
			return METROCTL_EXIT_USAGE;
		}
		/* pass|fail answers every position of a judgement still open; POSITION=VALUE pairs
		 * decide the positions they name (pass or fail), or give typed meter readings,
		 * passed on as exact decimal text.  A person's answer: never "automated". */
		json_t *answer = NULL;
		if (argc - optind == 3 && !strchr(argv[optind + 2], '=')) {
			answer = json_string(argv[optind + 2]);
		} else {
			answer = json_object();
			for (int k = optind + 2; k < argc; k++) {
				const char *eq = strchr(argv[k], '=');
				char pos[16];
				if (!eq || eq == argv[k] || (size_t)(eq - argv[k]) >= sizeof pos) {
					fprintf(stderr,
						"metroctl input: '%s' is not POSITION=VALUE\n",
						argv[k]);
					json_decref(answer);
					return METROCTL_EXIT_USAGE;
				}
				snprintf(pos, sizeof pos, "%.*s", (int)(eq - argv[k]), argv[k]);
				if (json_object_get(answer, pos)) {
					fprintf(stderr,
						"metroctl input: position %s is named twice; "
						"nothing "
						"was sent\n",
						pos);
					json_decref(answer);
					return METROCTL_EXIT_USAGE;
				}
				json_object_set_new(answer, pos, json_string(eq + 1));
			}
		}
		json_t *req = json_pack("{sisssssssO}", "id", 1, "cmd", "input", "rig",
					argv[optind], "prompt", argv[optind + 1], "answer", answer);
		json_decref(answer);
		if (op)
			json_object_set_new(req, "operator", json_string(op));
		return metroctl_call(o, req, print_ok, NULL);
	}
	/* pause, resume, stop, abort, halt */
	if (argc != 2) {
		fprintf(stderr, "usage: metroctl %s RIG\n", cmd);
		return METROCTL_EXIT_USAGE;
	}
	return metroctl_call(o, json_pack("{sissss}", "id", 1, "cmd", cmd, "rig", argv[1]),
			     print_ok, NULL);
}
