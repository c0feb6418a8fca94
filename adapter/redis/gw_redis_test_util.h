/* SPDX-License-Identifier: MIT */
/* gw_redis_test_util.h: helpers for the Redis unit tests: a free loopback
 * port and a real redis-server started and stopped by the test. Header-only;
 * include it from one test file. */
#ifndef GW_REDIS_TEST_UTIL_H
#define GW_REDIS_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* gw_test_free_port binds 127.0.0.1:0 and returns the port the kernel chose
 * (closed again: a later bind may still lose a race, which is rare). */
static int gw_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    perror("free port");
    abort();
  }
  close(fd);
  return ntohs(a.sin_port);
}

static void gw_test_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int gw_test_port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* gw_test_redis_start runs redis-server (no persistence) on |port| and waits
 * until it accepts connections. Returns its pid. */
static pid_t gw_test_redis_start(int port) {
  char portbuf[16];
  snprintf(portbuf, sizeof(portbuf), "%d", port);
  const char *bin = getenv("REDIS_SERVER_BIN");
  if (bin == NULL)
    bin = "redis-server";
  pid_t pid = fork();
  if (pid == 0) {
    /* A failed assertion aborts the test: take redis-server down with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execlp(bin, bin, "--port", portbuf, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--loglevel", "warning", "--logfile",
           "/dev/null", "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    if (gw_test_port_open(port))
      return pid;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "redis-server exited early\n");
      abort();
    }
    gw_test_sleep_ms(10);
  }
  fprintf(stderr, "redis-server did not start\n");
  kill(pid, SIGKILL);
  abort();
}

static void gw_test_redis_stop(pid_t pid, int sig) {
  kill(pid, sig);
  waitpid(pid, NULL, 0);
}

#endif /* GW_REDIS_TEST_UTIL_H */
