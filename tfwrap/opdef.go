package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"fmt"
	"sort"
	"sync"
	"unsafe"

	opdefpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/suggest"
)

// The op registry of the loaded libtensorflow, read once through
// TF_GetAllOpList: every op type a graph can hold, with its inputs, outputs
// and attrs as TensorFlow registered them.
var registry struct {
	once  sync.Once
	ops   map[string]*opdefpb.OpDef
	names []string
	err   error
}

func loadRegistry() {
	buf := C.TF_GetAllOpList()
	if buf == nil {
		registry.err = fmt.Errorf("tfwrap: TF_GetAllOpList returned nothing")
		return
	}
	defer C.TF_DeleteBuffer(buf)
	raw := C.GoBytes(unsafe.Pointer(buf.data), C.int(buf.length))
	var list opdefpb.OpList
	if err := proto.Unmarshal(raw, &list); err != nil {
		registry.err = fmt.Errorf("tfwrap: reading TensorFlow's op registry: %v", err)
		return
	}
	registry.ops = make(map[string]*opdefpb.OpDef, len(list.Op))
	for _, d := range list.Op {
		registry.ops[d.Name] = d
		registry.names = append(registry.names, d.Name)
	}
	sort.Strings(registry.names)
}

// OpTypes returns the name of every op type registered in the loaded
// libtensorflow, sorted.
func OpTypes() []string {
	registry.once.Do(loadRegistry)
	return append([]string(nil), registry.names...)
}

// LookupOpDef returns the registered definition of op type typ: its input
// and output args, attrs with their kinds, defaults and allowed values. An
// unknown type gives an error with the nearest registered name.
func LookupOpDef(typ string) (*opdefpb.OpDef, error) {
	registry.once.Do(loadRegistry)
	if registry.err != nil {
		return nil, registry.err
	}
	if d, ok := registry.ops[typ]; ok {
		return d, nil
	}
	if near := suggest.Closest(typ, registry.names); near != "" {
		return nil, fmt.Errorf("tfwrap: no op type %q is registered in TensorFlow; did you mean %q?", typ, near)
	}
	return nil, fmt.Errorf("tfwrap: no op type %q is registered in TensorFlow", typ)
}
