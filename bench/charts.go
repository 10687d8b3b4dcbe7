package bench

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartSpec says how one chart of the report is drawn.
type chartSpec struct {
	name, title, xLabel, yLabel string
	logY                        bool
}

// The charts of a report; a chart with no series is not drawn.
var chartSpecs = []chartSpec{
	{name: "latency", title: "Latency percentiles (same run)", xLabel: "percentile", yLabel: "ms (log scale)", logY: true},
	{name: "throughput", title: "Push throughput vs concurrency (HTTP)", xLabel: "concurrent clients", yLabel: "ops/s"},
	{name: "fanout", title: "Push → watcher delivery latency", xLabel: "percentile", yLabel: "ms (log scale)", logY: true},
}

// writeCharts draws every chart that has series into dir as PNG and
// returns the file names written.
func writeCharts(dir string, r *Report) ([]string, error) {
	r.mu.Lock()
	series := append([]Series(nil), r.Series...)
	r.mu.Unlock()
	var names []string
	var errs []error
	for _, spec := range chartSpecs {
		var mine []Series
		for _, s := range series {
			if s.Chart == spec.name && len(s.X) > 0 && len(s.X) == len(s.Y) {
				mine = append(mine, s)
			}
		}
		if len(mine) == 0 {
			continue
		}
		file := spec.name + ".png"
		if err := drawChart(filepath.Join(dir, file), spec, mine); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		names = append(names, file)
	}
	return names, errors.Join(errs...)
}

// drawChart draws lines with points over categorical X positions (the X
// labels of the first series).
func drawChart(path string, spec chartSpec, series []Series) error {
	p := plot.New()
	p.Title.Text = spec.title
	p.X.Label.Text = spec.xLabel
	p.Y.Label.Text = spec.yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	if spec.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}
	labels := series[0].X
	ticks := make([]plot.Tick, len(labels))
	for i, l := range labels {
		ticks[i] = plot.Tick{Value: float64(i), Label: l}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.3, float64(len(labels))-0.7
	// Headroom above the highest point keeps the legend off the lines.
	maxY := 0.0
	for _, s := range series {
		for _, y := range s.Y {
			maxY = max(maxY, y)
		}
	}
	if maxY > 0 {
		if spec.logY {
			p.Y.Max = maxY * 6
		} else {
			p.Y.Max = maxY * 1.4
		}
	}
	for i, s := range series {
		pts := make(plotter.XYs, 0, len(s.Y))
		for j, y := range s.Y {
			if spec.logY && y <= 0 {
				continue // a log scale cannot show it
			}
			x := float64(j)
			for k, l := range labels {
				if l == s.X[j] {
					x = float64(k)
				}
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := plotutil.Color(i)
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(i)
		if i == 0 {
			line.Width = vg.Points(2)
		}
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	p.BackgroundColor = color.White
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
