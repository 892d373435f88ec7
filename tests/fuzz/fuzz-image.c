/* libFuzzer target: the image layer (src/image/image.c) on arbitrary files.
 * The first input byte picks the mode:
 *   even: the rest is written as an image file as is, and read as every
 *         metadata image type (with its message) and every raw image type
 *         -- this exercises the header checks;
 *   odd:  the rest is a payload; a header with correct checksums is put in
 *         front, so protobuf decoding of EVERY message type is reached (the
 *         checksums would stop a fuzzer otherwise).
 * Built by tests/fuzz/build.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "core.pb-c.h"
#include "files.pb-c.h"
#include "image/image.h"
#include "inventory.pb-c.h"
#include "mm.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dirfd_ = -1;

static const ProtobufCMessageDescriptor *const by_type[IMG_TYPE_MAX] = {
        [IMG_INVENTORY] = &inventory_entry__descriptor,
        [IMG_PSTREE] = &pstree__descriptor,
        [IMG_CORE] = &task_core__descriptor,
        [IMG_MM] = &mm_entry__descriptor,
        [IMG_PAGEMAP] = &pagemap__descriptor,
        [IMG_FILES] = &files__descriptor,
        [IMG_FDS] = &fdtable__descriptor,
};

static const ProtobufCMessageDescriptor *const all_msgs[] = {
        &inventory_entry__descriptor, &pstree_entry__descriptor,   &pstree__descriptor,
        &user_regs_x86__descriptor,   &siginfo_entry__descriptor,  &sigaltstack_entry__descriptor,
        &rseq_entry__descriptor,      &creds_entry__descriptor,    &thread_core__descriptor,
        &sigaction_entry__descriptor, &itimer_entry__descriptor,   &posix_timer_entry__descriptor,
        &rlimit_entry__descriptor,    &task_core__descriptor,      &vma_entry__descriptor,
        &mm_entry__descriptor,        &pagemap_entry__descriptor,  &pagemap__descriptor,
        &reg_file_entry__descriptor,  &pipe_entry__descriptor,     &pipe_data_entry__descriptor,
        &eventfd_entry__descriptor,   &epoll_tfd_entry__descriptor, &epoll_entry__descriptor,
        &timerfd_entry__descriptor,   &signalfd_entry__descriptor, &inotify_wd_entry__descriptor,
        &inotify_entry__descriptor,   &memfd_entry__descriptor,    &unix_msg_entry__descriptor,
        &unix_entry__descriptor,      &file_entry__descriptor,     &files__descriptor,
        &fd_entry__descriptor,        &fdtable__descriptor,
};

static void put(const uint8_t *b, size_t n) {
        int fd = openat(dirfd_, "f.img", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
                abort();
        while (n) {
                ssize_t w = write(fd, b, n);
                if (w <= 0)
                        abort();
                b += w;
                n -= w;
        }
        close(fd);
}

static void try_all(uint64_t id) {
        for (int t = 0; t < IMG_TYPE_MAX; t++) {
                if (by_type[t]) {
                        ProtobufCMessage *m = NULL;
                        if (img_read_msg(dirfd_, "f.img", t, id, by_type[t], &m, NULL) == 0)
                                img_msg_free(m);
                }
                int fd = -1;
                uint64_t len;
                if (img_raw_open(dirfd_, "f.img", t, id, &fd, &len) == 0)
                        close(fd);
        }
        int fd = openat(dirfd_, "f.img", O_RDONLY);
        struct img_header h;
        if (fd >= 0) {
                (void)img_read_header(fd, &h);
                close(fd);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (dirfd_ < 0) {
                char tmpl[] = "/tmp/cryo-fuzz-image.XXXXXX";
                log_setup(LOG_ERR, NULL);
                if (!mkdtemp(tmpl))
                        abort();
                dirfd_ = open(tmpl, O_RDONLY | O_DIRECTORY);
        }
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        data++;
        size--;
        if (!(mode & 1)) {
                put(data, size);
                try_all(0);
                try_all(0x1122334455667788ull);
                return 0;
        }
        /* a valid header around the payload: metadata layout, then raw layout */
        const uint64_t id = 0xc0ffee;
        uint8_t *b = calloc(1, IMG_RAW_DATA_OFF + size + 1);
        struct img_header *h = (struct img_header *)b;
        h->magic = IMG_MAGIC;
        h->type = IMG_CORE;
        h->version = IMG_VERSION;
        h->data_off = IMG_HDR_SIZE;
        h->ckpt_id = id;
        h->payload_len = size;
        h->payload_hash = img_hash(data, size);
        h->hdr_hash = img_hash(h, offsetof(struct img_header, hdr_hash));
        memcpy(b + IMG_HDR_SIZE, data, size);
        put(b, IMG_HDR_SIZE + size);
        for (size_t i = 0; i < sizeof(all_msgs) / sizeof(all_msgs[0]); i++) {
                ProtobufCMessage *m = NULL;
                if (img_read_msg(dirfd_, "f.img", IMG_CORE, id, all_msgs[i], &m, NULL) == 0)
                        img_msg_free(m);
        }
        memset(b, 0, IMG_RAW_DATA_OFF);
        h->magic = IMG_MAGIC;
        h->type = (mode >> 1) % IMG_TYPE_MAX;
        h->version = IMG_VERSION;
        h->data_off = IMG_RAW_DATA_OFF;
        h->ckpt_id = id;
        h->payload_len = size;
        h->payload_hash = img_hash(data, size);
        h->hdr_hash = img_hash(h, offsetof(struct img_header, hdr_hash));
        memcpy(b + IMG_RAW_DATA_OFF, data, size);
        put(b, IMG_RAW_DATA_OFF + size);
        int fd = -1;
        uint64_t len;
        if (img_raw_open(dirfd_, "f.img", h->type, id, &fd, &len) == 0)
                close(fd);
        free(b);
        return 0;
}
