/* metroctl keygen — CURVE key pairs for the daemon and its clients (metroctl_client.c reads
 * them).
 *
 * NAME.key holds the public and the secret key (mode 0600): the daemon's goes to
 * `control.curve.secret_key`, a client's to `metroctl --key`.  NAME.pub holds the public key
 * and a role: to admit a client, the manager copies it into the daemon's clients directory and
 * sets the role (observer, operator or manager); the daemon's .pub is what clients give as
 * `--server-key`.  Keys are Z85 text, written in double quotes because the Z85 alphabet has
 * characters YAML would otherwise read as syntax.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

int metroctl_keygen(int argc, char **argv, const struct metroctl_opts *o)
{
	(void)o;
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'}, {0, 0, 0, 0}};
	const char *dir = ".";
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return METROCTL_EXIT_USAGE;
		dir = optarg;
	}
	if (optind + 1 != argc || !argv[optind][0] || strchr(argv[optind], '/')) {
		fprintf(stderr, "usage: metroctl keygen NAME [--dir DIR]\n");
		return METROCTL_EXIT_USAGE;
	}
	const char *name = argv[optind];
	char pub[41], sec[41];
	if (zmq_curve_keypair(pub, sec)) {
		fprintf(stderr, "metroctl keygen: %s (is libzmq built with CURVE?)\n",
			zmq_strerror(zmq_errno()));
		return METROCTL_EXIT_FAIL;
	}
	char *kpath = metro_asprintf("%s/%s.key", dir, name);
	char *ppath = metro_asprintf("%s/%s.pub", dir, name);
	char *ktext = metro_asprintf("# CURVE key pair of %s (metroctl keygen): keep it secret\n"
				     "public: \"%s\"\nsecret: \"%s\"\n",
				     name, pub, sec);
	char *ptext = metro_asprintf("# CURVE public key of %s.  To admit this client, copy this "
				     "file into the\n# daemon's clients directory and set its role "
				     "(observer, operator, manager).\npublic: \"%s\"\nrole: "
				     "observer\n",
				     name, pub);
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
