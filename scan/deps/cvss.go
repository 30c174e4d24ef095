package deps

import (
	"fmt"
	"math"
	"strings"

	"github.com/rampart-ci/rampart/scan"
)

// CVSS3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" is 9.8) as the specification's equations
// define it. Temporal and environmental metrics are ignored; a missing or unknown base metric
// value is an error.
func CVSS3BaseScore(vector string) (float64, error) {
	parts := strings.Split(strings.TrimSpace(vector), "/")
	if len(parts) == 0 || (parts[0] != "CVSS:3.0" && parts[0] != "CVSS:3.1") {
		return 0, fmt.Errorf("cvss: %q is not a CVSS v3 vector", vector)
	}
	v31 := parts[0] == "CVSS:3.1"
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, fmt.Errorf("cvss: bad metric %q in %q", p, vector)
		}
		if _, dup := m[k]; dup {
			return 0, fmt.Errorf("cvss: metric %s given twice in %q", k, vector)
		}
		m[k] = v
	}
	weight := func(metric string, w map[string]float64) (float64, error) {
		x, ok := w[m[metric]]
		if !ok {
			return 0, fmt.Errorf("cvss: missing or unknown %s in %q", metric, vector)
		}
		return x, nil
	}
	scope, ok := map[string]bool{"U": false, "C": true}[m["S"]]
	if !ok {
		return 0, fmt.Errorf("cvss: missing or unknown S in %q", vector)
	}
	pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if scope {
		pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	var w [7]float64
	var err error
	for i, x := range []struct {
		metric string
		w      map[string]float64
	}{
		{"AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}},
		{"AC", map[string]float64{"L": 0.77, "H": 0.44}},
		{"PR", pr},
		{"UI", map[string]float64{"N": 0.85, "R": 0.62}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		if w[i], err = weight(x.metric, x.w); err != nil {
			return 0, err
		}
	}
	iss := 1 - (1-w[4])*(1-w[5])*(1-w[6])
	var impact float64
	if scope {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * w[0] * w[1] * w[2] * w[3]
	if impact <= 0 {
		return 0, nil
	}
	base := impact + exploitability
	if scope {
		base *= 1.08
	}
	return roundUp(math.Min(base, 10), v31), nil
}

// roundUp is the specification's Roundup: the smallest number with one decimal not below x.
// v3.1 first rounds to five decimals so that floating-point noise does not add 0.1.
func roundUp(x float64, v31 bool) float64 {
	if !v31 {
		return math.Ceil(x*10) / 10
	}
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// CVSS3Rating maps a v3 base score to a severity: 9.0+ critical, 7.0+ high, 4.0+ medium, above
// 0 low, 0 info.
func CVSS3Rating(score float64) scan.Severity {
	switch {
	case score >= 9:
		return scan.Critical
	case score >= 7:
		return scan.High
	case score >= 4:
		return scan.Medium
	case score > 0:
		return scan.Low
	}
	return scan.Info
}

// CVSS2BaseScore computes the base score of a CVSS v2 vector ("AV:N/AC:L/Au:N/C:P/I:P/A:P" is
// 7.5, an optional "(…)" or "CVSS:2.0/" around it is accepted).
func CVSS2BaseScore(vector string) (float64, error) {
	s := strings.Trim(strings.TrimSpace(vector), "()")
	s = strings.TrimPrefix(s, "CVSS:2.0/")
	m := map[string]string{}
	for _, p := range strings.Split(s, "/") {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, fmt.Errorf("cvss: bad metric %q in %q", p, vector)
		}
		m[k] = v
	}
	cia := map[string]float64{"N": 0, "P": 0.275, "C": 0.660}
	var w [6]float64
	for i, x := range []struct {
		metric string
		w      map[string]float64
	}{
		{"AV", map[string]float64{"L": 0.395, "A": 0.646, "N": 1}},
		{"AC", map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}},
		{"Au", map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		v, ok := x.w[m[x.metric]]
		if !ok {
			return 0, fmt.Errorf("cvss: missing or unknown %s in %q", x.metric, vector)
		}
		w[i] = v
	}
	impact := 10.41 * (1 - (1-w[3])*(1-w[4])*(1-w[5]))
	exploitability := 20 * w[0] * w[1] * w[2]
	f := 1.176
	if impact == 0 {
		f = 0
	}
	return math.Round(((0.6*impact)+(0.4*exploitability)-1.5)*f*10) / 10, nil
}

// CVSS2Rating maps a v2 base score to a severity as NVD does: 7.0+ high, 4.0+ medium, above 0
// low, 0 info.
func CVSS2Rating(score float64) scan.Severity {
	switch {
	case score >= 7:
		return scan.High
	case score >= 4:
		return scan.Medium
	case score > 0:
		return scan.Low
	}
	return scan.Info
}
