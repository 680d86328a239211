package models

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/clustertest"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// The test binary re-executed with killChildEnv set is the child of
// TestSaveSurvivesKill: it saves into that folder until it is killed.
const (
	killChildEnv = "GOTF_CHECKPOINT_KILL_DIR"
	killStartEnv = "GOTF_CHECKPOINT_KILL_START"
)

func TestMain(m *testing.M) {
	clustertest.MaybeServe() // a task of a distributed test's cluster
	if dir := os.Getenv(killChildEnv); dir != "" {
		os.Exit(saveUntilKilled(dir))
	}
	os.Exit(m.Run())
}

// crashModel is the small compiled model the crash tests save: Adam's
// slots make its checkpoint hold more than the weights.
func crashModel() (*Sequential, error) {
	m, err := NewSequential([]int64{8},
		layers.Dense(16, layers.WithActivation(layers.ReLU)),
		layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		return nil, err
	}
	if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01), Seed: 2}); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// patterned sets every weight of m to a value that encodes i: element j of
// weight k is i + ((31k+j) mod 256)/256, exact in float32.
func patterned(m *Sequential, i int) error {
	ws, err := m.GetWeights()
	if err != nil {
		return err
	}
	for k, w := range ws {
		v := make([]float32, w.NumElements())
		for j := range v {
			v[j] = float32(i) + float32((31*k+j)%256)/256
		}
		if ws[k], err = tfwrap.NewTensor(v, w.Shape()...); err != nil {
			return err
		}
	}
	return m.SetWeights(ws)
}

// pattern returns the i that m's weights encode, or an error when they are
// not exactly one pattern (a torn or mixed checkpoint).
func pattern(m *Sequential) (int, error) {
	ws, err := m.GetWeights()
	if err != nil {
		return 0, err
	}
	first, err := ws[0].Float32s()
	if err != nil {
		return 0, err
	}
	i := int(first[0])
	for k, w := range ws {
		v, err := w.Float32s()
		if err != nil {
			return 0, err
		}
		for j := range v {
			if want := float32(i) + float32((31*k+j)%256)/256; v[j] != want {
				return 0, fmt.Errorf("weight %d[%d] = %v, want %v (pattern %d)", k, j, v[j], want, i)
			}
		}
	}
	return i, nil
}

// saveUntilKilled is the child's main: it saves pattern i as checkpoint
// i/2 for i = start, start+1, ..., so that every other save re-saves the
// latest number, and prints "saved i" after each save returns.
func saveUntilKilled(dir string) int {
	start, err := strconv.Atoi(os.Getenv(killStartEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	m, err := crashModel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	mgr := &CheckpointManager{Dir: dir, MaxToKeep: 2}
	fmt.Println("ready")
	// A parent that died does not leave the child running.
	for i, end := start, time.Now().Add(30*time.Second); time.Now().Before(end); i++ {
		if err := patterned(m, i); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		if _, err := mgr.Save(m, i/2); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		fmt.Printf("saved %d\n", i)
	}
	return 2
}

// killDuringSaves runs a child that saves from pattern next on, SIGKILLs it
// after delay, and returns the last pattern whose save returned (-1: none).
func killDuringSaves(t *testing.T, dir string, next int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killStartEnv+"="+strconv.Itoa(next))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		cmd.Process.Kill()
		for range lines {
		}
		cmd.Wait()
	}()
	acked := -1
	record := func(line string) {
		if i, ok := strings.CutPrefix(line, "saved "); ok {
			if n, err := strconv.Atoi(i); err == nil {
				acked = n
			}
		}
	}
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			t.Fatalf("child did not start (%q): %s", l, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child did not start within a minute")
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for alive := true; alive; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child exited before the kill: %s", stderr.String())
			}
			record(l)
		case <-timer.C:
			alive = false
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for l := range lines { // what it printed before it died
		record(l)
	}
	return acked
}

// noLeftovers fails if dir holds anything a dead save left: a save folder,
// a temporary "checkpoint" file, data without its index, or a checkpoint
// the "checkpoint" file names that is not whole. It returns how many whole
// checkpoints nothing names.
func noLeftovers(t *testing.T, dir string) (unnamed int) {
	t.Helper()
	mgr := &CheckpointManager{Dir: dir}
	latest, all, err := mgr.state()
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, p := range append(all, latest) {
		if p == "" {
			continue
		}
		if strings.Contains(p, "/") {
			t.Errorf("the checkpoint file names %q, not a checkpoint in %s", p, dir)
		}
		named[p] = true
		for _, f := range []string{p + ".index", p + ".data-00000-of-00001"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("named checkpoint %s is not whole: %v", p, err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	shard := regexp.MustCompile(`^(ckpt-[0-9]+)\.(index|data-[0-9]{5}-of-[0-9]{5})$`)
	for _, e := range entries {
		name := e.Name()
		m := shard.FindStringSubmatch(name)
		switch {
		case name == "checkpoint":
		case m == nil:
			t.Errorf("leftover in %s: %s", dir, name)
		case m[2] == "index":
			if !named[m[1]] {
				unnamed++
			}
		default:
			if _, err := os.Stat(filepath.Join(dir, m[1]+".index")); err != nil {
				t.Errorf("leftover in %s: %s without its index", dir, name)
			}
		}
	}
	return unnamed
}

// TestSaveSurvivesKill: a child process saves checkpoints in a loop, every
// number twice, and is killed with SIGKILL at random moments. After each
// kill the latest checkpoint restores whole with the values of the last
// save that returned or of the one in flight, and after the next Save or
// Restore nothing of the dead save is left.
func TestSaveSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	const kills = 30
	dir := filepath.Join(t.TempDir(), "ckpts")
	m, err := crashModel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mgr := &CheckpointManager{Dir: dir, MaxToKeep: 2}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	restore := func(k int, prefix string) int {
		t.Helper()
		if err := patterned(m, -1000); err != nil { // a restore that does nothing fails below
			t.Fatal(err)
		}
		if _, err := m.RestoreCheckpoint(prefix); err != nil {
			t.Fatalf("kill %d: latest checkpoint %s does not restore: %v", k, prefix, err)
		}
		i, err := pattern(m)
		if err != nil {
			t.Fatalf("kill %d: checkpoint %s: %v", k, prefix, err)
		}
		if want := fmt.Sprintf("ckpt-%d", i/2); filepath.Base(prefix) != want {
			t.Fatalf("kill %d: %s holds pattern %d, which was saved as %s", k, prefix, i, want)
		}
		return i
	}
	done, next, saves := -1, 0, 0
	for k := range kills {
		acked := killDuringSaves(t, dir, next, time.Duration(r.IntN(400))*time.Millisecond)
		inFlight := next
		if acked >= 0 {
			saves += acked - next + 1
			done, inFlight = acked, acked+1
		}
		// What a reader finds before anything tidies up.
		prefix, err := mgr.Latest()
		if err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		got := -1
		if prefix == "" {
			if done >= 0 {
				t.Fatalf("kill %d: no latest checkpoint after pattern %d was saved", k, done)
			}
		} else if got = restore(k, prefix); got < done || got > inFlight {
			t.Fatalf("kill %d: latest checkpoint holds pattern %d, want %d (saved) or %d (in flight)", k, got, done, inFlight)
		}
		// The next save or restore tidies up.
		if k%2 == 1 {
			p := inFlight + 1
			if err := patterned(m, p); err != nil {
				t.Fatal(err)
			}
			if _, err := mgr.Save(m, p/2); err != nil {
				t.Fatalf("kill %d: save after the kill: %v", k, err)
			}
			if n := noLeftovers(t, dir); n != 0 {
				t.Errorf("kill %d: %d whole checkpoints nothing names", k, n)
			}
			done, got = p, p
		} else if got >= 0 {
			if err := patterned(m, -1000); err != nil {
				t.Fatal(err)
			}
			if _, err := mgr.Restore(m); err != nil {
				t.Fatalf("kill %d: restore after the kill: %v", k, err)
			}
			if n := noLeftovers(t, dir); n != 0 {
				t.Errorf("kill %d: %d whole checkpoints nothing names", k, n)
			}
			if i, err := pattern(m); err != nil || i != got {
				t.Fatalf("kill %d: Restore gave pattern %d (%v), want %d", k, i, err, got)
			}
		}
		if latest, _ := mgr.Latest(); got >= 0 && latest != filepath.Join(dir, fmt.Sprintf("ckpt-%d", got/2)) {
			t.Fatalf("kill %d: latest is %s after tidying, want ckpt-%d", k, latest, got/2)
		}
		next = inFlight + 1
		if k%2 == 1 {
			next++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d kills, %d saves returned in the children", kills, saves)
}

// copyTree copies the folder src to dst, which must not exist.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Mkdir(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// TestResaveKeepsOldUntilNewIsWhole copies the folder at every step of a
// save, as a crash at that step would leave it, for a save that re-saves
// the number of the only checkpoint and for one that drops it (MaxToKeep
// 1). Until the commit the old files are untouched and the latest; from the
// commit on the latest is the new checkpoint, whole (Python agrees); and
// Restore on each copy leaves just the new checkpoint.
func TestResaveKeepsOldUntilNewIsWhole(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpts")
	m, err := crashModel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mgr := &CheckpointManager{Dir: dir, MaxToKeep: 1}
	if err := patterned(m, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Save(m, 5); err != nil {
		t.Fatal(err)
	}
	for _, save := range []struct {
		name          string
		before, after int // the patterns in the latest checkpoint before and after
		oldN, n       int // its number before, and the number saved
	}{
		{"resave", 1, 2, 5, 5},
		{"next", 2, 3, 5, 6},
	} {
		old := map[string][]byte{}
		for _, f := range []string{".index", ".data-00000-of-00001"} {
			f = fmt.Sprintf("ckpt-%d%s", save.oldN, f)
			if old[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		snaps := t.TempDir()
		var stages []string
		var snapErr error
		stageHook = func(s string) {
			stages = append(stages, s)
			if err := copyTree(dir, filepath.Join(snaps, s)); err != nil && snapErr == nil {
				snapErr = err
			}
		}
		if err := patterned(m, save.after); err != nil {
			t.Fatal(err)
		}
		_, err := mgr.Save(m, save.n)
		stageHook = nil
		if err != nil || snapErr != nil {
			t.Fatal(err, snapErr)
		}
		if want := []string{"staged", "committed", "cleared", "data", "linked", "dropped", "published"}; fmt.Sprint(stages) != fmt.Sprint(want) {
			t.Fatalf("%s: save went through %v, want %v", save.name, stages, want)
		}
		if n := noLeftovers(t, dir); n != 0 {
			t.Fatalf("%s: %d checkpoints nothing names", save.name, n)
		}
		for _, s := range stages {
			t.Run(save.name+"/"+s, func(t *testing.T) {
				snap := filepath.Join(snaps, s)
				want := save.after
				if s == "staged" {
					want = save.before
					for f, b := range old {
						if got, err := os.ReadFile(filepath.Join(snap, f)); err != nil || !bytes.Equal(got, b) {
							t.Errorf("%s changed before the new checkpoint was committed (%v)", f, err)
						}
					}
				}
				at := &CheckpointManager{Dir: snap, MaxToKeep: 1}
				prefix, err := at.Latest()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.RestoreCheckpoint(prefix); err != nil {
					t.Fatalf("latest %s does not restore: %v", prefix, err)
				}
				if got, err := pattern(m); err != nil || got != want {
					t.Fatalf("latest %s holds pattern %d (%v), want %d", prefix, got, err, want)
				}
				if save.name == "resave" && s == "cleared" {
					// The old ckpt-5 is gone, the new one is only in the
					// save's folder, where the "checkpoint" file points
					// Python too.
					var ref struct {
						Latest string   `json:"latest"`
						Keys   []string `json:"keys"`
					}
					if err := pyref.Run("latest_checkpoint.py", map[string]string{"dir": snap}, &ref); err != nil {
						t.Fatal(err)
					}
					if ref.Latest != prefix || len(ref.Keys) == 0 {
						t.Fatalf("Python: latest %q with %d keys, want %q", ref.Latest, len(ref.Keys), prefix)
					}
				}
				if err := patterned(m, -1000); err != nil {
					t.Fatal(err)
				}
				if _, err := at.Restore(m); err != nil {
					t.Fatal(err)
				}
				if got, err := pattern(m); err != nil || got != want {
					t.Fatalf("Restore gave pattern %d (%v), want %d", got, err, want)
				}
				n := save.n
				if want == save.before {
					n = save.oldN
				}
				if latest, _ := at.Latest(); latest != filepath.Join(snap, fmt.Sprintf("ckpt-%d", n)) {
					t.Fatalf("latest after Restore: %s, want ckpt-%d", latest, n)
				}
				if n := noLeftovers(t, snap); n != 0 {
					t.Fatalf("%d checkpoints nothing names", n)
				}
			})
		}
	}
}

// TestTidyRemovesOnlyLeftovers: Restore removes what dead saves leave
// (save folders, the temporary "checkpoint" file, data without an index)
// and nothing else: not a whole checkpoint nothing names, not other files,
// not a folder the "checkpoint" file names. Python's manager's timestamps
// in the "checkpoint" file are read past.
func TestTidyRemovesOnlyLeftovers(t *testing.T) {
	dir := t.TempDir()
	m, err := crashModel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := patterned(m, 3); err != nil {
		t.Fatal(err)
	}
	mgr := &CheckpointManager{Dir: dir}
	if _, err := mgr.Save(m, 1); err != nil {
		t.Fatal(err)
	}
	// A whole checkpoint nothing names, saved by hand.
	if err := m.SaveCheckpoint(filepath.Join(dir, "ckpt-99")); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	state = append(state, "all_model_checkpoint_timestamps: 1700000000.25\nlast_preserved_timestamp: 1699999999.5\n"...)
	files := map[string]bool{ // name: kept
		"checkpoint":                     true,
		"ckpt-1.index":                   true,
		"ckpt-1.data-00000-of-00001":     true,
		"ckpt-99.index":                  true,
		"ckpt-99.data-00000-of-00001":    true,
		"notes.txt":                      true,
		"ckpt-7.data-00000-of-00001":     false,
		".checkpoint.tmp":                false,
		".ckpt-tmp-123/ckpt-8.index":     false,
		".ckpt-tmp-456/.ckpt-tmp-9/x":    false,
		"ckpt-x.data-00000-of-00001":     true, // not a name this manager gives
		"other.data-00000-of-00001":      true,
		"ckpt-99.data-00000-of-00001.gz": true,
	}
	for f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), state, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := patterned(m, -1000); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Restore(m); err != nil {
		t.Fatal(err)
	}
	if got, err := pattern(m); err != nil || got != 3 {
		t.Fatalf("restored pattern %d (%v), want 3", got, err)
	}
	for f, kept := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if kept != (err == nil) {
			t.Errorf("%s: kept %v, want %v", f, err == nil, kept)
		}
	}
	for _, d := range []string{".ckpt-tmp-123", ".ckpt-tmp-456"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			t.Errorf("save folder %s was not removed", d)
		}
	}

	// A save folder the "checkpoint" file names is a committed save that
	// died: Restore publishes it instead of removing it.
	staged := filepath.Join(dir, ".ckpt-tmp-777")
	if err := os.Mkdir(staged, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := patterned(m, 4); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveCheckpoint(filepath.Join(staged, "ckpt-2")); err != nil {
		t.Fatal(err)
	}
	if err := mgr.writeState(".ckpt-tmp-777/ckpt-2", []string{"ckpt-1", ".ckpt-tmp-777/ckpt-2"}); err != nil {
		t.Fatal(err)
	}
	if err := patterned(m, -1000); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Restore(m); err != nil {
		t.Fatal(err)
	}
	if got, err := pattern(m); err != nil || got != 4 {
		t.Fatalf("restored pattern %d (%v), want 4", got, err)
	}
	if latest, _ := mgr.Latest(); latest != filepath.Join(dir, "ckpt-2") {
		t.Fatalf("latest %s, want ckpt-2", latest)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the published save folder is still there: %v", err)
	}
}

// TestCheckpointManagerBadInput: no exported method panics on a nil or
// empty manager, a nil model or a negative number; each error says what.
func TestCheckpointManagerBadInput(t *testing.T) {
	m, err := crashModel()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var none *CheckpointManager
	mgr := &CheckpointManager{Dir: t.TempDir()}
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"nil manager save", "no folder", func() error { _, err := none.Save(m, 1); return err }},
		{"nil manager restore", "no folder", func() error { _, err := none.Restore(m); return err }},
		{"nil manager latest", "no folder", func() error { _, err := none.Latest(); return err }},
		{"empty folder save", "no folder", func() error { _, err := (&CheckpointManager{}).Save(m, 1); return err }},
		{"nil model save", "nil model", func() error { _, err := mgr.Save(nil, 1); return err }},
		{"nil model restore", "nil model", func() error { _, err := mgr.Restore(nil); return err }},
		{"negative number", "negative number -1", func() error { _, err := mgr.Save(m, -1); return err }},
		{"closed model", "save checkpoint 2", func() error {
			c, err := crashModel()
			if err != nil {
				return err
			}
			c.Close()
			_, err = mgr.Save(c, 2)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one that says %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(mgr.Dir); len(entries) != 0 {
		t.Fatalf("failed saves left %d files", len(entries))
	}
}

// TestLinkOrCopy: publishing links the staged files in, and copies them
// where a hard link cannot be made (here: to another file system); it
// never replaces a file.
func TestLinkOrCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "a")
	if err := os.WriteFile(src, []byte("checkpoint bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(filepath.Dir(src), "b")
	other, err := os.MkdirTemp("/dev/shm", "gotf-linkorcopy-")
	if err != nil {
		t.Skip("no second file system to copy to:", err)
	}
	defer os.RemoveAll(other)
	copied := filepath.Join(other, "c")
	for _, dst := range []string{linked, copied} {
		if err := linkOrCopy(src, dst); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(dst); err != nil || string(b) != "checkpoint bytes" {
			t.Fatalf("%s: %q, %v", dst, b, err)
		}
		if err := linkOrCopy(src, dst); err == nil {
			t.Fatalf("%s was replaced", dst)
		}
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(linked)
	c, _ := os.Stat(copied)
	if !os.SameFile(a, b) || os.SameFile(a, c) {
		t.Fatal("want a hard link on the same file system and a copy on another")
	}
}
