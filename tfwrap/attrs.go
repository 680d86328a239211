package tfwrap

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
)

// listLen is the length of a list attr, for its minimum.
type listLen int64

// toAttrValue converts v to an AttrValue of the registered kind ("int",
// "list(shape)", ...). plain is the value in the form inference and
// allowed-value checks compare: tf.DataType, []tf.DataType, int64, string,
// listLen, or nil.
func toAttrValue(kind string, v any) (av *attrpb.AttrValue, plain any, err error) {
	if v == nil {
		return nil, nil, fmt.Errorf("value is nil")
	}
	if elem, ok := strings.CutPrefix(kind, "list("); ok {
		elem = strings.TrimSuffix(elem, ")")
		return toAttrList(elem, v)
	}
	switch kind {
	case "string":
		s, err := toString(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_S{S: []byte(s)}}, s, err
	case "int":
		n, err := toInt(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_I{I: n}}, n, err
	case "float":
		f, err := toFloat(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_F{F: f}}, nil, err
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, nil, fmt.Errorf("want a bool, got %T", v)
		}
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_B{B: b}}, nil, nil
	case "type":
		dt, err := toType(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: typespb.DataType(dt)}}, dt, err
	case "shape":
		s, err := toShape(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: s}}, nil, err
	case "tensor":
		t, err := toTensorProto(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Tensor{Tensor: t}}, nil, err
	case "func":
		f, err := toFunc(v)
		return &attrpb.AttrValue{Value: &attrpb.AttrValue_Func{Func: f}}, nil, err
	}
	return nil, nil, fmt.Errorf("attr kind %q is not supported", kind)
}

func toAttrList(elem string, v any) (*attrpb.AttrValue, any, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, nil, fmt.Errorf("want a slice, got %T", v)
	}
	if _, isBytes := v.([]byte); isBytes && elem != "int" {
		return nil, nil, fmt.Errorf("want a slice of %s, got []byte", elem)
	}
	n := rv.Len()
	list := &attrpb.AttrValue_ListValue{}
	var types []tf.DataType
	for i := 0; i < n; i++ {
		x := rv.Index(i).Interface()
		var err error
		switch elem {
		case "string":
			var s string
			s, err = toString(x)
			list.S = append(list.S, []byte(s))
		case "int":
			var k int64
			k, err = toInt(x)
			list.I = append(list.I, k)
		case "float":
			var f float32
			f, err = toFloat(x)
			list.F = append(list.F, f)
		case "bool":
			b, ok := x.(bool)
			if !ok {
				err = fmt.Errorf("want a bool, got %T", x)
			}
			list.B = append(list.B, b)
		case "type":
			var dt tf.DataType
			dt, err = toType(x)
			list.Type = append(list.Type, typespb.DataType(dt))
			types = append(types, dt)
		case "shape":
			var s *shapepb.TensorShapeProto
			s, err = toShape(x)
			list.Shape = append(list.Shape, s)
		case "tensor":
			var t *tensorpb.TensorProto
			t, err = toTensorProto(x)
			list.Tensor = append(list.Tensor, t)
		case "func":
			var f *attrpb.NameAttrList
			f, err = toFunc(x)
			list.Func = append(list.Func, f)
		default:
			return nil, nil, fmt.Errorf("attr kind list(%s) is not supported", elem)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("element %d: %v", i, err)
		}
	}
	av := &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: list}}
	if elem == "type" {
		if types == nil {
			types = []tf.DataType{}
		}
		return av, types, nil
	}
	return av, listLen(n), nil
}

func toString(v any) (string, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("want a string, got %T", v)
}

func toInt(v any) (int64, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return 0, fmt.Errorf("%d overflows int64", u)
		}
		return int64(u), nil
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

func toFloat(v any) (float32, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return float32(rv.Float()), nil
	}
	n, err := toInt(v)
	if err != nil {
		return 0, fmt.Errorf("want a float, got %T", v)
	}
	return float32(n), nil
}

func toType(v any) (tf.DataType, error) {
	switch d := v.(type) {
	case DType:
		if !d.Valid() {
			return 0, fmt.Errorf("invalid DType %d", int(d))
		}
		return tfType(d), nil
	case tf.DataType:
		if _, ok := typespb.DataType_name[int32(d)]; !ok || d == 0 {
			return 0, fmt.Errorf("invalid tf.DataType %d", int(d))
		}
		return d, nil
	case typespb.DataType:
		if _, ok := typespb.DataType_name[int32(d)]; !ok || d == 0 {
			return 0, fmt.Errorf("invalid DataType %d", int(d))
		}
		return tf.DataType(d), nil
	}
	return 0, fmt.Errorf("want a DType, got %T", v)
}

func toShape(v any) (*shapepb.TensorShapeProto, error) {
	var dims []int64
	switch s := v.(type) {
	case tf.Shape:
		if s.NumDimensions() < 0 {
			return &shapepb.TensorShapeProto{UnknownRank: true}, nil
		}
		dims = make([]int64, s.NumDimensions())
		for i := range dims {
			dims[i] = s.Size(i)
		}
	case []int64:
		dims = s
	case []int:
		dims = make([]int64, len(s))
		for i, d := range s {
			dims[i] = int64(d)
		}
	default:
		return nil, fmt.Errorf("want a shape ([]int64 or tf.Shape), got %T", v)
	}
	p := &shapepb.TensorShapeProto{Dim: make([]*shapepb.TensorShapeProto_Dim, len(dims))}
	for i, d := range dims {
		if d < -1 {
			return nil, fmt.Errorf("dimension %d is %d; use -1 for unknown", i, d)
		}
		p.Dim[i] = &shapepb.TensorShapeProto_Dim{Size: d}
	}
	return p, nil
}

func toTensorProto(v any) (*tensorpb.TensorProto, error) {
	var t *Tensor
	switch x := v.(type) {
	case *Tensor:
		t = x
	case *tf.Tensor:
		if x == nil {
			return nil, ErrNilTensor
		}
		var err error
		if t, err = wrapTensor(x); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("want a *Tensor, got %T", v)
	}
	if !t.ok() {
		return nil, ErrNilTensor
	}
	sh, _ := toShape(t.Shape())
	p := &tensorpb.TensorProto{Dtype: t.DType().Proto(), TensorShape: sh}
	if t.DType() == String {
		ss, err := t.Strings()
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			p.StringVal = append(p.StringVal, []byte(s))
		}
		return p, nil
	}
	raw, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	p.TensorContent = raw
	return p, nil
}

func toFunc(v any) (*attrpb.NameAttrList, error) {
	var f Func
	switch x := v.(type) {
	case Func:
		f = x
	case string:
		f = Func{Name: x}
	default:
		return nil, fmt.Errorf("want a Func or a function name, got %T", v)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("function name is empty")
	}
	out := &attrpb.NameAttrList{Name: f.Name, Attr: map[string]*attrpb.AttrValue{}}
	for k, x := range f.Attrs {
		av, _, err := toAttrValue(kindOf(x), x)
		if err != nil {
			return nil, fmt.Errorf("function %s attr %s: %v", f.Name, k, err)
		}
		out.Attr[k] = av
	}
	return out, nil
}

// kindOf guesses an attr kind from a Go value, for a function's own attrs,
// which have no registered definition to read it from.
func kindOf(v any) string {
	switch v.(type) {
	case string, []byte:
		return "string"
	case bool:
		return "bool"
	case float32, float64:
		return "float"
	case DType, tf.DataType, typespb.DataType:
		return "type"
	case tf.Shape:
		return "shape"
	case *Tensor, *tf.Tensor:
		return "tensor"
	case Func:
		return "func"
	case []string:
		return "list(string)"
	case []float32, []float64:
		return "list(float)"
	case []bool:
		return "list(bool)"
	case []DType, []tf.DataType:
		return "list(type)"
	}
	if reflect.ValueOf(v).Kind() == reflect.Slice {
		return "list(int)"
	}
	return "int"
}
