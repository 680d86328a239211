// Command tfcheck is the start-up self-check: it prints the libtensorflow
// version and the devices TensorFlow sees, or says what to run when the
// library is missing or too old.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: tfcheck\n\nPrints libtensorflow's version and devices; exits 1 if TensorFlow cannot run.\n")
	}
	flag.Parse()
	info, err := tfwrap.Check()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("libtensorflow %s\n", info.Version)
	fmt.Println(cpuinfo.Line())
	for _, d := range info.Devices {
		fmt.Printf("device %s (%s)\n", d.Name, d.Type)
	}
}
