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
*/
import "C"

// loadedFrom is the file the process loaded libtensorflow's C API from,
// or "" when the loader does not say.
func loadedFrom() string { return C.GoString(C.gotf_loaded_from()) }
