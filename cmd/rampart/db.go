package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan/deps"
)

func (a *App) dbCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "The local OSV advisory database that dependency scanning reads"}
	var dir string
	var sources []string
	var goVulnDB bool
	update := &cobra.Command{
		Use:   "update --source DIR|ZIP|URL …",
		Short: "Load OSV advisories into the local database (scans then work offline)",
		Long: `Replace the local advisory database with the advisories of the sources: directories of OSV
JSON files, zips in osv.dev's per-ecosystem format (<ecosystem>/all.zip), or http(s) URLs of such
zips. The update is atomic: a failed one leaves the previous database in place.

--go-vulndb loads the Go advisories that ship with the module golang.org/x/vulndb, fetched through
the Go module proxy (` + "`go mod download`" + `), for machines that reach nothing else.`,
		Example: `  rampart db update --source ` + deps.OSVDevURL("npm") + ` --source ` + deps.OSVDevURL("PyPI") + `
  rampart db update --source ./osv-export/
  rampart db update --go-vulndb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				var err error
				if dir, err = deps.DefaultDir(); err != nil {
					return err
				}
			}
			if goVulnDB {
				src, err := goVulnDBDir()
				if err != nil {
					return err
				}
				sources = append(sources, src)
			}
			if len(sources) == 0 {
				return rampart.Errorf(rampart.EINVALID, "no source given").
					WithDetail("pass --source with a directory, zip or URL of OSV advisories (e.g. %s), or --go-vulndb", deps.OSVDevURL("Go"))
			}
			meta, err := deps.Update(cmd.Context(), dir, sources...)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Advisory database in %s: %d advisories (%d withdrawn left out) from %s.\n", dir, meta.Advisories, meta.Withdrawn, meta.Source)
			return nil
		},
	}
	update.Flags().StringVar(&dir, "db", "", "database directory (default ~/.cache/rampart/osv)")
	update.Flags().StringArrayVar(&sources, "source", nil, "directory, zip or URL of OSV advisories (repeatable)")
	update.Flags().BoolVar(&goVulnDB, "go-vulndb", false, "also load golang.org/x/vulndb's Go advisories through the Go module proxy")
	cmd.AddCommand(update)
	return cmd
}

// goVulnDBDir downloads golang.org/x/vulndb through the Go module proxy and returns its OSV
// directory.
func goVulnDBDir() (string, error) {
	c := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@latest")
	c.Dir = os.TempDir() // outside any module, so no go.mod is touched
	out, err := c.Output()
	if err != nil {
		return "", rampart.Errorf(rampart.EUNAVAILABLE, "cannot download golang.org/x/vulndb: %v", err).
			WithDetail("this needs the go command and the Go module proxy; or pass --source with OSV files")
	}
	const key = `"Dir": "`
	i := strings.Index(string(out), key)
	if i < 0 {
		return "", fmt.Errorf("go mod download gave no directory: %s", out)
	}
	dir := string(out[i+len(key):])
	dir = dir[:strings.Index(dir, `"`)]
	return filepath.Join(dir, "data", "osv"), nil
}
