package lib.names

has_team_label(obj) if obj.metadata.labels.team

kname(obj) := sprintf("%s/%s", [obj.kind, obj.metadata.name])
