package serving

import (
	"fmt"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

var kinds = map[tfwrap.DType]restjson.Kind{
	tfwrap.Float32: restjson.Float32, tfwrap.Float64: restjson.Float64, tfwrap.Int32: restjson.Int32,
	tfwrap.Int64: restjson.Int64, tfwrap.Uint8: restjson.Uint8, tfwrap.Bool: restjson.Bool, tfwrap.String: restjson.String,
}

// inputsOf describes a signature's inputs to the JSON decoder.
func inputsOf(sig *savedmodels.Signature) ([]restjson.Input, error) {
	out := make([]restjson.Input, len(sig.Inputs))
	for i, in := range sig.Inputs {
		k, ok := kinds[in.DType]
		if !ok {
			return nil, fmt.Errorf("input %q has a dtype the server cannot decode", in.Name)
		}
		out[i] = restjson.Input{Name: in.Name, Kind: k, Shape: in.Shape}
	}
	return out, nil
}

// toTensor converts a decoded array to the input's dtype.
func toTensor(a *restjson.Array, dt tfwrap.DType) (*tfwrap.Tensor, error) {
	switch dt {
	case tfwrap.Float32:
		return tfwrap.NewTensor(tfwrap.Convert[float32](a.Floats), a.Shape...)
	case tfwrap.Float64:
		return tfwrap.NewTensor(a.Floats, a.Shape...)
	case tfwrap.Int32:
		return tfwrap.NewTensor(tfwrap.Convert[int32](a.Ints), a.Shape...)
	case tfwrap.Int64:
		return tfwrap.NewTensor(a.Ints, a.Shape...)
	case tfwrap.Uint8:
		return tfwrap.NewTensor(tfwrap.Convert[uint8](a.Ints), a.Shape...)
	case tfwrap.Bool:
		return tfwrap.NewTensor(a.Bools, a.Shape...)
	case tfwrap.String:
		return tfwrap.NewStrings(a.Strings, a.Shape...)
	}
	return nil, fmt.Errorf("unsupported dtype %v", dt)
}

// toOutput converts a fetched tensor for the JSON encoder.
func toOutput(name string, t *tfwrap.Tensor) (restjson.Output, error) {
	o := restjson.Output{Name: name, Shape: t.Shape()}
	var err error
	switch t.DType() {
	case tfwrap.Float32, tfwrap.Float64:
		o.Float32 = t.DType() == tfwrap.Float32
		o.Floats, err = tfwrap.ValuesAs[float64](t)
	case tfwrap.Int32, tfwrap.Int64, tfwrap.Uint8:
		o.Ints, err = tfwrap.ValuesAs[int64](t)
	case tfwrap.Bool:
		o.Bools, err = tfwrap.Values[bool](t)
	case tfwrap.String:
		o.Strings, err = t.Strings()
	default:
		err = fmt.Errorf("output %q has an unsupported dtype", name)
	}
	return o, err
}
