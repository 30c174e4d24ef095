package rampart.iac.kubernetes.read_only_root_fs

import data.rampart.lib.doc
import data.rampart.lib.kubernetes as k8s

__rego_metadata__ := {
	"id": "RIAC-K8S-004",
	"title": "Writable root file system",
	"severity": "low",
	"description": "A writable root file system lets an attacker who gets code execution modify binaries and drop tools in the container.",
	"fix": "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the application must write.",
}

deny contains {"msg": msg, "line": doc.line2(c, "securityContext", "readOnlyRootFilesystem"), "resource": c.name} if {
	some c in k8s.containers
	not c.securityContext.readOnlyRootFilesystem == true
	msg := sprintf("%s: container %q has a writable root file system", [k8s.kname, c.name])
}
