package models

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

// Strategy is how Distribute spreads training over a cluster's workers.
type Strategy int

const (
	// Mirrored is synchronous data parallelism, as Keras's
	// MirroredStrategy and MultiWorkerMirroredStrategy: every batch is cut
	// into one shard per worker, each worker computes the loss and
	// gradients of its shard, and the gradients, averaged by shard size,
	// make one update. The weights, the optimizer's state and the running
	// metrics change as in one process training on the whole batch.
	Mirrored Strategy = iota
	// ParameterServer is asynchronous training, as Keras's
	// ParameterServerStrategy: the weights and the optimizer's state live
	// on the ps task, and each worker trains on batches of its own (batch
	// b goes to worker b mod workers), applying its gradients to the
	// weights as soon as it has them, without waiting for the others.
	ParameterServer
)

// String is the strategy's name: mirrored or parameter_server.
func (s Strategy) String() string {
	switch s {
	case Mirrored:
		return "mirrored"
	case ParameterServer:
		return "parameter_server"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Distribute trains a model across the tasks of a TensorFlow cluster
// (CompileOptions.Distribute). The cluster has a "worker" job and, for
// ParameterServer, a "ps" job of one task; every task runs a TensorFlow
// server (tfwrap.NewServer, cmd/tfserver). The process that compiles the
// model is the chief: it builds one graph holding a replica of the model's
// forward and backward pass per worker (in-graph replication), placed on
// /job:worker/task:i, and drives the training through a session per worker
// (the gradients of replica i are computed on worker i). Worker 0 holds
// the uploaded data and the running metrics, and the weights too unless a
// ps task holds them. Evaluate, Predict, checkpoints and SaveWeights run
// through worker 0's session, so checkpoint paths are written by worker 0's
// process: on one machine, or a file system it shares with the chief.
//
// A run that fails because a task is down returns an error wrapping a
// cluster.TaskError that names it: within about half a second when the
// task stops accepting connections (a step still running probes the tasks
// every 0.5 s), within StepTimeout otherwise. Runs left in flight end by
// StepTimeout, and the model's Close waits for them.
type Distribute struct {
	Cluster  cluster.Spec
	Strategy Strategy
	// StepTimeout bounds every run on the cluster, and the wait for its
	// tasks when the sessions start (0: one minute).
	StepTimeout time.Duration
}

func (d *Distribute) timeout() time.Duration {
	if d.StepTimeout > 0 {
		return d.StepTimeout
	}
	return time.Minute
}

// check validates d in Go, before any TensorFlow call; nil is valid.
func (d *Distribute) check(opts CompileOptions) error {
	if d == nil {
		return nil
	}
	if err := d.Cluster.Validate(); err != nil {
		return fmt.Errorf("models: distribute: %w", err)
	}
	for _, j := range d.Cluster.Jobs() {
		if j != "worker" && j != "ps" {
			return fmt.Errorf("models: distribute: job %q: a cluster has the jobs worker and ps (worker 0 is the chief)", j)
		}
	}
	if len(d.Cluster["worker"]) == 0 {
		return errors.New(`models: distribute: the cluster has no "worker" job`)
	}
	if n := len(d.Cluster["ps"]); n > 1 {
		return fmt.Errorf("models: distribute: %d ps tasks: the weights are not sharded, give one ps task", n)
	}
	switch d.Strategy {
	case Mirrored:
	case ParameterServer:
		if len(d.Cluster["ps"]) != 1 {
			return errors.New(`models: distribute: ParameterServer needs a "ps" job of one task`)
		}
	default:
		return fmt.Errorf("models: distribute: unknown strategy %d", int(d.Strategy))
	}
	if d.StepTimeout < 0 {
		return fmt.Errorf("models: distribute: negative step timeout %v", d.StepTimeout)
	}
	if opts.Device != "" {
		return errors.New("models: distribute: Device and Distribute cannot be combined (Distribute places the ops)")
	}
	return nil
}

func (d *Distribute) workers() int { return len(d.Cluster["worker"]) }

func (d *Distribute) chief() string { return cluster.TaskName("worker", 0) }

// varDevice is where the weights and the optimizer's state live.
func (d *Distribute) varDevice() string {
	if len(d.Cluster["ps"]) > 0 {
		return cluster.TaskName("ps", 0)
	}
	return d.chief()
}

// replicas is the distributed side of a compiled model.
type replicas struct {
	d        *Distribute
	sessions []*tfwrap.Session // one per worker; sessions[0] is compiled.sess
	start    []tfwrap.Output   // per replica: first row of its batch in the permutation
	size     []tfwrap.Output   // per replica: its number of rows
	steps    []*tfwrap.Op      // per replica: gradients and logs into its buffers
	samples  tfwrap.Output     // per replica, how many samples its buffers hold for the update (0: none)
	apply    *tfwrap.Op        // one update from the buffers, and the running metrics
	destroy  *tfwrap.Op        // frees every variable of the model on its task
}

// openSessions opens a session per worker, after checking that every
// task answers, so that a dead task is named at once.
func (c *compiled) openSessions(sopts []tfwrap.SessionOption) error {
	d := c.opts.Distribute
	if err := d.Cluster.Probe(min(d.timeout(), 5*time.Second)); err != nil {
		return err
	}
	sopts = append(sopts, tfwrap.WithRunTimeout(d.timeout()))
	for i := range d.workers() {
		target, err := d.Cluster.Target("worker", i)
		if err != nil {
			return err
		}
		s, err := c.g.NewSessionOn(target, sopts...)
		if err != nil {
			c.closeSessions()
			return err
		}
		c.dist.sessions = append(c.dist.sessions, s)
	}
	c.sess = c.dist.sessions[0]
	return nil
}

// closeSessions closes every session of the model; idempotent. A
// distributed model first frees its variables on the cluster's tasks,
// which would otherwise keep them until they exit, when every task
// answers (a dead task lost them anyway).
func (c *compiled) closeSessions() error {
	if c.dist == nil {
		return c.sess.Close()
	}
	var errs []error
	if c.sess != nil && !c.sess.Closed() && c.dist.destroy != nil && c.dist.d.Cluster.Probe(time.Second) == nil {
		if _, err := c.sess.Run(nil, nil, c.dist.destroy); err != nil {
			errs = append(errs, fmt.Errorf("models: close: free the variables on the cluster: %w", err))
		}
	}
	for _, s := range c.dist.sessions {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// diagnose names the task behind a failed distributed run.
func (c *compiled) diagnose(err error) error {
	if c.dist == nil || err == nil {
		return err
	}
	return c.dist.d.Cluster.Diagnose(err, 2*time.Second)
}

// buildReplicas adds the distributed training step: per worker i, a
// replica that draws rows [start_i, start_i+size_i) of the permutation on
// the chief, runs the forward and backward pass on worker i and stores its
// gradients, loss and metric sums in buffers beside the weights; then one
// update that averages the buffers weighted by their sample counts
// (Mirrored: all replicas' shards of one batch; ParameterServer: one
// worker's batch) and adds them to the running metrics.
func (c *compiled) buildReplicas(m *Model, g, d *tfwrap.Graph) error {
	dd := c.opts.Distribute
	n := dd.workers()
	f32 := tfwrap.Float32
	c.dist = &replicas{d: dd}
	for _, w := range c.weights {
		if w.Trainable() {
			c.trainable = append(c.trainable, w)
		}
	}
	if len(c.trainable) == 0 {
		return errors.New("models: the model has no trainable weights")
	}
	c.weighted = true
	for _, o := range c.outs {
		if _, ok := o.loss.(losses.PerSampleLoss); !ok {
			c.weighted = false
		}
	}
	vg := g.OnDevice(dd.varDevice())
	bufs := vg.WithScope("replica_buffers")
	type buffers struct {
		grads []*tfwrap.Variable
		loss  *tfwrap.Variable
		logs  []*tfwrap.Variable
	}
	all := make([]buffers, n)
	zero := tfwrap.Scalar(float32(0))
	for i := range n {
		rs := d.WithScope(fmt.Sprintf("replica_%d", i))
		start := rs.Placeholder("start", tfwrap.Int32)
		size := rs.Placeholder("size", tfwrap.Int32)
		idx := rs.Slice(c.perm.Value(), start, size)
		var xb, yb []tfwrap.Output
		for j, s := range m.inputs {
			xb = append(xb, rs.PlaceholderWithDefault("inputs_"+s.name, rs.Gather(c.dataX[j].Value(), idx), append([]int64{-1}, s.shape...)...))
		}
		for j, o := range c.outs {
			yb = append(yb, rs.PlaceholderWithDefault("labels_"+o.name, rs.Gather(c.dataY[j].Value(), idx), append([]int64{-1}, o.labelSh...)...))
		}
		wb := rs.PlaceholderWithDefault("sample_weights", rs.Gather(c.dataW.Value(), idx), -1)

		tg := g.WithScope(fmt.Sprintf("replica_%d_training", i)).OnDevice(cluster.TaskName("worker", i))
		tctx := &layers.Context{Training: true, Step: c.stepVar.Value()}
		tres, err := m.forward(tg, tctx, c.opts.Seed, xb, nil)
		if err != nil {
			return fmt.Errorf("models: replica %d: %w", i, err)
		}
		trainLosses := make([]tfwrap.Output, len(c.outs))
		for j, o := range c.outs {
			if c.weighted {
				trainLosses[j] = losses.WeightedMean(tg, o.loss.(losses.PerSampleLoss).PerSample(tg, yb[j], tres[j].pred), wb)
			} else {
				trainLosses[j] = o.loss.Build(tg, yb[j], tres[j].pred)
			}
		}
		loss := tg.CheckNumerics(withPenalties(tg, c.total(tg, trainLosses), tctx.Losses), "the training loss is NaN or infinite")
		grads, err := tg.GradientTape().Gradient(loss, tfwrap.Sources(c.trainable)...)
		if err != nil {
			return fmt.Errorf("models: gradients: %w", err)
		}
		nb := tg.Cast(size, f32)
		var logs []tfwrap.Output // batch sums behind logNames
		if len(c.outs) > 1 {
			for _, l := range trainLosses {
				logs = append(logs, tg.Mul(l, nb))
			}
		}
		for j, o := range c.outs {
			for _, mt := range o.metrics {
				logs = append(logs, tg.Sum(mt.Build(tg, yb[j], tres[j].pred.Out)))
			}
		}
		b := &all[i]
		var assigns []*tfwrap.Op
		for k, v := range c.trainable {
			z, err := tfwrap.Zeros(v.DType(), v.Shape()...)
			if err != nil {
				return fmt.Errorf("models: replica %d: %w", i, err)
			}
			gv := bufs.Variable(fmt.Sprintf("replica_%d_grad_%d", i, k), z, tfwrap.NotTrainable())
			b.grads = append(b.grads, gv)
			assigns = append(assigns, gv.Assign(bufs, grads[k]))
		}
		b.loss = bufs.Variable(fmt.Sprintf("replica_%d_loss", i), zero, tfwrap.NotTrainable())
		assigns = append(assigns, b.loss.Assign(bufs, loss))
		for k, l := range logs {
			lv := bufs.Variable(fmt.Sprintf("replica_%d_log_%d", i, k), zero, tfwrap.NotTrainable())
			b.logs = append(b.logs, lv)
			assigns = append(assigns, lv.Assign(bufs, l))
		}
		c.dist.start = append(c.dist.start, start)
		c.dist.size = append(c.dist.size, size)
		c.dist.steps = append(c.dist.steps, g.Group(fmt.Sprintf("replica_%d_step", i), append(assigns, tctx.Updates...)...))
		if i == 0 { // what BatchGradients feeds and fetches
			c.xb, c.yb, c.wb, c.trainLoss, c.grads = xb, yb, wb, loss, grads
		}
	}

	// The update: the buffers' gradients weighted by their share of the
	// samples, applied once.
	ag := vg.WithScope("apply")
	c.dist.samples = ag.Placeholder("replica_samples", f32, int64(n))
	total := ag.Sum(c.dist.samples)
	share := ag.Div(c.dist.samples, ag.Maximum(total, ag.Scalar(1, f32)))
	at := func(x tfwrap.Output, i int) tfwrap.Output { return ag.Gather(x, ag.Scalar(float64(i), tfwrap.Int32)) }
	avg := make([]tfwrap.Output, len(c.trainable))
	for k := range c.trainable {
		for i := range n {
			t := ag.Mul(all[i].grads[k].Value(), at(share, i))
			if i == 0 {
				avg[k] = t
			} else {
				avg[k] = ag.Add(avg[k], t)
			}
		}
	}
	apply, err := c.opts.Optimizer.Build(vg, c.trainable, avg)
	if err != nil {
		return fmt.Errorf("models: optimizer %s: %w", c.opts.Optimizer.Name(), err)
	}

	acc := g.WithScope("metrics")
	c.accLoss = acc.Variable("loss_sum", zero, tfwrap.NotTrainable())
	c.accCount = acc.Variable("count", zero, tfwrap.NotTrainable())
	ran := acc.Minimum(c.dist.samples, acc.Scalar(1, f32)) // 1 for the replicas whose buffers count
	sum := func(val func(i int) tfwrap.Output, weights tfwrap.Output) tfwrap.Output {
		var s tfwrap.Output
		for i := range n {
			t := acc.Mul(val(i), acc.Gather(weights, acc.Scalar(float64(i), tfwrap.Int32)))
			if i == 0 {
				s = t
			} else {
				s = acc.Add(s, t)
			}
		}
		return s
	}
	updates := []*tfwrap.Op{apply,
		c.accLoss.AssignAdd(acc, sum(func(i int) tfwrap.Output { return all[i].loss.Value() }, c.dist.samples)),
		c.accCount.AssignAdd(acc, acc.Sum(c.dist.samples)),
		c.cursor.AssignAdd(acc, acc.Cast(acc.Sum(c.dist.samples), tfwrap.Int32)),
		c.stepVar.AssignAdd(acc.After(apply), acc.Scalar(1, tfwrap.Int64))}
	resets := []*tfwrap.Op{c.accLoss.Assign(acc, acc.Scalar(0, f32)), c.accCount.Assign(acc, acc.Scalar(0, f32))}
	for j, name := range c.logNames {
		v := acc.Variable(name+"_sum", zero, tfwrap.NotTrainable())
		c.accLogs = append(c.accLogs, v)
		updates = append(updates, v.AssignAdd(acc, sum(func(i int) tfwrap.Output { return all[i].logs[j].Value() }, ran)))
		resets = append(resets, v.Assign(acc, acc.Scalar(0, f32)))
	}
	c.dist.apply = g.Group("train", updates...)
	c.reset = g.Group("reset_metrics", resets...)
	var destroy []*tfwrap.Op
	for _, v := range g.Variables() {
		destroy = append(destroy, v.Destroy(g))
	}
	c.dist.destroy = g.Group("destroy_variables", destroy...)
	return nil
}

// newContainer names the resource container of a distributed model's
// variables on the cluster's tasks.
func newContainer() string {
	var b [8]byte
	rand.Read(b[:])
	return "gotf_" + hex.EncodeToString(b[:])
}

// distFeed drives a distributed Fit: Mirrored runs every replica's shard
// of batch b at once, then the update; ParameterServer hands batch b to
// worker b mod workers, which runs its replica and the update while the
// other workers run theirs.
type distFeed struct {
	c               *compiled
	n, steps, batch int
	shuffle         bool
	seed            uint64
	mu              sync.Mutex
	busy            []chan error // ParameterServer: per worker, the result of its batch in flight
	first           error        // ParameterServer: the first failure
	firstE, firstB  int
	inGraph         inGraph
}

func newDistFeed(c *compiled, n, steps, batch int, shuffle bool, seed uint64) *distFeed {
	f := &distFeed{c: c, n: n, steps: steps, batch: batch, shuffle: shuffle, seed: seed,
		inGraph: inGraph{c: c, n: n, steps: steps, shuffle: shuffle, seed: seed}}
	f.busy = make([]chan error, len(c.dist.sessions))
	return f
}

func (f *distFeed) begin(e int) error { return f.c.diagnose(f.inGraph.begin(e)) }

// replica runs replica i on rows [start, start+size) of the permutation,
// then, for ParameterServer, the update of its batch alone.
func (f *distFeed) replica(i, start, size int, update bool) error {
	r := f.c.dist
	s := r.sessions[i]
	if _, err := s.Run(tfwrap.Feeds{r.start[i]: tfwrap.Scalar(int32(start)), r.size[i]: tfwrap.Scalar(int32(size))}, nil, r.steps[i]); err != nil {
		return err
	}
	if !update {
		return nil
	}
	samples := make([]float32, len(r.sessions))
	samples[i] = float32(size)
	return f.update(s, samples)
}

func (f *distFeed) update(s *tfwrap.Session, samples []float32) error {
	t, err := tfwrap.NewTensor(samples, int64(len(samples)))
	if err != nil {
		return err
	}
	_, err = s.Run(tfwrap.Feeds{f.c.dist.samples: t}, nil, f.c.dist.apply)
	return err
}

func (f *distFeed) step(ctx context.Context, _ *stepProfiler, e, b int) (bool, error) {
	if f.c.dist.d.Strategy == ParameterServer {
		return f.asyncStep(ctx, e, b)
	}
	if b == f.steps {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	workers := len(f.c.dist.sessions)
	start := b * f.batch
	size := min(f.batch, f.n-start)
	samples := make([]float32, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	off := start
	for i := range workers {
		k := size / workers
		if i < size%workers {
			k++
		}
		samples[i] = float32(k)
		if k == 0 {
			continue
		}
		at := off
		wg.Go(func() { errs[i] = f.replica(i, at, k, false) })
		off += k
	}
	done := make(chan error, 1)
	go func() { wg.Wait(); done <- errors.Join(errs...) }()
	err := f.recv(done)
	if errors.Is(err, cluster.ErrUnreachable) {
		return false, fmt.Errorf("models: fit: epoch %d, batch %d: %w", e+1, b+1, err)
	}
	if err == nil {
		err = f.update(f.c.sess, samples)
	}
	if err != nil {
		return false, fmt.Errorf("models: fit: epoch %d, batch %d: %w", e+1, b+1, f.c.diagnose(err))
	}
	return true, nil
}

// asyncStep hands batch b to its worker, once that worker's previous batch
// is done; after the last batch it waits for all of them.
func (f *distFeed) asyncStep(ctx context.Context, e, b int) (bool, error) {
	fail := func(err error) (bool, error) {
		if werr := f.wait(); errors.Is(werr, cluster.ErrUnreachable) {
			err = werr
		}
		if errors.Is(err, cluster.ErrUnreachable) {
			return false, fmt.Errorf("models: fit: epoch %d, batch %d: %w", e+1, b+1, err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.first != nil {
			return false, fmt.Errorf("models: fit: epoch %d, batch %d: %w", f.firstE+1, f.firstB+1, f.c.diagnose(f.first))
		}
		return false, err
	}
	if b == f.steps {
		if err := f.wait(); err != nil {
			return fail(err)
		}
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	w := b % len(f.busy)
	if ch := f.busy[w]; ch != nil {
		err := f.recv(ch)
		f.busy[w] = nil
		if err != nil {
			return fail(err)
		}
	}
	start := b * f.batch
	size := min(f.batch, f.n-start)
	ch := make(chan error, 1)
	f.busy[w] = ch
	go func() {
		err := f.replica(w, start, size, true)
		if err != nil {
			f.mu.Lock()
			if f.first == nil {
				f.first, f.firstE, f.firstB = err, e, b
			}
			f.mu.Unlock()
		}
		ch <- err
	}()
	return true, nil
}

// wait waits for every batch in flight and returns their failures, or
// at once the tasks that stopped answering (see recv).
func (f *distFeed) wait() error {
	var errs []error
	for i, ch := range f.busy {
		if ch == nil {
			continue
		}
		err := f.recv(ch)
		f.busy[i] = nil
		if errors.Is(err, cluster.ErrUnreachable) {
			for j := range f.busy {
				f.busy[j] = nil // their runs end by the step timeout
			}
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// probeEvery is how often a step that is still running checks that every
// task answers.
const probeEvery = 500 * time.Millisecond

// recv waits for the result of runs in flight. While it waits it probes
// the cluster every probeEvery and returns the TaskErrors at once when a
// task stops answering: TensorFlow reports a dead task only at the step
// timeout when it is the master of the session that waits for it. The
// runs left behind end by that timeout; their results are dropped.
func (f *distFeed) recv(ch <-chan error) error {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case err := <-ch:
			return err
		case <-t.C:
			if err := f.c.dist.d.Cluster.Probe(probeEvery / 2); err != nil {
				return err
			}
		}
	}
}
