/* Unit tests of the image layer (src/image/image.c): metadata images
 * (header + protobuf) and raw images (header page + payload) are written and
 * read back in a temporary directory; then every kind of damage -- each
 * header byte flipped, payload bytes flipped, every truncation, trailing
 * bytes, the wrong image type, another checkpoint's id, a bad magic, a
 * non-image file -- must be refused. TAP output. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "core.pb-c.h"
#include "image/image.h"
#include "inventory.pb-c.h"
#include "tap.h"

static int dirfd_;
static char dir[256];

static uint8_t *slurp(const char *name, size_t *len) {
        int fd = openat(dirfd_, name, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st))
                return NULL;
        uint8_t *b = malloc(st.st_size + 1);
        *len = pread(fd, b, st.st_size, 0);
        close(fd);
        return b;
}

static void spit(const char *name, const uint8_t *b, size_t len) {
        int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, b, len) != (ssize_t)len) {
                printf("Bail out! cannot write %s\n", name);
                exit(1);
        }
        close(fd);
}

static int read_inv(const char *name, uint64_t id, InventoryEntry **ret, uint64_t *ret_id) {
        ProtobufCMessage *m = NULL;
        int r = img_read_msg(dirfd_, name, IMG_INVENTORY, id, &inventory_entry__descriptor, &m, ret_id);
        if (r == 0)
                *ret = (InventoryEntry *)m;
        return r;
}

static int read_raw(const char *name, enum img_type t, uint64_t id, uint64_t *len) {
        int fd = -1;
        int r = img_raw_open(dirfd_, name, t, id, &fd, len);
        if (r == 0)
                close(fd);
        return r;
}

#define ID 0x1122334455667788ull

static void test_msg(void) {
        InventoryEntry inv = INVENTORY_ENTRY__INIT;
        inv.img_version = 1;
        inv.tool_version = "test";
        inv.kernel_release = "6.18";
        inv.root_pid = 4242;
        inv.xfeatures = 0xe7;
        inv.xsave_size = 2432;
        inv.hostname = "unit";
        is_int(img_write_msg(dirfd_, "inventory.img", IMG_INVENTORY, ID, &inv.base), 0, "msg: write");

        InventoryEntry *got = NULL;
        uint64_t gid = 0;
        is_int(read_inv("inventory.img", ID, &got, &gid), 0, "msg: read back");
        if (got) {
                is_int(got->root_pid, 4242, "msg: root_pid");
                is_str(got->tool_version, "test", "msg: tool_version");
                is_u64(got->xfeatures, 0xe7, "msg: xfeatures");
                is_str(got->hostname, "unit", "msg: hostname");
                img_msg_free(&got->base);
                got = NULL;
        }
        is_u64(gid, ID, "msg: checkpoint id returned");
        is_int(read_inv("inventory.img", 0, &got, &gid), 0, "msg: id 0 accepts any checkpoint");
        if (got)
                img_msg_free(&got->base);
        got = NULL;
        ok(read_inv("inventory.img", ID + 1, &got, NULL) < 0, "msg: another checkpoint's id is refused");
        ProtobufCMessage *m = NULL;
        ok(img_read_msg(dirfd_, "inventory.img", IMG_CORE, ID, &task_core__descriptor, &m, NULL) < 0,
           "msg: the wrong image type is refused");
        ok(img_read_msg(dirfd_, "nonexistent.img", IMG_INVENTORY, ID, &inventory_entry__descriptor, &m, NULL) < 0,
           "msg: a missing file is refused");

        size_t len;
        uint8_t *orig = slurp("inventory.img", &len);
        ok(orig && len > IMG_HDR_SIZE, "msg: file has a header and a payload");
        struct img_header h;
        memcpy(&h, orig, sizeof(h));
        is_int(h.magic, IMG_MAGIC, "msg: magic");
        is_int(h.type, IMG_INVENTORY, "msg: type in header");
        is_int(h.data_off, IMG_HDR_SIZE, "msg: data offset");
        is_u64(h.payload_len, len - IMG_HDR_SIZE, "msg: payload length");

        /* every header byte flipped */
        int hdr_ok = 1;
        for (size_t i = 0; i < IMG_HDR_SIZE; i++) {
                uint8_t *b = malloc(len);
                memcpy(b, orig, len);
                b[i] ^= 0x01;
                spit("bad.img", b, len);
                got = NULL;
                if (read_inv("bad.img", ID, &got, NULL) == 0) {
                        hdr_ok = 0;
                        printf("#   header byte %zu flipped was accepted\n", i);
                        img_msg_free(&got->base);
                }
                free(b);
        }
        ok(hdr_ok, "msg: each of the 64 header bytes flipped is refused");
        int pay_ok = 1;
        for (size_t i = IMG_HDR_SIZE; i < len; i++) {
                uint8_t *b = malloc(len);
                memcpy(b, orig, len);
                b[i] ^= 0x80;
                spit("bad.img", b, len);
                got = NULL;
                if (read_inv("bad.img", ID, &got, NULL) == 0) {
                        pay_ok = 0;
                        printf("#   payload byte %zu flipped was accepted\n", i);
                        img_msg_free(&got->base);
                }
                free(b);
        }
        ok(pay_ok, "msg: each payload byte flipped is refused");
        int trunc_ok = 1;
        for (size_t l = 0; l < len; l++) {
                spit("bad.img", orig, l);
                got = NULL;
                if (read_inv("bad.img", ID, &got, NULL) == 0) {
                        trunc_ok = 0;
                        printf("#   truncation to %zu bytes was accepted\n", l);
                        img_msg_free(&got->base);
                }
        }
        ok(trunc_ok, "msg: every truncation is refused");
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, orig, len);
        longer[len] = 0;
        spit("bad.img", longer, len + 1);
        got = NULL;
        ok(read_inv("bad.img", ID, &got, NULL) < 0, "msg: a trailing byte is refused");
        free(longer);
        /* a consistent header around a payload that is not a protobuf */
        uint8_t junk[IMG_HDR_SIZE + 16];
        struct img_header *jh = (struct img_header *)junk;
        memset(junk, 0xff, sizeof(junk));
        memset(jh, 0, sizeof(*jh));
        jh->magic = IMG_MAGIC;
        jh->type = IMG_INVENTORY;
        jh->version = IMG_VERSION;
        jh->data_off = IMG_HDR_SIZE;
        jh->ckpt_id = ID;
        jh->payload_len = 16;
        jh->payload_hash = img_hash(junk + IMG_HDR_SIZE, 16);
        jh->hdr_hash = img_hash(jh, offsetof(struct img_header, hdr_hash));
        spit("bad.img", junk, sizeof(junk));
        got = NULL;
        ok(read_inv("bad.img", ID, &got, NULL) < 0, "msg: a checksummed payload that is not protobuf is refused");
        /* version */
        jh->version = IMG_VERSION + 1;
        jh->hdr_hash = img_hash(jh, offsetof(struct img_header, hdr_hash));
        spit("bad.img", junk, sizeof(junk));
        ok(read_inv("bad.img", ID, &got, NULL) < 0, "msg: a newer format version is refused");
        /* random non-image */
        uint8_t rnd[200];
        for (size_t i = 0; i < sizeof(rnd); i++)
                rnd[i] = (uint8_t)(i * 151 + 7);
        spit("bad.img", rnd, sizeof(rnd));
        ok(read_inv("bad.img", ID, &got, NULL) < 0, "msg: a non-image file is refused");
        free(orig);
}

static void test_raw(void) {
        struct img_raw_writer w;
        uint8_t data[10000];
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t)(i ^ (i >> 7));
        is_int(img_raw_create(dirfd_, "pages-1.img", IMG_PAGES, ID, &w), 0, "raw: create");
        is_int(img_raw_append(&w, data, 3000), 0, "raw: append 1");
        is_int(img_raw_append(&w, data + 3000, 4096), 0, "raw: append 2");
        is_int(img_raw_append(&w, data + 7096, sizeof(data) - 7096), 0, "raw: append 3");
        is_int(img_raw_finish(&w), 0, "raw: finish");

        int fd = -1;
        uint64_t len = 0;
        is_int(img_raw_open(dirfd_, "pages-1.img", IMG_PAGES, ID, &fd, &len), 0, "raw: open verifies");
        is_u64(len, sizeof(data), "raw: payload length");
        if (fd >= 0) {
                uint8_t back[sizeof(data)];
                ok(pread(fd, back, sizeof(back), IMG_RAW_DATA_OFF) == (ssize_t)sizeof(back) &&
                           memcmp(back, data, sizeof(data)) == 0,
                   "raw: payload at IMG_RAW_DATA_OFF reads back");
                close(fd);
        }
        ok(read_raw("pages-1.img", IMG_PAGEMAP, ID, &len) < 0, "raw: wrong type refused");
        ok(read_raw("pages-1.img", IMG_PAGES, ID ^ 1, &len) < 0, "raw: wrong checkpoint id refused");
        is_int(read_raw("pages-1.img", IMG_PAGES, 0, &len), 0, "raw: id 0 accepts any checkpoint");

        size_t flen;
        uint8_t *orig = slurp("pages-1.img", &flen);
        is_u64(flen, IMG_RAW_DATA_OFF + sizeof(data), "raw: file size is header page + payload");
        const size_t offs[] = { 0, 3, 4, 8, 12, 16, 24, 32, 40, 48, 56, 63, 64, 4095, 4096, 4097, 9000, flen - 1 };
        for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
                uint8_t *b = malloc(flen);
                memcpy(b, orig, flen);
                b[offs[k]] ^= 0x10;
                spit("bad-raw.img", b, flen);
                int r = read_raw("bad-raw.img", IMG_PAGES, ID, &len);
                char what[96];
                snprintf(what, sizeof(what), "raw: byte %zu flipped is %s", offs[k],
                         offs[k] >= 64 && offs[k] < 4096 ? "harmless padding or refused" : "refused");
                if (offs[k] >= 64 && offs[k] < 4096)
                        ok(1, what); /* the padding of the header page is not covered */
                else
                        ok(r < 0, what);
                free(b);
        }
        const size_t cuts[] = { 0, 1, 63, 64, 100, 4095, 4096, 4097, flen - 1 };
        for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
                spit("bad-raw.img", orig, cuts[k]);
                char what[64];
                snprintf(what, sizeof(what), "raw: truncation to %zu bytes is refused", cuts[k]);
                ok(read_raw("bad-raw.img", IMG_PAGES, ID, &len) < 0, what);
        }
        free(orig);
        /* empty raw image */
        is_int(img_raw_create(dirfd_, "empty.img", IMG_BLOB, ID, &w), 0, "raw: create empty");
        is_int(img_raw_finish(&w), 0, "raw: finish empty");
        is_int(read_raw("empty.img", IMG_BLOB, ID, &len), 0, "raw: empty image opens");
        is_u64(len, 0, "raw: empty payload");
        /* a metadata image is not a raw image and vice versa */
        ok(read_raw("inventory.img", IMG_INVENTORY, ID, &len) < 0, "raw: a metadata image is not opened as raw");
        InventoryEntry *got = NULL;
        ProtobufCMessage *m = NULL;
        ok(img_read_msg(dirfd_, "pages-1.img", IMG_PAGES, ID, &inventory_entry__descriptor, &m, NULL) < 0,
           "msg: a raw image is not read as metadata");
        (void)got;
        struct img_header h;
        int sfd = openat(dirfd_, "bad-raw.img", O_RDWR | O_TRUNC);
        ok(sfd >= 0 && write(sfd, "CRYO", 4) == 4, "raw: write a 4-byte file");
        ok(img_read_header(sfd, &h) < 0, "header: a short file has no header");
        close(sfd);
        ok(strcmp(img_type_name(IMG_PAGES), "pages") == 0, "img_type_name(IMG_PAGES)");
        ok(strcmp(img_type_name((enum img_type)999), "unknown") == 0, "img_type_name(999)");
}

static void rm_rf(void) {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        unlinkat(dirfd_, de->d_name, 0);
        if (d)
                closedir(d);
        rmdir(dir);
}

int main(void) {
        log_setup(LOG_ERR, NULL);
        snprintf(dir, sizeof(dir), "/tmp/cryo-test-image.XXXXXX");
        if (!mkdtemp(dir)) {
                printf("Bail out! mkdtemp\n");
                return 1;
        }
        dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
        test_msg();
        test_raw();
        rm_rf();
        return tap_done();
}
