/* metroctl keygen — CURVE key pairs for the daemon and its clients (metroctl_client.c reads
 * them).
 *
 * NAME.key holds the public and the secret key (mode 0600): the daemon's goes to
 * `control.curve.secret_key`, a client's to `metroctl --key`.  NAME.pub holds the public key
 * and a role: to admit a client, the manager copies it into the daemon's clients directory and
 * sets the role (observer, operator or manager); the daemon's .pub is what clients give as
 * `--server-key`.  Keys are Z85 text, written in double quotes because the Z85 alphabet has
 * characters YAML would otherwise read as syntax.
 *
 * `--person` makes a person's key instead: an Ed25519 key pair (libsodium crypto_sign) that
 * signs their certificate steps, and the same key as X25519 for CURVE, so one file
 * authenticates them and signs for them.  Their NAME.pub holds the `sign:` public key a
 * manager puts as `key:` in their entry under `people:` (docs/operations.md "People").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "metroctl_keygen.h"
#include "util.h"

static int write_file(const char *path, int mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0) {
		fprintf(stderr, "metroctl keygen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = strlen(text);
	int rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	if (close(fd) || rc) {
		fprintf(stderr, "metroctl keygen: %s: write failed\n", path);
		return -1;
	}
	return 0;
}

/* A person's key: the Ed25519 seed and public key in hex, and the X25519 (CURVE) pair in Z85.
 * Returns 0, or -1 with a message. */
static int person_keys(const char *name, char **ktext, char **ptext)
{
	unsigned char pk[32], sk[64], xpk[32], xsk[32];
	char hpk[65], hseed[65], zpk[41], zsk[41];
	if (sodium_init() < 0 || crypto_sign_keypair(pk, sk) ||
	    crypto_sign_ed25519_pk_to_curve25519(xpk, pk) ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, sk) || !zmq_z85_encode(zpk, xpk, 32) ||
	    !zmq_z85_encode(zsk, xsk, 32)) {
		fprintf(stderr, "metroctl keygen: cannot make an Ed25519 key pair\n");
		return -1;
	}
	sodium_bin2hex(hpk, sizeof hpk, pk, 32);
	sodium_bin2hex(hseed, sizeof hseed, sk, 32); /* the seed: the first half */
	*ktext = metro_asprintf("# Key of person %s (metroctl keygen --person): signs their "
				"certificate steps and\n# is their CURVE key.  Keep it secret.\n"
				"person: %s\nsign: \"%s\"\nsign_secret: \"%s\"\npublic: \"%s\"\n"
				"secret: \"%s\"\n",
				name, name, hpk, hseed, zpk, zsk);
	*ptext = metro_asprintf("# Public key of person %s.  A manager puts the `sign:` value as "
				"`key:` in their\n# entry under `people:` of metrod.yaml.\n"
				"person: %s\nsign: \"%s\"\npublic: \"%s\"\n",
				name, name, hpk, zpk);
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(xsk, sizeof xsk);
	sodium_memzero(hseed, sizeof hseed);
	sodium_memzero(zsk, sizeof zsk);
	return 0;
}

int metroctl_keygen(int argc, char **argv, const struct metroctl_opts *o)
{
	(void)o;
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
					     {"person", no_argument, NULL, 'p'},
					     {0, 0, 0, 0}};
	const char *dir = ".";
	int c, person = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			person = 1;
		else if (c == 'd')
			dir = optarg;
		else
			return METROCTL_EXIT_USAGE;
	}
	if (optind + 1 != argc || !argv[optind][0] || strchr(argv[optind], '/')) {
		fprintf(stderr, "usage: metroctl keygen NAME [--person] [--dir DIR]\n");
		return METROCTL_EXIT_USAGE;
	}
	const char *name = argv[optind];
	char *ktext = NULL, *ptext = NULL;
	char pub[41], sec[41];
	if (person) {
		if (person_keys(name, &ktext, &ptext))
			return METROCTL_EXIT_FAIL;
	} else if (zmq_curve_keypair(pub, sec)) {
		fprintf(stderr, "metroctl keygen: %s (is libzmq built with CURVE?)\n",
			zmq_strerror(zmq_errno()));
		return METROCTL_EXIT_FAIL;
	} else {
		ktext = metro_asprintf("# CURVE key pair of %s (metroctl keygen): keep it secret\n"
				       "public: \"%s\"\nsecret: \"%s\"\n",
				       name, pub, sec);
		ptext = metro_asprintf(
			"# CURVE public key of %s.  To admit this client, copy this "
			"file into the\n# daemon's clients directory and set its role "
			"(observer, operator, manager).\npublic: \"%s\"\nrole: "
			"observer\n",
			name, pub);
	}
	char *kpath = metro_asprintf("%s/%s.key", dir, name);
	char *ppath = metro_asprintf("%s/%s.pub", dir, name);
	int rc = write_file(kpath, 0600, ktext) || write_file(ppath, 0644, ptext)
			 ? METROCTL_EXIT_FAIL
			 : METROCTL_EXIT_OK;
	if (!rc)
		printf("wrote %s (secret, 0600) and %s\n", kpath, ppath);
	free(kpath);
	free(ppath);
	free(ktext);
	free(ptext);
	return rc;
}
