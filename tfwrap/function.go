package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// AddFunction turns body into a function named name in g's function
// library, taking inputs (placeholders of body) and returning outputs, so a
// func attr can name it: a PartitionedCall, a While's cond and body, a
// MapDataset's f. body is copied; it stays usable.
func (g *Graph) AddFunction(name string, body *Graph, inputs, outputs []Output) error {
	if g == nil || g.st == nil {
		return fmt.Errorf("tfwrap: AddFunction: nil graph")
	}
	if err := g.syncErr(); err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, " :/") {
		return fmt.Errorf("tfwrap: AddFunction: invalid function name %q", name)
	}
	if body == nil || body.st == nil {
		return fmt.Errorf("tfwrap: AddFunction %s: nil body", name)
	}
	if err := body.syncErr(); err != nil {
		return fmt.Errorf("tfwrap: AddFunction %s: body: %w", name, err)
	}
	if body.st == g.st {
		return fmt.Errorf("tfwrap: AddFunction %s: the body must be a graph of its own", name)
	}
	conv := func(what string, os []Output) ([]C.TF_Output, error) {
		out := make([]C.TF_Output, len(os))
		for i, o := range os {
			if !o.Valid() || o.st != body.st {
				return nil, fmt.Errorf("tfwrap: AddFunction %s: %s %d is not an output of the body", name, what, i)
			}
			out[i] = cOutput(o.out)
		}
		return out, nil
	}
	ins, err := conv("input", inputs)
	if err != nil {
		return err
	}
	outs, err := conv("output", outputs)
	if err != nil {
		return err
	}
	if len(outs) == 0 {
		return fmt.Errorf("tfwrap: AddFunction %s: no outputs", name)
	}
	cIns := (*C.TF_Output)(C.malloc(C.size_t(max(len(ins), 1)) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
	defer C.free(unsafe.Pointer(cIns))
	copy(unsafe.Slice(cIns, max(len(ins), 1)), ins)
	cOuts := (*C.TF_Output)(C.malloc(C.size_t(len(outs)) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
	defer C.free(unsafe.Pointer(cOuts))
	copy(unsafe.Slice(cOuts, len(outs)), outs)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	fn := C.TF_GraphToFunction((*C.TF_Graph)(firstPtr(body.st.g)), cname, 0, -1, nil,
		C.int(len(ins)), cIns, C.int(len(outs)), cOuts, nil, nil, nil, status)
	if C.TF_GetCode(status) != C.TF_OK {
		return fmt.Errorf("tfwrap: AddFunction %s: %s", name, C.GoString(C.TF_Message(status)))
	}
	defer C.TF_DeleteFunction(fn)
	C.TF_GraphCopyFunction((*C.TF_Graph)(firstPtr(g.st.g)), fn, nil, status)
	if C.TF_GetCode(status) != C.TF_OK {
		return fmt.Errorf("tfwrap: AddFunction %s: %s", name, C.GoString(C.TF_Message(status)))
	}
	return nil
}
