// Command bench measures the updater where its speed shows (issue 15):
// how fast it reacts to a new desired version, what it costs while nothing
// changes, how much it adds to the raw work (fetch, checkout, build, copy),
// how long the app is unreachable through an update, and what a load sees
// when the updater hands the app its listening socket. Each figure is the
// median of several runs with min and max, and where a raw tool does the
// same work (git, go build, cp -a) it is measured in the same run and the
// ratio of medians printed. `make bench` runs it as
//
//	go run ./scripts/bench -out bench-results
//
// which writes bench-results/results.json and bench-results/results.md
// (one markdown table) and prints the table. Flags:
//
//	-out DIR      where results.json and results.md go (created)
//	-runs N       runs of every figure (default 5)
//	-only REGEXP  run only the measures whose "Group/Name" matches
//	-readme PATH  replace the text between <!-- bench:start --> and
//	              <!-- bench:end --> in PATH with the table
//	-keep         keep the work folder (its path is logged)
//
// Every measure drives real processes (a better-paas-updater built from
// this tree, the example app, git) on 127.0.0.1 only. A measure that fails
// is a row with its error in the note and pass "no", and bench then exits
// 1; a missed target is only a "no" in the table.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/release"
)

// updaterPackage is the updater's command, built once per bench run.
const updaterPackage = "github.com/better-paas/updater/cmd/better-paas-updater"

// README markers between which -readme writes the table.
const (
	readmeStart = "<!-- bench:start -->"
	readmeEnd   = "<!-- bench:end -->"
)

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel,omitempty"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"goVersion"`
	Kernel    string `json:"kernel,omitempty"`
	Git       string `json:"git,omitempty"`
	// LoadAvg is /proc/loadavg's 1-minute figure when the measures began
	// and ended: figures measured on a busy machine are not comparable.
	LoadAvgStart float64 `json:"loadAvgStart,omitempty"`
	LoadAvgEnd   float64 `json:"loadAvgEnd,omitempty"`
}

// File is results.json.
type File struct {
	Machine Machine      `json:"machine"`
	Date    time.Time    `json:"date"`
	Results []jsonResult `json:"results"`
}

// jsonResult is a Result as results.json stores it, with its summary
// figures so readers need not recompute them.
type jsonResult struct {
	Result
	Median         float64  `json:"median"`
	Min            float64  `json:"min"`
	Max            float64  `json:"max"`
	BaselineMedian *float64 `json:"baselineMedian,omitempty"`
	Ratio          *float64 `json:"ratio,omitempty"`
}

func main() {
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Printf("bench: %v", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "bench-results", "folder for results.json and results.md")
	runs := flag.Int("runs", 5, "runs of every figure")
	only := flag.String("only", "", `run only measures whose "Group/Name" matches this regular expression`)
	readme := flag.String("readme", "", "replace the table between "+readmeStart+" and "+readmeEnd+" in this file")
	keep := flag.Bool("keep", false, "keep the work folder")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -help", flag.Args())
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: give at least 1", *runs)
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			return fmt.Errorf("-only %q: %w", *only, err)
		}
	}
	selected := selectMeasures(measures, filter)
	if len(selected) == 0 {
		return fmt.Errorf("-only %q matches no measure; there are: %s", *only, measureNames(measures))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work, err := os.MkdirTemp("", "better-paas-bench-")
	if err != nil {
		return err
	}
	lg := log.New(os.Stderr, "bench: ", log.Ltime|log.Lmicroseconds)
	defer func() {
		if *keep {
			lg.Printf("kept the work folder %s", work)
			return
		}
		if err := os.RemoveAll(work); err != nil {
			lg.Printf("cannot remove the work folder %s: %v", work, err)
		}
	}()
	lg.Printf("building better-paas-updater from this tree")
	bin := filepath.Join(work, "bin", "better-paas-updater")
	if err := goBuild(ctx, bin); err != nil {
		return err
	}
	env := &Env{Updater: bin, WorkDir: work, Runs: *runs, Log: lg}

	loadStart := loadAvg()
	var results []Result
	failed := false
	for _, m := range selected {
		if ctx.Err() != nil {
			break
		}
		lg.Printf("%s/%s: running", m.Group, m.Name)
		start := time.Now()
		rows, err := runMeasure(ctx, m, env)
		if err != nil {
			failed = true
			lg.Printf("%s/%s: FAILED after %s: %v", m.Group, m.Name, time.Since(start).Round(time.Millisecond), err)
			rows = append(rows, Result{Group: m.Group, Name: m.Name, Pass: boolPtr(false), Note: "error: " + firstLine(err.Error(), 400)})
		} else {
			lg.Printf("%s/%s: done in %s", m.Group, m.Name, time.Since(start).Round(time.Millisecond))
		}
		results = append(results, rows...)
	}
	if err := ctx.Err(); err != nil {
		failed = true
		lg.Printf("interrupted: writing the results measured so far")
	}

	table := markdownTable(results)
	m := machine(ctx)
	m.LoadAvgStart, m.LoadAvgEnd = loadStart, loadAvg()
	lg.Printf("load average %.2f at the start, %.2f at the end (%d CPUs)", m.LoadAvgStart, m.LoadAvgEnd, m.CPUs)
	if err := writeResults(*out, m, time.Now().UTC(), results, table); err != nil {
		return err
	}
	if *readme != "" {
		if err := replaceReadme(*readme, table); err != nil {
			return err
		}
	}
	fmt.Print(table)
	if failed {
		return errors.New("a measure failed or was interrupted; see its row")
	}
	return nil
}

// firstLine returns the first line of s, cut to at most n bytes: an
// error's gist for the table (the log has all of it).
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// runMeasure runs m, turning a panic into an error so one broken measure
// does not lose the others' rows.
func runMeasure(ctx context.Context, m Measure, env *Env) (rows []Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return m.Run(ctx, env)
}

// groupOrder is the order of the table's groups, the issue's; a group
// not listed comes after them.
var groupOrder = []string{"Reaction", "Idle", "Overhead", "Downtime", "Hand-over", "Backups"}

// selectMeasures returns the measures whose "Group/Name" matches filter
// (all for nil), in groupOrder, and within a group in registration order.
func selectMeasures(all []Measure, filter *regexp.Regexp) []Measure {
	var out []Measure
	for _, m := range all {
		if filter == nil || filter.MatchString(m.Group+"/"+m.Name) {
			out = append(out, m)
		}
	}
	rank := func(g string) int {
		if i := slices.Index(groupOrder, g); i >= 0 {
			return i
		}
		return len(groupOrder)
	}
	slices.SortStableFunc(out, func(a, b Measure) int { return rank(a.Group) - rank(b.Group) })
	return out
}

func measureNames(all []Measure) string {
	var names []string
	for _, m := range all {
		names = append(names, m.Group+"/"+m.Name)
	}
	return strings.Join(names, ", ")
}

// goBuild builds the updater from this tree into bin: no race detector,
// no faultinject tag, as users run it.
func goBuild(ctx context.Context, bin string) error {
	// As releases are built (internal/release): a static, stripped binary.
	// A cgo build maps libc too, about 1.4 MiB more RSS than users get.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", release.LDFlags("v0.0.0-bench", "bench", time.Now()), "-o", bin, updaterPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build %s: %w\n%s", updaterPackage, err, out)
	}
	return nil
}

// writeResults writes dir/results.json and dir/results.md atomically.
func writeResults(dir string, m Machine, date time.Time, results []Result, table string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the results folder: %w", err)
	}
	f := File{Machine: m, Date: date, Results: make([]jsonResult, 0, len(results))}
	for _, r := range results {
		f.Results = append(f.Results, toJSON(r))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "->" in names stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("cannot encode results.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "results.json"), b.Bytes(), 0o644); err != nil {
		return err
	}
	md := fmt.Sprintf("Measured %s on %d CPUs (%s), %s, %s; load average %.2f at the start, %.2f at the end.\n\n%s",
		date.Format("2006-01-02 15:04 MST"), m.CPUs, cpuName(m), m.GoVersion, kernelName(m), m.LoadAvgStart, m.LoadAvgEnd, table)
	return atomicfile.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}

func cpuName(m Machine) string {
	if m.CPUModel != "" {
		return m.CPUModel
	}
	return m.GOARCH
}

func kernelName(m Machine) string {
	if m.Kernel != "" {
		return m.Kernel
	}
	return m.GOOS
}

// toJSON adds a Result's summary figures; NaNs (no runs) become zeros, as
// JSON has no NaN.
func toJSON(r Result) jsonResult {
	j := jsonResult{Result: r}
	if len(r.Runs) > 0 {
		j.Median = median(r.Runs)
		j.Min, j.Max = minMax(r.Runs)
	}
	if len(r.BaselineRuns) > 0 {
		bm := median(r.BaselineRuns)
		j.BaselineMedian = &bm
		if bm != 0 && len(r.Runs) > 0 {
			ratio := j.Median / bm
			j.Ratio = &ratio
		}
	}
	return j
}

// replaceReadme replaces what lies between the bench markers in path with
// table, and writes the file atomically with its mode kept.
func replaceReadme(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read -readme file: %w", err)
	}
	out, err := spliceTable(b, table)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, out, fi.Mode().Perm())
}

// spliceTable returns doc with the text between readmeStart and readmeEnd
// replaced by table (on lines of its own). Both markers must be present,
// once each, start before end.
func spliceTable(doc []byte, table string) ([]byte, error) {
	i := bytes.Index(doc, []byte(readmeStart))
	j := bytes.Index(doc, []byte(readmeEnd))
	if i < 0 || j < 0 || j < i ||
		bytes.Count(doc, []byte(readmeStart)) != 1 || bytes.Count(doc, []byte(readmeEnd)) != 1 {
		return nil, fmt.Errorf("want %s and %s once each, in that order; add them where the table goes", readmeStart, readmeEnd)
	}
	var b bytes.Buffer
	b.Write(doc[:i+len(readmeStart)])
	b.WriteString("\n")
	b.WriteString(strings.TrimRight(table, "\n"))
	b.WriteString("\n")
	b.Write(doc[j:])
	return b.Bytes(), nil
}

// machine describes this machine; fields it cannot learn stay empty.
func machine(ctx context.Context) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "--version").Output(); err == nil {
		m.Git = strings.TrimSpace(string(out))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
		f.Close()
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadAvg returns the 1-minute load average (Linux), 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
