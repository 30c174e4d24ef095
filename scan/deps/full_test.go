package deps

import "testing"

func TestFullExtractors(t *testing.T) {
	s := New(localDB(t), Options{})
	got := byRule(scanTree(t, s, "testdata/full"))
	for _, k := range []string{
		"lodash@4.17.20 GHSA-35jh-r3h4-6jhm",
		"minimist@1.2.5 GHSA-xvch-5gv4-984h",
		"pyyaml@5.3.1 PYSEC-2021-142",
		"smallvec@1.6.0 RUSTSEC-2021-0003",
		"guzzlehttp/guzzle@7.4.2 GHSA-q559-8m2m-g699",
	} {
		if f, ok := got[k]; !ok {
			t.Errorf("missing %s in %v", k, sortedKeys(got))
		} else {
			t.Logf("%s:%d %s", f.File, f.Line, f.Message)
		}
	}
}
