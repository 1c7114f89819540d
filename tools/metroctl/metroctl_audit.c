/* metroctl audit — offline verification of a record store (docs/records.md).
 *
 *   metroctl audit verify --db FILE [--pubkey FILE]... [--checkpoint FILE]
 *                         [--expect-head SEQ:HASH|STATEFILE] [--strict] [--json]
 *   metroctl audit checkpoint --db FILE [--epoch N] [--json]
 *
 * verify checks every chain link, every row against its chain record, every checkpoint's
 * epoch, coverage and signature, and (with --checkpoint) that the database still contains and
 * extends a checkpoint published earlier.  It prints one line and exits 0 when everything
 * holds, or the first failing record and exits 1.  Exit codes: 0 verified, 1 verification
 * failed, 2 usage or bad input (a key or checkpoint file that cannot be used), 5 the database
 * cannot be opened or read.  Work on a copy: the file is opened read-only either way.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "audit.h"
#include "error.h"
#include "metroctl_audit.h"
#include "store_report.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: metroctl audit verify --db FILE [--pubkey FILE]... [--checkpoint FILE]\n"
		"                             [--expect-head SEQ:HASH|STATEFILE] [--strict] "
		"[--json]\n"
		"       metroctl audit checkpoint --db FILE [--epoch N] [--json]\n"
		"verify: --pubkey  the station's public key (records.pub as published); without\n"
		"                  it signatures are checked against the key stored in the file,\n"
		"                  which proves consistency, not authorship\n"
		"        --checkpoint  a checkpoint document published earlier (topic audit, or\n"
		"                  `metroctl audit checkpoint`): detects rollback to an older "
		"copy\n"
		"        --expect-head SEQ:HASH|STATEFILE  the chain must contain this head (the\n"
		"                  store's records.state remembers it): a truncated, restarted or\n"
		"                  replaced history fails\n"
		"        --strict  also fail on unsigned records after the last checkpoint and on\n"
		"                  trusting the stored key\n"
		"exit codes: 0 verified, 1 verification failed, 2 usage, 5 cannot open or read\n");
}

static int exit_for(int err)
{
	if (err == METRO_OK)
		return METRO_AUDIT_EXIT_OK;
	if (err == METRO_E_CORRUPT)
		return METRO_AUDIT_EXIT_FAILED;
	return METRO_AUDIT_EXIT_UNREADABLE;
}

static void print_json(json_t *j, int compact)
{
	char *t = json_dumps(j, compact ? JSON_COMPACT : JSON_INDENT(2));
	puts(t);
	free(t);
}

static int load_checkpoint_file(const char *path, struct metro_audit_checkpoint *cp)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	if (!doc) {
		fprintf(stderr, "metroctl audit: --checkpoint %s: %s (line %d)\n", path, e.text,
			e.line);
		return -1;
	}
	const char *why = NULL;
	int rc = metro_audit_checkpoint_parse(doc, cp, &why);
	json_decref(doc);
	if (rc) {
		fprintf(stderr, "metroctl audit: --checkpoint %s: %s\n", path, why);
		return -1;
	}
	return 0;
}

static void print_failure(FILE *out, const char *prefix, const struct metro_audit_failure *f)
{
	fprintf(out, "%s%s\n", prefix, f->message);
}

/* --expect-head SEQ:HASH, or the path of a record store's state file (records.state: its
 * chain_seq and chain_head lines). */
static int parse_expect_head(const char *arg, struct metro_audit_opts *ao)
{
	char hex[80] = "";
	long long seq = 0;
	char tail;
	if (sscanf(arg, "%lld:%79[0-9a-fA-F]%c", &seq, hex, &tail) != 2) {
		FILE *f = fopen(arg, "r");
		if (!f) {
			fprintf(stderr,
				"metroctl audit: --expect-head %s: neither SEQ:HASH nor a readable "
				"state file (%s)\n",
				arg, strerror(errno));
			return -1;
		}
		char line[200];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "chain_seq %lld", &seq) != 1)
				sscanf(line, "chain_head %79[0-9a-f]", hex);
		fclose(f);
	}
	if (seq <= 0 || strlen(hex) != 2 * METRO_AUDIT_HASH ||
	    metro_audit_unhex(hex, strlen(hex), ao->expect_hash, METRO_AUDIT_HASH)) {
		fprintf(stderr,
			"metroctl audit: --expect-head %s: needs a chain record number >= 1 and "
			"its "
			"hash (64 hex digits)\n",
			arg);
		return -1;
	}
	ao->expect_seq = seq;
	return 0;
}

static int verify(int argc, char **argv, const struct metroctl_opts *g)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"pubkey", required_argument, NULL, 'k'},
		{"checkpoint", required_argument, NULL, 'c'},
		{"expect-head", required_argument, NULL, 'e'},
		{"strict", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	struct metro_audit_opts ao;
	struct metro_audit_checkpoint published;
	const char *cpfile = NULL;
	int json = g->json, c;
	memset(&ao, 0, sizeof ao);
	memset(&published, 0, sizeof published);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ao.db_path = optarg;
			break;
		case 'k':
			if (ao.npubkeys == METRO_AUDIT_MAX_PUBKEYS) {
				fprintf(stderr, "metroctl audit: at most %d --pubkey\n",
					METRO_AUDIT_MAX_PUBKEYS);
				return METRO_AUDIT_EXIT_USAGE;
			}
			if (metro_audit_read_pubkey(optarg, ao.pubkeys[ao.npubkeys])) {
				fprintf(stderr,
					"metroctl audit: --pubkey %s: cannot read a public key (64 "
					"hex "
					"digits)\n",
					optarg);
				return METRO_AUDIT_EXIT_USAGE;
			}
			ao.npubkeys++;
			break;
		case 'c':
			cpfile = optarg;
			break;
		case 'e':
			if (parse_expect_head(optarg, &ao))
				return METRO_AUDIT_EXIT_USAGE;
			break;
		case 's':
			ao.strict = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return METRO_AUDIT_EXIT_OK;
		default:
			usage(stderr);
			return METRO_AUDIT_EXIT_USAGE;
		}
	}
	if (!ao.db_path || optind != argc) {
		usage(stderr);
		return METRO_AUDIT_EXIT_USAGE;
	}
	if (cpfile) {
		if (load_checkpoint_file(cpfile, &published))
			return METRO_AUDIT_EXIT_USAGE;
		ao.published = &published;
	}
	struct metro_audit_report r;
	memset(&r, 0, sizeof r);
	int err = metro_audit_verify(&ao, &r);
	if (json) {
		json_t *j = metro_audit_report_json(&r, err);
		json_object_set_new(j, "db", json_string(ao.db_path));
		print_json(j, 1);
		json_decref(j);
	} else if (err == METRO_OK) {
		printf("verified: %s: %lld chain records, %lld rows in %zu tables, head %lld "
		       "(%.16s…), ",
		       ao.db_path, (long long)r.records, (long long)r.rows, r.tables,
		       (long long)r.head_seq, r.head_hash);
		if (r.checkpoints)
			printf("%lld checkpoints, last epoch %lld (%s) at record %lld, signatures "
			       "by "
			       "%s",
			       (long long)r.checkpoints, (long long)r.last.epoch, r.last.short_id,
			       (long long)r.last.chain_seq,
			       r.trusted_key ? "the given --pubkey" : "the STORED key only");
		else
			printf("no checkpoints");
		if (r.rollback_checked)
			printf(", published epoch %lld present", (long long)published.epoch);
		if (r.head_checked)
			printf(", expected head record %lld present", (long long)ao.expect_seq);
		printf(" (%.2f s)\n", r.seconds);
		for (size_t i = 0; i < r.nwarnings; i++)
			fprintf(stderr, "warning: %s\n", r.warnings[i]);
	} else if (err == METRO_E_CORRUPT) {
		print_failure(stdout, "FAILED: ", &r.failures[0]);
		for (size_t i = 1; i < r.nfailures && i < 10; i++)
			print_failure(stdout, "  also: ", &r.failures[i]);
		if (r.total_failures > 1)
			printf("%zu problems in total; the first in chain order is shown first "
			       "(--json lists up to %d)\n",
			       r.total_failures, METRO_AUDIT_MAX_REPORTED);
		for (size_t i = 0; i < r.nwarnings; i++)
			fprintf(stderr, "warning: %s\n", r.warnings[i]);
	} else {
		fprintf(stderr, "metroctl audit: %s\n",
			r.nfailures ? r.failures[0].message : metro_strerror(err));
	}
	metro_audit_report_free(&r);
	return exit_for(err);
}

static int checkpoint(int argc, char **argv, const struct metroctl_opts *g)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"epoch", required_argument, NULL, 'e'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *db_path = NULL;
	long long epoch = 0;
	int json = g->json, c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_path = optarg;
			break;
		case 'e': {
			char *end;
			epoch = strtoll(optarg, &end, 10);
			if (*end || epoch < 1) {
				fprintf(stderr,
					"metroctl audit: --epoch: '%s' is not an epoch (1...)\n",
					optarg);
				return METRO_AUDIT_EXIT_USAGE;
			}
			break;
		}
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return METRO_AUDIT_EXIT_OK;
		default:
			usage(stderr);
			return METRO_AUDIT_EXIT_USAGE;
		}
	}
	if (!db_path || optind != argc) {
		usage(stderr);
		return METRO_AUDIT_EXIT_USAGE;
	}
	struct metro_store *s;
	struct metro_store_opts so = {.path = db_path, .readonly = 1};
	char err[512];
	int rc = metro_store_open(&so, &s, err, sizeof err);
	if (rc) {
		fprintf(stderr, "metroctl audit: %s\n", err);
		return METRO_AUDIT_EXIT_UNREADABLE;
	}
	struct metro_audit_checkpoint cp;
	rc = metro_store_checkpoint_get(s, epoch, &cp);
	metro_store_close(&s);
	if (rc == METRO_E_NOTFOUND) {
		fprintf(stderr, "metroctl audit: %s: no checkpoint%s\n", db_path,
			epoch ? " with that epoch" : "");
		return METRO_AUDIT_EXIT_FAILED;
	}
	if (rc) {
		fprintf(stderr, "metroctl audit: %s: cannot read the checkpoint: %s\n", db_path,
			metro_strerror(rc));
		return rc == METRO_E_CORRUPT ? METRO_AUDIT_EXIT_FAILED
					     : METRO_AUDIT_EXIT_UNREADABLE;
	}
	json_t *j = metro_audit_checkpoint_json(&cp);
	print_json(j, json);
	json_decref(j);
	return METRO_AUDIT_EXIT_OK;
}

int metroctl_audit(int argc, char **argv, const struct metroctl_opts *o)
{
	if (argc < 2) {
		usage(stderr);
		return METRO_AUDIT_EXIT_USAGE;
	}
	/* The subcommand parses its own options from its own name on. */
	optind = 1;
	if (!strcmp(argv[1], "verify"))
		return verify(argc - 1, argv + 1, o);
	if (!strcmp(argv[1], "checkpoint"))
		return checkpoint(argc - 1, argv + 1, o);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return METRO_AUDIT_EXIT_OK;
	}
	fprintf(stderr, "metroctl audit: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return METRO_AUDIT_EXIT_USAGE;
}
