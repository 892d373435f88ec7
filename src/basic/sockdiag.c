/* NETLINK_SOCK_DIAG for AF_UNIX: an exact lookup by inode
 * (unix_diag_req without NLM_F_DUMP, cookie "none"), attributes NAME, VFS,
 * PEER, ICONS, RQLEN and SHUTDOWN (the kernel always adds SHUTDOWN). */
#include "basic/sockdiag.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/util.h"

static int parse_reply(const struct nlmsghdr *h, size_t len, uint32_t seq, uint32_t ino,
                       struct unix_diag_info *ret) {
        for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                if (h->nlmsg_seq != seq)
                        continue;
                if (h->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *e = NLMSG_DATA(h);
                        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                return -EBADMSG;
                        return e->error ? e->error : -ENOENT;
                }
                if (h->nlmsg_type == NLMSG_DONE)
                        return -ENOENT;
                if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
                        continue;
                const struct unix_diag_msg *m = NLMSG_DATA(h);
                if (m->udiag_ino != ino)
                        continue;
                *ret = (struct unix_diag_info){ .ino = m->udiag_ino, .type = m->udiag_type, .state = m->udiag_state };
                size_t alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
                const struct nlattr *a = (const void *)((const char *)m + NLMSG_ALIGN(sizeof(*m)));
                while (alen >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= alen) {
                        const void *p = (const char *)a + NLA_HDRLEN;
                        size_t plen = a->nla_len - NLA_HDRLEN;
                        switch (a->nla_type & NLA_TYPE_MASK) {
                        case UNIX_DIAG_NAME:
                                ret->has_name = true;
                                ret->name_len = MIN(plen, sizeof(ret->name) - 1);
                                memcpy(ret->name, p, ret->name_len);
                                break;
                        case UNIX_DIAG_PEER:
                                if (plen >= 4) {
                                        ret->has_peer = true;
                                        memcpy(&ret->peer_ino, p, 4);
                                }
                                break;
                        case UNIX_DIAG_RQLEN:
                                if (plen >= sizeof(struct unix_diag_rqlen)) {
                                        struct unix_diag_rqlen q;
                                        memcpy(&q, p, sizeof(q));
                                        ret->has_rqlen = true;
                                        ret->rqueue = q.udiag_rqueue;
                                        ret->wqueue = q.udiag_wqueue;
                                }
                                break;
                        case UNIX_DIAG_VFS:
                                if (plen >= sizeof(struct unix_diag_vfs)) {
                                        struct unix_diag_vfs v;
                                        memcpy(&v, p, sizeof(v));
                                        ret->has_vfs = true;
                                        ret->vfs_ino = v.udiag_vfs_ino;
                                        ret->vfs_dev = v.udiag_vfs_dev;
                                }
                                break;
                        case UNIX_DIAG_ICONS:
                                free(ret->icons);
                                ret->nicons = plen / sizeof(uint32_t);
                                ret->icons = xzalloc(ret->nicons * sizeof(uint32_t) + 1);
                                memcpy(ret->icons, p, ret->nicons * sizeof(uint32_t));
                                break;
                        case UNIX_DIAG_SHUTDOWN:
                                if (plen >= 1) {
                                        ret->has_shutdown = true;
                                        ret->shutdown = *(const uint8_t *)p;
                                }
                                break;
                        }
                        size_t step = NLA_ALIGN(a->nla_len);
                        if (step >= alen)
                                break;
                        alen -= step;
                        a = (const void *)((const char *)a + step);
                }
                return 0;
        }
        return 1; /* need more */
}

int sockdiag_unix_by_ino(uint32_t ino, struct unix_diag_info *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct {
                struct nlmsghdr h;
                struct unix_diag_req r;
        } req = {
                .h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST,
                       .nlmsg_seq = 1 },
                .r = { .sdiag_family = AF_UNIX, .udiag_states = -1, .udiag_ino = ino,
                       .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
                                     UDIAG_SHOW_RQLEN,
                       .udiag_cookie = { ~0U, ~0U } },
        };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        /* a listener's icons take 4 bytes per waiting connection: size the
         * buffer to the reply */
        size_t cap = 0;
        _cleanup_free_ char *buf = NULL;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        for (;;) {
                ssize_t want = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
                if (want < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if ((size_t)want > cap) {
                        free(buf);
                        cap = ALIGN_UP((size_t)want, 4096);
                        buf = xzalloc(cap);
                }
                ssize_t n = recv(fd, buf, cap, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENOENT;
                int r = parse_reply((const struct nlmsghdr *)buf, n, req.h.nlmsg_seq, ino, ret);
                if (r <= 0)
                        return r;
        }
}

void unix_diag_info_done(struct unix_diag_info *i) {
        free(i->icons);
        i->icons = NULL;
        i->nicons = 0;
}
