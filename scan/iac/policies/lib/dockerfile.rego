# Dockerfile helpers.
package rampart.lib.dockerfile

final_stage := max([s.index | some s in input.stages])

final_from := [s | some s in input.stages; s.index == final_stage][0]

stage_names := {lower(s.name) | some s in input.stages; s.name != ""}

in_final(i) if i.stage == final_stage

# shell_text of a RUN instruction: the command, here-documents included.
runs contains i if {
	some i in input.instructions
	i.cmd == "run"
}

# args without the flags and without "AS name".
image_of(from) := from.args[0]
