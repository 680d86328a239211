//go:build !unix

package libtf

// lock is a no-op where flock is not there: no wheel is pinned for such
// platforms, so nothing installs there.
func lock(string, func()) (func(), error) { return func() {}, nil }
