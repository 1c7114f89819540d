/* metroctl_certify.c — the certificate workflow from a person's seat (docs/operations.md
 * "The certificate workflow").
 *
 *   metroctl --key ME.key --server-key daemon.pub certify NUMBER STEP [--why TEXT]
 *            [--replaces NUMBER]
 *   metroctl --key ME.key --server-key daemon.pub reissue NUMBER --why TEXT
 *
 * certify builds the statement of the step with the one function every verifier uses
 * (metro_cert_statement: the station the daemon names, the number, the step, the person of
 * the key file, the time now), signs it with the key file's Ed25519 secret and sends it as
 * `certificate-step`; the daemon checks that the connection is that person's and the store
 * checks the signature, the order and who may sign what.  The secret never leaves this
 * process.  reissue asks for a voided certificate's replacement (a new draft whose verified
 * step names the voided number with --replaces).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert_statement.h"
#include "metroctl_certify.h"
#include "metroctl_client.h"
#include "util.h"
#include "yfile.h"

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

/* The person and Ed25519 secret key of a person's key file (metroctl keygen --person).
 * Returns 0, or -1 with the problem on stderr. */
static int person_key(const char *path, char person[80], unsigned char sk[64])
{
	struct metro_diag d;
	struct metro_yfile *f;
	metro_diag_init(&d);
	if (metro_yfile_load(path, &d, &f)) {
		metro_diag_print(&d, stderr);
		metro_diag_free(&d);
		return -1;
	}
	static const struct metro_yfield fields[] = {
		{"public", 1}, {"secret", 1}, {"person", 0}, {"sign", 0}, {"sign_secret", 0}};
	yaml_node_t *v[5];
	char *who = NULL, *seedhex = NULL;
	int rc = metro_y_map(f, metro_y_root(f), "", fields, 5, v) ? -1 : 0;
	if (!rc && (!v[2] || !v[4]))
		rc = -1;
	if (!rc && (metro_y_str(f, v[2], "person", 64, &who) ||
		    metro_y_str(f, v[4], "sign_secret", 64, &seedhex)))
		rc = -1;
	unsigned char seed[32], pk[32];
	size_t len = 0;
	if (!rc &&
	    (strlen(seedhex) != 64 || sodium_hex2bin(seed, 32, seedhex, 64, NULL, &len, NULL) ||
	     len != 32 || crypto_sign_seed_keypair(pk, sk, seed)))
		rc = -1;
	if (!rc)
		metro_strlcpy(person, who, 80);
	else
		fprintf(stderr,
			"metroctl: %s: not a person's key (metroctl keygen --person): a "
			"certificate step is signed with the signer's own key\n",
			path);
	sodium_memzero(seed, sizeof seed);
	if (seedhex)
		sodium_memzero(seedhex, strlen(seedhex));
	free(seedhex);
	free(who);
	metro_yfile_destroy(&f);
	metro_diag_free(&d);
	return rc;
}

static void print_step(json_t *r)
{
	if (json_is_string(json_object_get(r, "reissued")))
		printf("ok: %s reissued as %s (a draft: its verified step names --replaces %s)\n",
		       str(r, "reissued"), str(r, "number"), str(r, "reissued"));
	else
		printf("ok: %s %s by %s\n", str(r, "number"), str(r, "step"), str(r, "person"));
}

static int usage(void)
{
	fprintf(stderr, "usage: metroctl --key ME.key --server-key DAEMON.pub certify NUMBER "
			"verified|checked|approved|issued|voided [--why TEXT] [--replaces NUMBER]\n"
			"       metroctl --key ME.key --server-key DAEMON.pub reissue NUMBER --why "
			"TEXT\n");
	return METROCTL_EXIT_USAGE;
}

int metroctl_certify(int argc, char **argv, const struct metroctl_opts *o)
{
	static const struct option opts[] = {{"why", required_argument, NULL, 'w'},
					     {"replaces", required_argument, NULL, 'r'},
					     {0, 0, 0, 0}};
	int reissue = !strcmp(argv[0], "reissue"), c;
	const char *why = NULL, *replaces = NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w')
			why = optarg;
		else if (c == 'r' && !reissue)
			replaces = optarg;
		else
			return usage();
	}
	if (argc - optind != (reissue ? 1 : 2) || (reissue && !why))
		return usage();
	const char *number = argv[optind];
	if (reissue)
		return metroctl_call(o,
				     json_pack("{sissssss}", "id", 1, "cmd", "certificate-reissue",
					       "number", number, "why", why),
				     print_step, NULL);
	const char *step = argv[optind + 1];
	enum metro_cert_step_kind k;
	if (metro_cert_step_parse(step, &k))
		return usage();
	if (!o->key_file) {
		fprintf(stderr,
			"metroctl certify: a step is signed with the signer's own key: give "
			"--key ME.key --server-key DAEMON.pub\n");
		return METROCTL_EXIT_USAGE;
	}
	char person[80];
	unsigned char sk[64];
	if (person_key(o->key_file, person, sk))
		return METROCTL_EXIT_USAGE;
	/* The station the statement names is the daemon's (the store's) own. */
	json_t *st = metroctl_request(o, json_pack("{siss}", "id", 1, "cmd", "status"));
	if (!st || !json_is_string(json_object_get(st, "station"))) {
		sodium_memzero(sk, sizeof sk);
		if (st)
			metroctl_refusal("status", st);
		json_decref(st);
		return st ? METROCTL_EXIT_REFUSED : METROCTL_EXIT_UNREACHABLE;
	}
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	char *statement =
		metro_cert_statement(str(st, "station"), number, step, person, now, why, replaces);
	json_decref(st);
	char sig[METRO_CERT_SIG_HEX];
	if (!statement || metro_cert_sign(statement, sk, sig)) {
		sodium_memzero(sk, sizeof sk);
		free(statement);
		fprintf(stderr, "metroctl certify: cannot build the statement (a value with a "
				"control character, or too long?)\n");
		return METROCTL_EXIT_USAGE;
	}
	sodium_memzero(sk, sizeof sk);
	free(statement);
	json_t *req =
		json_pack("{sissssssssssss}", "id", 1, "cmd", "certificate-step", "number", number,
			  "step", step, "person", person, "time", now, "signature", sig);
	if (why)
		json_object_set_new(req, "why", json_string(why));
	if (replaces)
		json_object_set_new(req, "replaces", json_string(replaces));
	return metroctl_call(o, req, print_step, NULL);
}
