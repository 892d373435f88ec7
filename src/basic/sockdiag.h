#pragma once
/* NETLINK_SOCK_DIAG queries over raw netlink (no libmnl): one unix socket,
 * looked up by inode in the caller's network namespace. */
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct unix_diag_info {
        uint32_t ino;
        uint8_t type;  /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
        uint8_t state; /* TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE */
        bool has_name; /* bound: name[0] == 0 for an abstract address */
        char name[109];
        uint32_t name_len;
        bool has_peer;
        uint32_t peer_ino; /* 0: the peer was closed */
        bool has_rqlen;
        uint32_t rqueue, wqueue;
        bool has_shutdown;
        uint8_t shutdown; /* sk_shutdown: 1 RCV, 2 SEND */
        bool has_vfs;     /* bound to a filesystem name: the socket file */
        uint32_t vfs_ino, vfs_dev;
        uint32_t *icons;  /* listener: the clients waiting in its accept queue (0: closed), oldest first */
        size_t nicons;
};

/* -ENOENT if no unix socket has this inode (in this netns). ret->icons is
 * allocated: release with unix_diag_info_done(). */
int sockdiag_unix_by_ino(uint32_t ino, struct unix_diag_info *ret);
void unix_diag_info_done(struct unix_diag_info *i);
