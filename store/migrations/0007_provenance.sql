-- The signed provenance of each artifact: the DSSE envelope (JSON) of the in-toto SLSA v1
-- statement the server signed when the job uploaded it, '' when it has none (uploaded before
-- this migration, or by a server without a provenance key). Deployments refuse artifacts
-- without one.

ALTER TABLE artifacts ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
