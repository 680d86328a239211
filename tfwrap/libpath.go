package tfwrap

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <tensorflow/c/c_api.h>

static const char *gotf_loaded_from(void) {
	Dl_info info;
	if (dladdr((void *)TF_Version, &info) == 0 || info.dli_fname == NULL) return "";
	return info.dli_fname;
}

// tensorflow::IsMKLEnabled(), where libtensorflow_framework exports it:
// 1 or 0, or -1 when it does not.
static int gotf_mkl_enabled(void) {
	_Bool (*f)(void) = (_Bool (*)(void))dlsym(RTLD_DEFAULT, "_ZN10tensorflow12IsMKLEnabledEv");
	if (f == NULL) return -1;
	return f() ? 1 : 0; // C's _Bool is C++'s bool in the ABI
}
*/
import "C"

// loadedFrom is the file the process loaded libtensorflow's C API from,
// or "" when the loader does not say.
func loadedFrom() string { return C.GoString(C.gotf_loaded_from()) }

// mklEnabled asks TensorFlow's own tensorflow::IsMKLEnabled, which decides
// whether its graph rewrite puts oneDNN kernels in: known is false when
// the library does not export it.
func mklEnabled() (on, known bool) {
	switch C.gotf_mkl_enabled() {
	case 0:
		return false, true
	case 1:
		return true, true
	}
	return false, false
}
