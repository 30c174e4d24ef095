package web

import (
	"fmt"

	"github.com/rampart-ci/rampart"
)

// Layout of the job graph, in SVG user units.
const (
	nodeW   = 184
	nodeH   = 48
	colGap  = 56
	rowGap  = 14
	padding = 8
	// maxLabel is how many characters of a job name fit in a node; the full name is in its title.
	maxLabel = 22
)

// graph is a run's job graph laid out for drawing: one column per depth (a job's depth is one
// more than its deepest need), jobs in plan order within a column, an edge from each need to
// its dependant.
type graph struct {
	Width, Height int
	Nodes         []graphNode
	Edges         []graphEdge
}

type graphNode struct {
	Job   *rampart.Job
	X, Y  int
	Label string
	// TextX and TextY place the name; StatusY the status line under it.
	TextX, TextY, StatusY int
}

type graphEdge struct {
	Path string // SVG path data
	From int64  // the need's job id, so that live updates can colour the edge
}

// layoutGraph lays out jobs (in plan order). Needs that name no job of the run are ignored, and
// a cycle, which the pipeline parser refuses, cannot loop forever here.
func layoutGraph(jobs []*rampart.Job) *graph {
	byName := make(map[string]int, len(jobs))
	for i, j := range jobs {
		byName[j.Name] = i
	}
	depth := make([]int, len(jobs))
	state := make([]uint8, len(jobs)) // 0 new, 1 visiting, 2 done
	var visit func(i int) int
	visit = func(i int) int {
		switch state[i] {
		case 1:
			return 0
		case 2:
			return depth[i]
		}
		state[i] = 1
		d := 0
		for _, n := range jobs[i].Needs {
			if k, ok := byName[n]; ok && k != i {
				d = max(d, visit(k)+1)
			}
		}
		depth[i], state[i] = d, 2
		return d
	}
	cols := 0
	for i := range jobs {
		cols = max(cols, visit(i)+1)
	}
	rows := make([]int, cols)
	g := &graph{Nodes: make([]graphNode, len(jobs))}
	for i, j := range jobs {
		c := depth[i]
		x := padding + c*(nodeW+colGap)
		y := padding + rows[c]*(nodeH+rowGap)
		rows[c]++
		label := j.Name
		if r := []rune(label); len(r) > maxLabel {
			label = string(r[:maxLabel-1]) + "…"
		}
		g.Nodes[i] = graphNode{Job: j, X: x, Y: y, Label: label, TextX: x + 12, TextY: y + 20, StatusY: y + 38}
		g.Width = max(g.Width, x+nodeW+padding)
		g.Height = max(g.Height, y+nodeH+padding)
	}
	for i, j := range jobs {
		for _, n := range j.Needs {
			k, ok := byName[n]
			if !ok || k == i {
				continue
			}
			from, to := g.Nodes[k], g.Nodes[i]
			x1, y1 := from.X+nodeW, from.Y+nodeH/2
			x2, y2 := to.X, to.Y+nodeH/2
			mid := (x1 + x2) / 2
			g.Edges = append(g.Edges, graphEdge{
				Path: fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, mid, y1, mid, y2, x2-4, y2),
				From: from.Job.ID,
			})
		}
	}
	return g
}
