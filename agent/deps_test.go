package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the code that runs on build machines away from the server's secrets: the
// agent, the executor and the client must never link the store, the vault or the server, nor
// open a database, so that a compromised build machine holds no code path to them.
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	const mod = "github.com/rampart-ci/rampart"
	// database/sql/driver is only interfaces (google/uuid implements them); database/sql and
	// the drivers are what would open a database.
	forbidden := []string{mod + "/store", mod + "/secrets", mod + "/server", "database/sql", "modernc.org/sqlite", "github.com/jackc/pgx"}
	for _, pkg := range []string{mod + "/agent", mod + "/executor", mod + "/client"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range forbidden {
					if dep == f || (strings.HasPrefix(dep, f+"/") && dep != "database/sql/driver") {
						t.Errorf("%s depends on %s", pkg, dep)
					}
				}
			}
		})
	}
}
