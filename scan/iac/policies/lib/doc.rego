# Helpers for documents annotated with lines: every object has "__line__" (where it starts)
# and "__lines__" (the line of each key).
package rampart.lib.doc

# line(obj, key) is the line of obj[key], or of obj when it has no such key.
line(obj, key) := obj.__lines__[key]

line(obj, key) := obj.__line__ if not obj.__lines__[key]

# line2(obj, k1, k2) is the line of obj[k1][k2], or of the nearest part of that path present.
line2(obj, k1, k2) := obj[k1].__lines__[k2]

line2(obj, k1, k2) := obj.__lines__[k1] if {
	not obj[k1].__lines__[k2]
}

line2(obj, k1, k2) := obj.__line__ if not obj.__lines__[k1]

# secret_name matches names of variables that usually hold credentials.
secret_name(name) if {
	regex.match(`(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|auth[_-]?key)`, name)
	not regex.match(`(?i)(_file|_path|_dir|_name|_id|_url|_endpoint|_type|_length|_ttl|_expiry)$`, name)
}
