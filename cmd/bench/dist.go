package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/clustertest"
	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

// distOnly returns the dist cases in list; they run on their own, as
// they start processes.
func distOnly(list string) []string {
	var out []string
	for c := range strings.SplitSeq(list, ",") {
		c = strings.TrimSpace(c)
		for _, d := range distCases {
			if c == d {
				out = append(out, c)
			}
		}
	}
	return out
}

// startWorkers starts n worker processes (this binary with --serve-task)
// on free loopback ports; stop kills them.
func startWorkers(n int) (cluster.Spec, func(), error) {
	addrs, err := clustertest.FreeAddrs(n)
	if err != nil {
		return nil, nil, err
	}
	c := cluster.Spec{"worker": addrs}
	var cmds []*exec.Cmd
	stop := func() {
		for _, cmd := range cmds {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	for i := range n {
		cmd := exec.Command(os.Args[0], "--serve-task", c.String()+"|worker|"+strconv.Itoa(i))
		cmd.Stderr = io.Discard
		if err := clustertest.Launch(cmd, cluster.TaskName("worker", i)); err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
	}
	return c, stop, nil
}

// runDist times Fit of the MLP in one process and with Mirrored over 1
// and 2 worker processes on loopback, and prints samples per second and
// the time each distributed step adds to the one-process step.
func runDist(cases []string, epochs int, data string) error {
	train, _, err := mnist.Load(data)
	if err != nil {
		return err
	}
	d, err := models.ClassDataset(train.Images, train.Labels, 784)
	if err != nil {
		return err
	}
	fmt.Printf("# %s; dist cases: Mirrored, worker processes on 127.0.0.1, %d digits, %d timed epochs after one warm-up\n", cpuinfo.Line(), train.Len(), epochs)
	for _, c := range cases {
		_, _, batch := parse(c)
		sps := func(dist *models.Distribute) (float64, error) {
			m, err := course.MLP()
			if err != nil {
				return 0, err
			}
			if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(1e-3),
				Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: 1, Distribute: dist}); err != nil {
				return 0, err
			}
			defer m.Close()
			opts := models.FitOptions{Epochs: 1, BatchSize: batch, Seed: 1, Progress: models.ProgressSilent, Output: io.Discard}
			if _, err := m.Fit(context.Background(), d, opts); err != nil {
				return 0, err
			}
			opts.Epochs = epochs
			start := time.Now()
			if _, err := m.Fit(context.Background(), d, opts); err != nil {
				return 0, err
			}
			return float64(train.Len()*epochs) / time.Since(start).Seconds(), nil
		}
		local, err := sps(nil)
		if err != nil {
			return err
		}
		res := map[int]float64{}
		for _, n := range []int{1, 2} {
			cl, stop, err := startWorkers(n)
			if err != nil {
				return err
			}
			res[n], err = sps(&models.Distribute{Cluster: cl, StepTimeout: time.Minute})
			stop()
			if err != nil {
				return err
			}
		}
		// The extra wall time per step (batch samples) over one process.
		over := func(s float64) float64 { return (1/s - 1/local) * float64(batch) * 1e6 }
		fmt.Printf("BENCH case=%s unit=samples/s local=%.0f workers1=%.0f workers2=%.0f overhead_us_workers1=%.0f overhead_us_workers2=%.0f\n",
			c, local, res[1], res[2], over(res[1]), over(res[2]))
	}
	return nil
}
