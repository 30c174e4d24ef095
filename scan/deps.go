package scan

// The libraries the scanners are built on, imported here until the scanner packages that use
// them land, so that go.mod keeps them at the versions chosen (OPA v1.20.0 is the newest that
// builds together with osv-scalibr v0.5.3; see ../shared/notes/scanning-libraries.md).
import (
	_ "github.com/CycloneDX/cyclonedx-go"
	_ "github.com/google/osv-scalibr/extractor/filesystem"
	_ "github.com/google/osv-scalibr/semantic"
	_ "github.com/hashicorp/hcl/v2/hclsyntax"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/open-policy-agent/opa/v1/rego"
	_ "github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)
