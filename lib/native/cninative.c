// The one native helper: the syscalls Node does not expose. setns(2) must run on
// the main thread between two synchronous JS steps (node-netlink-notes.md), and
// flock(2) must be the real thing so that the reference host-local, which locks
// <dataDir>/<net>/lock with flock, excludes us and we exclude it.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setns", NULL, js_setns, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
