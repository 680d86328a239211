package tfwrap

// TensorFlow logs through absl from the moment its libraries are loaded:
// its first INFO lines ("oneDNN custom operations are on", the absl
// "before InitializeLog" warning) are printed by the libraries' own
// initializers, before Go's runtime or any init function runs, and before
// TensorFlow reads TF_CPP_MIN_LOG_LEVEL. So the level is set from C, in
// the executable's .preinit_array, which the dynamic loader runs before
// any shared library's initializers: TF_CPP_MIN_LOG_LEVEL is taken as the
// user gave it, or set to 2 (errors only) when unset, and absl's minimum
// level is set to match. A program that imports tfwrap is quiet by
// default; TF_CPP_MIN_LOG_LEVEL=0 brings TensorFlow's INFO lines back.
//
// absl's setter is named with the absl release TensorFlow 2.21 links
// (lts_20250814); it is a weak reference, so with another release the
// early lines print and nothing else changes.

/*
#include <stdlib.h>

extern void _ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE(int) __attribute__((weak));

static void gotf_quiet_tensorflow(int argc, char **argv, char **envp) {
	int level = 2;
	const char *v = getenv("TF_CPP_MIN_LOG_LEVEL");
	if (v != NULL && *v != '\0') {
		level = atoi(v);
		if (level < 0) level = 0;
		if (level > 3) level = 3;
	} else {
		setenv("TF_CPP_MIN_LOG_LEVEL", "2", 0);
	}
	if (_ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE != NULL)
		_ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE(level);
}

__attribute__((section(".preinit_array"), used))
static void (*gotf_preinit)(int, char **, char **) = gotf_quiet_tensorflow;
*/
import "C"
