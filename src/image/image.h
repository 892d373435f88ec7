#pragma once
/* Image files. Every file in a checkpoint directory starts with a 64-byte
 * header: magic, image type, format version, the checkpoint's random id
 * (so files of different checkpoints cannot be mixed), payload length, an
 * XXH3-64 of the payload and an XXH3-64 of the header itself.
 *  - metadata images: header + one protobuf-c message;
 *  - raw images (pages, blobs): header padded to 4096 bytes, then the raw
 *    bytes, page aligned, so they can be read or mapped straight into place.
 * See docs/image-format.md. */
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <sys/types.h>

#define IMG_MAGIC 0x4f595243u /* "CRYO" little endian */
#define IMG_VERSION 1u
#define IMG_HDR_SIZE 64u
#define IMG_RAW_DATA_OFF 4096u

enum img_type {
        IMG_INVENTORY,
        IMG_PSTREE,
        IMG_CORE,
        IMG_MM,
        IMG_PAGEMAP,
        IMG_PAGES,
        IMG_FILES,
        IMG_FDS,
        IMG_BLOB,
        IMG_IPC, /* SysV IPC objects (ipc.img) */
        IMG_TYPE_MAX,
};

struct img_header {
        uint32_t magic;
        uint32_t type;
        uint32_t version;
        uint32_t data_off;
        uint64_t ckpt_id;
        uint64_t payload_len;
        uint64_t payload_hash;
        uint64_t reserved[2];
        uint64_t hdr_hash; /* of the 56 bytes before it */
};
_Static_assert(sizeof(struct img_header) == IMG_HDR_SIZE, "image header size");

const char *img_type_name(enum img_type t);
uint64_t img_hash(const void *p, size_t len);

/* metadata images */
int img_write_msg(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, const ProtobufCMessage *msg);
/* ckpt_id 0 = accept any (used to read the inventory first) */
int img_read_msg(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret_msg, uint64_t *ret_ckpt_id);
void img_msg_free(ProtobufCMessage *msg);

/* raw images */
struct img_raw_writer {
        int fd;
        enum img_type type;
        uint64_t ckpt_id;
        uint64_t len;
        void *hash_state; /* XXH3_state_t */
        char *name;
};
int img_raw_create(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, struct img_raw_writer *w);
int img_raw_append(struct img_raw_writer *w, const void *buf, size_t len);
int img_raw_finish(struct img_raw_writer *w); /* writes the header, closes */
void img_raw_abort(struct img_raw_writer *w);
/* Opens and fully verifies a raw image; returns its fd (payload at
 * IMG_RAW_DATA_OFF) and payload length. */
int img_raw_open(int dirfd, const char *name, enum img_type type, uint64_t ckpt_id, int *ret_fd, uint64_t *ret_len);
/* Reads just the header of any image file (for inspect). */
int img_read_header(int fd, struct img_header *ret);
