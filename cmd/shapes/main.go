// Command shapes draws a synthetic image dataset (data/shapes): one folder
// of PNGs per shape, the layout cmd/transfer and Keras's
// image_dataset_from_directory read.
//
//	shapes -out photos -shapes circle,square,triangle -per-class 40
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tfgo-project/gotf/data/shapes"
)

func main() {
	out := flag.String("out", "", "folder to write (required)")
	list := flag.String("shapes", "circle,square,triangle", "shapes, comma-separated: "+strings.Join(shapes.Known, ", "))
	per := flag.Int("per-class", 50, "images per shape")
	size := flag.Int("size", 32, "width and height in pixels")
	seed := flag.Int64("seed", 1, "seed")
	jpeg := flag.Bool("jpeg", false, "write JPEG (quality 90) instead of PNG")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 || *per < 1 {
		fmt.Fprintln(os.Stderr, "usage: shapes -out DIR [-shapes a,b,c] [-per-class N ≥ 1] [-size PX] [-seed S] [-jpeg]")
		os.Exit(2)
	}
	n, err := shapes.Write(*out, shapes.Options{Shapes: strings.Split(*list, ","), PerClass: *per, Size: *size, Seed: *seed, JPEG: *jpeg})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shapes:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d images of %s to %s\n", n, *list, *out)
}
