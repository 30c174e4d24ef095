package deploy

import (
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	for _, bad := range []string{"", "Mon", "Funday 09:00-10:00", "Mon 9-10", "Mon 10:00-10:00", "Mon-Fri 25:00-26:00", "Mon 09:00"} {
		if _, err := parseWindow(bad); err == nil {
			t.Errorf("window %q accepted", bad)
		}
	}
	fri := func(h, m int) time.Time { return time.Date(2026, 11, 27, h, m, 0, 0, time.UTC) } // a Friday
	for _, c := range []struct {
		window string
		at     time.Time
		in     bool
	}{
		{"Mon-Fri 09:00-17:00", fri(9, 0), true},
		{"Mon-Fri 09:00-17:00", fri(17, 0), false},
		{"Mon-Fri 09:00-17:00", fri(8, 59), false},
		{"Sat,Sun 10:00-12:00", fri(11, 0), false},
		{"Fri-Mon 10:00-12:00", fri(11, 0), true}, // a range across the week's end
		{"daily 22:00-02:00", fri(23, 0), true},
		{"daily 22:00-02:00", fri(1, 0), true},
		{"Thu 22:00-02:00", fri(1, 30), true}, // past midnight belongs to the day it starts
		{"Fri 22:00-02:00", fri(1, 30), false},
		{"Mon-Fri 09:00-17:00", time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CET", 3600)), true}, // 09:00 UTC
	} {
		w, err := parseWindow(c.window)
		if err != nil {
			t.Fatalf("%q: %v", c.window, err)
		}
		if got := w.contains(c.at); got != c.in {
			t.Errorf("%q contains %s = %v, want %v", c.window, c.at, got, c.in)
		}
	}
}
