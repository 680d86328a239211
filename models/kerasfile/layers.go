package kerasfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tfgo-project/gotf/models/layers"
)

// kcfg is one layer's Keras config, with typed getters that record the
// first bad field.
type kcfg struct {
	class string
	m     map[string]any
	err   error
}

func (c *kcfg) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

func (c *kcfg) has(key string) bool { v, ok := c.m[key]; return ok && v != nil }

func (c *kcfg) str(key, def string) string {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		c.fail("%s is %v, want a string", key, v)
	}
	return s
}

func (c *kcfg) num(key string, def float64) float64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		c.fail("%s is %v, want a number", key, v)
		return def
	}
	return f
}

func (c *kcfg) integer(key string, def int) int {
	f := c.num(key, float64(def))
	if f != math.Trunc(f) || math.Abs(f) > 1<<30 {
		c.fail("%s is %v, want an integer", key, f)
		return def
	}
	return int(f)
}

// maxSeed bounds a layer's seed: JSON numbers hold integers exactly up
// to 2^53, and Keras takes seeds below 2^63.
const maxSeed = 1 << 53

// seed reads a layer's seed: an integer from 0 to maxSeed.
func (c *kcfg) seed() uint64 {
	f := c.num("seed", 0)
	if f != math.Trunc(f) || f < 0 || f > maxSeed {
		c.fail("seed is %v, want an integer from 0 to 2^53", f)
		return 0
	}
	return uint64(f)
}

func (c *kcfg) boolean(key string, def bool) bool {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		c.fail("%s is %v, want true or false", key, v)
	}
	return b
}

// ints reads a list of integers (or one integer, repeated n times).
func (c *kcfg) ints(key string, n int) []int {
	v, ok := c.m[key]
	if !ok || v == nil {
		return nil
	}
	if f, ok := v.(float64); ok && n > 0 {
		out := make([]int, n)
		for i := range out {
			out[i] = int(f)
		}
		if f != math.Trunc(f) || f < 0 || f > 1<<20 {
			c.fail("%s is %v, want a small integer", key, f)
		}
		return out
	}
	list, ok := v.([]any)
	if !ok || (n > 0 && len(list) != n) || len(list) > 32 {
		c.fail("%s is %v, want %d integers", key, v, n)
		return nil
	}
	out := make([]int, len(list))
	for i, e := range list {
		f, ok := e.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<30 {
			c.fail("%s is %v, want integers", key, v)
			return nil
		}
		out[i] = int(f)
	}
	return out
}

// factor reads a Keras augmentation factor: a number f is [-f, f], a
// list is [lower, upper].
func (c *kcfg) factor(key string) [2]float64 {
	switch v := c.m[key].(type) {
	case float64:
		return [2]float64{-v, v}
	case []any:
		if len(v) == 2 {
			lo, ok1 := v[0].(float64)
			hi, ok2 := v[1].(float64)
			if ok1 && ok2 {
				return [2]float64{lo, hi}
			}
		}
	}
	c.fail("%s %s is not supported (a number or [lower, upper])", key, jsonString(c.m[key]))
	return [2]float64{}
}

// lastAxis checks that axis (a number or a list of one) is the last axis of
// a per-sample shape of the given rank.
func (c *kcfg) lastAxis(rank int) {
	v := c.m["axis"]
	if l, ok := v.([]any); ok && len(l) == 1 {
		v = l[0]
	}
	if v == nil {
		return
	}
	if f, ok := v.(float64); ok && (f == -1 || int(f) == rank) {
		return
	}
	c.fail("axis %s is not supported (only the last axis)", jsonString(c.m["axis"]))
}

// in records an error when a value read from key lies outside [lo, hi]:
// Keras refuses zero strides and sizes, and the bounds keep a crafted file
// from declaring weights whose size overflows (real models stay far below).
func (c *kcfg) in(key string, lo, hi int, vals ...int) {
	for _, v := range vals {
		if v < lo || v > hi {
			c.fail("%s %v is out of range (%d to %d)", key, vals, lo, hi)
			return
		}
	}
}

// Bounds on sizes a layer may declare.
const (
	maxUnits  = 1 << 16 // units, filters
	maxWindow = 256     // kernel, pool and stride sizes, depth multiplier
	maxPad    = 4096
)

// want records an error when key is set to something other than the
// values the Go layer implements.
func (c *kcfg) want(key string, ok ...any) {
	v, present := c.m[key]
	if !present {
		return
	}
	for _, o := range ok {
		if fmt.Sprint(v) == fmt.Sprint(o) {
			return
		}
	}
	c.fail("%s=%v is not supported (only %v)", key, jsonString(v), ok)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// common reads what every layer has: its name, whether it trains and its
// dtype policy.
func (c *kcfg) common() []layers.Option {
	var opts []layers.Option
	if name := c.str("name", ""); name != "" {
		opts = append(opts, layers.WithName(name))
	}
	if !c.boolean("trainable", true) {
		opts = append(opts, layers.Frozen())
	}
	switch d := c.m["dtype"].(type) {
	case nil:
	case string:
		if d != "float32" {
			c.fail("dtype %q is not supported (only float32)", d)
		}
	case map[string]any:
		inner, _ := d["config"].(map[string]any)
		if name, _ := inner["name"].(string); name != "float32" {
			c.fail("dtype policy %s is not supported (only float32)", jsonString(inner["name"]))
		}
	default:
		c.fail("dtype %s is not supported", jsonString(d))
	}
	for _, k := range []string{"activity_regularizer", "kernel_constraint", "bias_constraint", "depthwise_constraint", "pointwise_constraint", "beta_constraint", "gamma_constraint"} {
		if c.has(k) {
			c.fail("%s is not supported", k)
		}
	}
	c.want("data_format", "channels_last")
	return opts
}

func (c *kcfg) activation(key string) layers.Activation {
	name := c.str(key, "linear")
	a, err := layers.ParseActivation(name)
	if err != nil {
		c.fail("%s %q is not supported (linear, relu, sigmoid, tanh and softmax are)", key, name)
	}
	return a
}

func (c *kcfg) regularizer(key string) *layers.Regularizer {
	v, ok := c.m[key].(map[string]any)
	if !ok {
		if c.has(key) {
			c.fail("%s %s is not supported", key, jsonString(c.m[key]))
		}
		return nil
	}
	cls, _ := v["class_name"].(string)
	rc, _ := v["config"].(map[string]any)
	num := func(k string) float64 { f, _ := rc[k].(float64); return f }
	var r layers.Regularizer
	switch cls {
	case "L1":
		r = layers.L1(num("l1"))
	case "L2":
		r = layers.L2(num("l2"))
	case "L1L2":
		r = layers.L1L2(num("l1"), num("l2"))
	default:
		c.fail("%s %q is not supported (L1, L2 and L1L2 are)", key, cls)
		return nil
	}
	return &r
}

func (c *kcfg) padding() layers.Padding {
	switch p := c.str("padding", "valid"); p {
	case "valid":
		return layers.Valid
	case "same":
		return layers.Same
	default:
		c.fail("padding %q is not supported (valid and same are)", p)
		return layers.Valid
	}
}

func (c *kcfg) weighted(opts []layers.Option, kernelKey string) []layers.Option {
	if !c.boolean("use_bias", true) {
		opts = append(opts, layers.NoBias())
	}
	if r := c.regularizer(kernelKey); r != nil {
		opts = append(opts, layers.WithKernelRegularizer(*r))
	}
	if r := c.regularizer("bias_regularizer"); r != nil {
		opts = append(opts, layers.WithBiasRegularizer(*r))
	}
	return opts
}

func (c *kcfg) strides(opts []layers.Option) []layers.Option {
	if s := c.ints("strides", 2); s != nil {
		c.in("strides", 1, maxWindow, s...)
		opts = append(opts, layers.WithStrides(int64(s[0]), int64(s[1])))
	}
	return opts
}

// built is a converted layer: a one-input layer or a layer of several.
type built struct {
	single layers.Layer
	multi  layers.MultiLayer
}

// convert maps one Keras layer config to a Go layer. rank is the rank of
// its (first) input's per-sample shape; frozen makes it non-trainable
// whatever its config says.
func convert(class string, m map[string]any, rank int, frozen bool) (built, error) {
	c := &kcfg{class: class, m: m}
	opts := c.common()
	if frozen {
		opts = append(opts, layers.Frozen())
	}
	var b built
	switch class {
	case "Dense":
		opts = c.weighted(opts, "kernel_regularizer")
		units := c.integer("units", 0)
		c.in("units", 1, maxUnits, units)
		b.single = layers.Dense(units, append(opts, layers.WithActivation(c.activation("activation")))...)
	case "Conv2D":
		c.want("dilation_rate", []any{1.0, 1.0}, 1.0)
		c.want("groups", 1.0)
		k := c.ints("kernel_size", 2)
		c.in("kernel_size", 1, maxWindow, k...)
		filters := c.integer("filters", 0)
		c.in("filters", 1, maxUnits, filters)
		opts = c.strides(c.weighted(opts, "kernel_regularizer"))
		opts = append(opts, layers.WithPadding(c.padding()), layers.WithActivation(c.activation("activation")))
		if k != nil {
			b.single = layers.Conv2D(filters, k[0], k[1], opts...)
		} else {
			c.fail("kernel_size is missing")
		}
	case "DepthwiseConv2D", "SeparableConv2D":
		c.want("dilation_rate", []any{1.0, 1.0}, 1.0)
		for _, key := range []string{"depthwise_regularizer", "pointwise_regularizer"} {
			if c.has(key) {
				c.fail("%s is not supported", key)
			}
		}
		k := c.ints("kernel_size", 2)
		c.in("kernel_size", 1, maxWindow, k...)
		mult := c.integer("depth_multiplier", 1)
		c.in("depth_multiplier", 1, maxWindow, mult)
		opts = c.strides(c.weighted(opts, "kernel_regularizer"))
		opts = append(opts, layers.WithPadding(c.padding()), layers.WithActivation(c.activation("activation")),
			layers.WithDepthMultiplier(mult))
		if k != nil && class == "DepthwiseConv2D" {
			b.single = layers.DepthwiseConv2D(k[0], k[1], opts...)
		} else if k != nil {
			filters := c.integer("filters", 0)
			c.in("filters", 1, maxUnits, filters)
			b.single = layers.SeparableConv2D(filters, k[0], k[1], opts...)
		}
	case "BatchNormalization":
		c.lastAxis(rank)
		c.want("center", true)
		c.want("scale", true)
		c.want("renorm", false)
		for _, k := range []string{"beta_regularizer", "gamma_regularizer"} {
			if c.has(k) {
				c.fail("%s is not supported", k)
			}
		}
		mom, eps := c.num("momentum", 0.99), c.num("epsilon", 1e-3)
		if !(mom > 0 && mom <= 1) || !(eps > 0) {
			c.fail("momentum %v and epsilon %v: want momentum in (0, 1] and epsilon > 0", mom, eps)
		}
		b.single = layers.BatchNormalizationWith(layers.BatchNormOptions{Momentum: mom, Epsilon: eps}, opts...)
	case "ReLU", "LeakyReLU":
		o := layers.ReLUOptions{NegativeSlope: c.num("negative_slope", 0), Threshold: c.num("threshold", 0)}
		if class == "LeakyReLU" {
			o.NegativeSlope = c.num("negative_slope", c.num("alpha", 0.3))
		}
		if c.has("max_value") {
			o.MaxValue = c.num("max_value", 0)
			if o.MaxValue <= 0 {
				c.fail("max_value %v is not supported (a positive cap or none)", o.MaxValue)
			}
		}
		b.single = layers.ReLULayer(o, opts...)
	case "Activation":
		if name := c.str("activation", ""); name == "relu6" {
			b.single = layers.ReLULayer(layers.ReLUOptions{MaxValue: 6}, opts...)
		} else {
			b.single = layers.ActivationLayer(c.activation("activation"), opts...)
		}
	case "ZeroPadding2D":
		p := c.m["padding"]
		var tb, lr []int
		sub := func(e any) []int {
			cc := &kcfg{m: map[string]any{"x": e}}
			v := cc.ints("x", 2)
			if cc.err != nil {
				return nil
			}
			return v
		}
		switch v := p.(type) {
		case float64:
			tb, lr = sub(v), sub(v)
		case []any:
			if len(v) == 2 {
				tb, lr = sub(v[0]), sub(v[1])
			}
		}
		if tb == nil || lr == nil {
			c.fail("padding %s is not supported", jsonString(p))
			break
		}
		c.in("padding", 0, maxPad, append(tb, lr...)...)
		b.single = layers.ZeroPadding2D(tb[0], tb[1], lr[0], lr[1], opts...)
	case "MaxPooling2D", "AveragePooling2D":
		size := c.ints("pool_size", 2)
		if size == nil {
			size = []int{2, 2}
		}
		strides := c.ints("strides", 2)
		if strides == nil {
			strides = size
		}
		c.in("pool_size", 1, maxWindow, size...)
		c.in("strides", 1, maxWindow, strides...)
		opts = append(opts, layers.WithStrides(int64(strides[0]), int64(strides[1])), layers.WithPadding(c.padding()))
		if class == "MaxPooling2D" {
			b.single = layers.MaxPool2D(size[0], size[1], opts...)
		} else {
			b.single = layers.AveragePooling2D(size[0], size[1], opts...)
		}
	case "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D":
		c.want("keepdims", false)
		switch class {
		case "GlobalAveragePooling2D":
			b.single = layers.GlobalAveragePooling2D(opts...)
		case "GlobalMaxPooling2D":
			b.single = layers.GlobalMaxPooling2D(opts...)
		case "GlobalAveragePooling1D":
			b.single = layers.GlobalAveragePooling1D(opts...)
		default:
			b.single = layers.GlobalMaxPooling1D(opts...)
		}
	case "Flatten":
		b.single = layers.Flatten(opts...)
	case "Dropout":
		if c.has("noise_shape") {
			c.fail("noise_shape is not supported")
		}
		if c.has("seed") {
			opts = append(opts, layers.WithSeed(c.seed()))
		}
		b.single = layers.Dropout(c.num("rate", 0), opts...)
	case "Reshape":
		t := c.ints("target_shape", 0)
		ts := make([]int64, len(t))
		for i, v := range t {
			ts[i] = int64(v)
		}
		b.single = layers.Reshape(ts, opts...)
	case "Permute":
		b.single = layers.Permute(c.ints("dims", 0), opts...)
	case "Rescaling":
		b.single = layers.Rescaling(c.num("scale", 1), c.num("offset", 0), opts...)
	case "LayerNormalization":
		c.lastAxis(rank)
		c.want("rms_scaling", false)
		if eps := c.num("epsilon", 1e-3); !(eps > 0) {
			c.fail("epsilon %v: want epsilon > 0", eps)
		}
		b.single = layers.LayerNormalization(layers.LayerNormOptions{Epsilon: c.num("epsilon", 1e-3),
			NoCenter: !c.boolean("center", true), NoScale: !c.boolean("scale", true)}, opts...)
	case "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom":
		if c.has("seed") {
			opts = append(opts, layers.WithSeed(c.seed()))
		}
		o := layers.TransformOptions{FillMode: c.str("fill_mode", "reflect"), FillValue: c.num("fill_value", 0),
			Interpolation: c.str("interpolation", "bilinear")}
		switch class {
		case "RandomFlip":
			b.single = layers.RandomFlip(c.str("mode", "horizontal_and_vertical"), opts...)
		case "RandomTranslation":
			b.single = layers.RandomTranslation(c.factor("height_factor"), c.factor("width_factor"), o, opts...)
		case "RandomRotation":
			b.single = layers.RandomRotation(c.factor("factor"), o, opts...)
		default:
			var w *[2]float64
			if c.has("width_factor") {
				f := c.factor("width_factor")
				w = &f
			}
			b.single = layers.RandomZoom(c.factor("height_factor"), w, o, opts...)
		}
	case "Conv1D":
		c.want("dilation_rate", []any{1.0}, 1.0)
		c.want("groups", 1.0)
		k := c.ints("kernel_size", 1)
		c.in("kernel_size", 1, maxWindow, k...)
		filters := c.integer("filters", 0)
		c.in("filters", 1, maxUnits, filters)
		opts = c.weighted(opts, "kernel_regularizer")
		if st := c.ints("strides", 1); st != nil {
			c.in("strides", 1, maxWindow, st...)
			opts = append(opts, layers.WithStride1D(st[0]))
		}
		opts = append(opts, layers.WithPadding(c.padding()), layers.WithActivation(c.activation("activation")))
		if k != nil {
			b.single = layers.Conv1D(filters, k[0], opts...)
		} else {
			c.fail("kernel_size is missing")
		}
	case "Embedding":
		for _, k := range []string{"embeddings_regularizer", "embeddings_constraint"} {
			if c.has(k) {
				c.fail("%s is not supported", k)
			}
		}
		in, out := c.integer("input_dim", 0), c.integer("output_dim", 0)
		c.in("input_dim", 1, 1<<24, in)
		c.in("output_dim", 1, maxUnits, out)
		if c.boolean("mask_zero", false) {
			opts = append(opts, layers.MaskZero())
		}
		b.single = layers.Embedding(in, out, opts...)
	case "LSTM", "GRU":
		var l layers.RecurrentLayer
		if l, c.err = recurrent(class, c, opts, false); l != nil {
			b = oneOrMore(l, c.boolean("return_state", false))
		}
	case "Bidirectional":
		c.want("merge_mode", "concat")
		inner, _ := c.m["layer"].(map[string]any)
		innerClass, _ := inner["class_name"].(string)
		innerCfg, _ := inner["config"].(map[string]any)
		if innerClass != "LSTM" && innerClass != "GRU" {
			c.fail("Bidirectional of %s is not supported (LSTM and GRU are)", jsonString(inner["class_name"]))
			break
		}
		if bw, ok := c.m["backward_layer"].(map[string]any); ok {
			// Keras writes the backward copy it made itself; another one
			// is not the Go layer's.
			bc, _ := bw["config"].(map[string]any)
			same := bw["class_name"] == innerClass && bc["go_backwards"] == true
			for _, k := range []string{"units", "return_sequences", "return_state", "activation", "recurrent_activation", "use_bias", "reset_after"} {
				same = same && fmt.Sprint(bc[k]) == fmt.Sprint(innerCfg[k])
			}
			if !same {
				c.fail("backward_layer %s is not supported (only the backward copy of the forward layer, as Bidirectional makes it)", jsonString(bw["class_name"]))
				break
			}
		} else if c.has("backward_layer") {
			c.fail("backward_layer %s is not supported", jsonString(c.m["backward_layer"]))
			break
		}
		ic := &kcfg{class: innerClass, m: innerCfg}
		ic.common()
		l, err := recurrent(innerClass, ic, nil, true)
		if err != nil {
			c.fail("layer: %v", err)
			break
		}
		b = oneOrMore(layers.Bidirectional(l, opts...), ic.boolean("return_state", false))
	case "Add":
		b.multi = layers.Add(opts...)
	case "Multiply":
		b.multi = layers.Multiply(opts...)
	case "Concatenate":
		b.multi = layers.Concatenate(c.integer("axis", -1), opts...)
	default:
		return b, fmt.Errorf("layer type %s is not supported (%s)", class, strings.Join(supported, ", "))
	}
	if c.err != nil {
		return built{}, c.err
	}
	return b, nil
}

// oneOrMore is a recurrent layer as a one-output layer, or, when it
// returns its states too, as a layer of several outputs.
func oneOrMore(l layers.RecurrentLayer, states bool) built {
	if states {
		return built{multi: l}
	}
	return built{single: l}
}

// recurrent reads an LSTM or GRU layer: Keras's defaults (tanh, sigmoid
// gates, a bias, GRU's reset_after, no dropout, no state carried between
// batches) are what the Go layers compute; anything else is refused.
func recurrent(class string, c *kcfg, opts []layers.Option, inBidirectional bool) (layers.RecurrentLayer, error) {
	c.want("activation", "tanh")
	c.want("recurrent_activation", "sigmoid")
	c.want("use_bias", true)
	c.want("go_backwards", false)
	c.want("stateful", false)
	c.want("dropout", 0.0)
	c.want("recurrent_dropout", 0.0)
	if inBidirectional {
		// Keras sets it with return_sequences there, as the Go layer does.
		c.want("zero_output_for_mask", c.boolean("return_sequences", false))
	} else {
		c.want("zero_output_for_mask", false)
	}
	if class == "GRU" {
		c.want("reset_after", true)
	}
	for _, k := range []string{"kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "recurrent_constraint"} {
		if c.has(k) {
			c.fail("%s is not supported", k)
		}
	}
	units := c.integer("units", 0)
	c.in("units", 1, maxUnits, units)
	if c.boolean("return_sequences", false) {
		opts = append(opts, layers.ReturnSequences())
	}
	if c.boolean("return_state", false) {
		opts = append(opts, layers.ReturnState())
	}
	if c.err != nil {
		return nil, c.err
	}
	if class == "LSTM" {
		return layers.LSTM(units, opts...), nil
	}
	return layers.GRU(units, opts...), nil
}

// supported lists the Keras layer classes convert reads, for errors.
var supported = []string{"InputLayer", "Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
	"BatchNormalization", "ReLU", "LeakyReLU", "Activation", "ZeroPadding2D", "MaxPooling2D",
	"AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
	"GlobalMaxPooling1D", "Flatten", "Dropout", "Reshape", "Permute", "Rescaling",
	"RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
	"LayerNormalization", "Conv1D", "Embedding", "LSTM", "GRU", "Bidirectional",
	"Add", "Multiply", "Concatenate", "Functional", "Sequential"}
