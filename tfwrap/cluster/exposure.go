package cluster

import "errors"

// ErrExposed is returned by CheckExposure when the caller has not said
// that the task may listen on every interface.
var ErrExposed = errors.New(`TensorFlow's gRPC server listens on every network interface (0.0.0.0:PORT), whatever host the cluster spec names, and runs any graph any client that reaches the port sends, reading and writing files as this process, with no authentication: run tasks only on a private network (or behind a firewall) and pass --bind_all_interfaces to say so`)

// CheckExposure is the guard of every command that starts a TensorFlow
// server (tfwrap.NewServer): TensorFlow 2.21 binds the task's port on
// every interface and has no way to bind one address, so a command starts
// a task only when its user acknowledged that (acknowledged true, from a
// --bind_all_interfaces flag).
func CheckExposure(acknowledged bool) error {
	if acknowledged {
		return nil
	}
	return ErrExposed
}
