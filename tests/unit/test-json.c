/* TAP unit test of the JSON writer (src/basic/json.c): escaping, UTF-8
 * validation, nesting and commas. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/json.h"

static int n, failed;

static void ok(int cond, const char *what, const char *got) {
        n++;
        if (cond)
                printf("ok %d - %s\n", n, what);
        else {
                failed++;
                printf("not ok %d - %s\n#   got: %s\n", n, what, got);
        }
}

static char *escaped(const char *s) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_write_string(f, s);
        fclose(f);
        return buf;
}

static void esc(const char *in, const char *want, const char *what) {
        char *got = escaped(in);
        ok(strcmp(got, want) == 0, what, got);
        free(got);
}

int main(void) {
        esc("plain", "\"plain\"", "plain string");
        esc("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash");
        esc("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"", "short escapes");
        esc("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"", "other control characters");
        esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
            "valid UTF-8 passes through");
        esc("a\xff" "b", "\"a\\ufffdb\"", "invalid byte becomes U+FFFD");
        esc("\xc3", "\"\\ufffd\"", "truncated sequence at the end");
        esc("\xc0\xaf", "\"\\ufffd\\ufffd\"", "overlong encoding");
        esc("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "UTF-16 surrogate");
        esc("/", "\"/\"", "slash unescaped");

        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        struct json j;
        json_init(&j, f);
        json_obj_open(&j, NULL);
        json_str(&j, "s", "x");
        json_int(&j, "i", -5);
        json_uint(&j, "u", 18446744073709551615ULL);
        json_bool(&j, "b", 1);
        json_null(&j, "n");
        json_arr_open(&j, "a");
        json_uint(&j, NULL, 1);
        json_obj_open(&j, NULL);
        json_obj_close(&j);
        json_arr_open(&j, NULL);
        json_arr_close(&j);
        json_arr_close(&j);
        json_str(&j, "null_str", NULL);
        json_obj_close(&j);
        fclose(f);
        const char *want = "{\n  \"s\": \"x\",\n  \"i\": -5,\n  \"u\": 18446744073709551615,\n  \"b\": true,\n"
                           "  \"n\": null,\n  \"a\": [\n    1,\n    {},\n    []\n  ],\n  \"null_str\": null\n}\n";
        ok(strcmp(buf, want) == 0, "nested document layout and commas", buf);
        free(buf);

        printf("1..%d\n", n);
        return failed ? 1 : 0;
}
