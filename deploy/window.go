package deploy

import (
	"fmt"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// window is a deployment window: days of the week and a daily time range, in UTC.
type window struct {
	days       [7]bool // by time.Weekday
	start, end int     // minutes after midnight; end > start, or end <= start for ranges past midnight
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parseWindow reads "Mon-Fri 09:00-17:00", "Sat,Sun 10:00-12:00" or "daily 22:00-02:00" (UTC).
func parseWindow(s string) (*window, error) {
	bad := func(why string) error {
		return rampart.Errorf(rampart.EINVALID, "deployment window %q: %s", s, why).
			WithDetail(`write days and a UTC time range, e.g. "Mon-Fri 09:00-17:00", "Sat,Sun 10:00-12:00" or "daily 22:00-02:00"`)
	}
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return nil, bad("expected days and a time range")
	}
	w := &window{}
	if d := strings.ToLower(fields[0]); d == "daily" || d == "*" {
		for i := range w.days {
			w.days[i] = true
		}
	} else {
		for _, part := range strings.Split(d, ",") {
			from, to, isRange := strings.Cut(part, "-")
			a, ok := weekdays[from]
			if !ok {
				return nil, bad(fmt.Sprintf("unknown day %q", from))
			}
			b := a
			if isRange {
				if b, ok = weekdays[to]; !ok {
					return nil, bad(fmt.Sprintf("unknown day %q", to))
				}
			}
			for d := a; ; d = (d + 1) % 7 {
				w.days[d] = true
				if d == b {
					break
				}
			}
		}
	}
	from, to, ok := strings.Cut(fields[1], "-")
	if !ok {
		return nil, bad("expected a time range like 09:00-17:00")
	}
	var err error
	if w.start, err = clock(from); err != nil {
		return nil, bad(err.Error())
	}
	if w.end, err = clock(to); err != nil {
		return nil, bad(err.Error())
	}
	if w.start == w.end {
		return nil, bad("the range is empty")
	}
	return w, nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q (use HH:MM, 24-hour)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// contains reports whether t (any zone) falls in the window. A range past midnight belongs to
// the day it starts on.
func (w *window) contains(t time.Time) bool {
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	if w.start < w.end {
		return w.days[t.Weekday()] && m >= w.start && m < w.end
	}
	if m >= w.start {
		return w.days[t.Weekday()]
	}
	return m < w.end && w.days[(t.Weekday()+6)%7]
}

// inWindows reports whether t falls in one of windows; no windows means any time.
func inWindows(windows []string, t time.Time) (bool, error) {
	if len(windows) == 0 {
		return true, nil
	}
	for _, s := range windows {
		w, err := parseWindow(s)
		if err != nil {
			return false, err
		}
		if w.contains(t) {
			return true, nil
		}
	}
	return false, nil
}
