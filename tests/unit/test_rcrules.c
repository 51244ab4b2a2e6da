/* SPDX-License-Identifier: Apache-2.0
 *
 * test_rcrules: a route's request-side cache rules (proxy/rcrules.c): name lists
 * with prefix wildcards, bypass by cookie, header field or query parameter, and
 * cookie stripping.
 */
#include <string.h>

#include "cfg.h"
#include "check.h"
#include "h1.h"
#include "rcrules.h"

static struct cfg_strlist list(char **items, size_t n)
{
    return (struct cfg_strlist){items, n};
}

static void test_match(void)
{
    char *items[] = {"id", "utm_*"};
    struct cfg_strlist l = list(items, 2);
    CHECK(rcr_list_match(&l, "id", 2, 0));
    CHECK(!rcr_list_match(&l, "ID", 2, 0));
    CHECK(rcr_list_match(&l, "ID", 2, 1));
    CHECK(!rcr_list_match(&l, "idx", 3, 0));
    CHECK(!rcr_list_match(&l, "i", 1, 0));
    CHECK(rcr_list_match(&l, "utm_", 4, 0));
    CHECK(rcr_list_match(&l, "utm_source", 10, 0));
    CHECK(!rcr_list_match(&l, "utm", 3, 0));
    CHECK(rcr_list_match(&l, "UTM_X", 5, 1));
    char *all[] = {"*"};
    struct cfg_strlist a = list(all, 1);
    CHECK(rcr_list_match(&a, "anything", 8, 0));
    struct cfg_strlist none = list(NULL, 0);
    CHECK(!rcr_list_match(&none, "id", 2, 0));
}

static void parse(struct h1_msg *m, const char *head)
{
    struct h1_limits lim = {65536, 8192, 100};
    CHECK_INT(h1_parse_request(head, strlen(head), &lim, m), H1_OK);
}

static void test_bypass(void)
{
    char *cookies[] = {"session", "wp_*"}, *headers[] = {"x-preview"}, *query[] = {"nocache"};
    struct cfg_route_cache rules;
    memset(&rules, 0, sizeof(rules));
    rules.bypass_cookies = list(cookies, 2);
    rules.bypass_headers = list(headers, 1);
    rules.bypass_query = list(query, 1);
    static struct h1_msg m;
    parse(&m, "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; session=2\r\n\r\n");
    CHECK(rcr_bypass(&rules, &m, NULL, 0) != NULL &&
          strcmp(rcr_bypass(&rules, &m, NULL, 0), "cookie") == 0);
    parse(&m, "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: wp_user=3\r\n\r\n");
    CHECK(rcr_bypass(&rules, &m, NULL, 0) != NULL); /* one Cookie line per pair (h2) */
    parse(&m, "GET / HTTP/1.1\r\nHost: a\r\nCookie: sessionx=1; xsession=2; a=session\r\n\r\n");
    CHECK(rcr_bypass(&rules, &m, NULL, 0) == NULL); /* names, not substrings or values */
    parse(&m, "GET / HTTP/1.1\r\nHost: a\r\nX-Preview: 1\r\n\r\n");
    CHECK(rcr_bypass(&rules, &m, NULL, 0) != NULL &&
          strcmp(rcr_bypass(&rules, &m, NULL, 0), "header") == 0);
    parse(&m, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(rcr_bypass(&rules, &m, NULL, 0) == NULL);
    CHECK(rcr_bypass(&rules, &m, "a=1&nocache", 11) != NULL);
    CHECK(rcr_bypass(&rules, &m, "nocache=0&a=1", 13) != NULL);
    CHECK(rcr_bypass(&rules, &m, "a=nocache&nocachex=1", 20) == NULL);
    CHECK(rcr_bypass(&rules, &m, "", 0) == NULL);
}

static void test_strip(void)
{
    char *strip[] = {"_ga*", "tracker"};
    struct cfg_strlist l = list(strip, 2);
    char out[64];
    const char *v = "_ga=1; s=2;_gid=x ; tracker=9;  t=3";
    size_t n = rcr_strip_cookies(&l, v, strlen(v), out, sizeof(out));
    CHECK_STRN(out, n, "s=2; _gid=x; t=3"); /* "_gid" does not start with "_ga" */
    v = "_ga=1; tracker=2";
    CHECK_INT(rcr_strip_cookies(&l, v, strlen(v), out, sizeof(out)), 0);
    v = "a=1;;; b";
    n = rcr_strip_cookies(&l, v, strlen(v), out, sizeof(out));
    CHECK_STRN(out, n, "a=1; b");
    v = "a=0123456789; b=0123456789";
    CHECK(rcr_strip_cookies(&l, v, strlen(v), out, 20) == (size_t)-1);
}

int main(void)
{
    test_match();
    test_bypass();
    test_strip();
    return check_report("test_rcrules");
}
