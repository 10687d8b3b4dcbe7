package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Target is a goal a figure is judged against: Value compared by Op
// (">=" or "<=").
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	// Source names where the target comes from (an issue).
	Source string `json:"source,omitempty"`
}

// Met reports whether v meets the target.
func (t Target) Met(v float64) bool {
	if t.Op == "<=" {
		return v <= t.Value
	}
	return v >= t.Value
}

func (t Target) String() string {
	op := "≥"
	if t.Op == "<=" {
		op = "≤"
	}
	return op + " " + fmtNum(t.Value)
}

// Figure is one measured number with its same-run baseline.
type Figure struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Unit    string `json:"unit"`
	// Value is the measured figure; NaN when not measured (Status says
	// why).
	Value float64 `json:"value"`
	// Baseline is the same-run physical limit in the same unit, 0 when
	// the figure has none; BaselineName says what it measured.
	Baseline     float64 `json:"baseline"`
	BaselineName string  `json:"baselineName,omitempty"`
	// Ratio is Value/Baseline (0 without a baseline). For latencies and
	// durations a ratio above 1 means slower than the baseline.
	Ratio  float64 `json:"ratio"`
	Target *Target `json:"target,omitempty"`
	// Status is "pass", "FAIL", "" (no target), "n/a" or "not available".
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// Check is a correctness check run inside a workload.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Series is one line of a chart: Y values at named X points.
type Series struct {
	Chart string    `json:"chart"`
	Name  string    `json:"name"`
	X     []string  `json:"x"`
	Y     []float64 `json:"y"`
}

// Report is everything one run produced. It is safe for concurrent use
// while the run adds to it.
type Report struct {
	mu sync.Mutex

	Mode     string    `json:"mode"` // "quick" or "full"
	Command  string    `json:"command"`
	Target   string    `json:"target"` // "child syncd <version>" or the URL
	Env      string    `json:"env"`
	Started  time.Time `json:"started"`
	Elapsed  string    `json:"elapsed"`
	Partial  bool      `json:"partial"`
	Problems []string  `json:"problems"`
	Setup    []string  `json:"setup"`
	Figures  []Figure  `json:"figures"`
	Checks   []Check   `json:"checks"`
	Series   []Series  `json:"series"`
	Charts   []string  `json:"charts"`
}

// Add records a figure, computing its ratio and status.
func (r *Report) Add(f Figure) {
	if f.Baseline > 0 && !math.IsNaN(f.Value) {
		f.Ratio = f.Value / f.Baseline
	}
	if f.Status == "" && f.Target != nil && !math.IsNaN(f.Value) {
		if f.Target.Met(f.Value) {
			f.Status = "pass"
		} else {
			f.Status = "FAIL"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures = append(r.Figures, f)
}

// NotMeasured records a figure that could not be measured, with why.
func (r *Report) NotMeasured(section, name, status, why string, target *Target) {
	r.Add(Figure{Section: section, Name: name, Value: math.NaN(), Status: status, Note: why, Target: target})
}

// Check records a correctness check.
func (r *Report) Check(name string, ok bool, detail string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(detail, args...)})
}

// Problem records a failure that makes the report partial.
func (r *Report) Problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Partial = true
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// AddSetup records one line of the setup section.
func (r *Report) AddSetup(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Setup = append(r.Setup, fmt.Sprintf(format, args...))
}

// AddSeries records a chart line.
func (r *Report) AddSeries(s Series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Series = append(r.Series, s)
}

// ChecksOK reports whether every correctness check passed (and there was
// at least one).
func (r *Report) ChecksOK() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Figure returns the first figure named name, or false.
func (r *Report) Figure(name string) (Figure, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.Figures {
		if f.Name == name {
			return f, true
		}
	}
	return Figure{}, false
}

// Markdown renders the report: a header (PARTIAL when a phase failed),
// the setup, the figures table (figure, value, baseline, ratio, target,
// pass/fail), the correctness checks and the charts.
func (r *Report) Markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	title := "# syncd bench report"
	if r.Partial {
		title += " — PARTIAL"
	}
	fmt.Fprintf(&b, "%s\n\n", title)
	fmt.Fprintf(&b, "- mode: %s\n- command: `%s`\n- target: %s\n- machine: %s\n- started: %s, took %s\n",
		r.Mode, r.Command, r.Target, r.Env, r.Started.UTC().Format(time.RFC3339), r.Elapsed)
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if r.Partial {
		b.WriteString("\n**PARTIAL**: some phases did not complete:\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	b.WriteString("\n## Figures\n\n")
	b.WriteString("Ratio = value ÷ baseline (same run, same machine). For latencies and times a ratio above 1 means slower than the baseline.\n\n")
	b.WriteString("| section | figure | value | baseline | ratio | target | pass/fail |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		val := "—"
		if !math.IsNaN(f.Value) {
			val = fmtNum(f.Value) + " " + f.Unit
		}
		base, ratio := "—", "—"
		if f.Baseline > 0 {
			base = fmtNum(f.Baseline) + " " + f.Unit
			if f.BaselineName != "" {
				base += " (" + f.BaselineName + ")"
			}
			if f.Ratio > 0 {
				ratio = fmt.Sprintf("%.3gx", f.Ratio)
			}
		}
		target := "—"
		if f.Target != nil {
			target = f.Target.String() + " " + f.Unit
			if f.Target.Source != "" {
				target += " (" + f.Target.Source + ")"
			}
		}
		status := f.Status
		if status == "" {
			status = "—"
		}
		name := f.Name
		if f.Note != "" {
			name += " <br><sub>" + escapeCell(f.Note) + "</sub>"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", f.Section, name, escapeCell(val),
			escapeCell(base), ratio, escapeCell(target), status)
	}
	b.WriteString("\n## Correctness checks\n\n| check | result | detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		res := "ok"
		if !c.OK {
			res = "**FAILED**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, res, escapeCell(c.Detail))
	}
	if len(r.Charts) > 0 {
		b.WriteString("\n## Charts\n\n")
		for _, c := range r.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(c, filepath.Ext(c)), c)
		}
	}
	return b.String()
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// fmtNum prints a number with about three significant digits and a
// thousands separator for large ones.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return commas(int64(math.Round(v)))
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// jsonFigure marshals NaN as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// JSON renders the report as JSON (NaN values as null).
func (r *Report) JSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	type fig struct {
		Figure
		Value jsonFloat `json:"value"`
	}
	figs := make([]fig, len(r.Figures))
	for i, f := range r.Figures {
		figs[i] = fig{Figure: f, Value: jsonFloat(f.Value)}
	}
	return json.MarshalIndent(struct {
		Mode     string    `json:"mode"`
		Command  string    `json:"command"`
		Target   string    `json:"target"`
		Env      string    `json:"env"`
		Started  time.Time `json:"started"`
		Elapsed  string    `json:"elapsed"`
		Partial  bool      `json:"partial"`
		Problems []string  `json:"problems"`
		Setup    []string  `json:"setup"`
		Figures  []fig     `json:"figures"`
		Checks   []Check   `json:"checks"`
		Series   []Series  `json:"series"`
		Charts   []string  `json:"charts"`
	}{r.Mode, r.Command, r.Target, r.Env, r.Started, r.Elapsed, r.Partial, r.Problems, r.Setup,
		figs, r.Checks, r.Series, r.Charts}, "", "  ")
}

// ReadReportJSON reads a report.json written by Write (NaN figures come
// back as NaN).
func ReadReportJSON(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Mode, Command, Target, Env, Elapsed string
		Started                             time.Time
		Partial                             bool
		Problems, Setup, Charts             []string
		Figures                             []struct {
			Figure
			Value *float64 `json:"value"`
		}
		Checks []Check
		Series []Series
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	r := &Report{Mode: raw.Mode, Command: raw.Command, Target: raw.Target, Env: raw.Env,
		Started: raw.Started, Elapsed: raw.Elapsed, Partial: raw.Partial, Problems: raw.Problems,
		Setup: raw.Setup, Checks: raw.Checks, Series: raw.Series, Charts: raw.Charts}
	for _, f := range raw.Figures {
		fig := f.Figure
		fig.Value = math.NaN()
		if f.Value != nil {
			fig.Value = *f.Value
		}
		r.Figures = append(r.Figures, fig)
	}
	return r, nil
}

// Write writes report.md, report.json and the charts into dir (created
// if missing). A chart that cannot be drawn is a problem in the report,
// not an error: the tables are what matter.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report directory: %w", err)
	}
	charts, err := writeCharts(dir, r)
	if err != nil {
		r.Problem("charts: %v", err)
	}
	r.mu.Lock()
	r.Charts = charts
	r.mu.Unlock()
	js, err := r.JSON()
	if err != nil {
		return fmt.Errorf("bench: report json: %w", err)
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "report.json"), js, 0o644),
		os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644),
	)
}
