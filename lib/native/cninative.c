// The one native helper: the syscalls Node and Bun do not expose. setns(2) must run on
// the main thread between two synchronous JS steps (lib/netns.md); flock(2) must be the
// real thing so that the reference host-local, which locks <dataDir>/<net>/lock with
// flock, excludes us and we exclude it; and the rtnetlink socket is a plain blocking
// socket (lib/netlink/README.md), created in whatever namespace the thread is in.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>
#include <stdlib.h>
#include <linux/netlink.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value msg, code, error, num;
  char buf[160];
  snprintf(buf, sizeof buf, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, "ERRNO", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static int int_args(napi_env env, napi_callback_info info, size_t want, int32_t *out) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return -1;
  for (size_t i = 0; i < want; i++)
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return -1;
  return 0;
}

// setns(fd, nstype): throws with .errno on failure.
static napi_value js_setns(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (int_args(env, info, 2, a) != 0) {
    napi_throw_type_error(env, NULL, "setns(fd, nstype) takes two integers");
    return NULL;
  }
  if (setns(a[0], a[1]) != 0) return throw_errno(env, "setns", errno);
  return NULL;
}

// flock(fd, op): returns 0, or the errno (EWOULDBLOCK with LOCK_NB) so the
// caller can poll with a deadline instead of blocking forever on a stuck holder.
static napi_value js_flock(napi_env env, napi_callback_info info) {
  int32_t a[2];
  napi_value ret;
  if (int_args(env, info, 2, a) != 0) {
    napi_throw_type_error(env, NULL, "flock(fd, op) takes two integers");
    return NULL;
  }
  int rc;
  do rc = flock(a[0], a[1]); while (rc != 0 && errno == EINTR);
  napi_create_int32(env, rc == 0 ? 0 : errno, &ret);
  return ret;
}

// A synchronous rtnetlink transport: the socket is created in the netns of the calling
// thread (so inside lib/netns.inNetns it belongs to the pod), and send/recv block the
// one thread a CNI plugin has, with a poll() deadline. No libuv handle is involved,
// so nothing can run in between, and no event loop is needed at all.
static napi_value js_nl_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
  int one = 1, bufsize = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
  // Extended ACKs carry the kernel's own explanation of a refused request.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  // Errors echo only the request's header, not the whole request.
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  napi_value ret;
  napi_create_int32(env, fd, &ret);
  return ret;
}

static napi_value js_nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  void *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "nlSend(fd, buffer)");
    return NULL;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(fd, data, len, 0, (struct sockaddr *)&kernel, sizeof kernel); while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendto(netlink)", errno);
  return NULL;
}

// nlRecv(fd, timeoutMs): one datagram as a Buffer, or null when the deadline passed.
static napi_value js_nl_recv(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (int_args(env, info, 2, a) != 0) {
    napi_throw_type_error(env, NULL, "nlRecv(fd, timeoutMs)");
    return NULL;
  }
  struct pollfd p = {.fd = a[0], .events = POLLIN};
  int rc;
  do rc = poll(&p, 1, a[1]); while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, "poll(netlink)", errno);
  napi_value ret;
  if (rc == 0) {
    napi_get_null(env, &ret);
    return ret;
  }
  ssize_t size;
  do size = recv(a[0], NULL, 0, MSG_PEEK | MSG_TRUNC); while (size < 0 && errno == EINTR);
  if (size < 0) return throw_errno(env, "recv(netlink)", errno);
  void *buf;
  if (napi_create_buffer(env, (size_t)size, &buf, &ret) != napi_ok) return NULL;
  ssize_t n;
  do n = recv(a[0], buf, (size_t)size, 0); while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "recv(netlink)", errno);
  return ret;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  int32_t a[1];
  if (int_args(env, info, 1, a) != 0) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  close(a[0]);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setns", NULL, js_setns, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
    {"nlOpen", NULL, js_nl_open, NULL, NULL, NULL, napi_default, NULL},
    {"nlSend", NULL, js_nl_send, NULL, NULL, NULL, napi_default, NULL},
    {"nlRecv", NULL, js_nl_recv, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 6, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
