package models

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Progress chooses how Fit shows its progress.
type Progress int

// The progress modes, after Keras's verbose argument.
const (
	// ProgressAuto shows a bar on a terminal and one line per epoch otherwise.
	ProgressAuto Progress = iota
	// ProgressBar always shows the bar, updated in place (verbose=1).
	ProgressBar
	// ProgressLines prints one line per epoch (verbose=2).
	ProgressLines
	// ProgressSilent prints nothing (verbose=0).
	ProgressSilent
)

// progress draws Keras's per-epoch display:
//
//	Epoch 1/5
//	225/225 ━━━━━━━━━━━━━━━━━━━━ 3s 12ms/step - accuracy: 0.9012 - loss: 0.3310
type progress struct {
	w        io.Writer
	mode     Progress
	epochs   int
	steps    int
	start    time.Time
	lastDraw time.Time
}

func newProgress(w io.Writer, mode Progress, epochs, steps int) *progress {
	if mode == ProgressAuto {
		mode = ProgressLines
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = ProgressBar
		}
	}
	return &progress{w: w, mode: mode, epochs: epochs, steps: steps}
}

func (p *progress) epochBegin(e int) {
	p.start = time.Now()
	p.lastDraw = time.Time{}
	if p.mode != ProgressSilent {
		fmt.Fprintf(p.w, "Epoch %d/%d\n", e+1, p.epochs)
	}
}

// due reports whether the bar wants fresh numbers after step (at most ten
// redraws a second, and always at the last step).
func (p *progress) due(step int) bool {
	return p.mode == ProgressBar && (step == p.steps || time.Since(p.lastDraw) >= 100*time.Millisecond)
}

func (p *progress) bar(step int) string {
	const width = 20
	done := min(width*step/max(p.steps, 1), width)
	return strings.Repeat("━", done) + strings.Repeat("─", width-done)
}

func metricsText(logs Logs) string {
	var b strings.Builder
	for _, k := range logs.Keys() {
		fmt.Fprintf(&b, " - %s: %.4f", k, logs[k])
	}
	return b.String()
}

func (p *progress) update(step int, logs Logs) {
	if p.mode != ProgressBar {
		return
	}
	p.lastDraw = time.Now()
	el := time.Since(p.start)
	if p.steps == 0 {
		// FitStream's source does not know its length: Keras's "Unknown".
		fmt.Fprintf(p.w, "\r\x1b[K%d/Unknown %s %s/step%s", step, secs(el), ms(el/time.Duration(step)), metricsText(logs))
		return
	}
	eta := time.Duration(float64(el) / float64(step) * float64(max(p.steps-step, 0)))
	w := len(fmt.Sprint(p.steps))
	fmt.Fprintf(p.w, "\r\x1b[K%*d/%d %s %s%s", w, step, p.steps, p.bar(step), eta.Round(time.Second), metricsText(logs))
}

// epochEnd draws the epoch's last line; done is the number of steps run,
// shown when the number of steps is unknown.
func (p *progress) epochEnd(done int, logs Logs) {
	steps := max(p.steps, done) // unknown, or fewer than the step ran
	el := time.Since(p.start)
	perStep := el / time.Duration(max(steps, 1))
	switch p.mode {
	case ProgressBar:
		fmt.Fprintf(p.w, "\r\x1b[K%d/%d %s %s %s/step%s\n", steps, steps, p.bar(steps), secs(el), ms(perStep), metricsText(logs))
	case ProgressLines:
		fmt.Fprintf(p.w, "%d/%d - %s - %s/step%s\n", steps, steps, secs(el), ms(perStep), metricsText(logs))
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.0fs", d.Seconds()) }

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dus", d.Microseconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
