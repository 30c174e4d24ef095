package rampart.iac.terraform.eks_public_endpoint

import data.rampart.lib.terraform as tf

__rego_metadata__ := {
	"id": "RIAC-TF-020",
	"title": "EKS API endpoint open to the internet",
	"severity": "medium",
	"description": "An EKS cluster's public API endpoint accepts connections from 0.0.0.0/0 unless public_access_cidrs restricts it; the Kubernetes API is then one credential leak away from takeover.",
	"fix": "Set endpoint_public_access = false (use the private endpoint) or restrict public_access_cidrs.",
}

open_cidrs(vc) if not vc.attributes.public_access_cidrs

open_cidrs(vc) if "0.0.0.0/0" in vc.attributes.public_access_cidrs

deny contains {"msg": msg, "line": vc.line, "resource": r.address} if {
	some r in tf.resources("aws_eks_cluster")
	some vc in r.blocks.vpc_config
	not tf.is_false(object.get(vc.attributes, "endpoint_public_access", null))
	not tf.unknown(object.get(vc.attributes, "endpoint_public_access", null))
	open_cidrs(vc)
	msg := sprintf("%s exposes its API endpoint to the internet", [r.address])
}
