// Command tfgrads lists, for every op of the loaded TensorFlow library that
// takes a float input, where tfwrap's Tape finds its gradient: TensorFlow's
// C++ registry ("cpp"), a Go gradient ("go") or nowhere ("missing"), then a
// summary line:
//
//	RESULT gradients ops=N cpp=N go=N missing=N
//
// Usage: tfgrads [--only cpp|go|missing]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	only := flag.String("only", "", "list only ops whose gradient source is cpp, go or missing")
	flag.Parse()
	switch *only {
	case "", "cpp", "go", "missing":
	default:
		fmt.Fprintf(os.Stderr, "tfgrads: --only must be cpp, go or missing, not %q\n", *only)
		os.Exit(2)
	}
	ops, err := tfwrap.FloatOpTypes()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfgrads:", err)
		os.Exit(1)
	}
	count := map[tfwrap.GradientSource]int{}
	for _, op := range ops {
		src := tfwrap.GradientOf(op)
		count[src]++
		if *only == "" || *only == src.String() {
			fmt.Printf("%-50s %s\n", op, src)
		}
	}
	fmt.Printf("RESULT gradients ops=%d cpp=%d go=%d missing=%d\n",
		len(ops), count[tfwrap.GradientCpp], count[tfwrap.GradientGo], count[tfwrap.GradientMissing])
}
