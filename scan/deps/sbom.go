package deps

import (
	"io"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// SBOM describes the software a bill of materials is about.
type SBOM struct {
	Name    string    // the project or artifact; may be empty
	Version string    // e.g. the commit; may be empty
	Time    time.Time // the metadata timestamp; zero leaves it out (reproducible output)
}

// CycloneDX returns a CycloneDX BOM with one library component per distinct package (by
// package URL, or ecosystem, name and version when there is none), its package URL, and the
// lockfiles it was found in as evidence occurrences. Components are in the order of pkgs
// sorted; output is deterministic for the same input.
func CycloneDX(pkgs []Package, about SBOM) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication,
			Name: "rampart",
		}}},
	}
	if !about.Time.IsZero() {
		bom.Metadata.Timestamp = about.Time.UTC().Format(time.RFC3339)
	}
	if about.Name != "" {
		bom.Metadata.Component = &cdx.Component{
			BOMRef:  "root",
			Type:    cdx.ComponentTypeApplication,
			Name:    about.Name,
			Version: about.Version,
		}
	}
	sorted := append([]Package(nil), pkgs...)
	sortPackages(sorted)
	comps := []cdx.Component{}
	index := map[string]int{}
	for _, p := range sorted {
		ref := p.PURL
		if ref == "" {
			ref = p.Ecosystem + ":" + p.Name + "@" + p.Version
		}
		i, ok := index[ref]
		if !ok {
			i = len(comps)
			index[ref] = i
			c := cdx.Component{
				BOMRef:     ref,
				Type:       cdx.ComponentTypeLibrary,
				Name:       p.Name,
				Version:    p.Version,
				PackageURL: p.PURL,
				Properties: &[]cdx.Property{{Name: "rampart:ecosystem", Value: p.Ecosystem}},
				Evidence:   &cdx.Evidence{Occurrences: &[]cdx.EvidenceOccurrence{}},
			}
			if p.Constraint != "" {
				*c.Properties = append(*c.Properties, cdx.Property{Name: "rampart:constraint", Value: p.Constraint})
			}
			comps = append(comps, c)
		}
		occ := cdx.EvidenceOccurrence{Location: p.File}
		if p.Line > 0 {
			line := p.Line
			occ.Line = &line
		}
		*comps[i].Evidence.Occurrences = append(*comps[i].Evidence.Occurrences, occ)
	}
	bom.Components = &comps
	return bom
}

// WriteCycloneDX writes bom as CycloneDX 1.6 JSON.
func WriteCycloneDX(w io.Writer, bom *cdx.BOM) error {
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, cdx.SpecVersion1_6)
}
