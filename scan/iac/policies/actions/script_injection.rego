package rampart.iac.actions.script_injection

import data.rampart.lib.actions as gha

__rego_metadata__ := {
	"id": "RIAC-GHA-002",
	"title": "Script injection from event data",
	"severity": "high",
	"description": "${{ }} expressions are pasted into the script before the shell runs it. Titles, bodies, branch names, commit messages and the like are chosen by whoever opens the issue or pull request, so they can inject shell commands that run with the workflow's token and secrets.",
	"fix": "Pass the value through an environment variable (env: TITLE: ${{ github.event.issue.title }}) and use \"$TITLE\" in the script.",
}

untrusted := `github\.event\.(issue|pull_request|discussion)\.(title|body)|github\.event\.(comment|review|review_comment)\.body|github\.event\.pages\[?[^.]*\.page_name|github\.event\.commits\b.*\.(message|author\.(email|name))|github\.event\.head_commit\.(message|author\.(email|name))|github\.event\.pull_request\.head\.(ref|label|repo\.default_branch)|github\.head_ref|github\.event\.workflow_run\.(head_branch|head_commit\.(message|author\.(email|name))|display_title)|github\.event\.check_suite\.head_branch`

expressions(line) := [m[1] | some m in regex.find_all_string_submatch_n(`\$\{\{([^}]*)\}\}`, line, -1)]

deny contains {"msg": msg, "line": s.run_start_line + n, "resource": sprintf("jobs.%s.steps[%d]:%s", [j.id, s.index, trim_space(e)])} if {
	some j in input.jobs
	some s in j.steps
	some n, line in split(s.run, "\n")
	some e in expressions(line)
	regex.match(untrusted, e)
	msg := sprintf("job %s: run interpolates ${{%s}}, which an outsider controls", [j.id, e])
}

deny contains {"msg": msg, "line": object.get(s.with_lines, "script", s.line), "resource": sprintf("jobs.%s.steps[%d]:%s", [j.id, s.index, trim_space(e)])} if {
	some j in input.jobs
	some s in j.steps
	startswith(lower(s.uses), "actions/github-script@")
	some e in expressions(s.with.script)
	regex.match(untrusted, e)
	msg := sprintf("job %s: github-script interpolates ${{%s}}, which an outsider controls", [j.id, e])
}
