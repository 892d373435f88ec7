#define LOG_PREFIX "image: "
#include "image/image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "basic/log.h"
#include "basic/util.h"

static const char *const type_names[IMG_TYPE_MAX] = {
        [IMG_INVENTORY] = "inventory", [IMG_PSTREE] = "pstree", [IMG_CORE] = "core",
        [IMG_MM] = "mm",               [IMG_PAGEMAP] = "pagemap", [IMG_PAGES] = "pages",
        [IMG_FILES] = "files",         [IMG_FDS] = "fds",       [IMG_BLOB] = "blob",
        [IMG_IPC] = "ipc",
};

const char *img_type_name(enum img_type t) {
        return (unsigned)t < IMG_TYPE_MAX ? type_names[t] : "unknown";
}

uint64_t img_hash(const void *p, size_t len) {
        return XXH3_64bits(p, len);
}

static void hdr_fill(struct img_header *h, enum img_type type, uint64_t id, uint32_t off, uint64_t len,
                     uint64_t hash) {
        memset(h, 0, sizeof(*h));
        h->magic = IMG_MAGIC;
        h->type = type;
        h->version = IMG_VERSION;
        h->data_off = off;
        h->ckpt_id = id;
        h->payload_len = len;
        h->payload_hash = hash;
        h->hdr_hash = img_hash(h, offsetof(struct img_header, hdr_hash));
}

int img_read_header(int fd, struct img_header *ret) {
        struct img_header h;
        ssize_t n = pread(fd, &h, sizeof(h), 0);
        if (n < 0)
                return -errno;
        if (n != sizeof(h))
                return -EBADMSG;
        *ret = h;
        return 0;
}

/* Checks everything the header alone can tell; file_size is the real size. */
static int hdr_check(const struct img_header *h, const char *name, enum img_type type, uint64_t id,
                     uint64_t file_size) {
        if (h->magic != IMG_MAGIC)
                return log_error_errno(-EBADMSG, "image '%s' is not a cryo image (bad magic)", name);
        if (h->hdr_hash != img_hash(h, offsetof(struct img_header, hdr_hash)))
                return log_error_errno(-EBADMSG, "image '%s' has a corrupted header (checksum mismatch)", name);
        if (h->version != IMG_VERSION)
                return log_error_errno(-EPROTO, "image '%s' has format version %u, this cryo reads %u", name,
                                       h->version, IMG_VERSION);
        if (h->type != (uint32_t)type)
                return log_error_errno(-EBADMSG, "image '%s' is a %s image, expected %s", name,
                                       img_type_name(h->type), img_type_name(type));
        if (id && h->ckpt_id != id)
                return log_error_errno(-EXDEV, "image '%s' belongs to another checkpoint (id %016llx, expected %016llx)",
                                       name, (unsigned long long)h->ckpt_id, (unsigned long long)id);
        if (h->data_off < IMG_HDR_SIZE || h->data_off > IMG_RAW_DATA_OFF || file_size < h->data_off ||
            file_size - h->data_off != h->payload_len)
                return log_error_errno(-EBADMSG, "image '%s' is truncated or has trailing data (%llu bytes, header says %llu)",
                                       name, (unsigned long long)file_size,
                                       (unsigned long long)(h->data_off + h->payload_len));
        return 0;
}

/* Images are regular files. A FIFO (or a device) named like one would block
 * the open or the reads forever, or take the writes: open without blocking,
 * refuse anything else; an image name that is a symlink is not written
 * through. */
static int img_open(int dirfd, const char *name, int flags, const char *what) {
        struct stat st;
        int fd = openat(dirfd, name, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
        if (fd < 0)
                return log_error_errno(-errno, "cannot %s image '%s': %m", what, name);
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return log_error_errno(r, "cannot stat image '%s': %m", name);
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return log_error_errno(-EINVAL, "cannot %s image '%s': not a regular file", what, name);
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
                int r = -errno;
                close(fd);
                return log_error_errno(r, "cannot %s image '%s': %m", what, name);
        }
        return fd;
}

int img_write_msg(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, const ProtobufCMessage *msg) {
        size_t len = protobuf_c_message_get_packed_size(msg);
        _cleanup_free_ uint8_t *buf = xzalloc(IMG_HDR_SIZE + len);
        _cleanup_close_ int fd = -EBADF;
        int r;

        protobuf_c_message_pack(msg, buf + IMG_HDR_SIZE);
        hdr_fill((struct img_header *)buf, type, ckpt_id, IMG_HDR_SIZE, len, img_hash(buf + IMG_HDR_SIZE, len));
        fd = img_open(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, "create");
        if (fd < 0)
                return fd;
        r = write_all(fd, buf, IMG_HDR_SIZE + len);
        if (r < 0)
                return log_error_errno(r, "cannot write image '%s': %m", name);
        if (close(TAKE_FD(fd)) < 0)
                return log_error_errno(-errno, "cannot write image '%s': %m", name);
        return 0;
}

int img_read_msg(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret_msg, uint64_t *ret_ckpt_id) {
        _cleanup_close_ int fd = img_open(dirfd, name, O_RDONLY, "open");
        _cleanup_free_ uint8_t *buf = NULL;
        struct img_header h;
        struct stat st;
        ProtobufCMessage *m;
        int r;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "cannot stat image '%s': %m", name);
        r = img_read_header(fd, &h);
        if (r < 0)
                return log_error_errno(r == -EBADMSG ? r : r, "image '%s' is truncated (no complete header)", name);
        r = hdr_check(&h, name, type, ckpt_id, st.st_size);
        if (r < 0)
                return r;
        if (h.data_off != IMG_HDR_SIZE)
                return log_error_errno(-EBADMSG, "image '%s' has a bad data offset", name);
        if (h.payload_len > (1ULL << 31))
                return log_error_errno(-EFBIG, "image '%s' is implausibly large", name);
        buf = xzalloc(h.payload_len + 1);
        r = pread_all(fd, buf, h.payload_len, h.data_off);
        if (r < 0)
                return log_error_errno(r, "cannot read image '%s': %m", name);
        if (img_hash(buf, h.payload_len) != h.payload_hash)
                return log_error_errno(-EBADMSG, "image '%s' is corrupted (checksum mismatch)", name);
        m = protobuf_c_message_unpack(desc, NULL, h.payload_len, buf);
        if (!m)
                return log_error_errno(-EBADMSG, "image '%s' cannot be decoded", name);
        *ret_msg = m;
        if (ret_ckpt_id)
                *ret_ckpt_id = h.ckpt_id;
        return 0;
}

void img_msg_free(ProtobufCMessage *msg) {
        if (msg)
                protobuf_c_message_free_unpacked(msg, NULL);
}

int img_raw_create(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, struct img_raw_writer *w) {
        XXH3_state_t *st;
        int fd = img_open(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW, "create");
        if (fd < 0)
                return fd;
        st = XXH3_createState();
        if (!st)
                abort();
        XXH3_64bits_reset(st);
        *w = (struct img_raw_writer){ .fd = fd, .type = type, .ckpt_id = ckpt_id, .hash_state = st,
                                      .name = xstrdup(name) };
        if (lseek(fd, IMG_RAW_DATA_OFF, SEEK_SET) < 0) {
                int r = log_error_errno(-errno, "cannot seek in image '%s': %m", name);
                img_raw_abort(w);
                return r;
        }
        return 0;
}

int img_raw_append(struct img_raw_writer *w, const void *buf, size_t len) {
        int r = write_all(w->fd, buf, len);
        if (r < 0)
                return log_error_errno(r, "cannot write image '%s': %m", w->name);
        XXH3_64bits_update(w->hash_state, buf, len);
        w->len += len;
        return 0;
}

void img_raw_abort(struct img_raw_writer *w) {
        w->fd = safe_close(w->fd);
        if (w->hash_state)
                XXH3_freeState(w->hash_state);
        w->hash_state = NULL;
        free(w->name);
        w->name = NULL;
}

int img_raw_finish(struct img_raw_writer *w) {
        uint8_t hdr[IMG_RAW_DATA_OFF] = { 0 };
        int r;

        hdr_fill((struct img_header *)hdr, w->type, w->ckpt_id, IMG_RAW_DATA_OFF, w->len,
                 XXH3_64bits_digest(w->hash_state));
        r = pwrite_all(w->fd, hdr, sizeof(hdr), 0);
        if (r < 0)
                r = log_error_errno(r, "cannot write image '%s': %m", w->name);
        else if (close(TAKE_FD(w->fd)) < 0)
                r = log_error_errno(-errno, "cannot write image '%s': %m", w->name);
        img_raw_abort(w);
        return r;
}

int img_raw_open(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, int *ret_fd, uint64_t *ret_len) {
        _cleanup_close_ int fd = img_open(dirfd, name, O_RDONLY, "open");
        struct img_header h;
        struct stat st;
        uint64_t hash;
        int r;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "cannot stat image '%s': %m", name);
        r = img_read_header(fd, &h);
        if (r < 0)
                return log_error_errno(r, "image '%s' is truncated (no complete header)", name);
        r = hdr_check(&h, name, type, ckpt_id, st.st_size);
        if (r < 0)
                return r;
        if (h.data_off != IMG_RAW_DATA_OFF)
                return log_error_errno(-EBADMSG, "image '%s' has a bad data offset", name);
        {
                /* 1 MiB preads beat a populated mapping here (no page-table work) */
                const size_t CH = 1 << 20;
                _cleanup_free_ uint8_t *buf = xzalloc(CH);
                XXH3_state_t *xs = XXH3_createState();
                if (!xs)
                        abort();
                XXH3_64bits_reset(xs);
                posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
                for (uint64_t off = 0; off < h.payload_len;) {
                        size_t want = MIN(h.payload_len - off, (uint64_t)CH);
                        r = pread_all(fd, buf, want, IMG_RAW_DATA_OFF + off);
                        if (r < 0) {
                                XXH3_freeState(xs);
                                return log_error_errno(r, "cannot read image '%s': %m", name);
                        }
                        XXH3_64bits_update(xs, buf, want);
                        off += want;
                }
                hash = XXH3_64bits_digest(xs);
                XXH3_freeState(xs);
        }
        if (hash != h.payload_hash)
                return log_error_errno(-EBADMSG, "image '%s' is corrupted (checksum mismatch)", name);
        *ret_fd = TAKE_FD(fd);
        if (ret_len)
                *ret_len = h.payload_len;
        return 0;
}
