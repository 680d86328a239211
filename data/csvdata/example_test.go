package csvdata_test

import (
	"fmt"
	"strings"

	"github.com/tfgo-project/gotf/data/csvdata"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Example reads a CSV with a header and class names, and makes the
// models.Dataset that Fit takes.
func Example() {
	const file = `length,width,shape
1.0,1.1,square
2.5,0.4,bar
0.9,1.0,square
3.1,0.5,bar
`
	t, err := csvdata.Read(strings.NewReader(file), csvdata.Options{Label: "shape"})
	if err != nil {
		fmt.Println(err)
		return
	}
	x, _ := tfwrap.NewTensor(t.X, int64(t.Rows), int64(len(t.Columns)))
	y, _ := tfwrap.NewTensor(t.Y, int64(t.Rows))
	ds, err := models.NewDataset(x, y)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Columns, t.Classes, t.Y, ds.Len())
	// Output: [length width] [bar square] [1 0 1 0] 4
}
