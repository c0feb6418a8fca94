/* SPDX-License-Identifier: MIT */
/* gw_netaddr_test.c: address literals, prefixes, X-Forwarded-For walks. */
#include "gw_test.h"

#include "gw_err.h"
#include "gw_netaddr.h"

static gw_ipaddr_t ip(const char *s) {
  gw_ipaddr_t a;
  GW_ASSERT_OK(gw_ipaddr_parse(s, strlen(s), &a));
  return a;
}

static const char *fmt(gw_ipaddr_t a) {
  static char buf[GW_IPSTR_MAX];
  gw_ipaddr_format(&a, buf);
  return buf;
}

static void test_parse_format(void) {
  gw_ipaddr_t a;
  GW_ASSERT_STREQ(fmt(ip("127.0.0.1")), "127.0.0.1");
  GW_ASSERT_STREQ(fmt(ip(" 10.1.2.3 ")), "10.1.2.3");
  GW_ASSERT_STREQ(fmt(ip("::1")), "::1");
  GW_ASSERT_STREQ(fmt(ip("2001:DB8::1")), "2001:db8::1");
  /* The mapped form and the dotted form are one address. */
  GW_ASSERT_STREQ(fmt(ip("::ffff:192.0.2.7")), "192.0.2.7");
  const char *bad[] = {"",          " ",          "1.2.3", "1.2.3.4.5",
                       "256.1.1.1", "1.2.3.4:80", "[::1]", "::g",
                       "localhost", "01.2.3.4x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    GW_ASSERT_EQ(gw_ipaddr_parse(bad[i], strlen(bad[i]), &a), GW_EINVAL);
  char longs[80];
  memset(longs, '1', sizeof(longs));
  GW_ASSERT_EQ(gw_ipaddr_parse(longs, sizeof(longs), &a), GW_EINVAL);
}

static void test_lists(void) {
  gw_ipnet_list_t l;
  GW_ASSERT_OK(gw_ipnet_list_parse(NULL, &l));
  GW_ASSERT_EQ(l.n, 0);
  GW_ASSERT_OK(gw_ipnet_list_parse("", &l));
  GW_ASSERT_EQ(l.n, 0);
  GW_ASSERT_OK(
      gw_ipnet_list_parse(" 127.0.0.1 , 10.0.0.0/8,,fd00::/8, 0.0.0.0/0", &l));
  GW_ASSERT_EQ(l.n, 4);
  gw_ipaddr_t a = ip("10.200.3.4"), b = ip("11.0.0.1"), c = ip("fd12::5"),
              d = ip("fe80::1");
  GW_ASSERT_OK(gw_ipnet_list_parse("127.0.0.1,10.0.0.0/8,fd00::/8", &l));
  GW_ASSERT(gw_ipnet_list_match(&l, &a));
  GW_ASSERT(!gw_ipnet_list_match(&l, &b));
  GW_ASSERT(gw_ipnet_list_match(&l, &c));
  GW_ASSERT(!gw_ipnet_list_match(&l, &d));
  gw_ipaddr_t lo = ip("127.0.0.1"), lo2 = ip("127.0.0.2");
  GW_ASSERT(gw_ipnet_list_match(&l, &lo));
  GW_ASSERT(!gw_ipnet_list_match(&l, &lo2)); /* a host is a /32 */
  /* A /12 boundary that does not fall on a byte. */
  GW_ASSERT_OK(gw_ipnet_list_parse("172.16.0.0/12", &l));
  gw_ipaddr_t in = ip("172.31.255.255"), out = ip("172.32.0.0");
  GW_ASSERT(gw_ipnet_list_match(&l, &in));
  GW_ASSERT(!gw_ipnet_list_match(&l, &out));
  /* 0.0.0.0/0 is every IPv4 address but no IPv6 one. */
  GW_ASSERT_OK(gw_ipnet_list_parse("0.0.0.0/0", &l));
  GW_ASSERT(gw_ipnet_list_match(&l, &b));
  GW_ASSERT(!gw_ipnet_list_match(&l, &c));
  const char *bad[] = {"10.0.0.0/33",     "10.1.0.0/8", "10.0.0.0/",
                       "10.0.0.0/x",      "::/129",     "nginx",
                       "10.0.0.0/8,bogus"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    GW_ASSERT_EQ(gw_ipnet_list_parse(bad[i], &l), GW_EINVAL);
  char many[GW_IPNET_MAX * 12 + 16] = "";
  for (int i = 0; i <= GW_IPNET_MAX; i++)
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.0.%d,", i);
  GW_ASSERT_EQ(gw_ipnet_list_parse(many, &l), GW_EINVAL);
}

static void test_client_addr(void) {
  gw_ipnet_list_t none, proxies;
  GW_ASSERT_OK(gw_ipnet_list_parse(NULL, &none));
  GW_ASSERT_OK(gw_ipnet_list_parse("127.0.0.1,10.0.0.0/8", &proxies));
  gw_ipaddr_t nginx = ip("127.0.0.1"), stranger = ip("198.51.100.9");
  /* Nobody trusted: the header is ignored. */
  GW_ASSERT_STREQ(fmt(gw_client_addr(&none, &nginx, "203.0.113.5")),
                  "127.0.0.1");
  /* An untrusted peer cannot name someone else. */
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &stranger, "203.0.113.5")),
                  "198.51.100.9");
  /* Through nginx: the hop it appended. */
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, "203.0.113.5")),
                  "203.0.113.5");
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, NULL)), "127.0.0.1");
  /* A client-written prefix is skipped; inner proxies are walked through. */
  GW_ASSERT_STREQ(
      fmt(gw_client_addr(&proxies, &nginx, "1.1.1.1, 203.0.113.5, 10.2.3.4")),
      "203.0.113.5");
  /* Garbage stops the walk at the last good hop. */
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, "junk, 10.2.3.4")),
                  "10.2.3.4");
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, "203.0.113.5, junk")),
                  "127.0.0.1");
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, "")), "127.0.0.1");
  GW_ASSERT_STREQ(fmt(gw_client_addr(&proxies, &nginx, ",,,")), "127.0.0.1");
}

GW_TEST_LIST = {
    {"parse and format", test_parse_format},
    {"prefix lists", test_lists},
    {"client address", test_client_addr},
    {NULL, NULL},
};
