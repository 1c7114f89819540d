/* sim_server.c — transports, framing, fault injection and the event loop (see sim_server.h).
 *
 * Fault injection happens here because here every byte of a reply is in hand.  Each request
 * addressed to the simulator draws its fate from the fault stream (sim_fault_decide): dropped
 * unserved (noreply), refused with an exception instead of being served, served and then
 * answered with a broken checksum, from another unit id, or late.  Broadcasts and requests for
 * other RTU units are not requests to us and draw nothing.
 */
#include "sim_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "lineproto.h"
#include "log.h"
#include "sim_pty.h"
#include "util.h"

#define MAX_LINKS 32
#define TICK_NS 10000000ull /* the model timer: 10 ms */
#define IN_CAP 4096
#define OUT_CAP 4200
#define LINE_MAX_CMD 1024 /* longest serial-line command we wait for */
#define NEVER UINT64_MAX

struct link {
	int fd;
	uint8_t in[IN_CAP];
	size_t inlen;
	uint64_t last_rx_ns;
	uint8_t out[OUT_CAP];
	size_t outlen, outoff;
	uint64_t due_ns;
	int pending; /* a reply is waiting for its due time or for the socket */
};

struct sim_server {
	struct sim_server_conf conf;
	struct sim_rig *rig;
	struct sim_image *img;
	struct sim_fault *fault;
	struct sim_line *line;
	struct sim_mb mb;
	/* TCP */
	int lfd;
	struct sockaddr_storage laddr;
	socklen_t laddr_len;
	struct link *links[MAX_LINKS];
	size_t nlinks;
	/* pty */
	struct sim_pty pty;
	int have_pty;
	uint64_t char_ns;    /* one character on the wire at the configured baud */
	uint64_t silence_ns; /* RTU: the end-of-frame silent interval */
	/* disconnect fault */
	int down;
	uint64_t next_change_ns;
	long outages;
	unsigned long long bad_frames;
};

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint64_t ms_to_ns(double ms)
{
	return (uint64_t)(ms * 1e6);
}

/* ---- links --------------------------------------------------------------------------------- */

static struct link *link_new(struct sim_server *s, int fd)
{
	struct link *l = metro_calloc(1, sizeof *l);
	l->fd = fd;
	s->links[s->nlinks++] = l;
	return l;
}

static void link_close(struct sim_server *s, size_t i)
{
	struct link *l = s->links[i];
	if (!s->have_pty)
		close(l->fd);
	free(l);
	s->links[i] = s->links[--s->nlinks];
}

static void consume(struct link *l, size_t n)
{
	memmove(l->in, l->in + n, l->inlen - n);
	l->inlen -= n;
}

static void queue(struct link *l, const uint8_t *b, size_t n, uint64_t due)
{
	if (n == 0 || n > sizeof l->out)
		return;
	memcpy(l->out, b, n);
	l->outlen = n;
	l->outoff = 0;
	l->due_ns = due;
	l->pending = 1;
}

/* Wire time of n characters when pacing is on. */
static uint64_t wire(const struct sim_server *s, size_t n)
{
	return s->conf.pace ? (uint64_t)n * s->char_ns : 0;
}

static void trace(const struct sim_server *s, const char *what, const uint8_t *b, size_t n)
{
	if (!s->conf.verbose)
		return;
	char hex[3 * 48 + 8];
	size_t o = 0;
	for (size_t i = 0; i < n && i < 48; i++)
		o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x ", b[i]);
	if (n > 48)
		snprintf(hex + o, sizeof hex - o, "...");
	fprintf(stderr, "metrosim: %s %s\n", what, hex);
}

static uint8_t other_unit(uint8_t unit)
{
	return unit >= 247 ? 1 : (uint8_t)(unit + 1);
}

/* ---- Modbus TCP -------------------------------------------------------------------------------
 */

/* Serve one MBAP frame.  Returns 1 when a frame was consumed, 0 when more bytes are needed,
 * -1 when the stream is not Modbus TCP (the connection is closed). */
static int tcp_frame(struct sim_server *s, struct link *l, uint64_t now)
{
	if (l->inlen < 7)
		return 0;
	unsigned pid = be16(l->in + 2), len = be16(l->in + 4);
	if (pid != 0 || len < 2 || len > 254)
		return -1;
	if (l->inlen < 6 + len)
		return 0;
	uint8_t unit = l->in[6];
	const uint8_t *pdu = l->in + 7;
	size_t pdulen = len - 1;
	trace(s, "rx", l->in, 6 + len);
	sim_rig_advance(s->rig, now);
	struct sim_fault_action a;
	sim_fault_decide(s->fault, &a);
	if (a.noreply) {
		trace(s, "fault noreply", NULL, 0);
		consume(l, 6 + len);
		return 1;
	}
	uint8_t out[7 + SIM_MB_PDU_MAX];
	size_t rl;
	int wrote = 0;
	if (a.exception)
		rl = sim_mb_exception(pdu[0], a.exception, out + 7);
	else if (unit != s->conf.unit && unit != 0 && unit != 255)
		rl = sim_mb_exception(pdu[0], SIM_EXC_GATEWAY_TARGET, out + 7);
	else
		rl = sim_mb_serve(&s->mb, pdu, pdulen, out + 7, &wrote);
	if (wrote)
		sim_rig_written(s->rig);
	memcpy(out, l->in, 4); /* transaction and protocol id */
	out[4] = (uint8_t)((rl + 1) >> 8);
	out[5] = (uint8_t)(rl + 1);
	out[6] = a.wrongunit ? other_unit(unit) : unit;
	queue(l, out, 7 + rl, now + ms_to_ns(a.delay_ms));
	consume(l, 6 + len);
	return 1;
}

/* ---- Modbus RTU -------------------------------------------------------------------------------
 */

static void rtu_drop(struct sim_server *s, struct link *l, const char *why)
{
	trace(s, why, l->in, l->inlen);
	l->inlen = 0;
	s->bad_frames++;
}

/* Frame and serve one RTU request.  Returns 1 when a frame was consumed, else 0.
 *
 * On a real line a frame ends with 3.5 characters of silence.  A pty has no timing of its
 * own (a client's write usually arrives in one piece, but the scheduler may split it), so the
 * frame length is taken from the function code where the protocol defines it and the silent
 * interval is only used to end frames of unknown functions and to discard garbage. */
static int rtu_frame(struct sim_server *s, struct link *l, uint64_t now)
{
	if (l->inlen == 0)
		return 0;
	long need = sim_mb_rtu_request_len(l->in, l->inlen);
	int silent = now - l->last_rx_ns >= s->silence_ns;
	size_t flen;
	if (need > 0 && (size_t)need <= l->inlen) {
		flen = (size_t)need;
	} else if (need < 0 && silent) {
		flen = l->inlen;
	} else {
		if (silent)
			rtu_drop(s, l, "incomplete frame dropped:");
		return 0;
	}
	uint16_t crc = metro_line_crc16(l->in, flen >= 2 ? flen - 2 : 0);
	if (flen < 4 || l->in[flen - 2] != (crc & 0xff) || l->in[flen - 1] != (crc >> 8)) {
		/* Framing is lost: drop everything up to the next silence. */
		rtu_drop(s, l, "bad crc, dropped:");
		return 0;
	}
	trace(s, "rx", l->in, flen);
	uint8_t unit = l->in[0];
	const uint8_t *pdu = l->in + 1;
	size_t pdulen = flen - 3;
	uint8_t out[1 + SIM_MB_PDU_MAX + 2];
	int wrote = 0;
	if (unit != s->conf.unit && unit != 0) {
		consume(l, flen); /* for another device on the bus */
		return 1;
	}
	sim_rig_advance(s->rig, now);
	if (unit == 0) {
		/* broadcast: writes are applied, nothing is answered */
		sim_mb_serve(&s->mb, pdu, pdulen, out + 1, &wrote);
		if (wrote)
			sim_rig_written(s->rig);
		consume(l, flen);
		return 1;
	}
	struct sim_fault_action a;
	sim_fault_decide(s->fault, &a);
	if (a.noreply) {
		trace(s, "fault noreply", NULL, 0);
		consume(l, flen);
		return 1;
	}
	size_t rl = a.exception ? sim_mb_exception(pdu[0], a.exception, out + 1)
				: sim_mb_serve(&s->mb, pdu, pdulen, out + 1, &wrote);
	if (wrote)
		sim_rig_written(s->rig);
	out[0] = a.wrongunit ? other_unit(unit) : unit;
	crc = metro_line_crc16(out, 1 + rl);
	if (a.crc)
		crc = (uint16_t)~crc;
	out[1 + rl] = (uint8_t)(crc & 0xff); /* CRC low byte first */
	out[2 + rl] = (uint8_t)(crc >> 8);
	/* A paced line costs the request and the reply on the wire and a 3.5-character silence
	 * after each frame: the one that ends the request, and the one the line must keep
	 * after the reply before the next request (a client that does not wait for it gets its
	 * next answer that much later, as on a real bus). */
	uint64_t t35 = s->char_ns * 7 / 2;
	uint64_t due =
		now + ms_to_ns(a.delay_ms) + (s->conf.pace ? wire(s, flen + 3 + rl) + 2 * t35 : 0);
	queue(l, out, 3 + rl, due);
	consume(l, flen);
	return 1;
}

/* ---- serial line ---------------------------------------------------------------------------- */

static int line_frame(struct sim_server *s, struct link *l, uint64_t now)
{
	size_t tl, rtl, flen;
	const char *term = sim_line_cmd_term(s->line, &tl);
	sim_line_reply_term(s->line, &rtl);
	int f = metro_line_frame((const char *)l->in, l->inlen, term, tl, LINE_MAX_CMD, &flen);
	if (f < 0) {
		trace(s, "command too long, dropped:", l->in, l->inlen);
		l->inlen = 0;
		s->bad_frames++;
		return 0;
	}
	if (f == 0)
		return 0;
	trace(s, "rx", l->in, flen);
	sim_rig_advance(s->rig, now);
	struct sim_fault_action a;
	sim_fault_decide(s->fault, &a);
	if (a.noreply) {
		trace(s, "fault noreply", NULL, 0);
		consume(l, flen + tl);
		return 1;
	}
	char out[OUT_CAP];
	size_t rl;
	int wrote = 0;
	if (a.exception)
		rl = sim_line_error_reply(s->line, out, sizeof out);
	else
		rl = sim_line_serve(s->line, (const char *)l->in, flen, out, sizeof out, &wrote);
	if (wrote)
		sim_rig_written(s->rig);
	if (rl && a.crc)
		sim_line_corrupt(s->line, out, rl - rtl);
	queue(l, (const uint8_t *)out, rl, now + ms_to_ns(a.delay_ms) + wire(s, flen + tl + rl));
	consume(l, flen + tl);
	return 1;
}

/* ---- I/O ---------------------------------------------------------------------------------------
 */

/* Send what is due.  Returns -1 when the connection failed. */
static int flush_link(struct sim_server *s, struct link *l, uint64_t now)
{
	while (l->pending && now >= l->due_ns) {
		ssize_t n = s->have_pty ? write(l->fd, l->out + l->outoff, l->outlen - l->outoff)
					: send(l->fd, l->out + l->outoff, l->outlen - l->outoff,
					       MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0) {
			l->pending = 0;
			return s->have_pty ? 0 : -1;
		}
		if (l->outoff == 0)
			trace(s, "tx", l->out, l->outlen);
		l->outoff += (size_t)n;
		if (l->outoff == l->outlen)
			l->pending = 0;
	}
	return 0;
}

static int serve_link(struct sim_server *s, struct link *l, uint64_t now)
{
	if (flush_link(s, l, now))
		return -1;
	while (!l->pending) {
		int r;
		switch (s->conf.mode) {
		case SIM_MODE_TCP:
			r = tcp_frame(s, l, now);
			break;
		case SIM_MODE_RTU:
			r = rtu_frame(s, l, now);
			break;
		default:
			r = line_frame(s, l, now);
			break;
		}
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		if (flush_link(s, l, now))
			return -1;
	}
	return 0;
}

static int tcp_listen(struct sim_server *s, char *err, size_t errlen)
{
	int fd = socket(s->laddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, (struct sockaddr *)&s->laddr, s->laddr_len) || listen(fd, 16)) {
		snprintf(err, errlen, "%s:%ld: %s", s->conf.host, s->conf.port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return METRO_E_IO;
	}
	s->lfd = fd;
	return METRO_OK;
}

static void tcp_accept(struct sim_server *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->nlinks == MAX_LINKS || s->down) {
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	link_new(s, fd);
	if (s->conf.verbose)
		fprintf(stderr, "metrosim: client connected (%zu)\n", s->nlinks);
}

/* Read what is there.  Returns -1 when a TCP peer has gone. */
static int read_link(struct sim_server *s, struct link *l, uint64_t now)
{
	uint8_t scratch[IN_CAP];
	int discard = s->down; /* a pty that is "disconnected" hears nothing */
	uint8_t *dst = discard ? scratch : l->in + l->inlen;
	size_t cap = discard ? sizeof scratch : sizeof l->in - l->inlen;
	if (cap == 0)
		return 0;
	ssize_t n = s->have_pty ? read(l->fd, dst, cap) : recv(l->fd, dst, cap, 0);
	if (n == 0 && !s->have_pty)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR || s->have_pty ? 0 : -1;
	if (!discard) {
		l->inlen += (size_t)n;
		l->last_rx_ns = now;
	}
	return 0;
}

/* ---- disconnect fault ------------------------------------------------------------------------ */

static void go_down(struct sim_server *s)
{
	s->down = 1;
	s->fault->counts[SIM_F_DISCONNECT]++;
	if (s->conf.verbose)
		fprintf(stderr, "metrosim: fault disconnect: down\n");
	if (s->have_pty) {
		/* The instrument goes deaf: what was received or about to be sent is lost. */
		s->links[0]->inlen = 0;
		s->links[0]->pending = 0;
		return;
	}
	while (s->nlinks)
		link_close(s, s->nlinks - 1);
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1; /* new connections are refused while down */
}

static void go_up(struct sim_server *s)
{
	s->down = 0;
	s->outages++;
	if (s->conf.verbose)
		fprintf(stderr, "metrosim: fault disconnect: up\n");
	if (s->have_pty) {
		s->links[0]->inlen = 0;
		return;
	}
	char err[200];
	if (tcp_listen(s, err, sizeof err))
		fprintf(stderr, "metrosim: listening again: %s (retrying)\n", err);
}

static void disconnect_update(struct sim_server *s, uint64_t now)
{
	const struct sim_fault *f = s->fault;
	if (!f->configured[SIM_F_DISCONNECT])
		return;
	while (now >= s->next_change_ns) {
		if (!s->down) {
			go_down(s);
			s->next_change_ns += (uint64_t)(f->disc_down_s * 1e9);
		} else {
			go_up(s);
			if (f->disc_count && s->outages >= f->disc_count)
				s->next_change_ns = NEVER;
			else
				s->next_change_ns += (uint64_t)(f->disc_after_s * 1e9);
		}
	}
	/* If listening again failed (the port was briefly taken), keep trying. */
	if (!s->have_pty && !s->down && s->lfd < 0) {
		char err[200];
		tcp_listen(s, err, sizeof err);
	}
}

/* ---- open, run, close ----------------------------------------------------------------------- */

static int open_tcp(struct sim_server *s, char *err, size_t errlen)
{
	char port[16];
	snprintf(port, sizeof port, "%ld", s->conf.port);
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	const char *host = s->conf.host && *s->conf.host && strcmp(s->conf.host, "*") != 0
				   ? s->conf.host
				   : NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		snprintf(err, errlen, "%s: %s", s->conf.host, gai_strerror(gai));
		return METRO_E_INVAL;
	}
	int rc = METRO_E_IO;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		memcpy(&s->laddr, ai->ai_addr, ai->ai_addrlen);
		s->laddr_len = ai->ai_addrlen;
		rc = tcp_listen(s, err, errlen);
		if (!rc)
			break;
	}
	freeaddrinfo(res);
	if (rc)
		return rc;
	/* Port 0 picked a free port: from now on, that one (also after a disconnect fault). */
	getsockname(s->lfd, (struct sockaddr *)&s->laddr, &s->laddr_len);
	unsigned actual =
		ntohs(s->laddr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&s->laddr)->sin6_port
						     : ((struct sockaddr_in *)&s->laddr)->sin_port);
	s->conf.port = actual;
	const char *h = host ? host : "*";
	if (strchr(h, ':'))
		printf("listening [%s]:%u\n", h, actual);
	else
		printf("listening %s:%u\n", h, actual);
	fflush(stdout);
	return METRO_OK;
}

int sim_server_open(const struct sim_server_conf *conf, struct sim_rig *rig, struct sim_image *img,
		    struct sim_fault *fault, struct sim_line *line, struct sim_server **out,
		    char *err, size_t errlen)
{
	*out = NULL;
	struct sim_server *s = metro_calloc(1, sizeof *s);
	s->conf = *conf;
	s->rig = rig;
	s->img = img;
	s->fault = fault;
	s->line = line;
	s->lfd = -1;
	s->mb.img = img;
	s->mb.unit = conf->unit;
	metro_strlcpy(s->mb.ident, conf->ident ? conf->ident : "metrosim", sizeof s->mb.ident);
	long baud = conf->baud > 0 ? conf->baud : 115200;
	unsigned bits = conf->mode == SIM_MODE_RTU ? 11 : 10; /* RTU: 8 data + parity/2 stop */
	s->char_ns = (uint64_t)bits * 1000000000ull / (uint64_t)baud;
	/* The standard fixes t3.5 at 1.75 ms above 19200 baud; on a pty, where a client's write can
	 * be split by the scheduler, waiting less than a few milliseconds would cut frames. */
	uint64_t t35 = baud > 19200 ? 1750000ull : s->char_ns * 7 / 2;
	s->silence_ns = t35 > 5000000ull ? t35 : 5000000ull;
	/* Which faults this transport can carry. */
	fault->applicable[SIM_F_CRC] = conf->mode != SIM_MODE_TCP;
	fault->applicable[SIM_F_WRONGUNIT] = conf->mode != SIM_MODE_LINE;
	fault->applicable[SIM_F_EXCEPTION] = 1;
	int rc;
	if (conf->mode == SIM_MODE_TCP) {
		rc = open_tcp(s, err, errlen);
	} else {
		rc = sim_pty_open(&s->pty, baud, err, errlen);
		if (!rc) {
			s->have_pty = 1;
			link_new(s, s->pty.master);
			if (conf->pty_link)
				rc = sim_pty_link(&s->pty, conf->pty_link, err, errlen);
		}
		if (!rc) {
			printf("%s\n", s->pty.path);
			fflush(stdout);
		}
	}
	if (rc) {
		sim_server_close(&s);
		return rc;
	}
	uint64_t now = metro_now_ns();
	s->next_change_ns = fault->configured[SIM_F_DISCONNECT]
				    ? now + (uint64_t)(fault->disc_after_s * 1e9)
				    : NEVER;
	*out = s;
	return METRO_OK;
}

static void add_timeout(uint64_t *timeout, uint64_t at, uint64_t now)
{
	uint64_t d = at > now ? at - now : 0;
	if (d < *timeout)
		*timeout = d;
}

int sim_server_run(struct sim_server *s, const sigset_t *waitmask, volatile sig_atomic_t *stop)
{
	struct pollfd pfd[MAX_LINKS + 1];
	while (!*stop) {
		uint64_t now = metro_now_ns();
		disconnect_update(s, now);
		sim_rig_advance(s->rig, now);
		for (size_t i = 0; i < s->nlinks;) {
			if (!s->down && serve_link(s, s->links[i], now)) {
				link_close(s, i);
				continue;
			}
			i++;
		}
		uint64_t timeout = TICK_NS;
		add_timeout(&timeout, s->next_change_ns, now);
		nfds_t n = 0;
		int lidx = -1;
		if (s->lfd >= 0) {
			lidx = (int)n;
			pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		}
		size_t first = n;
		for (size_t i = 0; i < s->nlinks; i++) {
			struct link *l = s->links[i];
			short ev = l->inlen < sizeof l->in ? POLLIN : 0;
			if (l->pending && now >= l->due_ns)
				ev |= POLLOUT;
			else if (l->pending)
				add_timeout(&timeout, l->due_ns, now);
			if (s->conf.mode == SIM_MODE_RTU && l->inlen)
				add_timeout(&timeout, l->last_rx_ns + s->silence_ns, now);
			pfd[n++] = (struct pollfd){.fd = l->fd, .events = ev};
		}
		struct timespec ts = {.tv_sec = (time_t)(timeout / 1000000000ull),
				      .tv_nsec = (long)(timeout % 1000000000ull)};
		int rc = ppoll(pfd, n, &ts, waitmask);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			fprintf(stderr, "metrosim: poll: %s\n", strerror(errno));
			return METRO_E_IO;
		}
		now = metro_now_ns();
		/* Links first (indexes in pfd follow the order above), then new connections. */
		size_t nl = s->nlinks;
		for (size_t k = nl; k-- > 0;) {
			short re = pfd[first + k].revents;
			if (re & (POLLIN | POLLHUP | POLLERR)) {
				if (read_link(s, s->links[k], now) && !s->have_pty)
					link_close(s, k);
			}
		}
		if (lidx >= 0 && (pfd[lidx].revents & POLLIN) && s->lfd >= 0)
			tcp_accept(s);
	}
	return METRO_OK;
}

void sim_server_close(struct sim_server **ps)
{
	struct sim_server *s = *ps;
	if (!s)
		return;
	*ps = NULL;
	while (s->nlinks)
		link_close(s, s->nlinks - 1);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->have_pty)
		sim_pty_close(&s->pty);
	if (s->conf.verbose && s->bad_frames)
		fprintf(stderr, "metrosim: %llu malformed frames dropped\n", s->bad_frames);
	free(s);
}
