//go:build linux && !gotf_noquiet

package tfwrap

// TensorFlow logs through absl from the moment its libraries are loaded:
// its first INFO lines ("oneDNN custom operations are on", the absl
// "before InitializeLog" warning) are printed by the libraries' own
// initializers, before Go's runtime or any init function runs, and before
// TensorFlow reads TF_CPP_MIN_LOG_LEVEL. So the level is set from C, in
// the executable's .preinit_array, which the dynamic loader runs before
// any shared library's initializers (libc's included: the environment is
// read from the envp the loader passes, not with getenv). The level is
// TF_CPP_MIN_LOG_LEVEL as the user gave it, else 2 (errors only); a
// constructor, which runs once libc is initialized, then exports the
// default so that TensorFlow's own later reads agree. A program that
// imports tfwrap is quiet by default; TF_CPP_MIN_LOG_LEVEL=0 brings
// TensorFlow's INFO lines back.
//
// absl's setter is named with the absl release TensorFlow 2.21 links
// (lts_20250814) and referenced weakly through the GOT (-fPIC), so with
// another release the pointer is NULL: the early lines print and nothing
// else changes. Linux only: .preinit_array is an ELF executable's, and
// GNU ld refuses it in a shared object, so -buildmode=c-shared and plugin
// builds take -tags gotf_noquiet.

/*
#cgo CFLAGS: -fPIC
#include <stdlib.h>
#include <string.h>

extern void _ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE(int) __attribute__((weak));

static const char gotf_level_var[] = "TF_CPP_MIN_LOG_LEVEL=";

static void gotf_quiet_tensorflow(int argc, char **argv, char **envp) {
	int level = 2;
	for (char **e = envp; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, gotf_level_var, sizeof gotf_level_var - 1) == 0) {
			const char *v = *e + sizeof gotf_level_var - 1;
			if (*v >= '0' && *v <= '9') {
				level = *v - '0';
			}
		}
	}
	if (level > 3) level = 3;
	void (*set)(int) = _ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE;
	if (set != NULL) set(level);
}

__attribute__((section(".preinit_array"), used))
static void (*gotf_preinit)(int, char **, char **) = gotf_quiet_tensorflow;

__attribute__((constructor))
static void gotf_quiet_default(void) {
	setenv("TF_CPP_MIN_LOG_LEVEL", "2", 0); // 0: a value the user set stays
}
*/
import "C"
