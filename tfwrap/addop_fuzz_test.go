package tfwrap

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	opdefpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
)

// Random op construction over the whole registry (graph building only, no
// Run): random op types, inputs of random dtypes, shapes and arity, attrs
// of random kinds and values, unknown attrs, foreign and invalid inputs.
// None may panic or abort the process; every refusal is an error. The run
// is bounded (GOTF_FUZZ_OPS sets the count; the default takes a few
// seconds); FuzzAddOp lets `go test -fuzz` go further.
func TestAddOpRandomSpecs(t *testing.T) {
	n := 20000
	if s := os.Getenv("GOTF_FUZZ_OPS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	types := OpTypes()
	if len(types) < 1000 {
		t.Fatalf("the registry has %d op types; want the whole library", len(types))
	}
	seed := uint64(1)
	if s := os.Getenv("GOTF_FUZZ_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	built, refused := 0, 0
	for i := 0; i < n; i++ {
		typ := types[r.IntN(len(types))]
		if ok := randomOp(t, r, typ); ok {
			built++
		} else {
			refused++
		}
	}
	t.Logf("%d random specs: %d built, %d refused with an error", n, built, refused)
	if built == 0 || refused == 0 {
		t.Fatalf("built %d, refused %d: the generator is not exercising both paths", built, refused)
	}
}

func FuzzAddOp(f *testing.F) {
	f.Add(uint64(1), "Transpose")
	f.Add(uint64(2), "ConcatV2")
	f.Add(uint64(3), "Conv2D")
	f.Fuzz(func(t *testing.T, seed uint64, typ string) {
		randomOp(t, rand.New(rand.NewPCG(seed, 7)), typ)
	})
}

// randomOp builds one random spec of op type typ in a fresh graph and
// reports whether it was built. It fails t on a panic, or on a nil op
// without an error.
func randomOp(t *testing.T, r *rand.Rand, typ string) (built bool) {
	t.Helper()
	// GOTF_FUZZ_SKIP=A,B skips op types while hunting for the next crash;
	// GOTF_FUZZ_TRACE=1 prints each spec before it is built.
	if strings.Contains(","+os.Getenv("GOTF_FUZZ_SKIP")+",", ","+typ+",") {
		return false
	}
	g := NewGraph()
	other := NewGraph()
	def, err := LookupOpDef(typ)
	spec := OpSpec{Type: typ, Attrs: Attrs{}}
	if err == nil {
		nin := len(def.InputArg)
		if r.IntN(20) == 0 {
			nin += r.IntN(3) - 1
		}
		for k := 0; k < max(nin, 0); k++ {
			spec.Inputs = append(spec.Inputs, randomInput(r, g, other, def, k))
		}
		for _, a := range def.Attr {
			if r.IntN(10) < 6 {
				spec.Attrs[a.Name] = randomAttr(r, a.Type)
			}
		}
		if r.IntN(10) == 0 {
			spec.Attrs["no_such_attr"] = 1
		}
	}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("AddOp(%s) panicked: %v\nspec: %+v", typ, p, spec)
		}
	}()
	if err := g.Err(); err != nil {
		return false // a random input placeholder was refused
	}
	if os.Getenv("GOTF_FUZZ_TRACE") != "" {
		fmt.Fprintf(os.Stderr, "FUZZ %s %v %v\n", typ, spec.Attrs, spec.Inputs)
	}
	op := g.AddOp(spec)
	if op == nil && g.Err() == nil {
		t.Fatalf("AddOp(%s) returned nil without an error", typ)
	}
	if op != nil {
		for i := 0; i < op.NumOutputs(); i++ {
			_ = op.Output(i).String()
		}
	}
	return op != nil
}

func randomDType(r *rand.Rand) tf.DataType {
	for {
		d := typespb.DataType(r.IntN(30))
		if _, ok := typespb.DataType_name[int32(d)]; ok && d != 0 {
			return tf.DataType(d)
		}
	}
}

func randomShape(r *rand.Rand) []int64 {
	s := make([]int64, r.IntN(5))
	for i := range s {
		s[i] = int64(r.IntN(5)) - 1
	}
	return s
}

// randomInput is usually a placeholder of the argument's own dtype, and
// sometimes of any dtype, a list, an invalid Output, nil or another
// graph's output.
func randomInput(r *rand.Rand, g, other *Graph, def *opdefpb.OpDef, k int) Input {
	ph := func() Output {
		dt := randomDType(r)
		if k < len(def.InputArg) && r.IntN(4) > 0 {
			if a := def.InputArg[k]; a.Type != 0 {
				dt = tf.DataType(a.Type)
			} else if allowed := allowedTypes(def, a.TypeAttr); len(allowed) > 0 {
				dt = tf.DataType(allowed[r.IntN(len(allowed))])
			} else {
				dt = tf.Float
			}
		}
		return g.Apply("Placeholder", Attrs{"dtype": dt, "shape": randomShape(r)})
	}
	isList := k < len(def.InputArg) && (def.InputArg[k].NumberAttr != "" || def.InputArg[k].TypeListAttr != "")
	switch v := r.IntN(40); {
	case v == 0:
		return nil
	case v == 1:
		return Output{}
	case v == 2:
		return other.Scalar(1, Float32)
	case v == 3:
		return OutputList{}
	case isList != (v == 4):
		l := make(OutputList, r.IntN(4))
		for i := range l {
			l[i] = ph()
		}
		return l
	}
	return ph()
}

func allowedTypes(def *opdefpb.OpDef, attr string) []typespb.DataType {
	for _, a := range def.Attr {
		if a.Name == attr && a.AllowedValues != nil && a.AllowedValues.GetList() != nil {
			return a.AllowedValues.GetList().Type
		}
	}
	return nil
}

// randomAttr is a value of the attr's kind (or, one time in eight, of
// another) with small random contents.
func randomAttr(r *rand.Rand, kind string) any {
	kinds := []string{"string", "int", "float", "bool", "type", "shape", "tensor", "func",
		"list(int)", "list(type)", "list(shape)", "list(string)", "list(float)"}
	if r.IntN(8) == 0 {
		kind = kinds[r.IntN(len(kinds))]
	}
	switch kind {
	case "string":
		return []string{"", "SAME", "VALID", "NHWC", "NCHW", "x"}[r.IntN(6)]
	case "int":
		return r.IntN(9) - 2
	case "float":
		return r.Float64()*4 - 2
	case "bool":
		return r.IntN(2) == 0
	case "type":
		return randomDType(r)
	case "shape":
		if r.IntN(6) == 0 {
			return UnknownRank
		}
		return randomShape(r)
	case "tensor":
		x, _ := NewTensor([]float32{1, 2}, 2)
		return x
	case "func":
		return Func{Name: fmt.Sprintf("f%d", r.IntN(3))}
	case "list(int)":
		l := make([]int64, r.IntN(5))
		for i := range l {
			l[i] = int64(r.IntN(5)) - 1
		}
		return l
	case "list(type)":
		l := make([]tf.DataType, r.IntN(4))
		for i := range l {
			l[i] = randomDType(r)
		}
		return l
	case "list(shape)":
		l := make([]tf.Shape, r.IntN(3))
		for i := range l {
			l[i] = tf.MakeShape(randomShape(r)...)
		}
		return l
	case "list(string)":
		return []string{"a", "b"}[:r.IntN(3)]
	case "list(float)":
		return []float32{0.5, 1}[:r.IntN(3)]
	}
	return 1
}
