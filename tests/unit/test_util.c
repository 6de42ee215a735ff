/* test_util.c - base64 (RFC 4648 §10 vectors), bounded buffers, RFC 3339,
 * Retry-After, durations, redaction, bounded JSON parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "b64.h"
#include "buf.h"
#include "jsonu.h"
#include "log.h"
#include "timeutil.h"

static void test_b64_rfc4648(void **state)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32];

    (void)state;
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(in[i]), dlen = 99;
        assert_int_equal(b64_encode(in[i], n, out), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(b64url_encode(in[i], n, out), strlen(url[i]));
        assert_string_equal(out, url[i]);
        unsigned char *d = b64url_decode_alloc(url[i], strlen(url[i]), &dlen);
        assert_non_null(d);
        assert_int_equal(dlen, n);
        assert_memory_equal(d, in[i], n);
        free(d);
        d = b64_decode_alloc(std[i], strlen(std[i]), &dlen);
        assert_non_null(d);
        assert_int_equal(dlen, n);
        free(d);
    }
    /* the url alphabet differs from the standard one */
    const unsigned char bin[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(b64url_encode(bin, 3, out), 4);
    assert_string_equal(out, "-_-_");
    assert_int_equal(b64_encode(bin, 3, out), 4);
    assert_string_equal(out, "+/+/");
}

static void test_b64_rejects(void **state)
{
    size_t n;

    (void)state;
    assert_null(b64url_decode_alloc("Zm9v!", 5, &n));     /* bad char */
    assert_null(b64url_decode_alloc("Z", 1, &n));         /* impossible length */
    assert_null(b64url_decode_alloc("Zh", 2, &n));        /* non-zero leftover bits */
    assert_null(b64url_decode_alloc("Zm+v", 4, &n));      /* std char in url form */
}

static void test_buf_cap(void **state)
{
    struct ac_buf b;

    (void)state;
    ac_buf_init(&b, 8);
    assert_int_equal(ac_buf_appends(&b, "12345"), 0);
    assert_int_equal(ac_buf_appends(&b, "6789"), -1); /* would pass the cap */
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "12345");
    assert_int_equal(ac_buf_printf(&b, "%d", 678), 0);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(ac_buf_append(&b, "x", 1), -1);
    size_t n;
    char *s = ac_buf_steal(&b, &n);
    assert_int_equal(n, 8);
    assert_string_equal(s, "12345678");
    free(s);
    s = ac_buf_steal(&b, &n); /* empty buffer gives "" */
    assert_string_equal(s, "");
    free(s);
    ac_buf_free(&b);
}

static void test_rfc3339(void **state)
{
    int64_t t;
    char out[32];

    (void)state;
    assert_int_equal(ac_time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(ac_time_parse_rfc3339("2024-02-29T12:34:56.789Z", &t), 0);
    assert_int_equal(t, 1709210096);
    assert_int_equal(ac_time_parse_rfc3339("2024-02-29T14:34:56+02:00", &t), 0);
    assert_int_equal(t, 1709210096);
    assert_int_equal(ac_time_parse_rfc3339("2024-02-29T12:34:56", &t), -1);
    assert_int_equal(ac_time_parse_rfc3339("2024-13-01T00:00:00Z", &t), -1);
    assert_int_equal(ac_time_parse_rfc3339("garbage", &t), -1);
    ac_time_format_rfc3339(1709210096, out, sizeof out);
    assert_string_equal(out, "2024-02-29T12:34:56Z");
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(ac_time_parse_retry_after("120", 0), 120);
    assert_int_equal(ac_time_parse_retry_after(" 0 ", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    assert_int_equal(ac_time_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30),
                     30);
    assert_int_equal(ac_time_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5), 0);
    assert_int_equal(ac_time_parse_retry_after("soon", 0), -1);
    assert_int_equal(ac_time_parse_retry_after("12abc", 0), -1);
    assert_int_equal(ac_time_parse_retry_after("-5", 0), -1);
}

static void test_durations(void **state)
{
    int64_t s;
    char out[32];

    (void)state;
    assert_int_equal(ac_duration_parse("90s", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(ac_duration_parse("15m", &s), 0);
    assert_int_equal(s, 900);
    assert_int_equal(ac_duration_parse("1h30m", &s), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(ac_duration_parse("30d", &s), 0);
    assert_int_equal(s, 2592000);
    assert_int_equal(ac_duration_parse("", &s), -1);
    assert_int_equal(ac_duration_parse("10", &s), -1);
    assert_int_equal(ac_duration_parse("1x", &s), -1);
    assert_int_equal(ac_duration_parse("-1h", &s), -1);
    assert_int_equal(ac_duration_parse("h", &s), -1);
    ac_duration_format(5400, out, sizeof out);
    assert_string_equal(out, "1h30m");
    ac_duration_format(2592000 + 61, out, sizeof out);
    assert_string_equal(out, "30d1m1s");
}

static void test_redact(void **state)
{
    char out[64];

    (void)state;
    ac_redact("short", out, sizeof out);
    assert_string_equal(out, "****");
    ac_redact("elevenchars", out, sizeof out);
    assert_string_equal(out, "****");
    ac_redact("twelve-chars", out, sizeof out);
    assert_string_equal(out, "tw********rs");
    ac_redact("", out, sizeof out);
    assert_string_equal(out, "");
}

static void test_json_bounds(void **state)
{
    struct ac_error e;
    json_object *o;
    char deep[200];

    (void)state;
    o = jsonu_parse("{\"a\":\"b\",\"n\":3}", 15, "test", AC_ERR_CA_BAD_RESPONSE, &e);
    assert_non_null(o);
    assert_string_equal(jsonu_str(o, "a"), "b");
    assert_null(jsonu_str(o, "n")); /* wrong type */
    int64_t n = 0;
    assert_int_equal(jsonu_int(o, "n", &n), 0);
    assert_int_equal(n, 3);
    json_object_put(o);

    assert_null(jsonu_parse("{\"a\":", 5, "test", AC_ERR_CA_BAD_RESPONSE, &e));
    assert_string_equal(e.kind, AC_ERR_CA_BAD_RESPONSE);
    assert_non_null(strstr(e.message, "truncated"));
    assert_null(jsonu_parse("{} x", 4, "test", AC_ERR_CA_BAD_RESPONSE, &e));
    memset(deep, '[', sizeof deep);
    assert_null(jsonu_parse(deep, sizeof deep, "test", AC_ERR_CA_BAD_RESPONSE, &e));
    assert_null(jsonu_parse("", 0, "test", AC_ERR_CA_BAD_RESPONSE, &e));
}

/* Outside text reaches JSON as valid UTF-8 without control characters. */
static void test_json_text(void **state)
{
    json_object *o = json_object_new_object(), *back;
    const char *s;

    (void)state;
    assert_int_equal(jsonu_add_text(o, "clean", "caf\xc3\xa9 \"q\""), 0);
    assert_int_equal(jsonu_add_text(o, "bad", "x\xff\xfe\n\x1b[31m"), 0);
    assert_int_equal(jsonu_add_text(o, "none", NULL), 0);
    s = jsonu_string(o);
    assert_string_equal(s, "{\"clean\":\"caf\xc3\xa9 \\\"q\\\"\",\"bad\":\"x\\\\xff\\\\xfe"
                           "\\\\n\\\\x1b[31m\",\"none\":null}");
    back = json_tokener_parse(s);
    assert_non_null(back);
    assert_string_equal(jsonu_str(back, "bad"), "x\\xff\\xfe\\n\\x1b[31m");
    json_object_put(back);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648), cmocka_unit_test(test_b64_rejects),
        cmocka_unit_test(test_buf_cap),     cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_redact),      cmocka_unit_test(test_json_bounds),
        cmocka_unit_test(test_json_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
