// Command tfserver runs one task of a distributed TensorFlow cluster (a
// worker or a parameter server) and waits: the chief's sessions place ops
// on it. SIGTERM or SIGINT ends it; TensorFlow 2.21 cannot stop a started
// gRPC server in-process, so ending the process is the clean stop. Once
// the server is up it prints one line:
//
//	TFSERVER task=/job:worker/task:1 target=grpc://localhost:2223
//
// The cluster comes from --cluster, --job and --task, or from the
// TF_CONFIG environment variable when --cluster is not given.
//
// TensorFlow's server listens on every interface whatever host the spec
// names, and runs any graph any client sends: tfserver starts only with
// --bind_all_interfaces, the user's word that the task runs on a private
// network.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

func main() {
	specFlag := flag.String("cluster", "", "the cluster: job=host:port,host:port;job=… e.g. worker=127.0.0.1:2222,127.0.0.1:2223;ps=127.0.0.1:2224 (default: TF_CONFIG)")
	job := flag.String("job", "", "this task's job, e.g. worker or ps")
	task := flag.Int("task", 0, "this task's index in its job")
	exposed := flag.Bool("bind_all_interfaces", false, "required: acknowledge that TensorFlow's server listens on every interface, whatever host --cluster names, and runs any graph a client sends (see README, Training across processes)")
	flag.Parse()
	if err := cluster.CheckExposure(*exposed); err != nil {
		fmt.Fprintln(os.Stderr, "tfserver:", err)
		os.Exit(2)
	}
	spec, j, t, err := cluster.FromFlags(*specFlag, *job, *task, os.Getenv("TF_CONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfserver:", err)
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	srv, err := tfwrap.NewServer(spec, j, t)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfserver:", err)
		os.Exit(1)
	}
	fmt.Printf("TFSERVER task=%s target=%s\n", srv.Task(), srv.Target())
	s := <-sig
	fmt.Fprintf(os.Stderr, "tfserver: %s: stopping on %v\n", srv.Task(), s)
	os.Exit(0)
}
