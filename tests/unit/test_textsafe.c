/* test_textsafe.c - control characters and invalid UTF-8 escaped (textsafe.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "textsafe.h"

static void check(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = ac_text_sanitize(out, sizeof out, in, len);

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_true(ac_text_is_clean(out, n));
}

static void test_escapes(void **state)
{
    (void)state;
    check("plain text", 10, "plain text");
    check("a\nb\r\tc", 6, "a\\nb\\r\\tc");
    check("x\x1b[31mred", 9, "x\\x1b[31mred");
    check("nul\0in", 6, "nul\\x00in");
    check("del\x7f", 4, "del\\x7f");
    check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92");
    check("\xff\xfe", 2, "\\xff\\xfe");                 /* not UTF-8 */
    check("\xc0\xaf", 2, "\\xc0\\xaf");                 /* overlong '/' */
    check("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");        /* surrogate */
    check("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
    check("\xe2\x82", 2, "\\xe2\\x82");                 /* truncated sequence */
    check("\xc2\x85next", 6, "\\xc2\\x85next");         /* C1 NEL */
    check("back\\slash", 10, "back\\slash");
    assert_false(ac_text_is_clean("a\nb", 3));
    assert_false(ac_text_is_clean("\xff", 1));
    assert_true(ac_text_is_clean("ok \xc3\xa9", 5));
}

static void test_truncation(void **state)
{
    char out[6];

    (void)state;
    /* never cut inside an escape or a UTF-8 sequence */
    assert_int_equal(ac_text_sanitize(out, sizeof out, "abcd\n", 5), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(ac_text_sanitize(out, sizeof out, "abcd\xc3\xa9", 6), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(ac_text_sanitize(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");
    assert_int_equal(ac_text_sanitize(out, sizeof out, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
