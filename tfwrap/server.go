package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

// Server is an in-process TensorFlow server (TF_NewServer): one task of a
// Cluster, serving TensorFlow's master and worker services over gRPC, so
// that sessions anywhere in the cluster can place ops on this task's
// devices and sessions may use its Target. It owns C memory.
//
// TensorFlow 2.21 cannot stop a started gRPC server (its GrpcServer::Stop
// returns UNIMPLEMENTED, and deleting a started one aborts the process), so
// a started Server serves until its process exits: Close marks it closed
// and returns ErrServerRunning once. cmd/tfserver stops a task by ending
// its process. Its methods are safe for concurrent use.
type Server struct {
	mu      sync.Mutex
	c       *C.TF_Server
	target  string
	task    string
	addr    string
	started bool
	closed  bool
}

// ErrServerRunning is returned (wrapped) by Close of a started Server:
// TensorFlow cannot stop it, and it serves until the process exits.
var ErrServerRunning = errors.New("TensorFlow cannot stop a started gRPC server; it serves until the process exits")

// ErrAddressInUse is wrapped by the TaskError of NewServer when the task's
// port is taken.
var ErrAddressInUse = errors.New("address in use")

// NewServer starts the server of task task of job in spec. The
// spec is validated in Go first (see cluster.Spec.Validate), and the port
// checked free, since TensorFlow binds it on every interface (0.0.0.0).
// opts become the default configuration of the sessions its master runs
// (WithRunTimeout bounds their steps).
func NewServer(spec cluster.Spec, job string, task int, opts ...SessionOption) (*Server, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := spec.CheckTask(job, task); err != nil {
		return nil, err
	}
	addr := spec[job][task]
	name := cluster.TaskName(job, task)
	_, port, _ := net.SplitHostPort(addr) // validated
	if l, err := net.Listen("tcp", ":"+port); err != nil {
		return nil, &cluster.TaskError{Task: name, Addr: addr, Err: fmt.Errorf("%w: %v", ErrAddressInUse, err)}
	} else {
		l.Close()
	}
	cfg := &corepb.ConfigProto{}
	for _, o := range opts {
		o(cfg)
	}
	def := &corepb.ServerDef{
		Cluster:              clusterDef(spec),
		JobName:              job,
		TaskIndex:            int32(task),
		Protocol:             "grpc",
		DefaultSessionConfig: cfg,
	}
	raw, err := proto.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: server %s: %w", name, err)
	}
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	c := C.TF_NewServer(unsafe.Pointer(&raw[0]), C.size_t(len(raw)), status)
	if code := C.TF_GetCode(status); code != C.TF_OK || c == nil {
		msg := C.GoString(C.TF_Message(status))
		return nil, &cluster.TaskError{Task: name, Addr: addr, Err: fmt.Errorf("start server: %s", msg)}
	}
	s := &Server{c: c, task: name, addr: addr}
	C.TF_ServerStart(c, status)
	if code := C.TF_GetCode(status); code != C.TF_OK {
		msg := C.GoString(C.TF_Message(status))
		C.TF_DeleteServer(c) // not started: deleting it is safe
		return nil, &cluster.TaskError{Task: name, Addr: addr, Err: fmt.Errorf("start server: %s", msg)}
	}
	s.started = true
	s.target = C.GoString(C.TF_ServerTarget(c))
	return s, nil
}

// clusterDef is c as TensorFlow's ClusterDef, jobs sorted.
func clusterDef(c cluster.Spec) *corepb.ClusterDef {
	def := &corepb.ClusterDef{}
	for _, j := range c.Jobs() {
		tasks := map[int32]string{}
		for i, a := range c[j] {
			tasks[int32(i)] = a
		}
		def.Job = append(def.Job, &corepb.JobDef{Name: j, Tasks: tasks})
	}
	return def
}

// Target returns the server's session target, grpc://host:port (with the
// host TensorFlow chose: "localhost" for 127.0.0.1 tasks). A session of
// this process with it runs through the server's master without gRPC.
func (s *Server) Target() string {
	if s == nil {
		return ""
	}
	return s.target
}

// Task returns the task the server is, e.g. /job:worker/task:0.
func (s *Server) Task() string {
	if s == nil {
		return ""
	}
	return s.task
}

// Close stops the server if TensorFlow can, and is idempotent. A started
// server cannot be stopped (see Server): the first Close returns an error
// wrapping ErrServerRunning, later ones nil; the server keeps serving
// until the process exits.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.started {
		C.TF_DeleteServer(s.c)
		s.c = nil
		return nil
	}
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	C.TF_ServerStop(s.c, status)
	if code := C.TF_GetCode(status); code != C.TF_OK {
		// Never TF_DeleteServer a started server: it CHECK-fails.
		return &cluster.TaskError{Task: s.task, Addr: s.addr, Err: fmt.Errorf("%w (%s)", ErrServerRunning, C.GoString(C.TF_Message(status)))}
	}
	return nil
}

// NewSessionOn is NewSession with a target: "grpc://host:port" runs the
// graph through that task's master, which places each op on the cluster
// task its device names (OnDevice(cluster.TaskName("worker", 1)), say) and ops
// without one on its own task. Give WithRunTimeout: it also bounds the
// wait for the cluster's tasks when the session starts.
func (g *Graph) NewSessionOn(target string, opts ...SessionOption) (*Session, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	raw, err := SessionConfig(opts...)
	if err != nil {
		return nil, err
	}
	s, err := tf.NewSession(g.st.g, &tf.SessionOptions{Target: target, Config: raw})
	if err != nil {
		return nil, fmt.Errorf("tfwrap: new session on %s: %w", target, err)
	}
	sess := &Session{s: s, st: g.st}
	runtime.SetFinalizer(sess, func(s *Session) { _ = s.Close() })
	return sess, nil
}

// checkTarget accepts "" (in-process) and grpc://host:port.
func checkTarget(target string) error {
	if target == "" {
		return nil
	}
	hp, ok := strings.CutPrefix(target, "grpc://")
	if !ok {
		return fmt.Errorf("tfwrap: session target %q: want grpc://host:port", target)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" {
		return fmt.Errorf("tfwrap: session target %q: want grpc://host:port", target)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("tfwrap: session target %q: bad port", target)
	}
	return nil
}
