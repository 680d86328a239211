package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Layer is one step of a Sequential model.
type Layer interface {
	// Name is the layer's unique name in its model, e.g. "dense_1".
	Name() string
	// Type is the Keras class name, e.g. "Dense".
	Type() string
	// SetName names the layer; the model calls it for unnamed layers.
	SetName(name string)
	// OutputShape returns the per-sample output shape for a per-sample
	// input shape, or an error naming what does not fit. Pure Go.
	OutputShape(in []int64) ([]int64, error)
	// ParamCount returns the number of trainable and non-trainable
	// parameters for a per-sample input shape.
	ParamCount(in []int64) (trainable, nonTrainable int64)
	// Forward adds the layer's ops for a batch x to ctx.Graph.
	Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error)
	// Weights returns the layer's variables in Keras's get_weights order,
	// once Forward has created them.
	Weights() []*tfwrap.Variable
	// Config describes the layer, as Keras's get_config; FromConfig
	// rebuilds it from the description.
	Config() Config
}

// Context is what a layer's Forward builds with.
type Context struct {
	// Graph is a view of the model's graph scoped to the layer's name.
	Graph *tfwrap.Graph
	// Training is true for the training pass: Dropout drops and
	// BatchNormalization uses the batch's statistics.
	Training bool
	// Seed seeds the layer's initializers and random ops.
	Seed uint64
	// Step is an int64 scalar that changes every training step; with Seed
	// it determines the dropout masks, so that a run restored from a
	// checkpoint draws the masks the uninterrupted run would have.
	Step tfwrap.Output
	// Updates collects ops that must run with each training step (moving
	// averages).
	Updates []*tfwrap.Op
	// Logits is the pre-activation of the last layer when that layer ended
	// in softmax or sigmoid; losses use it, as Keras does, for a stable
	// cross-entropy.
	Logits tfwrap.Output
	// LogitsOf is the activation Logits went into.
	LogitsOf Activation
	// Losses collects float32 scalars the model adds to its loss: the
	// layers' regularization penalties (WithKernelRegularizer), as Keras's
	// model.losses.
	Losses []tfwrap.Output
	// Masks are the masks of the layer's inputs, one per input, as Keras
	// passes mask= to call: a bool [batch, steps] tensor (true: a real
	// step) or the zero Output for none. Embedding with mask_zero makes
	// them; recurrent layers and GlobalAveragePooling1D read them.
	Masks []tfwrap.Output
	// OutMasks, set by a layer's Forward, are the masks of its outputs.
	// The model clears it before each call; a layer that leaves it nil
	// hands its first input's mask on if PassesMask(its type), and drops
	// it otherwise.
	OutMasks []tfwrap.Output
}

// Option configures a layer.
type Option func(*config)

type config struct {
	name        string
	activation  Activation
	noBias      bool
	strides     [2]int64
	padding     Padding
	seed        *uint64
	frozen      bool
	kernelReg   *Regularizer
	biasReg     *Regularizer
	returnSeq   bool // ReturnSequences
	returnState bool // ReturnState
	maskZero    bool // MaskZero
	// depthMultiplier is a DepthwiseConv2D or SeparableConv2D layer's
	// channels out per channel in.
	depthMultiplier int64
	given           []string // the options given, by name, for CheckOptions
}

// mark records that the option name was given.
func (c *config) mark(name string) {
	for _, g := range c.given {
		if g == name {
			return
		}
	}
	c.given = append(c.given, name)
}

// WithName names the layer instead of the Keras-style default.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithActivation applies an activation to a Dense, Conv2D or Activation
// layer's output.
func WithActivation(a Activation) Option {
	return func(c *config) { c.activation = a; c.mark("WithActivation") }
}

// NoBias leaves out a Dense or Conv2D layer's bias.
func NoBias() Option { return func(c *config) { c.noBias = true; c.mark("NoBias") } }

// WithStrides sets a Conv2D or pooling layer's strides.
func WithStrides(h, w int64) Option {
	return func(c *config) { c.strides = [2]int64{h, w}; c.mark("WithStrides") }
}

// WithPadding sets a Conv2D or pooling layer's padding (Valid by default).
func WithPadding(p Padding) Option { return func(c *config) { c.padding = p; c.mark("WithPadding") } }

// WithSeed fixes the seed of a Dense or Conv2D layer's initializers or a
// Dropout layer's mask, instead of the one the model derives from its own
// seed.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = &seed; c.mark("WithSeed") } }

// Frozen makes the layer's weights non-trainable, as layer.trainable =
// False in Keras: the optimizer leaves them alone (a pretrained backbone).
// Any layer takes it.
func Frozen() Option { return func(c *config) { c.frozen = true } }

// WithKernelRegularizer adds r's penalty on a Dense or Conv2D layer's
// kernel to the training loss, as Keras's kernel_regularizer.
func WithKernelRegularizer(r Regularizer) Option {
	return func(c *config) { c.kernelReg = &r; c.mark("WithKernelRegularizer") }
}

// WithBiasRegularizer adds r's penalty on a Dense or Conv2D layer's bias
// to the training loss, as Keras's bias_regularizer.
func WithBiasRegularizer(r Regularizer) Option {
	return func(c *config) { c.biasReg = &r; c.mark("WithBiasRegularizer") }
}

// takes lists, by Keras class name, the options beyond WithName and Frozen
// that each layer type takes.
var takes = map[string][]string{
	"Dense":                  {"WithActivation", "NoBias", "WithSeed", "WithKernelRegularizer", "WithBiasRegularizer"},
	"Conv2D":                 {"WithActivation", "NoBias", "WithSeed", "WithKernelRegularizer", "WithBiasRegularizer", "WithStrides", "WithPadding"},
	"MaxPooling2D":           {"WithStrides", "WithPadding"},
	"AveragePooling2D":       {"WithStrides", "WithPadding"},
	"Flatten":                {},
	"Dropout":                {"WithSeed"},
	"BatchNormalization":     {},
	"Activation":             {"WithActivation"},
	"ReLU":                   {},
	"Conv1D":                 {"WithActivation", "NoBias", "WithSeed", "WithStride1D", "WithPadding"},
	"Embedding":              {"WithSeed", "MaskZero"},
	"LayerNormalization":     {},
	"Reshape":                {},
	"Permute":                {},
	"ZeroPadding2D":          {},
	"Rescaling":              {},
	"Normalization":          {},
	"RandomFlip":             {"WithSeed"},
	"RandomTranslation":      {"WithSeed"},
	"RandomRotation":         {"WithSeed"},
	"RandomZoom":             {"WithSeed"},
	"GlobalAveragePooling1D": {},
	"GlobalAveragePooling2D": {},
	"GlobalMaxPooling1D":     {},
	"GlobalMaxPooling2D":     {},
	"Add":                    {},
	"Multiply":               {},
	"Concatenate":            {},
	"LSTM":                   {"WithSeed", "ReturnSequences", "ReturnState"},
	"GRU":                    {"WithSeed", "ReturnSequences", "ReturnState"},
	"Bidirectional":          {},
	"DepthwiseConv2D":        {"WithActivation", "NoBias", "WithSeed", "WithStrides", "WithPadding", "WithDepthMultiplier"},
	"SeparableConv2D":        {"WithActivation", "NoBias", "WithSeed", "WithStrides", "WithPadding", "WithDepthMultiplier"},
	"MultiHeadAttention":     {"NoBias", "WithSeed"},
}

// CheckOptions returns an error naming the layer and the option when l was
// given an option its type does not take (WithStrides on a Dense layer,
// WithKernelRegularizer on MaxPool2D), which would otherwise be ignored.
// NewSequential calls it for every layer. Layers of types it does not know
// (defined outside this package) pass.
func CheckOptions(l interface {
	Name() string
	Type() string
}) error {
	if l == nil {
		return nil
	}
	o, ok := l.(interface{ options() *config })
	if !ok {
		return nil
	}
	allowed, ok := takes[l.Type()]
	if !ok {
		return nil
	}
	for _, g := range o.options().given {
		found := false
		for _, a := range allowed {
			found = found || a == g
		}
		if !found {
			name := l.Name()
			if name == "" {
				name = "(unnamed)"
			}
			return fmt.Errorf("layers: layer %s: %s does not take option %s", name, l.Type(), g)
		}
	}
	return nil
}

// variable creates one of the layer's weights, frozen or not.
func (b *base) variable(g *tfwrap.Graph, name string, init *tfwrap.Tensor) *tfwrap.Variable {
	if b.cfg.frozen {
		return g.Variable(name, init, tfwrap.NotTrainable())
	}
	return g.Variable(name, init)
}

func newConfig(opts []Option) config {
	c := config{padding: Valid}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// base holds what every layer has.
type base struct {
	name string
	cfg  config
}

func (b *base) options() *config    { return &b.cfg }
func (b *base) Name() string        { return b.name }
func (b *base) SetName(name string) { b.name = name }

func (b *base) seed(ctx *Context) uint64 {
	if b.cfg.seed != nil {
		return *b.cfg.seed
	}
	return ctx.Seed
}

// glorotUniform draws a kernel as Keras's GlorotUniform does:
// U(-l, l) with l = sqrt(6 / (fanIn + fanOut)).
func glorotUniform(seed uint64, fanIn, fanOut int64, dims ...int64) (*tfwrap.Tensor, error) {
	v, err := weightValues(dims...)
	if err != nil {
		return nil, err
	}
	limit := math.Sqrt(6 / float64(fanIn+fanOut))
	r := rand.New(rand.NewPCG(seed, 0xda942042e4dd58b5))
	for i := range v {
		v[i] = float32((2*r.Float64() - 1) * limit)
	}
	return tfwrap.NewTensor(v, dims...)
}

// maxWeightValues caps the values of one weight, as tfwrap.Zeros caps a
// tensor (1 TiB), so that a huge declared shape is an error, not a Go
// allocation that panics or exhausts memory.
const maxWeightValues = (1 << 40) / 4

// weightValues allocates a weight's float32 values for shape dims, or
// says why it cannot.
func weightValues(dims ...int64) ([]float32, error) {
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("weight of shape %s: %w", shape.String(dims), err)
	}
	if n > maxWeightValues {
		return nil, fmt.Errorf("weight of shape %s is too large (%d values)", shape.String(dims), n)
	}
	return make([]float32, n), nil
}

func filled(v float32, n int64) (*tfwrap.Tensor, error) {
	s, err := weightValues(n)
	if err != nil {
		return nil, err
	}
	for i := range s {
		s[i] = v
	}
	return tfwrap.NewTensor(s, n)
}

func product(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func known(in []int64) error {
	for _, d := range in {
		if d < 1 {
			return fmt.Errorf("input dimensions must be known and positive, got %v", in)
		}
	}
	return nil
}

// built returns g's recorded error, wrapped with the layer's name.
func built(name string, g *tfwrap.Graph, out tfwrap.Output) (tfwrap.Output, error) {
	if err := g.Err(); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %s: %w", name, err)
	}
	return out, nil
}

// stepSeed is the seed of a random op drawn in a training step: (the
// layer's seed halved plus stream, the model's step), so that a run
// resumed from a checkpoint draws what the uninterrupted run would have.
// stream keeps a layer's several draws apart. Dropout, RandomFlip and
// RandomTranslation draw with it.
func (b *base) stepSeed(ctx *Context, typ string, stream int64) (tfwrap.Output, error) {
	if !ctx.Step.Valid() {
		return tfwrap.Output{}, fmt.Errorf("layer %s: %s in training needs the model's step counter", b.name, typ)
	}
	base, err := tfwrap.NewTensor([]int64{int64(b.seed(ctx)>>1) + stream, 0})
	if err != nil {
		return tfwrap.Output{}, err
	}
	unit, err := tfwrap.NewTensor([]int64{0, 1})
	if err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	return g.Add(g.Const(base), g.Mul(g.Const(unit), ctx.Step)), nil
}

// perSample is the shape (batch, 1, …, 1) of x's batch with ones more
// axes: one draw per sample, broadcast over the rest.
func perSample(g *tfwrap.Graph, x tfwrap.Output, ones int) (tfwrap.Output, error) {
	t := make([]int32, ones)
	for i := range t {
		t[i] = 1
	}
	tail, err := tfwrap.NewTensor(t, int64(ones))
	if err != nil {
		return tfwrap.Output{}, err
	}
	batch := g.Slice(g.ShapeOf(x), g.Scalar(0, tfwrap.Int32), g.Scalar(1, tfwrap.Int32))
	return g.Apply("ConcatV2", nil, tfwrap.OutputList{batch, g.Const(tail)}, g.Scalar(0, tfwrap.Int32)), nil
}
